package org.untwist.vector;

import static org.untwist.vector.Simd.I;
import static org.untwist.vector.Simd.L;
import static org.untwist.vector.Simd.LE;
import static org.untwist.vector.Simd.S;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import org.untwist.tensor.DType;

/**
 * BF16/F16 weights to float with SIMD, for the two {@code linear} paths: {@link VectorGemm} widens while packing
 * its column blocks, {@link VectorGemv} widens a column block's weight rows into a per-thread panel.
 */
final class HalfWidening {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private HalfWidening() {
    }

    /** Widens weight rows {@code [c0, c1)} of a BF16/F16 matrix into consecutive float rows of {@code dst}. */
    static void widenRows(MemorySegment src, DType dt, int c0, int c1, int in, MemorySegment dst) {
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
}
