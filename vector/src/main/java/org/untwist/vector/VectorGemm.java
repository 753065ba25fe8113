package org.untwist.vector;

import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.I;
import static org.untwist.vector.Simd.S;
import static org.untwist.vector.Simd.L;
import static org.untwist.vector.Simd.LE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorMask;
import org.untwist.tensor.DType;

/**
 * Cache-blocked GEMM for {@code linear}: {@code out[M, N] = x[M, K] · W[N, K]ᵀ + bias}, GotoBLAS/BLIS style; also
 * {@code conv2d}'s implicit GEMM, whose rows of x are gathered from the image while packing ({@link Im2colRows}) and whose
 * out is stored transposed, {@code [N, M]} (channels-first).
 *
 * <p>Blocking: the columns are cut into blocks of at most {@link #NC} (fewer when K is large, see
 * {@link #PACKED_B_FLOATS}). For each column block, one parallel phase packs that block of {@code Wᵀ} for all of K
 * into a buffer shared by the workers, one task per {@link #NR}-column micro-panel reading its weight rows front
 * to back (BF16/F16/F8_E4M3/F8_E5M2 weights are widened here, Q8_0/Q4_K dequantized; no float copy of more than one column
 * block ever exists): per K
 * block of {@link #KC}, the micro-panel is laid out k-major ({@code NR} consecutive floats per k, so the
 * micro-kernel loads {@code NR / L} whole vectors per k step). A second phase splits the rows into tasks of whole
 * {@link #MR}-row tiles (at most {@link #MC} rows, evenly sized; the micro-panels too when there are few rows).
 * A task transposes its rows of x, all of K, into k-major row tiles ({@code MR} consecutive floats per k: the
 * micro-kernel's broadcasts read one sequential stream). It then walks its micro-panels in groups of
 * {@link #GROUP_PANELS}; per group, the K blocks in order, per K block each micro-panel against every row tile
 * (the micro-panel stays in L1, the row tiles of the K block in L2). The group's tiles accumulate in a per-task
 * tile-major buffer small enough for L2 (no 4K-aliased strided rows of out), which is copied to out row by row,
 * with the bias, when the group is done. Edge rows and columns are zero-padded in the packed buffers; only the
 * copy to out is masked.
 *
 * <p>Why this shape (measured on the 2-core AVX-512 machine, 2048³): with weights packed once per call and
 * shared, the micro-kernel runs at ~87 % of FMA peak from L1; what costs is getting operands there. Large row
 * tasks (720 rows) make each micro-panel fetched from L3 serve ~40 row tiles; one column block for N ≤ 2048
 * transposes x once per call; the k-major row tiles beat 12 row-major streams; the panel groups keep the
 * accumulators in L2 across K blocks. Together +10–12 % over the previous 240-row, 1024-column, row-major layout
 * (same-JVM A/B runs, 2048³, 2 threads; FLUX-shaped 4608 × 3072 × 3072 +8 %, K = 12288 −2 %).
 *
 * <p>Every output element is reduced the same way whatever the task layout or thread count: one FMA chain over k
 * in order, starting from zero (the micro-kernel reloads the partial sum at the start of each K block after the
 * first), the bias added last. Work is split over rows and columns only, never over K.
 *
 * <p>Buffers are reused, not allocated per call: the shared packed weights belong to the calling thread, the
 * packed rows of x and the tile buffer to each worker thread.
 */
