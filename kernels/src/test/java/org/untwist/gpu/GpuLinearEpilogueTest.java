package org.untwist.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.untwist.gpu.DeviceTestTensors.random;

import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.untwist.backend.ScalarBackend;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * The bf16 precision's linear layers through cuBLASLt with the bias and the tanh GELU in the GEMM's epilogue
 * ({@code CublasGemm.multiplyWithEpilogue}), against the scalar oracle on the operands the bf16 contract rounds (x
 * to bf16, or to f16 with f16 weights; 8-bit weights widen to bf16 exactly), with the GELU of the oracle applied to
 * the oracle's linear output. Tolerance per element: float32 accumulation, {@code 8u·√K·‖(x_k·w_k)‖₂ + 8u·|want|},
 * times 1.2 where the GELU follows (its slope is at most 1.13), plus, for the GELU, {@code 0.5·|z|·2⁻¹⁰} (z the
 * pre-activation): cuBLASLt's epilogue evaluates tanh with the GPU's approximate instruction (relative error below
 * 2⁻¹⁰; measured on an H100: 2.8e-6 at z = −0.41, where the erf form would differ by +8.6e-6 the other way), an
 * error below the bf16 rounding (2⁻⁹) that the next GEMM applies to the activations anyway. Each aligned case must
 * have taken the epilogue path ({@code GpuBackend.diagnostics().epilogueGemms()} counts), not the bias-pass fallback (bf16 and 8-bit
 * weights; f16 weights and the awkward shapes are checked on whichever path they take). Skipped without a GPU.
 */
class GpuLinearEpilogueTest {
    private static final long SEED = 20261206L;

    @BeforeAll
    static void needsADevice() {
        DeviceTestTensors.needsADevice("GpuLinearEpilogueTest", SEED);
    }

    @Test
    void biasAndGeluInTheEpilogueMatchTheOracle() {
        // {rows, in, out, aligned}: FLUX-like, a modulation row, the small-K exactness case, awkward sizes (these may
        // take the fallback where cuBLASLt has no algorithm; their results are checked either way)
        int[][] shapes = {{300, 256, 1024, 1}, {1, 512, 3072, 1}, {64, 16, 96, 1}, {5, 17, 33, 0}, {37, 300, 7, 0}, {2, 8, 8, 0}};
        DType[] types = {DType.BF16, DType.F16, DType.F8_E4M3, DType.F8_E5M2};
        try (GpuBackend be = new GpuBackend(GpuBackend.Precision.BF16, false); ScalarBackend oracle = new ScalarBackend()) {
            int c = 0;
            for (int[] s : shapes) {
                for (DType dt : types) {
                    for (int variant = 0; variant < 3; variant++) { // bias + GELU, bias only, GELU only
                        boolean gelu = variant != 1, withBias = variant != 2;
                        check(be, oracle, new Random(SEED + c++), s[0], s[1], s[2], dt, withBias, gelu, s[3] == 1 && dt != DType.F16);
                    }
                }
            }
        }
    }

    /**
     * cuBLASLt's algorithm chosen by timing its heuristic's candidates ({@code -Duntwist.gpu.gemmAutotune}): the same
     * bounds as the heuristic's first choice for FLUX-like and awkward shapes, with and without bias and GELU, and every
     * plan with more than one candidate was tuned (the count rises).
     */
    @Test
    void autotunedAlgorithmsMatchTheOracle() {
        int[][] shapes = {{300, 256, 1024, 1}, {1, 512, 3072, 1}, {5, 17, 33, 0}};
        try (GpuBackend be = new GpuBackend(GpuBackend.Precision.BF16, false); ScalarBackend oracle = new ScalarBackend()) {
            be.diagnostics().gemmAutotune(true);
            int c = 0;
            for (int[] s : shapes) {
                for (DType dt : new DType[] {DType.BF16, DType.F8_E4M3}) {
                    for (int variant = 0; variant < 3; variant++) {
                        boolean gelu = variant != 1, withBias = variant != 2;
                        check(be, oracle, new Random(SEED + 200 + c++), s[0], s[1], s[2], dt, withBias, gelu, s[3] == 1);
                    }
                }
            }
            System.out.println("autotuned cuBLASLt plans: " + be.diagnostics().autotunedGemms());
            assertTrue(be.diagnostics().autotunedGemms() > 0, "no plan had its candidates timed");
        }
    }

    /** Blocks of 8-bit weights widened in turn (more output rows than one 64 MiB bf16 block holds): every block's bias and output offset. */
    @Test
    void blockWiseWidenedWeightsGetEachBlocksBias() {
        try (GpuBackend be = new GpuBackend(GpuBackend.Precision.BF16, false); ScalarBackend oracle = new ScalarBackend()) {
            check(be, oracle, new Random(SEED + 100), 9, 8192, 4100, DType.F8_E4M3, true, true, false);
        }
    }

