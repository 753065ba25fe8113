package org.untwist.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.untwist.tensor.Tensor;

/**
 * -Duntwist.keepMappedFiles: a closed file's mapping serves its next open (same bytes, no new mapping), a changed file
 * gets a new one and the old goes once unused, the limit unmaps the least recently used; without the property a closed
 * file's memory is gone as before.
 */
class MappedFilesTest {
    @TempDir
    Path tmp;

    @AfterEach
    void unset() {
        System.clearProperty("untwist.keepMappedFiles");
        MappedFiles.trimToLimit(); // unmaps what this test kept
    }

    private Path file(String name, float first) throws Exception {
        Path p = tmp.resolve(name);
        SafeTensors.write(p, Map.of("w", Tensor.of(new float[] {first, 2, 3, 4}, 2, 2)), Map.of());
        return p;
    }

    private static long address(SafeTensors st) {
        return st.tensor("w").segment().address();
    }

    @Test
    void keptMappingsServeTheNextOpenUntilTheFileChanges() throws Exception {
        System.setProperty("untwist.keepMappedFiles", "1m");
        Path p = file("a.safetensors", 1);
        long first;
        try (SafeTensors st = SafeTensors.open(p)) {
            first = address(st);
        }
        assertTrue(MappedFiles.mappedBytes() > 0, "kept after close");
        try (SafeTensors st = SafeTensors.open(p)) {
            assertEquals(first, address(st), "the same mapping again");
            assertEquals(1f, st.tensor("w").get(0));
        }
        // A new version of the file (replaced by a move, another modification time): read afresh, never the old bytes.
        Path next = file("b.safetensors", 9);
        Files.move(next, p, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.setLastModifiedTime(p, FileTime.fromMillis(Files.getLastModifiedTime(p).toMillis() + 5_000));
        try (SafeTensors st = SafeTensors.open(p)) {
            assertEquals(9f, st.tensor("w").get(0), "the replaced file's content");
        }
        // A limit below one file: the next release unmaps what is unused.
        System.setProperty("untwist.keepMappedFiles", "1");
        try (SafeTensors st = SafeTensors.open(p)) {
            assertEquals(9f, st.tensor("w").get(0));
        }
        assertEquals(0, MappedFiles.mappedBytes(), "nothing kept beyond the limit");
    }

    @Test
    void withoutThePropertyAClosedFilesMemoryIsGone() throws Exception {
        Path p = file("c.safetensors", 5);
        Tensor w;
        try (SafeTensors st = SafeTensors.open(p)) {
            w = st.tensor("w");
            assertEquals(5f, w.get(0));
        }
        assertThrows(IllegalStateException.class, () -> w.get(0), "unmapped on close");
        assertEquals(0, MappedFiles.mappedBytes());
        assertThrows(IllegalStateException.class, () -> {
            SafeTensors st = SafeTensors.open(p);
            st.close();
            st.tensor("w");
        }, "a closed file refuses tensors");
        assertNotEquals(0, Files.size(p));
    }
}