final class VectorGemm {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Micro-tile rows (broadcast x values per k step): 12 rows × 2 vectors = 24 accumulators of the 32 zmm registers. */
    static final int MR = 12;
    /** Micro-tile columns: two float vectors. */
    static final int NR = 2 * L;
    /** K block: an NR-column micro-panel of KC·NR floats stays in L1. */
    static final int KC = positiveProperty("untwist.gemm.kc", 256);
    /**
     * Most rows per task (rounded to a multiple of MR): per K block, its MC·KC floats of x stay in L2, and each
     * micro-panel fetched from L3 serves MC / MR row tiles. Fewer when K is large (see {@link #TASK_A_FLOATS}).
     */
    static final int MC = roundUp(positiveProperty("untwist.gemm.mc", 720), MR);
    /** Cap of one task's packed rows of x, all of K (floats): 8 MiB. */
    static final int TASK_A_FLOATS = positiveProperty("untwist.gemm.taskA", 2 << 20);
    /** Micro-panels per group: a group's MC × GROUP_PANELS·NR accumulators stay in L2 across the K blocks. */
    static final int GROUP_PANELS = positiveProperty("untwist.gemm.groupPanels", 8);
    /**
     * Most columns per packing phase (a multiple of NR): nc×K packed floats of Wᵀ are shared by the workers; fewer
     * when K is large, so that a packed block stays within {@link #PACKED_B_FLOATS}. Each phase re-packs x.
     */
    static final int NC = roundUp(positiveProperty("untwist.gemm.nc", 2048), NR);
    /**
     * Cap of one packed column block of Wᵀ (floats): 192 MiB, so that FLUX's large-K linears (K = 12288, 15360) keep
     * NC columns per block instead of 672 or 544, and x is packed 2 times instead of 5-6. Measured on the 2-core AMD
     * EPYC (2 threads, two alternating rounds against the previous 32 MiB): 1280×3072×15360 14-25 % faster,
     * 4608×3072×12288 and 1280×3072×12288 7-8 %; shapes with K = 3072 are not affected. The buffer grows only to what
     * a GEMM needs (126 MiB at K = 15360) and stays with the calling thread.
     */
    static final int PACKED_B_FLOATS = positiveProperty("untwist.gemm.packedB", 48 << 20);
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

    /** Scatter map of the weight packing: lane i goes i·NR floats on. */
    private static final int[] SCATTER_B = stride(NR);

    private static int[] stride(int step) {
        int[] idx = new int[L];
        for (int i = 0; i < L; i++) {
            idx[i] = i * step;
        }
        return idx;
    }

    /** Runs tasks {@code 0..n-1} in parallel and returns when all are done (the backend's pool). */
    interface Parallel {
        void run(int n, java.util.function.IntConsumer task);
    }

    /** The packed column block of Wᵀ, per calling thread (shared by that call's workers), grown on demand. */
    private static final ThreadLocal<float[][]> SHARED_B = ThreadLocal.withInitial(() -> new float[][] {new float[0]});
    private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

    /** Per-worker buffers. */
    private static final class Buffers {
        /** The task's rows of x, all K blocks: K block kb at {@code kb·mc·KC}, then k-major row tiles. */
        float[] a = new float[0];
        /** One group of the task's block of out, tile by tile: tile (row tile r, group panel g) at {@code (g·tiles + r)·MR·NR}. */
        final float[] c = new float[MC * GROUP_PANELS * NR];
    }

    private final GemmRows src;
    /** The columns of B when they are a convolution's patches (weights as the rows); null: B is the weight matrix {@code ws}. */
    private final Im2colColumns cols;
    /** Whether the bias is per row of out (the convolution's Cout rows) instead of per column. */
    private final boolean rowBias;
    private final MemorySegment ws, bs, os;
    /** Whether out is {@code [n, m]} (channels-first: each column of the product contiguous) instead of {@code [m, n]}. */
    private final boolean columnMajorOut;
    private final DType dt;
    private final int m, k, n;
    private final int kBlocks, nc, mc, rowTiles, rowTasks, colTasks;
    /** Packed Wᵀ of the current column block. */
    private float[] pb;
    private int c0, c1, panels;

    /** A GEMM over {@code x [m, k]} (F32), {@code w [n, k]} ({@code dt}), {@code bias [n]} or null, {@code out [m, n]}. */
    VectorGemm(MemorySegment xs, MemorySegment ws, DType dt, MemorySegment bs, MemorySegment os, int m, int k, int n,
               int threads) {
        this(GemmRows.matrix(xs, k), ws, dt, bs, os, false, m, k, n, threads);
    }

    /**
     * A GEMM whose rows of x come from {@code src} (a matrix, or the im2col gather of {@code conv2d}) and whose out is
     * {@code [m, n]}, or {@code [n, m]} when {@code columnMajorOut} (the tiles are then stored transposed).
     */
    VectorGemm(GemmRows src, MemorySegment ws, DType dt, MemorySegment bs, MemorySegment os, boolean columnMajorOut, int m, int k,
               int n, int threads) {
        this(src, null, ws, dt, bs, false, os, columnMajorOut, m, k, n, threads);
    }

