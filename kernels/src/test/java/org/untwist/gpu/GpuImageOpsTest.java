package org.untwist.gpu;

import static org.untwist.gpu.DeviceTestTensors.back;
import static org.untwist.gpu.DeviceTestTensors.maxAbs;
import static org.untwist.gpu.DeviceTestTensors.maxDiff;
import static org.untwist.gpu.DeviceTestTensors.random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.untwist.backend.Backend;
import org.untwist.backend.ScalarBackend;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * The autoencoder's ops (issue 16) on device tensors against the scalar oracle, on awkward sizes: conv2d for every
 * weight type in both precisions (stride 2 with the bottom/right padding of the downsampling, 1×1, kh ≠ kw, several
 * im2col bands, no input channels, host tensors staged), groupNorm (both write loops, in place), upsampleNearest2x,
 * affine (exact, in place) and permute of every element type (the latent packing and its inverse, merged
 * dimensions, too many dimensions). Skipped without a device.
 */
class GpuImageOpsTest {
    private static final long SEED = 20261206L;

    @BeforeAll
    static void needsADevice() {
        DeviceTestTensors.needsADevice("GpuImageOpsTest", SEED);
    }

    private static boolean sameBytes(Tensor a, Tensor b) {
        return a.byteSize() == b.byteSize() && MemorySegment.mismatch(a.segment(), 0, a.byteSize(), b.segment(), 0, b.byteSize()) == -1;
    }

    /** x rounded to the 16-bit type that a bf16-precision GEMM with weights of type wt reads its activations in. */
    private static Tensor rounded(Tensor x, DType wt) {
        Tensor r = Tensor.allocate(x.shape());
        for (long i = 0; i < x.numel(); i++) {
            float v = x.get(i);
            r.set(i, wt == DType.F16 ? Float.float16ToFloat(Float.floatToFloat16(v)) : DType.bf16ToFloat(DType.floatToBf16(v)));
        }
        return r;
    }

    // b, cin, h, w, cout, kh, kw, stride, top, bottom, left, right
    private static final int[][] CONV_CASES = {
        {2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 1}, // the autoencoder's 3×3, padding 1, on odd sizes
        {1, 5, 9, 8, 7, 3, 3, 2, 0, 1, 0, 1}, // its downsampling: stride 2, padded bottom and right only
        {2, 6, 6, 6, 5, 1, 1, 1, 0, 0, 0, 0}, // 1×1 (the shortcut and quant convolutions)
        {1, 3, 5, 4, 2, 2, 3, 1, 2, 0, 0, 3}, // kh ≠ kw, asymmetric padding
        {3, 1, 1, 1, 3, 1, 1, 1, 0, 0, 0, 0}, // one pixel
        {1, 17, 3, 33, 9, 3, 3, 3, 2, 2, 2, 2}, // stride 3, padding 2
    };

    /** Both precisions, every weight type, with and without bias, on device tensors. */
    @Test
    void conv2dOnDeviceForEveryWeightTypeAndPrecision() {
        Random r = new Random(SEED);
        for (GpuBackend.Precision p : GpuBackend.Precision.values()) {
            try (GpuBackend be = new GpuBackend(p, false); ScalarBackend oracle = new ScalarBackend()) {
                for (int[] c : CONV_CASES) {
                    for (DType wt : new DType[] {DType.F32, DType.BF16, DType.F16, DType.F8_E4M3, DType.F8_E5M2}) {
                        for (boolean withBias : new boolean[] {true, false}) {
                            conv(be, oracle, r, p, c, wt, withBias, false);
                        }
                    }
                }
            }
        }
    }

