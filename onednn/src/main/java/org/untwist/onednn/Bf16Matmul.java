package org.untwist.onednn;

import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.untwist.onednn.dnnl.DnnlApi;
import org.untwist.onednn.dnnl.OpenMp;
import org.untwist.tensor.DType;

/**
 * {@code linear} on oneDNN's bf16 matmul: {@code out = bf16(x) · bf16(w)ᵀ + bias} with float32 accumulation and output.
 *
 * <p>Operands: the activations are rounded to bf16 per call, {@link #X_CHUNK_BYTES} of bf16 rows at a time. BF16
 * weights go to oneDNN in place (the mapped file, no copy). Weights of another type (F32, F16, F8_E4M3, F8_E5M2) are
 * converted to bf16 per call, one panel of output rows ({@link #W_PANEL_BYTES} of bf16) at a time, so no bf16 copy of
 * a whole weight, let alone of a model, is ever held; each panel is one matmul into its columns of {@code out} (and is
 * converted again for each chunk of rows; at FLUX's width 3,072 a chunk holds 5,440 rows, more than a 1024² image's
 * 4,608 + 512 tokens). The
 * conversions run on the backend's threads ({@link Bf16Rows}), the matmuls on oneDNN's OpenMP threads, as many as the
 * backend has ({@code omp_set_num_threads} on the calling thread before each call).
 *
 * <p>Primitives are made once per {@link MatmulShape} and kept (at most {@link #MAX_CACHED}; past that a shape's
 * primitive is made and destroyed per call, which oneDNN's own primitive cache makes cheap). Calls from several threads
 * run at once: each takes its own {@link MatmulWorkspace} (stream, bf16 buffers, scratchpad) from a pool. Everything
 * native is freed by {@link #close}.
 */
final class Bf16Matmul implements AutoCloseable {
    /** Bytes of bf16 activations converted per matmul: rows of x are processed in chunks of this size. */
    static final long X_CHUNK_BYTES = 32L << 20;
    /** Bytes of bf16 weights converted per matmul when the weights are not BF16. */
    static final long W_PANEL_BYTES = 32L << 20;
    /** Shapes whose primitives are kept. */
    static final int MAX_CACHED = 64;
    /** Chunk and panel heights are multiples of this (whole register blocks of oneDNN's kernels). */
    private static final int ROW_QUANTUM = 64;

    /** Rows {@code [r0, r1)} of a {@code [*, cols]} matrix of type {@code dt} as consecutive bf16 rows at {@code dst}. */
    @FunctionalInterface
    interface Bf16Rows {
        void convert(MemorySegment src, DType dt, long r0, long r1, int cols, MemorySegment dst);
    }

    private final int threads;
    private final long xChunkBytes, wPanelBytes;
    private final Bf16Rows bf16Rows;
    private final MemorySegment engine;
    private final Map<MatmulShape, MatmulPrimitive> cache = new HashMap<>(); // guarded by this
    private final Deque<MatmulWorkspace> idle = new ArrayDeque<>(); // guarded by this
    private final List<MatmulWorkspace> workspaces = new ArrayList<>(); // guarded by this
    private boolean closed; // guarded by this

    Bf16Matmul(int threads, Bf16Rows bf16Rows) {
        this(threads, bf16Rows, X_CHUNK_BYTES, W_PANEL_BYTES);
    }

    /** With other chunk and panel sizes (tests use small ones to cover the chunk loops on small matrices). */
    Bf16Matmul(int threads, Bf16Rows bf16Rows, long xChunkBytes, long wPanelBytes) {
        this.threads = threads;
        this.xChunkBytes = xChunkBytes;
        this.wPanelBytes = wPanelBytes;
        this.bf16Rows = bf16Rows;
        this.engine = DnnlApi.engineCreate();
    }