    /**
     * A convolution with its weights as the rows: {@code out[m = Cout, n = pixels] = W[m, k] · patches[k, n] + bias[m]},
     * out row-major (channels-first), the patches packed by {@code cols} and shared by the workers.
     */
    VectorGemm(GemmRows weightRows, Im2colColumns cols, MemorySegment bs, MemorySegment os, int m, int k, int n, int threads) {
        this(weightRows, cols, null, DType.F32, bs, true, os, false, m, k, n, threads);
    }

    private VectorGemm(GemmRows src, Im2colColumns cols, MemorySegment ws, DType dt, MemorySegment bs, boolean rowBias, MemorySegment os,
                       boolean columnMajorOut, int m, int k, int n, int threads) {
        this.src = src;
        this.cols = cols;
        this.rowBias = rowBias;
        this.columnMajorOut = columnMajorOut;
        this.ws = ws;
        this.dt = dt;
        this.bs = bs;
        this.os = os;
        this.m = m;
        this.k = k;
        this.n = n;
        this.kBlocks = (k + KC - 1) / KC;
        this.mc = Math.max(MR, Math.min(MC, TASK_A_FLOATS / (kBlocks * KC) / MR * MR));
        // Row tasks of whole MR-row tiles, at most MC rows each, evenly sized, a multiple of the thread count when
        // there are tiles enough (every worker gets the same work per phase).
        this.rowTiles = (m + MR - 1) / MR;
        int rt = (rowTiles + mc / MR - 1) / (mc / MR);
        this.rowTasks = Math.min(rowTiles, roundUp(Math.max(rt, 2 * threads), threads));
        this.nc = Math.min(NC, Math.max(NR, PACKED_B_FLOATS / (kBlocks * KC) / NR * NR));
        int maxPanels = (Math.min(n, nc) + NR - 1) / NR;
        this.colTasks = Math.max(1, Math.min(maxPanels, (2 * threads + rowTasks - 1) / rowTasks));
    }

    /** Whether this shape should use the GEMM (else a GEMV-style kernel is faster). */
    static boolean worthIt(int rows, int in, int outDim) {
        return rows >= MIN_ROWS && in > 0 && outDim > 0;
    }

    /** Runs the whole GEMM: per column block, a packing phase and a compute phase. */
    void execute(Parallel par) {
        float[][] holder = SHARED_B.get();
        int ncMax = roundUp(Math.min(n, nc), NR);
        long floats = (long) kBlocks * KC * ncMax;
        if (floats > Integer.MAX_VALUE - 64) {
            throw new IllegalArgumentException("K too large for one packed column block: " + k);
        }
        if (holder[0].length < floats) {
            holder[0] = new float[(int) floats];
        }
        pb = holder[0];
        for (c0 = 0; c0 < n; c0 += nc) {
            c1 = Math.min(n, c0 + nc);
            panels = (c1 - c0 + NR - 1) / NR;
            par.run(panels, this::packTask);
            par.run(rowTasks * colTasks, this::computeTask);
        }
    }

    /** Packs micro-panel {@code p} of the current column block, all K blocks (each weight row read front to back). */
    private void packTask(int p) {
        packB(pb, p, c0 + p * NR);
    }

    /** Offset of micro-panel p of K block kb in the packed column block. */
    private int bOffset(int kb, int p) {
        return (kb * panels + p) * KC * NR;
    }

