package org.untwist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.untwist.OpConformanceTest.SEED;
import static org.untwist.OpConformanceTest.THREADS;
import static org.untwist.OpConformanceTest.U;
import static org.untwist.OpConformanceTest.assertWithin;
import static org.untwist.OpConformanceTest.create;
import static org.untwist.OpConformanceTest.ctx;
import static org.untwist.OpConformanceTest.seedOf;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.OpConformanceTest.Scope;
import org.untwist.backend.Backend;
import org.untwist.backend.ScalarBackend;
import org.untwist.tensor.Tensor;

/**
 * The fused operations against the operations they stand for, on the scalar oracle: {@code splitQkvNormRope} (split,
 * QK-norm, RoPE of one stream written at a token offset) and {@code layerNormModulate} (adaLN's norm and modulation).
 * linearConcat against concat then linear. Awkward head dimensions (2, 18, 34, odd 17 without RoPE), text-sized and odd token counts, a stream at an offset
 * and one at 0 building a joint sequence, a batch of 2 with a shared and a per-batch table, every shape on one
 * backend instance in turn. Tolerances (u = 1e-6, as {@link OpConformanceTest}): v and the untouched tokens exact;
 * q and k {@code 2u·√D·(|m_a·y_0| + |m_b·y_1|) + 1e-7} with {@code y} the oracle's normalized pair before the
 * rotation {@code m} (the RMS norm's bound carried through the 2 × 2 rotation), {@code |y| + 1e-7} scaled the
 * same way without RoPE; layerNormModulate the layerNorm bound times {@code |1 + scale|} plus the modulation's
 * {@code u·(|(1 + scale)·y| + |shift|)}. Seeds are in every failure message.
 */
class FusedOpConformanceTest {
    static final float SENTINEL = -7.25f;

    static List<String> backends() {
        return OpConformanceTest.backends();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void splitQkvNormRope(String name) {
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            // {b, heads, d, first stream's tokens, second stream's tokens, pe batch (0: no RoPE)}
            int[][] cases = {
                {1, 2, 128, 5, 67, 1}, {1, 3, 64, 256, 1, 1}, {2, 2, 18, 7, 13, 1}, {2, 2, 18, 7, 13, 2}, {2, 1, 34, 1, 1, 2},
                {1, 2, 2, 9, 4, 1}, {1, 2, 17, 3, 5, 0}, {2, 3, 64, 11, 6, 0}, {1, 24, 128, 32, 96, 1},
            };
            for (int[] c : cases) {
                int b = c[0], h = c[1], d = c[2], la = c[3], lb = c[4], peBatch = c[5], lTot = la + lb;
                String what = "b=" + b + " h=" + h + " Dh=" + d + " tokens " + la + " + " + lb + (peBatch == 0 ? ", no RoPE" : ", pe batch " + peBatch);
                long seed = seedOf("splitQkvNormRope", what);
                Random r = new Random(seed);
                try (Scope sc = new Scope()) {
                    Tensor qkvA = sc.normal(r, 2, 0.3, b, la, 3 * h * d), qkvB = sc.normal(r, 2, -0.2, b, lb, 3 * h * d);
                    Tensor qScaleA = sc.normal(r, 0.5, 1, d), kScaleA = sc.normal(r, 0.5, 1, d);
                    Tensor qScaleB = sc.normal(r, 0.5, 1, d), kScaleB = sc.normal(r, 0.5, 1, d);
                    Tensor pe = peBatch == 0 ? null : sc.randn(r, peBatch, 1, lTot, d / 2, 2, 2); // a general 2 × 2 per pair
                    float eps = 1e-6f;
                    Tensor[] got = {sc.zeros(b, h, lTot, d), sc.zeros(b, h, lTot, d), sc.zeros(b, h, lTot, d)};
                    for (Tensor t : got) {
                        t.fill(SENTINEL);
                    }
                    // The first stream at its offset, then the second at 0: the joint sequence as FLUX's double block builds it.
                    be.splitQkvNormRope(qkvA, qScaleA, kScaleA, eps, pe, got[0], got[1], got[2], lb);
                    Expected a = expected(oracle, sc, qkvA, qScaleA, kScaleA, eps, pe, lb, lTot);
                    for (int which = 0; which < 3; which++) { // the second stream's tokens still hold the sentinel
                        assertRange(name, seed, what + ", first stream only, part " + which, got[which], a.parts[which], a.tol[which], lb, la,
                                lTot, true);
                    }
                    be.splitQkvNormRope(qkvB, qScaleB, kScaleB, eps, pe, got[0], got[1], got[2], 0);
                    Expected e = expected(oracle, sc, qkvB, qScaleB, kScaleB, eps, pe, 0, lTot);
                    for (int which = 0; which < 3; which++) {
                        assertRange(name, seed, what + ", part " + which + " (second stream)", got[which], e.parts[which], e.tol[which], 0, lb,
                                lTot, false);
                        assertRange(name, seed, what + ", part " + which + " (first stream kept)", got[which], a.parts[which], a.tol[which], lb, la,
                                lTot, false);
                    }
                }
            }
        }
    }