    /**
     * {@code out[rows, outDim] = x[rows, in] · w[outDim, in]ᵀ + bias} with x and w rounded to bf16.
     *
     * @param x    float32 activations
     * @param w    weights of type {@code wt}
     * @param bias float32 {@code [outDim]} or {@code null}
     * @param out  float32
     */
    void multiply(MemorySegment x, MemorySegment w, DType wt, MemorySegment bias, MemorySegment out, int rows, int in, int outDim) {
        MatmulWorkspace ws = takeWorkspace();
        try {
            OpenMp.setThreads(threads); // an OpenMP setting of this (calling) thread; also sizes new primitives' blocking
            boolean inPlace = wt == DType.BF16;
            int xRows = panelRows(rows, in, xChunkBytes);
            int wRows = inPlace ? outDim : panelRows(outDim, in, wPanelBytes);
            MemorySegment xb = ws.activations.get((long) xRows * in * 2);
            MemorySegment wb = inPlace ? null : ws.weights.get((long) wRows * in * 2);
            for (int m0 = 0; m0 < rows; m0 += xRows) {
                int mc = Math.min(xRows, rows - m0);
                bf16Rows.convert(x, DType.F32, m0, m0 + mc, in, xb);
                for (int n0 = 0; n0 < outDim; n0 += wRows) {
                    int nc = Math.min(wRows, outDim - n0);
                    MemorySegment wp;
                    if (inPlace) {
                        wp = w.asSlice((long) n0 * in * 2);
                    } else {
                        bf16Rows.convert(w, wt, n0, n0 + nc, in, wb);
                        wp = wb;
                    }
                    MemorySegment dst = out.asSlice(((long) m0 * outDim + n0) * 4);
                    MemorySegment b = bias == null ? MemorySegment.NULL : bias.asSlice((long) n0 * 4);
                    run(new MatmulShape(mc, in, nc, outDim, bias != null), ws, xb, wp, b, dst);
                }
            }
        } finally {
            giveBack(ws);
        }
    }

    /**
     * Rows per chunk so that a chunk of bf16 rows of {@code cols} stays within {@code bytes}: all rows, else a multiple
     * of 64 rows, else (a chunk under 64 rows: very wide rows, or the small sizes tests use) what fits, at least 1.
     */
    static int panelRows(int rows, int cols, long bytes) {
        long fit = bytes / (2L * Math.max(1, cols));
        if (fit >= rows) {
            return Math.max(1, rows);
        }
        return (int) Math.max(1, fit >= ROW_QUANTUM ? fit / ROW_QUANTUM * ROW_QUANTUM : fit);
    }

    private void run(MatmulShape shape, MatmulWorkspace ws, MemorySegment src, MemorySegment weights, MemorySegment bias, MemorySegment dst) {
        MatmulPrimitive p;
        boolean owned = false;
        synchronized (this) {
            p = cache.get(shape);
        }
        if (p == null) {
            MatmulPrimitive made = new MatmulPrimitive(engine, shape); // outside the lock: the expensive part
            synchronized (this) {
                p = cache.get(shape);
                if (p != null) {
                    made.close(); // another thread made it meanwhile
                } else if (!closed && cache.size() < MAX_CACHED) {
                    cache.put(shape, made);
                    p = made;
                } else {
                    p = made;
                    owned = true;
                }
            }
        }
        try {
            p.run(engine, ws.stream, src, weights, bias, dst, ws.scratchpad.get(p.scratchpadBytes));
        } finally {
            if (owned) {
                p.close();
            }
        }
    }

    /** Primitives kept, for tests. */
    synchronized int cachedShapes() {
        return cache.size();
    }

    private synchronized MatmulWorkspace takeWorkspace() {
        if (closed) {
            throw new IllegalStateException("onednn backend is closed");
        }
        MatmulWorkspace ws = idle.poll();
        if (ws == null) {
            ws = new MatmulWorkspace(engine);
            workspaces.add(ws);
        }
        return ws;
    }

    private synchronized void giveBack(MatmulWorkspace ws) {
        idle.push(ws);
    }

    /** Destroys the primitives, streams and engine and frees the buffers; idempotent. After the calls in flight. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (MatmulPrimitive p : cache.values()) {
            p.close();
        }
        cache.clear();
        for (MatmulWorkspace ws : workspaces) {
            ws.close();
        }
        workspaces.clear();
        idle.clear();
        DnnlApi.engineDestroy(engine);
    }
}
