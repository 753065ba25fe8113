package org.untwist.gpu;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.untwist.ffm.CudaCheck;
import org.untwist.ffm.CudaException;
import org.untwist.ffm.CudaLibraries;
import org.untwist.ffm.CudaLibrary;
import org.untwist.ffm.gen.cudnn.Cudnn;

/**
 * cuDNN's fused scaled-dot-product attention through the backend graph API: one
 * {@code CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR} per shape (bf16 q, k, v, o in [b, h, s, d] with d
 * innermost, the softmax statistics (log-sum-exp per query row, float32) and the scale by value), finalized
 * into an execution plan from the heuristics' first engine that accepts it; plans are cached per shape. One
 * cuDNN handle per backend, on the backend's stream.
 */
final class CudnnAttention implements AutoCloseable {
    private static final long UID_Q = 1, UID_K = 2, UID_V = 3, UID_O = 4, UID_STATS = 5, UID_SCALE = 6;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment handle;
    private final MemorySegment stream;
    private final Map<List<Integer>, Plan> plans = new HashMap<>();
    private final List<MemorySegment> descriptors = new ArrayList<>();

    /** Plans tried per shape: the heuristics' first candidates that finalize, timed on first use. */
    private static final int MAX_CANDIDATES = 6;

    /**
     * The finalized candidate plans of one shape (the heuristics' order), the largest workspace any of them
     * needs, whether they write the softmax statistics, and the candidate chosen by timing on first use.
     */
    static final class Plan {
        final List<MemorySegment> candidates;
        final long workspace;
        final boolean stats;
        MemorySegment chosen;
        String choice = "not yet run";

        Plan(List<MemorySegment> candidates, long workspace, boolean stats) {
            this.candidates = candidates;
            this.workspace = workspace;
            this.stats = stats;
        }

        long workspace() {
            return workspace;
        }

        boolean stats() {
            return stats;
        }
    }

    CudnnAttention(MemorySegment stream) {
        this.stream = stream;
        CudaLibraries.Result libs = CudaLibraries.load(CudaLibraries.Search.fromSystem(), EnumSet.of(CudaLibrary.CUDNN));
        if (!libs.ok()) {
            throw new IllegalStateException("cuDNN is not available: " + libs.reason());
        }
        MemorySegment p = arena.allocate(ADDRESS);
        CudaCheck.cudnn(Cudnn.cudnnCreate(p), "cudnnCreate");
        handle = p.get(ADDRESS, 0);
        try {
            CudaCheck.cudnn(Cudnn.cudnnSetStream(handle, stream), "cudnnSetStream");
        } catch (CudaException e) {
            Cudnn.cudnnDestroy(handle);
            arena.close();
            throw e;
        }
    }

    static String version() {
        return String.valueOf(Cudnn.cudnnGetVersion());
    }

    /**
     * The plan for {@code b × h} heads of {@code sq} queries over {@code skv} keys of dimension {@code d}, with or
     * without the statistics output (inference engines can be faster without it); built on first use.
     */
    Plan plan(int b, int h, int sq, int skv, int d, boolean stats) {
        return plans.computeIfAbsent(List.of(b, h, sq, skv, d, stats ? 1 : 0), k -> build(b, h, sq, skv, d, stats));
    }

    /**
     * Runs the plan: q [b, h, sq, d], k and v [b, h, skv, d], o [b, h, sq, d] (bf16, contiguous), stats
     * [b, h, sq] float32 log-sum-exp of the scaled logits (natural log).
     */
    void run(Plan plan, long q, long k, long v, long o, long stats, float scale, long workspace) {
        if (plan.chosen == null) {
            choose(plan, q, k, v, o, stats, scale, workspace);
        }
        execute(plan, plan.chosen, q, k, v, o, stats, scale, workspace);
    }

