package org.untwist.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

class SafeTensorsRoundTripTest {
    @TempDir
    Path dir;

    /** A tensor whose bytes are random bit patterns (NaN payloads, subnormals, infinities included). */
    private static Tensor randomBits(SplittableRandom rnd, DType dtype, int... shape) {
        Tensor t = Tensor.allocate(dtype, shape);
        MemorySegment s = t.segment();
        for (long i = 0; i < s.byteSize(); i++) {
            s.set(ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt());
        }
        return t;
    }

    private static Map<String, Tensor> sample() {
        SplittableRandom rnd = new SplittableRandom(7);
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("f32.matrix", randomBits(rnd, DType.F32, 3, 5));
        m.put("bf16.odd", randomBits(rnd, DType.BF16, 7));           // 14 bytes: the next tensor starts unaligned
        m.put("f16.cube", randomBits(rnd, DType.F16, 3, 1, 3));
        m.put("scalar", randomBits(rnd, DType.F32));                 // shape []
        m.put("empty", Tensor.allocate(DType.F32, 0, 4));            // zero bytes
        m.put("bf16.scalar", randomBits(rnd, DType.BF16));
        m.put("empty.f16", Tensor.allocate(DType.F16, 5, 0));
        m.put("f32.odd", randomBits(rnd, DType.F32, 1, 13));
        m.put("ünïcödé ключ", randomBits(rnd, DType.F16, 1));
        Tensor special = Tensor.allocate(DType.F32, 6);
        special.copyFrom(new float[] {Float.NaN, -0.0f, Float.MIN_VALUE, Float.NEGATIVE_INFINITY, Float.MAX_VALUE, 1f / 3});
        m.put("f32.special", special);
        return m;
    }

