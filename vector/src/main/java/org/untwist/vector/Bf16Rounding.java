package org.untwist.vector;

import static org.untwist.vector.Simd.F;
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
 * Matrix rows of any weight type to bfloat16 rows with SIMD, for a native bf16 GEMM ({@link VectorBackend#toBf16Rows}):
 * float32 rounded to nearest even exactly as {@link DType#floatToBf16} (NaN stays a quiet NaN, subnormals kept), F16
 * widened by {@link HalfWidening#halfToFloat} and then rounded, F8_E4M3 and F8_E5M2 widened (bf16 holds every value of
 * both exactly), GGUF's Q8_0 and Q4_K dequantized a row at a time by {@link BlockWidening} and then rounded, BF16 copied.
 */
final class Bf16Rounding {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Bf16Rounding() {
    }

    /** Rows {@code [r0, r1)} of a {@code [*, cols]} matrix of type {@code dt} at {@code src} into consecutive bf16 rows at {@code dst}. */
    static void rows(MemorySegment src, DType dt, long r0, long r1, int cols, MemorySegment dst) {
        long n = (r1 - r0) * cols;
        long first = r0 * cols;
        switch (dt) {
            case BF16 -> MemorySegment.copy(src, first * 2, dst, 0, n * 2);
            case F32 -> {
                for (long r = r0; r < r1; r++) {
                    floats(src, r * cols * 4, cols, dst, (r - r0) * cols * 2);
                }
            }
            case F16, F8_E4M3, F8_E5M2 -> {
                for (long r = r0; r < r1; r++) {
                    widened(src, dt, r * cols, cols, dst, (r - r0) * cols * 2);
                }
            }
            case Q8_0, Q4_K -> { // dequantized as GGML defines (BlockWidening), then rounded like float32 rows
                for (long r = r0; r < r1; r++) {
                    float[] row = BlockWidening.row(src, dt, Math.toIntExact(r), cols);
                    floats(MemorySegment.ofArray(row), 0, cols, dst, (r - r0) * cols * 2);
                }
            }
            default -> throw new IllegalArgumentException("not a weight type: " + dt);
        }
    }

    /** {@code n} floats from byte {@code sOff} rounded to bf16 at byte {@code dOff}. */
    private static void floats(MemorySegment src, long sOff, int n, MemorySegment dst, long dOff) {
        int bound = F.loopBound(n);
        int k = 0;
        for (; k < bound; k += L) {
            store(round(FloatVector.fromMemorySegment(F, src, sOff + 4L * k, LE)), dst, dOff + 2L * k);
        }
        for (; k < n; k++) {
            dst.set(I16, dOff + 2L * k, DType.floatToBf16(src.get(F32, sOff + 4L * k)));
        }
    }

    /** {@code n} F16 or F8 codes from element {@code first} widened and rounded to bf16 at byte {@code dOff}. */
    private static void widened(MemorySegment src, DType dt, long first, int n, MemorySegment dst, long dOff) {
        boolean f16 = dt == DType.F16;
        boolean e5m2 = dt == DType.F8_E5M2;
        int bound = f16 ? S.loopBound(n) : HalfWidening.f8Bound(n);
        int k = 0;
        for (; k < bound; k += L) {
            FloatVector f;
            if (f16) {
                ShortVector sv = ShortVector.fromMemorySegment(S, src, 2 * (first + k), LE);
                f = HalfWidening.halfToFloat((IntVector) sv.convertShape(VectorOperators.S2I, I, 0));
            } else {
                f = HalfWidening.loadF8(src, first + k, e5m2);
            }
            store(round(f), dst, dOff + 2L * k);
        }
        for (; k < n; k++) {
            float v = f16 ? Float.float16ToFloat(src.get(I16, 2 * (first + k)))
                    : HalfWidening.f8ToFloat(src.get(ValueLayout.JAVA_BYTE, first + k), e5m2);
            dst.set(I16, dOff + 2L * k, DType.floatToBf16(v));
        }
    }

    /** The bf16 bits of each lane in the low 16 bits: {@link DType#floatToBf16} lane by lane. */
    private static IntVector round(FloatVector f) {
        IntVector bits = f.reinterpretAsInts();
        IntVector high = bits.lanewise(VectorOperators.LSHR, 16);
        IntVector rounded = bits.add(high.and(1).add(0x7FFF)).lanewise(VectorOperators.LSHR, 16);
        VectorMask<Integer> nan = bits.and(0x7FFF_FFFF).compare(VectorOperators.GT, 0x7F80_0000);
        return rounded.blend(high.or(0x40), nan);
    }

    private static void store(IntVector bf16, MemorySegment dst, long off) {
        ((ShortVector) bf16.convertShape(VectorOperators.I2S, S, 0)).intoMemorySegment(dst, off, LE);
    }
}
