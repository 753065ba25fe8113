package org.untwist.vector;

import static org.untwist.vector.AttentionScores.QB;
import static org.untwist.vector.AttentionScores.QK_R;
import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.L;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * Flash attention with the text encoders' logit terms, {@code softmax(scale·q·kᵀ + bias)·v}: T5's relative position
 * bias {@code bias[i, j] = positionBias[j − i + Lq − 1, h]} and CLIP's causal mask (keys {@code j > i} left out).
 *
 * <p>The tiles, the online softmax and P·V are those of {@link VectorAttention} (queries in lanes, sub-blocks of
 * {@link AttentionScores#QB} packed transposed and pre-scaled by {@code scale}, the QKᵀ register tile of
 * {@link AttentionScores#scores}, {@link VectorAttention#softmax}, {@link VectorAttention#accumulate}); what differs
 * happens on each score tile while it is in L1, before the running max: for key {@code j} the lanes of queries
 * {@code i0..i0+QB−1} need {@code positionBias[j − i + Lq − 1, h]}, which for a fixed {@code j} runs backwards
 * through the bias column with {@code i}, so each task first copies its head's column reversed
 * ({@code rev[m] = positionBias[Lq + Lk − 2 − m, h]}, then {@code bias[i, j] = rev[Lk − 1 − j + i]}): one contiguous
 * vector load per key row and query vector, added to the tile. No score tensor is materialized.
 *
 * <p>Causal: a sub-block's keys stop after its last query, so key blocks wholly above the diagonal are never
 * packed nor scored (a task packs a key block only while one of its sub-blocks still needs it), and a sub-block
 * stops its last key block at its last query (fewer score tiles). Only the key rows past a lane's query in that
 * last, diagonal block are masked, to −∞ (whose exponential the clamped polynomial turns into about e^−87, far
 * below a float ulp of the row sum, which holds the max's exp(0) = 1). Every query's keys are visited in the same
 * blocks and order whatever the task grouping or thread count, so results are deterministic.
 */
final class MaskedAttention {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final float NEG_INF = Float.NEGATIVE_INFINITY;
    /** Lane indices 0..L−1 as floats (exact: token indices are far below 2^24). */
    private static final FloatVector IOTA = FloatVector.broadcast(F, 0f).addIndex(1);

    /** Each pool thread's reversed bias column (see the class comment), grown on demand. */
    private static final ThreadLocal<float[][]> REVERSED = ThreadLocal.withInitial(() -> new float[][] {new float[0]});

    private final MemorySegment qs, ks, vs, os, bias;
    private final int heads, lq, lk, dh;
    private final float scale;
    private final boolean causal;
    private final int subBlocks, group, chunks;

    /** @param bias {@code [lq + lk − 1, heads]} float32, or null */
    MaskedAttention(MemorySegment qs, MemorySegment ks, MemorySegment vs, MemorySegment os, int batch, int heads, int lq, int lk,
                    int headDim, float scale, MemorySegment bias, boolean causal, int threads) {
        this.qs = qs;
        this.ks = ks;
        this.vs = vs;
        this.os = os;
        this.bias = bias;
        this.heads = heads;
        this.lq = lq;
        this.lk = lk;
        this.dh = headDim;
        this.scale = scale;
        this.causal = causal;
        this.subBlocks = (lq + QB - 1) / QB;
        this.group = VectorAttention.group(batch, heads, subBlocks, threads);
        this.chunks = (subBlocks + group - 1) / group;
    }

    int tasks(int batch) {
        return batch * heads * chunks;
    }

    /** Task {@code (b, h, chunk of sub-blocks)}. */
    void run(int task) {
        int ch = task % chunks, bh = task / chunks;
        int b = bh / heads, h = bh % heads;
        int sb0 = ch * group, nsb = Math.min(group, subBlocks - sb0);
        VectorAttention.Buffers buf = VectorAttention.BUFFERS.get();
        buf.ensure(dh, group);
        float[] rev = bias == null ? null : reversedBias(h);
        long rowBytes = (long) dh * 4;
        int qtSize = dh * QB;
        for (int sb = 0; sb < nsb; sb++) {
            int i0 = (sb0 + sb) * QB;
            AttentionScores.packQueries(qs, ((long) bh * lq + i0) * rowBytes, Math.min(QB, lq - i0), dh, scale, null, buf.qt, sb * qtSize, -1);
        }
        Arrays.fill(buf.mx, 0, nsb * QB, NEG_INF);
        Arrays.fill(buf.sm, 0, nsb * QB, 0f);
        Arrays.fill(buf.ot, 0, nsb * qtSize, 0f);
        // causal: no key after the task's last query is needed
        int end = causal ? Math.min(lk, Math.min(lq, (sb0 + nsb) * QB)) : lk;
        float[] kt = buf.kt, vb = buf.vb, s = buf.s, qt = buf.qt, ot = buf.ot, corr = buf.corr;
        long base = (long) bh * lk * rowBytes;
        for (int j0 = 0; j0 < end; j0 += VectorAttention.KB) {
            int nk = Math.min(VectorAttention.KB, end - j0);
            long off = base + j0 * rowBytes;
            int tiles = (nk + QK_R - 1) / QK_R;
            AttentionScores.packKeys(ks, off, nk, tiles, dh, kt);
            MemorySegment.copy(vs, F32, off, vb, 0, nk * dh);
            for (int sb = 0; sb < nsb; sb++) {
                int i0 = (sb0 + sb) * QB;
                int live = nk;
                if (causal) {
                    int last = Math.min(lq, i0 + QB) - 1; // the sub-block's last query
                    if (j0 > last) {
                        continue; // wholly above the diagonal: skipped, not masked
                    }
                    live = Math.min(nk, last + 1 - j0);
                }
                AttentionScores.scores(qt, sb * qtSize, kt, (live + QK_R - 1) / QK_R, dh, s);
                logitTerms(s, live, j0, i0, rev, causal && j0 + live - 1 > i0);
                if (VectorAttention.softmax(s, live, buf.mx, buf.sm, sb * QB, corr)) {
                    VectorAttention.rescale(ot, sb * qtSize, dh, corr);
                }
                VectorAttention.accumulate(vb, s, live, dh, ot, sb * qtSize);
            }
        }
        for (int sb = 0; sb < nsb; sb++) {
            int i0 = (sb0 + sb) * QB;
            writeOut(buf, sb, b, h, i0, Math.min(QB, lq - i0));
        }
    }

    /** Head {@code h}'s bias column reversed, {@code rev[m] = positionBias[lq + lk − 2 − m, h]}, then QB zeros (padded lanes). */
    private float[] reversedBias(int h) {
        float[][] holder = REVERSED.get();
        int n = lq + lk - 1;
        if (holder[0].length < n + QB) {
            holder[0] = new float[n + QB];
        }
        float[] rev = holder[0];
        for (int m = 0; m < n; m++) {
            rev[m] = bias.get(F32, ((long) (n - 1 - m) * heads + h) * 4);
        }
        Arrays.fill(rev, n, n + QB, 0f);
        return rev;
    }

    /**
     * On the score tile {@code s[j][i]} of keys {@code j0 + j}, {@code j < nk}, and queries {@code i0 + i}: adds the
     * position bias ({@code rev} non-null) and, when {@code mask}, sets the scores of keys after the lane's query to −∞.
     */
    private void logitTerms(float[] s, int nk, int j0, int i0, float[] rev, boolean mask) {
        for (int j = 0; j < nk; j++) {
            int key = j0 + j;
            for (int c = 0; c < QB; c += L) {
                int o = j * QB + c;
                FloatVector x = FloatVector.fromArray(F, s, o);
                if (rev != null) {
                    x = x.add(FloatVector.fromArray(F, rev, lk - 1 - key + i0 + c));
                }
                if (mask) {
                    VectorMask<Float> after = IOTA.add((float) (i0 + c)).lt((float) key); // query i < key j
                    x = x.blend(NEG_INF, after);
                }
                x.intoArray(s, o);
            }
        }
    }

    /** {@code out[b, i0 + i, h·Dh + d] = ot[d][i] / sum[i]} (0 for an empty softmax). */
    private void writeOut(VectorAttention.Buffers buf, int sb, int b, int h, int i0, int nq) {
        float[] ot = buf.ot, sm = buf.sm;
        int oo = sb * dh * QB;
        long rowBytes = (long) dh * 4;
        for (int i = 0; i < nq; i++) {
            float sum = sm[sb * QB + i];
            float norm = sum > 0 ? 1f / sum : 0f;
            long o = (((long) b * lq + i0 + i) * heads + h) * rowBytes;
            for (int d = 0; d < dh; d++) {
                os.set(F32, o + 4L * d, ot[oo + d * QB + i] * norm);
            }
        }
    }
}
