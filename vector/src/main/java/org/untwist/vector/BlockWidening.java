package org.untwist.vector;

import static org.untwist.vector.Simd.B;
import static org.untwist.vector.Simd.BL;
import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.I;
import static org.untwist.vector.Simd.L;
import static org.untwist.vector.Simd.LE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import org.untwist.tensor.BlockQuantization;
import org.untwist.tensor.DType;

/**
 * Block-quantized (Q8_0, Q4_K) weights to float with SIMD, one weight row at a time, for the two {@code linear} paths
 * ({@link VectorGemm} dequantizes while packing its column blocks, {@link VectorGemv} into a column block's panel) and
 * for {@code embedding} ({@link VectorEmbedding}). A row is whole blocks (the tensor guarantees it); it is dequantized
 * into a per-thread buffer, so never more than one row exists as floats per thread, with the float operations of the
 * scalar oracle ({@link BlockQuantization}: a product, then a difference, each rounded, never fused), so that both
 * backends see the same weights bit for bit.
 */
final class BlockWidening {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ThreadLocal<float[]> ROW = ThreadLocal.withInitial(() -> new float[0]);

    private BlockWidening() {
    }

    /** Row {@code c} of a {@code [rows, in]} matrix of type {@code dt}, dequantized into this thread's buffer (valid until its next call). */
    static float[] row(MemorySegment src, DType dt, int c, int in) {
        float[] buf = ROW.get();
        if (buf.length < in) {
            buf = new float[in];
            ROW.set(buf);
        }
        long at = dt.byteSize((long) c * in);
        for (int off = 0; off < in; off += dt.blockSize(), at += dt.blockBytes()) {
            if (dt == DType.Q8_0) {
                q8_0(src, at, buf, off);
            } else {
                q4k(src, at, buf, off);
            }
        }
        return buf;
    }

    /** Dequantizes weight rows {@code [c0, c1)} into consecutive float rows of {@code dst}. */
    static void widenRows(MemorySegment src, DType dt, int c0, int c1, int in, MemorySegment dst) {
        for (int c = c0; c < c1; c++) {
            MemorySegment.copy(row(src, dt, c, in), 0, dst, F32, (long) (c - c0) * in * Float.BYTES, in);
        }
    }

    /**
     * Whether a byte load at {@code off} stays inside {@code s}: a load reads {@link Simd#BL} bytes, 2·L at 128 bits, so
     * the last codes of the last block of a mapping are read one by one.
     */
    private static boolean fits(MemorySegment s, long off) {
        return off + BL <= s.byteSize();
    }

    /** A Q8_0 block at byte {@code at}: 32 signed bytes times the binary16 scale in front of them. */
    private static void q8_0(MemorySegment s, long at, float[] dst, int off) {
        float d = Float.float16ToFloat(s.get(I16, at));
        long q = at + 2;
        int l = 0;
        for (; l + L <= 32 && fits(s, q + l); l += L) {
            ByteVector codes = ByteVector.fromMemorySegment(B, s, q + l, LE);
            ((FloatVector) codes.convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(dst, off + l);
        }
        for (; l < 32; l++) {
            dst[off + l] = s.get(ValueLayout.JAVA_BYTE, q + l) * d;
        }
    }

    /** A Q4_K super-block at byte {@code at}: per pair of sub-blocks, 32 bytes whose low nibbles are the first, high the second. */
    private static void q4k(MemorySegment s, long at, float[] dst, int off) {
        float d = Float.float16ToFloat(s.get(I16, at)), dmin = Float.float16ToFloat(s.get(I16, at + 2));
        long scales = at + 4;
        for (int pair = 0; pair < 4; pair++) {
            float scaleLo = d * BlockQuantization.q4kScale(s, scales, 2 * pair), minLo = dmin * BlockQuantization.q4kMin(s, scales, 2 * pair);
            float scaleHi = d * BlockQuantization.q4kScale(s, scales, 2 * pair + 1), minHi = dmin * BlockQuantization.q4kMin(s, scales, 2 * pair + 1);
            long q = at + 16 + pair * 32L;
            int o = off + pair * 64, l = 0;
            for (; l + L <= 32 && fits(s, q + l); l += L) {
                IntVector packed = (IntVector) ByteVector.fromMemorySegment(B, s, q + l, LE).convertShape(VectorOperators.B2I, I, 0);
                FloatVector lo = (FloatVector) packed.and(0xF).convert(VectorOperators.I2F, 0);
                FloatVector hi = (FloatVector) packed.lanewise(VectorOperators.ASHR, 4).and(0xF).convert(VectorOperators.I2F, 0);
                lo.mul(scaleLo).sub(minLo).intoArray(dst, o + l);
                hi.mul(scaleHi).sub(minHi).intoArray(dst, o + 32 + l);
            }
            for (; l < 32; l++) {
                int packed = s.get(ValueLayout.JAVA_BYTE, q + l) & 0xFF;
                dst[o + l] = scaleLo * (packed & 0xF) - minLo;
                dst[o + 32 + l] = scaleHi * (packed >>> 4) - minHi;
            }
        }
    }
}