    /** One block of rows × one group of micro-panels of the current column block, all of K. */
    private void computeTask(int t) {
        int rt = t % rowTasks, ct = t / rowTasks;
        int r0 = (int) ((long) rowTiles * rt / rowTasks) * MR;
        int r1 = Math.min(m, (int) ((long) rowTiles * (rt + 1) / rowTasks) * MR);
        int p0 = (int) ((long) panels * ct / colTasks), p1 = (int) ((long) panels * (ct + 1) / colTasks);
        if (p0 >= p1) {
            return;
        }
        Buffers buf = BUFFERS.get();
        if (buf.a.length < kBlocks * mc * KC) {
            buf.a = new float[kBlocks * mc * KC];
        }
        float[] pa = buf.a, cb = buf.c;
        int rows = r1 - r0;
        int tiles = (rows + MR - 1) / MR;
        packA(pa, r0, rows);
        for (int g0 = p0; g0 < p1; g0 += GROUP_PANELS) {
            int g1 = Math.min(p1, g0 + GROUP_PANELS);
            for (int kb = 0; kb < kBlocks; kb++) {
                int kc = Math.min(KC, k - kb * KC);
                boolean accumulate = kb > 0;
                int aBase = kb * mc * KC;
                for (int p = g0; p < g1; p++) {
                    int bOff = bOffset(kb, p);
                    int cOff = (p - g0) * tiles * MR * NR;
                    for (int it = 0; it < tiles; it++, cOff += MR * NR) {
                        kernel(pa, aBase + it * MR * KC, pb, bOff, kc, cb, cOff, accumulate);
                    }
                }
            }
            if (columnMajorOut) {
                copyOutTransposed(cb, r0, rows, tiles, g0, g1);
            } else {
                copyOut(cb, r0, rows, tiles, g0, g1);
            }
        }
    }

    /** Copies the finished tiles of micro-panels {@code [g0, g1)} to out, rows {@code [r0, r0 + rows)}, adding the bias. */
    private void copyOut(float[] cb, int r0, int rows, int tiles, int g0, int g1) {
        int panelFloats = tiles * MR * NR;
        int jEnd = Math.min(c1, c0 + g1 * NR);
        boolean colBias = bs != null && !rowBias;
        for (int i = 0; i < rows; i++) { // row by row: contiguous stores
            long o = ((long) (r0 + i) * n + c0 + g0 * NR) * Float.BYTES;
            int ci = (i / MR) * MR * NR + (i % MR) * NR;
            float rb = rowBias && bs != null ? bs.getAtIndex(F32, r0 + i) : 0f;
            for (int p = g0; p < g1; p++, ci += panelFloats) {
                int jc = c0 + p * NR;
                for (int j = 0; j < NR && jc + j < jEnd; j += L, o += 4L * L) {
                    FloatVector v = FloatVector.fromArray(F, cb, ci + j);
                    if (rowBias && bs != null) {
                        v = v.add(rb);
                    }
                    if (jc + j + L <= jEnd) {
                        if (colBias) {
                            v = v.add(FloatVector.fromMemorySegment(F, bs, 4L * (jc + j), LE));
                        }
                        v.intoMemorySegment(os, o, LE);
                    } else {
                        VectorMask<Float> mask = F.indexInRange(jc + j, jEnd);
                        if (colBias) {
                            v = v.add(FloatVector.fromMemorySegment(F, bs, 4L * (jc + j), LE, mask));
                        }
                        v.intoMemorySegment(os, o, LE, mask);
                    }
                }
            }
        }
    }

    /**
     * {@link #copyOut} for a {@code [n, m]} out: column j of the group's tiles (rows {@code [r0, r0 + rows)}) lies
     * NR floats apart in the tile buffer (tile-major with MR-row tiles: row i of a panel at {@code i·NR}), so L rows at
     * a time are gathered with that stride and stored contiguously to out's row j, the bias added.
     */
    private void copyOutTransposed(float[] cb, int r0, int rows, int tiles, int g0, int g1) {
        int panelFloats = tiles * MR * NR;
        int jEnd = Math.min(c1, c0 + g1 * NR);
        int bound = F.loopBound(rows);
        for (int p = g0; p < g1; p++) {
            int jc = c0 + p * NR;
            for (int j = 0; j < NR && jc + j < jEnd; j++) {
                int col = jc + j;
                float bias = bs == null ? 0f : bs.getAtIndex(F32, col);
                int ci = (p - g0) * panelFloats + j;
                long o = ((long) col * m + r0) * Float.BYTES;
                int i = 0;
                for (; i < bound; i += L, ci += L * NR, o += 4L * L) {
                    FloatVector v = FloatVector.fromArray(F, cb, ci, SCATTER_B, 0);
                    (bs == null ? v : v.add(bias)).intoMemorySegment(os, o, LE);
                }
                for (; i < rows; i++, ci += NR, o += 4) {
                    os.set(F32, o, bs == null ? cb[ci] : cb[ci] + bias);
                }
            }
        }
    }

