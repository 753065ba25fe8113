package org.untwist.vector;

import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.L;
import static org.untwist.vector.Simd.LE;
import static org.untwist.vector.Simd.load;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import org.untwist.backend.AbstractBackend;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * Java Vector API kernels on a fixed pool of compute threads.
 *
 * <p>Every kernel works on {@link FloatVector}s loaded straight from the tensors' memory segments (unaligned
 * loads, so memory-mapped weights at any offset are fine); scalar code only finishes loop tails. Work is split
 * into tasks of a fixed size that does not depend on the thread count, and each output element is reduced in an
 * order fixed by the task layout, so results are the same for any number of threads.
 *
 * <ul>
 *   <li>{@code linear}: from {@link VectorGemm#MIN_ROWS} rows on, the packed GEMM of {@link VectorGemm} (12×32
 *       register tiles; BF16/F16 weights widened while packing, one column block at a time). Fewer rows: tasks
 *       are (row block × column block); BF16/F16 weights of the task's column block are widened with SIMD into a
 *       per-thread float panel (never the whole matrix), then a 2-row × 4-column register-blocked FMA kernel
 *       runs over it.</li>
 *   <li>{@code applyRope}: tasks are blocks of tokens; the block's table is de-interleaved once into diagonal
 *       and cross coefficients, then every head streams its contiguous rows of the block.</li>
 *   <li>{@code attention}: tasks are (batch, head, block of queries); flash-style online softmax over blocks of
 *       keys with vectorized {@code EXP}. Reference keys are never scaled or copied: the query is copied once,
 *       pre-multiplied by {@code 1/√Dh} and the per-element reference key scale ({@code q·(s⊙k) = (s⊙q)·k}).
 *       The reference keys are read in place from token {@code refStart} on.</li>
 *   <li>{@code attentionProbs}: the same tasks and logit blocks, written into the output rows, then a vectorized
 *       softmax per row. {@code chunkLogits}: SIMD products of (query, key) channel pairs, pair-summed by a lane
 *       swap, then added into their bands. {@code adaIn}: per-channel statistics with lanes across the
 *       contiguous channels, tasks of (batch, head).</li>
 *   <li>Elementwise and row-wise operations are split into chunks only when they are large.</li>
 * </ul>
 * Per-thread scratch (float arrays and one native panel) lives with each pool thread and is reused across calls.
 */
public final class VectorBackend extends AbstractBackend {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Queries per attention task and keys per softmax block (a multiple of every lane count). */
    static final int ATT_QUERIES = 16, ATT_KEYS = 64;

    private final ComputePool pool;

    /** Creates the backend with {@code threads} compute threads. */
    public VectorBackend(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        Simd.check();
        this.pool = new ComputePool(threads);
    }

    @Override
    public String name() {
        return "vector";
    }

    @Override
    public String describe() {
        return "vector: Java Vector API, " + Simd.describeWidth() + ", " + pool.threads() + (pool.threads() == 1 ? " thread" : " threads");
    }

    @Override
    public int threads() {
        return pool.threads();
    }

    @Override
    public void close() {
        pool.close();
    }

    // ---- linear ----------------------------------------------------------------------------------------------

    @Override
    protected void linearKernel(Tensor x, Tensor w, Tensor bias, Tensor out, int rows, int in, int outDim) {
        if (rows == 0 || outDim == 0) {
            return;
        }
        MemorySegment xs = x.segment(), ws = w.segment(), os = out.segment();
        MemorySegment bs = bias == null ? null : bias.segment();
        DType dt = w.dtype();
        if (VectorGemm.worthIt(rows, in, outDim)) { // packed, cache-blocked GEMM (see VectorGemm)
            VectorGemm gemm = new VectorGemm(xs, ws, dt, bs, os, rows, in, outDim, pool.threads());
            gemm.execute((n, task) -> pool.parallelFor(n, (t, s) -> task.accept(t)));
            return;
        }
        VectorGemv.linear(pool, xs, ws, dt, bs, os, rows, in, outDim); // few rows: dot products over the weight rows
    }

