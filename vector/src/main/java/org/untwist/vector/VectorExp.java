package org.untwist.vector;

import static org.untwist.vector.Simd.F;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * {@code e^x} on non-positive arguments, lane-wise, as a polynomial whose every step is an exactly specified vector
 * operation (add, multiply, FMA, integer add on the bits), so a lane's result depends on its argument only: the
 * same in the interpreter, C1 and C2, in a vector lane or a tail. {@code lanewise(VectorOperators.EXP)} is not: C2
 * calls a vector math library while the interpreter and C1 compute {@code Math.exp} per lane, and the two differ in
 * the last bit for some arguments.
 *
 * <p>The method is Cephes {@code expf} (about 1 ulp): {@code n = round(x·log2 e)}, {@code r = x − n·ln 2} (ln 2 in
 * two parts), {@code e^r = 1 + r + r²·P(r)} with P of degree 5, and {@code 2^n} added to the exponent bits. Used by
 * the attention rescale factors, the attention probabilities, silu and GELU; the flash-attention tile spells the same
 * steps out with these constants (clamped at {@link #EXP_LO}, see {@code VectorAttention.softmax}).
 */
final class VectorExp {
    private VectorExp() {
    }

    // Package-private: the flash-attention tile spells the same steps out (see VectorAttention.softmax).
    static final float LOG2E = 1.44269504088896341f, ROUND = 12582912f; // 1.5·2^23: adding it rounds to an integer
    static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    static final float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f, P3 = 4.1665795894e-2f,
            P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;
    /** Lowest argument whose {@code 2^n} can go into the exponent bits as it is (e^−87 ≈ 1.6e−38 is a normal float). */
    static final float EXP_LO = -87f;
    /** Arguments below this give 0: e^−104 is under half the smallest subnormal float. */
    private static final float EXP_ZERO = -104f;

    /**
     * {@code e^x} for {@code x ≤ 0}, −∞ included, down into the subnormal floats (an attention probability or a silu of
     * a large negative argument can be that small): where {@code x < EXP_LO}, {@code 2^(n+32)} goes into the exponent
     * bits and the result is multiplied by {@code 2^−32} (one rounding into the subnormal range); below −104 the
     * result is 0. NaN stays NaN. Vector API calls only, no further helper of ours: past its node budget C2 stops
     * inlining our methods into a large caller ({@code NodeCountInliningCutoff}), and a call that passes vectors boxes
     * them.
     */
    static FloatVector expNonPositive(FloatVector x) {
        VectorMask<Float> tiny = x.lt(EXP_LO);
        x = x.max(EXP_ZERO);
        FloatVector big = x.mul(LOG2E).add(ROUND); // n = round(x·log2 e) in the low mantissa bits
        FloatVector n = big.sub(ROUND);
        FloatVector r = n.fma(FloatVector.broadcast(F, -LN2_HI), x);
        r = n.fma(FloatVector.broadcast(F, -LN2_LO), r);
        FloatVector y = r.fma(P0, P1).fma(r, FloatVector.broadcast(F, P2)).fma(r, FloatVector.broadcast(F, P3))
                .fma(r, FloatVector.broadcast(F, P4)).fma(r, FloatVector.broadcast(F, P5));
        y = y.fma(r.mul(r), r).add(1f);
        IntVector shift = big.add(32f, tiny).reinterpretAsInts().lanewise(VectorOperators.LSHL, 23);
        FloatVector scaled = y.reinterpretAsInts().add(shift).reinterpretAsFloats();
        return scaled.mul(FloatVector.broadcast(F, 1f).blend(0x1p-32f, tiny));
    }

    /**
     * {@code v · sigmoid(z)} lane-wise, as {@code v / (1 + e)} for {@code z ≥ 0} and {@code v·e / (1 + e)} for
     * {@code z < 0}, with {@code e = e^−|z|}: the exponential never overflows.
     */
    static FloatVector timesSigmoid(FloatVector v, FloatVector z) {
        FloatVector e = expNonPositive(z.abs().neg());
        return v.mul(e).blend(v, z.compare(VectorOperators.GE, 0f)).div(e.add(1f));
    }
}
