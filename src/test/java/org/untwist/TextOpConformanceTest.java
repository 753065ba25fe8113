package org.untwist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.untwist.OpConformanceTest.SEED;
import static org.untwist.OpConformanceTest.THREADS;
import static org.untwist.OpConformanceTest.U;
import static org.untwist.OpConformanceTest.assertExactlyEqual;
import static org.untwist.OpConformanceTest.assertWithin;
import static org.untwist.OpConformanceTest.attentionTol;
import static org.untwist.OpConformanceTest.create;
import static org.untwist.OpConformanceTest.ctx;
import static org.untwist.OpConformanceTest.elementwiseTol;
import static org.untwist.OpConformanceTest.layerNormTol;
import static org.untwist.OpConformanceTest.seedOf;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.OpConformanceTest.AttCase;
import org.untwist.OpConformanceTest.Scope;
import org.untwist.backend.Backend;
import org.untwist.backend.ScalarBackend;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * The text encoders' ops (CLIP-L and T5-XXL: {@code multiply}, {@code quickGelu}, affine {@code layerNorm},
 * {@code embedding}, {@code linear} with F8_E4M3 and F8_E5M2 weights, and {@code attention} with a scale, a relative position
 * bias and a causal mask) of every available backend against a fresh {@link ScalarBackend}, on awkward sizes
 * ({@link #DIMS}: 1, 3, 17, 63, 129), head dimensions 2, 18, 64 and 128, Lq ≠ Lk with a position bias, causal lengths
 * off every tile size (1, 5, 13, 77, 100, 150), batch and heads above 1, all four weight/table types at unaligned
 * addresses. Seeds as in {@link OpConformanceTest} ({@code -Duntwist.seed}), printed in every failure message.
 *
 * <p>Tolerances (elementwise {@code |actual − expected| ≤ tol_i}, {@code u = 1e-6}), the helpers of
 * {@link OpConformanceTest} wherever the op is one of its kind:
 * <ul>
 *   <li>{@code multiply}: {@code u·|a·b|}; {@code quickGelu}: {@code u·|x|} (as silu);</li>
 *   <li>affine {@code layerNorm}: the plain layerNorm's tolerance {@link OpConformanceTest#layerNormTol} (which grows
 *       with √D) times {@code |weight_i|}, plus {@code u·(|e_i| + |bias_i|)};</li>
 *   <li>{@code embedding}: a copy, exact (every F32/BF16/F16/F8 value widens exactly), against the table read here
 *       element by element;</li>
 *   <li>{@code linear}: {@link OpConformanceTest#linearTol}, {@code u·|e| + u·√K·‖(x_k·w_k)‖₂};</li>
 *   <li>{@code attention} with scale {@code s} and bias: {@code u·|e_i| + 2u·(1 + A)·max|v|} as in
 *       {@link OpConformanceTest#attentionTol}, with {@code A = max_j (s·Σ_d |q_d·k_jd| + |bias_ij|)} over the keys the
 *       query sees (the bound on the terms of its logits, so the tolerance grows with Dh through A).</li>
 * </ul>
 * The plain {@code attention(q, k, v, out)} and the overload with {@code scale = (float) (1/√Dh)}, no bias and no
 * mask agree within the attention tolerance on every backend, and bit for bit on the vector backend (there both run
 * the same kernel with the same scale).
 */
class TextOpConformanceTest {
    /** Feature dimensions and reduction lengths: one, odd, one past 16, one short of 64, one past 128. */
    static final int[] DIMS = {1, 3, 17, 63, 129};

    static List<String> backends() {
        return TestSupport.availableBackends();
    }

    // ---- elementwise ---------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void multiplyAndQuickGelu(String name) {
        List<int[]> shapes = new ArrayList<>();
        for (int d : DIMS) {
            shapes.add(new int[] {d});
            shapes.add(new int[] {2, 3, d});
        }
        shapes.add(new int[] {0, 5});
        shapes.add(new int[] {7, 10_001}); // large enough to be split into chunks
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (int[] shape : shapes) {
                String what = Arrays.toString(shape);
                long seed = seedOf("multiply/quickGelu", what);
                Random r = new Random(seed);
                try (Scope sc = new Scope()) {
                    Tensor a = sc.normal(r, 3, 0, shape), b = sc.normal(r, 3, 0, shape);
                    for (long i = 0; i < a.numel(); i += 11) { // the tails of the sigmoid, and exact zeros
                        a.set(i, new float[] {0f, -0f, 40f, -40f, 100f, -100f, 1e4f, -1e4f, 1e-30f}[(int) (i / 11 % 9)]);
                    }
                    Tensor got = sc.zeros(shape), want = sc.zeros(shape);
                    float[] av = a.toFloatArray(), bv = b.toFloatArray();

                    be.multiply(a, b, got);
                    oracle.multiply(a, b, want);
                    double[] mulTol = elementwiseTol(a.numel(), i -> Math.abs((double) av[i] * bv[i]));
                    assertWithin(ctx(name, "multiply", seed, what), "multiply", got, want, mulTol);
                    Tensor inPlace = sc.copy(a);
                    be.multiply(inPlace, b, inPlace);
                    assertWithin(ctx(name, "multiply", seed, what + " in place"), "multiply", inPlace, want, mulTol);

                    be.quickGelu(a, got);
                    oracle.quickGelu(a, want);
                    double[] qgTol = elementwiseTol(a.numel(), i -> Math.abs((double) av[i]) + 1e-37);
                    assertWithin(ctx(name, "quickGelu", seed, what), "quickGelu", got, want, qgTol);
                    inPlace = sc.copy(a);
                    be.quickGelu(inPlace, inPlace);
                    assertWithin(ctx(name, "quickGelu", seed, what + " in place"), "quickGelu", inPlace, want, qgTol);
                }
            }
        }
    }

    // ---- affine layerNorm ------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void affineLayerNorm(String name) {
        List<int[]> shapes = new ArrayList<>();
        for (int d : DIMS) {
            shapes.add(new int[] {d});
            shapes.add(new int[] {2, 5, d});
        }
        shapes.add(new int[] {700, 63}); // split into chunks of rows
        shapes.add(new int[] {2, 77, 768}); // CLIP-L
        shapes.add(new int[] {0, 9});
        float[] epsilons = {1e-5f, 1e-6f, 0f};
        int c = 0;
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (int[] shape : shapes) {
                for (boolean withBias : new boolean[] {true, false}) {
                    int d = shape[shape.length - 1];
                    float eps = d == 1 ? 1e-5f : epsilons[c % epsilons.length]; // one element and eps 0: 0/0
                    c++;
                    String what = Arrays.toString(shape) + " eps=" + eps + (withBias ? " weight+bias" : " weight only");
                    long seed = seedOf("affine layerNorm", what);
                    Random r = new Random(seed);
                    try (Scope sc = new Scope()) {
                        Tensor x = sc.normal(r, 2, 0.5, shape);
                        Tensor w = sc.normal(r, 1, 1, d), bias = withBias ? sc.normal(r, 1, 0, d) : null;
                        Tensor got = sc.zeros(shape), want = sc.zeros(shape), plain = sc.zeros(shape);
                        be.layerNorm(x, w, bias, eps, got);
                        oracle.layerNorm(x, w, bias, eps, want);
                        oracle.layerNorm(x, eps, plain);
                        double[] tol = layerNormTol(x, eps, plain, d);
                        float[] e = want.toFloatArray(), wv = w.toFloatArray(), bv = bias == null ? new float[d] : bias.toFloatArray();
                        for (int i = 0; i < tol.length; i++) {
                            tol[i] = tol[i] * Math.abs(wv[i % d]) + U * (Math.abs(e[i]) + Math.abs(bv[i % d])) + 1e-30;
                        }
                        assertWithin(ctx(name, "layerNorm affine", seed, what), "layerNorm affine", got, want, tol);
                        Tensor inPlace = sc.copy(x);
                        be.layerNorm(inPlace, w, bias, eps, inPlace);
                        assertWithin(ctx(name, "layerNorm affine", seed, what + " in place"), "layerNorm affine", inPlace, want, tol);
                    }
                }
            }
        }
    }

    // ---- splitHeads: a pure copy, so exactly equal to the index formula ---------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void splitHeads(String name) {
        int[][] shapes = {{1, 1, 1, 1}, {2, 3, 5, 7}, {1, 64, 13, 64}, {3, 12, 77, 64}, {2, 1, 0, 4}, {1, 5, 9, 2}};
        try (Backend be = create(name, THREADS)) {
            for (int[] s : shapes) {
                int b = s[0], h = s[1], l = s[2], d = s[3];
                long seed = 31L * b + 17L * h + l * 7L + d;
                try (Tensor x = gaussian(seed, b, l, h * d); Tensor out = Tensor.allocate(b, h, l, d)) {
                    out.fill(Float.NaN);
                    be.splitHeads(x, out);
                    for (int bi = 0; bi < b; bi++) {
                        for (int hi = 0; hi < h; hi++) {
                            for (int t = 0; t < l; t++) {
                                for (int di = 0; di < d; di++) {
                                    float want = x.get(((long) (bi * l + t) * h + hi) * d + di);
                                    float got = out.get((((long) bi * h + hi) * l + t) * d + di);
                                    assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), name + " splitHeads "
                                            + java.util.Arrays.toString(s) + " seed " + seed + " at b" + bi + " h" + hi + " t" + t + " d" + di);
                                }
                            }
                        }
                    }
                }
            }
            expect("splitHeads: x has shape [2, 5, 12]", () -> {
                try (Tensor x = Tensor.allocate(2, 5, 12); Tensor out = Tensor.allocate(2, 3, 5, 3)) {
                    be.splitHeads(x, out);
                }
            });
        }
    }

    private static Tensor gaussian(long seed, int... shape) {
        java.util.Random r = new java.util.Random(seed);
        Tensor t = Tensor.allocate(shape);
        for (long i = 0; i < t.numel(); i++) {
            t.set(i, (float) r.nextGaussian());
        }
        return t;
    }

    // ---- embedding and linear with every weight type ---------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void embedding(String name) {
        int[] vocabs = {1, 3, 17, 129};
        int[][] idShapes = {{1}, {5}, {2, 77}, {0}, {3, 13}};
        int c = 0;
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (int d : DIMS) {
                for (DType dt : TestSupport.WEIGHT_TYPES) {
                    int vocab = vocabs[c % vocabs.length];
                    int[] idShape = idShapes[c % idShapes.length];
                    int offset = c % 3;
                    c++;
                    checkEmbedding(be, oracle, name, vocab, d, dt, offset, idShape);
                }
            }
            for (DType dt : TestSupport.WEIGHT_TYPES) {
                checkEmbedding(be, oracle, name, 1000, 768, dt, 1, new int[] {2, 77}); // CLIP-sized rows
            }
        }
    }

    /**
     * Every code of both 8-bit float types widens to what {@link Tensor#get} reads (infinities and zeros bit for bit, NaNs
     * as NaNs): a table whose rows hold all 256 codes, rotated per row so that each code meets every SIMD lane and the
     * scalar tail, gathered by {@code embedding} and multiplied by {@code linear} with one-hot rows (GEMV and GEMM).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void everyF8CodeWidensExactly(String name) {
        int vocab = 19, d = 275;
        try (Backend be = create(name, THREADS); Scope sc = new Scope()) {
            for (DType dt : new DType[] {DType.F8_E4M3, DType.F8_E5M2}) {
                Tensor table = sc.track(Tensor.allocate(dt, vocab, d));
                for (int v = 0; v < vocab; v++) {
                    for (int k = 0; k < d; k++) {
                        table.segment().set(java.lang.foreign.ValueLayout.JAVA_BYTE, (long) v * d + k, (byte) (k + 37 * v));
                    }
                }
                int[] ids = new int[vocab];
                for (int v = 0; v < vocab; v++) {
                    ids[v] = vocab - 1 - v;
                }
                Tensor got = sc.zeros(vocab, d);
                be.embedding(table, ids, got);
                for (int v = 0; v < vocab; v++) {
                    for (int k = 0; k < d; k++) {
                        assertSameValue(name + " embedding " + dt + " row " + ids[v] + " column " + k, table.get((long) ids[v] * d + k),
                                got.get((long) v * d + k));
                    }
                }
                // linear: out[r, c] = Σ_k x[r, k]·w[c, k] with x one-hot at k = r: w[c, r] exactly (0·inf and 0·NaN are NaN,
                // so only finite codes, whose products with 0 vanish; the codes reach every lane through the rotation)
                Tensor w = sc.track(Tensor.allocate(dt, vocab, d));
                for (long i = 0; i < w.numel(); i++) {
                    float f = table.get(i);
                    w.set(i, Float.isFinite(f) ? f : 0f);
                }
                for (int rows : new int[] {3, 200}) {
                    Tensor x = sc.zeros(rows, d), out = sc.zeros(rows, vocab);
                    for (int r = 0; r < rows; r++) {
                        x.set((long) r * d + r % d, 1f);
                    }
                    be.linear(x, w, null, out);
                    for (int r = 0; r < rows; r++) {
                        for (int c = 0; c < vocab; c++) {
                            float want = w.get((long) c * d + r % d), o = out.get((long) r * vocab + c);
                            // a −0 weight gives +0: the sum starts at +0 and the other terms are ±0
                            assertTrue(want == o, name + " linear " + dt + " rows " + rows + " [" + r + ", " + c + "]: want " + want + ", got " + o);
                        }
                    }
                }
            }
        }
    }

    private static void assertSameValue(String what, float want, float got) {
        if (Float.isNaN(want)) {
            assertTrue(Float.isNaN(got), what + ": want NaN, got " + got);
        } else {
            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), what + ": want " + want + ", got " + got);
        }
    }

    private static void checkEmbedding(Backend be, ScalarBackend oracle, String name, int vocab, int d, DType dt, int offset,
                                       int[] idShape) {
        String what = "table [" + vocab + ", " + d + "] " + dt + " at byte offset " + offset + ", ids " + Arrays.toString(idShape);
        long seed = seedOf("embedding", what);
        Random r = new Random(seed);
        try (Scope sc = new Scope()) {
            Tensor table = sc.weight(r, dt, offset, vocab, d);
            int n = Arrays.stream(idShape).reduce(1, (x, y) -> x * y);
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) {
                ids[i] = i % 4 == 3 ? vocab - 1 : i % 5 == 2 ? 0 : r.nextInt(vocab); // repeats and both ends
            }
            int[] outShape = Arrays.copyOf(idShape, idShape.length + 1);
            outShape[idShape.length] = d;
            Tensor got = sc.zeros(outShape), want = sc.zeros(outShape);
            be.embedding(table, ids, got);
            oracle.embedding(table, ids, want);
            float[] expected = new float[n * d];
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < d; k++) {
                    expected[i * d + k] = table.get((long) ids[i] * d + k);
                }
            }
            assertExactlyEqual(ctx("scalar", "embedding", seed, what), want, expected);
            assertExactlyEqual(ctx(name, "embedding", seed, what), got, expected);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void linearWithEveryWeightType(String name) {
        int[] rowsCycle = {1, 2, 5, 77, 9};
        int[] outCycle = {1, 3, 17, 64, 130};
        int c = 0;
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (int in : DIMS) {
                for (DType dt : TestSupport.WEIGHT_TYPES) {
                    int rows = rowsCycle[c % rowsCycle.length], out = outCycle[c % outCycle.length];
                    c++;
                    OpConformanceTest.checkLinear(be, oracle, name, c % 2 == 0 ? new int[] {rows, in} : new int[] {2, rows, in}, out, dt,
                            c % 3 != 0, c % 4);
                }
            }
            // GEMM (from 8 rows) and GEMV paths with several blocks, T5-like widths
            for (DType dt : TestSupport.WEIGHT_TYPES) {
                OpConformanceTest.checkLinear(be, oracle, name, new int[] {77, 129}, 300, dt, true, 3);
                OpConformanceTest.checkLinear(be, oracle, name, new int[] {3, 513}, 65, dt, false, 1);
                OpConformanceTest.checkLinear(be, oracle, name, new int[] {1, 300, 63}, 97, dt, true, 2);
            }
        }
    }

    // ---- attention with scale, position bias and causal mask -------------------------------------------------

    /** One masked-attention problem: the plain case's tensors plus the scale, the bias {@code [Lq+Lk-1, H]} or null, causal. */
    record MaskedCase(AttCase att, float scale, Tensor bias, boolean causal) {
        void run(Backend be, Tensor out) {
            be.attention(att.q(), att.k(), att.v(), scale, bias, causal, out);
        }

        String describe() {
            return "B=" + att.b() + " H=" + att.h() + " Lq=" + att.lq() + " Lk=" + att.lk() + " Dh=" + att.d() + " scale=" + scale
                    + (bias == null ? "" : " positionBias") + (causal ? " causal" : "");
        }
    }

    static MaskedCase maskedCase(Scope sc, Random r, int b, int h, int lq, int lk, int d, float scale, boolean withBias, boolean causal) {
        AttCase att = OpConformanceTest.attCase(sc, r, b, h, lq, lk, d, 1, -1, 1, false);
        Tensor bias = null;
        if (withBias) {
            bias = sc.zeros(lq + lk - 1, h);
            for (long i = 0; i < bias.numel(); i++) {
                // T5's buckets: a few large negative offsets that all but remove keys, most within a few units
                bias.set(i, i % 9 == 4 ? (float) (-30 + r.nextGaussian()) : (float) (3 * r.nextGaussian()));
            }
        }
        return new MaskedCase(att, scale, bias, causal);
    }

    /** {@code u·|e_i| + 2u·(1 + A)·max|v|} with {@code A = max_j (scale·Σ_d |q_d·k_jd| + |bias_ij|)} over visible keys. */
    static double[] maskedTol(MaskedCase c, Tensor want) {
        AttCase a = c.att();
        int b = a.b(), h = a.h(), lq = a.lq(), lk = a.lk(), d = a.d();
        float[] q = a.q().toFloatArray(), k = a.k().toFloatArray(), v = a.v().toFloatArray(), e = want.toFloatArray();
        double[] tol = new double[e.length];
        for (int bi = 0; bi < b; bi++) {
            for (int hi = 0; hi < h; hi++) {
                int head = bi * h + hi;
                double vmax = 0;
                for (int j = 0; j < lk * d; j++) {
                    vmax = Math.max(vmax, Math.abs(v[head * lk * d + j]));
                }
                for (int i = 0; i < lq; i++) {
                    double terms = 0;
                    for (int j = 0; j < (c.causal() ? i + 1 : lk); j++) {
                        double s = 0;
                        for (int dd = 0; dd < d; dd++) {
                            s += Math.abs((double) q[(head * lq + i) * d + dd] * k[(head * lk + j) * d + dd]);
                        }
                        double bias = c.bias() == null ? 0 : Math.abs(c.bias().get((long) (j - i + lq - 1) * h + hi));
                        terms = Math.max(terms, c.scale() * s + bias);
                    }
                    for (int dd = 0; dd < d; dd++) {
                        int o = ((bi * lq + i) * h + hi) * d + dd;
                        tol[o] = U * Math.abs(e[o]) + 2 * U * (1 + terms) * vmax + 1e-30;
                    }
                }
            }
        }
        return tol;
    }

    private static void checkMasked(Backend be, ScalarBackend oracle, String name, String test, int b, int h, int lq, int lk, int d,
                                    float scale, boolean withBias, boolean causal) {
        String what = "B=" + b + " H=" + h + " Lq=" + lq + " Lk=" + lk + " Dh=" + d + " scale=" + scale + (withBias ? " bias" : "")
                + (causal ? " causal" : "");
        long seed = seedOf(test, what);
        try (Scope sc = new Scope()) {
            MaskedCase c = maskedCase(sc, new Random(seed), b, h, lq, lk, d, scale, withBias, causal);
            Tensor got = c.att().outShaped(sc), want = c.att().outShaped(sc);
            c.run(be, got);
            c.run(oracle, want);
            assertWithin(ctx(name, "attention masked", seed, c.describe()), "attention masked", got, want, maskedTol(c, want));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void attentionWithPositionBias(String name) {
        // Lq ≠ Lk both ways, beyond one key block (72) and one query block (2·lanes), lengths off every tile
        int[][] lengths = {{1, 1}, {5, 67}, {67, 5}, {13, 100}, {77, 77}, {100, 13}, {1, 150}, {130, 200}};
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (int d : new int[] {64, 128, 18, 2}) {
                for (int[] bh : new int[][] {{1, 1}, {2, 3}}) {
                    for (int[] len : lengths) {
                        float scale = len[0] % 2 == 0 ? 1f : 0.37f; // T5 uses 1 (no 1/√Dh)
                        checkMasked(be, oracle, name, "attention bias", bh[0], bh[1], len[0], len[1], d, scale, true, false);
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void causalAttention(String name) {
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (int d : new int[] {64, 128, 18, 2}) {
                float clip = (float) (1 / Math.sqrt(d));
                for (int[] bh : new int[][] {{1, 1}, {2, 3}}) {
                    for (int l : new int[] {1, 5, 13, 77, 100, 150}) {
                        checkMasked(be, oracle, name, "attention causal", bh[0], bh[1], l, l, d, clip, false, true);
                        checkMasked(be, oracle, name, "attention causal+bias", bh[0], bh[1], l, l, d, 1f, true, true);
                    }
                }
            }
        }
    }

    /** The plain overload is the scaled one with {@code 1/√Dh}, no bias, no mask: within tolerance, bitwise on vector. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void plainAttentionIsTheScaledOverload(String name) {
        int[][] lengths = {{1, 1}, {5, 67}, {67, 5}, {77, 77}, {130, 200}};
        try (Backend be = create(name, THREADS)) {
            for (int d : new int[] {64, 128, 18, 2}) {
                for (int[] len : lengths) {
                    String what = "B=2 H=3 Lq=" + len[0] + " Lk=" + len[1] + " Dh=" + d;
                    long seed = seedOf("attention plain vs overload", what);
                    try (Scope sc = new Scope()) {
                        AttCase c = OpConformanceTest.attCase(sc, new Random(seed), 2, 3, len[0], len[1], d, 1, -1, 1, false);
                        Tensor plain = c.outShaped(sc), scaled = c.outShaped(sc);
                        be.attention(c.q(), c.k(), c.v(), plain);
                        be.attention(c.q(), c.k(), c.v(), (float) (1 / Math.sqrt(d)), null, false, scaled);
                        String msg = ctx(name, "attention overload", seed, what + ": plain vs scale 1/√Dh, no bias, not causal");
                        assertWithin(msg, "attention overload", scaled, plain, attentionTol(c, plain));
                        if (name.equals("vector")) {
                            assertExactlyEqual(msg + " (bitwise)", scaled, plain.toFloatArray());
                        }
                    }
                }
            }
        }
    }

    // ---- one backend instance, shapes changing from call to call ---------------------------------------------

    /** Per-thread buffers sized by an earlier call must still fit a later, differently shaped one (one thread). */
    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void shapesChangingOnOneBackend(String name) {
        // {B, H, L_q, L_k, Dh, causal, bias}
        int[][] shapes = {{1, 1, 77, 77, 64, 1, 0}, {1, 4, 300, 300, 8, 0, 1}, {2, 3, 7, 200, 128, 0, 1}, {1, 1, 150, 150, 2, 1, 1},
                {1, 2, 40, 40, 256, 1, 0}, {2, 2, 13, 13, 18, 1, 1}};
        try (Backend be = create(name, 1); ScalarBackend oracle = new ScalarBackend()) {
            for (int i = 0; i < shapes.length; i++) {
                int[] s = shapes[i];
                checkMasked(be, oracle, name, "masked sequence", s[0], s[1], s[2], s[3], s[4], s[5] == 1 ? 0.125f : 1f, s[6] == 1,
                        s[5] == 1);
                int d = DIMS[i % DIMS.length];
                checkEmbedding(be, oracle, name, 50 + i, d * (i + 1), TestSupport.WEIGHT_TYPES[i % TestSupport.WEIGHT_TYPES.length], i % 3,
                        new int[] {1 + 7 * i});
                OpConformanceTest.checkLinear(be, oracle, name, new int[] {1 + 13 * i, d}, 5 + 11 * i, TestSupport.WEIGHT_TYPES[(i + 1) % TestSupport.WEIGHT_TYPES.length], true, 1);
            }
        }
    }

    // ---- bad input -------------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void badInputGetsOneClearMessage(String name) {
        try (Backend be = create(name, THREADS); Scope sc = new Scope()) {
            Random r = new Random(SEED);
            Tensor f8 = sc.weight(r, DType.F8_E4M3, 1, 10, 4);
            Tensor out = sc.zeros(3, 4);
            expect("id 10 at position 2", () -> be.embedding(f8, new int[] {0, 9, 10}, out));
            expect("id -1 at position 0", () -> be.embedding(f8, new int[] {-1, 0, 1}, out));
            expect("out", () -> be.embedding(f8, new int[] {0, 1}, out)); // 2 ids, 3 rows
            Tensor f8Out = Tensor.allocate(DType.F8_E4M3, 3, 4);
            sc.track(f8Out);
            expect("out", () -> be.embedding(f8, new int[] {0, 1, 2}, f8Out)); // outputs are float32
            Tensor f8Flat = Tensor.wrap(f8.segment(), DType.F8_E4M3, 40);
            expect("table", () -> be.embedding(f8Flat, new int[] {0}, out)); // a table is [V, D]
            expect("x", () -> be.linear(f8Out, f8, null, sc.zeros(3, 10))); // activations are float32

            Tensor q = sc.randn(r, 1, 2, 5, 8), k = sc.randn(r, 1, 2, 7, 8), v = sc.randn(r, 1, 2, 7, 8);
            Tensor o = sc.zeros(1, 5, 16);
            expect("positionBias", () -> be.attention(q, k, v, 1f, sc.zeros(11, 3), false, o)); // needs [11, 2]
            expect("positionBias", () -> be.attention(q, k, v, 1f, sc.zeros(12, 2), false, o));
            expect("causal", () -> be.attention(q, k, v, 1f, null, true, o)); // Lq 5 ≠ Lk 7
            expect("scale", () -> be.attention(q, k, v, Float.NaN, null, false, o));
            expect("scale", () -> be.attention(q, k, v, 0f, null, false, o));
        }
    }

    private static void expect(String fragment, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call, "expected a message naming '" + fragment + "'");
        assertTrue(e.getMessage().contains(fragment), "message should name '" + fragment + "': " + e.getMessage());
    }
}