    /**
     * linearConcat in bf16 precision rounds a and b straight into the GEMM's operand: the same operand, so the same
     * bits, as concat then linear on the same backend (F8 weights too: widened block by block either way).
     */
    @Test
    void joinedInputsRoundLikeTheirConcatenation() {
        try (GpuBackend be = new GpuBackend(GpuBackend.Precision.BF16, false)) {
            int[][] shapes = {{300, 256, 768, 1024}, {7, 5, 12, 9}, {1, 3072, 12288, 3072}};
            for (DType dt : new DType[] {DType.BF16, DType.F16, DType.F8_E4M3}) {
                for (int[] s : shapes) {
                    Random r = new Random(SEED + s[1] + dt.ordinal());
                    int rows = s[0], ka = s[1], kb = s[2], out = s[3];
                    try (Tensor a = random(r, 1f, DType.F32, rows, ka); Tensor b = random(r, 1f, DType.F32, rows, kb);
                         Tensor w = random(r, (float) (2 / Math.sqrt(ka + kb)), dt, out, ka + kb); Tensor bias = random(r, 0.5f, DType.F32, out);
                         Tensor da = be.place(a); Tensor db = be.place(b); Tensor dw = be.place(w); Tensor dbias = be.place(bias);
                         Tensor joined = be.allocate(DType.F32, rows, ka + kb); Tensor viaConcat = be.allocate(DType.F32, rows, out);
                         Tensor direct = be.allocate(DType.F32, rows, out); Tensor h1 = Tensor.allocate(rows, out); Tensor h2 = Tensor.allocate(rows, out)) {
                        be.concat(java.util.List.of(da, db), 1, joined);
                        be.linear(joined, dw, dbias, viaConcat);
                        be.linearConcat(da, db, dw, dbias, direct);
                        be.copy(viaConcat, h1);
                        be.copy(direct, h2);
                        assertTrue(java.util.Arrays.equals(h1.toFloatArray(), h2.toFloatArray()),
                                "linearConcat [" + rows + ", " + ka + " + " + kb + "] x " + dt + ": differs from concat then linear");
                    }
                }
            }
        }
    }

    private static void check(GpuBackend be, ScalarBackend oracle, Random r, int rows, int in, int out, DType dt, boolean withBias,
                              boolean gelu, boolean mustFuse) {
        String what = (gelu ? "linearGeluTanh" : "linear") + " [" + rows + ", " + in + "] x [" + out + ", " + in + "] " + dt
                + (withBias ? " + bias" : "");
        float scale = in <= 16 ? 0.5f : 1f;
        try (Tensor x = random(r, scale, DType.F32, rows, in); Tensor w = random(r, (float) (2 / Math.sqrt(in)), dt, out, in);
             Tensor bias = withBias ? random(r, 0.5f, DType.F32, out) : null; Tensor xr = Tensor.allocate(rows, in);
             Tensor want = Tensor.allocate(rows, out); Tensor got = Tensor.allocate(rows, out);
             Tensor dx = be.place(x); Tensor dw = be.place(w); Tensor db = bias == null ? null : be.place(bias);
             Tensor dOut = be.allocate(DType.F32, rows, out)) {
            for (long i = 0; i < x.numel(); i++) { // the operand rounding of the bf16 contract
                float v = x.get(i);
                xr.set(i, dt == DType.F16 ? Float.float16ToFloat(Float.floatToFloat16(v)) : DType.bf16ToFloat(DType.floatToBf16(v)));
            }
            oracle.linear(xr, w, bias, want);
            float[] pre = want.toFloatArray(); // the GELU's input, for its tolerance
            if (gelu) {
                oracle.geluTanh(want, want);
            }
            long before = be.diagnostics().epilogueGemms();
            if (gelu) {
                be.linearGeluTanh(dx, dw, db, dOut);
            } else {
                be.linear(dx, dw, db, dOut);
            }
            be.copy(dOut, got);
            boolean fused = be.diagnostics().epilogueGemms() == before + 1;
            double worst = GemmBound.assertClose(what, (fused ? "epilogue" : "fallback") + " path", xr, w, bias, want, got, gelu, pre, false);
            System.out.printf(java.util.Locale.ROOT, "%s: %s path, worst error %.3f of the tolerance%n", what, fused ? "epilogue" : "fallback", worst);
            if (mustFuse) {
                assertEquals(before + 1, be.diagnostics().epilogueGemms(), what + ": cuBLASLt's epilogue path did not run");
            }
        }
    }
}
