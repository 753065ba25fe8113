package org.untwist.gpu;

import static org.untwist.gpu.DeviceTestTensors.back;
import static org.untwist.gpu.DeviceTestTensors.maxAbs;
import static org.untwist.gpu.DeviceTestTensors.maxDiff;
import static org.untwist.gpu.DeviceTestTensors.random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.untwist.backend.Backend;
import org.untwist.backend.ScalarBackend;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * The text encoders' ops on device tensors (the shared TextOpConformanceTest passes host tensors, staged): splitHeads,
 * attention at the T5 and CLIP shapes with position bias and causal mask, embedding of device tables, and linear
 * with F8_E4M3, F8_E5M2, Q8_0 and Q4_K weights in both precisions. Skipped without a device.
 */
class GpuTextOpsTest {
    private static final long SEED = 20261205L;

    @BeforeAll
    static void needsADevice() {
        DeviceTestTensors.needsADevice("GpuTextOpsTest", SEED);
    }

    /** A device copy of a host tensor. */
    private static Tensor onDevice(Backend be, Tensor h) {
        return be.place(h);
    }

    @Test
    void splitHeadsOnDeviceAndHostIsExact() {
        Random r = new Random(SEED);
        int[][] shapes = {{2, 77, 12, 64}, {1, 5, 3, 7}, {3, 1, 1, 1}, {1, 513, 64, 64}}; // b, l, h, d
        try (GpuBackend be = new GpuBackend(); ScalarBackend oracle = new ScalarBackend()) {
            for (int[] s : shapes) {
                int b = s[0], l = s[1], h = s[2], d = s[3];
                try (Tensor x = random(r, 1f, DType.F32, b, l, h * d); Tensor want = Tensor.allocate(b, h, l, d);
                     Tensor gotHost = Tensor.allocate(b, h, l, d); Tensor dx = onDevice(be, x); Tensor dOut = be.allocate(DType.F32, b, h, l, d)) {
                    oracle.splitHeads(x, want);
                    be.splitHeads(x, gotHost);
                    assertEquals(0.0, maxDiff(gotHost, want), "host splitHeads " + java.util.Arrays.toString(s));
                    be.splitHeads(dx, dOut);
                    try (Tensor got = back(be, dOut)) {
                        assertEquals(0.0, maxDiff(got, want), "device splitHeads " + java.util.Arrays.toString(s));
                    }
                }
            }
        }
    }

    /** T5 (scale 1, position bias, Lq ≠ Lk too) and CLIP (causal, 1/8) shapes on device tensors, in both precisions. */
    @Test
    void maskedAttentionAtTextEncoderShapesOnDevice() {
        Random r = new Random(SEED + 1);
        // b, h, lq, lk, d, scale, bias, causal
        Object[][] cases = {
            {1, 4, 512, 512, 64, 1f, true, false}, // T5-XXL: head dim 64, 512 tokens
            {2, 3, 300, 200, 128, 1f, true, false}, // head dim 128, Lq > Lk
            {1, 2, 7, 519, 64, 1f, true, false}, // Lq < Lk, keys off every tile
            {2, 3, 77, 77, 64, 0.125f, false, true}, // CLIP-L
            {1, 2, 77, 77, 64, 0.125f, true, true}, // both terms
            {1, 1, 1, 1, 64, 0.125f, false, true},
        };
        for (GpuBackend.Precision p : GpuBackend.Precision.values()) {
            try (GpuBackend be = new GpuBackend(p, false); ScalarBackend oracle = new ScalarBackend()) {
                for (Object[] c : cases) {
                    int b = (int) c[0], h = (int) c[1], lq = (int) c[2], lk = (int) c[3], d = (int) c[4];
                    float scale = (float) c[5];
                    boolean withBias = (boolean) c[6], causal = (boolean) c[7];
                    float qs = scale == 1f ? 0.3f : 1f; // T5's unscaled logits stay of order 10
                    String what = p + " b" + b + " h" + h + " lq" + lq + " lk" + lk + " d" + d + (withBias ? " bias" : "") + (causal ? " causal" : "");
                    try (Tensor q = random(r, qs, DType.F32, b, h, lq, d); Tensor k = random(r, qs, DType.F32, b, h, lk, d);
                         Tensor v = random(r, 1f, DType.F32, b, h, lk, d); Tensor bias = withBias ? random(r, 2f, DType.F32, lq + lk - 1, h) : null;
                         Tensor want = Tensor.allocate(b, lq, h * d); Tensor dq = onDevice(be, q); Tensor dk = onDevice(be, k);
                         Tensor dv = onDevice(be, v); Tensor db = bias == null ? null : onDevice(be, bias);
                         Tensor dOut = be.allocate(DType.F32, b, lq, h * d)) {
                        oracle.attention(q, k, v, scale, bias, causal, want);
                        be.attention(dq, dk, dv, scale, db, causal, dOut);
                        assertTrue(be.diagnostics().lastAttentionPath().startsWith("own f32 kernel"), be.diagnostics().lastAttentionPath());
                        try (Tensor got = back(be, dOut)) {
                            double err = maxDiff(got, want), tol = 2e-5 * maxAbs(v);
                            System.out.println("masked attention " + what + ": max abs error " + err + " (tolerance " + tol + ")");
                            assertTrue(err < tol, what + ": " + err);
                        }
                    }
                }
            }
        }
    }

