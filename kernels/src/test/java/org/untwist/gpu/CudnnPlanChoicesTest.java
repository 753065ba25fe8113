package org.untwist.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The memory of cuDNN winners, without a device: per device and shape, replaced, forgotten, and kept on disk for a
 * later process ({@link CudnnPlanChoiceFile}: read back, merged, bad lines and foreign files ignored, nothing half
 * written). Every test points the cache folder at a temporary one.
 */
class CudnnPlanChoicesTest {
    private static final List<Integer> SHAPE = List.of(2, 24, 4608, 4608, 128, 1, 0, 0, 4608);
    private static final List<Integer> OTHER = List.of(2, 24, 4608, 4096, 128, 1, 0, 0, 4096);
    private static final String DEVICE = "gpu:0 (A), cuDNN 91900";

    @TempDir
    Path cache;
    private String before;

    @BeforeEach
    void useTemporaryCache() {
        before = System.getProperty(KernelModule.CACHE_PROPERTY);
        System.setProperty(KernelModule.CACHE_PROPERTY, cache.toString());
        CudnnPlanChoices.startAfresh();
    }

    @AfterEach
    void restoreCache() {
        CudnnPlanChoices.forgetAll();
        if (before == null) {
            System.clearProperty(KernelModule.CACHE_PROPERTY);
        } else {
            System.setProperty(KernelModule.CACHE_PROPERTY, before);
        }
    }

    @Test
    void winnersArePerDeviceAndShape() {
        List<Integer> shape = new ArrayList<>(SHAPE);
        assertEquals(Optional.empty(), CudnnPlanChoices.recall(DEVICE, shape));
        CudnnPlanChoices.remember(DEVICE, shape, new CudnnPlanChoices.Choice("B", 3, 8));
        shape.set(0, 1); // the memory keeps its own copy of the key
        assertEquals(Optional.empty(), CudnnPlanChoices.recall(DEVICE, shape));
        shape.set(0, 2);
        assertEquals(Optional.of(new CudnnPlanChoices.Choice("B", 3, 8)), CudnnPlanChoices.recall(DEVICE, shape));
        assertEquals(Optional.empty(), CudnnPlanChoices.recall("gpu:1 (A), cuDNN 91900", shape), "another device times again");
        assertEquals(Optional.empty(), CudnnPlanChoices.recall("gpu:0 (A), cuDNN 92000", shape), "another cuDNN times again");
        assertEquals(Optional.empty(), CudnnPlanChoices.recall(DEVICE, OTHER), "another shape times again");
        CudnnPlanChoices.remember(DEVICE, shape, new CudnnPlanChoices.Choice("A", 0, 8));
        assertEquals(Optional.of(new CudnnPlanChoices.Choice("A", 0, 8)), CudnnPlanChoices.recall(DEVICE, shape), "a later timing replaces");
        CudnnPlanChoices.forgetAll();
        assertTrue(CudnnPlanChoices.recall(DEVICE, shape).isEmpty(), "forgotten, and the file is not read again");
        assertThrows(IllegalArgumentException.class, () -> new CudnnPlanChoices.Choice("A", -1, 0));
        assertThrows(IllegalArgumentException.class, () -> new CudnnPlanChoices.Choice("A", 0, -2));
    }

    @Test
    void aLaterProcessRecallsWhatAnEarlierOneTimed() {
        CudnnPlanChoices.remember(DEVICE, SHAPE, new CudnnPlanChoices.Choice("B", 3, 8));
        CudnnPlanChoices.remember(DEVICE, OTHER, new CudnnPlanChoices.Choice("A", 1, -1));
        CudnnPlanChoices.startAfresh(); // a new process: nothing in memory
        assertEquals(Optional.of(new CudnnPlanChoices.Choice("B", 3, 8)), CudnnPlanChoices.recall(DEVICE, SHAPE));
        assertEquals(Optional.of(new CudnnPlanChoices.Choice("A", 1, -1)), CudnnPlanChoices.recall(DEVICE, OTHER));
        assertEquals(Optional.empty(), CudnnPlanChoices.recall("gpu:0 (A), cuDNN 92000", SHAPE), "another cuDNN's file is another file");
    }