    /** A stream's q, k, v {@code [b, h, l, d]} by the separate oracle operations, and each element's tolerance. */
    private record Expected(float[][] parts, double[][] tol) {
    }

    private static Expected expected(ScalarBackend oracle, Scope sc, Tensor qkv, Tensor qScale, Tensor kScale, float eps, Tensor pe, int off,
                                     int lTot) {
        int b = qkv.dim(0), l = qkv.dim(1), d = qScale.dim(0), h = qkv.dim(2) / (3 * d);
        Tensor q = sc.zeros(b, h, l, d), k = sc.zeros(b, h, l, d), v = sc.zeros(b, h, l, d);
        oracle.splitQkv(qkv, q, k, v, 0);
        oracle.rmsNorm(q, qScale, eps, q);
        oracle.rmsNorm(k, kScale, eps, k);
        float[][] normed = {q.toFloatArray(), k.toFloatArray()};
        float[] table = null;
        if (pe != null) { // the table's rows of this stream's tokens, for each of its batches
            int peBatch = pe.dim(0), rowFloats = d / 2 * 4;
            float[] all = pe.toFloatArray();
            table = new float[peBatch * l * rowFloats];
            for (int pb = 0; pb < peBatch; pb++) {
                System.arraycopy(all, (pb * lTot + off) * rowFloats, table, pb * l * rowFloats, l * rowFloats);
            }
            Tensor rows = sc.track(Tensor.of(table, peBatch, 1, l, d / 2, 2, 2));
            oracle.applyRope(q, rows, q);
            oracle.applyRope(k, rows, k);
        }
        double[][] tol = new double[3][(int) q.numel()];
        for (int which = 0; which < 2; which++) {
            float[] y = normed[which];
            for (int i = 0; i < y.length; i++) {
                int dd = i % d, first = i - dd % 2;
                double mag;
                if (table == null) {
                    mag = Math.abs(y[i]);
                } else {
                    int row = i / d, t = row % l, bi = row / (h * l), pb = pe.dim(0) == 1 ? 0 : bi;
                    int m = (pb * l + t) * (d / 2) * 4 + (dd / 2) * 4 + (dd % 2) * 2;
                    mag = Math.abs((double) table[m] * y[first]) + Math.abs((double) table[m + 1] * y[first + 1]);
                }
                tol[which][i] = 2 * U * Math.sqrt(d) * mag + 1e-7;
            }
        }
        return new Expected(new float[][] {q.toFloatArray(), k.toFloatArray(), v.toFloatArray()}, tol); // tol[2]: v exact
    }

    /**
     * Tokens {@code [off, off + l)} of {@code got [b, h, lTot, d]} match {@code want [b, h, l, d]}; with
     * {@code restSentinel} every other token still holds {@link #SENTINEL}.
     */
    private static void assertRange(String backend, long seed, String what, Tensor got, float[] want, double[] tol, int off, int l, int lTot,
                                    boolean restSentinel) {
        int b = got.dim(0), h = got.dim(1), d = got.dim(3);
        float[] g = got.toFloatArray();
        float[] slice = new float[want.length];
        for (int bh = 0; bh < b * h; bh++) {
            for (int t = 0; t < lTot; t++) {
                boolean inside = t >= off && t < off + l;
                for (int dd = 0; dd < d; dd++) {
                    float v = g[(bh * lTot + t) * d + dd];
                    if (inside) {
                        slice[(bh * l + t - off) * d + dd] = v;
                    } else if (restSentinel && v != SENTINEL) {
                        throw new AssertionError(ctx(backend, "splitQkvNormRope", seed, what) + ": token " + t + " outside [" + off + ", "
                                + (off + l) + ") was written: " + v);
                    }
                }
            }
        }
        assertWithin(ctx(backend, "splitQkvNormRope", seed, what), "splitQkvNormRope", sliceTensor(slice, b, h, l, d), sliceTensor(want, b, h, l, d),
                tol);
    }

