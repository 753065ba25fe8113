package org.untwist.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.untwist.tensor.Tensor;

/** Opening and closing (or failing to open) a file many times leaves no descriptors and no mappings behind. */
class SafeTensorsLeakTest {
    private static final int ROUNDS = 2000;
    private static final int SLACK = 5;

    @TempDir
    Path dir;

    private static long openDescriptors() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    private static long mappingsOf(Path file) throws IOException {
        String name = file.toAbsolutePath().toString();
        try (Stream<String> maps = Files.lines(Path.of("/proc/self/maps"))) {
            return maps.filter(l -> l.endsWith(name)).count();
        }
    }

    @Test
    void openingAndClosingTwoThousandTimesLeaksNothing() throws IOException {
        assumeTrue(Files.isDirectory(Path.of("/proc/self/fd")), "needs /proc (Linux)");
        Path file = dir.resolve("leak.safetensors");
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("w", Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
        tensors.put("b", Tensor.of(new float[] {0.5f}, 1));
        SafeTensors.write(file, tensors, Map.of("k", "v"));
        tensors.values().forEach(Tensor::close);

        try (SafeTensors warm = SafeTensors.open(file)) { // load classes, open the jars, before counting
            warm.tensor("w").get(0);
        }
        long before = openDescriptors();
        double sum = 0;
        double expected = 0;
        for (int i = 0; i < ROUNDS; i++) {
            try (SafeTensors st = SafeTensors.open(file)) {
                sum += st.tensor("w").get(i % 6) + st.tensor("b").get(0);
            }
            expected += i % 6 + 1 + 0.5;
        }
        long after = openDescriptors();
        assertTrue(after - before <= SLACK, "descriptors grew from " + before + " to " + after + " over " + ROUNDS + " rounds");
        assertEquals(0, mappingsOf(file), "no mapping of the file is left");
        assertEquals(expected, sum, "every read saw the data");
    }

    @Test
    void failedOpensLeakNothing() throws IOException {
        assumeTrue(Files.isDirectory(Path.of("/proc/self/fd")), "needs /proc (Linux)");
        // valid until the last check: the second tensor overlaps the first, found after the header was read
        Path overlap = StFiles.write(dir.resolve("overlap.safetensors"), StFiles.build(
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12));
        Path badJson = StFiles.write(dir.resolve("badjson.safetensors"), StFiles.build("{\"a\":", 0));
        Path tooLong = StFiles.write(dir.resolve("toolong.safetensors"), StFiles.build(1000, new byte[8], new byte[0]));
        for (Path p : new Path[] {overlap, badJson, tooLong}) { // warm up
            assertThrows(SafeTensorsException.class, () -> SafeTensors.open(p));
        }
        long before = openDescriptors();
        for (int i = 0; i < ROUNDS; i++) {
            Path p = i % 3 == 0 ? overlap : i % 3 == 1 ? badJson : tooLong;
            assertThrows(SafeTensorsException.class, () -> SafeTensors.open(p));
        }
        long after = openDescriptors();
        assertTrue(after - before <= SLACK, "descriptors grew from " + before + " to " + after + " over " + ROUNDS + " failed opens");
        assertEquals(0, mappingsOf(overlap));
    }
}