    /** A 3×3 convolution of 128 channels at 128²: 1152 values a pixel, 16384 pixels, two im2col bands; host tensors once. */
    @Test
    void conv2dOverSeveralBandsAndOnHostTensors() {
        Random r = new Random(SEED + 1);
        int[] big = {1, 128, 128, 128, 4, 3, 3, 1, 1, 1, 1, 1};
        assertTrue(GpuImageOps.bandColumns(128 * 9, 128 * 128) < 128 * 128, "more than one band");
        for (GpuBackend.Precision p : GpuBackend.Precision.values()) {
            try (GpuBackend be = new GpuBackend(p, false); ScalarBackend oracle = new ScalarBackend()) {
                conv(be, oracle, r, p, big, DType.F32, true, false);
                conv(be, oracle, r, p, big, DType.BF16, true, false);
                conv(be, oracle, r, p, CONV_CASES[1], DType.BF16, true, true);
                conv(be, oracle, r, p, CONV_CASES[0], DType.F32, false, true);
            }
        }
    }

    private static void conv(GpuBackend be, ScalarBackend oracle, Random r, GpuBackend.Precision p, int[] c, DType wt, boolean withBias,
                             boolean host) {
        int b = c[0], cin = c[1], h = c[2], w = c[3], cout = c[4], kh = c[5], kw = c[6], stride = c[7];
        int[] pad = {c[8], c[9], c[10], c[11]};
        int ho = (h + pad[0] + pad[1] - kh) / stride + 1, wo = (w + pad[2] + pad[3] - kw) / stride + 1;
        float ws = (float) (1 / Math.sqrt(cin * kh * kw));
        String what = p + " " + wt + " " + Arrays.toString(c) + (withBias ? " bias" : "") + (host ? " host" : "");
        try (Tensor x = random(r, 1f, DType.F32, b, cin, h, w); Tensor weight = random(r, ws, wt, cout, cin, kh, kw);
             Tensor bias = withBias ? random(r, 1f, DType.F32, cout) : null; Tensor want = Tensor.allocate(b, cout, ho, wo)) {
            boolean roundsActivations = p == GpuBackend.Precision.BF16 && wt != DType.F32;
            try (Tensor xr = roundsActivations ? rounded(x, wt) : null) {
                oracle.conv2d(roundsActivations ? xr : x, weight, bias, stride, pad, want);
            }
            Tensor got;
            if (host) {
                got = Tensor.allocate(b, cout, ho, wo);
                be.conv2d(x, weight, bias, stride, pad, got);
            } else {
                try (Tensor dx = be.place(x); Tensor dw = be.place(weight); Tensor db = bias == null ? null : be.place(bias);
                     Tensor dOut = be.allocate(DType.F32, b, cout, ho, wo)) {
                    be.conv2d(dx, dw, db, stride, pad, dOut);
                    got = back(be, dOut);
                }
            }
            try (got) {
                // float32 accumulation of cin·kh·kw products of order ws: a few ulps of √k·scale
                double err = maxDiff(got, want), tol = 1e-6 * Math.sqrt(cin * kh * kw) * 10 * Math.max(1, maxAbs(want));
                System.out.println("conv2d " + what + ": max abs error " + err + " (tolerance " + tol + ")");
                assertTrue(err < tol, what + ": " + err);
            }
        }
    }

    @Test
    void conv2dWithoutInputChannelsIsTheBias() {
        try (GpuBackend be = new GpuBackend(); Tensor x = be.allocate(DType.F32, 2, 0, 4, 4); Tensor w = be.allocate(DType.F32, 3, 0, 3, 3);
             Tensor bias = Tensor.of(new float[] {1, -2, 3}, 3); Tensor dOut = be.allocate(DType.F32, 2, 3, 2, 2)) {
            be.conv2d(x, w, bias, 1, new int[] {0, 0, 0, 0}, dOut);
            try (Tensor got = back(be, dOut)) {
                for (long i = 0; i < got.numel(); i++) {
                    assertEquals(bias.get((i / 4) % 3), got.get(i));
                }
            }
            be.affine(dOut, 1f, 5f, dOut); // out not zero any more: without bias the convolution must clear it
            be.conv2d(x, w, null, 1, new int[] {0, 0, 0, 0}, dOut);
            try (Tensor got = back(be, dOut)) {
                assertEquals(0.0, maxAbs(got));
            }
        }
    }

