package org.untwist.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Dequantization of the block-quantized types ({@link DType#Q8_0}, {@link DType#Q4_K}) as GGML defines them (its
 * {@code dequantize_row_q8_0} / {@code dequantize_row_q4_K}, and gguf-py's {@code quants.py}, which gives the same
 * bits): every product and difference is one float32 operation in the order written below, never fused, so that
 * the scalar oracle, the vector backend and the reference agree bit for bit.
 *
 * <p>Element offsets are counted in elements from the start of {@code src}; a whole-block call starts at a block
 * boundary.
 */
public final class BlockQuantization {
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Q8_0: elements per block, bytes per block (the binary16 scale, then one signed byte per element). */
    static final int Q8_0_BLOCK = 32, Q8_0_BYTES = 34;
    /** Q4_K: elements per super-block, bytes per super-block, and where its scales and quants start. */
    static final int Q4_K_BLOCK = 256, Q4_K_BYTES = 144, Q4_K_SCALES = 4, Q4_K_QUANTS = 16;

    private BlockQuantization() {
    }

    /** Element {@code i} of a block-quantized tensor whose storage is {@code src}, dequantized. */
    public static float element(DType dt, MemorySegment src, long i) {
        return switch (dt) {
            case Q8_0 -> {
                long block = (i / Q8_0_BLOCK) * Q8_0_BYTES;
                float d = Float.float16ToFloat(src.get(I16_LE, block));
                yield src.get(ValueLayout.JAVA_BYTE, block + 2 + i % Q8_0_BLOCK) * d;
            }
            case Q4_K -> {
                long block = (i / Q4_K_BLOCK) * Q4_K_BYTES;
                int j = (int) (i % Q4_K_BLOCK), sub = j / 32, l = j % 32;
                float d = Float.float16ToFloat(src.get(I16_LE, block));
                float dmin = Float.float16ToFloat(src.get(I16_LE, block + 2));
                // Sub-blocks 2p and 2p+1 share 32 quant bytes: the low nibbles are 2p, the high nibbles 2p+1.
                int packed = src.get(ValueLayout.JAVA_BYTE, block + Q4_K_QUANTS + (sub / 2) * 32L + l) & 0xFF;
                int q = (sub & 1) == 0 ? packed & 0xF : packed >>> 4;
                float scale = d * q4kScale(src, block + Q4_K_SCALES, sub);
                float min = dmin * q4kMin(src, block + Q4_K_SCALES, sub);
                yield scale * q - min;
            }
            default -> throw new IllegalArgumentException(dt + " is not a block-quantized type");
        };
    }

    /**
     * Dequantizes {@code n} elements from element {@code first} of {@code src} into {@code dst[off, off + n)};
     * {@code first} and {@code n} are whole blocks.
     *
     * @throws IllegalArgumentException when {@code first} or {@code n} is not a whole number of blocks
     */
    public static void dequantize(DType dt, MemorySegment src, long first, int n, float[] dst, int off) {
        int bs = dt.blockSize();
        if (!dt.isBlockQuantized() || first % bs != 0 || n % bs != 0) {
            throw new IllegalArgumentException("dequantize " + n + " " + dt + " elements from element " + first + ": not whole blocks");
        }
        long byteOff = first / bs * dt.blockBytes();
        for (int b = 0; b < n / bs; b++, byteOff += dt.blockBytes()) {
            if (dt == DType.Q8_0) {
                q8_0Block(src, byteOff, dst, off + b * Q8_0_BLOCK);
            } else {
                q4kBlock(src, byteOff, dst, off + b * Q4_K_BLOCK);
            }
        }
    }

    private static void q8_0Block(MemorySegment src, long at, float[] dst, int off) {
        float d = Float.float16ToFloat(src.get(I16_LE, at));
        for (int l = 0; l < Q8_0_BLOCK; l++) {
            dst[off + l] = src.get(ValueLayout.JAVA_BYTE, at + 2 + l) * d;
        }
    }

    private static void q4kBlock(MemorySegment src, long at, float[] dst, int off) {
        float d = Float.float16ToFloat(src.get(I16_LE, at));
        float dmin = Float.float16ToFloat(src.get(I16_LE, at + 2));
        for (int pair = 0; pair < 4; pair++) {
            float scaleLo = d * q4kScale(src, at + Q4_K_SCALES, 2 * pair), minLo = dmin * q4kMin(src, at + Q4_K_SCALES, 2 * pair);
            float scaleHi = d * q4kScale(src, at + Q4_K_SCALES, 2 * pair + 1), minHi = dmin * q4kMin(src, at + Q4_K_SCALES, 2 * pair + 1);
            long quants = at + Q4_K_QUANTS + pair * 32L;
            int o = off + pair * 64;
            for (int l = 0; l < 32; l++) {
                int packed = src.get(ValueLayout.JAVA_BYTE, quants + l) & 0xFF;
                dst[o + l] = scaleLo * (packed & 0xF) - minLo;
                dst[o + 32 + l] = scaleHi * (packed >>> 4) - minHi;
            }
        }
    }

    /**
     * The 6-bit scale of sub-block {@code j} (0..7) from a Q4_K block's 12 scale bytes at {@code s}: sub-blocks 0-3
     * keep theirs in the low 6 bits of bytes 0-3; 4-7 in the low nibble of bytes 8-11 plus, as bits 4-5, the top two
     * bits of bytes 0-3.
     */
    public static int q4kScale(MemorySegment s, long at, int j) {
        if (j < 4) {
            return u8(s, at + j) & 0x3F;
        }
        return (u8(s, at + j + 4) & 0x0F) | ((u8(s, at + j - 4) >>> 6) << 4);
    }

    /**
     * The 6-bit min of sub-block {@code j}: 0-3 in the low 6 bits of bytes 4-7; 4-7 in the high nibble of bytes 8-11
     * plus, as bits 4-5, the top two bits of bytes 4-7.
     */
    public static int q4kMin(MemorySegment s, long at, int j) {
        if (j < 4) {
            return u8(s, at + j + 4) & 0x3F;
        }
        return (u8(s, at + j + 4) >>> 4) | ((u8(s, at + j) >>> 6) << 4);
    }

    private static int u8(MemorySegment s, long at) {
        return s.get(ValueLayout.JAVA_BYTE, at) & 0xFF;
    }
}
