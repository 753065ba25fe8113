package org.untwist.vector;

import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.L;
import static org.untwist.vector.Simd.LE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import org.untwist.tensor.DType;

/**
 * Cache-blocked GEMM for {@code linear}: {@code out[M, N] = x[M, K] · W[N, K]ᵀ + bias}, GotoBLAS/BLIS style.
 *
 * <p>Blocking: K is cut into blocks of {@link #KC}; each task owns a block of rows and a block of at most
 * {@link #NC} columns. Per K block, the task packs its columns of {@code Wᵀ} into micro-panels of {@link #NR}
 * columns laid out k-major ({@code NR} consecutive floats per k, so the micro-kernel loads {@code NR / L} whole
 * vectors per k step; BF16/F16 weights are widened while packing), then for every {@link #MC}-row block packs
 * the rows of x (a plain row copy with row stride {@code KC}) and runs the {@link #MR}×{@link #NR} micro-kernel
 * over (column micro-panel, row micro-panel) pairs, the column micro-panel staying in L1. Edge rows and columns
 * are zero-padded in the packed buffers; the store step writes only the valid part (masked vectors).
 *
 * <p>Every output element is reduced the same way whatever the task layout or thread count: an FMA chain over
 * each K block in k order (starting from zero), the blocks' partial sums added in block order, the bias last.
 * Work is split over rows and columns only, never over K.
 *
 * <p>Packing buffers are per thread (heap arrays, kept for the thread's life and reused).
 */
final class VectorGemm {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Micro-tile rows (broadcast A values per k step). */
    static final int MR = 8;
    /** Micro-tile columns: two float vectors. */
    static final int NR = 2 * L;
    /** K block: an NR-column micro-panel of KC·NR floats stays in L1. */
    static final int KC = positiveProperty("untwist.gemm.kc", 256);
    /** Rows per packed block of x (a multiple of MR): MC·KC floats stay in L2. */
    static final int MC = roundUp(positiveProperty("untwist.gemm.mc", 128), MR);
    /** Most columns per task (a multiple of NR): an MC×NC block of out stays in L2 while K accumulates. */
    static final int NC = roundUp(positiveProperty("untwist.gemm.nc", 512), NR);
    /** Fewer rows than this go to the GEMV-style kernels instead (packing would not pay off). */
    static final int MIN_ROWS = positiveProperty("untwist.gemm.minRows", 8);

