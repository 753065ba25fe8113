package org.untwist.gpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.untwist.tensor.Tensor;

/**
 * The bound of a bf16-precision linear layer against the scalar oracle on the operands it rounds, per element: float32
 * accumulation, {@code 8u·√K·‖(x_k·w_k)‖₂ + 8u·|want|}, times 1.2 where the tanh GELU follows (its slope is at most
 * 1.13), plus for the GELU {@code 0.5·|z|·2⁻¹⁰} (z the pre-activation: cuBLASLt's epilogue evaluates tanh with the
 * GPU's approximate instruction). Where the output is rounded to bf16, plus one bf16 ulp ({@code 2⁻⁷·|want|}: the
 * rounding's half ulp is up to {@code 2⁻⁸·|want|} just above a power of two, and the float32 results before it may differ)
 * and one bf16 ulp of the bias, {@code 2⁻⁷·|bias|} (cuBLASLt's epilogue adds a bf16 output's bias in bf16, so the bias is
 * rounded first: its half ulp alone reaches {@code 2⁻⁸·|bias|} just above a power of two, which an emulation of the
 * device's arithmetic met at 0.97 of a {@code 2⁻⁸} bound where the sum then rounds too; times 1.2 before a GELU).
 */
final class GemmBound {
    private static final double U = Math.ulp(1f) / 2;

    private GemmBound() {
    }

    /**
     * Asserts every element of {@code got [rows, out]} within the bound of {@code want} (the oracle's result on
     * {@code xr [rows, in]}, {@code w [out, in]} and {@code bias}, null for none; {@code pre} its values before the GELU, when {@code gelu}); returns the
     * worst error as a fraction of its bound. {@code path} ends each failure message.
     */
    static double assertClose(String what, String path, Tensor xr, Tensor w, Tensor bias, Tensor want, Tensor got, boolean gelu, float[] pre,
                              boolean outBf16) {
        int rows = want.dim(0), out = want.dim(1), in = xr.dim(1);
        float[] xs = xr.toFloatArray(), ws = w.toFloatArray();
        double worst = 0;
        for (int i = 0; i < rows; i++) {
            for (int o = 0; o < out; o++) {
                double ss = 0;
                for (int k = 0; k < in; k++) {
                    double t = (double) xs[i * in + k] * ws[o * in + k];
                    ss += t * t;
                }
                double e = want.get((long) i * out + o);
                double tol = (8 * U * Math.sqrt(in) * Math.sqrt(ss) + 8 * U * Math.abs(e)) * (gelu ? 1.2 : 1)
                        + (gelu ? 0.5 * Math.abs(pre[i * out + o]) * 0x1p-10 : 0)
                        + (outBf16 ? 0x1p-7 * Math.abs(e) + (bias == null ? 0 : 0x1p-7 * Math.abs(bias.get(o)) * (gelu ? 1.2 : 1)) : 0) + 1e-30;
                double err = Math.abs(got.get((long) i * out + o) - e);
                worst = Math.max(worst, err / tol);
                assertTrue(err <= tol, what + ": element (" + i + ", " + o + ") " + got.get((long) i * out + o) + " vs " + e + " (error " + err
                        + ", tolerance " + tol + ", " + path + ")");
            }
        }
        return worst;
    }
}