    /**
     * Times every candidate on the real operands (one warm-up, three timed runs each) and keeps the fastest:
     * the heuristics' first choice is not always the fastest engine for a shape. A candidate that fails to
     * execute is skipped.
     */
    private void choose(Plan plan, long q, long k, long v, long o, long stats, float scale, long workspace) {
        double best = Double.POSITIVE_INFINITY;
        CudaException last = null;
        StringBuilder times = new StringBuilder();
        for (int i = 0; i < plan.candidates.size(); i++) {
            MemorySegment c = plan.candidates.get(i);
            try {
                execute(plan, c, q, k, v, o, stats, scale, workspace);
                CudaCheck.cudart(org.untwist.ffm.gen.cudart.Cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize");
                long t0 = System.nanoTime();
                for (int r = 0; r < 3; r++) {
                    execute(plan, c, q, k, v, o, stats, scale, workspace);
                }
                CudaCheck.cudart(org.untwist.ffm.gen.cudart.Cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize");
                double ms = (System.nanoTime() - t0) / 3e6;
                times.append(times.isEmpty() ? "" : ", ").append(String.format(java.util.Locale.ROOT, "#%d %.3f ms", i, ms));
                if (ms < best) {
                    best = ms;
                    plan.chosen = c;
                    plan.choice = "engine config " + i + " of " + plan.candidates.size();
                }
            } catch (CudaException e) {
                last = e;
                times.append(times.isEmpty() ? "" : ", ").append("#").append(i).append(" failed");
            }
        }
        if (plan.chosen == null) {
            throw last != null ? last : new IllegalStateException("no cuDNN candidate plan");
        }
        plan.choice += " (timed: " + times + ")";
    }

    private void execute(Plan plan, MemorySegment exec, long q, long k, long v, long o, long stats, float scale, long workspace) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment vp = create(a, Cudnn.CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR());
            try {
                long[] ids = plan.stats() ? new long[] {UID_Q, UID_K, UID_V, UID_O, UID_SCALE, UID_STATS} : new long[] {UID_Q, UID_K, UID_V, UID_O, UID_SCALE};
                MemorySegment uids = a.allocateFrom(JAVA_LONG, ids);
                MemorySegment ptrs = a.allocate(ADDRESS, ids.length);
                long[] addr = {q, k, v, o};
                for (int i = 0; i < addr.length; i++) {
                    ptrs.setAtIndex(ADDRESS, i, MemorySegment.ofAddress(addr[i]));
                }
                ptrs.setAtIndex(ADDRESS, 4, a.allocateFrom(JAVA_FLOAT, scale)); // by value: a host pointer
                if (plan.stats()) {
                    ptrs.setAtIndex(ADDRESS, 5, MemorySegment.ofAddress(stats));
                }
                set(vp, Cudnn.CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS(), Cudnn.CUDNN_TYPE_INT64(), ids.length, uids, "variant pack uids");
                set(vp, Cudnn.CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS(), Cudnn.CUDNN_TYPE_VOID_PTR(), ids.length, ptrs, "variant pack pointers");
                set(vp, Cudnn.CUDNN_ATTR_VARIANT_PACK_WORKSPACE(), Cudnn.CUDNN_TYPE_VOID_PTR(), 1,
                        a.allocateFrom(ADDRESS, MemorySegment.ofAddress(workspace)), "variant pack workspace");
                CudaCheck.cudnn(Cudnn.cudnnBackendFinalize(vp), "cudnnBackendFinalize(variant pack)");
                CudaCheck.cudnn(Cudnn.cudnnBackendExecute(handle, exec, vp), "cudnnBackendExecute(SDPA forward)");
            } finally {
                Cudnn.cudnnBackendDestroyDescriptor(vp);
            }
        }
    }

