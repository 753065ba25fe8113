package org.untwist.vector;

import static org.untwist.vector.Simd.B;
import static org.untwist.vector.Simd.BL;
import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.I;
import static org.untwist.vector.Simd.L;
import static org.untwist.vector.Simd.LE;
import static org.untwist.vector.Simd.S;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import org.untwist.tensor.DType;

/**
 * BF16/F16/F8_E4M3/F8_E5M2 weights to float with SIMD, for the two {@code linear} paths: {@link VectorGemm} widens while
 * packing its column blocks, {@link VectorGemv} widens a column block's weight rows into a per-thread panel; and for
 * {@code embedding}, which widens the gathered table rows ({@link VectorEmbedding}).
 */
final class HalfWidening {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private HalfWidening() {
    }

    /**
     * Widens weight rows {@code [c0, c1)} of a BF16/F16/F8_E4M3/F8_E5M2 matrix into consecutive float rows of {@code dst};
     * Q8_0/Q4_K rows go to {@link BlockWidening}.
     */
    static void widenRows(MemorySegment src, DType dt, int c0, int c1, int in, MemorySegment dst) {
        if (dt.isBlockQuantized()) {
            BlockWidening.widenRows(src, dt, c0, c1, in, dst);
            return;
        }
        if (dt == DType.F8_E4M3 || dt == DType.F8_E5M2) {
            boolean e5m2 = dt == DType.F8_E5M2;
            for (int c = c0; c < c1; c++) {
                widenF8(src, (long) c * in, in, dst, (long) (c - c0) * in * Float.BYTES, e5m2);
            }
            return;
        }
        int bound = S.loopBound(in);
        boolean bf16 = dt == DType.BF16;
        for (int c = c0; c < c1; c++) {
            long sOff = (long) c * in * 2;
            long dOff = (long) (c - c0) * in * Float.BYTES;
            int k = 0;
            for (; k < bound; k += L) {
                ShortVector sv = ShortVector.fromMemorySegment(S, src, sOff + 2L * k, LE);
                IntVector iv = (IntVector) sv.convertShape(VectorOperators.S2I, I, 0);
                FloatVector f = bf16 ? iv.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats() : halfToFloat(iv);
                f.intoMemorySegment(dst, dOff + 4L * k, LE);
            }
            for (; k < in; k++) {
                short h = src.get(I16, sOff + 2L * k);
                dst.set(F32, dOff + 4L * k, bf16 ? DType.bf16ToFloat(h) : Float.float16ToFloat(h));
            }
        }
    }

    /**
     * IEEE binary16 bits (in the low 16 bits of each lane, sign-extended or not) to float, exactly like
     * {@link Float#float16ToFloat}: the exponent and mantissa shifted into place and multiplied by 2^112 handles
     * normals and subnormals exactly; infinities and NaNs get the all-ones exponent. Bit-identical to
     * {@code Float.float16ToFloat} for all 65536 inputs except that signalling NaNs keep their payload unquieted.
     */
    static FloatVector halfToFloat(IntVector h) {
        IntVector em = h.and(0x7FFF);
        IntVector sign = h.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        IntVector shifted = em.lanewise(VectorOperators.LSHL, 13);
        IntVector finite = shifted.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
        VectorMask<Integer> special = em.compare(VectorOperators.GE, 0x7C00);
        IntVector bits = finite.blend(shifted.or(0x7F80_0000), special);
        return bits.or(sign).reinterpretAsFloats();
    }

    /** The loop bound of {@link #f8ToFloat} loads over {@code n} bytes: every load of {@link Simd#BL} bytes stays inside. */
    static int f8Bound(int n) {
        return n < BL ? 0 : F.loopBound(n - (BL - L));
    }

    /**
     * The L 8-bit float codes at byte {@code off} of {@code src} (F8_E5M2 if {@code e5m2}, else F8_E4M3), widened
     * (reads {@link Simd#BL} bytes, see {@link #f8Bound}).
     */
    static FloatVector loadF8(MemorySegment src, long off, boolean e5m2) {
        ByteVector bv = ByteVector.fromMemorySegment(B, src, off, LE);
        IntVector code = (IntVector) bv.convertShape(VectorOperators.B2I, I, 0);
        return e5m2 ? e5m2ToFloat(code) : f8ToFloat(code);
    }

    /** One 8-bit float code widened by the scalar decoder of its type (F8_E5M2 if {@code e5m2}, else F8_E4M3). */
    static float f8ToFloat(byte code, boolean e5m2) {
        return e5m2 ? DType.f8e5m2ToFloat(code) : DType.f8e4m3ToFloat(code);
    }

    /**
     * Widens {@code n} 8-bit float codes (F8_E5M2 if {@code e5m2}, else F8_E4M3) from byte {@code sOff} of {@code src}
     * into floats at byte {@code dOff} of {@code dst}.
     */
    static void widenF8(MemorySegment src, long sOff, int n, MemorySegment dst, long dOff, boolean e5m2) {
        int bound = f8Bound(n);
        int k = 0;
        for (; k < bound; k += L) {
            loadF8(src, sOff + k, e5m2).intoMemorySegment(dst, dOff + 4L * k, LE);
        }
        for (; k < n; k++) {
            dst.set(F32, dOff + 4L * k, f8ToFloat(src.get(ValueLayout.JAVA_BYTE, sOff + k), e5m2));
        }
    }

    /**
     * F8_E5M2 codes (in the low 8 bits of each lane, sign-extended or not) to float, exactly like
     * {@link DType#f8e5m2ToFloat}: an e5m2 code is the upper byte of a binary16, so the code shifted left by 8 goes
     * through {@link #halfToFloat} (which reads only the low 16 bits). Its NaNs ({@code S.11111.01} among them) keep
     * their payload unquieted, as {@link #halfToFloat}'s do.
     */
    static FloatVector e5m2ToFloat(IntVector code) {
        return halfToFloat(code.lanewise(VectorOperators.LSHL, 8));
    }

    /**
     * F8_E4M3 ({@code e4m3fn}) codes (in the low 8 bits of each lane, sign-extended or not) to float, exactly like
     * {@link DType#f8e4m3ToFloat}: exponent and mantissa shifted into a binary32's exponent and mantissa fields and
     * multiplied by 2^120 (the difference of the biases, 127 − 7) handles normals and subnormals exactly; {@code S.1111.111}
     * becomes NaN (there are no infinities).
     */
    static FloatVector f8ToFloat(IntVector code) {
        IntVector em = code.and(0x7F);
        IntVector sign = code.and(0x80).lanewise(VectorOperators.LSHL, 24);
        IntVector finite = em.lanewise(VectorOperators.LSHL, 20).reinterpretAsFloats().mul(0x1p120f).reinterpretAsInts();
        IntVector bits = finite.blend(0x7FC0_0000, em.compare(VectorOperators.EQ, 0x7F));
        return bits.or(sign).reinterpretAsFloats();
    }
}