    @Test
    void noFileWhereTheCacheIsOff() throws IOException {
        System.setProperty(KernelModule.CACHE_PROPERTY, "none");
        assertTrue(CudnnPlanChoiceFile.of(DEVICE).isEmpty());
        CudnnPlanChoices.remember(DEVICE, SHAPE, new CudnnPlanChoices.Choice("B", 3, 8));
        assertEquals(Optional.of(new CudnnPlanChoices.Choice("B", 3, 8)), CudnnPlanChoices.recall(DEVICE, SHAPE), "still remembered in memory");
        try (var files = Files.list(cache)) {
            assertEquals(0, files.count(), "nothing written");
        }
    }

    @Test
    void theDefaultFolderIsUnderAnAbsoluteHomeOnly() {
        System.clearProperty(KernelModule.CACHE_PROPERTY);
        String home = System.getProperty("user.home");
        try {
            System.setProperty("user.home", cache.toString());
            assertEquals(cache.resolve(".cache/untwist/kernels"), CudnnPlanChoiceFile.of(DEVICE).orElseThrow().path().getParent());
            System.setProperty("user.home", "?"); // what the JDK reports for a user without a home
            assertTrue(CudnnPlanChoiceFile.of(DEVICE).isEmpty(), "no cache relative to the working directory");
            System.setProperty("user.home", "");
            assertTrue(KernelModule.cacheRoot().isEmpty());
        } finally {
            System.setProperty("user.home", home);
        }
    }

    @Test
    void fileMergesWithWhatAnotherProcessWrote() throws IOException {
        CudnnPlanChoiceFile mine = CudnnPlanChoiceFile.of(DEVICE).orElseThrow();
        CudnnPlanChoiceFile theirs = new CudnnPlanChoiceFile(mine.path(), DEVICE);
        assertTrue(theirs.put(OTHER, new CudnnPlanChoices.Choice("A", 2, 5)));
        assertTrue(mine.put(SHAPE, new CudnnPlanChoices.Choice("B", 0, 8)));
        assertEquals(Map.of(SHAPE, new CudnnPlanChoices.Choice("B", 0, 8), OTHER, new CudnnPlanChoices.Choice("A", 2, 5)), mine.read());
        try (var files = Files.list(cache)) {
            assertEquals(List.of(mine.path()), files.toList(), "no temporary file left beside it");
        }
    }

    @Test
    void badLinesAndForeignFilesAreSkipped() throws IOException {
        CudnnPlanChoiceFile file = CudnnPlanChoiceFile.of(DEVICE).orElseThrow();
        assertTrue(file.put(SHAPE, new CudnnPlanChoices.Choice("B", 0, 8)));
        List<String> lines = new ArrayList<>(Files.readAllLines(file.path()));
        lines.add("1,2,3\tA\t0\t1"); // too few shape numbers
        lines.add("2,24,4608,4096,128,1,0,0,4096\tC\t0\t1"); // no such heuristics mode
        lines.add("2,24,4608,4096,128,1,0,0,4096\tA\t-1\t1"); // a negative index
        lines.add("garbage");
        Files.write(file.path(), lines);
        assertEquals(Map.of(SHAPE, new CudnnPlanChoices.Choice("B", 0, 8)), file.read(), "the good line is kept, the bad ones skipped");
        assertTrue(new CudnnPlanChoiceFile(file.path(), "gpu:0 (B), cuDNN 91900").read().isEmpty(), "another identity's header: ignored");
        Files.writeString(file.path(), "");
        assertTrue(file.read().isEmpty(), "an empty file");
        Files.write(file.path(), new byte[] {(byte) 0xff, (byte) 0xfe, 0, 1});
        assertTrue(file.read().isEmpty(), "bytes that are not text");
    }

    @Test
    void anUnwritableFolderIsSkipped() throws IOException {
        Path blocker = Files.writeString(cache.resolve("not-a-folder"), "x");
        CudnnPlanChoiceFile file = new CudnnPlanChoiceFile(blocker.resolve("cudnn-attention-x.tsv"), DEVICE);
        assertFalse(file.put(SHAPE, new CudnnPlanChoices.Choice("B", 0, 8)));
        assertTrue(file.read().isEmpty());
    }
}