    private Plan build(int b, int h, int sq, int skv, int d, boolean withStats) {
        String what = "SDPA forward b=" + b + " h=" + h + " sq=" + sq + " skv=" + skv + " d=" + d + (withStats ? " with statistics" : "");
        MemorySegment q = tensor(UID_Q, Cudnn.CUDNN_DATA_BFLOAT16(), new long[] {b, h, sq, d}, false);
        MemorySegment k = tensor(UID_K, Cudnn.CUDNN_DATA_BFLOAT16(), new long[] {b, h, skv, d}, false);
        MemorySegment v = tensor(UID_V, Cudnn.CUDNN_DATA_BFLOAT16(), new long[] {b, h, skv, d}, false);
        MemorySegment o = tensor(UID_O, Cudnn.CUDNN_DATA_BFLOAT16(), new long[] {b, h, sq, d}, false);
        MemorySegment scale = tensor(UID_SCALE, Cudnn.CUDNN_DATA_FLOAT(), new long[] {1, 1, 1, 1}, true);
        MemorySegment op = keep(Cudnn.CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR());
        setDesc(op, Cudnn.CUDNN_ATTR_OPERATION_SDPA_FWD_QDESC(), q);
        setDesc(op, Cudnn.CUDNN_ATTR_OPERATION_SDPA_FWD_KDESC(), k);
        setDesc(op, Cudnn.CUDNN_ATTR_OPERATION_SDPA_FWD_VDESC(), v);
        setDesc(op, Cudnn.CUDNN_ATTR_OPERATION_SDPA_FWD_ODESC(), o);
        if (withStats) {
            setDesc(op, Cudnn.CUDNN_ATTR_OPERATION_SDPA_FWD_STATSDESC(), tensor(UID_STATS, Cudnn.CUDNN_DATA_FLOAT(), new long[] {b, h, sq, 1}, false));
        }
        setDesc(op, Cudnn.CUDNN_ATTR_OPERATION_SDPA_FWD_SCALEDESC(), scale);
        CudaCheck.cudnn(Cudnn.cudnnBackendFinalize(op), "cudnnBackendFinalize(" + what + ")");
        MemorySegment graph = keep(Cudnn.CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR());
        set(graph, Cudnn.CUDNN_ATTR_OPERATIONGRAPH_HANDLE(), Cudnn.CUDNN_TYPE_HANDLE(), 1, arena.allocateFrom(ADDRESS, handle), "graph handle");
        setDesc(graph, Cudnn.CUDNN_ATTR_OPERATIONGRAPH_OPS(), op);
        CudaCheck.cudnn(Cudnn.cudnnBackendFinalize(graph), "cudnnBackendFinalize(operation graph of " + what + ")");
        MemorySegment heur = keep(Cudnn.CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR());
        setDesc(heur, Cudnn.CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH(), graph);
        set(heur, Cudnn.CUDNN_ATTR_ENGINEHEUR_MODE(), Cudnn.CUDNN_TYPE_HEUR_MODE(), 1, arena.allocateFrom(JAVA_INT, Cudnn.CUDNN_HEUR_MODE_A()),
                "heuristics mode");
        CudaCheck.cudnn(Cudnn.cudnnBackendFinalize(heur), "cudnnBackendFinalize(heuristics of " + what + ")");
        MemorySegment count = arena.allocate(JAVA_LONG);
        CudaCheck.cudnn(Cudnn.cudnnBackendGetAttribute(heur, Cudnn.CUDNN_ATTR_ENGINEHEUR_RESULTS(), Cudnn.CUDNN_TYPE_BACKEND_DESCRIPTOR(), 0, count,
                MemorySegment.NULL), "cudnnBackendGetAttribute(heuristic results count)");
        int n = (int) count.get(JAVA_LONG, 0);
        if (n < 1) {
            throw new IllegalStateException("cuDNN has no engine for " + what);
        }
        MemorySegment cfgs = arena.allocate(ADDRESS, n);
        for (int i = 0; i < n; i++) {
            cfgs.setAtIndex(ADDRESS, i, keep(Cudnn.CUDNN_BACKEND_ENGINECFG_DESCRIPTOR()));
        }
        CudaCheck.cudnn(Cudnn.cudnnBackendGetAttribute(heur, Cudnn.CUDNN_ATTR_ENGINEHEUR_RESULTS(), Cudnn.CUDNN_TYPE_BACKEND_DESCRIPTOR(), n, count,
                cfgs), "cudnnBackendGetAttribute(heuristic results)");
        n = (int) count.get(JAVA_LONG, 0);
        CudaException last = null;
        List<MemorySegment> ok = new ArrayList<>();
        long workspace = 0;
        for (int i = 0; i < n && ok.size() < MAX_CANDIDATES; i++) {
            MemorySegment plan = keep(Cudnn.CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR());
            try {
                set(plan, Cudnn.CUDNN_ATTR_EXECUTION_PLAN_HANDLE(), Cudnn.CUDNN_TYPE_HANDLE(), 1, arena.allocateFrom(ADDRESS, handle), "plan handle");
                setDesc(plan, Cudnn.CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG(), cfgs.getAtIndex(ADDRESS, i));
                CudaCheck.cudnn(Cudnn.cudnnBackendFinalize(plan), "cudnnBackendFinalize(execution plan " + i + " of " + what + ")");
                MemorySegment ws = arena.allocate(JAVA_LONG);
                CudaCheck.cudnn(Cudnn.cudnnBackendGetAttribute(plan, Cudnn.CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE(), Cudnn.CUDNN_TYPE_INT64(), 1,
                        count, ws), "cudnnBackendGetAttribute(workspace size)");
                ok.add(plan);
                workspace = Math.max(workspace, ws.get(JAVA_LONG, 0));
            } catch (CudaException e) {
                last = e;
            }
        }
        if (!ok.isEmpty()) {
            return new Plan(ok, workspace, withStats);
        }
        throw new IllegalStateException("no cuDNN engine finalizes " + what + (last == null ? "" : ": " + last.getMessage()), last);
    }

