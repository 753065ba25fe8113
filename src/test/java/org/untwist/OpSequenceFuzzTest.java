package org.untwist;

import static org.untwist.OpConformanceTest.adaInInput;
import static org.untwist.OpConformanceTest.adaInTol;
import static org.untwist.OpConformanceTest.assertWithin;
import static org.untwist.OpConformanceTest.attCase;
import static org.untwist.OpConformanceTest.attentionTol;
import static org.untwist.OpConformanceTest.chunkLogitsTol;
import static org.untwist.OpConformanceTest.elementwiseTol;
import static org.untwist.OpConformanceTest.linearTol;
import static org.untwist.OpConformanceTest.probsTol;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.lifecycle.AfterContainer;
import org.untwist.OpConformanceTest.AttCase;
import org.untwist.OpConformanceTest.Scope;
import org.untwist.backend.Backend;
import org.untwist.backend.ScalarBackend;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * Long random sequences of {@link Backend} operations on ONE instance per (backend, thread count), against the
 * scalar oracle: every try is one operation with shapes drawn at random, and the instances live for the whole run,
 * so every call follows calls of other shapes (the class of bug where a buffer sized by an earlier call is too small
 * for a later one). Ranges: batch 1–3, heads 1–8, head dims 1–256 (even where RoPE pairs are needed), lengths
 * 1–2,000, hidden sizes 1–1,000, F32/BF16/F16 weights at unaligned offsets, shared attention with and without a
 * reference, a band scale, leading text tokens and a reference per batch element or shared, inputs of normal and of large magnitude (×30: logits of
 * hundreds, so the softmax is one-hot), thread counts 1–4. Shapes are drawn log-uniformly so that small and tail
 * sizes come often (head dimensions even: the attention and RoPE ops require pairs); a work budget (about 2·10⁶ multiply-adds, one try in ten 2·10⁷) keeps the oracle quick.
 *
 * <p>Tolerances are {@link OpConformanceTest}'s, derived there for each operation from the magnitudes of the terms
 * it sums and its reduction length (its class comment states them); layout operations must be exact.
 *
 * <p>The number of tries (= operations) is {@code -Duntwist.fuzz.tries} (the tests module passes it to jqwik as
 * {@code jqwik.tries.default}; CI's default is in tests/pom.xml). A failure names the operation, its shapes and data
 * seed, and the operations that instance ran just before it.
 */
class OpSequenceFuzzTest {
    /** Backend instances by "name/threads": they live across tries, so the run is one long sequence per instance. */
    private static final Map<String, Backend> INSTANCES = new LinkedHashMap<>();
    /** The last operations each instance ran, for the failure message. */
    private static final Map<String, Deque<String>> HISTORY = new LinkedHashMap<>();
    private static final AtomicLong OPS = new AtomicLong();
    private static final long START = System.nanoTime();
    private static final ScalarBackend ORACLE = new ScalarBackend();

    enum Op { LINEAR, LINEAR_CONCAT, ELEMENTWISE, MODULATE, NORMS, ROPE_TABLE, APPLY_ROPE, SPLIT_QKV_NORM_ROPE, TIMESTEP, ATTENTION, SHARED_ATTENTION,
        ATTENTION_PROBS, CHUNK_LOGITS, ADA_IN, LAYOUT }

    /** One try: an operation, the thread count of the instance that runs it, the seed of its shapes and data, large inputs or not. */
    record Call(Op op, int threads, long seed, boolean large) {
    }

    @Provide
    Arbitrary<Call> calls() {
        return Combinators.combine(Arbitraries.of(Op.class), Arbitraries.integers().between(1, 4), Arbitraries.longs(),
                Arbitraries.of(false, false, false, true)).as(Call::new);
    }

    @Property(shrinking = ShrinkingMode.OFF)
    void everyOperationMatchesTheOracleWhateverRanBefore(@ForAll("calls") Call call) {
        for (String name : TestSupport.availableBackends()) {
            if (name.equals("scalar")) {
                continue;
            }
            String key = name + "/" + call.threads();
            Backend be = INSTANCES.computeIfAbsent(key, k -> TestSupport.backend(name, call.threads()));
            Deque<String> history = HISTORY.computeIfAbsent(key, k -> new ArrayDeque<>());
            Random r = new Random(call.seed());
            String what = describe(call);
            try (Scope sc = new Scope()) {
                String done = run(call, be, key, r, sc, what + "; before it on this instance: " + history);
                history.addLast(done);
                if (history.size() > 6) {
                    history.removeFirst();
                }
            }
        }
        OPS.incrementAndGet();
    }

    @AfterContainer
    static void closeInstances() {
        INSTANCES.values().forEach(Backend::close);
        ORACLE.close();
        System.out.printf("OpSequenceFuzzTest: %d operations on %s in %.1f s%n", OPS.get(), INSTANCES.keySet(), (System.nanoTime() - START) / 1e9);
    }

    private static String describe(Call c) {
        return c.op() + " seed " + c.seed() + (c.large() ? " large inputs" : "");
    }

    // ---- shapes ---------------------------------------------------------------------------------------------

    /** 1..max, log-uniform: small sizes and lane-count neighbours come often, the largest now and then. */
    static int size(Random r, int max) {
        return Math.min(max, (int) Math.floor(Math.exp(r.nextDouble() * Math.log(max + 1.0))));
    }

    static int evenSize(Random r, int max) {
        return 2 * size(r, max / 2);
    }

    /** A head dimension halved by {@link #fit} made even again (RoPE pairs, and the attention ops' contract). */
    static int even(int n) {
        return Math.max(2, n & ~1);
    }

    /** The multiply-add budget of one try. */
    static double budget(Random r) {
        return r.nextInt(10) == 0 ? 2e7 : 2e6;
    }

    /** Shrinks the largest of {@code dims} (by index, each at least 1) until their product is within {@code budget}. */
    static void fit(int[] dims, double budget, int... which) {
        while (true) {
            double p = 1;
            int big = which[0];
            for (int i : which) {
                p *= dims[i];
                if (dims[i] > dims[big]) {
                    big = i;
                }
            }
            if (p <= budget || dims[big] == 1) {
                return;
            }
            dims[big] = Math.max(1, dims[big] / 2);
        }
    }

    // ---- one operation ---------------------------------------------------------------------------------------

    /** Runs the call on {@code be} and the oracle, asserts, and returns a short description of what ran. */
    private static String run(Call c, Backend be, String key, Random r, Scope sc, String ctxTail) {
        double mag = c.large() ? 30 : 1;
        String ctx;
        switch (c.op()) {
            case LINEAR -> {
                int[] d = {size(r, 2000), size(r, 1000), size(r, 1000)}; // rows, in, out
                fit(d, budget(r), 0, 1, 2);
                DType dt = TestSupport.WEIGHT_TYPES[r.nextInt(TestSupport.WEIGHT_TYPES.length)];
                int offset = r.nextInt(7) * dt.byteSize() / 2;
                Tensor x = sc.normal(r, mag, 0, d[0], d[1]), w = sc.weight(r, dt, offset, d[2], d[1]);
                Tensor bias = r.nextBoolean() ? sc.randn(r, d[2]) : null;
                Tensor got = sc.zeros(d[0], d[2]), want = sc.zeros(d[0], d[2]);
                ctx = "linear x [" + d[0] + ", " + d[1] + "] w [" + d[2] + ", " + d[1] + "] " + dt + " offset " + offset + (bias != null ? " bias" : "");
                be.linear(x, w, bias, got);
                ORACLE.linear(x, w, bias, want);
                check(key, ctx, ctxTail, "linear", got, want, linearTol(x, w, want, d[1], d[2]));
            }
            case LINEAR_CONCAT -> { // a, b joined along the last dimension: the backend's reused join scratch grows and shrinks
                int[] d = {size(r, 2000), size(r, 1000), size(r, 1000)}; // rows, ka + kb, out
                fit(d, budget(r), 0, 1, 2);
                int rows = d[0], ka = r.nextInt(d[1] + 1), kb = d[1] - ka, out = d[2];
                DType dt = TestSupport.WEIGHT_TYPES[r.nextInt(TestSupport.WEIGHT_TYPES.length)];
                int offset = r.nextInt(7) * dt.byteSize() / 2;
                Tensor a = sc.normal(r, mag, 0, rows, ka), b = sc.normal(r, mag, 0, rows, kb), w = sc.weight(r, dt, offset, out, ka + kb);
                Tensor bias = r.nextBoolean() ? sc.randn(r, out) : null;
                Tensor joined = sc.zeros(rows, ka + kb), got = sc.zeros(rows, out), want = sc.zeros(rows, out);
                ctx = "linearConcat a [" + rows + ", " + ka + "] b [" + rows + ", " + kb + "] w [" + out + ", " + (ka + kb) + "] " + dt + " offset " + offset;
                be.linearConcat(a, b, w, bias, got);
                ORACLE.concat(List.of(a, b), 1, joined);
                ORACLE.linear(joined, w, bias, want);
                check(key, ctx, ctxTail, "linearConcat", got, want, linearTol(joined, w, want, ka + kb, out));
            }
            case ELEMENTWISE -> {
                int[] d = {size(r, 2000), size(r, 1000)};
                fit(d, 2e5, 0, 1);
                Tensor a = sc.normal(r, 3 * mag, 0, d), b = sc.normal(r, 3 * mag, 0, d);
                float[] av = a.toFloatArray(), bv = b.toFloatArray();
                Tensor got = sc.zeros(d), want = sc.zeros(d);
                ctx = "add/silu/geluTanh " + Arrays.toString(d);
                be.add(a, b, got);
                ORACLE.add(a, b, want);
                check(key, ctx, ctxTail, "add", got, want, elementwiseTol(a.numel(), i -> (double) Math.abs(av[i]) + Math.abs(bv[i])));
                be.silu(a, got);
                ORACLE.silu(a, want);
                check(key, ctx, ctxTail, "silu", got, want, elementwiseTol(a.numel(), i -> (double) Math.abs(av[i])));
                be.geluTanh(a, got);
                ORACLE.geluTanh(a, want);
                check(key, ctx, ctxTail, "geluTanh", got, want, elementwiseTol(a.numel(), i -> (double) Math.abs(av[i])));
            }
            case MODULATE -> {
                int[] d = {1 + r.nextInt(3), size(r, 2000), size(r, 1000)};
                fit(d, 2e5, 0, 1, 2);
                int l = d[1], dim = d[2];
                Tensor x = sc.normal(r, 2 * mag, 0, d), y = sc.normal(r, 2 * mag, 0, d);
                Tensor shift = sc.randn(r, d[0], dim), scale = sc.randn(r, d[0], dim), gate = sc.randn(r, d[0], dim);
                float[] xv = x.toFloatArray(), yv = y.toFloatArray(), sh = shift.toFloatArray(), scv = scale.toFloatArray(), gv = gate.toFloatArray();
                java.util.function.IntUnaryOperator per = i -> (i / (l * dim)) * dim + i % dim;
                Tensor got = sc.zeros(d), want = sc.zeros(d);
                ctx = "modulate/gatedResidual " + Arrays.toString(d);
                be.modulate(x, shift, scale, got);
                ORACLE.modulate(x, shift, scale, want);
                check(key, ctx, ctxTail, "modulate", got, want,
                        elementwiseTol(x.numel(), i -> Math.abs((1.0 + scv[per.applyAsInt(i)]) * xv[i]) + Math.abs(sh[per.applyAsInt(i)])));
                be.gatedResidual(x, gate, y, got);
                ORACLE.gatedResidual(x, gate, y, want);
                check(key, ctx, ctxTail, "gatedResidual", got, want,
                        elementwiseTol(x.numel(), i -> Math.abs(xv[i]) + Math.abs((double) gv[per.applyAsInt(i)] * yv[i])));
            }
            case NORMS -> {
                int[] d = {size(r, 2000), size(r, 1000)};
                fit(d, 2e5, 0, 1);
                int dim = d[1];
                // eps 0 over one element is 0/0 in every backend: not a case with an answer
                float eps = new float[] {1e-6f, 1e-5f, dim > 1 ? 0f : 1e-6f}[r.nextInt(3)];
                Tensor x = sc.normal(r, 2 * mag, 0.5 * mag, d), scale = sc.normal(r, 1, 1, dim);
                Tensor got = sc.zeros(d), want = sc.zeros(d);
                ctx = "layerNorm/rmsNorm " + Arrays.toString(d) + " eps " + eps;
                be.layerNorm(x, eps, got);
                ORACLE.layerNorm(x, eps, want);
                check(key, ctx, ctxTail, "layerNorm", got, want, OpConformanceTest.layerNormTol(x, eps, want, dim));
                be.rmsNorm(x, scale, eps, got);
                ORACLE.rmsNorm(x, scale, eps, want);
                float[] e2 = want.toFloatArray();
                double[] rmsTol = new double[e2.length];
                for (int i = 0; i < e2.length; i++) {
                    rmsTol[i] = 2 * OpConformanceTest.U * Math.sqrt(dim) * Math.abs(e2[i]) + 1e-7;
                }
                check(key, ctx, ctxTail, "rmsNorm", got, want, rmsTol);
            }
            case ROPE_TABLE -> {
                int axes = 1 + r.nextInt(3);
                int[] axesDim = new int[axes];
                for (int a = 0; a < axes; a++) {
                    axesDim[a] = evenSize(r, 128);
                }
                int pairs = Arrays.stream(axesDim).sum() / 2;
                int[] d = {1 + r.nextInt(3), size(r, 2000)};
                fit(d, 1e5 / pairs, 0, 1);
                double theta = r.nextBoolean() ? 10_000 : 1 + 100 * r.nextDouble();
                Tensor ids = sc.zeros(d[0], d[1], axes);
                for (long i = 0; i < ids.numel(); i++) {
                    ids.set(i, i % 5 == 4 ? (float) (r.nextDouble() * 200 - 50) : r.nextInt(64));
                }
                Tensor got = sc.zeros(d[0], 1, d[1], pairs, 2, 2), want = sc.zeros(d[0], 1, d[1], pairs, 2, 2);
                ctx = "ropeTable axes " + Arrays.toString(axesDim) + " theta " + theta + " B=" + d[0] + " L=" + d[1];
                be.ropeTable(ids, axesDim, theta, got);
                ORACLE.ropeTable(ids, axesDim, theta, want);
                check(key, ctx, ctxTail, "ropeTable", got, want, filled(got.numel(), 1e-6));
            }
            case APPLY_ROPE -> {
                int[] d = {1 + r.nextInt(3), size(r, 8), size(r, 2000), evenSize(r, 256)};
                fit(d, 2e5, 0, 1, 2, 3);
                d[3] = even(d[3]);
                int bsz = d[0], h = d[1], l = d[2], dim = d[3];
                int peBatch = r.nextBoolean() ? 1 : bsz;
                Tensor x = sc.normal(r, 2 * mag, 0, d), pe = sc.randn(r, peBatch, 1, l, dim / 2, 2, 2);
                float[] xv = x.toFloatArray(), pv = pe.toFloatArray();
                Tensor got = sc.zeros(d), want = sc.zeros(d);
                ctx = "applyRope x " + Arrays.toString(d) + " pe batch " + peBatch;
                be.applyRope(x, pe, got);
                ORACLE.applyRope(x, pe, want);
                check(key, ctx, ctxTail, "applyRope", got, want, elementwiseTol(x.numel(), i -> {
                    int row = i / dim, dd = i % dim, t = row % l, b = row / (h * l);
                    int m = ((peBatch == 1 ? 0 : b) * l + t) * (dim / 2) * 4 + (dd / 2) * 4 + (dd % 2) * 2;
                    int x0 = i - dd % 2;
                    return Math.abs((double) pv[m] * xv[x0]) + Math.abs((double) pv[m + 1] * xv[x0 + 1]);
                }));
            }
            case SPLIT_QKV_NORM_ROPE -> { // one stream at a random token offset of a longer sequence, RoPE or not
                int[] d = {1 + r.nextInt(3), size(r, 8), size(r, 2000), evenSize(r, 256)};
                fit(d, 2e5, 0, 1, 2, 3);
                d[3] = even(d[3]);
                int bsz = d[0], h = d[1], lTot = d[2], dim = d[3], l = 1 + r.nextInt(lTot), off = r.nextInt(lTot - l + 1);
                int peBatch = r.nextInt(3) == 0 ? 0 : r.nextBoolean() ? 1 : bsz;
                Tensor qkv = sc.normal(r, 2 * mag, 0, bsz, l, 3 * h * dim), qs = sc.normal(r, 0.5, 1, dim), ks = sc.normal(r, 0.5, 1, dim);
                Tensor pe = peBatch == 0 ? null : sc.randn(r, peBatch, 1, lTot, dim / 2, 2, 2);
                Tensor[] got = new Tensor[3], want = new Tensor[3];
                for (int i = 0; i < 3; i++) { // the same random contents outside the stream's tokens, which must stay
                    got[i] = sc.normal(r, 1, 0, bsz, h, lTot, dim);
                    want[i] = sc.copy(got[i]);
                }
                ctx = "splitQkvNormRope q [" + bsz + ", " + h + ", " + lTot + ", " + dim + "] tokens [" + off + ", " + (off + l) + ")"
                        + (pe == null ? " no RoPE" : " pe batch " + peBatch);
                be.splitQkvNormRope(qkv, qs, ks, 1e-6f, pe, got[0], got[1], got[2], off);
                ORACLE.splitQkvNormRope(qkv, qs, ks, 1e-6f, pe, want[0], want[1], want[2], off);
                // |y| of an RMS-normalized row is at most √D·max|scale|; RMSNorm's bound 2u·√D·|y| carried through the 2 × 2 table.
                float[] qsv = qs.toFloatArray(), ksv = ks.toFloatArray(), pv = pe == null ? null : pe.toFloatArray();
                double yMax = Math.sqrt(dim) * Math.max(maxAbs(qsv), maxAbs(ksv));
                for (int which = 0; which < 3; which++) {
                    double[] tol = new double[(int) got[which].numel()];
                    for (int i = 0; i < tol.length && which < 2; i++) {
                        int row = i / dim, dd = i % dim, t = row % lTot, b = row / (h * lTot);
                        double m = 1;
                        if (pv != null) {
                            int at = ((peBatch == 1 ? 0 : b) * lTot + t) * (dim / 2) * 4 + (dd / 2) * 4 + (dd % 2) * 2;
                            m = Math.abs(pv[at]) + Math.abs(pv[at + 1]);
                        }
                        tol[i] = 2e-6 * Math.sqrt(dim) * m * yMax + 1e-7;
                    }
                    check(key, ctx, ctxTail, "splitQkvNormRope", got[which], want[which], tol);
                }
            }
            case TIMESTEP -> {
                int bsz = 1 + r.nextInt(3), dim = size(r, 1000);
                float factor = r.nextBoolean() ? 1000f : 1f;
                Tensor t = sc.zeros(bsz);
                for (int i = 0; i < bsz; i++) {
                    t.set(i, r.nextFloat());
                }
                Tensor got = sc.zeros(bsz, dim), want = sc.zeros(bsz, dim);
                ctx = "timestepEmbedding B=" + bsz + " dim " + dim + " factor " + factor;
                be.timestepEmbedding(t, factor, 10_000, got);
                ORACLE.timestepEmbedding(t, factor, 10_000, want);
                check(key, ctx, ctxTail, "timestepEmbedding", got, want, filled(got.numel(), 1e-6));
            }
            case ATTENTION, SHARED_ATTENTION, ATTENTION_PROBS -> {
                boolean shared = c.op() != Op.ATTENTION;
                boolean withScale = shared && r.nextBoolean();
                int dim = evenSize(r, 256);
                // {B, H, Lq, Lk + Lr, Dh}: the budget covers the logits of own and reference keys
                int[] d = {1 + r.nextInt(3), size(r, 8), size(r, 2000), size(r, 2000), dim};
                int lr = shared ? (r.nextInt(4) == 0 ? 0 : size(r, 2000)) : -1;
                int[] s = {d[0], d[1], d[2], d[3] + Math.max(0, lr), d[4]};
                fit(s, c.op() == Op.ATTENTION_PROBS ? budget(r) / 4 : budget(r), 0, 1, 2, 3, 4);
                s[4] = even(s[4]);
                int lk = Math.max(shared ? 0 : 1, (int) ((long) s[3] * d[3] / (d[3] + Math.max(0, lr))));
                lr = shared ? s[3] - lk : -1;
                if (shared && lk + lr == 0) {
                    lk = 1;
                }
                int refStart = shared ? r.nextInt(4) : 0, refBatch = shared && r.nextBoolean() ? s[0] : 1;
                AttCase ac = attCase(sc, r, s[0], s[1], s[2], lk, s[4], 1.5 * mag, lr, refStart, refBatch, withScale);
                ctx = c.op().name().toLowerCase() + " B=" + s[0] + " H=" + s[1] + " Lq=" + s[2] + " Lk=" + lk + " Dh=" + s[4]
                        + (shared ? " Lr=" + lr + " refStart=" + refStart + " refBatch=" + refBatch + (withScale ? " band scale" : "") : "");
                if (c.op() == Op.ATTENTION_PROBS) {
                    Tensor got = ac.probsShaped(sc), want = ac.probsShaped(sc);
                    ac.probs(be, got);
                    ac.probs(ORACLE, want);
                    check(key, ctx, ctxTail, "attentionProbs", got, want, probsTol(ac, want));
                } else {
                    Tensor got = ac.outShaped(sc), want = ac.outShaped(sc);
                    ac.run(be, got);
                    ac.run(ORACLE, want);
                    check(key, ctx, ctxTail, shared ? "sharedAttention" : "attention", got, want, attentionTol(ac, want));
                }
            }
            case CHUNK_LOGITS -> {
                int[] d = {1 + r.nextInt(3), size(r, 8), size(r, 2000), size(r, 2000), evenSize(r, 256)};
                int pairs = d[4] / 2;
                int bands = r.nextBoolean() ? pairs : 1 + r.nextInt(Math.min(pairs, 8));
                fit(d, budget(r) / Math.max(1, bands / 4.0), 0, 1, 2, 3, 4);
                d[4] = even(d[4]);
                pairs = d[4] / 2;
                bands = Math.min(bands, pairs);
                int[] chunkBand = new int[pairs];
                for (int p = 0; p < pairs; p++) {
                    chunkBand[p] = bands == pairs ? p : r.nextInt(bands);
                }
                Tensor q = sc.normal(r, 2 * mag, 0, d[0], d[1], d[2], d[4]), k = sc.randn(r, d[0], d[1], d[3], d[4]);
                int[] shape = {d[0], d[1], d[2], d[3], bands};
                Tensor got = sc.zeros(shape), want = sc.zeros(shape);
                ctx = "chunkLogits q [" + d[0] + ", " + d[1] + ", " + d[2] + ", " + d[4] + "] Lk=" + d[3] + " bands " + bands;
                be.chunkLogits(q, k, chunkBand, bands, got);
                ORACLE.chunkLogits(q, k, chunkBand, bands, want);
                check(key, ctx, ctxTail, "chunkLogits", got, want, chunkLogitsTol(q, k, chunkBand, bands, want));
            }
            case ADA_IN -> {
                int[] d = {1 + r.nextInt(3), size(r, 8), 2 + size(r, 1998), size(r, 256)};
                fit(d, 2e5, 0, 1, 2, 3);
                d[2] = Math.max(2, d[2]);
                int lRef = Math.max(2, size(r, 2000) / Math.max(1, d[1] * d[3] / 64));
                int tokenStart = r.nextInt(4) == 0 ? 0 : r.nextInt(Math.min(d[2], lRef) - 1);
                float eps = new float[] {1e-5f, 1e-6f, 0f}[r.nextInt(3)];
                Tensor x = adaInInput(sc, r, d[0], d[1], d[2], d[3], tokenStart), ref = adaInInput(sc, r, 1, d[1], lRef, d[3], tokenStart);
                Tensor got = sc.zeros(d), want = sc.zeros(d);
                ctx = "adaIn x " + Arrays.toString(d) + " ref Lr=" + lRef + " tokenStart " + tokenStart + " eps " + eps;
                be.adaIn(x, ref, tokenStart, eps, got);
                ORACLE.adaIn(x, ref, tokenStart, eps, want);
                check(key, ctx, ctxTail, "adaIn", got, want, adaInTol(x, ref, tokenStart, eps, want));
            }
            case LAYOUT -> {
                int[] d = {1 + r.nextInt(3), size(r, 8), size(r, 500), size(r, 128)}; // B, H, L, Dh
                fit(d, 2e5, 0, 1, 2, 3);
                int offset = r.nextInt(4), lTot = d[2] + offset + r.nextInt(3);
                Tensor qkv = sc.randn(r, d[0], d[2], 3 * d[1] * d[3]);
                Tensor[] got = {sc.zeros(d[0], d[1], lTot, d[3]), sc.zeros(d[0], d[1], lTot, d[3]), sc.zeros(d[0], d[1], lTot, d[3])};
                Tensor[] want = {sc.zeros(d[0], d[1], lTot, d[3]), sc.zeros(d[0], d[1], lTot, d[3]), sc.zeros(d[0], d[1], lTot, d[3])};
                ctx = "splitQkv/concat/split qkv [" + d[0] + ", " + d[2] + ", 3·" + d[1] + "·" + d[3] + "] into L=" + lTot + " at " + offset;
                be.splitQkv(qkv, got[0], got[1], got[2], offset);
                ORACLE.splitQkv(qkv, want[0], want[1], want[2], offset);
                for (int i = 0; i < 3; i++) {
                    check(key, ctx, ctxTail, "splitQkv", got[i], want[i], filled(got[i].numel(), 0));
                }
                int axis = r.nextInt(4);
                Tensor whole = sc.zeros(concatShape(got[0].shape(), axis, 3)), wholeWant = sc.zeros(concatShape(got[0].shape(), axis, 3));
                be.concat(List.of(got[0], got[1], got[2]), axis, whole);
                ORACLE.concat(List.of(want[0], want[1], want[2]), axis, wholeWant);
                check(key, ctx, ctxTail, "concat", whole, wholeWant, filled(whole.numel(), 0));
                Tensor[] back = {sc.zeros(got[0].shape()), sc.zeros(got[0].shape()), sc.zeros(got[0].shape())};
                be.split(whole, axis, List.of(back));
                for (int i = 0; i < 3; i++) {
                    check(key, ctx, ctxTail, "split", back[i], want[i], filled(back[i].numel(), 0));
                }
            }
            default -> throw new AssertionError(c.op());
        }
        return ctx;
    }

    private static int[] concatShape(int[] part, int axis, int parts) {
        int[] s = part.clone();
        s[axis] *= parts;
        return s;
    }

    private static double[] filled(long n, double v) {
        double[] a = new double[(int) n];
        Arrays.fill(a, v);
        return a;
    }

    private static double maxAbs(float[] v) {
        double m = 0;
        for (float x : v) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }

    private static void check(String key, String ctx, String ctxTail, String op, Tensor got, Tensor want, double[] tol) {
        assertWithin(key + " " + ctx + " (" + ctxTail + ")", op, got, want, tol);
    }
}
