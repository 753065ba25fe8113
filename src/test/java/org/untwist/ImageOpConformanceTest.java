package org.untwist;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.untwist.OpConformanceTest.THREADS;
import static org.untwist.OpConformanceTest.U;
import static org.untwist.OpConformanceTest.assertExactlyEqual;
import static org.untwist.OpConformanceTest.assertWithin;
import static org.untwist.OpConformanceTest.create;
import static org.untwist.OpConformanceTest.ctx;
import static org.untwist.OpConformanceTest.elementwiseTol;
import static org.untwist.OpConformanceTest.seedOf;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.OpConformanceTest.Scope;
import org.untwist.backend.Backend;
import org.untwist.backend.ScalarBackend;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * The autoencoder's ops ({@code conv2d}, {@code groupNorm}, {@code upsampleNearest2x}, {@code affine}, {@code permute})
 * of every available backend against a fresh {@link ScalarBackend} or an index formula, on awkward sizes: channels 1, 3,
 * 5, 17, 33; images 1×1, 3×5, 7×7, 16×24, 33×17; 1×1 and 3×3 kernels, stride 1 and 2, paddings {1,1,1,1}, {0,1,0,1}
 * and {0,0,0,0}; batch 1 and 3; with and without bias; all four weight types at unaligned addresses. Seeds as in
 * {@link OpConformanceTest} ({@code -Duntwist.seed}), printed in every failure message.
 *
 * <p>Tolerances (elementwise {@code |actual − expected| ≤ tol_i}, {@code u = 1e-6}):
 * <ul>
 *   <li>{@code conv2d}: as {@link OpConformanceTest#linearTol}, {@code u·|e| + u·√K·‖(x_k·w_k)‖₂ + 1e-30} with
 *       {@code K = Cin·kh·kw} and the terms those of the (unpadded) input positions the output element sees;</li>
 *   <li>{@code groupNorm}: the layerNorm tolerance over a group's {@code n = C/groups · spatial} values,
 *       {@code 2u·√n·(1 + |e_i|)·max(1, M/σ)}, times {@code |weight_c|}, plus {@code u·(|e_i| + |bias_c|)};</li>
 *   <li>{@code affine}: {@code u·(|scale·x| + |shift|) + 1e-37};</li>
 *   <li>{@code upsampleNearest2x} and {@code permute}: copies, exact against the index formula.</li>
 * </ul>
 */
class ImageOpConformanceTest {
    static final int[] CHANNELS = {1, 3, 5, 17, 33};
    static final int[][] IMAGES = {{1, 1}, {3, 5}, {7, 7}, {16, 24}, {33, 17}};
    static final int[][] PADDINGS = {{1, 1, 1, 1}, {0, 1, 0, 1}, {0, 0, 0, 0}};

    static List<String> backends() {
        return TestSupport.availableBackends();
    }

    // ---- conv2d --------------------------------------------------------------------------------------------

    /** One convolution: input, weight (type, byte offset), bias or not, stride and padding. */
    record ConvCase(int b, int cin, int h, int w, int cout, int k, int stride, int[] pad, DType dt, int offset, boolean bias) {
        int ho() {
            return Math.floorDiv(h + pad[0] + pad[1] - k, stride) + 1;
        }

        int wo() {
            return Math.floorDiv(w + pad[2] + pad[3] - k, stride) + 1;
        }

        @Override
        public String toString() {
            return "x [" + b + ", " + cin + ", " + h + ", " + w + "], w [" + cout + ", " + cin + ", " + k + ", " + k + "] " + dt
                    + " at byte offset " + offset + ", stride " + stride + ", padding " + Arrays.toString(pad) + (bias ? ", bias" : "");
        }
    }

    /** The cases: every image × kernel × stride × padding, channels, batch, bias, weight type and offset cycling. */
    static List<ConvCase> convCases() {
        List<ConvCase> cases = new ArrayList<>();
        int c = 0;
        for (int[] img : IMAGES) {
            for (int k : new int[] {1, 3}) {
                for (int stride : new int[] {1, 2}) {
                    for (int[] pad : PADDINGS) {
                        int cin = CHANNELS[c % CHANNELS.length], cout = CHANNELS[(c * 3 + 1) % CHANNELS.length];
                        if (img[0] * img[1] > 100 && cin * cout > 200) { // keep the scalar oracle quick
                            cout = 3;
                        }
                        ConvCase cc = new ConvCase(c % 4 == 1 ? 3 : 1, cin, img[0], img[1], cout, k, stride, pad,
                                TestSupport.WEIGHT_TYPES[c % TestSupport.WEIGHT_TYPES.length], c % 3 * 2 + c % 2, c % 2 == 0);
                        c++;
                        if (cc.ho() >= 1 && cc.wo() >= 1) {
                            cases.add(cc);
                        }
                    }
                }
            }
        }
        for (DType dt : TestSupport.WEIGHT_TYPES) { // every type on the decoder's two shapes of 3×3 conv, and a 1×1
            cases.add(new ConvCase(1, 17, 16, 24, 33, 3, 1, new int[] {1, 1, 1, 1}, dt, 2, true));
            cases.add(new ConvCase(2, 33, 33, 17, 5, 3, 2, new int[] {0, 1, 0, 1}, dt, 1, false));
            cases.add(new ConvCase(1, 33, 7, 7, 17, 1, 1, new int[] {0, 0, 0, 0}, dt, 6, true));
        }
        // several row tasks (1600 pixels), two K blocks (K = 360), a partial third micro-panel of columns (70)
        cases.add(new ConvCase(1, 40, 40, 40, 70, 3, 1, new int[] {1, 1, 1, 1}, DType.BF16, 2, true));
        return cases;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void conv2d(String name) {
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (ConvCase cc : convCases()) {
                checkConv(be, oracle, name, cc);
            }
        }
    }

    static void checkConv(Backend be, ScalarBackend oracle, String name, ConvCase cc) {
        long seed = seedOf("conv2d", cc);
        Random r = new Random(seed);
        try (Scope sc = new Scope()) {
            Tensor x = sc.randn(r, cc.b, cc.cin, cc.h, cc.w);
            Tensor w = convWeight(sc, r, cc);
            Tensor bias = cc.bias ? sc.randn(r, cc.cout) : null;
            Tensor got = sc.zeros(cc.b, cc.cout, cc.ho(), cc.wo()), want = sc.zeros(cc.b, cc.cout, cc.ho(), cc.wo());
            got.fill(Float.NaN); // every element must be written
            be.conv2d(x, w, bias, cc.stride, cc.pad, got);
            oracle.conv2d(x, w, bias, cc.stride, cc.pad, want);
            assertWithin(ctx(name, "conv2d", seed, cc.toString()), "conv2d", got, want, convTol(x, w, want, cc));
        }
    }

    /** A {@code [Cout, Cin, k, k]} weight of the case's type, {@code offset} bytes into its allocation. */
    static Tensor convWeight(Scope sc, Random r, ConvCase cc) {
        Tensor flat = sc.weight(r, cc.dt, cc.offset, cc.cout, cc.cin * cc.k * cc.k);
        return Tensor.wrap(flat.segment(), cc.dt, cc.cout, cc.cin, cc.k, cc.k);
    }

    /** {@code u·|e| + u·√K·‖(x_k·w_k)‖₂ + 1e-30}, the terms over the input positions inside the image. */
    static double[] convTol(Tensor x, Tensor w, Tensor want, ConvCase cc) {
        float[] xs = x.toFloatArray(), ws = w.toFloatArray(), e = want.toFloatArray();
        int ho = cc.ho(), wo = cc.wo(), kk = cc.cin * cc.k * cc.k;
        double[] tol = new double[e.length];
        for (int bi = 0; bi < cc.b; bi++) {
            for (int co = 0; co < cc.cout; co++) {
                for (int oy = 0; oy < ho; oy++) {
                    for (int ox = 0; ox < wo; ox++) {
                        double ss = 0;
                        for (int ci = 0; ci < cc.cin; ci++) {
                            for (int ky = 0; ky < cc.k; ky++) {
                                int iy = oy * cc.stride + ky - cc.pad[0];
                                for (int kx = 0; kx < cc.k; kx++) {
                                    int ix = ox * cc.stride + kx - cc.pad[2];
                                    if (iy >= 0 && iy < cc.h && ix >= 0 && ix < cc.w) {
                                        double t = (double) xs[((bi * cc.cin + ci) * cc.h + iy) * cc.w + ix]
                                                * ws[((co * cc.cin + ci) * cc.k + ky) * cc.k + kx];
                                        ss += t * t;
                                    }
                                }
                            }
                        }
                        int i = ((bi * cc.cout + co) * ho + oy) * wo + ox;
                        tol[i] = U * Math.abs(e[i]) + U * Math.sqrt(kk) * Math.sqrt(ss) + 1e-30;
                    }
                }
            }
        }
        return tol;
    }

    // ---- groupNorm -----------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void groupNorm(String name) {
        int[][] shapes = {{1, 32, 1}, {2, 32, 7}, {1, 64, 300}, {2, 96, 1, 7}, {1, 96, 15, 20}, {3, 32, 300}, {1, 64, 1, 1}};
        int c = 0;
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (int[] shape : shapes) {
                for (int groups : new int[] {1, 4, 32}) {
                    float eps = c % 2 == 0 ? 1e-6f : 1e-5f;
                    double mean = c % 3 == 2 ? 20 : 0.5; // a large offset: centering loses digits
                    c++;
                    String what = Arrays.toString(shape) + " groups=" + groups + " eps=" + eps + " mean=" + mean;
                    long seed = seedOf("groupNorm", what);
                    Random r = new Random(seed);
                    try (Scope sc = new Scope()) {
                        Tensor x = sc.normal(r, 2, mean, shape);
                        Tensor w = sc.normal(r, 1, 1, shape[1]), bias = sc.normal(r, 1, 0, shape[1]);
                        Tensor got = sc.zeros(shape), want = sc.zeros(shape);
                        got.fill(Float.NaN);
                        be.groupNorm(x, groups, w, bias, eps, got);
                        oracle.groupNorm(x, groups, w, bias, eps, want);
                        assertWithin(ctx(name, "groupNorm", seed, what), "groupNorm", got, want, groupNormTol(x, groups, w, bias, eps, want));
                        Tensor inPlace = sc.copy(x);
                        be.groupNorm(inPlace, groups, w, bias, eps, inPlace);
                        assertWithin(ctx(name, "groupNorm", seed, what + " in place"), "groupNorm", inPlace, want,
                                groupNormTol(x, groups, w, bias, eps, want));
                    }
                }
            }
        }
    }

    static double[] groupNormTol(Tensor x, int groups, Tensor weight, Tensor bias, float eps, Tensor want) {
        float[] xv = x.toFloatArray(), e = want.toFloatArray(), wv = weight.toFloatArray(), bv = bias.toFloatArray();
        int ch = x.dim(1), per = ch / groups;
        int spatial = (int) (x.numel() / ((long) x.dim(0) * ch));
        int n = per * spatial;
        double[] tol = new double[e.length];
        for (int g0 = 0; g0 < x.dim(0) * groups; g0++) {
            int base = g0 * n;
            double m = 0, mean = 0, var = 0;
            for (int i = 0; i < n; i++) {
                m = Math.max(m, Math.abs(xv[base + i]));
                mean += xv[base + i];
            }
            mean /= n;
            for (int i = 0; i < n; i++) {
                var += (xv[base + i] - mean) * (xv[base + i] - mean);
            }
            double cond = Math.max(1, m / Math.sqrt(var / n + eps));
            for (int i = 0; i < n; i++) {
                int channel = (g0 % groups) * per + i / spatial;
                tol[base + i] = 2 * U * Math.sqrt(n) * (1 + Math.abs(e[base + i])) * cond * Math.abs(wv[channel])
                        + U * (Math.abs(e[base + i]) + Math.abs(bv[channel])) + 1e-30;
            }
        }
        return tol;
    }

    // ---- upsample and affine -------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void upsampleNearest2x(String name) {
        int[][] shapes = {{1, 1, 1, 1}, {2, 3, 3, 5}, {1, 2, 7, 33}, {1, 5, 16, 24}, {3, 1, 33, 17}, {1, 4, 64, 130}, {0, 3, 2, 2}};
        try (Backend be = create(name, THREADS)) {
            for (int[] s : shapes) {
                String what = Arrays.toString(s);
                long seed = seedOf("upsampleNearest2x", what);
                Random r = new Random(seed);
                try (Scope sc = new Scope()) {
                    Tensor x = sc.randn(r, s);
                    Tensor got = sc.zeros(s[0], s[1], 2 * s[2], 2 * s[3]);
                    got.fill(Float.NaN);
                    be.upsampleNearest2x(x, got);
                    float[] xv = x.toFloatArray(), want = new float[(int) got.numel()];
                    int h = s[2], w = s[3];
                    for (int i = 0; i < want.length; i++) {
                        int xo = i % (2 * w), y = i / (2 * w) % (2 * h), p = i / (4 * h * w);
                        want[i] = xv[(p * h + y / 2) * w + xo / 2];
                    }
                    assertExactlyEqual(ctx(name, "upsampleNearest2x", seed, what), got, want);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void affine(String name) {
        int[][] shapes = {{1}, {3, 17}, {2, 16, 33, 17}, {0, 4}, {7, 10_001}};
        float[][] params = {{0.3611f, 0.1159f}, {1 / 0.3611f, -0.1159f}, {-2f, 0f}, {0f, 5f}};
        int c = 0;
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (int[] s : shapes) {
                float scale = params[c % params.length][0], shift = params[c % params.length][1];
                c++;
                String what = Arrays.toString(s) + " scale=" + scale + " shift=" + shift;
                long seed = seedOf("affine", what);
                Random r = new Random(seed);
                try (Scope sc = new Scope()) {
                    Tensor x = sc.normal(r, 3, 0, s), got = sc.zeros(s), want = sc.zeros(s);
                    float[] xv = x.toFloatArray();
                    be.affine(x, scale, shift, got);
                    oracle.affine(x, scale, shift, want);
                    double[] tol = elementwiseTol(x.numel(), i -> Math.abs((double) scale * xv[i]) + Math.abs(shift) + 1e-31);
                    assertWithin(ctx(name, "affine", seed, what), "affine", got, want, tol);
                    Tensor inPlace = sc.copy(x);
                    be.affine(inPlace, scale, shift, inPlace);
                    assertWithin(ctx(name, "affine", seed, what + " in place"), "affine", inPlace, want, tol);
                }
            }
        }
    }

    // ---- permute -------------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void permute(String name) {
        Object[][] cases = {
                {new int[] {2, 3, 5}, new int[] {0, 2, 1}, DType.F32},
                {new int[] {2, 3, 5}, new int[] {2, 0, 1}, DType.F32},
                {new int[] {1, 16, 7, 9}, new int[] {0, 2, 3, 1}, DType.F32}, // channels-first to tokens
                {new int[] {2, 63, 4, 17}, new int[] {0, 3, 1, 2}, DType.F32}, // tokens back to channels-first
                {new int[] {3, 4, 5, 6, 7}, new int[] {4, 2, 0, 3, 1}, DType.F32},
                {new int[] {2, 16, 5, 2, 7, 2}, new int[] {0, 2, 4, 1, 3, 5}, DType.F32}, // the latent packing
                {new int[] {1, 5, 7, 16, 2, 2}, new int[] {0, 3, 1, 4, 2, 5}, DType.F32}, // and unpacking
                {new int[] {3, 5, 7}, new int[] {1, 2, 0}, DType.I64},
                {new int[] {2, 0, 3}, new int[] {2, 1, 0}, DType.F32},
        };
        try (Backend be = create(name, THREADS)) {
            for (Object[] cs : cases) {
                int[] shape = (int[]) cs[0], axes = (int[]) cs[1];
                DType dt = (DType) cs[2];
                String what = Arrays.toString(shape) + " axes " + Arrays.toString(axes) + " " + dt;
                long seed = seedOf("permute", what);
                Random r = new Random(seed);
                int[] outShape = new int[shape.length];
                for (int i = 0; i < shape.length; i++) {
                    outShape[i] = shape[axes[i]];
                }
                try (Scope sc = new Scope()) {
                    Tensor x = sc.track(Tensor.allocate(dt, shape)), got = sc.track(Tensor.allocate(dt, outShape));
                    for (long i = 0; i < x.numel(); i++) {
                        if (dt == DType.I64) {
                            x.setLong(i, r.nextLong());
                        } else {
                            x.set(i, (float) r.nextGaussian());
                        }
                    }
                    be.permute(x, axes, got);
                    int[] idx = new int[shape.length];
                    for (long o = 0; o < got.numel(); o++) {
                        long rem = o; // unravel o in the output shape; the input index puts idx[i] at axis axes[i]
                        for (int d = outShape.length - 1; d >= 0; d--) {
                            idx[d] = (int) (rem % outShape[d]);
                            rem /= outShape[d];
                        }
                        long in = 0;
                        int[] inIdx = new int[shape.length];
                        for (int d = 0; d < shape.length; d++) {
                            inIdx[axes[d]] = idx[d];
                        }
                        for (int d = 0; d < shape.length; d++) {
                            in = in * shape[d] + inIdx[d];
                        }
                        boolean same = dt == DType.I64 ? got.getLong(o) == x.getLong(in)
                                : Float.floatToRawIntBits(got.get(o)) == Float.floatToRawIntBits(x.get(in));
                        assertTrue(same, ctx(name, "permute", seed, what) + ": element " + o + " differs from input element " + in);
                    }
                }
            }
        }
    }

    // ---- a sequence of shapes on one backend ---------------------------------------------------------------

    /** A decoder-like chain on ONE backend: conv, groupNorm, upsample, stride-2 conv, 1×1 conv, each against the oracle. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void sequenceOfShapesOnOneBackend(String name) {
        long seed = seedOf("image sequence");
        Random r = new Random(seed);
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend(); Scope sc = new Scope()) {
            Tensor x = sc.randn(r, 1, 4, 9, 11);
            for (int step = 0; step < 3; step++) {
                int cin = x.dim(1), h = x.dim(2), w = x.dim(3);
                ConvCase in = new ConvCase(1, cin, h, w, 32, 3, 1, new int[] {1, 1, 1, 1}, TestSupport.WEIGHT_TYPES[step % TestSupport.WEIGHT_TYPES.length], step, true);
                checkConv(be, oracle, name, in);
                Tensor wt = convWeight(sc, r, in), bias = sc.randn(r, 32);
                Tensor y = sc.zeros(1, 32, h, w), yn = sc.zeros(1, 32, h, w), wantN = sc.zeros(1, 32, h, w);
                oracle.conv2d(x, wt, bias, 1, in.pad(), y);
                Tensor gw = sc.normal(r, 1, 1, 32), gb = sc.randn(r, 32);
                int groups = step == 1 ? 1 : 8;
                be.groupNorm(y, groups, gw, gb, 1e-6f, yn);
                oracle.groupNorm(y, groups, gw, gb, 1e-6f, wantN);
                assertWithin(ctx(name, "groupNorm", seed, "sequence step " + step), "groupNorm", yn, wantN,
                        groupNormTol(y, groups, gw, gb, 1e-6f, wantN));
                Tensor up = sc.zeros(1, 32, 2 * h, 2 * w), wantUp = sc.zeros(1, 32, 2 * h, 2 * w);
                be.upsampleNearest2x(wantN, up);
                oracle.upsampleNearest2x(wantN, wantUp);
                assertExactlyEqual(ctx(name, "upsampleNearest2x", seed, "sequence step " + step), up, wantUp.toFloatArray());
                checkConv(be, oracle, name, new ConvCase(1, 32, 2 * h, 2 * w, 3 + step, 3, 2, new int[] {0, 1, 0, 1}, DType.BF16, 1, step % 2 == 0));
                checkConv(be, oracle, name, new ConvCase(1, 32, h, w, 5, 1, 1, new int[] {0, 0, 0, 0}, DType.F32, 0, true));
                x = sc.randn(r, 1, 3 + 2 * step, h + 3 * step + 1, w - step);
            }
        }
    }

    // ---- bad input -----------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void badInputIsRejectedWithOneClearMessage(String name) {
        try (Backend be = create(name, THREADS); Scope sc = new Scope()) {
            Tensor x = sc.zeros(1, 4, 6, 6), w = sc.zeros(8, 4, 3, 3), wBad = sc.zeros(8, 5, 3, 3), out = sc.zeros(1, 8, 6, 6);
            int[] pad = {1, 1, 1, 1};
            expect("conv2d weight channels", () -> be.conv2d(x, wBad, null, 1, pad, out), "weight", "[Cout, 4");
            expect("conv2d padding of 3", () -> be.conv2d(x, w, null, 1, new int[] {1, 1, 1}, out), "padding must be 4");
            expect("conv2d negative padding", () -> be.conv2d(x, w, null, 1, new int[] {1, -1, 1, 1}, out), "padding must be 4");
            expect("conv2d stride 0", () -> be.conv2d(x, w, null, 0, pad, out), "stride");
            expect("conv2d output shape", () -> be.conv2d(x, w, null, 2, pad, out), "out");
            expect("conv2d bias shape", () -> be.conv2d(x, w, sc.zeros(7), 1, pad, out), "bias");
            Tensor gx = sc.zeros(1, 30, 4);
            expect("groupNorm groups", () -> be.groupNorm(gx, 4, sc.zeros(30), sc.zeros(30), 1e-6f, sc.zeros(1, 30, 4)),
                    "30 channels do not split into 4 groups");
            expect("groupNorm weight", () -> be.groupNorm(gx, 3, sc.zeros(29), sc.zeros(30), 1e-6f, sc.zeros(1, 30, 4)), "weight");
            expect("upsample output", () -> be.upsampleNearest2x(x, sc.zeros(1, 4, 12, 11)), "out");
            expect("affine infinite", () -> be.affine(x, Float.POSITIVE_INFINITY, 0f, sc.zeros(1, 4, 6, 6)), "finite");
            Tensor p = sc.zeros(2, 3, 4);
            expect("permute repeated axis", () -> be.permute(p, new int[] {0, 1, 1}, sc.zeros(2, 3, 3)), "not a permutation");
            expect("permute axis count", () -> be.permute(p, new int[] {0, 1}, sc.zeros(2, 3)), "must list each");
            expect("permute output shape", () -> be.permute(p, new int[] {2, 1, 0}, sc.zeros(2, 3, 4)), "out");
        }
    }

    private static void expect(String what, Executable call, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call, what);
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), what + ": message '" + e.getMessage() + "' should mention '" + f + "'");
        }
    }
}
