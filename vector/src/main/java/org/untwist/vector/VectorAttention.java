package org.untwist.vector;

import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.L;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Fused flash-style attention (online softmax) with register-blocked micro-GEMMs.
 *
 * <p>Layout: queries live in vector lanes. A sub-block of {@link #QB} = 4·L queries is packed transposed and
 * pre-scaled, {@code qt[d][i] = q[i][d]·factor[d]}, so that
 * <ul>
 *   <li>QKᵀ computes the transposed score tile {@code s[j][i] = Σ_d k[j][d]·qt[d][i]} as broadcast(k[j][d]) ×
 *       vector(qt[d][i..]) FMAs, {@link #QK_R} keys × 4 query vectors in registers, reading keys in their natural
 *       row layout (each key block is copied once per task into a per-thread buffer and reused by every
 *       sub-block of the task);</li>
 *   <li>the online softmax is purely vertical: the running max and sum of each query are lanes, block maxima
 *       are lane-wise maxima over the key rows, the exponentials are an inlined polynomial {@code exp} (Cephes
 *       {@code expf}, about 1 ulp) over the tile;</li>
 *   <li>P·V accumulates the transposed output {@code ot[d][i] += Σ_j v[j][d]·p[j][i]} as broadcast(v[j][d]) ×
 *       vector(p[j][i..]) FMAs, {@link #PV_R} head dimensions × 4 query vectors in registers; the running
 *       accumulator is rescaled by {@code exp(m_old − m_new)} in a separate pass only when some lane's max grew.</li>
 * </ul>
 * Padded query lanes (the last sub-block of a head) hold zero queries; their lanes are computed and dropped.
 * Every query sees the same key blocks in the same order with the same per-lane arithmetic wherever its task
 * runs, so results do not depend on the thread count or on the task grouping. The reference keys (shared
 * attention) run through the same kernel with the query copy scaled by {@code refKeyScale} (q·(s⊙k) = (s⊙q)·k).
 */
final class VectorAttention {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Queries per sub-block (four vectors of lanes). */
    static final int QB = 4 * L;
    /** Keys per online-softmax block (a multiple of QK_R). */
    static final int KB = 72;
    /**
     * Most sub-blocks per task: they share each copied key/value block. 16 instead of 4 copies the keys and values a
     * quarter as often and measured +12 % on 24 × 1024 × 2048 × 128 with 2 threads (199 → 224 GFLOP/s).
     */
    static final int GROUP = 16;
    /** Key rows per QKᵀ register tile, head dimensions per P·V register tile. */
    static final int QK_R = 6, PV_R = 6;

    private static final float NEG_INF = Float.NEGATIVE_INFINITY;

    private final MemorySegment qs, ks, vs, rks, rvs, os;
    private final int heads, lq, lk, lr, dh, refBatch, refStart, refTokens;
    private final float inv;
    private final float[] refFactor;
    private final int subBlocks, group, chunks;

    private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

    /** Per-thread buffers, grown on demand and reused across calls. */
    private static final class Buffers {
        float[] qt = new float[0], ot = new float[0], kb = new float[0], vb = new float[0], s = new float[0];
        float[] mx = new float[0], sm = new float[0], corr = new float[QB];

        void ensure(int dh, int group) {
            int q = 2 * group * dh * QB;
            if (qt.length < q) {
                qt = new float[q];
                ot = new float[group * dh * QB];
                mx = new float[group * QB];
                sm = new float[group * QB];
            }
            if (kb.length < KB * dh) {
                kb = new float[KB * dh];
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
        long total = (long) batch * heads * subBlocks;
        // enough tasks to balance (about 8 per thread), otherwise share key blocks across up to GROUP sub-blocks
        this.group = (int) Math.max(1, Math.min(GROUP, total / (8L * threads)));
        this.chunks = (subBlocks + group - 1) / group;
        if ((long) batch * heads * chunks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("attention too large: " + total + " query blocks");
        }
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
            packQueries(buf.qt, sb * qtSize, refFactor == null ? -1 : (group + sb) * qtSize, ((long) bh * lq + i0) * rowBytes,
                    Math.min(QB, lq - i0));
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

    /** {@code qt[d][i] = q[i][d]·inv} (and the reference copy {@code ·refFactor[d]}); padded lanes are zero. */
    private void packQueries(float[] qt, int own, int ref, long qBase, int nq) {
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

    /** Online softmax of the task's sub-blocks over {@code n} keys at byte {@code base} of {@code kseg}/{@code vseg}. */
    private void attend(Buffers buf, MemorySegment kseg, MemorySegment vseg, long base, int n, int nsb, int qtOff) {
        long rowBytes = (long) dh * 4;
        int qtSize = dh * QB;
        float[] kb = buf.kb, vb = buf.vb, s = buf.s, qt = buf.qt, ot = buf.ot, corr = buf.corr;
        for (int j0 = 0; j0 < n; j0 += KB) {
            int nk = Math.min(KB, n - j0);
            long off = base + j0 * rowBytes;
            MemorySegment.copy(kseg, F32, off, kb, 0, nk * dh);
            MemorySegment.copy(vseg, F32, off, vb, 0, nk * dh);
            for (int sb = 0; sb < nsb; sb++) {
                scores(qt, qtOff + sb * qtSize, kb, nk, dh, s);
                if (softmax(s, nk, buf.mx, buf.sm, sb * QB, corr)) {
                    rescale(ot, sb * qtSize, dh, corr);
                }
                accumulate(vb, s, nk, dh, ot, sb * qtSize);
            }
        }
    }

    /** {@code s[j][i] = Σ_d kb[j][d]·qt[d][i]} for {@code j < nk}: QK_R keys × 4 query vectors per register tile. */
    static void scores(float[] qt, int qo, float[] kb, int nk, int dh, float[] s) {
        int j = 0;
        for (; j + QK_R <= nk; j += QK_R) {
            int k0 = j * dh, k1 = k0 + dh, k2 = k1 + dh, k3 = k2 + dh, k4 = k3 + dh, k5 = k4 + dh;
            FloatVector z = FloatVector.zero(F);
            FloatVector a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z, a20 = z, a21 = z, a22 = z, a23 = z;
            FloatVector a30 = z, a31 = z, a32 = z, a33 = z, a40 = z, a41 = z, a42 = z, a43 = z, a50 = z, a51 = z, a52 = z, a53 = z;
            for (int d = 0; d < dh; d++) {
                int qd = qo + d * QB;
                FloatVector q0 = FloatVector.fromArray(F, qt, qd), q1 = FloatVector.fromArray(F, qt, qd + L);
                FloatVector q2 = FloatVector.fromArray(F, qt, qd + 2 * L), q3 = FloatVector.fromArray(F, qt, qd + 3 * L);
                FloatVector x = FloatVector.broadcast(F, kb[k0 + d]);
                a00 = x.fma(q0, a00);
                a01 = x.fma(q1, a01);
                a02 = x.fma(q2, a02);
                a03 = x.fma(q3, a03);
                x = FloatVector.broadcast(F, kb[k1 + d]);
                a10 = x.fma(q0, a10);
                a11 = x.fma(q1, a11);
                a12 = x.fma(q2, a12);
                a13 = x.fma(q3, a13);
                x = FloatVector.broadcast(F, kb[k2 + d]);
                a20 = x.fma(q0, a20);
                a21 = x.fma(q1, a21);
                a22 = x.fma(q2, a22);
                a23 = x.fma(q3, a23);
                x = FloatVector.broadcast(F, kb[k3 + d]);
                a30 = x.fma(q0, a30);
                a31 = x.fma(q1, a31);
                a32 = x.fma(q2, a32);
                a33 = x.fma(q3, a33);
                x = FloatVector.broadcast(F, kb[k4 + d]);
                a40 = x.fma(q0, a40);
                a41 = x.fma(q1, a41);
                a42 = x.fma(q2, a42);
                a43 = x.fma(q3, a43);
                x = FloatVector.broadcast(F, kb[k5 + d]);
                a50 = x.fma(q0, a50);
                a51 = x.fma(q1, a51);
                a52 = x.fma(q2, a52);
                a53 = x.fma(q3, a53);
            }
            int o = j * QB;
            a00.intoArray(s, o);
            a01.intoArray(s, o + L);
            a02.intoArray(s, o + 2 * L);
            a03.intoArray(s, o + 3 * L);
            a10.intoArray(s, o + QB);
            a11.intoArray(s, o + QB + L);
            a12.intoArray(s, o + QB + 2 * L);
            a13.intoArray(s, o + QB + 3 * L);
            a20.intoArray(s, o + 2 * QB);
            a21.intoArray(s, o + 2 * QB + L);
            a22.intoArray(s, o + 2 * QB + 2 * L);
            a23.intoArray(s, o + 2 * QB + 3 * L);
            a30.intoArray(s, o + 3 * QB);
            a31.intoArray(s, o + 3 * QB + L);
            a32.intoArray(s, o + 3 * QB + 2 * L);
            a33.intoArray(s, o + 3 * QB + 3 * L);
            a40.intoArray(s, o + 4 * QB);
            a41.intoArray(s, o + 4 * QB + L);
            a42.intoArray(s, o + 4 * QB + 2 * L);
            a43.intoArray(s, o + 4 * QB + 3 * L);
            a50.intoArray(s, o + 5 * QB);
            a51.intoArray(s, o + 5 * QB + L);
            a52.intoArray(s, o + 5 * QB + 2 * L);
            a53.intoArray(s, o + 5 * QB + 3 * L);
        }
        for (; j < nk; j++) {
            int k0 = j * dh;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int d = 0; d < dh; d++) {
                int qd = qo + d * QB;
                FloatVector x = FloatVector.broadcast(F, kb[k0 + d]);
                a0 = x.fma(FloatVector.fromArray(F, qt, qd), a0);
                a1 = x.fma(FloatVector.fromArray(F, qt, qd + L), a1);
                a2 = x.fma(FloatVector.fromArray(F, qt, qd + 2 * L), a2);
                a3 = x.fma(FloatVector.fromArray(F, qt, qd + 3 * L), a3);
            }
            a0.intoArray(s, j * QB);
            a1.intoArray(s, j * QB + L);
            a2.intoArray(s, j * QB + 2 * L);
            a3.intoArray(s, j * QB + 3 * L);
        }
    }

    // exp on x ≤ 0 (Cephes expf): n = round(x·log2 e), r = x − n·ln 2 (two-part ln 2), e^r by a degree-5 polynomial,
    // 2^n added to the exponent bits; x is clamped at EXP_LO (so 2^n stays normal), NaN stays NaN.
    private static final float LOG2E = 1.44269504088896341f, ROUND = 12582912f; // 1.5·2^23: adding it rounds to an integer
    private static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f, EXP_LO = -87f;
    private static final float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f, P3 = 4.1665795894e-2f,
            P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

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
            FloatVector c0 = m0.sub(z0).lanewise(VectorOperators.EXP);
            FloatVector t0 = FloatVector.zero(F);
            for (j = 0; j < nk; j++) {
                int o = j * QB + c;
                // exp(x), x ≤ 0, inlined (see the constants); below EXP_LO it gives about e^EXP_LO instead of 0
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
        FloatVector c2 = FloatVector.fromArray(F, corr, 2 * L), c3 = FloatVector.fromArray(F, corr, 3 * L);
        for (int d = 0; d < dh; d++) {
            int o = oo + d * QB;
            FloatVector.fromArray(F, ot, o).mul(c0).intoArray(ot, o);
            FloatVector.fromArray(F, ot, o + L).mul(c1).intoArray(ot, o + L);
            FloatVector.fromArray(F, ot, o + 2 * L).mul(c2).intoArray(ot, o + 2 * L);
            FloatVector.fromArray(F, ot, o + 3 * L).mul(c3).intoArray(ot, o + 3 * L);
        }
    }

    /** {@code ot[d][i] += Σ_{j<nk} vb[j][d]·p[j][i]}: PV_R dimensions × 4 query vectors per register tile. */
    static void accumulate(float[] vb, float[] p, int nk, int dh, float[] ot, int oo) {
        int d = 0;
        for (; d + PV_R <= dh; d += PV_R) {
            int o = oo + d * QB;
            FloatVector a00 = FloatVector.fromArray(F, ot, o), a01 = FloatVector.fromArray(F, ot, o + L);
            FloatVector a02 = FloatVector.fromArray(F, ot, o + 2 * L), a03 = FloatVector.fromArray(F, ot, o + 3 * L);
            o += QB;
            FloatVector a10 = FloatVector.fromArray(F, ot, o), a11 = FloatVector.fromArray(F, ot, o + L);
            FloatVector a12 = FloatVector.fromArray(F, ot, o + 2 * L), a13 = FloatVector.fromArray(F, ot, o + 3 * L);
            o += QB;
            FloatVector a20 = FloatVector.fromArray(F, ot, o), a21 = FloatVector.fromArray(F, ot, o + L);
            FloatVector a22 = FloatVector.fromArray(F, ot, o + 2 * L), a23 = FloatVector.fromArray(F, ot, o + 3 * L);
            o += QB;
            FloatVector a30 = FloatVector.fromArray(F, ot, o), a31 = FloatVector.fromArray(F, ot, o + L);
            FloatVector a32 = FloatVector.fromArray(F, ot, o + 2 * L), a33 = FloatVector.fromArray(F, ot, o + 3 * L);
            o += QB;
            FloatVector a40 = FloatVector.fromArray(F, ot, o), a41 = FloatVector.fromArray(F, ot, o + L);
            FloatVector a42 = FloatVector.fromArray(F, ot, o + 2 * L), a43 = FloatVector.fromArray(F, ot, o + 3 * L);
            o += QB;
            FloatVector a50 = FloatVector.fromArray(F, ot, o), a51 = FloatVector.fromArray(F, ot, o + L);
            FloatVector a52 = FloatVector.fromArray(F, ot, o + 2 * L), a53 = FloatVector.fromArray(F, ot, o + 3 * L);
            for (int j = 0; j < nk; j++) {
                int pj = j * QB, v = j * dh + d;
                FloatVector p0 = FloatVector.fromArray(F, p, pj), p1 = FloatVector.fromArray(F, p, pj + L);
                FloatVector p2 = FloatVector.fromArray(F, p, pj + 2 * L), p3 = FloatVector.fromArray(F, p, pj + 3 * L);
                FloatVector x = FloatVector.broadcast(F, vb[v]);
                a00 = x.fma(p0, a00);
                a01 = x.fma(p1, a01);
                a02 = x.fma(p2, a02);
                a03 = x.fma(p3, a03);
                x = FloatVector.broadcast(F, vb[v + 1]);
                a10 = x.fma(p0, a10);
                a11 = x.fma(p1, a11);
                a12 = x.fma(p2, a12);
                a13 = x.fma(p3, a13);
                x = FloatVector.broadcast(F, vb[v + 2]);
                a20 = x.fma(p0, a20);
                a21 = x.fma(p1, a21);
                a22 = x.fma(p2, a22);
                a23 = x.fma(p3, a23);
                x = FloatVector.broadcast(F, vb[v + 3]);
                a30 = x.fma(p0, a30);
                a31 = x.fma(p1, a31);
                a32 = x.fma(p2, a32);
                a33 = x.fma(p3, a33);
                x = FloatVector.broadcast(F, vb[v + 4]);
                a40 = x.fma(p0, a40);
                a41 = x.fma(p1, a41);
                a42 = x.fma(p2, a42);
                a43 = x.fma(p3, a43);
                x = FloatVector.broadcast(F, vb[v + 5]);
                a50 = x.fma(p0, a50);
                a51 = x.fma(p1, a51);
                a52 = x.fma(p2, a52);
                a53 = x.fma(p3, a53);
            }
            o = oo + d * QB;
            a00.intoArray(ot, o);
            a01.intoArray(ot, o + L);
            a02.intoArray(ot, o + 2 * L);
            a03.intoArray(ot, o + 3 * L);
            a10.intoArray(ot, o + QB);
            a11.intoArray(ot, o + QB + L);
            a12.intoArray(ot, o + QB + 2 * L);
            a13.intoArray(ot, o + QB + 3 * L);
            a20.intoArray(ot, o + 2 * QB);
            a21.intoArray(ot, o + 2 * QB + L);
            a22.intoArray(ot, o + 2 * QB + 2 * L);
            a23.intoArray(ot, o + 2 * QB + 3 * L);
            a30.intoArray(ot, o + 3 * QB);
            a31.intoArray(ot, o + 3 * QB + L);
            a32.intoArray(ot, o + 3 * QB + 2 * L);
            a33.intoArray(ot, o + 3 * QB + 3 * L);
            a40.intoArray(ot, o + 4 * QB);
            a41.intoArray(ot, o + 4 * QB + L);
            a42.intoArray(ot, o + 4 * QB + 2 * L);
            a43.intoArray(ot, o + 4 * QB + 3 * L);
            a50.intoArray(ot, o + 5 * QB);
            a51.intoArray(ot, o + 5 * QB + L);
            a52.intoArray(ot, o + 5 * QB + 2 * L);
            a53.intoArray(ot, o + 5 * QB + 3 * L);
        }
        for (; d + 2 <= dh; d += 2) {
            int o = oo + d * QB;
            FloatVector a00 = FloatVector.fromArray(F, ot, o), a01 = FloatVector.fromArray(F, ot, o + L);
            FloatVector a02 = FloatVector.fromArray(F, ot, o + 2 * L), a03 = FloatVector.fromArray(F, ot, o + 3 * L);
            FloatVector a10 = FloatVector.fromArray(F, ot, o + QB), a11 = FloatVector.fromArray(F, ot, o + QB + L);
            FloatVector a12 = FloatVector.fromArray(F, ot, o + QB + 2 * L), a13 = FloatVector.fromArray(F, ot, o + QB + 3 * L);
            for (int j = 0; j < nk; j++) {
                int pj = j * QB, v = j * dh + d;
                FloatVector p0 = FloatVector.fromArray(F, p, pj), p1 = FloatVector.fromArray(F, p, pj + L);
                FloatVector p2 = FloatVector.fromArray(F, p, pj + 2 * L), p3 = FloatVector.fromArray(F, p, pj + 3 * L);
                FloatVector x = FloatVector.broadcast(F, vb[v]);
                a00 = x.fma(p0, a00);
                a01 = x.fma(p1, a01);
                a02 = x.fma(p2, a02);
                a03 = x.fma(p3, a03);
                x = FloatVector.broadcast(F, vb[v + 1]);
                a10 = x.fma(p0, a10);
                a11 = x.fma(p1, a11);
                a12 = x.fma(p2, a12);
                a13 = x.fma(p3, a13);
            }
            a00.intoArray(ot, o);
            a01.intoArray(ot, o + L);
            a02.intoArray(ot, o + 2 * L);
            a03.intoArray(ot, o + 3 * L);
            a10.intoArray(ot, o + QB);
            a11.intoArray(ot, o + QB + L);
            a12.intoArray(ot, o + QB + 2 * L);
            a13.intoArray(ot, o + QB + 3 * L);
        }
        for (; d < dh; d++) {
            int o = oo + d * QB;
            FloatVector a0 = FloatVector.fromArray(F, ot, o), a1 = FloatVector.fromArray(F, ot, o + L);
            FloatVector a2 = FloatVector.fromArray(F, ot, o + 2 * L), a3 = FloatVector.fromArray(F, ot, o + 3 * L);
            for (int j = 0; j < nk; j++) {
                int pj = j * QB;
                FloatVector x = FloatVector.broadcast(F, vb[j * dh + d]);
                a0 = x.fma(FloatVector.fromArray(F, p, pj), a0);
                a1 = x.fma(FloatVector.fromArray(F, p, pj + L), a1);
                a2 = x.fma(FloatVector.fromArray(F, p, pj + 2 * L), a2);
                a3 = x.fma(FloatVector.fromArray(F, p, pj + 3 * L), a3);
            }
            a0.intoArray(ot, o);
            a1.intoArray(ot, o + L);
            a2.intoArray(ot, o + 2 * L);
            a3.intoArray(ot, o + 3 * L);
        }
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