    @Test
    void roundTripsBitForBitWithMetadata() throws IOException {
        Map<String, Tensor> tensors = sample();
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "pt");
        meta.put("note", "ünïcödé \"quoted\" \\ {json}");
        meta.put("", "empty key");
        Path file = dir.resolve("round.safetensors");
        SafeTensors.write(file, tensors, meta);
        try (SafeTensors st = SafeTensors.open(file)) {
            assertEquals(file, st.path());
            assertEquals(List.copyOf(tensors.keySet()), st.names(), "names in write order");
            assertEquals(meta, st.metadata());
            long expectedBegin = 0;
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                Tensor want = e.getValue();
                assertTrue(st.contains(e.getKey()));
                TensorInfo info = st.info(e.getKey());
                assertEquals(e.getKey(), info.name());
                assertEquals(want.dtype(), info.dtype());
                assertArrayEquals(want.shape(), info.shape());
                assertEquals(expectedBegin, info.begin(), e.getKey());
                assertEquals(expectedBegin + want.segment().byteSize(), info.end(), e.getKey());
                expectedBegin = info.end();

                Tensor got = st.tensor(e.getKey());
                assertEquals(want.dtype(), got.dtype());
                assertArrayEquals(want.shape(), got.shape());
                assertFalse(got.ownsMemory());
                assertEquals(-1, got.segment().mismatch(want.segment()), () -> e.getKey() + " differs");
                for (long i = 0; i < got.numel(); i++) {
                    assertEquals(Float.floatToRawIntBits(want.get(i)), Float.floatToRawIntBits(got.get(i)), e.getKey() + "[" + i + "]");
                }
            }
        } finally {
            tensors.values().forEach(Tensor::close);
        }
        byte[] raw = Files.readAllBytes(file);
        long hlen = StFiles.headerLength(raw);
        assertEquals(0, hlen % 8, "header length " + hlen + " is a multiple of 8");
        long data = tensors.values().stream().mapToLong(t -> t.segment().byteSize()).sum();
        assertEquals(8 + hlen + data, raw.length, "no bytes after the last tensor");
    }

    @Test
    void headerIsCompactJsonPaddedWithSpacesLikeTheReference() throws IOException {
        Path file = dir.resolve("exact.safetensors");
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("a", Tensor.of(new float[] {1, 2}, 2));
        tensors.put("b", Tensor.allocate(DType.BF16, 1, 3));
        SafeTensors.write(file, tensors, Map.of("k", "v"));
        byte[] raw = Files.readAllBytes(file);
        int hlen = (int) StFiles.headerLength(raw);
        String header = new String(raw, 8, hlen, StandardCharsets.UTF_8);
        String json = "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,3],\"data_offsets\":[8,14]}}";
        assertEquals(json + " ".repeat(hlen - json.length()), header);
        assertTrue(hlen - json.length() < 8);
        assertEquals(0, hlen % 8);
        assertEquals(1f, Float.intBitsToFloat(readIntLE(raw, 8 + hlen)));
        assertEquals(2f, Float.intBitsToFloat(readIntLE(raw, 8 + hlen + 4)));
        tensors.values().forEach(Tensor::close);
    }

    private static int readIntLE(byte[] b, int at) {
        return (b[at] & 0xFF) | (b[at + 1] & 0xFF) << 8 | (b[at + 2] & 0xFF) << 16 | (b[at + 3] & 0xFF) << 24;
    }

    @Test
    void noMetadataWritesNoMetadataKeyAndReadsEmpty() throws IOException {
        Path file = dir.resolve("nometa.safetensors");
        try (Tensor t = Tensor.of(new float[] {5}, 1)) {
            SafeTensors.write(file, Map.of("x", t), null);
        }
        assertFalse(new String(Files.readAllBytes(file), StandardCharsets.UTF_8).contains("__metadata__"));
        try (SafeTensors st = SafeTensors.open(file)) {
            assertTrue(st.metadata().isEmpty());
            assertEquals(5f, st.tensor("x").get(0));
        }
    }

    @Test
    void emptyTensorMapRoundTrips() throws IOException {
        Path file = dir.resolve("none.safetensors");
        SafeTensors.write(file, Map.of(), Map.of());
        try (SafeTensors st = SafeTensors.open(file)) {
            assertTrue(st.names().isEmpty());
            assertTrue(st.metadata().isEmpty());
        }
        assertEquals(16, Files.size(file)); // 8-byte length + "{}" padded to 8
    }

    @Test
    void overwritesAtomicallyEvenWhileTheOldFileIsMappedAndLeavesNoTempFiles() throws IOException {
        Path file = dir.resolve("replace.safetensors");
        try (Tensor one = Tensor.of(new float[] {1, 1, 1}, 3); Tensor two = Tensor.of(new float[] {2, 2}, 2)) {
            SafeTensors.write(file, Map.of("t", one), Map.of());
            try (SafeTensors old = SafeTensors.open(file)) {
                Tensor mapped = old.tensor("t");
                SafeTensors.write(file, Map.of("t", two), Map.of());
                assertEquals(3f, mapped.get(0) + mapped.get(1) + mapped.get(2), "the old mapping still reads the old file");
            }
            try (SafeTensors now = SafeTensors.open(file)) {
                assertArrayEquals(new int[] {2}, now.info("t").shape());
                assertEquals(2f, now.tensor("t").get(1));
            }
            // a tensor read from a mapping can be written back to the very same path
            try (SafeTensors now = SafeTensors.open(file)) {
                SafeTensors.write(file, Map.of("t", now.tensor("t"), "u", one), Map.of());
            }
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList(), "only the target remains");
        }
    }

    @Test
    void writeRejectsTheReservedNameAndLeavesNothingBehind() throws IOException {
        Path file = dir.resolve("reserved.safetensors");
        try (Tensor t = Tensor.of(new float[] {1}, 1)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> SafeTensors.write(file, Map.of("__metadata__", t), Map.of()));
            assertTrue(e.getMessage().contains("__metadata__"));
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(0, files.count());
        }
    }

    @Test
    void closeIsIdempotentAndTensorThrowsIllegalStateAfterwards() throws IOException {
        Path file = dir.resolve("closed.safetensors");
        try (Tensor t = Tensor.of(new float[] {1, 2, 3}, 3)) {
            SafeTensors.write(file, Map.of("t", t), Map.of("a", "b"));
        }
        SafeTensors st = SafeTensors.open(file);
        Tensor view = st.tensor("t");
        st.close();
        st.close();
        assertThrows(IllegalStateException.class, () -> st.tensor("t"));
        assertThrows(IllegalStateException.class, () -> st.tensor("absent"));
        assertThrows(IllegalStateException.class, () -> view.get(0), "views die with the mapping");
        assertEquals(3, st.info("t").end() / 4, "header information stays available");
        assertEquals(Map.of("a", "b"), st.metadata());
    }

    @Test
    void readsTheGoldenInputs() {
        Path file = StFiles.goldenDir().resolve("flux-tiny-f32").resolve("inputs.safetensors");
        assertTrue(Files.isRegularFile(file), file + " exists");
        try (SafeTensors st = SafeTensors.open(file)) {
            assertTrue(st.names().containsAll(List.of("img", "img_ids", "txt", "txt_ids", "y", "timesteps", "guidance", "q", "k", "v", "ids")),
                    st.names().toString());
            TensorInfo img = st.info("img");
            assertEquals(DType.F32, img.dtype());
            assertArrayEquals(new int[] {1, 60, 16}, img.shape());
            Tensor txt = st.tensor("txt");
            assertEquals(DType.F32, txt.dtype());
            assertArrayEquals(new int[] {1, 7, 48}, txt.shape());
            assertEquals(1 * 60 * 16 * 4, img.end() - img.begin());
            // the data is finite, not all zero, and the file's tensors are sorted by offset
            for (String n : st.names()) {
                Tensor t = st.tensor(n);
                double sumSq = 0;
                for (long i = 0; i < t.numel(); i++) {
                    float v = t.get(i);
                    assertTrue(Float.isFinite(v), n + "[" + i + "] = " + v);
                    sumSq += (double) v * v;
                }
                if (t.numel() > 1 && !n.endsWith("_ids") && !n.equals("ids")) {
                    assertTrue(sumSq > 0, n + " is all zero");
                }
            }
            long[] begins = st.names().stream().mapToLong(n -> st.info(n).begin()).toArray();
            long[] sorted = begins.clone();
            Arrays.sort(sorted);
            assertArrayEquals(sorted, begins);
        }
    }
}