    @Override
    protected void addKernel(Tensor a, Tensor b, Tensor out, long n) {
        VectorElementwise.add(pool, a, b, out, n);
    }

    @Override
    protected void siluKernel(Tensor x, Tensor out, long n) {
        VectorElementwise.silu(pool, x, out, n);
    }

    @Override
    protected void geluTanhKernel(Tensor x, Tensor out, long n) {
        VectorElementwise.geluTanh(pool, x, out, n);
    }

    @Override
    protected void modulateKernel(Tensor x, Tensor shift, Tensor scale, Tensor out, int batch, int tokens, int dim) {
        VectorElementwise.modulate(pool, x, shift, scale, out, batch, tokens, dim);
    }

    @Override
    protected void gatedResidualKernel(Tensor residual, Tensor gate, Tensor y, Tensor out, int batch, int tokens, int dim) {
        VectorElementwise.gatedResidual(pool, residual, gate, y, out, batch, tokens, dim);
    }

    @Override
    protected void layerNormKernel(Tensor x, float eps, Tensor out, int rows, int dim) {
        VectorNorms.layerNorm(pool, x, eps, out, rows, dim);
    }

    @Override
    protected void rmsNormKernel(Tensor x, Tensor scale, float eps, Tensor out, int rows, int dim) {
        VectorNorms.rmsNorm(pool, x, scale, eps, out, rows, dim);
    }

    @Override
    protected void ropeTableKernel(Tensor ids, int[] axesDim, double theta, Tensor pe, int batch, int tokens) {
        VectorRope.ropeTable(pool, ids, axesDim, theta, pe, batch, tokens);
    }

    @Override
    protected void applyRopeKernel(Tensor x, Tensor pe, Tensor out, int batch, int heads, int tokens, int headDim, int peBatch) {
        VectorRope.applyRope(pool, x, pe, out, batch, heads, tokens, headDim, peBatch);
    }

    @Override
    protected void timestepEmbeddingKernel(Tensor t, float timeFactor, double maxPeriod, Tensor out, int batch, int dim) {
        VectorTimestepEmbedding.embed(t, timeFactor, maxPeriod, out, batch, dim);
    }

    @Override
    protected void adaInKernel(Tensor x, Tensor ref, float eps, Tensor out, int batch, int heads, int tokens, int headDim,
                               int refTokens, int tokenStart) {
        VectorAdaIn.adaIn(pool, x, ref, eps, out, batch, heads, tokens, headDim, refTokens, tokenStart);
    }

    // ---- attention -------------------------------------------------------------------------------------------

    @Override
    protected void attentionKernel(Tensor q, Tensor k, Tensor v, Tensor refK, Tensor refV, Tensor refKeyScale,
                                   Tensor out, int batch, int heads, int lq, int lk, int lr, int headDim, int refBatch,
                                   int refStart, int refTokens) {
        if (batch == 0 || heads == 0 || lq == 0) {
            return;
        }
        float inv = (float) (1.0 / Math.sqrt(headDim));
        float[] rf = AttentionScores.refFactor(refKeyScale, lr, headDim, inv);
        VectorAttention att = new VectorAttention(q.segment(), k.segment(), v.segment(), lr > 0 ? refK.segment() : null,
                lr > 0 ? refV.segment() : null, out.segment(), batch, heads, lq, lk, lr, headDim, refBatch, refStart, refTokens,
                inv, rf, pool.threads());
        pool.parallelFor(att.tasks(batch), (task, s) -> att.run(task));
    }

    /** Byte offset of reference token {@code refStart} of batch {@code rb} (0 for a shared reference), head {@code h}. */
    private static long refBase(int rb, int h, int heads, int refStart, int refTokens, long rowBytes) {
        return (((long) rb * heads + h) * refTokens + refStart) * rowBytes;
    }

