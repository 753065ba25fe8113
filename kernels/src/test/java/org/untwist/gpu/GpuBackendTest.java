package org.untwist.gpu;

import static org.untwist.gpu.DeviceTestTensors.maxAbs;
import static org.untwist.gpu.DeviceTestTensors.maxDiff;
import static org.untwist.gpu.DeviceTestTensors.random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.untwist.backend.Backend;
import org.untwist.backend.ScalarBackend;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * What only the GPU backend has: device memory, leaks, out-of-memory, and the bf16 tensor-core paths (the
 * float32 path runs the shared conformance suite). Skipped, with the provider's reason, without a device.
 */
class GpuBackendTest {
    private static final long SEED = 20261129L;

    @BeforeAll
    static void needsADevice() {
        DeviceTestTensors.needsADevice("GpuBackendTest", SEED);
    }

    /**
     * The stream clock behind the GPU profile: marks around work on the backend's stream give its device time without a
     * synchronize in between (a 64 Mi-value fill takes some microseconds, far below a second), marks are reused after a
     * reset, an unrecorded mark and a closed clock fail with a message.
     */
    @Test
    void streamClockTimesWorkOnTheStream() {
        try (GpuBackend be = new GpuBackend(); Tensor t = be.allocate(DType.F32, 64 << 20); org.untwist.backend.StreamClock clock = be.diagnostics().streamClock()) {
            int a = clock.mark();
            be.fillUniform(t, SEED, 1f);
            int b = clock.mark();
            double ms = clock.millisBetween(a, b);
            System.out.println("stream clock: a 64 Mi-value fill took " + ms + " ms");
            assertTrue(ms > 0 && ms < 1000, "elapsed " + ms + " ms");
            clock.reset();
            assertEquals(0, clock.mark(), "marks count from 0 again after a reset");
            assertThrows(IndexOutOfBoundsException.class, () -> clock.millisBetween(0, 1));
            clock.close();
            IllegalStateException e = assertThrows(IllegalStateException.class, clock::mark);
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
        }
    }

