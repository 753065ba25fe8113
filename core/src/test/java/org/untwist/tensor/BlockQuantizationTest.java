package org.untwist.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/**
 * {@link DType#Q8_0} and {@link DType#Q4_K} on hand-made blocks whose values are known without the decoder (every one
 * exact in float32), and what a block-quantized {@link Tensor} refuses. The bit-for-bit agreement with gguf-py on
 * random blocks is {@code org.untwist.io.GgufFileTest}'s.
 */
class BlockQuantizationTest {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final int[] SCALES = {1, 2, 3, 63, 17, 33, 48, 5};
    private static final int[] MINS = {0, 4, 8, 60, 31, 1, 63, 16};

    /** q of element l of sub-block j in {@link #q4kBlock}. */
    private static int q(int j, int l) {
        return (j * 3 + l) % 16;
    }

    /** One Q4_K super-block: d = 1, dmin = 0.5, the 6-bit scales and mins above packed as GGML packs them. */
    private static Tensor q4kBlock() {
        Tensor t = Tensor.allocate(DType.Q4_K, 1, 256);
        MemorySegment s = t.segment();
        s.set(I16, 0, Float.floatToFloat16(1f));
        s.set(I16, 2, Float.floatToFloat16(0.5f));
        for (int j = 0; j < 4; j++) {
            s.set(ValueLayout.JAVA_BYTE, 4 + j, (byte) ((SCALES[j] & 0x3F) | (SCALES[j + 4] >> 4) << 6));
            s.set(ValueLayout.JAVA_BYTE, 8 + j, (byte) ((MINS[j] & 0x3F) | (MINS[j + 4] >> 4) << 6));
            s.set(ValueLayout.JAVA_BYTE, 12 + j, (byte) ((SCALES[j + 4] & 0xF) | (MINS[j + 4] & 0xF) << 4));
        }
        for (int pair = 0; pair < 4; pair++) { // 32 bytes per pair of sub-blocks: low nibbles 2·pair, high 2·pair + 1
            for (int l = 0; l < 32; l++) {
                s.set(ValueLayout.JAVA_BYTE, 16 + pair * 32 + l, (byte) (q(2 * pair, l) | q(2 * pair + 1, l) << 4));
            }
        }
        return t;
    }

    @Test
    void q4kUnpacksScalesMinsAndNibbles() {
        try (Tensor t = q4kBlock()) {
            float[] whole = t.toFloatArray();
            for (int j = 0; j < 8; j++) {
                assertEquals(SCALES[j], BlockQuantization.q4kScale(t.segment(), 4, j), "scale " + j);
                assertEquals(MINS[j], BlockQuantization.q4kMin(t.segment(), 4, j), "min " + j);
                for (int l = 0; l < 32; l++) {
                    float want = SCALES[j] * q(j, l) - 0.5f * MINS[j];
                    assertEquals(want, t.get(j * 32 + l), "element " + (j * 32 + l));
                    assertEquals(want, whole[j * 32 + l], "element " + (j * 32 + l) + " by blocks");
                }
            }
        }
    }

    @Test
    void q8_0IsScaleTimesSignedByte() {
        try (Tensor t = Tensor.allocate(DType.Q8_0, 2, 32)) {
            MemorySegment s = t.segment();
            s.set(I16, 0, Float.floatToFloat16(-0.25f));
            s.set(I16, 34, Float.floatToFloat16(3f));
            for (int l = 0; l < 32; l++) {
                s.set(ValueLayout.JAVA_BYTE, 2 + l, (byte) (l * 8 - 128));
                s.set(ValueLayout.JAVA_BYTE, 36 + l, (byte) (127 - l));
            }
            float[] whole = t.toFloatArray();
            for (int l = 0; l < 32; l++) {
                assertEquals((l * 8 - 128) * -0.25f, t.get(l));
                assertEquals((127 - l) * 3f, t.get(32 + l));
                assertEquals(t.get(l), whole[l]);
                assertEquals(t.get(32 + l), whole[32 + l]);
            }
        }
    }

    @Test
    void sizesAreCountedInBlocks() {
        assertTrue(DType.Q8_0.isBlockQuantized() && DType.Q4_K.isBlockQuantized());
        assertFalse(DType.Q8_0.isFloatingPoint() || DType.F8_E5M2.isBlockQuantized());
        assertEquals(68, DType.Q8_0.byteSize(64));
        assertEquals(288, DType.Q4_K.byteSize(512));
        assertEquals(8, DType.F32.byteSize(2));
        assertTrue(assertThrows(IllegalStateException.class, DType.Q8_0::byteSize).getMessage().contains("34 bytes per block of 32"));
        assertThrows(IllegalArgumentException.class, () -> DType.Q4_K.byteSize(100));
        try (Tensor t = Tensor.allocate(DType.Q4_K, 3, 512)) {
            assertEquals(3 * 2 * 144, t.byteSize());
            assertEquals(2 * 144, t.rows(1, 1).byteSize());
            assertEquals(t.segment().address() + 2 * 144, t.rows(1, 2).segment().address());
            assertEquals(6 * 144, t.reshape(6, 256).byteSize());
        }
    }

    @Test
    void aBlockQuantizedTensorRefusesWhatWouldCutItsBlocks() {
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(DType.Q8_0, 3, 40));
        assertTrue(shape.getMessage().contains("Q8_0") && shape.getMessage().contains("whole blocks of 32") && shape.getMessage().contains("[3, 40]"),
                shape.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(DType.Q4_K));
        try (Tensor t = Tensor.allocate(DType.Q8_0, 2, 64)) {
            assertThrows(IllegalArgumentException.class, () -> t.reshape(8, 16));
            assertEquals(128, t.reshape(128).dim(0));
            IllegalArgumentException rows = assertThrows(IllegalArgumentException.class, () -> t.reshape(128).rows(0, 1));
            assertTrue(rows.getMessage().contains("cut its blocks"), rows.getMessage());
        }
    }

    @Test
    void aBlockQuantizedTensorIsReadOnlyElementByElement() {
        try (Tensor t = q4kBlock(); Tensor f32 = t.copy(DType.F32)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> t.set(0, 1f));
            assertTrue(e.getMessage().contains("Q4_K") && e.getMessage().contains("block-quantized"), e.getMessage());
            assertThrows(IllegalStateException.class, () -> t.copyFrom(new float[256]));
            assertThrows(IllegalStateException.class, () -> t.copyFrom(f32));
            for (int i = 0; i < 256; i++) {
                assertEquals(t.get(i), f32.get(i));
            }
            try (Tensor same = Tensor.allocate(DType.Q4_K, 1, 256)) {
                same.copyFrom(t); // same type: the bytes
                assertEquals(t.get(200), same.get(200));
            }
        }
    }
}