    /** Copies the task's queries scaled by 1/√Dh (own keys) and by the reference factor (reference keys). */
    private static void prepareQueries(MemorySegment qs, long qBase, int nq, int headDim, float inv, float[] refFactor, Scratch s) {
        int bound = F.loopBound(headDim);
        for (int qi = 0; qi < nq; qi++) {
            long src = qBase + (long) qi * headDim * 4;
            int a = qi * headDim;
            int d = 0;
            for (; d < bound; d += L) {
                FloatVector qv = load(qs, src + 4L * d);
                qv.mul(inv).intoArray(s.qOwn, a + d);
                if (refFactor != null) {
                    qv.mul(FloatVector.fromArray(F, refFactor, d)).intoArray(s.qRef, a + d);
                }
            }
            for (; d < headDim; d++) {
                float qv = qs.get(F32, src + 4L * d);
                s.qOwn[a + d] = qv * inv;
                if (refFactor != null) {
                    s.qRef[a + d] = qv * refFactor[d];
                }
            }
        }
    }

    /** {@code logits[qi·ATT_KEYS + j] = qArr[qi]·k[j]} for a block of keys; 2 queries × 4 keys per step. */
    private static void blockLogits(MemorySegment ks, long base, int nk, float[] qArr, int nq, int headDim, float[] logits) {
        long rowBytes = (long) headDim * 4;
        int bound = F.loopBound(headDim);
        int qi = 0;
        for (; qi + 1 < nq; qi += 2) {
            int q0 = qi * headDim, q1 = q0 + headDim;
            int j = 0;
            for (; j + 3 < nk; j += 4) {
                long k0 = base + j * rowBytes, k1 = k0 + rowBytes, k2 = k1 + rowBytes, k3 = k2 + rowBytes;
                FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
                FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
                for (int d = 0; d < bound; d += L) {
                    long db = 4L * d;
                    FloatVector x0 = FloatVector.fromArray(F, qArr, q0 + d), x1 = FloatVector.fromArray(F, qArr, q1 + d);
                    FloatVector v0 = load(ks, k0 + db), v1 = load(ks, k1 + db), v2 = load(ks, k2 + db), v3 = load(ks, k3 + db);
                    a00 = x0.fma(v0, a00);
                    a01 = x0.fma(v1, a01);
                    a02 = x0.fma(v2, a02);
                    a03 = x0.fma(v3, a03);
                    a10 = x1.fma(v0, a10);
                    a11 = x1.fma(v1, a11);
                    a12 = x1.fma(v2, a12);
                    a13 = x1.fma(v3, a13);
                }
                float s00 = a00.reduceLanes(VectorOperators.ADD), s01 = a01.reduceLanes(VectorOperators.ADD);
                float s02 = a02.reduceLanes(VectorOperators.ADD), s03 = a03.reduceLanes(VectorOperators.ADD);
                float s10 = a10.reduceLanes(VectorOperators.ADD), s11 = a11.reduceLanes(VectorOperators.ADD);
                float s12 = a12.reduceLanes(VectorOperators.ADD), s13 = a13.reduceLanes(VectorOperators.ADD);
                for (int d = bound; d < headDim; d++) {
                    long db = 4L * d;
                    float x0 = qArr[q0 + d], x1 = qArr[q1 + d];
                    float v0 = ks.get(F32, k0 + db), v1 = ks.get(F32, k1 + db), v2 = ks.get(F32, k2 + db), v3 = ks.get(F32, k3 + db);
                    s00 = Math.fma(x0, v0, s00);
                    s01 = Math.fma(x0, v1, s01);
                    s02 = Math.fma(x0, v2, s02);
                    s03 = Math.fma(x0, v3, s03);
                    s10 = Math.fma(x1, v0, s10);
                    s11 = Math.fma(x1, v1, s11);
                    s12 = Math.fma(x1, v2, s12);
                    s13 = Math.fma(x1, v3, s13);
                }
                int l0 = qi * ATT_KEYS + j, l1 = l0 + ATT_KEYS;
                logits[l0] = s00;
                logits[l0 + 1] = s01;
                logits[l0 + 2] = s02;
                logits[l0 + 3] = s03;
                logits[l1] = s10;
                logits[l1 + 1] = s11;
                logits[l1 + 2] = s12;
                logits[l1 + 3] = s13;
            }
            for (; j < nk; j++) {
                long k0 = base + j * rowBytes;
                logits[qi * ATT_KEYS + j] = dot(qArr, q0, ks, k0, bound, headDim);
                logits[(qi + 1) * ATT_KEYS + j] = dot(qArr, q1, ks, k0, bound, headDim);
            }
        }
        for (; qi < nq; qi++) {
            int q0 = qi * headDim;
            int j = 0;
            for (; j + 3 < nk; j += 4) {
                long k0 = base + j * rowBytes, k1 = k0 + rowBytes, k2 = k1 + rowBytes, k3 = k2 + rowBytes;
                FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
                for (int d = 0; d < bound; d += L) {
                    long db = 4L * d;
                    FloatVector x0 = FloatVector.fromArray(F, qArr, q0 + d);
                    a0 = x0.fma(load(ks, k0 + db), a0);
                    a1 = x0.fma(load(ks, k1 + db), a1);
                    a2 = x0.fma(load(ks, k2 + db), a2);
                    a3 = x0.fma(load(ks, k3 + db), a3);
                }
                float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
                float s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
                for (int d = bound; d < headDim; d++) {
                    long db = 4L * d;
                    float x0 = qArr[q0 + d];
                    s0 = Math.fma(x0, ks.get(F32, k0 + db), s0);
                    s1 = Math.fma(x0, ks.get(F32, k1 + db), s1);
                    s2 = Math.fma(x0, ks.get(F32, k2 + db), s2);
                    s3 = Math.fma(x0, ks.get(F32, k3 + db), s3);
                }
                int l0 = qi * ATT_KEYS + j;
                logits[l0] = s0;
                logits[l0 + 1] = s1;
                logits[l0 + 2] = s2;
                logits[l0 + 3] = s3;
            }
            for (; j < nk; j++) {
                logits[qi * ATT_KEYS + j] = dot(qArr, q0, ks, base + j * rowBytes, bound, headDim);
            }
        }
    }