    /** A tuning property: a positive integer, or the default when unset; anything else is an error naming it. */
    private static int positiveProperty(String name, int def) {
        String v = System.getProperty(name);
        if (v == null || v.isBlank()) {
            return def;
        }
        try {
            int n = Integer.parseInt(v.trim());
            if (n >= 1) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("-D" + name + "=" + v + " must be a positive integer (default " + def + ")");
    }

    private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

    /** Per-thread packing buffers, grown on demand. */
    private static final class Buffers {
        final float[] a = new float[MC * KC];
        final float[] tile = new float[MR * NR], bias = new float[NR];
        /** Packed Wᵀ of one column block, all K blocks; which GEMM and column block it holds. */
        float[] b = new float[0];
        Object bOwner;
        int bBlock = -1;

        float[] b(int floats) {
            if (b.length < floats) {
                b = new float[floats];
                bOwner = null;
            }
            return b;
        }
    }

    private final MemorySegment xs, ws, bs, os;
    private final DType dt;
    private final int m, k, n;
    private final int rowBlocks, colBlocks, rowsPerTask;

    /** A GEMM over {@code x [m, k]} (F32), {@code w [n, k]} ({@code dt}), {@code bias [n]} or null, {@code out [m, n]}. */
    VectorGemm(MemorySegment xs, MemorySegment ws, DType dt, MemorySegment bs, MemorySegment os, int m, int k, int n,
               int threads) {
        this.xs = xs;
        this.ws = ws;
        this.dt = dt;
        this.bs = bs;
        this.os = os;
        this.m = m;
        this.k = k;
        this.n = n;
        this.colBlocks = (n + NC - 1) / NC;
        // Split rows only as far as needed to give every thread a few tasks: each row block re-packs its panel of W.
        int maxRowBlocks = (m + MR - 1) / MR;
        int rb = Math.min(maxRowBlocks, Math.max(1, (3 * threads + colBlocks - 1) / colBlocks));
        this.rowsPerTask = roundUp((m + rb - 1) / rb, MR);
        this.rowBlocks = (m + rowsPerTask - 1) / rowsPerTask;
    }

    /** Whether this shape should use the GEMM (else a GEMV-style kernel is faster). */
    static boolean worthIt(int rows, int in, int outDim) {
        return rows >= MIN_ROWS && in > 0 && outDim > 0;
    }

    int tasks() {
        return rowBlocks * colBlocks;
    }

    /**
     * Runs task {@code t}: one block of rows × one block of columns, all of K. The column block of Wᵀ is packed
     * once (all K blocks) and kept for the thread's next task on the same block; then for each MC-row block the
     * K blocks run in order, so that block's MC×NC part of out stays in cache while it accumulates.
     */
    void run(int t) {
        int cb = t / rowBlocks, rb = t % rowBlocks;
        int r0 = rb * rowsPerTask, r1 = Math.min(m, r0 + rowsPerTask);
        int c0 = cb * NC, c1 = Math.min(n, c0 + NC);
        Buffers buf = BUFFERS.get();
        int kBlocks = (k + KC - 1) / KC;
        float[] pb = buf.b(kBlocks * KC * NC);
        if (buf.bOwner != this || buf.bBlock != cb) {
            for (int pc = 0; pc < k; pc += KC) {
                packB(pb, (pc / KC) * KC * NC, c0, c1, pc, Math.min(KC, k - pc));
            }
            buf.bOwner = this;
            buf.bBlock = cb;
        }
        float[] pa = buf.a, tile = buf.tile;
        for (int ic = r0; ic < r1; ic += MC) {
            int mc = Math.min(MC, r1 - ic);
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                boolean first = pc == 0, last = pc + kc == k;
                packA(pa, ic, mc, pc, kc);
                int bBase = (pc / KC) * KC * NC;
                for (int jc = c0; jc < c1; jc += NR) {
                    int nr = Math.min(NR, c1 - jc);
                    int bOff = bBase + (jc - c0) * KC;
                    float[] bias = buf.bias;
                    boolean addBias = last && bs != null;
                    if (addBias) {
                        for (int j = 0; j < NR; j++) {
                            bias[j] = j < nr ? bs.get(F32, (long) (jc + j) * Float.BYTES) : 0f;
                        }
                    }
                    for (int ir = 0; ir < mc; ir += MR) {
                        kernel(pa, ir * KC, pb, bOff, kc, tile);
                        storeTile(tile, ic + ir, Math.min(MR, mc - ir), jc, nr, first, addBias, bias);
                    }
                }
            }
        }
    }

    /** Copies rows {@code [r, r + mc)}, columns {@code [pc, pc + kc)} of x into {@code pa} with row stride KC; zero rows pad to MR. */
    private void packA(float[] pa, int r, int mc, int pc, int kc) {
        int bound = F.loopBound(kc);
        for (int i = 0; i < mc; i++) {
            long src = ((long) (r + i) * k + pc) * Float.BYTES;
            int dst = i * KC;
            int q = 0;
            for (; q < bound; q += L) {
                FloatVector.fromMemorySegment(F, xs, src + 4L * q, LE).intoArray(pa, dst + q);
            }
            for (; q < kc; q++) {
                pa[dst + q] = xs.get(F32, src + 4L * q);
            }
        }
        int padded = roundUp(mc, MR);
        for (int i = mc; i < padded; i++) {
            java.util.Arrays.fill(pa, i * KC, i * KC + kc, 0f);
        }
    }

    /**
     * Packs columns {@code [c0, c1)} of Wᵀ (rows of W), k in {@code [pc, pc + kc)}, at {@code at}: micro-panel p
     * (columns {@code c0 + p·NR ..}) starts at {@code at + p·NR·KC}, element (k, j) at {@code + k·NR + j}; missing columns are zero.
     */
    private void packB(float[] pb, int at, int c0, int c1, int pc, int kc) {
        for (int jc = c0; jc < c1; jc += NR) {
            int base = at + (jc - c0) * KC;
            int nr = Math.min(NR, c1 - jc);
            for (int j = 0; j < nr; j++) {
                int c = jc + j;
                int dst = base + j;
                switch (dt) {
                    case F32 -> {
                        long src = ((long) c * k + pc) * Float.BYTES;
                        for (int q = 0; q < kc; q++) {
                            pb[dst + q * NR] = ws.get(F32, src + 4L * q);
                        }
                    }
                    case BF16 -> {
                        long src = ((long) c * k + pc) * 2;
                        for (int q = 0; q < kc; q++) {
                            pb[dst + q * NR] = Float.intBitsToFloat(ws.get(I16, src + 2L * q) << 16);
                        }
                    }
                    case F16 -> {
                        long src = ((long) c * k + pc) * 2;
                        for (int q = 0; q < kc; q++) {
                            pb[dst + q * NR] = Float.float16ToFloat(ws.get(I16, src + 2L * q));
                        }
                    }
                    default -> throw new IllegalArgumentException("unsupported weight type " + dt);
                }
            }
            for (int j = nr; j < NR; j++) {
                for (int q = 0; q < kc; q++) {
                    pb[base + j + q * NR] = 0f;
                }
            }
        }
    }