    @Test
    void groupNormOnDeviceAndInPlace() {
        Random r = new Random(SEED + 2);
        // shape, groups: small maps, rank 2 and 3; groups of several chunks (GROUP_NORM_CHUNK values) with a chunk
        // boundary inside a channel, planes of several chunks; more groups, and more planes, than a launch's 65535
        Object[][] cases = {
            {new int[] {2, 6, 5, 7}, 3}, {new int[] {1, 64, 40, 40}, 32}, {new int[] {3, 8, 3}, 2}, {new int[] {2, 32}, 32},
            {new int[] {1, 4, 1030}, 1}, {new int[] {1, 128, 33, 17}, 32}, {new int[] {2, 8, 130, 130}, 4}, {new int[] {1, 3, 40000}, 1},
            {new int[] {1, 70000, 2}, 70000}, {new int[] {2, 70000, 1}, 7},
        };
        try (GpuBackend be = new GpuBackend(); ScalarBackend oracle = new ScalarBackend()) {
            for (Object[] c : cases) {
                int[] shape = (int[]) c[0];
                int groups = (int) c[1], ch = shape[1];
                String what = Arrays.toString(shape) + " in " + groups + " groups";
                try (Tensor x = random(r, 3f, DType.F32, shape); Tensor weight = random(r, 1f, DType.F32, ch); Tensor bias = random(r, 1f, DType.F32, ch);
                     Tensor want = Tensor.allocate(shape); Tensor dx = be.place(x); Tensor dOut = be.allocate(DType.F32, shape)) {
                    for (long i = 0; i < x.numel(); i++) {
                        x.set(i, x.get(i) + 5); // an offset: the centred variance matters
                    }
                    be.copy(x, dx);
                    oracle.groupNorm(x, groups, weight, bias, 1e-6f, want);
                    be.groupNorm(dx, groups, weight, bias, 1e-6f, dOut);
                    double tol = 1e-6 * Math.max(1, maxAbs(want)); // double statistics: a float32 rounding or two
                    try (Tensor got = back(be, dOut)) {
                        double err = maxDiff(got, want);
                        System.out.println("groupNorm " + what + ": max abs error " + err + " (tolerance " + tol + ")");
                        assertTrue(err < tol, what + ": " + err);
                    }
                    be.groupNorm(dx, groups, weight, bias, 1e-6f, dx); // in place
                    try (Tensor got = back(be, dx)) {
                        assertTrue(maxDiff(got, want) < tol, what + " in place: " + maxDiff(got, want));
                    }
                }
            }
        }
    }

    @Test
    void upsampleAndAffineAreExact() {
        Random r = new Random(SEED + 3);
        int[][] shapes = {{2, 3, 5, 7}, {1, 1, 1, 1}, {1, 2, 300, 3}, {1, 70000, 1, 2}};
        try (GpuBackend be = new GpuBackend(); ScalarBackend oracle = new ScalarBackend()) {
            for (int[] s : shapes) {
                int[] up = {s[0], s[1], 2 * s[2], 2 * s[3]};
                try (Tensor x = random(r, 1f, DType.F32, s); Tensor want = Tensor.allocate(up); Tensor dx = be.place(x);
                     Tensor dOut = be.allocate(DType.F32, up)) {
                    oracle.upsampleNearest2x(x, want);
                    be.upsampleNearest2x(dx, dOut);
                    try (Tensor got = back(be, dOut)) {
                        assertTrue(sameBytes(got, want), "upsampleNearest2x " + Arrays.toString(s));
                    }
                }
            }
            try (Tensor x = random(r, 10f, DType.F32, 1000003); Tensor want = Tensor.allocate(1000003); Tensor dx = be.place(x)) {
                oracle.affine(x, 1 / 0.3611f, 0.1159f, want);
                be.affine(dx, 1 / 0.3611f, 0.1159f, dx); // in place
                try (Tensor got = back(be, dx)) {
                    assertTrue(sameBytes(got, want), "affine");
                }
            }
        }
    }

