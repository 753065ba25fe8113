package org.untwist.vector;

import static org.untwist.vector.AttentionScores.QB;
import static org.untwist.vector.AttentionScores.QK_R;
import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.L;
import static org.untwist.vector.Simd.LE;
import static org.untwist.vector.Simd.load;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import org.untwist.tensor.Tensor;

/**
 * The analysis operations on attention: {@code attentionProbs}, the softmax rows that {@link VectorAttention} never
 * materializes, and {@code chunkLogits}, each logit split into the terms of its RoPE chunks (summed per band).
 */
final class AttentionAnalysis {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** attentionProbs: keys per packed block, a multiple of QK_R (the transposed key tiles fill it exactly). */
    static final int PROBS_KEYS = 6 * QK_R;
    /** attentionProbs: most query sub-blocks per task; they share each packed key block. */
    static final int PROBS_GROUP = 8;
    /** chunkLogits: queries per task. */
    static final int CHUNK_QUERIES = 16;

    private AttentionAnalysis() {
    }

    /**
     * Tasks are (batch, head, group of query sub-blocks). The logits come from the flash-attention score tile
     * ({@link AttentionScores}): queries packed pre-scaled by 1/√Dh for the own keys and by the reference factor
     * for the reference keys (read in place, never scaled); each block of keys is packed once per task and scored
     * against every sub-block of the group, and the score tiles are written transposed into the output rows. Each
     * row then gets a vectorized max, exponentials with sum, and scaling by the reciprocal sum. Every logit is the
     * same FMA chain whichever task computes it, so the thread count (which sets the group size) does not matter.
     */
    static void attentionProbs(ComputePool pool, Tensor q, Tensor k, Tensor refK, Tensor refKeyScale, Tensor out, int batch,
                               int heads, int lq, int lk, int lr, int headDim, int refBatch, int refStart, int refTokens) {
        int n = lk + lr;
        if (batch == 0 || heads == 0 || lq == 0 || n == 0) {
            return;
        }
        float inv = (float) (1.0 / Math.sqrt(headDim));
        float[] rf = AttentionScores.refFactor(refKeyScale, lr, headDim, inv);
        MemorySegment qs = q.segment(), ks = k.segment(), os = out.segment();
        MemorySegment rks = lr > 0 ? refK.segment() : null;
        int subBlocks = (lq + QB - 1) / QB;
        long total = (long) batch * heads * subBlocks;
        // enough tasks to balance (about 8 per thread), otherwise share key blocks across up to PROBS_GROUP sub-blocks
        int group = (int) Math.max(1, Math.min(PROBS_GROUP, total / (8L * pool.threads())));
        int chunks = (subBlocks + group - 1) / group;
        if ((long) batch * heads * chunks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("attentionProbs too large: " + total + " query blocks");
        }
        long rowBytes = (long) headDim * 4, outRowBytes = (long) n * 4;
        int qtSize = headDim * QB;
        pool.parallelFor(batch * heads * chunks, (task, s) -> {
            int ch = task % chunks, bh = task / chunks;
            int b = bh / heads, h = bh % heads;
            int i0 = ch * group * QB, nq = Math.min(group * QB, lq - i0);
            int nsb = (nq + QB - 1) / QB;
            float[] qt = s.queryTiles((rf == null ? 1 : 2) * nsb * qtSize);
            float[] kt = s.keyTiles(PROBS_KEYS * headDim), st = s.scoreTile(PROBS_KEYS * QB);
            for (int sb = 0; sb < nsb; sb++) { // own copies at sb·qtSize, reference copies at (nsb + sb)·qtSize
                AttentionScores.packQueries(qs, ((long) bh * lq + i0 + sb * QB) * rowBytes, Math.min(QB, nq - sb * QB), headDim,
                        inv, rf, qt, sb * qtSize, rf == null ? -1 : (nsb + sb) * qtSize);
            }
            long oBase = ((long) bh * lq + i0) * outRowBytes;
            logitRows(ks, (long) bh * lk * rowBytes, lk, qt, 0, nq, headDim, kt, st, os, oBase, outRowBytes, 0);
            if (lr > 0) {
                int rb = refBatch == 1 ? 0 : b;
                long refBase = (((long) rb * heads + h) * refTokens + refStart) * rowBytes;
                logitRows(rks, refBase, lr, qt, nsb * qtSize, nq, headDim, kt, st, os, oBase, outRowBytes, lk);
            }
            for (int qi = 0; qi < nq; qi++) {
                softmaxInPlace(os, oBase + qi * outRowBytes, n);
            }
        });
    }

    /**
     * Logits of {@code nq} queries, packed as consecutive sub-blocks from {@code qt[qtOff]}, against {@code n} keys
     * from byte {@code kBase} of {@code ks}, block by block of {@link #PROBS_KEYS}; written into the output rows
     * (stride {@code outRowBytes}) from column {@code col0}.
     */
    private static void logitRows(MemorySegment ks, long kBase, int n, float[] qt, int qtOff, int nq, int headDim, float[] kt,
                                  float[] st, MemorySegment os, long oBase, long outRowBytes, int col0) {
        long rowBytes = (long) headDim * 4;
        int qtSize = headDim * QB;
        for (int j0 = 0; j0 < n; j0 += PROBS_KEYS) {
            int nk = Math.min(PROBS_KEYS, n - j0), tiles = (nk + QK_R - 1) / QK_R;
            AttentionScores.packKeys(ks, kBase + j0 * rowBytes, nk, tiles, headDim, kt);
            for (int q0 = 0; q0 < nq; q0 += QB) {
                AttentionScores.scores(qt, qtOff + (q0 / QB) * qtSize, kt, tiles, headDim, st);
                for (int i = 0, live = Math.min(QB, nq - q0); i < live; i++) { // st[j·QB + i]: key j, query i
                    long o = oBase + (q0 + i) * outRowBytes + 4L * (col0 + j0);
                    for (int j = 0; j < nk; j++) {
                        os.set(F32, o + 4L * j, st[j * QB + i]);
                    }
                }
            }
        }
    }

