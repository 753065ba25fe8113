package org.untwist.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/** Weights in one file or in shards behind a Hugging Face index; integer ids round-trip exactly. */
class SafeTensorsFolderTest {
    @TempDir
    Path tmp;

    private static Tensor filled(DType dt, float base, int... shape) {
        Tensor t = Tensor.allocate(dt, shape);
        for (long i = 0; i < t.numel(); i++) {
            t.set(i, base + i);
        }
        return t;
    }

    private void shards(Path dir) throws IOException {
        Files.createDirectories(dir);
        try (Tensor a = filled(DType.BF16, 1, 2, 3); Tensor b = filled(DType.F8_E4M3, 2, 4); Tensor c = filled(DType.F32, 5, 3)) {
            SafeTensors.write(dir.resolve("model-00001-of-00002.safetensors"), Map.of("a", a, "b", b), Map.of());
            SafeTensors.write(dir.resolve("model-00002-of-00002.safetensors"), Map.of("c", c), Map.of());
        }
        Files.writeString(dir.resolve(SafeTensorsFolder.INDEX), """
                {"metadata": {"total_size": 24}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                 "b": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}}""");
    }

    @Test
    void readsShardsThroughTheIndex() throws IOException {
        Path dir = tmp.resolve("sharded");
        shards(dir);
        try (SafeTensorsFolder f = SafeTensorsFolder.open(dir)) {
            assertEquals(List.of("a", "b", "c"), f.names().stream().sorted().toList());
            assertEquals(DType.BF16, f.tensor("a").dtype());
            assertEquals(6f, f.tensor("a").get(5));
            assertEquals(DType.F8_E4M3, f.tensor("b").dtype());
            assertEquals(5f, f.tensor("b").get(3));
            assertEquals(7f, f.tensor("c").get(2));
            assertTrue(f.describe().contains("2 shards"), f.describe());
        }
    }

    @Test
    void namesTheFaultInABrokenIndexOrFolder() throws IOException {
        Path dir = tmp.resolve("broken");
        shards(dir);
        Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
        assertTrue(assertThrows(SafeTensorsException.class, () -> SafeTensorsFolder.open(dir)).getMessage()
                .contains("shard model-00002-of-00002.safetensors is missing"));

        Path wrong = tmp.resolve("wrong");
        shards(wrong);
        Files.writeString(wrong.resolve(SafeTensorsFolder.INDEX), """
                {"weight_map": {"a": "model-00002-of-00002.safetensors"}}""");
        assertTrue(assertThrows(SafeTensorsException.class, () -> SafeTensorsFolder.open(wrong)).getMessage()
                .contains("tensor 'a' is not in model-00002-of-00002.safetensors"));

        Path escape = tmp.resolve("escape");
        shards(escape);
        Files.writeString(escape.resolve(SafeTensorsFolder.INDEX), """
                {"weight_map": {"a": "../x.safetensors"}}""");
        assertTrue(assertThrows(SafeTensorsException.class, () -> SafeTensorsFolder.open(escape)).getMessage()
                .contains("expected a file name in the same folder"));

        Path two = Files.createDirectories(tmp.resolve("two"));
        try (Tensor a = filled(DType.F32, 0, 2)) {
            SafeTensors.write(two.resolve("x.safetensors"), Map.of("a", a), Map.of());
            SafeTensors.write(two.resolve("y.safetensors"), Map.of("a", a), Map.of());
        }
        assertTrue(assertThrows(SafeTensorsException.class, () -> SafeTensorsFolder.open(two)).getMessage()
                .contains("2 .safetensors files but no model.safetensors.index.json"));
        assertTrue(assertThrows(SafeTensorsException.class, () -> SafeTensorsFolder.open(Files.createDirectories(tmp.resolve("none"))))
                .getMessage().contains("no .safetensors file"));
    }

    @Test
    void integerIdsRoundTripExactly() throws IOException {
        Path file = tmp.resolve("ids.safetensors");
        long big = (1L << 40) + 3; // beyond float precision: read through getLong, not get
        try (Tensor ids = Tensor.allocate(DType.I64, 2, 2); Tensor small = Tensor.allocate(DType.I32, 3)) {
            ids.setLong(0, big);
            ids.setLong(3, -7);
            small.setLong(1, 49407);
            SafeTensors.write(file, Map.of("input_ids", ids, "small", small), Map.of());
        }
        try (SafeTensors st = SafeTensors.open(file)) {
            assertEquals(DType.I64, st.tensor("input_ids").dtype());
            assertEquals(big, st.tensor("input_ids").getLong(0));
            assertEquals(-7, st.tensor("input_ids").getLong(3));
            assertEquals(49407, st.tensor("small").getLong(1));
            assertThrows(IllegalStateException.class, () -> Tensor.allocate(DType.F32, 1).getLong(0));
        }
    }
}
