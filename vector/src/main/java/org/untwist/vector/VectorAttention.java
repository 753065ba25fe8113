package org.untwist.vector;

import static org.untwist.vector.AttentionScores.QB;
import static org.untwist.vector.AttentionScores.QK_R;
import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.L;
import static org.untwist.vector.VectorExp.EXP_LO;
import static org.untwist.vector.VectorExp.LN2_HI;
import static org.untwist.vector.VectorExp.LN2_LO;
import static org.untwist.vector.VectorExp.LOG2E;
import static org.untwist.vector.VectorExp.P0;
import static org.untwist.vector.VectorExp.P1;
import static org.untwist.vector.VectorExp.P2;
import static org.untwist.vector.VectorExp.P3;
import static org.untwist.vector.VectorExp.P4;
import static org.untwist.vector.VectorExp.P5;
import static org.untwist.vector.VectorExp.ROUND;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Fused flash-style attention (online softmax) with register-blocked micro-GEMMs.
 *
 * <p>Layout: queries live in vector lanes, sub-blocks of {@link AttentionScores#QB} = 2·L queries packed
 * transposed and pre-scaled (see {@link AttentionScores}), so that
 * <ul>
 *   <li>QKᵀ is {@link AttentionScores#scores}, the transposed score tile {@code s[j][i]} of
 *       {@link AttentionScores#QK_R} keys × 2 query vectors in registers; each key block is packed once per task,
 *       transposed per QK_R-key tile, and reused by every sub-block of the task;</li>
 *   <li>the online softmax is purely vertical: the running max and sum of each query are lanes, block maxima
 *       are lane-wise maxima over the key rows, the exponentials are the polynomial {@code exp} of {@link VectorExp}
 *       (Cephes {@code expf}, about 1 ulp, the same bits in every JIT tier) spelled out over the tile;</li>
 *   <li>P·V accumulates the transposed output {@code ot[d][i] += Σ_j v[j][d]·p[j][i]} as broadcast(v[j][d]) ×
 *       vector(p[j][i..]) FMAs, {@link #PV_R} head dimensions × 2 query vectors in registers; the running
 *       accumulator is rescaled by {@code exp(m_old − m_new)} in a separate pass only when some lane's max grew.</li>
 * </ul>
 * Both register tiles hold 24 accumulators (of the 32 AVX-512 registers). Measured against the previous 4-vector
 * sub-blocks (6 keys or dimensions × 4 query vectors, row-major key copies), on 24 × 1024 × 2048 × 128, 2 threads:
 * 224 → 233 GFLOP/s.
 * Padded query lanes (the last sub-block of a head) hold zero queries, padded keys of the last tile zero keys;
 * their lanes and rows are computed and dropped.
 * Every query sees the same key blocks in the same order with the same per-lane arithmetic wherever its task
 * runs, so results do not depend on the thread count or on the task grouping. The reference keys (shared
 * attention) run through the same kernel with the query copy scaled by {@code refKeyScale} (q·(s⊙k) = (s⊙q)·k).
 */
final class VectorAttention {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Keys per online-softmax block (a multiple of QK_R: the transposed key tiles fill it exactly). */
    static final int KB = 72;
    /**
     * Most sub-blocks per task: they share each copied key/value block. 32 (1024 queries) copies the keys and values
     * once per head on the FLUX shape; with 4 sub-blocks the copies cost ~12 % (24 × 1024 × 2048 × 128, 2 threads).
     */
    static final int GROUP = 32;
    /** Head dimensions per P·V register tile. */
    static final int PV_R = 12;

    private static final float NEG_INF = Float.NEGATIVE_INFINITY;

    private final MemorySegment qs, ks, vs, rks, rvs, os;
    private final int heads, lq, lk, lr, dh, refBatch, refStart, refTokens;
    private final float inv;
    private final float[] refFactor;
    private final int subBlocks, group, chunks;

    /** Per-thread buffers, also those of {@link MaskedAttention}. */
    static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

    /** Per-thread buffers, grown on demand and reused across calls. */
    static final class Buffers {
        float[] qt = new float[0], ot = new float[0], kt = new float[0], vb = new float[0], s = new float[0];
        float[] mx = new float[0], sm = new float[0], corr = new float[QB];

        void ensure(int dh, int group) {
            int q = 2 * group * dh * QB;
            if (qt.length < q) {
                qt = new float[q];
                ot = new float[group * dh * QB];
            }
            if (mx.length < group * QB) { // on its own: a larger group at a smaller head dimension needs no larger qt
                mx = new float[group * QB];
                sm = new float[group * QB];
            }
            if (kt.length < KB * dh) {
                kt = new float[KB * dh];
                vb = new float[KB * dh];
            }
            if (s.length < KB * QB) {
                s = new float[KB * QB];
            }
        }
    }

    /**
     * @param refFactor per-element factor of the reference query copy ({@code inv·refKeyScale[d/2]}), null without
     *                  reference keys
     */
    VectorAttention(MemorySegment qs, MemorySegment ks, MemorySegment vs, MemorySegment rks, MemorySegment rvs, MemorySegment os,
                    int batch, int heads, int lq, int lk, int lr, int headDim, int refBatch, int refStart, int refTokens,
                    float inv, float[] refFactor, int threads) {
        this.qs = qs;
        this.ks = ks;
        this.vs = vs;
        this.rks = rks;
        this.rvs = rvs;
        this.os = os;
        this.heads = heads;
        this.lq = lq;
        this.lk = lk;
        this.lr = lr;
        this.dh = headDim;
        this.refBatch = refBatch;
        this.refStart = refStart;
        this.refTokens = refTokens;
        this.inv = inv;
        this.refFactor = refFactor;
        this.subBlocks = (lq + QB - 1) / QB;
        this.group = group(batch, heads, subBlocks, threads);
        this.chunks = (subBlocks + group - 1) / group;
    }

    /**
     * Query sub-blocks per task: enough tasks to balance (about 8 per thread), otherwise sub-blocks share each
     * copied key block, up to {@link #GROUP}. Shared with {@link MaskedAttention}.
     */
    static int group(int batch, int heads, int subBlocks, int threads) {
        long total = (long) batch * heads * subBlocks;
        int group = (int) Math.max(1, Math.min(GROUP, total / (8L * threads)));
        if ((long) batch * heads * ((subBlocks + group - 1) / group) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("attention too large: " + total + " query blocks");
        }
        return group;
    }

    int tasks(int batch) {
        return batch * heads * chunks;
    }

    /** Task {@code (b, h, chunk of sub-blocks)}. */
    void run(int task) {
        int ch = task % chunks, bh = task / chunks;
        int b = bh / heads, h = bh % heads;
        int sb0 = ch * group, nsb = Math.min(group, subBlocks - sb0);
        Buffers buf = BUFFERS.get();
        buf.ensure(dh, group);
        long rowBytes = (long) dh * 4;
        int qtSize = dh * QB;
        for (int sb = 0; sb < nsb; sb++) {
            int i0 = (sb0 + sb) * QB;
            AttentionScores.packQueries(qs, ((long) bh * lq + i0) * rowBytes, Math.min(QB, lq - i0), dh, inv, refFactor, buf.qt,
                    sb * qtSize, refFactor == null ? -1 : (group + sb) * qtSize);
        }
        Arrays.fill(buf.mx, 0, nsb * QB, NEG_INF);
        Arrays.fill(buf.sm, 0, nsb * QB, 0f);
        Arrays.fill(buf.ot, 0, nsb * qtSize, 0f);
        attend(buf, ks, vs, (long) bh * lk * rowBytes, lk, nsb, 0);
        if (lr > 0) {
            int rb = refBatch == 1 ? 0 : b;
            long base = (((long) rb * heads + h) * refTokens + refStart) * rowBytes;
            attend(buf, rks, rvs, base, lr, nsb, group * qtSize);
        }
        for (int sb = 0; sb < nsb; sb++) {
            int i0 = (sb0 + sb) * QB;
            writeOut(buf, sb, b, h, i0, Math.min(QB, lq - i0));
        }
    }

    /** Online softmax of the task's sub-blocks over {@code n} keys at byte {@code base} of {@code kseg}/{@code vseg}. */
    private void attend(Buffers buf, MemorySegment kseg, MemorySegment vseg, long base, int n, int nsb, int qtOff) {
        long rowBytes = (long) dh * 4;
        int qtSize = dh * QB;
        float[] kt = buf.kt, vb = buf.vb, s = buf.s, qt = buf.qt, ot = buf.ot, corr = buf.corr;
        for (int j0 = 0; j0 < n; j0 += KB) {
            int nk = Math.min(KB, n - j0);
            long off = base + j0 * rowBytes;
            int tiles = (nk + QK_R - 1) / QK_R;
            AttentionScores.packKeys(kseg, off, nk, tiles, dh, kt);
            MemorySegment.copy(vseg, F32, off, vb, 0, nk * dh);
            for (int sb = 0; sb < nsb; sb++) {
                AttentionScores.scores(qt, qtOff + sb * qtSize, kt, tiles, dh, s);
                if (softmax(s, nk, buf.mx, buf.sm, sb * QB, corr)) {
                    rescale(ot, sb * qtSize, dh, corr);
                }
                accumulate(vb, s, nk, dh, ot, sb * qtSize);
            }
        }
    }

    /**
     * Vertical online-softmax step of one sub-block: new running maxima {@code mx} (compare and blend: a NaN logit
     * does not become the max but still turns its lane's sum into NaN), {@code corr = exp(m_old − m_new)},
     * {@code s ← exp(s − m_new)}, {@code sum ← sum·corr + Σ_j s}. A lane whose max is still −∞ subtracts 0 instead
     * (no NaN from −∞ − −∞). Returns whether some {@code corr} lane differs from 1.
     */
    static boolean softmax(float[] s, int nk, float[] mx, float[] sm, int mo, float[] corr) {
        boolean rescale = false;
        for (int c = 0; c < QB; c += L) {
            FloatVector m0 = FloatVector.fromArray(F, mx, mo + c), n0 = m0, n1 = m0;
            int j = 0;
            for (; j + 1 < nk; j += 2) {
                FloatVector x0 = FloatVector.fromArray(F, s, j * QB + c), x1 = FloatVector.fromArray(F, s, (j + 1) * QB + c);
                n0 = n0.blend(x0, n0.lt(x0));
                n1 = n1.blend(x1, n1.lt(x1));
            }
            if (j < nk) {
                FloatVector x0 = FloatVector.fromArray(F, s, j * QB + c);
                n0 = n0.blend(x0, n0.lt(x0));
            }
            n0 = n0.blend(n1, n0.lt(n1));
            n0.intoArray(mx, mo + c);
            FloatVector z0 = n0.blend(0f, n0.eq(NEG_INF));
            FloatVector c0 = VectorExp.expNonPositive(m0.sub(z0)); // 0 where the old max was −∞
            FloatVector t0 = FloatVector.zero(F);
            for (j = 0; j < nk; j++) {
                int o = j * QB + c;
                // exp(x), x ≤ 0: VectorExp's polynomial spelled out (a helper method was not always inlined this deep
                // into this method, NodeCountInliningCutoff, and its boxed vectors made attention 1.5× slower), clamped
                // at EXP_LO so that 2^n stays normal: below it about e^EXP_LO instead of 0. NaN stays NaN.
                FloatVector x = FloatVector.fromArray(F, s, o).sub(z0).max(EXP_LO);
                FloatVector big = x.mul(LOG2E).add(ROUND);
                FloatVector n = big.sub(ROUND);
                FloatVector r = n.fma(FloatVector.broadcast(F, -LN2_HI), x);
                r = n.fma(FloatVector.broadcast(F, -LN2_LO), r);
                FloatVector y = r.fma(P0, P1).fma(r, FloatVector.broadcast(F, P2)).fma(r, FloatVector.broadcast(F, P3))
                        .fma(r, FloatVector.broadcast(F, P4)).fma(r, FloatVector.broadcast(F, P5));
                y = y.fma(r.mul(r), r).add(1f);
                FloatVector p0 = y.reinterpretAsInts().add(big.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23))
                        .reinterpretAsFloats();
                p0.intoArray(s, o);
                t0 = t0.add(p0);
            }
            FloatVector.fromArray(F, sm, mo + c).fma(c0, t0).intoArray(sm, mo + c);
            c0.intoArray(corr, c);
            rescale |= c0.compare(VectorOperators.NE, 1f).anyTrue();
        }
        return rescale;
    }

    /** {@code ot[d][i] *= corr[i]}. */
    static void rescale(float[] ot, int oo, int dh, float[] corr) {
        FloatVector c0 = FloatVector.fromArray(F, corr, 0), c1 = FloatVector.fromArray(F, corr, L);
        for (int d = 0; d < dh; d++) {
            int o = oo + d * QB;
            FloatVector.fromArray(F, ot, o).mul(c0).intoArray(ot, o);
            FloatVector.fromArray(F, ot, o + L).mul(c1).intoArray(ot, o + L);
        }
    }

    /**
     * {@code ot[d][i] += Σ_{j<nk} vb[j][d]·p[j][i]}: PV_R dimensions × 2 query vectors per register tile, then
     * tiles of 8 and 4 dimensions and single ones for the rest. One method per tile width: a single method with all
     * of them is too large for C1 ("out of virtual registers"), which once left it interpreted for seconds.
     */
    static void accumulate(float[] vb, float[] p, int nk, int dh, float[] ot, int oo) {
        int d = 0;
        for (; d + PV_R <= dh; d += PV_R) {
            accumulate12(vb, p, nk, dh, ot, oo, d);
        }
        for (; d + 8 <= dh; d += 8) {
            accumulate8(vb, p, nk, dh, ot, oo, d);
        }
        for (; d + 4 <= dh; d += 4) {
            accumulate4(vb, p, nk, dh, ot, oo, d);
        }
        for (; d < dh; d++) {
            accumulate1(vb, p, nk, dh, ot, oo, d);
        }
    }

    /** Dimensions {@code [d, d + 12)} of {@link #accumulate}. */
    private static void accumulate12(float[] vb, float[] p, int nk, int dh, float[] ot, int oo, int d) {
        int o = oo + d * QB;
        FloatVector a00 = FloatVector.fromArray(F, ot, o + 0 * QB), a01 = FloatVector.fromArray(F, ot, o + 0 * QB + L);
        FloatVector a10 = FloatVector.fromArray(F, ot, o + 1 * QB), a11 = FloatVector.fromArray(F, ot, o + 1 * QB + L);
        FloatVector a20 = FloatVector.fromArray(F, ot, o + 2 * QB), a21 = FloatVector.fromArray(F, ot, o + 2 * QB + L);
        FloatVector a30 = FloatVector.fromArray(F, ot, o + 3 * QB), a31 = FloatVector.fromArray(F, ot, o + 3 * QB + L);
        FloatVector a40 = FloatVector.fromArray(F, ot, o + 4 * QB), a41 = FloatVector.fromArray(F, ot, o + 4 * QB + L);
        FloatVector a50 = FloatVector.fromArray(F, ot, o + 5 * QB), a51 = FloatVector.fromArray(F, ot, o + 5 * QB + L);
        FloatVector a60 = FloatVector.fromArray(F, ot, o + 6 * QB), a61 = FloatVector.fromArray(F, ot, o + 6 * QB + L);
        FloatVector a70 = FloatVector.fromArray(F, ot, o + 7 * QB), a71 = FloatVector.fromArray(F, ot, o + 7 * QB + L);
        FloatVector a80 = FloatVector.fromArray(F, ot, o + 8 * QB), a81 = FloatVector.fromArray(F, ot, o + 8 * QB + L);
        FloatVector a90 = FloatVector.fromArray(F, ot, o + 9 * QB), a91 = FloatVector.fromArray(F, ot, o + 9 * QB + L);
        FloatVector a100 = FloatVector.fromArray(F, ot, o + 10 * QB), a101 = FloatVector.fromArray(F, ot, o + 10 * QB + L);
        FloatVector a110 = FloatVector.fromArray(F, ot, o + 11 * QB), a111 = FloatVector.fromArray(F, ot, o + 11 * QB + L);
        for (int j = 0; j < nk; j++) {
            int pj = j * QB, v = j * dh + d;
            FloatVector p0 = FloatVector.fromArray(F, p, pj), p1 = FloatVector.fromArray(F, p, pj + L);
            FloatVector x = FloatVector.broadcast(F, vb[v + 0]);
            a00 = x.fma(p0, a00);
            a01 = x.fma(p1, a01);
            x = FloatVector.broadcast(F, vb[v + 1]);
            a10 = x.fma(p0, a10);
            a11 = x.fma(p1, a11);
            x = FloatVector.broadcast(F, vb[v + 2]);
            a20 = x.fma(p0, a20);
            a21 = x.fma(p1, a21);
            x = FloatVector.broadcast(F, vb[v + 3]);
            a30 = x.fma(p0, a30);
            a31 = x.fma(p1, a31);
            x = FloatVector.broadcast(F, vb[v + 4]);
            a40 = x.fma(p0, a40);
            a41 = x.fma(p1, a41);
            x = FloatVector.broadcast(F, vb[v + 5]);
            a50 = x.fma(p0, a50);
            a51 = x.fma(p1, a51);
            x = FloatVector.broadcast(F, vb[v + 6]);
            a60 = x.fma(p0, a60);
            a61 = x.fma(p1, a61);
            x = FloatVector.broadcast(F, vb[v + 7]);
            a70 = x.fma(p0, a70);
            a71 = x.fma(p1, a71);
            x = FloatVector.broadcast(F, vb[v + 8]);
            a80 = x.fma(p0, a80);
            a81 = x.fma(p1, a81);
            x = FloatVector.broadcast(F, vb[v + 9]);
            a90 = x.fma(p0, a90);
            a91 = x.fma(p1, a91);
            x = FloatVector.broadcast(F, vb[v + 10]);
            a100 = x.fma(p0, a100);
            a101 = x.fma(p1, a101);
            x = FloatVector.broadcast(F, vb[v + 11]);
            a110 = x.fma(p0, a110);
            a111 = x.fma(p1, a111);
        }
        a00.intoArray(ot, o + 0 * QB);
        a01.intoArray(ot, o + 0 * QB + L);
        a10.intoArray(ot, o + 1 * QB);
        a11.intoArray(ot, o + 1 * QB + L);
        a20.intoArray(ot, o + 2 * QB);
        a21.intoArray(ot, o + 2 * QB + L);
        a30.intoArray(ot, o + 3 * QB);
        a31.intoArray(ot, o + 3 * QB + L);
        a40.intoArray(ot, o + 4 * QB);
        a41.intoArray(ot, o + 4 * QB + L);
        a50.intoArray(ot, o + 5 * QB);
        a51.intoArray(ot, o + 5 * QB + L);
        a60.intoArray(ot, o + 6 * QB);
        a61.intoArray(ot, o + 6 * QB + L);
        a70.intoArray(ot, o + 7 * QB);
        a71.intoArray(ot, o + 7 * QB + L);
        a80.intoArray(ot, o + 8 * QB);
        a81.intoArray(ot, o + 8 * QB + L);
        a90.intoArray(ot, o + 9 * QB);
        a91.intoArray(ot, o + 9 * QB + L);
        a100.intoArray(ot, o + 10 * QB);
        a101.intoArray(ot, o + 10 * QB + L);
        a110.intoArray(ot, o + 11 * QB);
        a111.intoArray(ot, o + 11 * QB + L);
    }

    /** Dimensions {@code [d, d + 8)} of {@link #accumulate}. */
    private static void accumulate8(float[] vb, float[] p, int nk, int dh, float[] ot, int oo, int d) {
        int o = oo + d * QB;
        FloatVector a00 = FloatVector.fromArray(F, ot, o + 0 * QB), a01 = FloatVector.fromArray(F, ot, o + 0 * QB + L);
        FloatVector a10 = FloatVector.fromArray(F, ot, o + 1 * QB), a11 = FloatVector.fromArray(F, ot, o + 1 * QB + L);
        FloatVector a20 = FloatVector.fromArray(F, ot, o + 2 * QB), a21 = FloatVector.fromArray(F, ot, o + 2 * QB + L);
        FloatVector a30 = FloatVector.fromArray(F, ot, o + 3 * QB), a31 = FloatVector.fromArray(F, ot, o + 3 * QB + L);
        FloatVector a40 = FloatVector.fromArray(F, ot, o + 4 * QB), a41 = FloatVector.fromArray(F, ot, o + 4 * QB + L);
        FloatVector a50 = FloatVector.fromArray(F, ot, o + 5 * QB), a51 = FloatVector.fromArray(F, ot, o + 5 * QB + L);
        FloatVector a60 = FloatVector.fromArray(F, ot, o + 6 * QB), a61 = FloatVector.fromArray(F, ot, o + 6 * QB + L);
        FloatVector a70 = FloatVector.fromArray(F, ot, o + 7 * QB), a71 = FloatVector.fromArray(F, ot, o + 7 * QB + L);
        for (int j = 0; j < nk; j++) {
            int pj = j * QB, v = j * dh + d;
            FloatVector p0 = FloatVector.fromArray(F, p, pj), p1 = FloatVector.fromArray(F, p, pj + L);
            FloatVector x = FloatVector.broadcast(F, vb[v + 0]);
            a00 = x.fma(p0, a00);
            a01 = x.fma(p1, a01);
            x = FloatVector.broadcast(F, vb[v + 1]);
            a10 = x.fma(p0, a10);
            a11 = x.fma(p1, a11);
            x = FloatVector.broadcast(F, vb[v + 2]);
            a20 = x.fma(p0, a20);
            a21 = x.fma(p1, a21);
            x = FloatVector.broadcast(F, vb[v + 3]);
            a30 = x.fma(p0, a30);
            a31 = x.fma(p1, a31);
            x = FloatVector.broadcast(F, vb[v + 4]);
            a40 = x.fma(p0, a40);
            a41 = x.fma(p1, a41);
            x = FloatVector.broadcast(F, vb[v + 5]);
            a50 = x.fma(p0, a50);
            a51 = x.fma(p1, a51);
            x = FloatVector.broadcast(F, vb[v + 6]);
            a60 = x.fma(p0, a60);
            a61 = x.fma(p1, a61);
            x = FloatVector.broadcast(F, vb[v + 7]);
            a70 = x.fma(p0, a70);
            a71 = x.fma(p1, a71);
        }
        a00.intoArray(ot, o + 0 * QB);
        a01.intoArray(ot, o + 0 * QB + L);
        a10.intoArray(ot, o + 1 * QB);
        a11.intoArray(ot, o + 1 * QB + L);
        a20.intoArray(ot, o + 2 * QB);
        a21.intoArray(ot, o + 2 * QB + L);
        a30.intoArray(ot, o + 3 * QB);
        a31.intoArray(ot, o + 3 * QB + L);
        a40.intoArray(ot, o + 4 * QB);
        a41.intoArray(ot, o + 4 * QB + L);
        a50.intoArray(ot, o + 5 * QB);
        a51.intoArray(ot, o + 5 * QB + L);
        a60.intoArray(ot, o + 6 * QB);
        a61.intoArray(ot, o + 6 * QB + L);
        a70.intoArray(ot, o + 7 * QB);
        a71.intoArray(ot, o + 7 * QB + L);
    }

    /** Dimensions {@code [d, d + 4)} of {@link #accumulate}. */
    private static void accumulate4(float[] vb, float[] p, int nk, int dh, float[] ot, int oo, int d) {
        int o = oo + d * QB;
        FloatVector a00 = FloatVector.fromArray(F, ot, o + 0 * QB), a01 = FloatVector.fromArray(F, ot, o + 0 * QB + L);
        FloatVector a10 = FloatVector.fromArray(F, ot, o + 1 * QB), a11 = FloatVector.fromArray(F, ot, o + 1 * QB + L);
        FloatVector a20 = FloatVector.fromArray(F, ot, o + 2 * QB), a21 = FloatVector.fromArray(F, ot, o + 2 * QB + L);
        FloatVector a30 = FloatVector.fromArray(F, ot, o + 3 * QB), a31 = FloatVector.fromArray(F, ot, o + 3 * QB + L);
        for (int j = 0; j < nk; j++) {
            int pj = j * QB, v = j * dh + d;
            FloatVector p0 = FloatVector.fromArray(F, p, pj), p1 = FloatVector.fromArray(F, p, pj + L);
            FloatVector x = FloatVector.broadcast(F, vb[v + 0]);
            a00 = x.fma(p0, a00);
            a01 = x.fma(p1, a01);
            x = FloatVector.broadcast(F, vb[v + 1]);
            a10 = x.fma(p0, a10);
            a11 = x.fma(p1, a11);
            x = FloatVector.broadcast(F, vb[v + 2]);
            a20 = x.fma(p0, a20);
            a21 = x.fma(p1, a21);
            x = FloatVector.broadcast(F, vb[v + 3]);
            a30 = x.fma(p0, a30);
            a31 = x.fma(p1, a31);
        }
        a00.intoArray(ot, o + 0 * QB);
        a01.intoArray(ot, o + 0 * QB + L);
        a10.intoArray(ot, o + 1 * QB);
        a11.intoArray(ot, o + 1 * QB + L);
        a20.intoArray(ot, o + 2 * QB);
        a21.intoArray(ot, o + 2 * QB + L);
        a30.intoArray(ot, o + 3 * QB);
        a31.intoArray(ot, o + 3 * QB + L);
    }

    /** Dimension {@code d} of {@link #accumulate}. */
    private static void accumulate1(float[] vb, float[] p, int nk, int dh, float[] ot, int oo, int d) {
        int o = oo + d * QB;
        FloatVector a0 = FloatVector.fromArray(F, ot, o), a1 = FloatVector.fromArray(F, ot, o + L);
        for (int j = 0; j < nk; j++) {
            int pj = j * QB;
            FloatVector x = FloatVector.broadcast(F, vb[j * dh + d]);
            a0 = x.fma(FloatVector.fromArray(F, p, pj), a0);
            a1 = x.fma(FloatVector.fromArray(F, p, pj + L), a1);
        }
        a0.intoArray(ot, o);
        a1.intoArray(ot, o + L);
    }

    /** {@code out[b, i0 + i, h·Dh + d] = ot[d][i] / sum[i]} (0 for an empty softmax). */
    private void writeOut(Buffers buf, int sb, int b, int h, int i0, int nq) {
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
