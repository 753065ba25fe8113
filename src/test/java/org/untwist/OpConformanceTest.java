package org.untwist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.backend.Backend;
import org.untwist.backend.BackendProvider;
import org.untwist.backend.Backends;
import org.untwist.backend.ScalarBackend;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * Every operation of every available backend against a fresh {@link ScalarBackend} (the double-accumulating
 * oracle) on awkward sizes: feature dimensions and reduction lengths around the SIMD lane counts
 * ({@link #DIMS}: 1, lanes − 1, lanes, lanes + 1 for 8 and 16 lanes, and 13, 100, 207), head dimensions 64 and
 * 128 (plus odd-sized 2 and 18 for the loop tails), odd token counts, batch 1 and 2, F32/BF16/F16 weights at
 * unaligned addresses. Inputs come from a {@link Random} whose seed (base {@code -Duntwist.seed}, default
 * {@link #DEFAULT_SEED}) is in every failure message.
 *
 * <p>Tolerances: every comparison is elementwise, {@code |actual − expected| ≤ tol_i}, with {@code u = 1e-6}
 * (about 16 float ulps of 1) and
 * <ul>
 *   <li>elementwise ops ({@code add, silu, geluTanh, modulate, gatedResidual, applyRope}):
 *       {@code tol_i = u · Σ|terms_i|}, the magnitudes of the terms that make up the element
 *       ({@code |a|+|b|}; {@code |x|}; {@code |(1+scale)x| + |shift|}; {@code |r| + |g·y|}; {@code |m00·x0| + |m01·x1|});</li>
 *   <li>{@code ropeTable}, {@code timestepEmbedding}: {@code tol = 1e-6} absolute (same float32 angles, cos/sin within
 *       an ulp or so);</li>
 *   <li>{@code linear} (reduction length K): {@code tol_i = u·|e_i| + u·√K·‖(x_k·w_k)_k‖₂}, the probabilistic error of a
 *       float sum of K terms with a 16× margin;</li>
 *   <li>{@code layerNorm} (length D): {@code tol_i = 2u·√D·(1 + |e_i|)}; {@code rmsNorm}: {@code tol_i = 2u·√D·|e_i| + 1e-7};</li>
 *   <li>attention: {@code tol_i = u·|e_i| + 2u·(1 + A)·max|v|}, where {@code A = max_j Σ_d |q_d·k_jd·s_d| / √Dh} bounds
 *       the terms of the query row's logits ({@code s} the reference key scale, 1 for own keys) and {@code max|v|}
 *       is over the values of that batch element and head;</li>
 *   <li>layout ops are copies: exact, against expectations computed here by index arithmetic.</li>
 * </ul>
 * The worst ratio {@code |diff| / tol} per operation is printed after the run to show the margin.
 */
class OpConformanceTest {
    static final long DEFAULT_SEED = 0x5EED_2024_0607L;
    static final long SEED = Long.getLong("untwist.seed", DEFAULT_SEED);
    /** Lane-count neighbours for 8 and 16 float lanes, and sizes that are no multiple of anything. */
    static final int[] DIMS = {1, 7, 8, 9, 13, 15, 16, 17, 100, 207};
    static final int THREADS = 2;
    static final double U = 1e-6;

    private static final Map<String, Double> WORST = new LinkedHashMap<>();

    static List<String> backends() {
        return TestSupport.availableBackends();
    }

    @AfterAll
    static void report() {
        synchronized (WORST) {
            WORST.forEach((op, r) -> System.out.printf(Locale.ROOT, "OpConformanceTest: worst |diff|/tol of %-40s %.3g%n", op, r));
        }
    }

    // ---- infrastructure ------------------------------------------------------------------------------------

    /** Tracks tensors of one test case and closes them. */
    static final class Scope implements AutoCloseable {
        final List<Tensor> tensors = new ArrayList<>();

        Tensor track(Tensor t) {
            tensors.add(t);
            return t;
        }

        Tensor zeros(int... shape) {
            return track(Tensor.allocate(shape));
        }

        Tensor normal(Random r, double std, double mean, int... shape) {
            Tensor t = zeros(shape);
            for (long i = 0; i < t.numel(); i++) {
                t.set(i, (float) (mean + std * r.nextGaussian()));
            }
            return t;
        }

        Tensor randn(Random r, int... shape) {
            return normal(r, 1, 0, shape);
        }

        Tensor copy(Tensor src) {
            return track(src.copy(src.dtype()));
        }

        /** A weight matrix of {@code dtype} that starts {@code offset} bytes into a larger allocation (unaligned). */
        Tensor weight(Random r, DType dtype, int offset, int out, int in) {
            long bytes = (long) out * in * dtype.byteSize();
            Tensor backing = zeros((int) ((bytes + offset) / 4 + 2));
            Tensor w = Tensor.wrap(backing.segment().asSlice(offset, bytes), dtype, out, in);
            for (long i = 0; i < w.numel(); i++) {
                double v = 0.5 * r.nextGaussian();
                if (dtype == DType.F16 && i % 17 == 5) {
                    v = 3e-6 * r.nextGaussian(); // binary16 subnormals
                } else if (i % 23 == 7) {
                    v = i % 2 == 0 ? 0.0 : -0.0;
                }
                w.set(i, (float) v);
            }
            return w;
        }

        @Override
        public void close() {
            for (Tensor t : tensors) {
                t.close();
            }
        }
    }

    static Backend create(String name, int threads) {
        return Backends.create(name, threads);
    }

    static long seedOf(String test, Object... caseKey) {
        long h = SEED;
        h = h * 31 + test.hashCode();
        for (Object o : caseKey) {
            h = h * 1_000_003L + String.valueOf(o).hashCode();
        }
        return h;
    }

    static String ctx(String backend, String op, long seed, String what) {
        return backend + "/" + op + " [" + what + "] seed=" + seed + " (base -Duntwist.seed=" + SEED + ")";
    }

    /** Fails unless {@code |actual_i − expected_i| ≤ tol_i} for every element; NaN never passes. */
    static void assertWithin(String ctx, String op, Tensor actual, Tensor expected, double[] tol) {
        float[] a = actual.toFloatArray(), e = expected.toFloatArray();
        assertEquals(e.length, a.length, ctx + ": element count");
        assertEquals(e.length, tol.length, ctx + ": tolerance count");
        double worst = 0;
        int at = -1;
        for (int i = 0; i < e.length; i++) {
            double d = Math.abs((double) a[i] - e[i]);
            double ratio = Double.isNaN(d) ? Double.POSITIVE_INFINITY : d == 0 ? 0 : d / tol[i];
            if (ratio > worst || at < 0) {
                worst = ratio;
                at = i;
            }
        }
        synchronized (WORST) {
            WORST.merge(op, worst, Math::max);
        }
        if (worst > 1) {
            fail(ctx + ": element " + at + " of " + java.util.Arrays.toString(expected.shape()) + " is " + a[at] + ", expected "
                    + e[at] + " (|diff| " + Math.abs((double) a[at] - e[at]) + " > tol " + tol[at] + ")");
        }
    }

    static void assertWithin(String ctx, String op, Tensor actual, Tensor expected, double absTol) {
        double[] tol = new double[(int) expected.numel()];
        java.util.Arrays.fill(tol, absTol);
        assertWithin(ctx, op, actual, expected, tol);
    }

    static void assertExactlyEqual(String ctx, Tensor actual, float[] expected) {
        float[] a = actual.toFloatArray();
        assertEquals(expected.length, a.length, ctx + ": element count");
        for (int i = 0; i < a.length; i++) {
            if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(expected[i])) {
                fail(ctx + ": element " + i + " is " + a[i] + ", expected " + expected[i]);
            }
        }
    }

    static double[] elementwiseTol(long n, Function<Integer, Double> magnitude) {
        double[] tol = new double[(int) n];
        for (int i = 0; i < n; i++) {
            tol[i] = U * magnitude.apply(i);
        }
        return tol;
    }

    // ---- linear --------------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void linear(String name) {
        int[] rowsCycle = {1, 2, 3, 5, 4};
        int[] outCycle = {1, 3, 4, 5, 9, 33};
        int[] offsets = {0, 1, 2, 6};
        int c = 0;
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (int in : DIMS) {
                for (DType dt : DType.values()) {
                    for (boolean withBias : new boolean[] {false, true}) {
                        int rows = rowsCycle[c % rowsCycle.length], out = outCycle[c % outCycle.length];
                        int offset = offsets[c % offsets.length];
                        boolean rank3 = c % 3 == 0;
                        c++;
                        checkLinear(be, oracle, name, rank3 ? new int[] {rows, 2, in} : new int[] {rows, in}, out, dt, withBias, offset);
                    }
                }
            }
            // several row and column blocks, every micro-kernel tail
            for (DType dt : DType.values()) {
                checkLinear(be, oracle, name, new int[] {131, 207}, 71, dt, true, 2);
                checkLinear(be, oracle, name, new int[] {2, 3, 64}, 130, dt, false, 1);
            }
        }
    }

    private static void checkLinear(Backend be, ScalarBackend oracle, String name, int[] xShape, int outDim, DType dt, boolean withBias,
                                    int offset) {
        int in = xShape[xShape.length - 1];
        long seed = seedOf("linear", java.util.Arrays.toString(xShape), outDim, dt, withBias, offset);
        Random r = new Random(seed);
        try (Scope sc = new Scope()) {
            Tensor x = sc.randn(r, xShape);
            Tensor w = sc.weight(r, dt, offset, outDim, in);
            Tensor bias = withBias ? sc.randn(r, outDim) : null;
            int[] outShape = xShape.clone();
            outShape[outShape.length - 1] = outDim;
            Tensor got = sc.zeros(outShape), want = sc.zeros(outShape);
            be.linear(x, w, bias, got);
            oracle.linear(x, w, bias, want);
            double[] tol = linearTol(x, w, want, in, outDim);
            assertWithin(ctx(name, "linear", seed, "x " + java.util.Arrays.toString(xShape) + ", w [" + outDim + ", " + in + "] " + dt
                    + " at byte offset " + offset + (withBias ? ", bias" : "")), "linear", got, want, tol);
        }
    }

    /** {@code u·|e| + u·√K·‖(x_k·w_k)‖₂} per output element. */
    static double[] linearTol(Tensor x, Tensor w, Tensor want, int in, int outDim) {
        float[] xs = x.toFloatArray(), ws = w.toFloatArray(), e = want.toFloatArray();
        int rows = in == 0 ? 0 : xs.length / in;
        double[] tol = new double[e.length];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < outDim; o++) {
                double ss = 0;
                for (int k = 0; k < in; k++) {
                    double t = (double) xs[r * in + k] * ws[o * in + k];
                    ss += t * t;
                }
                int i = r * outDim + o;
                tol[i] = U * Math.abs(e[i]) + U * Math.sqrt(in) * Math.sqrt(ss) + 1e-30;
            }
        }
        return tol;
    }

    // ---- elementwise -----------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void addSiluGelu(String name) {
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            List<int[]> shapes = new ArrayList<>();
            for (int d : DIMS) {
                shapes.add(new int[] {d});
                shapes.add(new int[] {3, d});
            }
            shapes.add(new int[] {0, 5});
            shapes.add(new int[] {7, 10_001}); // large enough to be split into chunks
            for (int[] shape : shapes) {
                String what = java.util.Arrays.toString(shape);
                long seed = seedOf("elementwise", what);
                Random r = new Random(seed);
                try (Scope sc = new Scope()) {
                    Tensor a = sc.normal(r, 3, 0, shape), b = sc.normal(r, 3, 0, shape);
                    float[] av = a.toFloatArray(), bv = b.toFloatArray();
                    Tensor got = sc.zeros(shape), want = sc.zeros(shape);

                    be.add(a, b, got);
                    oracle.add(a, b, want);
                    assertWithin(ctx(name, "add", seed, what), "add", got, want,
                            elementwiseTol(a.numel(), i -> (double) Math.abs(av[i]) + Math.abs(bv[i])));

                    be.silu(a, got);
                    oracle.silu(a, want);
                    assertWithin(ctx(name, "silu", seed, what), "silu", got, want, elementwiseTol(a.numel(), i -> (double) Math.abs(av[i])));

                    be.geluTanh(a, got);
                    oracle.geluTanh(a, want);
                    assertWithin(ctx(name, "geluTanh", seed, what), "geluTanh", got, want,
                            elementwiseTol(a.numel(), i -> (double) Math.abs(av[i])));

                    // in place: out is the input
                    Tensor inPlace = sc.copy(a);
                    be.silu(inPlace, inPlace);
                    oracle.silu(a, want);
                    assertWithin(ctx(name, "silu", seed, what + " in place"), "silu", inPlace, want,
                            elementwiseTol(a.numel(), i -> (double) Math.abs(av[i])));
                    Tensor sum = sc.copy(a);
                    be.add(sum, b, sum);
                    oracle.add(a, b, want);
                    assertWithin(ctx(name, "add", seed, what + " in place"), "add", sum, want,
                            elementwiseTol(a.numel(), i -> (double) Math.abs(av[i]) + Math.abs(bv[i])));
                }
            }
            // extreme arguments: saturation of the exponentials must not produce NaN
            long seed = seedOf("elementwise-extremes");
            try (Scope sc = new Scope()) {
                float[] vals = {-1000f, -100f, -30f, -10f, -1e-30f, -0f, 0f, 1e-30f, 10f, 30f, 100f, 1000f, 3e38f, -3e38f, 5f, -5f, 0.5f};
                Tensor x = sc.track(Tensor.of(vals, vals.length));
                Tensor got = sc.zeros(vals.length), want = sc.zeros(vals.length);
                be.silu(x, got);
                oracle.silu(x, want);
                assertWithin(ctx(name, "silu", seed, "extreme values " + java.util.Arrays.toString(vals)), "silu", got, want,
                        elementwiseTol(vals.length, i -> (double) Math.abs(vals[i])));
                be.geluTanh(x, got);
                oracle.geluTanh(x, want);
                assertWithin(ctx(name, "geluTanh", seed, "extreme values " + java.util.Arrays.toString(vals)), "geluTanh", got, want,
                        elementwiseTol(vals.length, i -> (double) Math.abs(vals[i])));
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void modulateAndGatedResidual(String name) {
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            List<int[]> shapes = new ArrayList<>();
            for (int d : DIMS) {
                shapes.add(new int[] {1, 1, d});
                shapes.add(new int[] {2, 5, d});
            }
            shapes.add(new int[] {2, 67, 207});
            shapes.add(new int[] {2, 0, 16});
            shapes.add(new int[] {1, 3, 17_000}); // split into chunks
            for (int[] shape : shapes) {
                String what = java.util.Arrays.toString(shape);
                long seed = seedOf("adaLN", what);
                Random r = new Random(seed);
                int bsz = shape[0], l = shape[1], d = shape[2];
                try (Scope sc = new Scope()) {
                    Tensor x = sc.normal(r, 2, 0, shape), y = sc.normal(r, 2, 0, shape);
                    Tensor shift = sc.randn(r, bsz, d), scale = sc.randn(r, bsz, d), gate = sc.randn(r, bsz, d);
                    float[] xv = x.toFloatArray(), yv = y.toFloatArray(), sh = shift.toFloatArray(), scv = scale.toFloatArray(),
                            gv = gate.toFloatArray();
                    Function<Integer, Integer> per = i -> (i / (l * d)) * d + i % d;
                    Tensor got = sc.zeros(shape), want = sc.zeros(shape);

                    be.modulate(x, shift, scale, got);
                    oracle.modulate(x, shift, scale, want);
                    double[] modTol = elementwiseTol(x.numel(), i -> Math.abs((1.0 + scv[per.apply(i)]) * xv[i]) + Math.abs(sh[per.apply(i)]));
                    assertWithin(ctx(name, "modulate", seed, what), "modulate", got, want, modTol);
                    Tensor inPlace = sc.copy(x);
                    be.modulate(inPlace, shift, scale, inPlace);
                    assertWithin(ctx(name, "modulate", seed, what + " in place"), "modulate", inPlace, want, modTol);

                    be.gatedResidual(x, gate, y, got);
                    oracle.gatedResidual(x, gate, y, want);
                    double[] grTol = elementwiseTol(x.numel(), i -> Math.abs(xv[i]) + Math.abs((double) gv[per.apply(i)] * yv[i]));
                    assertWithin(ctx(name, "gatedResidual", seed, what), "gatedResidual", got, want, grTol);
                    Tensor residual = sc.copy(x);
                    be.gatedResidual(residual, gate, y, residual);
                    assertWithin(ctx(name, "gatedResidual", seed, what + " in place"), "gatedResidual", residual, want, grTol);
                }
            }
        }
    }

    // ---- normalization ---------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void layerNormAndRmsNorm(String name) {
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            List<int[]> shapes = new ArrayList<>();
            for (int d : DIMS) {
                shapes.add(new int[] {d});
                shapes.add(new int[] {2, 5, d});
            }
            shapes.add(new int[] {700, 100}); // split into chunks of rows
            shapes.add(new int[] {3, 3072});
            shapes.add(new int[] {0, 9});
            float[] epsilons = {1e-6f, 1e-5f, 0f};
            int c = 0;
            for (int[] shape : shapes) {
                float eps = epsilons[c++ % epsilons.length];
                String what = java.util.Arrays.toString(shape) + " eps=" + eps;
                long seed = seedOf("norm", what);
                Random r = new Random(seed);
                int d = shape[shape.length - 1];
                try (Scope sc = new Scope()) {
                    Tensor x = sc.normal(r, 2, 0.5, shape);
                    Tensor scale = sc.normal(r, 1, 1, d);
                    Tensor got = sc.zeros(shape), want = sc.zeros(shape);

                    be.layerNorm(x, eps, got);
                    oracle.layerNorm(x, eps, want);
                    float[] e = want.toFloatArray();
                    double[] lnTol = new double[e.length];
                    for (int i = 0; i < e.length; i++) {
                        lnTol[i] = 2 * U * Math.sqrt(d) * (1 + Math.abs(e[i]));
                    }
                    assertWithin(ctx(name, "layerNorm", seed, what), "layerNorm", got, want, lnTol);
                    Tensor inPlace = sc.copy(x);
                    be.layerNorm(inPlace, eps, inPlace);
                    assertWithin(ctx(name, "layerNorm", seed, what + " in place"), "layerNorm", inPlace, want, lnTol);

                    be.rmsNorm(x, scale, eps, got);
                    oracle.rmsNorm(x, scale, eps, want);
                    float[] e2 = want.toFloatArray();
                    double[] rmsTol = new double[e2.length];
                    for (int i = 0; i < e2.length; i++) {
                        rmsTol[i] = 2 * U * Math.sqrt(d) * Math.abs(e2[i]) + 1e-7;
                    }
                    assertWithin(ctx(name, "rmsNorm", seed, what), "rmsNorm", got, want, rmsTol);
                }
            }
        }
    }

    // ---- positions -------------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void ropeTable(String name) {
        int[][] axesList = {{16, 56, 56}, {16, 24, 24}, {6, 30}, {2}, {4, 8}, {34}};
        double[] thetas = {10_000, 10_000, 2.5, 10_000, 100, 10_000};
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (int ai = 0; ai < axesList.length; ai++) {
                int[] axes = axesList[ai];
                int pairs = java.util.Arrays.stream(axes).sum() / 2;
                for (int bsz : new int[] {1, 2}) {
                    for (int l : new int[] {1, 5, 67}) {
                        String what = "axes " + java.util.Arrays.toString(axes) + " theta " + thetas[ai] + " B=" + bsz + " L=" + l;
                        long seed = seedOf("ropeTable", what);
                        Random r = new Random(seed);
                        try (Scope sc = new Scope()) {
                            Tensor ids = sc.zeros(bsz, l, axes.length);
                            for (long i = 0; i < ids.numel(); i++) {
                                // integer grid positions as in FLUX, and some fractional / negative ones
                                ids.set(i, i % 5 == 4 ? (float) (r.nextDouble() * 200 - 50) : r.nextInt(64));
                            }
                            Tensor got = sc.zeros(bsz, 1, l, pairs, 2, 2), want = sc.zeros(bsz, 1, l, pairs, 2, 2);
                            be.ropeTable(ids, axes, thetas[ai], got);
                            oracle.ropeTable(ids, axes, thetas[ai], want);
                            assertWithin(ctx(name, "ropeTable", seed, what), "ropeTable", got, want, 1e-6);
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void applyRope(String name) {
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (int d : new int[] {64, 128, 2, 18, 34}) {
                for (int bsz : new int[] {1, 2}) {
                    for (int l : new int[] {1, 5, 67}) {
                        for (int peBatch : bsz == 1 ? new int[] {1} : new int[] {1, bsz}) {
                            int h = l == 67 ? 3 : 2;
                            String what = "x [" + bsz + ", " + h + ", " + l + ", " + d + "], pe batch " + peBatch;
                            long seed = seedOf("applyRope", what);
                            Random r = new Random(seed);
                            try (Scope sc = new Scope()) {
                                Tensor x = sc.normal(r, 2, 0, bsz, h, l, d);
                                // a general 2×2 per pair (not only rotations), so every coefficient's position is checked
                                Tensor pe = sc.randn(r, peBatch, 1, l, d / 2, 2, 2);
                                float[] xv = x.toFloatArray(), pv = pe.toFloatArray();
                                Tensor got = sc.zeros(bsz, h, l, d), want = sc.zeros(bsz, h, l, d);
                                be.applyRope(x, pe, got);
                                oracle.applyRope(x, pe, want);
                                double[] tol = elementwiseTol(x.numel(), i -> {
                                    int row = i / d, dd = i % d;
                                    int t = row % l, b = row / (h * l);
                                    int m = ((peBatch == 1 ? 0 : b) * l + t) * (d / 2) * 4 + (dd / 2) * 4 + (dd % 2) * 2;
                                    int x0 = i - dd % 2;
                                    return Math.abs((double) pv[m] * xv[x0]) + Math.abs((double) pv[m + 1] * xv[x0 + 1]);
                                });
                                assertWithin(ctx(name, "applyRope", seed, what), "applyRope", got, want, tol);
                                Tensor inPlace = sc.copy(x);
                                be.applyRope(inPlace, pe, inPlace);
                                assertWithin(ctx(name, "applyRope", seed, what + " in place"), "applyRope", inPlace, want, tol);
                            }
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void timestepEmbedding(String name) {
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            int[] dims = {1, 2, 3, 7, 8, 9, 13, 15, 16, 17, 31, 32, 33, 100, 207, 256};
            for (int dim : dims) {
                for (int bsz : new int[] {1, 3}) {
                    for (float factor : new float[] {1000f, 1f}) {
                        String what = "dim " + dim + " B=" + bsz + " timeFactor " + factor;
                        long seed = seedOf("timestepEmbedding", what);
                        Random r = new Random(seed);
                        try (Scope sc = new Scope()) {
                            Tensor t = sc.zeros(bsz);
                            for (int i = 0; i < bsz; i++) {
                                t.set(i, i == 0 ? 1f : r.nextFloat());
                            }
                            Tensor got = sc.zeros(bsz, dim), want = sc.zeros(bsz, dim);
                            got.copyFrom(filled(bsz * dim, 7f)); // the odd padding must be written, not left
                            be.timestepEmbedding(t, factor, 10_000, got);
                            oracle.timestepEmbedding(t, factor, 10_000, want);
                            assertWithin(ctx(name, "timestepEmbedding", seed, what), "timestepEmbedding", got, want, 1e-6);
                        }
                    }
                }
            }
        }
    }

    static float[] filled(int n, float v) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, v);
        return a;
    }

    // ---- attention -------------------------------------------------------------------------------------------

    /** One attention problem; {@code refK == null} for plain attention. */
    record AttCase(Tensor q, Tensor k, Tensor v, Tensor refK, Tensor refV, Tensor scale) {
        int b() {
            return q.dim(0);
        }

        int h() {
            return q.dim(1);
        }

        int lq() {
            return q.dim(2);
        }

        int d() {
            return q.dim(3);
        }

        Tensor outShaped(Scope sc) {
            return sc.zeros(b(), lq(), h() * d());
        }

        void run(Backend be, Tensor out) {
            if (refK == null) {
                be.attention(q, k, v, out);
            } else {
                be.sharedAttention(q, k, v, refK, refV, scale, out);
            }
        }
    }

    static AttCase attCase(Scope sc, Random r, int b, int h, int lq, int lk, int d, double qStd, int lr, int refBatch, boolean withScale) {
        Tensor q = sc.normal(r, qStd, 0, b, h, lq, d), k = sc.randn(r, b, h, lk, d), v = sc.randn(r, b, h, lk, d);
        if (lr < 0) {
            return new AttCase(q, k, v, null, null, null);
        }
        Tensor refK = sc.randn(r, refBatch, h, lr, d), refV = sc.randn(r, refBatch, h, lr, d);
        Tensor scale = null;
        if (withScale) {
            scale = sc.zeros(d / 2);
            for (int p = 0; p < d / 2; p++) {
                scale.set(p, p % 7 == 3 ? 0f : (float) (1.5 * r.nextDouble()));
            }
        }
        return new AttCase(q, k, v, refK, refV, scale);
    }

    /** {@code u·|e| + 2u·(1 + A)·max|v|} per output element (see the class comment). */
    static double[] attentionTol(AttCase c, Tensor want) {
        int b = c.b(), h = c.h(), lq = c.lq(), d = c.d(), lk = c.k().dim(2);
        int lr = c.refK() == null ? 0 : c.refK().dim(2);
        int refBatch = c.refK() == null ? 1 : c.refK().dim(0);
        float[] q = c.q().toFloatArray(), k = c.k().toFloatArray(), v = c.v().toFloatArray();
        float[] rk = lr == 0 ? new float[0] : c.refK().toFloatArray(), rv = lr == 0 ? new float[0] : c.refV().toFloatArray();
        float[] e = want.toFloatArray();
        double[] tol = new double[e.length];
        double inv = 1 / Math.sqrt(d);
        for (int bi = 0; bi < b; bi++) {
            int rb = refBatch == 1 ? 0 : bi;
            for (int hi = 0; hi < h; hi++) {
                double vmax = 0;
                for (int j = 0; j < lk * d; j++) {
                    vmax = Math.max(vmax, Math.abs(v[((bi * h + hi) * lk) * d + j]));
                }
                for (int j = 0; j < lr * d; j++) {
                    vmax = Math.max(vmax, Math.abs(rv[((rb * h + hi) * lr) * d + j]));
                }
                for (int i = 0; i < lq; i++) {
                    int qo = ((bi * h + hi) * lq + i) * d;
                    double a = 0;
                    for (int j = 0; j < lk + lr; j++) {
                        double s = 0;
                        for (int dd = 0; dd < d; dd++) {
                            double kv = j < lk ? k[((bi * h + hi) * lk + j) * d + dd] : rk[((rb * h + hi) * lr + j - lk) * d + dd];
                            double sc = j < lk || c.scale() == null ? 1 : c.scale().get(dd / 2);
                            s += Math.abs(q[qo + dd] * kv * sc);
                        }
                        a = Math.max(a, s * inv);
                    }
                    for (int dd = 0; dd < d; dd++) {
                        int o = ((bi * lq + i) * h + hi) * d + dd;
                        tol[o] = U * Math.abs(e[o]) + 2 * U * (1 + a) * vmax + 1e-30;
                    }
                }
            }
        }
        return tol;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void attention(String name) {
        int[][] lengths = {{1, 1}, {5, 67}, {67, 5}, {67, 67}, {17, 130}, {3, 0}};
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (int d : new int[] {64, 128, 18, 2}) {
                for (int[] bh : new int[][] {{1, 1}, {2, 3}}) {
                    for (int[] len : lengths) {
                        double qStd = len[0] == 67 ? 3 : 1; // sharper softmax: the running max matters
                        String what = "B=" + bh[0] + " H=" + bh[1] + " Lq=" + len[0] + " Lk=" + len[1] + " Dh=" + d + " q std " + qStd;
                        long seed = seedOf("attention", what);
                        Random r = new Random(seed);
                        try (Scope sc = new Scope()) {
                            AttCase c = attCase(sc, r, bh[0], bh[1], len[0], len[1], d, qStd, -1, 1, false);
                            Tensor got = c.outShaped(sc), want = c.outShaped(sc);
                            c.run(be, got);
                            c.run(oracle, want);
                            assertWithin(ctx(name, "attention", seed, what), "attention", got, want, attentionTol(c, want));
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void sharedAttention(String name) {
        int[][] lengths = {{5, 67}, {67, 5}, {1, 1}, {4, 0}};
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (int d : new int[] {64, 128, 18}) {
                for (int b : new int[] {1, 2}) {
                    for (int refBatch : b == 1 ? new int[] {1} : new int[] {1, b}) {
                        for (int lr : new int[] {0, 1, 5, 67}) {
                            for (boolean withScale : new boolean[] {false, true}) {
                                for (int[] len : lengths) {
                                    if (len[1] == 0 && lr == 0) {
                                        continue; // an empty softmax is covered by attention()
                                    }
                                    String what = "B=" + b + " refBatch=" + refBatch + " H=2 Lq=" + len[0] + " Lk=" + len[1] + " Lr=" + lr + " Dh=" + d
                                            + (withScale ? " scaled" : " unscaled");
                                    long seed = seedOf("sharedAttention", what);
                                    Random r = new Random(seed);
                                    try (Scope sc = new Scope()) {
                                        AttCase c = attCase(sc, r, b, 2, len[0], len[1], d, 2, lr, refBatch, withScale);
                                        Tensor got = c.outShaped(sc), want = c.outShaped(sc);
                                        c.run(be, got);
                                        c.run(oracle, want);
                                        double[] tol = attentionTol(c, want);
                                        assertWithin(ctx(name, "sharedAttention", seed, what), "sharedAttention", got, want, tol);
                                        if (lr == 0) {
                                            // Lr = 0 is plain attention
                                            Tensor plain = c.outShaped(sc);
                                            be.attention(c.q(), c.k(), c.v(), plain);
                                            assertWithin(ctx(name, "sharedAttention", seed, what + " vs attention"), "sharedAttention", got, plain, tol);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            // refKeyScale of all ones is the same as none; zero scales make the reference keys' logits 0
            long seed = seedOf("sharedAttention-ones");
            Random r = new Random(seed);
            try (Scope sc = new Scope()) {
                AttCase c = attCase(sc, r, 2, 3, 9, 17, 64, 1, 33, 1, false);
                Tensor ones = sc.track(Tensor.of(filled(32, 1f), 32));
                Tensor got = c.outShaped(sc), want = c.outShaped(sc);
                be.sharedAttention(c.q(), c.k(), c.v(), c.refK(), c.refV(), ones, got);
                oracle.sharedAttention(c.q(), c.k(), c.v(), c.refK(), c.refV(), null, want);
                assertWithin(ctx(name, "sharedAttention", seed, "refKeyScale all ones vs null"), "sharedAttention", got, want, attentionTol(c, want));
                Tensor different = c.outShaped(sc);
                Tensor half = sc.track(Tensor.of(filled(32, 0.25f), 32));
                be.sharedAttention(c.q(), c.k(), c.v(), c.refK(), c.refV(), half, different);
                assertTrue(TestSupport.maxAbsDiff(different, got) > 1e-3,
                        ctx(name, "sharedAttention", seed, "refKeyScale 0.25 must change the result"));
            }
        }
    }

    // ---- layout ----------------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void layout(String name) {
        try (Backend be = create(name, THREADS)) {
            for (int d : new int[] {2, 17, 64}) {
                int b = 2, h = 3, l = 5, lTot = 12, offset = 4;
                long seed = seedOf("splitQkv", d);
                Random r = new Random(seed);
                try (Scope sc = new Scope()) {
                    Tensor qkv = sc.randn(r, b, l, 3 * h * d);
                    float[] src = qkv.toFloatArray();
                    Tensor[] qkvOut = {sc.zeros(b, h, lTot, d), sc.zeros(b, h, lTot, d), sc.zeros(b, h, lTot, d)};
                    for (Tensor t : qkvOut) {
                        t.copyFrom(filled((int) t.numel(), -9f));
                    }
                    be.splitQkv(qkv, qkvOut[0], qkvOut[1], qkvOut[2], offset);
                    for (int which = 0; which < 3; which++) {
                        float[] expected = filled(b * h * lTot * d, -9f);
                        for (int bi = 0; bi < b; bi++) {
                            for (int t = 0; t < l; t++) {
                                for (int hi = 0; hi < h; hi++) {
                                    for (int dd = 0; dd < d; dd++) {
                                        expected[((bi * h + hi) * lTot + offset + t) * d + dd] = src[(bi * l + t) * 3 * h * d + (which * h + hi) * d + dd];
                                    }
                                }
                            }
                        }
                        assertExactlyEqual(ctx(name, "splitQkv", seed, "part " + which + ", Dh=" + d), qkvOut[which], expected);
                    }
                }
            }
            int[] shape = {3, 4, 5};
            for (int axis = -1; axis < 3; axis++) {
                int ax = axis < 0 ? 2 : axis;
                long seed = seedOf("concat", axis);
                Random r = new Random(seed);
                try (Scope sc = new Scope()) {
                    int[] sizes = {1, shape[ax] - 1 + 2, 2};
                    List<Tensor> parts = new ArrayList<>();
                    int total = 0;
                    for (int s : sizes) {
                        int[] ps = shape.clone();
                        ps[ax] = s;
                        parts.add(sc.randn(r, ps));
                        total += s;
                    }
                    int[] ws = shape.clone();
                    ws[ax] = total;
                    Tensor whole = sc.zeros(ws);
                    be.concat(parts, axis, whole);
                    float[] expected = new float[(int) whole.numel()];
                    int before = 0;
                    for (Tensor p : parts) {
                        float[] pv = p.toFloatArray();
                        int[] psh = p.shape();
                        for (int i = 0; i < pv.length; i++) {
                            int[] idx = unravel(i, psh);
                            idx[ax] += before;
                            expected[ravel(idx, ws)] = pv[i];
                        }
                        before += psh[ax];
                    }
                    assertExactlyEqual(ctx(name, "concat", seed, "axis " + axis), whole, expected);
                    List<Tensor> back = new ArrayList<>();
                    for (Tensor p : parts) {
                        back.add(sc.zeros(p.shape()));
                    }
                    be.split(whole, axis, back);
                    for (int i = 0; i < parts.size(); i++) {
                        assertExactlyEqual(ctx(name, "split", seed, "axis " + axis + " part " + i), back.get(i), parts.get(i).toFloatArray());
                    }
                }
            }
        }
    }

    static int[] unravel(int i, int[] shape) {
        int[] idx = new int[shape.length];
        for (int k = shape.length - 1; k >= 0; k--) {
            idx[k] = i % shape[k];
            i /= shape[k];
        }
        return idx;
    }

    static int ravel(int[] idx, int[] shape) {
        int i = 0;
        for (int k = 0; k < shape.length; k++) {
            i = i * shape[k] + idx[k];
        }
        return i;
    }

    // ---- thread count ----------------------------------------------------------------------------------------

    /** Large enough inputs that every op is split into several tasks; threads 2 and 3 must agree with threads 1. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void resultsDoNotDependOnThreadCount(String name) {
        long seed = seedOf("threads");
        Random r = new Random(seed);
        try (Scope sc = new Scope()) {
            Tensor x = sc.randn(r, 150, 207);
            Tensor w = sc.weight(r, DType.BF16, 2, 77, 207);
            Tensor bias = sc.randn(r, 77);
            Tensor big = sc.normal(r, 3, 0, 7, 100_003 / 7 + 1);
            Tensor big2 = sc.normal(r, 3, 0, 7, 100_003 / 7 + 1);
            Tensor shift = sc.randn(r, 1, 3000), scale = sc.randn(r, 1, 3000);
            Tensor act = sc.randn(r, 1, 40, 3000);
            AttCase att = attCase(sc, r, 2, 3, 67, 130, 64, 2, 70, 1, true);
            Tensor ropeX = sc.randn(r, 2, 3, 300, 64), pe = sc.randn(r, 1, 1, 300, 32, 2, 2);

            Map<String, Tensor> reference = new LinkedHashMap<>();
            Map<String, double[]> tols = new LinkedHashMap<>();
            for (int threads : new int[] {1, 2, 3}) {
                Map<String, Tensor> res = new LinkedHashMap<>();
                try (Backend be = create(name, threads)) {
                    assertEquals(name.equals("scalar") ? 1 : threads, be.threads(), name + ": threads()");
                    res.put("linear", sc.zeros(150, 77));
                    be.linear(x, w, bias, res.get("linear"));
                    res.put("add", sc.zeros(big.shape()));
                    be.add(big, big2, res.get("add"));
                    res.put("silu", sc.zeros(big.shape()));
                    be.silu(big, res.get("silu"));
                    res.put("layerNorm", sc.zeros(big.shape()));
                    be.layerNorm(big, 1e-6f, res.get("layerNorm"));
                    res.put("modulate", sc.zeros(act.shape()));
                    be.modulate(act, shift, scale, res.get("modulate"));
                    res.put("sharedAttention", att.outShaped(sc));
                    att.run(be, res.get("sharedAttention"));
                    res.put("applyRope", sc.zeros(ropeX.shape()));
                    be.applyRope(ropeX, pe, res.get("applyRope"));
                }
                if (threads == 1) {
                    reference.putAll(res);
                    tols.put("linear", linearTol(x, w, res.get("linear"), 207, 77));
                    float[] bv = big.toFloatArray(), b2 = big2.toFloatArray();
                    tols.put("add", elementwiseTol(big.numel(), i -> (double) Math.abs(bv[i]) + Math.abs(b2[i])));
                    tols.put("silu", elementwiseTol(big.numel(), i -> (double) Math.abs(bv[i])));
                    float[] ln = res.get("layerNorm").toFloatArray();
                    double sq = Math.sqrt(big.dim(-1));
                    tols.put("layerNorm", elementwiseTol(big.numel(), i -> 2 * sq * (1 + Math.abs(ln[i]))));
                    float[] av = act.toFloatArray(), shv = shift.toFloatArray(), scv = scale.toFloatArray();
                    tols.put("modulate", elementwiseTol(act.numel(), i -> Math.abs((1.0 + scv[i % 3000]) * av[i]) + Math.abs(shv[i % 3000])));
                    tols.put("sharedAttention", attentionTol(att, res.get("sharedAttention")));
                    float[] xv = ropeX.toFloatArray(), pv = pe.toFloatArray();
                    tols.put("applyRope", elementwiseTol(ropeX.numel(), i -> {
                        int dd = i % 64, t = (i / 64) % 300;
                        int m = t * 128 + (dd / 2) * 4 + (dd % 2) * 2, x0 = i - dd % 2;
                        return Math.abs((double) pv[m] * xv[x0]) + Math.abs((double) pv[m + 1] * xv[x0 + 1]);
                    }));
                } else {
                    for (String op : reference.keySet()) {
                        // two approximations of the same value: twice the tolerance against the oracle
                        double[] tol = java.util.Arrays.stream(tols.get(op)).map(t -> 2 * t).toArray();
                        assertWithin(ctx(name, op, seed, threads + " threads vs 1 thread"), op + " (threads)", res.get(op), reference.get(op), tol);
                    }
                }
            }
        }
    }

    // ---- compiled kernels --------------------------------------------------------------------------------------

    /** One operation on fixed inputs: writes into {@code out}; {@code tol} gives the tolerance from the oracle's output. */
    record Probe(String op, int[] outShape, java.util.function.BiConsumer<Backend, Tensor> run, Function<Tensor, double[]> tol) {
    }

    /**
     * The cases above run each kernel a few times only, mostly before the JIT compiles it, so they check the
     * interpreted Vector API (which falls back to {@code Math} per lane). Here every operation runs
     * {@link #WARM_UP_CALLS} times on fixed inputs so that the compiled (intrinsic) kernels are the ones compared.
     */
    static final int WARM_UP_CALLS = 12_000;

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void compiledKernelsAfterWarmUp(String name) {
        long seed = seedOf("warm-up");
        Random r = new Random(seed);
        try (Scope sc = new Scope(); Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            List<Probe> probes = new ArrayList<>();
            Tensor x = sc.normal(r, 2, 0.5, 3, 207);
            for (DType dt : DType.values()) {
                Tensor w = sc.weight(r, dt, 2, 9, 207);
                Tensor bias = sc.randn(r, 9);
                probes.add(new Probe("linear " + dt, new int[] {3, 9}, (b, o) -> b.linear(x, w, bias, o), e -> linearTol(x, w, e, 207, 9)));
            }
            float[] xv = x.toFloatArray();
            Tensor y = sc.randn(r, 3, 207);
            float[] yv = y.toFloatArray();
            probes.add(new Probe("add", x.shape(), (b, o) -> b.add(x, y, o), e -> elementwiseTol(x.numel(), i -> (double) Math.abs(xv[i]) + Math.abs(yv[i]))));
            probes.add(new Probe("silu", x.shape(), (b, o) -> b.silu(y, o), e -> elementwiseTol(y.numel(), i -> (double) Math.abs(yv[i]))));
            probes.add(new Probe("geluTanh", x.shape(), (b, o) -> b.geluTanh(y, o), e -> elementwiseTol(y.numel(), i -> (double) Math.abs(yv[i]))));
            probes.add(new Probe("layerNorm", x.shape(), (b, o) -> b.layerNorm(x, 1e-6f, o), e -> {
                float[] ev = e.toFloatArray();
                return elementwiseTol(ev.length, i -> 2 * Math.sqrt(207) * (1 + Math.abs(ev[i])));
            }));
            Tensor rmsScale = sc.normal(r, 1, 1, 207);
            probes.add(new Probe("rmsNorm", x.shape(), (b, o) -> b.rmsNorm(x, rmsScale, 1e-6f, o), e -> {
                float[] ev = e.toFloatArray();
                return elementwiseTol(ev.length, i -> 2 * Math.sqrt(207) * Math.abs(ev[i]) + 0.1);
            }));
            Tensor act = sc.randn(r, 1, 3, 207), shift = sc.randn(r, 1, 207), scale = sc.randn(r, 1, 207);
            float[] av = act.toFloatArray(), shv = shift.toFloatArray(), scv = scale.toFloatArray();
            probes.add(new Probe("modulate", act.shape(), (b, o) -> b.modulate(act, shift, scale, o),
                    e -> elementwiseTol(act.numel(), i -> Math.abs((1.0 + scv[i % 207]) * av[i]) + Math.abs(shv[i % 207]))));
            probes.add(new Probe("gatedResidual", act.shape(), (b, o) -> b.gatedResidual(act, scale, act, o),
                    e -> elementwiseTol(act.numel(), i -> Math.abs(av[i]) + Math.abs((double) scv[i % 207] * av[i]))));
            Tensor ids = sc.zeros(1, 5, 3);
            for (int i = 0; i < 15; i++) {
                ids.set(i, r.nextInt(64));
            }
            probes.add(new Probe("ropeTable", new int[] {1, 1, 5, 64, 2, 2}, (b, o) -> b.ropeTable(ids, new int[] {16, 56, 56}, 10_000, o),
                    e -> elementwiseTol(e.numel(), i -> 1.0)));
            Tensor t = sc.track(Tensor.of(new float[] {1f, 0.37f}, 2));
            probes.add(new Probe("timestepEmbedding", new int[] {2, 256}, (b, o) -> b.timestepEmbedding(t, 1000f, 10_000, o),
                    e -> elementwiseTol(e.numel(), i -> 1.0)));
            Tensor rx = sc.randn(r, 1, 2, 5, 64), pe = sc.randn(r, 1, 1, 5, 32, 2, 2);
            float[] rxv = rx.toFloatArray(), pv = pe.toFloatArray();
            probes.add(new Probe("applyRope", rx.shape(), (b, o) -> b.applyRope(rx, pe, o), e -> elementwiseTol(rx.numel(), i -> {
                int dd = i % 64, tok = (i / 64) % 5;
                int m = tok * 128 + (dd / 2) * 4 + (dd % 2) * 2, x0 = i - dd % 2;
                return Math.abs((double) pv[m] * rxv[x0]) + Math.abs((double) pv[m + 1] * rxv[x0 + 1]);
            })));
            AttCase att = attCase(sc, r, 1, 2, 17, 67, 64, 2, 33, 1, true);
            probes.add(new Probe("sharedAttention", new int[] {1, 17, 128}, att::run, e -> attentionTol(att, e)));

            List<Tensor> outs = new ArrayList<>();
            for (Probe p : probes) {
                outs.add(sc.zeros(p.outShape()));
            }
            long deadline = System.nanoTime() + 30_000_000_000L; // bound the time on slow machines
            int calls = name.equals("scalar") ? 1 : WARM_UP_CALLS; // the oracle against itself needs no JIT
            long start = System.nanoTime();
            int it = 0;
            for (; it < calls && System.nanoTime() < deadline; it++) {
                for (int i = 0; i < probes.size(); i++) {
                    probes.get(i).run().accept(be, outs.get(i));
                }
            }
            System.out.printf(Locale.ROOT, "OpConformanceTest: %s: %d warm-up rounds of %d ops in %.1f s%n", name, it, probes.size(),
                    (System.nanoTime() - start) / 1e9);
            for (int i = 0; i < probes.size(); i++) {
                Probe p = probes.get(i);
                Tensor want = sc.zeros(p.outShape());
                p.run().accept(oracle, want);
                assertWithin(ctx(name, p.op(), seed, "after warm-up"), p.op() + " (compiled)", outs.get(i), want, p.tol().apply(want));
            }
        }
    }

    // ---- argument checks -------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void everyOpRejectsWrongShapesNamingItself(String name) {
        try (Backend be = create(name, THREADS); Scope sc = new Scope()) {
            Tensor out = sc.zeros(2, 4);
            out.copyFrom(filled(8, 7f));
            Map<String, Executable> calls = new LinkedHashMap<>();
            calls.put("linear", () -> be.linear(sc.zeros(2, 5), sc.zeros(4, 4), null, out));
            calls.put("add", () -> be.add(sc.zeros(2, 4), sc.zeros(2, 5), out));
            calls.put("layerNorm", () -> be.layerNorm(sc.zeros(2, 5), 1e-6f, out));
            calls.put("rmsNorm", () -> be.rmsNorm(sc.zeros(2, 4), sc.zeros(5), 1e-6f, out));
            calls.put("silu", () -> be.silu(sc.zeros(2, 5), out));
            calls.put("geluTanh", () -> be.geluTanh(sc.zeros(4, 2), out));
            calls.put("modulate", () -> be.modulate(sc.zeros(1, 2, 4), sc.zeros(1, 5), sc.zeros(1, 4), out.reshape(1, 2, 4)));
            calls.put("gatedResidual", () -> be.gatedResidual(sc.zeros(1, 2, 4), sc.zeros(2, 4), sc.zeros(1, 2, 4), out.reshape(1, 2, 4)));
            calls.put("ropeTable", () -> be.ropeTable(sc.zeros(1, 2, 1), new int[] {4}, 10_000, out.reshape(1, 1, 2, 1, 2, 2)));
            calls.put("applyRope", () -> be.applyRope(sc.zeros(1, 1, 2, 4), sc.zeros(1, 1, 3, 2, 2, 2), out.reshape(1, 1, 2, 4)));
            calls.put("timestepEmbedding", () -> be.timestepEmbedding(sc.zeros(3), 1000f, 10_000, out));
            calls.put("attention", () -> be.attention(sc.zeros(1, 1, 2, 4), sc.zeros(1, 1, 3, 6), sc.zeros(1, 1, 3, 6), out.reshape(1, 2, 4)));
            calls.put("sharedAttention", () -> be.sharedAttention(sc.zeros(1, 1, 2, 4), sc.zeros(1, 1, 3, 4), sc.zeros(1, 1, 3, 4),
                    sc.zeros(1, 1, 5, 4), sc.zeros(1, 1, 5, 4), sc.zeros(4), out.reshape(1, 2, 4)));
            calls.put("splitQkv", () -> be.splitQkv(sc.zeros(1, 2, 10), sc.zeros(1, 1, 2, 4), sc.zeros(1, 1, 2, 4), sc.zeros(1, 1, 2, 4), 0));
            calls.put("concat", () -> be.concat(List.of(sc.zeros(1, 4), sc.zeros(2, 4)), 0, out));
            calls.put("split", () -> be.split(out, 1, List.of(sc.zeros(2, 1), sc.zeros(2, 2))));
            assertEquals(16, calls.size(), "every public operation of Backend is covered");
            for (Map.Entry<String, Executable> e : calls.entrySet()) {
                IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, e.getValue(),
                        name + "/" + e.getKey() + " must reject a wrong shape");
                assertNotNull(ex.getMessage(), name + "/" + e.getKey());
                assertTrue(ex.getMessage().contains(e.getKey()), name + "/" + e.getKey() + ": message names the operation: " + ex.getMessage());
                assertArrayEquals(filled(8, 7f), out.toFloatArray(), name + "/" + e.getKey() + ": nothing written before the check");
            }
            // the F32-only arguments reject other types
            IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
                    () -> be.add(sc.track(Tensor.allocate(DType.BF16, 2, 4)), sc.zeros(2, 4), out));
            assertTrue(ex.getMessage().contains("add") && ex.getMessage().contains("BF16"), ex.getMessage());
            // linear's out must not alias x
            Tensor sq = sc.zeros(3, 3);
            ex = assertThrows(IllegalArgumentException.class, () -> be.linear(sq, sc.zeros(3, 3), null, sq));
            assertTrue(ex.getMessage().contains("linear"), ex.getMessage());
        }
    }

    // ---- selection -------------------------------------------------------------------------------------------

    @Test
    void forcingAnUnknownBackendNamesIt() {
        IllegalStateException ex = assertThrows(IllegalStateException.class, () -> Backends.create("nope", 1));
        assertTrue(ex.getMessage().contains("nope"), ex.getMessage());
        assertTrue(ex.getMessage().contains("scalar"), "the message lists the known backends: " + ex.getMessage());
    }

    @Test
    void vectorBackendIsAvailableAndTestedWhenTheModuleIsPresent() {
        BackendProvider vector = Backends.providers().stream().filter(p -> p.name().equals("vector")).findFirst().orElse(null);
        assertNotNull(vector, "the vector backend is registered through ServiceLoader");
        assertEquals(100, vector.priority());
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()) {
            assertEquals(null, vector.unavailableReason(), "vector backend available with jdk.incubator.vector");
            assertTrue(backends().contains("vector"), "the parameterized tests cover the vector backend");
            try (Backend be = Backends.create("vector", 3)) {
                assertEquals("vector", be.name());
                assertEquals(3, be.threads());
                assertTrue(be.describe().startsWith("vector: Java Vector API") && be.describe().contains("3 threads"), be.describe());
            }
            String best = Backends.providers().stream().filter(p -> p.unavailableReason() == null).findFirst().orElseThrow().name();
            assertFalse(best.equals("scalar"), "the scalar oracle (priority 0) is never the automatic choice when vector can run");
            try (Backend auto = Backends.create(null, 1)) {
                assertEquals(best, auto.name(), "automatic selection takes the highest-priority available backend");
            }
        } else {
            assertFalse(vector.unavailableReason() == null, "without the module the provider must say why");
        }
    }

    @Test
    void closedVectorBackendRefusesWork() {
        // close() is idempotent, and a closed backend refuses work instead of hanging or crashing
        Assumptions.assumeTrue(backends().contains("vector"), "vector backend not available");
        Backend be = create("vector", THREADS);
        be.close();
        be.close();
        try (Scope sc = new Scope()) {
            Tensor x = sc.randn(new Random(1), 64, 64), w = sc.randn(new Random(2), 64, 64), out = sc.zeros(64, 64);
            IllegalStateException ex = assertThrows(IllegalStateException.class, () -> be.linear(x, w, null, out), "vector after close()");
            assertTrue(ex.getMessage().contains("closed"), ex.getMessage());
        }
    }
}
