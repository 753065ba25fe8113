package org.untwist.vector;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Every incubator constant of the backend in one place: the float species (preferred, or
 * {@code -Duntwist.vectorBits}), the int, short and byte species of the same lane count (for widening BF16/F16/F8
 * weights), the lane permutations of the RoPE kernels (also the pair swap of {@code chunkLogits}) and of {@code upsampleNearest2x}, the lane sum
 * in a fixed order every reduction uses ({@link #sum}), and the one unaligned vector load every kernel uses.
 */
final class Simd {
    private Simd() {
    }

    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** Bits per float vector. */
    static final int BITS = VectorSupport.chosenBits();
    /** The float species every kernel uses. */
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED.vectorBitSize() == BITS
            ? FloatVector.SPECIES_PREFERRED : VectorSpecies.of(float.class, VectorShape.forBitSize(BITS));
    /** Float lanes per vector. */
    static final int L = F.length();
    /** Ints with the lanes of {@link #F}. */
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, VectorShape.forBitSize(BITS));
    /** Shorts with the lanes of {@link #F} (half the bits), for loading 16-bit weights. */
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(BITS / 2));
    /**
     * Bytes for loading 8-bit (F8_E4M3, F8_E5M2) weights: a quarter of the bits, so the lanes of {@link #F}, except at 128 bits,
     * where the smallest byte vector (64 bits) holds {@link #BL} = 2·L bytes and only its first L are widened.
     */
    static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, BITS / 4)));
    /** Bytes per {@link #B} load (L, or 2·L at 128 bits). */
    static final int BL = B.length();

    /** {@link #L} little-endian floats from byte {@code byteOffset} of {@code s}, at any alignment. */
    static FloatVector load(MemorySegment s, long byteOffset) {
        return FloatVector.fromMemorySegment(F, s, byteOffset, LE);
    }

    // ---- applyRope: out = diag·x + cross·swap(x), diag/cross de-interleaved from the 4-float table entries -------

    /** Lane l (pair l/2, component l%2) takes the pair's m00 / m11 from the two-vector table {@code [T0, T1]}. */
    static final FloatVector ROPE_DIAG_IDX = indexVector(i -> 4 * (i / 2) + (i % 2 == 0 ? 0 : 3));
    /** Lane l takes the pair's m01 / m10: the coefficient of the other element of the pair. */
    static final FloatVector ROPE_CROSS_IDX = indexVector(i -> 4 * (i / 2) + (i % 2 == 0 ? 1 : 2));
    /** Swaps the two elements of every pair. */
    static final VectorShuffle<Float> SWAP_PAIRS = VectorShuffle.fromOp(F, i -> i ^ 1);

    // ---- upsampleNearest2x: every lane twice ------------------------------------------------------------------

    /** Lane l takes lane l/2 (the first half of the lanes, each twice). */
    static final VectorShuffle<Float> DUP_LOW = VectorShuffle.fromOp(F, i -> i / 2);
    /** Lane l takes lane L/2 + l/2 (the second half, each twice). */
    static final VectorShuffle<Float> DUP_HIGH = VectorShuffle.fromOp(F, i -> L / 2 + i / 2);

    // ---- lane sums in a fixed order ---------------------------------------------------------------------------

    /** Lane i takes lane i ^ k: the levels of the reduction tree of {@link #sum} (those of k ≥ L unused). */
    private static final VectorShuffle<Float> FOLD_32 = fold(32), FOLD_16 = fold(16), FOLD_8 = fold(8), FOLD_4 = fold(4),
            FOLD_2 = fold(2), FOLD_1 = fold(1);

    private static VectorShuffle<Float> fold(int k) {
        return VectorShuffle.fromOp(F, i -> (i ^ k) % L);
    }

    /**
     * The sum of the lanes of {@code v} in an order fixed here: lane {@code i} plus lane {@code i ^ L/2}, then
     * {@code i ^ L/4}, ..., {@code i ^ 1} (a balanced tree, each level one lane-wise add), the result in lane 0. Used
     * instead of {@code reduceLanes(ADD)}, whose order the Vector API leaves open: the interpreter and C1 add the lanes
     * from first to last, C2 in an order of its own, so the last bit of a sum changed once a kernel was compiled.
     */
    static float sum(FloatVector v) {
        if (L >= 64) { // L is a constant: the JIT keeps only the levels it has
            v = v.add(v.rearrange(FOLD_32));
        }
        if (L >= 32) {
            v = v.add(v.rearrange(FOLD_16));
        }
        if (L >= 16) {
            v = v.add(v.rearrange(FOLD_8));
        }
        if (L >= 8) {
            v = v.add(v.rearrange(FOLD_4));
        }
        v = v.add(v.rearrange(FOLD_2));
        v = v.add(v.rearrange(FOLD_1));
        return v.lane(0);
    }

    private static FloatVector indexVector(java.util.function.IntUnaryOperator f) {
        float[] a = new float[L];
        for (int i = 0; i < L; i++) {
            a[i] = f.applyAsInt(i);
        }
        return FloatVector.fromArray(F, a, 0);
    }

    /** Describes the width for logs. */
    static String describeWidth() {
        return BITS + "-bit (" + L + " float lanes)";
    }

    /** Touches the int and short vector classes so that a missing one fails at construction, not mid-kernel. */
    static void check() {
        if (IntVector.zero(I).length() != L || ShortVector.zero(S).length() != L || ByteVector.zero(B).length() < L) {
            throw new IllegalStateException("species lane counts disagree: " + F + ", " + I + ", " + S + ", " + B);
        }
    }
}