    /**
     * Heads wider than the tiled kernels' 256 (the autoencoder's single 512-channel head at 1024²): cuBLAS logits, a row
     * softmax, cuBLAS times V, through both attention entry points, in one block of queries and cut into blocks of 16.
     * Tolerance: 2e-5 of max |v| in f32 precision; 2e-2 in bf16 precision (the GEMMs may use TF32 there).
     */
    @Test
    void wideHeadAttentionOnDevice() {
        Random r = new Random(SEED + 3);
        int[][] cases = {{2, 1, 300, 300, 512}, {1, 2, 37, 1000, 320}, {1, 1, 1, 1, 258}}; // b, h, lq, lk, d (head dimensions are even)
        long defaultBytes = GpuAttention.wideLogitBytes;
        for (GpuBackend.Precision p : GpuBackend.Precision.values()) {
            try (GpuBackend be = new GpuBackend(p, false); ScalarBackend oracle = new ScalarBackend()) {
                for (int[] c : cases) {
                    int b = c[0], h = c[1], lq = c[2], lk = c[3], d = c[4];
                    try (Tensor q = random(r, 1f, DType.F32, b, h, lq, d); Tensor k = random(r, 1f, DType.F32, b, h, lk, d);
                         Tensor v = random(r, 1f, DType.F32, b, h, lk, d); Tensor want = Tensor.allocate(b, lq, h * d);
                         Tensor dq = onDevice(be, q); Tensor dk = onDevice(be, k); Tensor dv = onDevice(be, v);
                         Tensor dOut = be.allocate(DType.F32, b, lq, h * d)) {
                        oracle.attention(q, k, v, want);
                        double tol = (p == GpuBackend.Precision.F32 ? 2e-5 : 2e-2) * maxAbs(v);
                        for (int variant = 0; variant < 3; variant++) {
                            GpuAttention.wideLogitBytes = variant == 2 ? 16L * lk * 4 : defaultBytes;
                            try {
                                if (variant == 1) {
                                    be.attention(dq, dk, dv, (float) (1 / Math.sqrt(d)), null, false, dOut);
                                } else {
                                    be.attention(dq, dk, dv, dOut);
                                }
                            } finally {
                                GpuAttention.wideLogitBytes = defaultBytes;
                            }
                            assertTrue(be.diagnostics().lastAttentionPath().startsWith("cuBLAS logits"), be.diagnostics().lastAttentionPath());
                            String what = p + " b" + b + " h" + h + " lq" + lq + " lk" + lk + " d" + d
                                    + new String[] {"", " (scale form)", " (blocks of 16 queries)"}[variant];
                            try (Tensor got = back(be, dOut)) {
                                double err = maxDiff(got, want);
                                System.out.println("wide-head attention " + what + ": max abs error " + err + " (tolerance " + tol + ")");
                                assertTrue(err < tol, what + ": " + err);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void embeddingOfDeviceTablesIsExact() {
        Random r = new Random(SEED + 2);
        int vocab = 1000, dim = 67;
        int[] ids = new int[77];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = i % 5 == 0 ? vocab - 1 : r.nextInt(vocab);
        }
        try (GpuBackend be = new GpuBackend(); ScalarBackend oracle = new ScalarBackend()) {
            for (DType dt : DType.values()) {
                if (!dt.isFloatingPoint()) {
                    continue; // an integer table is refused (ArgumentChecks), not a case of this test
                }
                try (Tensor table = random(r, 3f, dt, vocab, dim); Tensor want = Tensor.allocate(1, ids.length, dim);
                     Tensor dTable = onDevice(be, table); Tensor dOut = be.allocate(DType.F32, 1, ids.length, dim)) {
                    oracle.embedding(table, ids, want);
                    be.embedding(dTable, ids, dOut);
                    try (Tensor got = back(be, dOut)) {
                        assertEquals(0.0, maxDiff(got, want), "device " + dt + " table");
                    }
                }
            }
        }
    }

    /**
     * F8_E4M3 and F8_E5M2 weights on the device: f32 precision against the oracle to float32 accumulation error; bf16
     * precision against the oracle on bf16-rounded activations (the weights of both widen to bf16 exactly).
     */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F8_E4M3", "F8_E5M2"})
    void f8LinearOnDeviceInBothPrecisions(DType f8) {
        Random r = new Random(SEED + 3);
        int rows = 67, in = 300, out = 129;
        try (Tensor x = random(r, 1f, DType.F32, rows, in); Tensor w = random(r, 0.05f, f8, out, in); Tensor bias = random(r, 1f, DType.F32, out)) {
            linearInBothPrecisions(x, w, bias);
        }
    }

    /**
     * {@code linear} of {@code x} by the narrow weights {@code w} on device and on host tensors, in both precisions:
     * f32 against the oracle to float32 accumulation error, bf16 against the oracle on bf16-rounded activations and
     * weights (F8 weights widen to bf16 exactly; dequantized GGUF weights are rounded there).
     */
    private static void linearInBothPrecisions(Tensor x, Tensor w, Tensor bias) {
        int rows = x.dim(0), in = x.dim(1), out = w.dim(0);
        DType type = w.dtype();
        try (Tensor wr = w.copy(DType.BF16); Tensor xr = Tensor.allocate(rows, in); Tensor want = Tensor.allocate(rows, out);
             Tensor wantRounded = Tensor.allocate(rows, out); ScalarBackend oracle = new ScalarBackend()) {
            for (long i = 0; i < x.numel(); i++) {
                xr.set(i, DType.bf16ToFloat(DType.floatToBf16(x.get(i))));
            }
            oracle.linear(x, w, bias, want);
            oracle.linear(xr, wr, bias, wantRounded);
            double tol = 1e-6 * Math.sqrt(in) * 10;
            for (GpuBackend.Precision p : GpuBackend.Precision.values()) {
                try (GpuBackend be = new GpuBackend(p, false); Tensor dx = onDevice(be, x); Tensor dw = onDevice(be, w);
                     Tensor dOut = be.allocate(DType.F32, rows, out); Tensor got = Tensor.allocate(rows, out)) {
                    be.linear(dx, dw, bias, dOut);
                    be.copy(dOut, got);
                    double err = maxDiff(got, p == GpuBackend.Precision.F32 ? want : wantRounded);
                    System.out.println(type + " linear " + p + " max abs error " + err + " (tolerance " + tol + ")");
                    assertTrue(err < tol, type + " " + p + ": " + err);
                    be.linear(x, w, null, got); // host tensors, staged
                    oracle.linear(p == GpuBackend.Precision.F32 ? x : xr, p == GpuBackend.Precision.F32 ? w : wr, null, want);
                    assertTrue(maxDiff(got, want) < tol, type + " " + p + " host: " + maxDiff(got, want));
                }
            }
        }
    }

    /**
     * GGUF's Q8_0 and Q4_K weights on the device: linear in f32 precision against the oracle to float32 accumulation
     * error (the dequantized weights are the oracle's bit for bit), in bf16 precision against the oracle on bf16-rounded
     * activations and weights (the dequantized weights are rounded to bf16 there); embedding of host and device tables
     * exact. Shapes: rows and outputs not multiples of anything, K a multiple of the block.
     */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"Q8_0", "Q4_K"})
    void blockQuantizedWeightsOnDevice(DType q) {
        Random r = new Random(SEED + 5);
        int rows = 67, in = q.blockSize() * 3, out = 129;
        try (Tensor x = random(r, 1f, DType.F32, rows, in); Tensor w = random(r, 0.05f, q, out, in); Tensor bias = random(r, 1f, DType.F32, out);
             ScalarBackend oracle = new ScalarBackend()) {
            linearInBothPrecisions(x, w, bias);
            int[] ids = {0, out - 1, 5, 5, 64};
            try (GpuBackend be = new GpuBackend(); Tensor dw = onDevice(be, w); Tensor rowsWant = Tensor.allocate(ids.length, in);
                 Tensor dOut = be.allocate(DType.F32, ids.length, in)) {
                oracle.embedding(w, ids, rowsWant);
                be.embedding(dw, ids, dOut);
                try (Tensor got = back(be, dOut)) {
                    assertEquals(0.0, maxDiff(got, rowsWant), q + " device table");
                }
                be.embedding(w, ids, dOut);
                try (Tensor got = back(be, dOut)) {
                    assertEquals(0.0, maxDiff(got, rowsWant), q + " host table");
                }
            }
        }
    }
}
