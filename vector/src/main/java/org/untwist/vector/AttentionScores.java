package org.untwist.vector;

import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.L;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import org.untwist.tensor.Tensor;

/**
 * The QKᵀ score tile with queries in vector lanes, shared by flash attention ({@link VectorAttention}) and the
 * attention probabilities ({@link AttentionAnalysis}).
 *
 * <p>A sub-block of {@link #QB} = 2·L queries is packed transposed and pre-scaled, {@code qt[d][i] = q[i][d]·factor[d]}
 * (16 KiB at head dimension 128, so it stays in L1 while the keys stream past). Keys are packed transposed per
 * {@link #QK_R}-key tile, so that the key broadcasts read one sequential stream. {@link #scores} then forms the
 * transposed score tile {@code s[j][i] = Σ_d k[j][d]·qt[d][i]} as broadcast(k[j][d]) × vector(qt[d][i..]) FMAs,
 * QK_R keys × 2 query vectors = 24 accumulators (of the 32 AVX-512 registers). Each score is one FMA chain over d in
 * order, starting from zero, whichever tile or task computes it. Padded query lanes hold zero queries, padded keys
 * of the last tile zero keys; their scores are computed and dropped.
 *
 * <p>Reference keys (shared attention) are read in place and never scaled: the query copy is scaled instead,
 * {@code q·(s⊙k) = (s⊙q)·k} (see {@link #refFactor}).
 */
final class AttentionScores {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Queries per sub-block (two vectors of lanes). */
    static final int QB = 2 * L;
    /** Key rows per register tile. */
    static final int QK_R = 12;

    private AttentionScores() {
    }

    /** Per-element factor of the reference query copy, {@code 1/√Dh · refKeyScale[d/2]}; null without reference keys. */
    static float[] refFactor(Tensor refKeyScale, int lr, int headDim, float inv) {
        if (lr == 0) {
            return null;
        }
        float[] f = new float[headDim];
        for (int d = 0; d < headDim; d++) {
            f[d] = refKeyScale == null ? inv : inv * refKeyScale.get(d / 2);
        }
        return f;
    }

    /**
     * Packs the {@code nq ≤ QB} queries of {@code dh} floats at byte {@code qBase} of {@code qs} as one sub-block:
     * {@code qt[own + d·QB + i] = q[i][d]·inv} and, when {@code ref ≥ 0}, the reference copy
     * {@code qt[ref + d·QB + i] = q[i][d]·refFactor[d]}; padded lanes are zero.
     */
    static void packQueries(MemorySegment qs, long qBase, int nq, int dh, float inv, float[] refFactor, float[] qt, int own,
                            int ref) {
        for (int i = 0; i < nq; i++) {
            long src = qBase + (long) i * dh * 4;
            for (int d = 0; d < dh; d++) {
                float x = qs.get(F32, src + 4L * d);
                qt[own + d * QB + i] = x * inv;
                if (ref >= 0) {
                    qt[ref + d * QB + i] = x * refFactor[d];
                }
            }
        }
        for (int d = 0; d < dh; d++) {
            Arrays.fill(qt, own + d * QB + nq, own + (d + 1) * QB, 0f);
            if (ref >= 0) {
                Arrays.fill(qt, ref + d * QB + nq, ref + (d + 1) * QB, 0f);
            }
        }
    }

    /**
     * Keys {@code [0, nk)} of {@code dh} floats from byte {@code off} of {@code kseg}, transposed per QK_R-key tile
     * into {@code tiles} tiles of {@code kt} (see {@link #scores}); missing keys of the last tile are zero.
     */
    static void packKeys(MemorySegment kseg, long off, int nk, int tiles, int dh, float[] kt) {
        long rowBytes = (long) dh * 4;
        for (int t = 0; t < tiles; t++) {
            int live = Math.min(QK_R, nk - t * QK_R);
            int base = t * dh * QK_R;
            for (int r = 0; r < QK_R; r++) {
                if (r >= live) {
                    for (int d = 0; d < dh; d++) {
                        kt[base + d * QK_R + r] = 0f;
                    }
                    continue;
                }
                long src = off + (t * QK_R + r) * rowBytes;
                for (int d = 0; d < dh; d++) {
                    kt[base + d * QK_R + r] = kseg.get(F32, src + 4L * d);
                }
            }
        }
    }