    private static Tensor sliceTensor(float[] v, int... shape) {
        return Tensor.of(v, shape);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void layerNormModulate(String name) {
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            int[][] shapes = {{1, 5, 3072}, {2, 3, 1024}, {2, 7, 13}, {1, 1, 1}, {2, 4, 1031}, {1, 0, 64}};
            for (int[] shape : shapes) {
                String what = Arrays.toString(shape);
                long seed = seedOf("layerNormModulate", what);
                Random r = new Random(seed);
                int d = shape[2];
                float eps = 1e-6f;
                try (Scope sc = new Scope()) {
                    Tensor x = sc.normal(r, 2, 0.5, shape);
                    Tensor shift = sc.normal(r, 0.5, 0, shape[0], d), scale = sc.normal(r, 0.5, 0, shape[0], d);
                    Tensor got = sc.zeros(shape), want = sc.zeros(shape), normed = sc.zeros(shape);
                    be.layerNormModulate(x, eps, shift, scale, got);
                    oracle.layerNorm(x, eps, normed);
                    oracle.modulate(normed, shift, scale, want);
                    double[] lnTol = OpConformanceTest.layerNormTol(x, eps, normed, d);
                    float[] y = normed.toFloatArray(), sh = shift.toFloatArray(), sc1 = scale.toFloatArray();
                    double[] tol = new double[y.length];
                    for (int i = 0; i < y.length; i++) {
                        int bi = i / (shape[1] * d), c = i % d;
                        double s1 = 1 + (double) sc1[bi * d + c];
                        tol[i] = lnTol[i] * Math.abs(s1) + U * (Math.abs(s1 * y[i]) + Math.abs(sh[bi * d + c]));
                    }
                    assertWithin(ctx(name, "layerNormModulate", seed, what), "layerNormModulate", got, want, tol);
                    // In place, and equal to the same backend's own two operations (one pass or two, the same float32 values).
                    Tensor inPlace = sc.copy(x);
                    be.layerNormModulate(inPlace, eps, shift, scale, inPlace);
                    Tensor twoOps = sc.zeros(shape);
                    be.layerNorm(x, eps, twoOps);
                    be.modulate(twoOps, shift, scale, twoOps);
                    assertArrayEquals(twoOps.toFloatArray(), got.toFloatArray(),
                            ctx(name, "layerNormModulate", seed, what) + ": one pass and the backend's two operations differ");
                    assertArrayEquals(got.toFloatArray(), inPlace.toFloatArray(),
                            ctx(name, "layerNormModulate", seed, what) + ": in place differs from out of place");
                }
            }
        }
    }

