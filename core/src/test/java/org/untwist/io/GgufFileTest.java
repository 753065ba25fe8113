package org.untwist.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.untwist.tensor.BlockQuantization;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * {@link GgufFile} on {@code testdata/gguf/tensors.gguf}, written by gguf-py ({@code pipeline/src/test/python/make_gguf_cases.py}):
 * the metadata of every value type, the tensors' types and row-major shapes, and every tensor's values, dequantized,
 * bit for bit equal to gguf-py's dequantization ({@code tensors-expected.safetensors}).
 */
class GgufFileTest {
    @TempDir
    Path dir;

    static Path gguf(String name) {
        return StFiles.goldenDir().getParent().resolve("gguf").resolve(name);
    }

    @Test
    void readsTheMetadataOfEveryValueType() {
        try (GgufFile f = GgufFile.open(gguf("tensors.gguf"))) {
            assertEquals(3, f.version());
            assertEquals(64, f.alignment());
            Map<String, Object> m = f.metadata();
            assertEquals("untwist-test", f.metadataString("general.architecture"));
            assertEquals(64L, m.get("general.alignment"));
            assertEquals(200, m.get("test.uint8"));
            assertEquals(-100, m.get("test.int8"));
            assertEquals(60000, m.get("test.uint16"));
            assertEquals(-30000, m.get("test.int16"));
            assertEquals(4_000_000_000L, m.get("test.uint32"));
            assertEquals(-2_000_000_000, m.get("test.int32"));
            assertEquals(Long.parseUnsignedLong("18000000000000000000"), m.get("test.uint64"));
            assertEquals(-9_000_000_000_000_000_000L, m.get("test.int64"));
            assertEquals(1.5f, m.get("test.float32"));
            assertEquals(-2.25e-300, m.get("test.float64"));
            assertEquals(true, m.get("test.bool"));
            assertEquals("grüße, 世界", m.get("test.string"));
            assertEquals(List.of(1, -2, 3), m.get("test.ints"));
            assertEquals(List.of("a", "", "ccc"), m.get("test.strings"));
            assertEquals(List.of(List.of(1, 2), List.of(3)), m.get("test.nested"));
            assertThrows(UnsupportedOperationException.class, () -> m.put("x", 1));
        }
    }

    @Test
    void tensorsHaveTheirTypesAndRowMajorShapes() {
        try (GgufFile f = GgufFile.open(gguf("tensors.gguf"))) {
            assertEquals(List.of("f32", "f16", "bf16", "i32", "q8_0", "q4_k", "q4_k_3d"), f.names());
            Object[][] want = {
                {"f32", DType.F32, new int[] {3, 5}}, {"f16", DType.F16, new int[] {4, 7}}, {"bf16", DType.BF16, new int[] {2, 9}},
                {"i32", DType.I32, new int[] {4}}, {"q8_0", DType.Q8_0, new int[] {5, 96}}, {"q4_k", DType.Q4_K, new int[] {3, 512}},
                {"q4_k_3d", DType.Q4_K, new int[] {2, 2, 256}},
            };
            for (Object[] w : want) {
                Tensor t = f.tensor((String) w[0]);
                assertEquals(w[1], t.dtype(), (String) w[0]);
                assertArrayEquals((int[]) w[2], t.shape(), (String) w[0]);
                TensorInfo info = f.info((String) w[0]);
                assertEquals(0, info.begin() % 64, "offset aligned to general.alignment");
                assertEquals(t.byteSize(), info.end() - info.begin());
            }
            assertEquals(5L * 96 / 32 * 34, f.tensor("q8_0").byteSize());
            assertEquals(3L * 512 / 256 * 144, f.tensor("q4_k").byteSize());
            assertEquals(List.of(7L, -1L, 2147483647L, -2147483648L),
                    List.of(f.tensor("i32").getLong(0), f.tensor("i32").getLong(1), f.tensor("i32").getLong(2), f.tensor("i32").getLong(3)));
        }
    }

    @Test
    void dequantizesBitForBitAsGgufPy() {
        try (GgufFile f = GgufFile.open(gguf("tensors.gguf"));
             SafeTensors expected = SafeTensors.open(gguf("tensors-expected.safetensors"))) {
            assertEquals(f.names().size(), expected.names().size());
            for (String name : f.names()) {
                Tensor t = f.tensor(name), want = expected.tensor(name);
                assertArrayEquals(want.shape(), t.shape(), name);
                float[] all = t.toFloatArray(); // by whole blocks for the quantized types
                for (int i = 0; i < t.numel(); i++) {
                    int w = Float.floatToRawIntBits(want.get(i)), at = i;
                    assertEquals(w, Float.floatToRawIntBits(t.get(i)), () -> name + " element " + at + " (Tensor.get)");
                    assertEquals(w, Float.floatToRawIntBits(all[i]), () -> name + " element " + at + " (whole blocks)");
                }
            }
            // a row view starts at a block: rows 1..2 of q8_0 are elements 96..287
            Tensor rows = f.tensor("q8_0").rows(1, 2);
            float[] part = new float[2 * 96];
            BlockQuantization.dequantize(DType.Q8_0, rows.segment(), 0, part.length, part, 0);
            for (int i = 0; i < part.length; i++) {
                assertEquals(Float.floatToRawIntBits(expected.tensor("q8_0").get(96 + i)), Float.floatToRawIntBits(part[i]), "row view " + i);
            }
        }
    }

