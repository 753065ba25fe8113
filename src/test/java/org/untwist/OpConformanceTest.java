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
 *   <li>{@code layerNorm} (length D): {@code tol_i = 2u·√D·(1 + |e_i|)·max(1, M/σ)}, {@code M} the row's largest |x| and
 *       {@code σ = √(var + eps)} (centering loses {@code M/σ} digits); {@code rmsNorm}: {@code tol_i = 2u·√D·|e_i| + 1e-7};</li>
 *   <li>attention: {@code tol_i = u·|e_i| + 2u·(1 + A)·max|v|}, where {@code A = max_j Σ_d |q_d·k_jd·s_d| / √Dh} bounds
 *       the terms of the query row's logits ({@code s} the reference key scale, 1 for own keys; reference keys are
 *       the used ones, from {@code refStart}) and {@code max|v|} is over the values of that batch element and head;</li>
 *   <li>{@code attentionProbs}: {@code tol_i = p_i·(u + 4u·(1 + A)) + 1e-37} (a logit error moves {@code p_i} by
 *       {@code p_i·(δ_i − Σ p_j δ_j)}); rows sum to 1 within {@code u·(1 + √n)}; {@code probs·[v; refV]} matches the
 *       attention output within {@code u·|e| + 6u·(1 + A)·max|v|} (attention's error plus the probabilities');</li>
 *   <li>{@code chunkLogits}: {@code tol = u·|e| + 2u·√m_c·S_c}, {@code S_c = Σ_{d ∈ band c} |q_d·k_d| / √Dh} over the band's
 *       {@code m_c} channels; per-chunk terms sum to the logit within {@code 1e-5·Σ_d |q_d·k_d| / √Dh};</li>
 *   <li>{@code adaIn}: {@code tol_i = u·|e_i| + 2u·√n·(g·(M_x + |x_i − μ_x|) + M_ref)} with {@code g = σ_ref/σ_x}, {@code M}
 *       the channel's largest |value| and {@code n} the token count of the statistics; text tokens exact;</li>
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

        /**
         * A weight matrix of {@code dtype} that starts {@code offset} bytes into a larger allocation (unaligned); GGUF's
         * block-quantized types as {@link QuantizedWeightsConformanceTest#randomBlocks} makes them.
         */
        Tensor weight(Random r, DType dtype, int offset, int out, int in) {
            if (dtype.isBlockQuantized()) {
                return QuantizedWeightsConformanceTest.randomBlocks(this, r, dtype, offset, out, in);
            }
            long bytes = (long) out * in * dtype.byteSize();
            Tensor backing = zeros((int) ((bytes + offset) / 4 + 2));
            Tensor w = Tensor.wrap(backing.segment().asSlice(offset, bytes), dtype, out, in);
            for (long i = 0; i < w.numel(); i++) {
                double v = 0.5 * r.nextGaussian();
                if (dtype == DType.F16 && i % 17 == 5) {
                    v = 3e-6 * r.nextGaussian(); // binary16 subnormals
                } else if (dtype == DType.F8_E5M2 && i % 17 == 5) {
                    v = 4e-5 * r.nextGaussian(); // e5m2 subnormals (below 2^-14)
                } else if (dtype == DType.F8_E5M2 && i % 29 == 11) {
                    v = 1e3 * r.nextGaussian(); // beyond e4m3's 448, well inside e5m2's 57344
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
                for (DType dt : TestSupport.WEIGHT_TYPES) {
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
            for (DType dt : TestSupport.WEIGHT_TYPES) {
                checkLinear(be, oracle, name, new int[] {131, 207}, 71, dt, true, 2);
                checkLinear(be, oracle, name, new int[] {2, 3, 64}, 130, dt, false, 1);
            }
            // GEMM blocking edges {rows, in, out}: partial tiles, several K/row/column blocks, the GEMV switch
            int[][] gemmShapes = {{1, 515, 257}, {5, 300, 100}, {37, 17, 33}, {37, 515, 100}, {130, 300, 257}, {130, 1, 33},
                    {130, 515, 1}, {8, 300, 33}, {9, 17, 257}, {37, 300, 1}, {130, 17, 100}, {5, 1, 257},
                    {250, 260, 530}, {13, 33, 1100}, {517, 15, 47},
                    // more rows than one task (720), a second column block (2048), K large enough to shrink the row tasks
                    {1500, 70, 300}, {40, 20, 2100}, {800, 3100, 40}};
            for (int i = 0; i < gemmShapes.length; i++) {
                int[] g = gemmShapes[i];
                for (DType dt : TestSupport.WEIGHT_TYPES) {
                    checkLinear(be, oracle, name, new int[] {g[0], g[1]}, g[2], dt, i % 2 == 0, i % 3);
                }
            }
        }
    }

    /**
     * {@code linearGeluTanh} (which a backend may fuse) against the oracle's {@code linear} then {@code geluTanh}: the
     * linear tolerance times 1.2 (the GELU's slope is at most 1.13) plus the GELU's own rounding.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void linearGeluTanh(String name) {
        int[][] shapes = {{1, 7, 5}, {3, 64, 33}, {37, 300, 100}, {130, 17, 257}, {2, 515, 1}}; // rows, in, out
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (int i = 0; i < shapes.length; i++) {
                int[] g = shapes[i];
                DType dt = TestSupport.WEIGHT_TYPES[i % TestSupport.WEIGHT_TYPES.length];
                boolean withBias = i % 2 == 0;
                long seed = seedOf("linearGeluTanh", java.util.Arrays.toString(g), dt, withBias);
                Random r = new Random(seed);
                try (Scope sc = new Scope()) {
                    Tensor x = sc.randn(r, g[0], g[1]);
                    Tensor w = sc.weight(r, dt, i % 3, g[2], g[1]);
                    Tensor bias = withBias ? sc.randn(r, g[2]) : null;
                    Tensor got = sc.zeros(g[0], g[2]), want = sc.zeros(g[0], g[2]);
                    be.linearGeluTanh(x, w, bias, got);
                    oracle.linear(x, w, bias, want);
                    double[] tol = linearTol(x, w, want, g[1], g[2]);
                    oracle.geluTanh(want, want);
                    float[] e = want.toFloatArray();
                    for (int k = 0; k < tol.length; k++) {
                        tol[k] = 1.2 * tol[k] + 4 * U * Math.abs(e[k]) + 1e-30;
                    }
                    assertWithin(ctx(name, "linearGeluTanh", seed, "x [" + g[0] + ", " + g[1] + "], w [" + g[2] + ", " + g[1] + "] " + dt
                            + (withBias ? ", bias" : "")), "linearGeluTanh", got, want, tol);
                }
            }
        }
    }

    static void checkLinear(Backend be, ScalarBackend oracle, String name, int[] xShape, int outDim, DType dt, boolean withBias,
                                    int offset) {
        checkLinear(be, oracle, name, "linear", "linear", xShape, outDim, dt, withBias, offset);
    }

    /** As above, with the label the seed is derived from and the label of the failure message. */
    static void checkLinear(Backend be, ScalarBackend oracle, String name, String seedLabel, String what, int[] xShape, int outDim, DType dt,
                            boolean withBias, int offset) {
        int in = xShape[xShape.length - 1];
        long seed = seedOf(seedLabel, java.util.Arrays.toString(xShape), outDim, dt, withBias, offset);
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
                    + " at byte offset " + offset + (withBias ? ", bias" : "")), what, got, want, tol);
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
                    double[] lnTol = layerNormTol(x, eps, want, d);
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

    /**
     * {@code 2u·√D·(1 + |e_i|)·max(1, M/σ)} per element of a layerNorm over rows of {@code D}: {@code M} the row's
     * largest |x|, {@code σ = √(var + eps)} (in double). Centering costs about {@code u·M} absolutely, which the division
     * by σ turns into {@code u·M/σ}: rows whose spread is small against their values (σ ≪ M) lose that many digits in
     * every backend.
     */
    static double[] layerNormTol(Tensor x, float eps, Tensor want, int d) {
        float[] xv = x.toFloatArray(), e = want.toFloatArray();
        double[] tol = new double[e.length];
        for (int row = 0; d > 0 && row < e.length / d; row++) {
            double m = 0, mean = 0, var = 0;
            for (int i = 0; i < d; i++) {
                m = Math.max(m, Math.abs(xv[row * d + i]));
                mean += xv[row * d + i];
            }
            mean /= d;
            for (int i = 0; i < d; i++) {
                double c = xv[row * d + i] - mean;
                var += c * c;
            }
            double cond = Math.max(1, m / Math.sqrt(var / d + eps));
            for (int i = 0; i < d; i++) {
                tol[row * d + i] = 2 * U * Math.sqrt(d) * (1 + Math.abs(e[row * d + i])) * cond;
            }
        }
        return tol;
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

    /**
     * One attention problem; {@code refK == null} for plain attention. The reference keys and values used are
     * tokens {@code [refStart, Lr)} of {@code refK}/{@code refV}; the ones before are "text" tokens to be skipped.
     */
    record AttCase(Tensor q, Tensor k, Tensor v, Tensor refK, Tensor refV, int refStart, Tensor scale) {
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

        int lk() {
            return k.dim(2);
        }

        /** Reference keys used (0 without a reference). */
        int lr() {
            return refK == null ? 0 : refK.dim(2) - refStart;
        }

        Tensor outShaped(Scope sc) {
            return sc.zeros(b(), lq(), h() * d());
        }

        Tensor probsShaped(Scope sc) {
            return sc.zeros(b(), h(), lq(), lk() + lr());
        }

        void run(Backend be, Tensor out) {
            if (refK == null) {
                be.attention(q, k, v, out);
            } else {
                be.sharedAttention(q, k, v, refK, refV, refStart, scale, out);
            }
        }

        void probs(Backend be, Tensor out) {
            be.attentionProbs(q, k, refK, refStart, scale, out);
        }
    }

    static AttCase attCase(Scope sc, Random r, int b, int h, int lq, int lk, int d, double qStd, int lr, int refBatch, boolean withScale) {
        return attCase(sc, r, b, h, lq, lk, d, qStd, lr, 0, refBatch, withScale);
    }

    /**
     * A case with {@code lr} reference tokens used after {@code refStart} leading "text" tokens; those are drawn
     * large (mean 3, std 3) so that a kernel that does not skip them is far off.
     */
    static AttCase attCase(Scope sc, Random r, int b, int h, int lq, int lk, int d, double qStd, int lr, int refStart, int refBatch,
                           boolean withScale) {
        Tensor q = sc.normal(r, qStd, 0, b, h, lq, d), k = sc.randn(r, b, h, lk, d), v = sc.randn(r, b, h, lk, d);
        if (lr < 0) {
            return new AttCase(q, k, v, null, null, 0, null);
        }
        int lrTot = refStart + lr;
        Tensor refK = sc.randn(r, refBatch, h, lrTot, d), refV = sc.randn(r, refBatch, h, lrTot, d);
        Tensor scale = null;
        if (withScale) {
            scale = sc.zeros(d / 2);
            for (int p = 0; p < d / 2; p++) {
                scale.set(p, p % 7 == 3 ? 0f : (float) (1.5 * r.nextDouble()));
            }
        }
        for (int rb = 0; rb < refBatch; rb++) {
            for (int hi = 0; hi < h; hi++) {
                for (int t = 0; t < refStart; t++) {
                    for (int dd = 0; dd < d; dd++) {
                        long i = (((long) rb * h + hi) * lrTot + t) * d + dd;
                        refK.set(i, (float) (3 + 3 * r.nextGaussian()));
                        refV.set(i, (float) (3 + 3 * r.nextGaussian()));
                    }
                }
            }
        }
        return new AttCase(q, k, v, refK, refV, refStart, scale);
    }

    /**
     * Per query row {@code (b, h, i)} of a case ({@code [B·H·Lq]}): {@code a} = A, the bound on the terms of the row's
     * logits ({@code max_j Σ_d |q_d·k_jd·s_d| / √Dh} over own and used reference keys), and {@code vmax} = the largest
     * {@code |v|} over the values that row attends to.
     */
    record RowBounds(double[] a, double[] vmax) {
    }

    static RowBounds rowBounds(AttCase c) {
        int b = c.b(), h = c.h(), lq = c.lq(), d = c.d(), lk = c.lk();
        int lr = c.lr(), lrTot = c.refK() == null ? 0 : c.refK().dim(2), r0 = c.refStart();
        int refBatch = c.refK() == null ? 1 : c.refK().dim(0);
        float[] q = c.q().toFloatArray(), k = c.k().toFloatArray(), v = c.v().toFloatArray();
        float[] rk = c.refK() == null ? new float[0] : c.refK().toFloatArray(), rv = c.refK() == null ? new float[0] : c.refV().toFloatArray();
        double[] aRow = new double[b * h * lq], vRow = new double[b * h * lq];
        double inv = 1 / Math.sqrt(d);
        for (int bi = 0; bi < b; bi++) {
            int rb = refBatch == 1 ? 0 : bi;
            for (int hi = 0; hi < h; hi++) {
                double vmax = 0;
                for (int j = 0; j < lk * d; j++) {
                    vmax = Math.max(vmax, Math.abs(v[((bi * h + hi) * lk) * d + j]));
                }
                for (int j = 0; j < lr * d; j++) {
                    vmax = Math.max(vmax, Math.abs(rv[((rb * h + hi) * lrTot + r0) * d + j]));
                }
                for (int i = 0; i < lq; i++) {
                    int qo = ((bi * h + hi) * lq + i) * d;
                    double a = 0;
                    for (int j = 0; j < lk + lr; j++) {
                        double s = 0;
                        for (int dd = 0; dd < d; dd++) {
                            double kv = j < lk ? k[((bi * h + hi) * lk + j) * d + dd] : rk[((rb * h + hi) * lrTot + r0 + j - lk) * d + dd];
                            double sc = j < lk || c.scale() == null ? 1 : c.scale().get(dd / 2);
                            s += Math.abs(q[qo + dd] * kv * sc);
                        }
                        a = Math.max(a, s * inv);
                    }
                    aRow[(bi * h + hi) * lq + i] = a;
                    vRow[(bi * h + hi) * lq + i] = vmax;
                }
            }
        }
        return new RowBounds(aRow, vRow);
    }

    /** {@code u·|e| + 2u·(1 + A)·max|v|} per output element (see the class comment). */
    static double[] attentionTol(AttCase c, Tensor want) {
        return attentionOutTol(c, want, 2);
    }

    /** {@code u·|e| + m·u·(1 + A)·max|v|} per element of an attention output {@code [B, Lq, H·Dh]}. */
    static double[] attentionOutTol(AttCase c, Tensor want, double m) {
        int b = c.b(), h = c.h(), lq = c.lq(), d = c.d();
        RowBounds rb = rowBounds(c);
        float[] e = want.toFloatArray();
        double[] tol = new double[e.length];
        for (int bi = 0; bi < b; bi++) {
            for (int hi = 0; hi < h; hi++) {
                for (int i = 0; i < lq; i++) {
                    int row = (bi * h + hi) * lq + i;
                    for (int dd = 0; dd < d; dd++) {
                        int o = ((bi * lq + i) * h + hi) * d + dd;
                        tol[o] = U * Math.abs(e[o]) + m * U * (1 + rb.a()[row]) * rb.vmax()[row] + 1e-30;
                    }
                }
            }
        }
        return tol;
    }

    /**
     * {@code p_i·(u + 4u·(1 + A)) + 1e-37} per probability: a logit error δ (at most about {@code 2u(1 + A)}, as for
     * attention) moves {@code p_i} by {@code p_i·(δ_i − Σ_j p_j δ_j)}; {@code u·p_i} covers exp and normalization, and
     * the absolute floor probabilities that underflow to float subnormals.
     */
    static double[] probsTol(AttCase c, Tensor want) {
        RowBounds rb = rowBounds(c);
        int n = c.lk() + c.lr();
        float[] e = want.toFloatArray();
        double[] tol = new double[e.length];
        for (int i = 0; i < e.length; i++) {
            tol[i] = Math.abs(e[i]) * (U + 4 * U * (1 + rb.a()[i / n])) + 1e-37;
        }
        return tol;
    }

    /** {@code Σ_j p[b, h, i, j]·[v; refV_used]_j} in double: the attention output the probabilities imply. */
    static Tensor probsTimesValues(Scope sc, AttCase c, Tensor probs) {
        int b = c.b(), h = c.h(), lq = c.lq(), d = c.d(), lk = c.lk(), lr = c.lr();
        int lrTot = c.refK() == null ? 0 : c.refK().dim(2), refBatch = c.refK() == null ? 1 : c.refK().dim(0);
        float[] p = probs.toFloatArray(), v = c.v().toFloatArray(), rv = c.refK() == null ? new float[0] : c.refV().toFloatArray();
        Tensor out = c.outShaped(sc);
        double[] acc = new double[d];
        for (int bi = 0; bi < b; bi++) {
            int rb = refBatch == 1 ? 0 : bi;
            for (int hi = 0; hi < h; hi++) {
                for (int i = 0; i < lq; i++) {
                    java.util.Arrays.fill(acc, 0);
                    int pRow = ((bi * h + hi) * lq + i) * (lk + lr);
                    for (int j = 0; j < lk + lr; j++) {
                        int vRow = j < lk ? ((bi * h + hi) * lk + j) * d : ((rb * h + hi) * lrTot + c.refStart() + j - lk) * d;
                        float[] vs = j < lk ? v : rv;
                        for (int dd = 0; dd < d; dd++) {
                            acc[dd] += (double) p[pRow + j] * vs[vRow + dd];
                        }
                    }
                    for (int dd = 0; dd < d; dd++) {
                        out.set(((long) (bi * lq + i) * h + hi) * d + dd, (float) acc[dd]);
                    }
                }
            }
        }
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void attention(String name) {
        // beyond one key block, several query blocks and tasks per head, lengths off the tiles
        int[][] lengths = {{1, 1}, {5, 67}, {67, 5}, {67, 67}, {17, 130}, {3, 0}, {130, 200}, {33, 129}, {40, 64}, {200, 7}};
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

    /**
     * One backend instance, one thread, attention calls whose shapes change from call to call: per-thread buffers
     * sized by an earlier call must still fit. The first pair once threw ArrayIndexOutOfBoundsException in the
     * vector backend (running max/sum arrays grown only with the packed queries).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void attentionShapesChangingOnOneBackend(String name) {
        int[][] shapes = {{1, 1, 32, 32, 128}, {1, 8, 512, 512, 8}, {2, 3, 7, 300, 64}, {1, 1, 900, 40, 2}, {1, 2, 40, 40, 256}};
        try (Backend be = create(name, 1); ScalarBackend oracle = new ScalarBackend()) {
            for (int[] s : shapes) {
                String what = "B=" + s[0] + " H=" + s[1] + " Lq=" + s[2] + " Lk=" + s[3] + " Dh=" + s[4] + " after the shapes before it";
                long seed = seedOf("attention sequence", what);
                try (Scope sc = new Scope()) {
                    AttCase c = attCase(sc, new Random(seed), s[0], s[1], s[2], s[3], s[4], 1, -1, 1, false);
                    Tensor got = c.outShaped(sc), want = c.outShaped(sc);
                    c.run(be, got);
                    c.run(oracle, want);
                    assertWithin(ctx(name, "attention", seed, what), "attention", got, want, attentionTol(c, want));
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void sharedAttention(String name) {
        int[][] lengths = {{5, 67}, {67, 5}, {1, 1}, {4, 0}, {70, 130}};
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (int d : new int[] {64, 128, 18}) {
                for (int b : new int[] {1, 2}) {
                    for (int refBatch : b == 1 ? new int[] {1} : new int[] {1, b}) {
                        for (int lr : new int[] {0, 1, 5, 67}) {
                            // refStart > 0: the reference tensor holds leading text tokens that must be skipped; with
                            // lr = 0 that is refStart == Lr, an empty reference
                            for (int refStart : new int[] {0, 3}) {
                                for (boolean withScale : new boolean[] {false, true}) {
                                    for (int[] len : lengths) {
                                        if (len[1] == 0 && lr == 0) {
                                            continue; // an empty softmax is covered by attention()
                                        }
                                        String what = "B=" + b + " refBatch=" + refBatch + " H=2 Lq=" + len[0] + " Lk=" + len[1] + " Lr=" + lr
                                                + (refStart > 0 ? " after " + refStart + " text tokens (refStart)" : "") + " Dh=" + d
                                                + (withScale ? " scaled" : " unscaled");
                                        long seed = seedOf("sharedAttention", what);
                                        Random r = new Random(seed);
                                        try (Scope sc = new Scope()) {
                                            AttCase c = attCase(sc, r, b, 2, len[0], len[1], d, 2, lr, refStart, refBatch, withScale);
                                            Tensor got = c.outShaped(sc), want = c.outShaped(sc);
                                            c.run(be, got);
                                            c.run(oracle, want);
                                            double[] tol = attentionTol(c, want);
                                            assertWithin(ctx(name, "sharedAttention", seed, what), "sharedAttention", got, want, tol);
                                            if (lr == 0) {
                                                // an empty reference range is plain attention
                                                Tensor plain = c.outShaped(sc);
                                                be.attention(c.q(), c.k(), c.v(), plain);
                                                assertWithin(ctx(name, "sharedAttention", seed, what + " vs attention"), "sharedAttention", got, plain, tol);
                                            }
                                            if (refStart > 0 && lr > 0) {
                                                // the same keys without the text tokens, as a tensor of their own, give the same result
                                                AttCase cut = new AttCase(c.q(), c.k(), c.v(), tokens(sc, c.refK(), refStart),
                                                        tokens(sc, c.refV(), refStart), 0, c.scale());
                                                Tensor noText = c.outShaped(sc);
                                                cut.run(be, noText);
                                                assertWithin(ctx(name, "sharedAttention", seed, what + " vs reference without text tokens"),
                                                        "sharedAttention", got, noText, tol);
                                            }
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
                be.sharedAttention(c.q(), c.k(), c.v(), c.refK(), c.refV(), 0, ones, got);
                oracle.sharedAttention(c.q(), c.k(), c.v(), c.refK(), c.refV(), 0, null, want);
                assertWithin(ctx(name, "sharedAttention", seed, "refKeyScale all ones vs null"), "sharedAttention", got, want, attentionTol(c, want));
                Tensor different = c.outShaped(sc);
                Tensor half = sc.track(Tensor.of(filled(32, 0.25f), 32));
                be.sharedAttention(c.q(), c.k(), c.v(), c.refK(), c.refV(), 0, half, different);
                assertTrue(TestSupport.maxAbsDiff(different, got) > 1e-3,
                        ctx(name, "sharedAttention", seed, "refKeyScale 0.25 must change the result"));
            }
        }
    }

    // ---- analysis operations -----------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void attentionProbs(String name) {
        int[][] lengths = {{5, 67}, {17, 5}, {1, 1}, {4, 0}};
        // {lr, refStart}: lr < 0 is no reference (refK null); {0, 3} is an empty reference range (refStart == Lr)
        int[][] refs = {{-1, 0}, {5, 0}, {67, 3}, {0, 3}};
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            int c = 0;
            for (int d : new int[] {64, 128, 18, 2}) {
                for (int[] bRef : new int[][] {{1, 1}, {2, 1}, {2, 2}}) {
                    for (int[] ref : refs) {
                        for (int[] len : lengths) {
                            int lr = ref[0], refStart = ref[1];
                            if (len[1] == 0 && lr <= 0) {
                                continue; // an empty softmax
                            }
                            boolean withScale = lr >= 0 && c++ % 2 == 0;
                            String what = "B=" + bRef[0] + " refBatch=" + bRef[1] + " H=2 Lq=" + len[0] + " Lk=" + len[1]
                                    + (lr < 0 ? " no reference" : " Lr=" + lr + " refStart=" + refStart) + " Dh=" + d
                                    + (withScale ? " scaled" : "");
                            long seed = seedOf("attentionProbs", what);
                            Random r = new Random(seed);
                            try (Scope sc = new Scope()) {
                                AttCase ac = attCase(sc, r, bRef[0], 2, len[0], len[1], d, 2, lr, refStart, bRef[1], withScale);
                                Tensor got = ac.probsShaped(sc), want = ac.probsShaped(sc);
                                got.copyFrom(filled((int) got.numel(), 7f)); // every probability is written
                                ac.probs(be, got);
                                ac.probs(oracle, want);
                                assertWithin(ctx(name, "attentionProbs", seed, what), "attentionProbs", got, want, probsTol(ac, want));

                                // every row is a distribution: |Σ_j p_j − 1| ≤ u·(1 + √n)
                                int n = ac.lk() + ac.lr();
                                float[] p = got.toFloatArray();
                                for (int row = 0; row < p.length / n; row++) {
                                    double sum = 0;
                                    for (int j = 0; j < n; j++) {
                                        assertTrue(p[row * n + j] >= 0, ctx(name, "attentionProbs", seed, what + " row " + row + " negative"));
                                        sum += p[row * n + j];
                                    }
                                    assertEquals(1.0, sum, U * (1 + Math.sqrt(n)), ctx(name, "attentionProbs", seed, what + " row " + row + " sum"));
                                }

                                // probs · [v; refV] is the (shared) attention output
                                Tensor att = ac.outShaped(sc);
                                ac.run(be, att);
                                Tensor implied = probsTimesValues(sc, ac, got);
                                assertWithin(ctx(name, "attentionProbs", seed, what + " probs·V vs " + (lr < 0 ? "attention" : "sharedAttention")),
                                        "attentionProbs·V", implied, att, attentionOutTol(ac, att, 6));

                                if (lr == 0) {
                                    // an empty reference range gives the probabilities of plain attention (refK null)
                                    Tensor plain = ac.probsShaped(sc);
                                    be.attentionProbs(ac.q(), ac.k(), null, 0, null, plain);
                                    assertWithin(ctx(name, "attentionProbs", seed, what + " vs refK null"), "attentionProbs", got, plain,
                                            probsTol(ac, want));
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** Chunk {@code p} of {@code pairs} in band {@code 3p / pairs}: low, middle and high thirds. */
    static int[] thirds(int pairs) {
        int[] band = new int[pairs];
        for (int p = 0; p < pairs; p++) {
            band[p] = 3 * p / pairs;
        }
        return band;
    }

    /**
     * {@code u·|e| + 2u·√m_c·S_c + 1e-30} per band value, {@code S_c = Σ_{d ∈ band c} |q_d·k_d| / √Dh} over the band's
     * {@code m_c} channels (the terms the band sums).
     */
    static double[] chunkLogitsTol(Tensor q, Tensor k, int[] chunkBand, int bands, Tensor want) {
        int b = q.dim(0), h = q.dim(1), lq = q.dim(2), d = q.dim(3), lk = k.dim(2);
        float[] qv = q.toFloatArray(), kv = k.toFloatArray(), e = want.toFloatArray();
        double[] tol = new double[e.length];
        double inv = 1 / Math.sqrt(d);
        int[] m = new int[bands];
        for (int band : chunkBand) {
            m[band] += 2;
        }
        double[] sAbs = new double[bands];
        for (int bh = 0; bh < b * h; bh++) {
            for (int i = 0; i < lq; i++) {
                for (int j = 0; j < lk; j++) {
                    java.util.Arrays.fill(sAbs, 0);
                    for (int dd = 0; dd < d; dd++) {
                        sAbs[chunkBand[dd / 2]] += Math.abs((double) qv[(bh * lq + i) * d + dd] * kv[(bh * lk + j) * d + dd]) * inv;
                    }
                    int o = ((bh * lq + i) * lk + j) * bands;
                    for (int band = 0; band < bands; band++) {
                        tol[o + band] = U * Math.abs(e[o + band]) + 2 * U * Math.sqrt(m[band]) * sAbs[band] + 1e-30;
                    }
                }
            }
        }
        return tol;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void chunkLogits(String name) {
        int[][] lengths = {{1, 1}, {5, 67}, {17, 9}};
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (int d : new int[] {64, 128, 18, 2}) {
                int pairs = d / 2;
                for (int[] bh : new int[][] {{1, 1}, {2, 3}}) {
                    for (int[] len : lengths) {
                        String what = "B=" + bh[0] + " H=" + bh[1] + " Lq=" + len[0] + " Lk=" + len[1] + " Dh=" + d;
                        long seed = seedOf("chunkLogits", what);
                        Random r = new Random(seed);
                        try (Scope sc = new Scope()) {
                            Tensor q = sc.normal(r, 2, 0, bh[0], bh[1], len[0], d), k = sc.randn(r, bh[0], bh[1], len[1], d);
                            int[] identity = new int[pairs];
                            for (int p = 0; p < pairs; p++) {
                                identity[p] = p;
                            }
                            int[] random = new int[pairs];
                            for (int p = 0; p < pairs; p++) {
                                random[p] = r.nextInt(3); // of 4 bands: band 3 stays empty, so 0
                            }
                            int[] reversed = new int[pairs];
                            for (int p = 0; p < pairs; p++) {
                                reversed[p] = pairs - 1 - p;
                            }
                            // few bands and many bands take different paths in the vector backend
                            int[][] mappings = {identity, thirds(pairs), random, reversed};
                            int[] bandCounts = {pairs, 3, 4, pairs};
                            String[] names = {"per chunk", "thirds", "random of 4 bands", "per chunk reversed"};
                            Tensor[] gots = new Tensor[mappings.length];
                            for (int m = 0; m < mappings.length; m++) {
                                int bands = bandCounts[m];
                                int[] shape = {bh[0], bh[1], len[0], len[1], bands};
                                Tensor got = sc.zeros(shape), want = sc.zeros(shape);
                                got.copyFrom(filled((int) got.numel(), 7f)); // the output is overwritten, not added to
                                be.chunkLogits(q, k, mappings[m], bands, got);
                                oracle.chunkLogits(q, k, mappings[m], bands, want);
                                assertWithin(ctx(name, "chunkLogits", seed, what + " " + names[m]), "chunkLogits", got, want,
                                        chunkLogitsTol(q, k, mappings[m], bands, want));
                                gots[m] = got;
                            }

                            // the per-chunk terms sum to the logit q·k/√Dh: |Σ_p t_p − ℓ| ≤ 1e-5·Σ_d |q_d k_d| / √Dh
                            float[] qv = q.toFloatArray(), kv = k.toFloatArray(), perChunk = gots[0].toFloatArray();
                            float[] third = gots[1].toFloatArray();
                            double[] thirdTol = chunkLogitsTol(q, k, mappings[1], 3, gots[1]);
                            double inv = 1 / Math.sqrt(d);
                            for (int bhi = 0; bhi < bh[0] * bh[1]; bhi++) {
                                for (int i = 0; i < len[0]; i++) {
                                    for (int j = 0; j < len[1]; j++) {
                                        double logit = 0, mag = 0;
                                        for (int dd = 0; dd < d; dd++) {
                                            double t = (double) qv[(bhi * len[0] + i) * d + dd] * kv[(bhi * len[1] + j) * d + dd];
                                            logit += t * inv;
                                            mag += Math.abs(t) * inv;
                                        }
                                        int ij = (bhi * len[0] + i) * len[1] + j;
                                        double sum = 0;
                                        double[] bandSum = new double[3];
                                        for (int p = 0; p < pairs; p++) {
                                            sum += perChunk[ij * pairs + p];
                                            bandSum[mappings[1][p]] += perChunk[ij * pairs + p];
                                        }
                                        String at = " (b·h " + bhi + ", i " + i + ", j " + j + ")";
                                        assertEquals(logit, sum, 1e-5 * mag + 1e-30, ctx(name, "chunkLogits", seed, what + " Σ chunks = logit" + at));
                                        for (int band = 0; band < 3; band++) {
                                            // two approximations of one value: twice the band tolerance
                                            assertEquals(bandSum[band], third[ij * 3 + band], 2 * thirdTol[ij * 3 + band],
                                                    ctx(name, "chunkLogits", seed, what + " third " + band + " = Σ of its chunks" + at));
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** Per channel of each (batch, head): mean, unbiased std without eps and max |x| over tokens {@code [from, L)}. */
    static double[][] channelStats(Tensor x, int from) {
        int bh = x.dim(0) * x.dim(1), l = x.dim(2), d = x.dim(3);
        float[] v = x.toFloatArray();
        double[][] st = new double[3][bh * d];
        int n = l - from;
        for (int g = 0; g < bh; g++) {
            for (int dd = 0; dd < d; dd++) {
                double mean = 0, max = 0;
                for (int t = from; t < l; t++) {
                    double xv = v[(g * l + t) * d + dd];
                    mean += xv;
                    max = Math.max(max, Math.abs(xv));
                }
                mean /= n;
                double var = 0;
                for (int t = from; t < l; t++) {
                    double c = v[(g * l + t) * d + dd] - mean;
                    var += c * c;
                }
                st[0][g * d + dd] = mean;
                st[1][g * d + dd] = Math.sqrt(var / (n - 1));
                st[2][g * d + dd] = max;
            }
        }
        return st;
    }

    /**
     * {@code u·|e| + 2u·√n·(g·(M_x + |x − μ_x|) + M_ref)} per output token at or after tokenStart, {@code g = σ_ref/σ_x}
     * the channel's gain, {@code M} the largest |value| of the channel, {@code n} the longer of the two token ranges:
     * statistics summed in float are off by about {@code √n} ulps of their terms; tokens before tokenStart are
     * exact copies (tolerance 0).
     */
    static double[] adaInTol(Tensor x, Tensor ref, int tokenStart, float eps, Tensor want) {
        int b = x.dim(0), h = x.dim(1), l = x.dim(2), d = x.dim(3);
        double[][] xs = channelStats(x, tokenStart), rs = channelStats(ref, tokenStart);
        int n = Math.max(l, ref.dim(2)) - tokenStart;
        float[] xv = x.toFloatArray(), e = want.toFloatArray();
        double[] tol = new double[e.length];
        for (int g = 0; g < b * h; g++) {
            int hi = g % h;
            for (int t = tokenStart; t < l; t++) {
                for (int dd = 0; dd < d; dd++) {
                    int i = (g * l + t) * d + dd, c = g * d + dd, rc = hi * d + dd;
                    double sx = Math.sqrt(xs[1][c] * xs[1][c] + eps), sr = Math.sqrt(rs[1][rc] * rs[1][rc] + eps);
                    double gain = sr / sx;
                    tol[i] = U * Math.abs(e[i]) + 2 * U * Math.sqrt(n) * (gain * (xs[2][c] + Math.abs(xv[i] - xs[0][c])) + rs[2][rc]) + 1e-30;
                }
            }
        }
        return tol;
    }

    /** x: per (head, channel) mean in [−2, 2] and std in [0.3, 3]; tokens before tokenStart: mean 10, std 5 (text). */
    static Tensor adaInInput(Scope sc, Random r, int b, int h, int l, int d, int tokenStart) {
        Tensor x = sc.zeros(b, h, l, d);
        double[] mean = new double[h * d], std = new double[h * d];
        for (int c = 0; c < h * d; c++) {
            mean[c] = 4 * r.nextDouble() - 2;
            std[c] = 0.3 + 2.7 * r.nextDouble();
        }
        for (int bi = 0; bi < b; bi++) {
            for (int hi = 0; hi < h; hi++) {
                for (int t = 0; t < l; t++) {
                    for (int dd = 0; dd < d; dd++) {
                        int c = hi * d + dd;
                        double v = t < tokenStart ? 10 + 5 * r.nextGaussian() : mean[c] + std[c] * r.nextGaussian();
                        x.set((((long) bi * h + hi) * l + t) * d + dd, (float) v);
                    }
                }
            }
        }
        return x;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void adaIn(String name) {
        // {B, H, L, Lref, tokenStart}
        int[][] sizes = {{1, 1, 2, 2, 0}, {2, 3, 5, 9, 3}, {1, 2, 67, 30, 0}, {2, 2, 200, 150, 7}, {1, 1, 131, 140, 64}};
        float[] epsilons = {1e-5f, 1e-6f, 0f};
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            int c = 0;
            for (int d : new int[] {1, 7, 8, 9, 16, 17, 64, 128}) {
                for (int[] sz : sizes) {
                    float eps = epsilons[c++ % epsilons.length];
                    int b = sz[0], h = sz[1], l = sz[2], lRef = sz[3], tokenStart = sz[4];
                    String what = "x [" + b + ", " + h + ", " + l + ", " + d + "] ref [1, " + h + ", " + lRef + ", " + d + "] tokenStart "
                            + tokenStart + " eps " + eps;
                    long seed = seedOf("adaIn", what);
                    Random r = new Random(seed);
                    try (Scope sc = new Scope()) {
                        Tensor x = adaInInput(sc, r, b, h, l, d, tokenStart), ref = adaInInput(sc, r, 1, h, lRef, d, tokenStart);
                        Tensor got = sc.zeros(b, h, l, d), want = sc.zeros(b, h, l, d);
                        got.copyFrom(filled((int) got.numel(), 7f));
                        be.adaIn(x, ref, tokenStart, eps, got);
                        oracle.adaIn(x, ref, tokenStart, eps, want);
                        double[] tol = adaInTol(x, ref, tokenStart, eps, want);
                        assertWithin(ctx(name, "adaIn", seed, what), "adaIn", got, want, tol);
                        assertTextTokensCopied(ctx(name, "adaIn", seed, what), got, x, tokenStart);

                        Tensor inPlace = sc.copy(x);
                        be.adaIn(inPlace, ref, tokenStart, eps, inPlace);
                        assertWithin(ctx(name, "adaIn", seed, what + " in place"), "adaIn", inPlace, want, tol);
                        assertTextTokensCopied(ctx(name, "adaIn", seed, what + " in place"), inPlace, x, tokenStart);

                        // with eps = 0 every output channel over [tokenStart, L) has the reference's mean and (unbiased) std:
                        // |μ_out − μ_ref| ≤ 2u·√n·(M_ref + g·M_x), |σ_out − σ_ref| ≤ 2u·√n·(σ_ref + M_ref)
                        Tensor exact = sc.zeros(b, h, l, d);
                        be.adaIn(x, ref, tokenStart, 0f, exact);
                        double[][] os = channelStats(exact, tokenStart), rs = channelStats(ref, tokenStart), xs = channelStats(x, tokenStart);
                        double sqn = Math.sqrt(Math.max(l, lRef) - tokenStart);
                        for (int g = 0; g < b * h; g++) {
                            for (int dd = 0; dd < d; dd++) {
                                int ch = g * d + dd, rc = (g % h) * d + dd;
                                double gain = rs[1][rc] / xs[1][ch];
                                String at = what + " eps 0, channel " + dd + " of batch·head " + g;
                                assertEquals(rs[0][rc], os[0][ch], 2 * U * sqn * (rs[2][rc] + gain * xs[2][ch]),
                                        ctx(name, "adaIn", seed, at + ": mean"));
                                assertEquals(rs[1][rc], os[1][ch], 2 * U * sqn * (rs[1][rc] + rs[2][rc]), ctx(name, "adaIn", seed, at + ": std"));
                            }
                        }
                    }
                }
            }
        }
    }

    /** Tokens before tokenStart of {@code out} are bit-identical to those of {@code x}. */
    static void assertTextTokensCopied(String ctx, Tensor out, Tensor x, int tokenStart) {
        int bh = x.dim(0) * x.dim(1), l = x.dim(2), d = x.dim(3);
        for (int g = 0; g < bh; g++) {
            for (int e = 0; e < tokenStart * d; e++) {
                long i = (long) g * l * d + e;
                if (Float.floatToRawIntBits(out.get(i)) != Float.floatToRawIntBits(x.get(i))) {
                    fail(ctx + ": text token element " + i + " is " + out.get(i) + ", expected the input's " + x.get(i));
                }
            }
        }
    }

    /** A copy of tokens {@code [from, L)} of a {@code [B, H, L, D]} tensor. */
    static Tensor tokens(Scope sc, Tensor t, int from) {
        int b = t.dim(0), h = t.dim(1), l = t.dim(2), d = t.dim(3);
        Tensor out = sc.zeros(b, h, l - from, d);
        for (int bh = 0; bh < b * h; bh++) {
            for (long e = 0; e < (long) (l - from) * d; e++) {
                out.set((long) bh * (l - from) * d + e, t.get(((long) bh * l + from) * d + e));
            }
        }
        return out;
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
            AttCase attText = new AttCase(att.q(), att.k(), att.v(), att.refK(), att.refV(), 6, att.scale());

            Map<String, Tensor> reference = new LinkedHashMap<>();
            Map<String, double[]> tols = new LinkedHashMap<>();
            for (int threads : new int[] {1, 2, 3}) {
                Map<String, Tensor> res = new LinkedHashMap<>();
                try (Backend be = create(name, threads)) {
                    assertEquals(name.equals("scalar") || name.equals("gpu") ? 1 : threads, be.threads(), name + ": threads()"); // gpu: one host thread drives the device
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
                    res.put("attentionProbs", attText.probsShaped(sc));
                    attText.probs(be, res.get("attentionProbs"));
                    res.put("chunkLogits", sc.zeros(2, 3, 67, 130, 3));
                    be.chunkLogits(att.q(), att.k(), thirds(32), 3, res.get("chunkLogits"));
                    res.put("adaIn", sc.zeros(att.q().shape()));
                    be.adaIn(att.q(), att.refK(), 5, 1e-5f, res.get("adaIn"));
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
                    tols.put("attentionProbs", probsTol(attText, res.get("attentionProbs")));
                    tols.put("chunkLogits", chunkLogitsTol(att.q(), att.k(), thirds(32), 3, res.get("chunkLogits")));
                    tols.put("adaIn", adaInTol(att.q(), att.refK(), 5, 1e-5f, res.get("adaIn")));
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
            for (DType dt : TestSupport.WEIGHT_TYPES) {
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
            AttCase afterText = new AttCase(att.q(), att.k(), att.v(), att.refK(), att.refV(), 5, att.scale());
            probes.add(new Probe("sharedAttention refStart", new int[] {1, 17, 128}, afterText::run, e -> attentionTol(afterText, e)));
            probes.add(new Probe("attentionProbs", new int[] {1, 2, 17, 67 + 33 - 5}, afterText::probs, e -> probsTol(afterText, e)));
            Tensor q5 = sc.normal(r, 2, 0, 1, 2, 5, 64);
            int[] thirds = thirds(32);
            probes.add(new Probe("chunkLogits", new int[] {1, 2, 5, 67, 3}, (b, o) -> b.chunkLogits(q5, att.k(), thirds, 3, o),
                    e -> chunkLogitsTol(q5, att.k(), thirds, 3, e)));
            probes.add(new Probe("adaIn", att.k().shape(), (b, o) -> b.adaIn(att.k(), att.refK(), 3, 1e-5f, o),
                    e -> adaInTol(att.k(), att.refK(), 3, 1e-5f, e)));

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
                    sc.zeros(1, 1, 5, 4), sc.zeros(1, 1, 5, 4), 0, sc.zeros(4), out.reshape(1, 2, 4)));
            calls.put("attentionProbs", () -> be.attentionProbs(sc.zeros(1, 1, 2, 4), sc.zeros(1, 1, 3, 4), null, 0, null,
                    out.reshape(1, 1, 2, 4)));
            calls.put("chunkLogits", () -> be.chunkLogits(sc.zeros(1, 1, 2, 4), sc.zeros(1, 1, 3, 4), new int[] {0, 1}, 2,
                    out.reshape(1, 1, 2, 2, 2)));
            calls.put("adaIn", () -> be.adaIn(sc.zeros(1, 1, 4, 2), sc.zeros(1, 2, 4, 2), 0, 1e-5f, out.reshape(1, 1, 4, 2)));
            calls.put("splitQkv", () -> be.splitQkv(sc.zeros(1, 2, 10), sc.zeros(1, 1, 2, 4), sc.zeros(1, 1, 2, 4), sc.zeros(1, 1, 2, 4), 0));
            calls.put("concat", () -> be.concat(List.of(sc.zeros(1, 4), sc.zeros(2, 4)), 0, out));
            calls.put("split", () -> be.split(out, 1, List.of(sc.zeros(2, 1), sc.zeros(2, 2))));
            assertEquals(19, calls.size(), "every public operation of Backend is covered");
            for (Map.Entry<String, Executable> e : calls.entrySet()) {
                IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, e.getValue(),
                        name + "/" + e.getKey() + " must reject a wrong shape");
                assertNotNull(ex.getMessage(), name + "/" + e.getKey());
                assertTrue(ex.getMessage().contains(e.getKey()), name + "/" + e.getKey() + ": message names the operation: " + ex.getMessage());
                assertArrayEquals(filled(8, 7f), out.toFloatArray(), name + "/" + e.getKey() + ": nothing written before the check");
            }
            // invalid arguments other than shapes: refStart outside [0, Lr], a negative or NaN reference key scale,
            // refStart or a scale without a reference, a chunk band out of range, too few tokens for AdaIN
            Tensor q = sc.zeros(1, 1, 2, 4), k = sc.zeros(1, 1, 3, 4), refK = sc.zeros(1, 1, 5, 4);
            Tensor negative = sc.track(Tensor.of(new float[] {1f, -0.5f}, 2)), nan = sc.track(Tensor.of(new float[] {Float.NaN, 1f}, 2));
            Map<String, Executable> invalid = new LinkedHashMap<>();
            invalid.put("sharedAttention refStart 6 > Lr 5", () -> be.sharedAttention(q, k, k, refK, refK, 6, null, out.reshape(1, 2, 4)));
            invalid.put("sharedAttention refStart -1", () -> be.sharedAttention(q, k, k, refK, refK, -1, null, out.reshape(1, 2, 4)));
            invalid.put("sharedAttention negative scale", () -> be.sharedAttention(q, k, k, refK, refK, 0, negative, out.reshape(1, 2, 4)));
            invalid.put("sharedAttention NaN scale", () -> be.sharedAttention(q, k, k, refK, refK, 0, nan, out.reshape(1, 2, 4)));
            invalid.put("attentionProbs refStart 6 > Lr 5", () -> be.attentionProbs(q, k, refK, 6, null, out.reshape(1, 1, 2, 4)));
            invalid.put("attentionProbs negative scale", () -> be.attentionProbs(q, k, refK, 4, negative, out.reshape(1, 1, 2, 4)));
            invalid.put("attentionProbs refStart without reference", () -> be.attentionProbs(q, k, null, 1, null, out.reshape(1, 1, 2, 4)));
            invalid.put("attentionProbs scale without reference", () -> be.attentionProbs(q, sc.zeros(1, 1, 4, 4), null, 0, sc.zeros(2),
                    out.reshape(1, 1, 2, 4)));
            invalid.put("chunkLogits band 2 of 2", () -> be.chunkLogits(q, q, new int[] {0, 2}, 2, out.reshape(1, 1, 2, 2, 2)));
            invalid.put("chunkLogits chunkBand length", () -> be.chunkLogits(q, q, new int[] {0}, 2, out.reshape(1, 1, 2, 2, 2)));
            invalid.put("adaIn tokenStart leaves 1 token", () -> be.adaIn(sc.zeros(1, 1, 4, 2), sc.zeros(1, 1, 4, 2), 3, 1e-5f,
                    out.reshape(1, 1, 4, 2)));
            invalid.put("adaIn negative eps", () -> be.adaIn(sc.zeros(1, 1, 4, 2), sc.zeros(1, 1, 4, 2), 0, -1f, out.reshape(1, 1, 4, 2)));
            for (Map.Entry<String, Executable> e : invalid.entrySet()) {
                String op = e.getKey().substring(0, e.getKey().indexOf(' '));
                IllegalArgumentException iae = assertThrows(IllegalArgumentException.class, e.getValue(), name + "/" + e.getKey() + " must be rejected");
                assertTrue(iae.getMessage() != null && iae.getMessage().contains(op),
                        name + "/" + e.getKey() + ": message names the operation: " + iae.getMessage());
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
            if (System.getProperty("untwist.test.backends") == null) { // unless the run is restricted to other backends
                assertTrue(backends().contains("vector"), "the parameterized tests cover the vector backend");
            }
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