    /**
     * linearConcat against the oracle's concat then linear, with linear's tolerance ({@link OpConformanceTest#linearTol}
     * over the joined input); empty sides, a 3-D input, 16- and 8-bit weights at an odd byte offset; the same
     * backend instance across the shapes (its reused scratch grows and shrinks in use).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void linearConcat(String name) {
        try (Backend be = create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            // {leading..., ka, kb, out}
            int[][] cases = {{5, 7, 9, 13}, {2, 3, 16, 48, 33}, {64, 96, 160, 70}, {1, 0, 12, 5}, {3, 11, 0, 4}, {9, 100, 3, 17}};
            org.untwist.tensor.DType[] types = {org.untwist.tensor.DType.F32, org.untwist.tensor.DType.BF16, org.untwist.tensor.DType.F8_E4M3};
            int c = 0;
            for (int[] cs : cases) {
                int lead = cs.length - 3, ka = cs[lead], kb = cs[lead + 1], outDim = cs[lead + 2];
                org.untwist.tensor.DType dt = types[c++ % types.length];
                int[] aShape = Arrays.copyOf(cs, lead + 1), bShape = Arrays.copyOf(cs, lead + 1), jShape = Arrays.copyOf(cs, lead + 1),
                        oShape = Arrays.copyOf(cs, lead + 1);
                bShape[lead] = kb;
                jShape[lead] = ka + kb;
                oShape[lead] = outDim;
                String what = "a " + Arrays.toString(aShape) + ", b " + Arrays.toString(bShape) + ", w [" + outDim + ", " + (ka + kb) + "] " + dt;
                long seed = seedOf("linearConcat", what);
                Random r = new Random(seed);
                try (Scope sc = new Scope()) {
                    Tensor a = sc.randn(r, aShape), b = sc.randn(r, bShape);
                    Tensor w = sc.weight(r, dt, 3, outDim, ka + kb), bias = c % 2 == 0 ? sc.randn(r, outDim) : null;
                    Tensor got = sc.zeros(oShape), want = sc.zeros(oShape), joined = sc.zeros(jShape);
                    be.linearConcat(a, b, w, bias, got);
                    oracle.concat(List.of(a, b), -1, joined);
                    oracle.linear(joined, w, bias, want);
                    assertWithin(ctx(name, "linearConcat", seed, what), "linearConcat", got, want,
                            OpConformanceTest.linearTol(joined, w, want, ka + kb, outDim));
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void badArgumentsAreNamed(String name) {
        try (Backend be = create(name, THREADS); Scope sc = new Scope()) {
            Tensor qkv = sc.zeros(1, 4, 3 * 2 * 8), q = sc.zeros(1, 2, 6, 8), k = sc.zeros(1, 2, 6, 8), v = sc.zeros(1, 2, 6, 8);
            Tensor s8 = sc.zeros(8), pe = sc.zeros(1, 1, 6, 4, 2, 2);
            String tooFar = assertThrows(IllegalArgumentException.class, () -> be.splitQkvNormRope(qkv, s8, s8, 1e-6f, pe, q, k, v, 3)).getMessage();
            assertTrue(tooFar.contains("splitQkvNormRope") && tooFar.contains("[3, 7)"), tooFar);
            String scale = assertThrows(IllegalArgumentException.class,
                    () -> be.splitQkvNormRope(qkv, sc.zeros(7), s8, 1e-6f, pe, q, k, v, 0)).getMessage();
            assertTrue(scale.contains("qScale"), scale);
            String table = assertThrows(IllegalArgumentException.class,
                    () -> be.splitQkvNormRope(qkv, s8, s8, 1e-6f, sc.zeros(1, 1, 4, 4, 2, 2), q, k, v, 0)).getMessage();
            assertTrue(table.contains("pe"), table);
            Tensor odd = sc.zeros(1, 2, 6, 7);
            String oddD = assertThrows(IllegalArgumentException.class,
                    () -> be.splitQkvNormRope(sc.zeros(1, 4, 42), sc.zeros(7), sc.zeros(7), 1e-6f, sc.zeros(1, 1, 6, 3, 2, 2), odd, sc.zeros(1, 2, 6, 7),
                            sc.zeros(1, 2, 6, 7), 0)).getMessage();
            assertTrue(oddD.contains("even head dimension"), oddD);
            String eps = assertThrows(IllegalArgumentException.class,
                    () -> be.layerNormModulate(sc.zeros(1, 2, 4), Float.NaN, sc.zeros(1, 4), sc.zeros(1, 4), sc.zeros(1, 2, 4))).getMessage();
            assertTrue(eps.contains("layerNormModulate"), eps);
            String shift = assertThrows(IllegalArgumentException.class,
                    () -> be.layerNormModulate(sc.zeros(1, 2, 4), 1e-6f, sc.zeros(1, 3), sc.zeros(1, 4), sc.zeros(1, 2, 4))).getMessage();
            assertTrue(shift.contains("shift"), shift);
            String wide = assertThrows(IllegalArgumentException.class,
                    () -> be.linearConcat(sc.zeros(2, 3), sc.zeros(2, 4), sc.zeros(5, 6), null, sc.zeros(2, 5))).getMessage();
            assertTrue(wide.contains("linearConcat") && wide.contains("weight") && wide.contains("[out, 7]"), wide);
            String rows = assertThrows(IllegalArgumentException.class,
                    () -> be.linearConcat(sc.zeros(2, 3), sc.zeros(3, 4), sc.zeros(5, 7), null, sc.zeros(2, 5))).getMessage();
            assertTrue(rows.contains("leading dimensions"), rows);
        }
    }

    static {
        System.out.println("FusedOpConformanceTest: base seed " + SEED + " (-Duntwist.seed)");
    }
}