    /**
     * Packs rows {@code [r, r + rows)} of x, all of K, into k-major row tiles (by {@link GemmRows#packTile}): K block kb
     * at {@code kb·mc·KC}, row tile t at {@code + t·MR·KC}, element (q, i) at {@code + q·MR + i}; rows past
     * {@code rows} up to the next multiple of MR are zero.
     */
    private void packA(float[] pa, int r, int rows) {
        int tiles = (rows + MR - 1) / MR;
        for (int t = 0; t < tiles; t++) {
            int live = Math.min(MR, rows - t * MR);
            for (int kb = 0; kb < kBlocks; kb++) {
                int pc = kb * KC;
                src.packTile(pa, kb * mc * KC + t * MR * KC, r + t * MR, live, pc, Math.min(KC, k - pc));
            }
        }
    }

    /**
     * Packs columns {@code [jc, jc + NR)} of Wᵀ (rows of W), all of K, as micro-panel {@code p} of every K block:
     * element (q, j) of K block kb at {@code bOffset(kb, p) + q·NR + j}; columns past the end of the current block
     * are zero. BF16/F16/F8_E4M3/F8_E5M2 weights are widened here, Q8_0/Q4_K weights dequantized.
     */
    private void packB(float[] pb, int p, int jc) {
        if (cols != null) {
            int live = Math.min(NR, c1 - jc);
            for (int kb = 0; kb < kBlocks; kb++) {
                int pc = kb * KC;
                cols.packPanel(pb, bOffset(kb, p), jc, live, pc, Math.min(KC, k - pc));
            }
            return;
        }
        switch (dt) {
            case F32 -> packFloatPanel(pb, p, jc);
            case BF16, F16 -> packHalfPanel(pb, p, jc, dt == DType.BF16);
            case F8_E4M3 -> packF8Panel(pb, p, jc, false);
            case F8_E5M2 -> packF8Panel(pb, p, jc, true);
            case Q8_0, Q4_K -> packBlockPanel(pb, p, jc);
            default -> throw new IllegalArgumentException("linear: no GEMM packing for " + dt + " weights");
        }
    }

    /**
     * {@link #packB} for block-quantized weights: each weight row, all of K, dequantized by {@link BlockWidening} (rows
     * are whole blocks, K blocks need not be), then scattered NR floats apart into every K block.
     */
    private void packBlockPanel(float[] pb, int p, int jc) {
        int nr = Math.min(NR, c1 - jc);
        for (int j = 0; j < NR; j++) {
            float[] row = j < nr ? BlockWidening.row(ws, dt, jc + j, k) : null;
            for (int kb = 0; kb < kBlocks; kb++) {
                int pc = kb * KC, kc = Math.min(KC, k - pc);
                int dst = bOffset(kb, p) + j;
                for (int q = 0; q < kc; q++) {
                    pb[dst + q * NR] = row == null ? 0f : row[pc + q];
                }
            }
        }
    }

    /** {@link #packB} for F32 weights: scalar transposition, faster here than vector scatters with an NR-float stride. */
    private void packFloatPanel(float[] pb, int p, int jc) {
        int nr = Math.min(NR, c1 - jc);
        long rowBytes = (long) k * Float.BYTES;
        for (int kb = 0; kb < kBlocks; kb++) {
            int pc = kb * KC, kc = Math.min(KC, k - pc);
            int d = bOffset(kb, p);
            long base = ((long) jc * k + pc) * Float.BYTES;
            for (int q = 0; q < kc; q++, d += NR) {
                long o = base + 4L * q;
                for (int j = 0; j < nr; j++, o += rowBytes) {
                    pb[d + j] = ws.get(F32, o);
                }
                for (int j = nr; j < NR; j++) {
                    pb[d + j] = 0f;
                }
            }
        }
    }