    private static float dot(float[] qArr, int q0, MemorySegment ks, long k0, int bound, int headDim) {
        FloatVector a = FloatVector.zero(F);
        for (int d = 0; d < bound; d += L) {
            a = FloatVector.fromArray(F, qArr, q0 + d).fma(load(ks, k0 + 4L * d), a);
        }
        float s = a.reduceLanes(VectorOperators.ADD);
        for (int d = bound; d < headDim; d++) {
            s = Math.fma(qArr[q0 + d], ks.get(F32, k0 + 4L * d), s);
        }
        return s;
    }

    // ---- analysis: attention probabilities, per-band logits ---------------------------------------------------

    /**
     * Tasks are (batch, head, block of queries) as in {@link #attentionKernel}: the logits of the block against
     * blocks of own keys (queries pre-scaled by 1/√Dh) and of reference keys (queries pre-scaled by the
     * reference factor, so the keys are read in place and never scaled) are written straight into the output
     * rows, then each row gets a vectorized max, {@code EXP} with sum, and scaling by the reciprocal sum.
     */
    @Override
    protected void attentionProbsKernel(Tensor q, Tensor k, Tensor refK, Tensor refKeyScale, Tensor out, int batch, int heads,
                                        int lq, int lk, int lr, int headDim, int refBatch, int refStart, int refTokens) {
        int n = lk + lr;
        if (batch == 0 || heads == 0 || lq == 0 || n == 0) {
            return;
        }
        float inv = (float) (1.0 / Math.sqrt(headDim));
        float[] rf = AttentionScores.refFactor(refKeyScale, lr, headDim, inv);
        MemorySegment qs = q.segment(), ks = k.segment(), os = out.segment();
        MemorySegment rks = lr > 0 ? refK.segment() : null;
        int qBlocks = (lq + ATT_QUERIES - 1) / ATT_QUERIES;
        long rowBytes = (long) headDim * 4, outRowBytes = (long) n * 4;
        pool.parallelFor(batch * heads * qBlocks, (task, s) -> {
            int qb = task % qBlocks, bh = task / qBlocks;
            int b = bh / heads, h = bh % heads;
            int i0 = qb * ATT_QUERIES, nq = Math.min(ATT_QUERIES, lq - i0);
            s.attention(headDim);
            prepareQueries(qs, ((long) bh * lq + i0) * rowBytes, nq, headDim, inv, rf, s);
            long oBase = ((long) bh * lq + i0) * outRowBytes;
            logitRows(ks, (long) bh * lk * rowBytes, lk, s.qOwn, nq, headDim, s.logits, os, oBase, outRowBytes, 0);
            if (lr > 0) {
                int rb = refBatch == 1 ? 0 : b;
                logitRows(rks, refBase(rb, h, heads, refStart, refTokens, rowBytes), lr, s.qRef, nq, headDim, s.logits, os, oBase,
                        outRowBytes, lk);
            }
            for (int qi = 0; qi < nq; qi++) {
                softmaxInPlace(os, oBase + qi * outRowBytes, n);
            }
        });
    }