    @Test
    void deviceTensorsRefuseHostAccessAndRoundTrip() {
        Random r = new Random(SEED);
        try (GpuBackend be = new GpuBackend(); Tensor h = random(r, 1f, DType.BF16, 3, 37, 5); Tensor back = Tensor.allocate(DType.BF16, 3, 37, 5);
             Tensor d = be.allocate(DType.BF16, 3, 37, 5)) {
            assertTrue(d.isDevice());
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> d.get(0));
            assertTrue(e.getMessage().contains("device memory"), e.getMessage());
            assertThrows(IllegalStateException.class, d::segment);
            be.copy(h, d);
            be.copy(d.rows(1, 2), back.rows(1, 2)); // views at an offset
            be.copy(d.rows(0, 1), back.rows(0, 1));
            assertEquals(0.0, maxDiff(h, back));
            try (Tensor wrongType = be.allocate(DType.F32, 3, 37, 5)) {
                assertThrows(IllegalArgumentException.class, () -> be.copy(h, wrongType));
            }
        }
    }

    @Test
    void noDeviceMemoryLeakOver1000Cycles() {
        try (GpuBackend warm = new GpuBackend()) { // module load, cuBLAS internals: once per process
            warm.synchronize();
        }
        long liveBefore = GpuMemory.liveBytes(), countBefore = GpuMemory.liveCount();
        long freeBefore = GpuMemory.freeAndTotal()[0];
        Random r = new Random(SEED);
        try (Tensor x = random(r, 1f, DType.F32, 4, 33, 96); Tensor scale = random(r, 1f, DType.F32, 96); Tensor out = Tensor.allocate(4, 33, 96);
             Tensor want = Tensor.allocate(4, 33, 96); ScalarBackend oracle = new ScalarBackend()) {
            oracle.rmsNorm(x, scale, 1e-6f, want);
            oracle.add(want, want, want);
            for (int cycle = 0; cycle < 1000; cycle++) {
                try (GpuBackend be = new GpuBackend(); Tensor dx = be.place(x); Tensor ds = be.place(scale); Tensor dy = be.allocate(DType.F32, 4, 33, 96)) {
                    be.rmsNorm(dx, ds, 1e-6f, dy);
                    be.add(dy, dy, dy);
                    if (cycle % 250 == 0 || cycle == 999) {
                        be.copy(dy, out);
                        assertTrue(maxDiff(out, want) < 1e-5, "cycle " + cycle + ": " + maxDiff(out, want));
                    }
                }
            }
        }
        long freeAfter = GpuMemory.freeAndTotal()[0];
        System.out.println("1000 cycles: live bytes " + liveBefore + " -> " + GpuMemory.liveBytes() + ", device free "
                + (freeBefore >> 20) + " MiB -> " + (freeAfter >> 20) + " MiB");
        assertEquals(liveBefore, GpuMemory.liveBytes());
        assertEquals(countBefore, GpuMemory.liveCount());
        assertTrue(freeBefore - freeAfter < (64L << 20), "device free memory dropped by " + ((freeBefore - freeAfter) >> 20) + " MiB");
    }

    @Test
    void outOfMemoryIsAClearErrorAndTheBackendStaysUsable() {
        try (GpuBackend be = new GpuBackend(); Tensor a = Tensor.of(new float[] {1, 2, 3}, 3); Tensor out = Tensor.allocate(3)) {
            long[] mem = GpuMemory.freeAndTotal();
            int n = (int) Math.min(Integer.MAX_VALUE, mem[1] / 4 / 1024 * 2); // twice the device's memory
            GpuOutOfMemoryException e = assertThrows(GpuOutOfMemoryException.class, () -> be.allocate(DType.F32, 1024, n));
            System.out.println("OOM message: " + e.getMessage());
            assertTrue(e.getMessage().contains("out of GPU memory") && e.getMessage().contains("F32 tensor [1024, " + n + "]"), e.getMessage());
            be.add(a, a, out); // still works, through staging
            assertEquals(6f, out.get(2));
        }
        try (Backend cpu = new ScalarBackend(); Tensor a = Tensor.of(new float[] {1}, 1)) {
            cpu.add(a, a, a);
            assertEquals(2f, a.get(0));
        }
    }

    /**
     * bf16 attention (head dim 128) against the double oracle on awkward lengths, with a chunk scale and a
     * reference shared by the batch: through cuDNN (one SDPA over own + band-scaled reference keys, or two SDPAs
     * merged by log-sum-exp) and through our kernel.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"cudnn one pass", "cudnn two passes", "own kernel"})
    void bf16SharedAttentionMatchesTheOracle(String variant) {
        Random r = new Random(SEED + 1);
        int b = 2, h = 3, lq = 77, lk = 45, refTokens = 70, refStart = 13, d = 128;
        boolean cudnn = variant.startsWith("cudnn");
        try (GpuBackend be = new GpuBackend(GpuBackend.Precision.BF16, false, cudnn); ScalarBackend oracle = new ScalarBackend();
             Tensor q = random(r, 1f, DType.F32, b, h, lq, d); Tensor k = random(r, 1f, DType.F32, b, h, lk, d);
             Tensor v = random(r, 1f, DType.F32, b, h, lk, d); Tensor rk = random(r, 1f, DType.F32, 1, h, refTokens, d);
             Tensor rv = random(r, 1f, DType.F32, 1, h, refTokens, d); Tensor scale = Tensor.allocate(d / 2);
             Tensor want = Tensor.allocate(b, lq, h * d); Tensor got = Tensor.allocate(b, lq, h * d);
             Tensor want0 = Tensor.allocate(b, lq, h * d); Tensor got0 = Tensor.allocate(b, lq, h * d)) {
            for (int p = 0; p < d / 2; p++) {
                scale.set(p, p < 16 ? 1f : 0.25f + 0.5f * r.nextFloat());
            }
            be.diagnostics().sharedPasses(variant.equals("cudnn two passes") ? 2 : 1);
            oracle.sharedAttention(q, k, v, rk, rv, refStart, scale, want);
            be.sharedAttention(q, k, v, rk, rv, refStart, scale, got);
            String path = be.diagnostics().lastAttentionPath() + (cudnn ? ", " + variant : "");
            oracle.attention(q, k, v, want0);
            be.attention(q, k, v, got0);
            if (!cudnn) {
                assertEquals("own bf16 kernel", path);
            }
            // bf16 inputs and probabilities: relative error about 2^-8 per term; outputs are averages of unit
            // Gaussians, so a bound of 3e-2 absolute is ~8 bf16 ulps at the scale of v.
            double e1 = maxDiff(got, want), e0 = maxDiff(got0, want0);
            System.out.println("bf16 attention (" + path + ") max abs error: shared " + e1 + ", plain " + e0 + " (|out| max " + maxAbs(want) + ")");
            assertTrue(e1 < 3e-2, "shared " + e1);
            assertTrue(e0 < 3e-2, "plain " + e0);
        }
    }

    /**
     * bf16 shared attention in one cuDNN pass, with the band scale fused into the rounding of the reference keys,
     * equals plain bf16 attention over keys explicitly concatenated on the host as [own; s_p · reference image
     * keys] (values [own; reference]): the same bf16 operands reach the same cuDNN plan.
     */
    @Test
    void bf16FusedSharedAttentionEqualsExplicitConcatenationOfScaledKeys() {
        Random r = new Random(SEED + 2);
        int b = 2, h = 3, lq = 64, lk = 40, refTokens = 72, refStart = 8, d = 128, lr = refTokens - refStart, lkv = lk + lr;
        try (GpuBackend be = new GpuBackend(GpuBackend.Precision.BF16, false, true);
             Tensor q = random(r, 1f, DType.F32, b, h, lq, d); Tensor k = random(r, 1f, DType.F32, b, h, lk, d);
             Tensor v = random(r, 1f, DType.F32, b, h, lk, d); Tensor rk = random(r, 1f, DType.F32, 1, h, refTokens, d);
             Tensor rv = random(r, 1f, DType.F32, 1, h, refTokens, d); Tensor scale = Tensor.allocate(d / 2);
             Tensor kcat = Tensor.allocate(b, h, lkv, d); Tensor vcat = Tensor.allocate(b, h, lkv, d);
             Tensor fused = Tensor.allocate(b, lq, h * d); Tensor explicit = Tensor.allocate(b, lq, h * d)) {
            for (int p = 0; p < d / 2; p++) {
                scale.set(p, p < 8 ? 1f : 0.25f + 0.5f * r.nextFloat());
            }
            for (int bi = 0; bi < b; bi++) {
                for (int hi = 0; hi < h; hi++) {
                    for (int t = 0; t < lkv; t++) {
                        for (int i = 0; i < d; i++) {
                            long dst = (((long) bi * h + hi) * lkv + t) * d + i;
                            if (t < lk) {
                                long src = (((long) bi * h + hi) * lk + t) * d + i;
                                kcat.set(dst, k.get(src));
                                vcat.set(dst, v.get(src));
                            } else {
                                long src = ((long) hi * refTokens + refStart + t - lk) * d + i;
                                kcat.set(dst, rk.get(src) * scale.get(i / 2));
                                vcat.set(dst, rv.get(src));
                            }
                        }
                    }
                }
            }
            be.diagnostics().sharedPasses(1);
            be.sharedAttention(q, k, v, rk, rv, refStart, scale, fused);
            assertEquals("cudnn", be.diagnostics().lastAttentionPath(), "this test needs cuDNN's SDPA");
            be.attention(q, kcat, vcat, explicit);
            double diff = maxDiff(fused, explicit);
            System.out.println("bf16 fused shared attention vs explicit concatenation of scaled keys: max abs diff " + diff);
            assertTrue(diff <= 1e-6, "fused vs explicit " + diff);
        }
    }

    /**
     * bf16 activations (q, k, v, refK, refV, out all BF16 device tensors) give exactly the bf16-rounded result of
     * the float32-activation path on the same values (inputs exactly representable in bf16: both paths hand cuDNN
     * the same operands), and stay within the oracle's bound. The CPU backends refuse BF16 activations.
     */
    @Test
    void bf16ActivationsEqualTheFloat32PathAndTheOracle() {
        Random r = new Random(SEED + 3);
        int b = 2, h = 3, lq = 64, lk = 40, refTokens = 72, refStart = 8, d = 128;
        try (GpuBackend be = new GpuBackend(GpuBackend.Precision.BF16, false, true); ScalarBackend oracle = new ScalarBackend();
             Tensor q = random(r, 1f, DType.F32, b, h, lq, d); Tensor k = random(r, 1f, DType.F32, b, h, lk, d);
             Tensor v = random(r, 1f, DType.F32, b, h, lk, d); Tensor rk = random(r, 1f, DType.F32, 1, h, refTokens, d);
             Tensor rv = random(r, 1f, DType.F32, 1, h, refTokens, d); Tensor scale = Tensor.allocate(d / 2);
             Tensor want = Tensor.allocate(b, lq, h * d); Tensor viaF32 = Tensor.allocate(b, lq, h * d);
             Tensor want0 = Tensor.allocate(b, lq, h * d); Tensor viaF320 = Tensor.allocate(b, lq, h * d)) {
            for (Tensor t : new Tensor[] {q, k, v, rk, rv}) { // exactly representable in bf16
                for (long i = 0; i < t.numel(); i++) {
                    t.set(i, Float.intBitsToFloat(Float.floatToRawIntBits(t.get(i)) & 0xffff0000));
                }
            }
            for (int p = 0; p < d / 2; p++) {
                scale.set(p, p < 8 ? 1f : 0.25f + 0.5f * r.nextFloat());
            }
            oracle.sharedAttention(q, k, v, rk, rv, refStart, scale, want);
            oracle.attention(q, k, v, want0);
            be.diagnostics().sharedPasses(1); // one pass on both activation types, so the two must agree bit for bit
            be.sharedAttention(q, k, v, rk, rv, refStart, scale, viaF32);
            be.attention(q, k, v, viaF320);
            try (Tensor qb = toBf16(be, q); Tensor kb = toBf16(be, k); Tensor vb = toBf16(be, v); Tensor rkb = toBf16(be, rk);
                 Tensor rvb = toBf16(be, rv); Tensor ob = be.allocate(DType.BF16, b, lq, h * d); Tensor ob0 = be.allocate(DType.BF16, b, lq, h * d)) {
                be.sharedAttention(qb, kb, vb, rkb, rvb, refStart, scale, ob);
                assertEquals("cudnn", be.diagnostics().lastAttentionPath(), "this test needs cuDNN's SDPA");
                be.attention(qb, kb, vb, ob0);
                Tensor got = fromBf16(be, ob), got0 = fromBf16(be, ob0);
                try (got; got0) {
                    double d1 = maxDiff(got, viaF32), d0 = maxDiff(got0, viaF320), e1 = maxDiff(got, want), e0 = maxDiff(got0, want0);
                    System.out.println("bf16 activations vs float32 activations: shared " + d1 + ", plain " + d0 + "; vs oracle: shared " + e1
                            + ", plain " + e0);
                    assertEquals(0.0, d1, "shared: bf16 activations vs float32 activations");
                    assertEquals(0.0, d0, "plain: bf16 activations vs float32 activations");
                    assertTrue(e1 < 3e-2, "shared " + e1);
                    assertTrue(e0 < 3e-2, "plain " + e0);
                }
            }
            try (ScalarBackend cpu = new ScalarBackend(); Tensor hq = Tensor.allocate(DType.BF16, b, h, lq, d); Tensor hk = Tensor.allocate(DType.BF16, b, h, lk, d);
                 Tensor hv = Tensor.allocate(DType.BF16, b, h, lk, d); Tensor ho = Tensor.allocate(DType.BF16, b, lq, h * d)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cpu.attention(hq, hk, hv, ho));
                assertTrue(e.getMessage().contains("must be F32"), e.getMessage());
            }
        }
    }

    /** A BF16 device copy of a float32 host tensor whose values are exactly representable in bf16. */
    private static Tensor toBf16(GpuBackend be, Tensor t) {
        try (Tensor h = Tensor.allocate(DType.BF16, t.shape())) {
            for (long i = 0; i < t.numel(); i++) {
                h.set(i, t.get(i));
            }
            Tensor dev = be.allocate(DType.BF16, t.shape());
            be.copy(h, dev);
            return dev;
        }
    }

    /** A float32 host tensor with the values of a BF16 device tensor. */
    private static Tensor fromBf16(GpuBackend be, Tensor dev) {
        try (Tensor h = Tensor.allocate(DType.BF16, dev.shape())) {
            be.copy(dev, h);
            Tensor out = Tensor.allocate(dev.shape());
            for (long i = 0; i < h.numel(); i++) {
                out.set(i, h.get(i));
            }
            return out;
        }
    }

    /** The block-per-row LayerNorm (rows of 1024 and more) and the float GELU of bf16 precision, against the oracle. */
    @Test
    void longRowLayerNormAndFloatGeluMatchTheOracle() {
        Random r = new Random(SEED + 3);
        try (GpuBackend f32 = new GpuBackend(GpuBackend.Precision.F32, false); GpuBackend bf = new GpuBackend(GpuBackend.Precision.BF16, false);
             ScalarBackend oracle = new ScalarBackend()) {
            for (int dim : new int[] {1024, 1031, 3072, 5000}) {
                try (Tensor x = random(r, 3f, DType.F32, 7, dim); Tensor want = Tensor.allocate(7, dim); Tensor got = Tensor.allocate(7, dim)) {
                    for (long i = 0; i < dim; i++) {
                        x.set(i, x.get(i) + 100f); // an offset row: the two-pass variance must not cancel
                    }
                    oracle.layerNorm(x, 1e-6f, want);
                    f32.layerNorm(x, 1e-6f, got);
                    assertTrue(maxDiff(got, want) < 1e-5, "layerNorm dim " + dim + ": " + maxDiff(got, want));
                    oracle.geluTanh(x, want);
                    bf.geluTanh(x, got);
                    double worst = 0;
                    for (long i = 0; i < x.numel(); i++) { // tanhf: a few float ulps of 1 + tanh, times x/2
                        worst = Math.max(worst, Math.abs(got.get(i) - want.get(i)) / (1 + Math.abs(x.get(i))));
                    }
                    assertTrue(worst < 1e-6, "float GELU error / (1 + |x|) " + worst);
                }
            }
        }
    }

    /** bf16 GEMM (precision bf16): the oracle on the same bf16-rounded activations, to float32 accumulation error. */
    @Test
    void bf16LinearMatchesTheOracleOnRoundedActivations() {
        Random r = new Random(SEED + 2);
        int rows = 67, in = 300, out = 129;
        try (GpuBackend be = new GpuBackend(GpuBackend.Precision.BF16, false); ScalarBackend oracle = new ScalarBackend();
             Tensor x = random(r, 1f, DType.F32, rows, in); Tensor w = random(r, 0.05f, DType.BF16, out, in);
             Tensor bias = random(r, 1f, DType.F32, out); Tensor xr = Tensor.allocate(rows, in);
             Tensor want = Tensor.allocate(rows, out); Tensor got = Tensor.allocate(rows, out)) {
            for (long i = 0; i < x.numel(); i++) {
                xr.set(i, DType.bf16ToFloat(DType.floatToBf16(x.get(i))));
            }
            oracle.linear(xr, w, bias, want);
            be.linear(x, w, bias, got);
            double tol = 1e-6 * Math.sqrt(in) * 10;
            System.out.println("bf16 linear max abs error " + maxDiff(got, want) + " (tolerance " + tol + ")");
            assertTrue(maxDiff(got, want) < tol, "" + maxDiff(got, want));
        }
    }
}