    /**
     * {@code s[j][i] = Σ_d k[j][d]·qt[d][i]} for every key of the {@code tiles} QK_R-key tiles of {@code kt} (keys
     * transposed per tile: key r of tile t, dimension d at {@code (t·dh + d)·QK_R + r}): QK_R keys × 2 query vectors
     * per register tile, the keys broadcast from one sequential stream.
     */
    static void scores(float[] qt, int qo, float[] kt, int tiles, int dh, float[] s) {
        for (int t = 0; t < tiles; t++) {
            FloatVector z = FloatVector.zero(F);
            FloatVector a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z, a40 = z, a41 = z, a50 = z, a51 = z, a60 = z, a61 = z, a70 = z, a71 = z, a80 = z, a81 = z, a90 = z, a91 = z, a100 = z, a101 = z, a110 = z, a111 = z;
            int kt0 = t * dh * QK_R;
            for (int d = 0; d < dh; d++) {
                int qd = qo + d * QB, kd = kt0 + d * QK_R;
                FloatVector q0 = FloatVector.fromArray(F, qt, qd), q1 = FloatVector.fromArray(F, qt, qd + L);
                FloatVector x = FloatVector.broadcast(F, kt[kd + 0]);
                a00 = x.fma(q0, a00);
                a01 = x.fma(q1, a01);
                x = FloatVector.broadcast(F, kt[kd + 1]);
                a10 = x.fma(q0, a10);
                a11 = x.fma(q1, a11);
                x = FloatVector.broadcast(F, kt[kd + 2]);
                a20 = x.fma(q0, a20);
                a21 = x.fma(q1, a21);
                x = FloatVector.broadcast(F, kt[kd + 3]);
                a30 = x.fma(q0, a30);
                a31 = x.fma(q1, a31);
                x = FloatVector.broadcast(F, kt[kd + 4]);
                a40 = x.fma(q0, a40);
                a41 = x.fma(q1, a41);
                x = FloatVector.broadcast(F, kt[kd + 5]);
                a50 = x.fma(q0, a50);
                a51 = x.fma(q1, a51);
                x = FloatVector.broadcast(F, kt[kd + 6]);
                a60 = x.fma(q0, a60);
                a61 = x.fma(q1, a61);
                x = FloatVector.broadcast(F, kt[kd + 7]);
                a70 = x.fma(q0, a70);
                a71 = x.fma(q1, a71);
                x = FloatVector.broadcast(F, kt[kd + 8]);
                a80 = x.fma(q0, a80);
                a81 = x.fma(q1, a81);
                x = FloatVector.broadcast(F, kt[kd + 9]);
                a90 = x.fma(q0, a90);
                a91 = x.fma(q1, a91);
                x = FloatVector.broadcast(F, kt[kd + 10]);
                a100 = x.fma(q0, a100);
                a101 = x.fma(q1, a101);
                x = FloatVector.broadcast(F, kt[kd + 11]);
                a110 = x.fma(q0, a110);
                a111 = x.fma(q1, a111);
            }
            int o = t * QK_R * QB;
            a00.intoArray(s, o + 0 * QB);
            a01.intoArray(s, o + 0 * QB + L);
            a10.intoArray(s, o + 1 * QB);
            a11.intoArray(s, o + 1 * QB + L);
            a20.intoArray(s, o + 2 * QB);
            a21.intoArray(s, o + 2 * QB + L);
            a30.intoArray(s, o + 3 * QB);
            a31.intoArray(s, o + 3 * QB + L);
            a40.intoArray(s, o + 4 * QB);
            a41.intoArray(s, o + 4 * QB + L);
            a50.intoArray(s, o + 5 * QB);
            a51.intoArray(s, o + 5 * QB + L);
            a60.intoArray(s, o + 6 * QB);
            a61.intoArray(s, o + 6 * QB + L);
            a70.intoArray(s, o + 7 * QB);
            a71.intoArray(s, o + 7 * QB + L);
            a80.intoArray(s, o + 8 * QB);
            a81.intoArray(s, o + 8 * QB + L);
            a90.intoArray(s, o + 9 * QB);
            a91.intoArray(s, o + 9 * QB + L);
            a100.intoArray(s, o + 10 * QB);
            a101.intoArray(s, o + 10 * QB + L);
            a110.intoArray(s, o + 11 * QB);
            a111.intoArray(s, o + 11 * QB + L);
        }
    }
}