    /**
     * Logits of {@code nq} prepared queries against {@code n} keys from byte {@code kBase} of {@code ks}, computed
     * in blocks of {@link #ATT_KEYS} and copied into output rows (stride {@code outRowBytes}) from column {@code col0}.
     */
    private static void logitRows(MemorySegment ks, long kBase, int n, float[] qArr, int nq, int headDim, float[] logits,
                                  MemorySegment os, long oBase, long outRowBytes, int col0) {
        long rowBytes = (long) headDim * 4;
        for (int j0 = 0; j0 < n; j0 += ATT_KEYS) {
            int nk = Math.min(ATT_KEYS, n - j0);
            blockLogits(ks, kBase + j0 * rowBytes, nk, qArr, nq, headDim, logits);
            for (int qi = 0; qi < nq; qi++) {
                MemorySegment.copy(logits, qi * ATT_KEYS, os, F32, oBase + qi * outRowBytes + 4L * (col0 + j0), nk);
            }
        }
    }

    /** Softmax of the {@code n} floats at byte {@code off} of {@code os}, in place. */
    private static void softmaxInPlace(MemorySegment os, long off, int n) {
        int bound = F.loopBound(n);
        FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int j = 0;
        for (; j < bound; j += L) {
            mv = mv.max(load(os, off + 4L * j));
        }
        float m = mv.reduceLanes(VectorOperators.MAX);
        for (; j < n; j++) {
            m = Math.max(m, os.get(F32, off + 4L * j));
        }
        FloatVector sv = FloatVector.zero(F);
        for (j = 0; j < bound; j += L) {
            FloatVector p = load(os, off + 4L * j).sub(m).lanewise(VectorOperators.EXP);
            p.intoMemorySegment(os, off + 4L * j, LE);
            sv = sv.add(p);
        }
        float sum = sv.reduceLanes(VectorOperators.ADD);
        for (; j < n; j++) {
            float p = (float) Math.exp(os.get(F32, off + 4L * j) - m);
            os.set(F32, off + 4L * j, p);
            sum += p;
        }
        float norm = 1f / sum; // sum ≥ 1: the maximum contributes exp(0)
        for (j = 0; j < bound; j += L) {
            load(os, off + 4L * j).mul(norm).intoMemorySegment(os, off + 4L * j, LE);
        }
        for (; j < n; j++) {
            os.set(F32, off + 4L * j, os.get(F32, off + 4L * j) * norm);
        }
    }

    /** Lane {@code i} takes lane {@code i ^ 1}: the other element of its RoPE pair. */
    private static final VectorShuffle<Float> SWAP_PAIRS = VectorShuffle.fromOp(F, i -> i ^ 1);