    /**
     * {@link #packB} for BF16/F16 weights: each weight row's L consecutive k are loaded, widened with SIMD and
     * scattered NR floats apart.
     */
    private void packHalfPanel(float[] pb, int p, int jc, boolean bf16) {
        int nr = Math.min(NR, c1 - jc);
        for (int kb = 0; kb < kBlocks; kb++) { // K block by K block: its 32 KiB micro-panel fills in L1
            int pc = kb * KC, kc = Math.min(KC, k - pc);
            for (int j = 0; j < NR; j++) {
                int dst = bOffset(kb, p) + j;
                if (j >= nr) {
                    for (int q = 0; q < kc; q++) {
                        pb[dst + q * NR] = 0f;
                    }
                    continue;
                }
                long src = ((long) (jc + j) * k + pc) * 2;
                int bound = F.loopBound(kc);
                int q = 0;
                for (; q < bound; q += L) {
                    ShortVector sv = ShortVector.fromMemorySegment(S, ws, src + 2L * q, LE);
                    IntVector iv = (IntVector) sv.convertShape(VectorOperators.S2I, I, 0);
                    FloatVector f = bf16 ? iv.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats() : HalfWidening.halfToFloat(iv);
                    f.intoArray(pb, dst + q * NR, SCATTER_B, 0);
                }
                for (; q < kc; q++) {
                    short h = ws.get(I16, src + 2L * q);
                    pb[dst + q * NR] = bf16 ? Float.intBitsToFloat(h << 16) : Float.float16ToFloat(h);
                }
            }
        }
    }

    /**
     * {@link #packB} for F8_E4M3 and F8_E5M2 ({@code e5m2}) weights: as {@link #packHalfPanel}, L codes at a time
     * widened by {@link HalfWidening#loadF8}.
     */
    private void packF8Panel(float[] pb, int p, int jc, boolean e5m2) {
        int nr = Math.min(NR, c1 - jc);
        for (int kb = 0; kb < kBlocks; kb++) {
            int pc = kb * KC, kc = Math.min(KC, k - pc);
            for (int j = 0; j < NR; j++) {
                int dst = bOffset(kb, p) + j;
                if (j >= nr) {
                    for (int q = 0; q < kc; q++) {
                        pb[dst + q * NR] = 0f;
                    }
                    continue;
                }
                long src = (long) (jc + j) * k + pc;
                int bound = HalfWidening.f8Bound(kc);
                int q = 0;
                for (; q < bound; q += L) {
                    HalfWidening.loadF8(ws, src + q, e5m2).intoArray(pb, dst + q * NR, SCATTER_B, 0);
                }
                for (; q < kc; q++) {
                    pb[dst + q * NR] = HalfWidening.f8ToFloat(ws.get(ValueLayout.JAVA_BYTE, src + q), e5m2);
                }
            }
        }
    }