    @Test
    void readsVersion2() throws Exception {
        byte[] b = Files.readAllBytes(gguf("tensors.gguf"));
        b[4] = 2; // v2 and v3 share the layout (v3 added big-endian files, marked by the byte order of this field)
        Path v2 = Files.write(dir.resolve("v2.gguf"), b);
        try (GgufFile f = GgufFile.open(v2); SafeTensors expected = SafeTensors.open(gguf("tensors-expected.safetensors"))) {
            assertEquals(2, f.version());
            assertEquals(Float.floatToRawIntBits(expected.tensor("q4_k").get(700)), Float.floatToRawIntBits(f.tensor("q4_k").get(700)));
        }
    }

    @Test
    void defaultAlignmentIs32() throws Exception {
        GgufBytes b = new GgufBytes();
        b.tensor("w", GgufBytes.Q8_0, 0, 32, 2).tensor("v", GgufBytes.F32, 96, 3);
        b.data = new byte[96 + 12];
        b.data[0] = 0x00;
        b.data[1] = 0x3C; // d = 1.0 (binary16 0x3C00)
        b.data[2] = (byte) -7;
        try (GgufFile f = GgufFile.open(b.write(dir.resolve("a.gguf")))) {
            assertEquals(32, f.alignment());
            assertEquals(-7f, f.tensor("w").get(0));
            assertArrayEquals(new int[] {2, 32}, f.tensor("w").shape());
            assertArrayEquals(new int[] {3}, f.tensor("v").shape());
        }
    }

    @Test
    void aSourceOfTensorsLikeASafetensorsFile() throws Exception {
        Path st = dir.resolve("x.safetensors");
        SafeTensors.write(st, Map.of(), Map.of());
        assertTrue(GgufFile.isGguf(gguf("tensors.gguf")));
        assertFalse(GgufFile.isGguf(st));
        assertFalse(GgufFile.isGguf(dir.resolve("missing.gguf")));
        GgufFile f = GgufFile.open(gguf("tensors.gguf"));
        TensorSource s = f;
        assertTrue(s.contains("q4_k"));
        assertFalse(s.contains("nope"));
        assertEquals(gguf("tensors.gguf").toString(), s.describe());
        GgufException missing = assertThrows(GgufException.class, () -> s.tensor("nope"));
        assertTrue(missing.getMessage().contains("tensors.gguf") && missing.getMessage().contains("no tensor 'nope'"), missing.getMessage());
        assertTrue(missing instanceof TensorFileException);
        assertEquals(1, s.rowBlocks("q8_0").size());
        s.close();
        s.close(); // idempotent
        assertThrows(IllegalStateException.class, () -> f.tensor("q8_0"));
    }

    @Test
    void blockQuantizedTensorsAreNotWritableAsSafetensors() {
        try (GgufFile f = GgufFile.open(gguf("tensors.gguf"))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> SafeTensors.write(dir.resolve("q.safetensors"), Map.of("q", f.tensor("q8_0")), Map.of()));
            assertTrue(e.getMessage().contains("'q' is Q8_0"), e.getMessage());
            assertFalse(Files.exists(dir.resolve("q.safetensors")));
        }
    }

    @Test
    void theSupportedTypesNamedInMessagesAreThoseMapped() {
        List<String> mapped = java.util.Arrays.stream(GgmlType.values()).filter(t -> t.dtype != null).map(Enum::name).sorted().toList();
        assertEquals(mapped, java.util.Arrays.stream(GgmlType.SUPPORTED.split(", ")).sorted().toList());
        for (GgmlType t : GgmlType.values()) {
            assertEquals(t, GgmlType.byId(t.id));
        }
    }

    @Test
    void mappedNotCopied() {
        try (GgufFile f = GgufFile.open(gguf("tensors.gguf"))) {
            Tensor t = f.tensor("q4_k");
            assertFalse(t.ownsMemory());
            assertTrue(t.segment().isMapped(), "a view of the mapping");
            assertEquals(t.segment().get(ValueLayout.JAVA_BYTE, 5), f.tensor("q4_k").segment().get(ValueLayout.JAVA_BYTE, 5));
        }
    }
}