    /**
     * Tasks are (batch, head, block of queries), queries pre-scaled by 1/√Dh. Two ways to form the bands of a
     * (query, key):
     * <ul>
     *   <li>per chunk: the products {@code q⊙k} are formed {@link Simd#L} channels at a time and added to their
     *       pair-swapped copy, which leaves every chunk's term {@code q_{2p}k_{2p} + q_{2p+1}k_{2p+1}} in lane pair
     *       {@code p}; the terms are stored (one band per chunk) or summed into their bands in chunk order;</li>
     *   <li>masked (few bands): each query is copied once per band with the channels of other bands zeroed, and
     *       band {@code c} is the SIMD dot product {@code (q⊙mask_c)·k}.</li>
     * </ul>
     * The masked way costs about {@code bands·(Dh/L + 2·log₂L)} vector operations per (query, key), the per-chunk
     * way about {@code 5·Dh/L + 2·Dh} scalar and vector ones; the cheaper is taken.
     */
    @Override
    protected void chunkLogitsKernel(Tensor q, Tensor k, int[] chunkBand, int bands, Tensor out, int batch, int heads,
                                     int lq, int lk, int headDim) {
        if (batch == 0 || heads == 0 || lq == 0 || lk == 0) {
            return;
        }
        int pairs = headDim / 2;
        boolean identity = bands == pairs;
        for (int p = 0; identity && p < pairs; p++) {
            identity = chunkBand[p] == p;
        }
        final boolean perChunk = identity;
        int blocks = (headDim + L - 1) / L;
        boolean masked = !identity && (long) bands * (blocks + 2L * Integer.numberOfTrailingZeros(L)) < 5L * blocks + 2L * headDim;
        float inv = (float) (1.0 / Math.sqrt(headDim));
        MemorySegment qs = q.segment(), ks = k.segment(), os = out.segment();
        int qBlocks = (lq + ATT_QUERIES - 1) / ATT_QUERIES;
        long rowBytes = (long) headDim * 4;
        int bound = F.loopBound(headDim); // L is even: vector chunks hold whole pairs
        pool.parallelFor(batch * heads * qBlocks, (task, s) -> {
            int qb = task % qBlocks, bh = task / qBlocks;
            int i0 = qb * ATT_QUERIES, nq = Math.min(ATT_QUERIES, lq - i0);
            s.attention(headDim);
            float[] band = s.bands(bands);
            float[] qArr = s.qOwn, terms = s.acc; // terms: chunk p's term at index 2p
            prepareQueries(qs, ((long) bh * lq + i0) * rowBytes, nq, headDim, inv, null, s);
            if (masked) {
                float[] qm = s.maskedQuery(bands * headDim);
                for (int qi = 0; qi < nq; qi++) {
                    java.util.Arrays.fill(qm, 0, bands * headDim, 0f);
                    for (int d = 0; d < headDim; d++) {
                        qm[chunkBand[d / 2] * headDim + d] = qArr[qi * headDim + d];
                    }
                    for (int j = 0; j < lk; j++) {
                        long kRow = ((long) bh * lk + j) * rowBytes;
                        long o = ((((long) bh * lq + i0 + qi) * lk) + j) * bands * 4;
                        for (int c = 0; c < bands; c++) {
                            os.set(F32, o + 4L * c, dot(qm, c * headDim, ks, kRow, bound, headDim));
                        }
                    }
                }
                return;
            }
            for (int qi = 0; qi < nq; qi++) {
                int a = qi * headDim;
                for (int j = 0; j < lk; j++) {
                    long kRow = ((long) bh * lk + j) * rowBytes;
                    int d = 0;
                    for (; d < bound; d += L) {
                        FloatVector prod = FloatVector.fromArray(F, qArr, a + d).mul(load(ks, kRow + 4L * d));
                        prod.add(prod.rearrange(SWAP_PAIRS)).intoArray(terms, d);
                    }
                    for (; d < headDim; d += 2) {
                        terms[d] = qArr[a + d] * ks.get(F32, kRow + 4L * d) + qArr[a + d + 1] * ks.get(F32, kRow + 4L * d + 4);
                    }
                    long o = ((((long) bh * lq + i0 + qi) * lk) + j) * bands * 4;
                    if (perChunk) {
                        for (int p = 0; p < pairs; p++) {
                            os.set(F32, o + 4L * p, terms[2 * p]);
                        }
                    } else {
                        java.util.Arrays.fill(band, 0, bands, 0f);
                        for (int p = 0; p < pairs; p++) {
                            band[chunkBand[p]] += terms[2 * p];
                        }
                        MemorySegment.copy(band, 0, os, F32, o, bands);
                    }
                }
            }
        });
    }

    // ---- AdaIN -----------------------------------------------------------------------------------------------
}