    /**
     * Softmax of the {@code n} floats at byte {@code off} of {@code os}, in place: the maximum ({@code reduceLanes(MAX)}
     * gives the same result in any order, so it may stay), {@link VectorExp#expNonPositive} of the differences (the
     * tail as one masked vector), their sum in a fixed order ({@link Simd#sum}), and scaling by its reciprocal.
     */
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
            FloatVector p = VectorExp.expNonPositive(load(os, off + 4L * j).sub(m));
            p.intoMemorySegment(os, off + 4L * j, LE);
            sv = sv.add(p);
        }
        if (j < n) {
            VectorMask<Float> tail = F.indexInRange(j, n);
            FloatVector p = VectorExp.expNonPositive(FloatVector.fromMemorySegment(F, os, off + 4L * j, LE, tail).sub(m));
            p.intoMemorySegment(os, off + 4L * j, LE, tail);
            sv = sv.add(p, tail);
        }
        float norm = 1f / Simd.sum(sv); // sum ≥ 1: the maximum contributes exp(0)
        for (j = 0; j < bound; j += L) {
            load(os, off + 4L * j).mul(norm).intoMemorySegment(os, off + 4L * j, LE);
        }
        for (; j < n; j++) {
            os.set(F32, off + 4L * j, os.get(F32, off + 4L * j) * norm);
        }
    }

    /**
     * Tasks are (batch, head, block of {@link #CHUNK_QUERIES} queries), queries pre-scaled by 1/√Dh. Two ways to form
     * the bands of a (query, key):
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
    static void chunkLogits(ComputePool pool, Tensor q, Tensor k, int[] chunkBand, int bands, Tensor out, int batch, int heads,
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
        int qBlocks = (lq + CHUNK_QUERIES - 1) / CHUNK_QUERIES;
        long rowBytes = (long) headDim * 4;
        int bound = F.loopBound(headDim); // L is even: vector chunks hold whole pairs
        pool.parallelFor(batch * heads * qBlocks, (task, s) -> {
            int qb = task % qBlocks, bh = task / qBlocks;
            int i0 = qb * CHUNK_QUERIES, nq = Math.min(CHUNK_QUERIES, lq - i0);
            float[] qArr = s.chunkQueries(CHUNK_QUERIES * headDim);
            scaledQueries(qs, ((long) bh * lq + i0) * rowBytes, nq, headDim, inv, qArr);
            if (masked) {
                float[] qm = s.maskedQueries(bands * headDim);
                for (int qi = 0; qi < nq; qi++) {
                    Arrays.fill(qm, 0, bands * headDim, 0f);
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
            float[] terms = s.chunkTerms(headDim), band = s.bandSums(bands); // terms: chunk p's term at index 2p
            for (int qi = 0; qi < nq; qi++) {
                int a = qi * headDim;
                for (int j = 0; j < lk; j++) {
                    long kRow = ((long) bh * lk + j) * rowBytes;
                    int d = 0;
                    for (; d < bound; d += L) {
                        FloatVector prod = FloatVector.fromArray(F, qArr, a + d).mul(load(ks, kRow + 4L * d));
                        prod.add(prod.rearrange(Simd.SWAP_PAIRS)).intoArray(terms, d);
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
                        Arrays.fill(band, 0, bands, 0f);
                        for (int p = 0; p < pairs; p++) {
                            band[chunkBand[p]] += terms[2 * p];
                        }
                        MemorySegment.copy(band, 0, os, F32, o, bands);
                    }
                }
            }
        });
    }

    /** {@code out[qi] = q[qi]·inv} for the {@code nq} queries of {@code headDim} floats at byte {@code qBase} of {@code qs}. */
    private static void scaledQueries(MemorySegment qs, long qBase, int nq, int headDim, float inv, float[] out) {
        int bound = F.loopBound(headDim);
        for (int qi = 0; qi < nq; qi++) {
            long src = qBase + (long) qi * headDim * 4;
            int a = qi * headDim;
            int d = 0;
            for (; d < bound; d += L) {
                load(qs, src + 4L * d).mul(inv).intoArray(out, a + d);
            }
            for (; d < headDim; d++) {
                out[a + d] = qs.get(F32, src + 4L * d) * inv;
            }
        }
    }

    /** {@code q·k}, q at {@code qArr[q0]}, k at byte {@code k0} of {@code ks}: lane-wise FMAs, fixed-order lane sum, scalar tail. */
    private static float dot(float[] qArr, int q0, MemorySegment ks, long k0, int bound, int headDim) {
        FloatVector a = FloatVector.zero(F);
        for (int d = 0; d < bound; d += L) {
            a = FloatVector.fromArray(F, qArr, q0 + d).fma(load(ks, k0 + 4L * d), a);
        }
        float s = Simd.sum(a);
        for (int d = bound; d < headDim; d++) {
            s = Math.fma(qArr[q0 + d], ks.get(F32, k0 + 4L * d), s);
        }
        return s;
    }
}