    /**
     * The MR×NR micro-kernel: {@code tile[i·NR + j] = Σ_q a[aOff + i·KC + q]·b[bOff + q·NR + j]}, q in
     * {@code [0, kc)} in order, from zero; the accumulators stay in registers.
     */
    private static void kernel(float[] a, int aOff, float[] b, int bOff, int kc, float[] tile) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        FloatVector c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
        int a0 = aOff, a1 = a0 + KC, a2 = a1 + KC, a3 = a2 + KC, a4 = a3 + KC, a5 = a4 + KC, a6 = a5 + KC, a7 = a6 + KC;
        for (int q = 0; q < kc; q++) {
            int bi = bOff + q * NR;
            FloatVector b0 = FloatVector.fromArray(F, b, bi), b1 = FloatVector.fromArray(F, b, bi + L);
            FloatVector av = FloatVector.broadcast(F, a[a0 + q]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(F, a[a1 + q]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(F, a[a2 + q]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(F, a[a3 + q]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(F, a[a4 + q]);
            c40 = av.fma(b0, c40);
            c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(F, a[a5 + q]);
            c50 = av.fma(b0, c50);
            c51 = av.fma(b1, c51);
            av = FloatVector.broadcast(F, a[a6 + q]);
            c60 = av.fma(b0, c60);
            c61 = av.fma(b1, c61);
            av = FloatVector.broadcast(F, a[a7 + q]);
            c70 = av.fma(b0, c70);
            c71 = av.fma(b1, c71);
        }
        c00.intoArray(tile, 0);
        c01.intoArray(tile, L);
        c10.intoArray(tile, NR);
        c11.intoArray(tile, NR + L);
        c20.intoArray(tile, 2 * NR);
        c21.intoArray(tile, 2 * NR + L);
        c30.intoArray(tile, 3 * NR);
        c31.intoArray(tile, 3 * NR + L);
        c40.intoArray(tile, 4 * NR);
        c41.intoArray(tile, 4 * NR + L);
        c50.intoArray(tile, 5 * NR);
        c51.intoArray(tile, 5 * NR + L);
        c60.intoArray(tile, 6 * NR);
        c61.intoArray(tile, 6 * NR + L);
        c70.intoArray(tile, 7 * NR);
        c71.intoArray(tile, 7 * NR + L);
    }

    /**
     * Writes the accumulated tile ({@code tile[i·NR + j]}) to out rows {@code [row, row + mr)}, columns
     * {@code [col, col + nr)}: stored for the first K block, else added; {@code bias} (the last K block, when
     * {@code addBias}) is added last.
     */
    private void storeTile(float[] tile, int row, int mr, int col, int nr, boolean first, boolean addBias, float[] bias) {
        long ld = (long) n * Float.BYTES;
        long o = ((long) row * n + col) * Float.BYTES;
        if (nr == NR) {
            FloatVector bias0 = FloatVector.fromArray(F, bias, 0), bias1 = FloatVector.fromArray(F, bias, L);
            for (int i = 0; i < mr; i++, o += ld) {
                FloatVector v0 = FloatVector.fromArray(F, tile, i * NR), v1 = FloatVector.fromArray(F, tile, i * NR + L);
                if (!first) {
                    v0 = FloatVector.fromMemorySegment(F, os, o, LE).add(v0);
                    v1 = FloatVector.fromMemorySegment(F, os, o + 4L * L, LE).add(v1);
                }
                if (addBias) {
                    v0 = v0.add(bias0);
                    v1 = v1.add(bias1);
                }
                v0.intoMemorySegment(os, o, LE);
                v1.intoMemorySegment(os, o + 4L * L, LE);
            }
            return;
        }
        for (int i = 0; i < mr; i++, o += ld) {
            for (int j = 0; j < nr; j += L) {
                VectorMask<Float> mask = F.indexInRange(j, nr);
                FloatVector v = FloatVector.fromArray(F, tile, i * NR + j);
                if (!first) {
                    v = FloatVector.fromMemorySegment(F, os, o + 4L * j, LE, mask).add(v);
                }
                if (addBias) {
                    v = v.add(FloatVector.fromArray(F, bias, j));
                }
                v.intoMemorySegment(os, o + 4L * j, LE, mask);
            }
        }
    }

    private static int roundUp(int v, int multiple) {
        return (v + multiple - 1) / multiple * multiple;
    }
}
