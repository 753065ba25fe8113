package org.untwist.onednn;

import org.untwist.backend.ScalarBackend;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * What a bf16 linear must compute, from the scalar oracle, and how far it may be from it.
 *
 * <p>Tolerances, per output element {@code (i, j)}, with {@code S = Σ_k |x_ik|·|w_jk| + |bias_j|} (the oracle's linear
 * of {@code |x|}, {@code |w|} and {@code |bias|}, so they scale with the reduction length {@code K} and the operands'
 * sizes):
 * <ul>
 *   <li>against the oracle on the operands rounded to bf16 ({@link #rounded}: what PyTorch's bf16 Linear multiplies),
 *       only the float32 sum differs, in its order: {@code |out − ref| ≤ γ·S} with {@code γ = (K + 1)·2⁻²⁴} (the worst
 *       case of any summation order of K products and the bias; products of two bf16 values are exact in float32);</li>
 *   <li>against the exact float32 oracle on the operands as given: {@code |out − ref| ≤ (2u + u² + γ·(1 + u)²)·S} with
 *       {@code u = 2⁻⁸}, bf16's unit roundoff (each operand rounded once).</li>
 * </ul>
 */
final class Bf16Reference {
    /** bf16's unit roundoff: 8 significant bits, round to nearest. */
    static final double U = 0x1p-8;

    private Bf16Reference() {
    }

    /** {@code t} rounded to bf16, as a tensor of type {@code type} holding the rounded values. */
    static Tensor rounded(Tensor t, DType type) {
        Tensor r = Tensor.allocate(type, t.shape());
        for (long i = 0; i < t.numel(); i++) {
            r.set(i, DType.bf16ToFloat(DType.floatToBf16(t.get(i))));
        }
        return r;
    }

    /** Elementwise {@code |t|} as float32. */
    static Tensor abs(Tensor t) {
        Tensor r = Tensor.allocate(DType.F32, t.shape());
        for (long i = 0; i < t.numel(); i++) {
            r.set(i, Math.abs(t.get(i)));
        }
        return r;
    }

    /** {@code γ} for a reduction of length {@code k} plus the bias. */
    static double gamma(int k) {
        return (k + 1) * 0x1p-24;
    }

    /** The factor on {@code S} against the exact float32 oracle. */
    static double bf16Factor(int k) {
        return 2 * U + U * U + gamma(k) * (1 + U) * (1 + U);
    }

    /**
     * The largest ratio {@code |out − ref| / (factor·S + tiny)} over the elements ({@code S} from {@code x}, {@code w}
     * and {@code bias}); at most 1 means within the bound. A NaN anywhere gives infinity.
     */
    static double worstRatio(ScalarBackend oracle, Tensor x, Tensor w, Tensor bias, Tensor out, Tensor ref, double factor) {
        try (Tensor ax = abs(x); Tensor aw = abs(w); Tensor ab = bias == null ? null : abs(bias);
             Tensor s = Tensor.allocate(DType.F32, out.shape())) {
            oracle.linear(ax, aw, ab, s);
            double worst = 0;
            for (long i = 0; i < out.numel(); i++) {
                double bound = factor * s.get(i) * 1.0001 + Float.MIN_NORMAL; // 1.0001: S itself is a float32 sum
                double d = Math.abs((double) out.get(i) - ref.get(i));
                if (Double.isNaN(d)) {
                    return Double.POSITIVE_INFINITY;
                }
                worst = Math.max(worst, d / bound);
            }
            return worst;
        }
    }
}