    @Test
    void permuteOfEveryElementTypeOnDeviceAndHost() {
        Random r = new Random(SEED + 4);
        Object[][] cases = {
            {new int[] {2, 16, 4, 2, 5, 2}, new int[] {0, 2, 4, 1, 3, 5}}, // the latent packing
            {new int[] {2, 4, 5, 16, 2, 2}, new int[] {0, 3, 1, 4, 2, 5}}, // and its inverse
            {new int[] {1, 7, 9, 13}, new int[] {0, 2, 3, 1}}, // channels-first to tokens (H, W merge)
            {new int[] {3, 5, 7}, new int[] {2, 0, 1}},
            {new int[] {1000}, new int[] {0}},
            {new int[] {2, 1, 3, 1, 2, 2, 3}, new int[] {6, 5, 4, 3, 2, 1, 0}}, // rank 7, size-1 dimensions dropped
        };
        try (GpuBackend be = new GpuBackend(); ScalarBackend oracle = new ScalarBackend()) {
            for (DType dt : DType.values()) {
                if (dt.isBlockQuantized()) {
                    continue; // refused by the layout operations (ArgumentChecks), not a case of this test
                }
                for (Object[] c : cases) {
                    int[] shape = (int[]) c[0], axes = (int[]) c[1];
                    int[] outShape = new int[shape.length];
                    for (int i = 0; i < shape.length; i++) {
                        outShape[i] = shape[axes[i]];
                    }
                    String what = dt + " " + Arrays.toString(shape) + " by " + Arrays.toString(axes);
                    try (Tensor x = random(r, 1f, dt, shape); Tensor want = Tensor.allocate(dt, outShape); Tensor gotHost = Tensor.allocate(dt, outShape);
                         Tensor dx = be.place(x); Tensor dOut = be.allocate(dt, outShape)) {
                        oracle.permute(x, axes, want);
                        be.permute(x, axes, gotHost);
                        assertTrue(sameBytes(gotHost, want), "host " + what);
                        be.permute(dx, axes, dOut);
                        try (Tensor got = back(be, dOut)) {
                            assertTrue(sameBytes(got, want), "device " + what);
                        }
                    }
                }
            }
            try (Tensor dx = be.allocate(DType.F32, 2, 2, 2, 2, 2, 2, 2); Tensor dOut = be.allocate(DType.F32, 2, 2, 2, 2, 2, 2, 2)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.permute(dx, new int[] {6, 5, 4, 3, 2, 1, 0}, dOut));
                assertTrue(e.getMessage().startsWith("permute: "), e.getMessage());
            }
        }
    }

    /** Every scratch and staging buffer of the new ops is freed: live device memory returns to what it was. */
    @Test
    void theImageOpsLeakNothing() {
        long liveBefore = GpuMemory.liveBytes(), countBefore = GpuMemory.liveCount();
        Random r = new Random(SEED + 5);
        try (GpuBackend be = new GpuBackend(GpuBackend.Precision.BF16, false); Tensor x = random(r, 1f, DType.F32, 1, 8, 9, 9);
             Tensor w = random(r, 0.1f, DType.F8_E4M3, 4, 8, 3, 3); Tensor out = Tensor.allocate(1, 4, 4, 4); // (9 + 0 + 1 - 3) / 2 + 1
             Tensor gn = Tensor.allocate(1, 8, 9, 9); Tensor weight = random(r, 1f, DType.F32, 8); Tensor up = Tensor.allocate(1, 8, 18, 18)) {
            be.conv2d(x, w, null, 2, new int[] {0, 1, 0, 1}, out);
            be.groupNorm(x, 4, weight, weight, 1e-6f, gn);
            be.upsampleNearest2x(gn, up);
            be.permute(x, new int[] {0, 2, 3, 1}, gn.reshape(1, 9, 9, 8));
        }
        assertEquals(liveBefore, GpuMemory.liveBytes());
        assertEquals(countBefore, GpuMemory.liveCount());
    }
}