    /** A finalized tensor descriptor, contiguous with the last dimension innermost. */
    private MemorySegment tensor(long uid, int dataType, long[] dims, boolean byValue) {
        MemorySegment t = keep(Cudnn.CUDNN_BACKEND_TENSOR_DESCRIPTOR());
        long[] strides = new long[dims.length];
        long s = 1;
        for (int i = dims.length - 1; i >= 0; i--) {
            strides[i] = s;
            s *= dims[i];
        }
        set(t, Cudnn.CUDNN_ATTR_TENSOR_DATA_TYPE(), Cudnn.CUDNN_TYPE_DATA_TYPE(), 1, arena.allocateFrom(JAVA_INT, dataType), "tensor type");
        set(t, Cudnn.CUDNN_ATTR_TENSOR_DIMENSIONS(), Cudnn.CUDNN_TYPE_INT64(), dims.length, arena.allocateFrom(JAVA_LONG, dims), "tensor dims");
        set(t, Cudnn.CUDNN_ATTR_TENSOR_STRIDES(), Cudnn.CUDNN_TYPE_INT64(), dims.length, arena.allocateFrom(JAVA_LONG, strides), "tensor strides");
        set(t, Cudnn.CUDNN_ATTR_TENSOR_UNIQUE_ID(), Cudnn.CUDNN_TYPE_INT64(), 1, arena.allocateFrom(JAVA_LONG, uid), "tensor uid");
        set(t, Cudnn.CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT(), Cudnn.CUDNN_TYPE_INT64(), 1, arena.allocateFrom(JAVA_LONG, 16L), "tensor alignment");
        if (byValue) {
            MemorySegment yes = arena.allocate(JAVA_BOOLEAN);
            yes.set(JAVA_BOOLEAN, 0, true);
            set(t, Cudnn.CUDNN_ATTR_TENSOR_IS_BY_VALUE(), Cudnn.CUDNN_TYPE_BOOLEAN(), 1, yes, "tensor by value");
        }
        CudaCheck.cudnn(Cudnn.cudnnBackendFinalize(t), "cudnnBackendFinalize(tensor " + uid + ")");
        return t;
    }

    private MemorySegment keep(int type) {
        MemorySegment d = create(arena, type);
        descriptors.add(d);
        return d;
    }

    private static MemorySegment create(Arena a, int type) {
        MemorySegment p = a.allocate(ADDRESS);
        CudaCheck.cudnn(Cudnn.cudnnBackendCreateDescriptor(type, p), "cudnnBackendCreateDescriptor(" + type + ")");
        return p.get(ADDRESS, 0);
    }

    private void setDesc(MemorySegment d, int attr, MemorySegment value) {
        set(d, attr, Cudnn.CUDNN_TYPE_BACKEND_DESCRIPTOR(), 1, arena.allocateFrom(ADDRESS, value), "descriptor attribute " + attr);
    }

    private static void set(MemorySegment d, int attr, int type, long count, MemorySegment values, String what) {
        CudaCheck.cudnn(Cudnn.cudnnBackendSetAttribute(d, attr, type, count, values), "cudnnBackendSetAttribute(" + what + ")");
    }

    @Override
    public void close() {
        for (int i = descriptors.size() - 1; i >= 0; i--) {
            Cudnn.cudnnBackendDestroyDescriptor(descriptors.get(i));
        }
        descriptors.clear();
        plans.clear();
        Cudnn.cudnnDestroy(handle);
        arena.close();
    }
}