    /**
     * The MR×NR micro-kernel on the tile {@code c[co + i·NR + j]}: for each element, an FMA chain over q in
     * {@code [0, kc)} in order of {@code a[aOff + q·MR + i]·b[bOff + q·NR + j]}, starting from the value in the
     * tile ({@code accumulate}) or zero. The accumulators stay in registers.
     */
    private static void kernel(float[] a, int aOff, float[] b, int bOff, int kc, float[] c, int co,
                               boolean accumulate) {
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        FloatVector c60, c61, c70, c71, c80, c81, c90, c91, ca0, ca1, cb0, cb1;
        if (accumulate) {
            int r = co;
            c00 = FloatVector.fromArray(F, c, r); c01 = FloatVector.fromArray(F, c, r + L); r += NR;
            c10 = FloatVector.fromArray(F, c, r); c11 = FloatVector.fromArray(F, c, r + L); r += NR;
            c20 = FloatVector.fromArray(F, c, r); c21 = FloatVector.fromArray(F, c, r + L); r += NR;
            c30 = FloatVector.fromArray(F, c, r); c31 = FloatVector.fromArray(F, c, r + L); r += NR;
            c40 = FloatVector.fromArray(F, c, r); c41 = FloatVector.fromArray(F, c, r + L); r += NR;
            c50 = FloatVector.fromArray(F, c, r); c51 = FloatVector.fromArray(F, c, r + L); r += NR;
            c60 = FloatVector.fromArray(F, c, r); c61 = FloatVector.fromArray(F, c, r + L); r += NR;
            c70 = FloatVector.fromArray(F, c, r); c71 = FloatVector.fromArray(F, c, r + L); r += NR;
            c80 = FloatVector.fromArray(F, c, r); c81 = FloatVector.fromArray(F, c, r + L); r += NR;
            c90 = FloatVector.fromArray(F, c, r); c91 = FloatVector.fromArray(F, c, r + L); r += NR;
            ca0 = FloatVector.fromArray(F, c, r); ca1 = FloatVector.fromArray(F, c, r + L); r += NR;
            cb0 = FloatVector.fromArray(F, c, r); cb1 = FloatVector.fromArray(F, c, r + L);
        } else {
            c00 = FloatVector.zero(F);
            c01 = c00; c10 = c00; c11 = c00; c20 = c00; c21 = c00; c30 = c00; c31 = c00; c40 = c00; c41 = c00;
            c50 = c00; c51 = c00; c60 = c00; c61 = c00; c70 = c00; c71 = c00; c80 = c00; c81 = c00; c90 = c00;
            c91 = c00; ca0 = c00; ca1 = c00; cb0 = c00; cb1 = c00;
        }
        for (int q = 0; q < kc; q++) {
            int bi = bOff + q * NR, ai = aOff + q * MR;
            FloatVector b0 = FloatVector.fromArray(F, b, bi), b1 = FloatVector.fromArray(F, b, bi + L);
            FloatVector av = FloatVector.broadcast(F, a[ai + 0]);
            c00 = av.fma(b0, c00); c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(F, a[ai + 1]);
            c10 = av.fma(b0, c10); c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(F, a[ai + 2]);
            c20 = av.fma(b0, c20); c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(F, a[ai + 3]);
            c30 = av.fma(b0, c30); c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(F, a[ai + 4]);
            c40 = av.fma(b0, c40); c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(F, a[ai + 5]);
            c50 = av.fma(b0, c50); c51 = av.fma(b1, c51);
            av = FloatVector.broadcast(F, a[ai + 6]);
            c60 = av.fma(b0, c60); c61 = av.fma(b1, c61);
            av = FloatVector.broadcast(F, a[ai + 7]);
            c70 = av.fma(b0, c70); c71 = av.fma(b1, c71);
            av = FloatVector.broadcast(F, a[ai + 8]);
            c80 = av.fma(b0, c80); c81 = av.fma(b1, c81);
            av = FloatVector.broadcast(F, a[ai + 9]);
            c90 = av.fma(b0, c90); c91 = av.fma(b1, c91);
            av = FloatVector.broadcast(F, a[ai + 10]);
            ca0 = av.fma(b0, ca0); ca1 = av.fma(b1, ca1);
            av = FloatVector.broadcast(F, a[ai + 11]);
            cb0 = av.fma(b0, cb0); cb1 = av.fma(b1, cb1);
        }
        int r = co;
        c00.intoArray(c, r); c01.intoArray(c, r + L); r += NR;
        c10.intoArray(c, r); c11.intoArray(c, r + L); r += NR;
        c20.intoArray(c, r); c21.intoArray(c, r + L); r += NR;
        c30.intoArray(c, r); c31.intoArray(c, r + L); r += NR;
        c40.intoArray(c, r); c41.intoArray(c, r + L); r += NR;
        c50.intoArray(c, r); c51.intoArray(c, r + L); r += NR;
        c60.intoArray(c, r); c61.intoArray(c, r + L); r += NR;
        c70.intoArray(c, r); c71.intoArray(c, r + L); r += NR;
        c80.intoArray(c, r); c81.intoArray(c, r + L); r += NR;
        c90.intoArray(c, r); c91.intoArray(c, r + L); r += NR;
        ca0.intoArray(c, r); ca1.intoArray(c, r + L); r += NR;
        cb0.intoArray(c, r); cb1.intoArray(c, r + L);
    }

    private static int roundUp(int v, int multiple) {
        return (v + multiple - 1) / multiple * multiple;
    }
}
