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
import org.untwist.ffm.CudaException;
import org.untwist.ffm.CudaLibraries;
import org.untwist.ffm.CudaLibrary;
import org.untwist.gpu.cuda.CudaRuntime;
import org.untwist.gpu.cuda.CudnnApi;
import org.untwist.gpu.cuda.CudnnApi.Attribute;
import org.untwist.gpu.cuda.CudnnApi.AttributeType;
import org.untwist.gpu.cuda.CudnnApi.DataType;
import org.untwist.gpu.cuda.CudnnApi.DescriptorType;
import org.untwist.gpu.cuda.CudnnApi.HeurMode;

/**
 * cuDNN's fused scaled-dot-product attention through the backend graph API: one
 * {@code CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR} per shape (bf16 q, k, v, o with d innermost, [b, h, s, d]
 * or [b, s, h, d] in memory, optionally the softmax statistics (log-sum-exp per query row, float32), the scale
 * by value), the same operation cudnn-frontend builds for a plain bf16 inference SDPA. The candidate plans are
 * the engine configurations of heuristics modes A and B that finalize; the fastest on the real operands is kept
 * (cudnn-frontend's autotuning does the same) and remembered for the process and on disk ({@link CudnnPlanChoices}),
 * so that a later backend or process on the device finalizes only that one. Plans and their finalized variant packs are cached. One
 * cuDNN handle per object, on its backend's stream; a closing backend leaves the object, plans and all, to the next
 * ({@link CudnnContexts}).
 */
final class CudnnAttention implements AutoCloseable {
    private static final long UID_Q = 1, UID_K = 2, UID_V = 3, UID_O = 4, UID_STATS = 5, UID_SCALE = 6;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment handle;
    private MemorySegment stream;
    private final String device;
    /** The device and the cuDNN version, which together fix the heuristics' lists: the key of {@link CudnnPlanChoices}. */
    private final String choicesKey;
    private final Map<List<Integer>, Plan> plans = new HashMap<>();
    /** Plans of the benchmark's survey, every candidate finalized whatever was remembered ({@link #surveyPlan}). */
    private final Map<List<Integer>, Plan> surveyPlans = new HashMap<>();
    private final List<MemorySegment> descriptors = new ArrayList<>();
    /** Execution-plan finalizations this object has tried, for {@link CudnnSetupTotals}. */
    private int finalizations;

    /**
     * Plans tried per shape: the engine configurations of heuristics modes A and B that finalize (mode A's
     * first), at most this many, timed on first use.
     */
    private static final int MAX_CANDIDATES = 12;
    /**
     * Variant packs kept per plan; more distinct pointer sets than this drop the cache. Two-pass shared attention with
     * one reference runs the reference pass once per batch element, each with its own pointers.
     */
    private static final int MAX_PACKS = 64;

    /**
     * The finalized candidate plans of one shape (the heuristics' order), the largest workspace any of them
     * needs, whether they write the softmax statistics, and the candidate chosen by timing on first use.
     */
    static final class Plan {
        final List<Integer> key;
        final List<MemorySegment> candidates;
        final List<String> labels;
        /** Where each candidate stands in the heuristics' results, for {@link CudnnPlanChoices}. */
        final List<CudnnPlanChoices.Choice> origins;
        final long workspace;
        final boolean stats;
        MemorySegment chosen;
        String choice = "not yet run";
        /** Finalized variant packs by (plan, pointers, scale): built once, reused by every later call. */
        final Map<List<Long>, Pack> packs = new HashMap<>();

        Plan(List<Integer> key, List<MemorySegment> candidates, List<String> labels, List<CudnnPlanChoices.Choice> origins, long workspace,
                boolean stats) {
            this.key = key;
            this.candidates = candidates;
            this.labels = labels;
            this.origins = origins;
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

    /** @param device the device's label ({@link GpuDevice}): the remembered choices are per device */
    CudnnAttention(MemorySegment stream, String device) {
        this.stream = stream;
        this.device = device;
        CudaLibraries.Result libs = CudaLibraries.load(CudaLibraries.Search.fromSystem(), EnumSet.of(CudaLibrary.CUDNN));
        if (!libs.ok()) {
            throw new IllegalStateException("cuDNN is not available: " + libs.reason());
        }
        choicesKey = device + ", cuDNN " + CudnnApi.version();
        handle = CudnnApi.create();
        try {
            CudnnApi.setStream(handle, stream);
        } catch (CudaException e) {
            CudnnApi.destroy(handle);
            arena.close();
            throw e;
        }
    }

    static String version() {
        return String.valueOf(CudnnApi.version());
    }

    /**
     * The plan for {@code b × h} heads of {@code sq} queries over {@code skv} keys of dimension {@code d}, with or
     * without the statistics output (inference engines can be faster without it); built on first use.
     */
    Plan plan(int b, int h, int sq, int skv, int d, boolean stats) {
        return plan(b, h, sq, skv, d, stats, false);
    }

    /**
     * As {@link #plan(int, int, int, int, int, boolean)}; {@code bshd}: q, k, v and o laid out [b, s, h, d] in memory
     * (the dimensions stay [b, h, s, d], the strides say where each element is), else [b, h, s, d] contiguous.
     */
    Plan plan(int b, int h, int sq, int skv, int d, boolean stats, boolean bshd) {
        return plan(b, h, sq, skv, d, stats, bshd, bshd);
    }

    /** As above, with the output's layout chosen on its own: {@code oBshd} writes o as [b, s, h, d]. */
    Plan plan(int b, int h, int sq, int skv, int d, boolean stats, boolean bshd, boolean oBshd) {
        return plan(b, h, sq, skv, d, stats, bshd, oBshd, skv);
    }

    /**
     * As above, with k and v read as {@code skv} consecutive rows of a [b, h, kvRows, d] tensor ({@code kvRows ≥ skv},
     * layout [b, h, s, d] only): a run of tokens of a longer sequence read where it is, the run's first row at the
     * pointer passed to {@link #run}.
     */
    Plan plan(int b, int h, int sq, int skv, int d, boolean stats, boolean bshd, boolean oBshd, int kvRows) {
        if (kvRows < skv || (kvRows != skv && bshd)) {
            throw new IllegalArgumentException("keys read from " + kvRows + " rows per head: need at least " + skv + (bshd ? " and layout [b, h, s, d]" : ""));
        }
        return plans.computeIfAbsent(List.of(b, h, sq, skv, d, stats ? 1 : 0, bshd ? 1 : 0, oBshd ? 1 : 0, kvRows),
                k -> timedBuild(k, CudnnPlanChoices.recall(choicesKey, k).orElse(null)));
    }

    /**
     * As {@link #plan(int, int, int, int, int, boolean, boolean)}, with every candidate finalized even where a
     * winner is remembered: the benchmark's survey times them all ({@link #timeCandidates}).
     */
    Plan surveyPlan(int b, int h, int sq, int skv, int d, boolean stats, boolean bshd) {
        return surveyPlans.computeIfAbsent(List.of(b, h, sq, skv, d, stats ? 1 : 0, bshd ? 1 : 0, bshd ? 1 : 0, skv), k -> timedBuild(k, null));
    }

    /** {@link #build}, counted in {@link CudnnSetupTotals}. */
    private Plan timedBuild(List<Integer> key, CudnnPlanChoices.Choice remembered) {
        long t0 = System.nanoTime();
        int before = finalizations;
        Plan p = build(key, remembered);
        CudnnSetupTotals.built(finalizations - before, System.nanoTime() - t0);
        return p;
    }

    /**
     * Times every candidate of the plan on the given operands ({@code warm} calls, then {@code runs} calls
     * between two stream synchronizations) and returns one line per candidate: its label and the mean
     * milliseconds per call, or why it failed.
     */
    List<String> timeCandidates(Plan plan, long q, long k, long v, long o, long stats, float scale, long workspace, int warm, int runs) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < plan.candidates.size(); i++) {
            MemorySegment c = plan.candidates.get(i);
            try {
                double ms = meanMs(plan, c, q, k, v, o, stats, scale, workspace, warm, runs);
                out.add(String.format(java.util.Locale.ROOT, "#%d %s %.4f ms", i, plan.labels.get(i), ms));
            } catch (CudaException e) {
                out.add("#" + i + " " + plan.labels.get(i) + " failed: " + e.getMessage());
            }
        }
        return out;
    }

    /** Mean wall milliseconds of one call of candidate {@code c}: {@code warm} calls, then {@code runs} between two synchronizations. */
    private double meanMs(Plan plan, MemorySegment c, long q, long k, long v, long o, long stats, float scale, long workspace, int warm, int runs) {
        for (int r = 0; r < warm; r++) {
            execute(plan, c, q, k, v, o, stats, scale, workspace);
        }
        sync();
        long t0 = System.nanoTime();
        for (int r = 0; r < runs; r++) {
            execute(plan, c, q, k, v, o, stats, scale, workspace);
        }
        sync();
        return (System.nanoTime() - t0) / 1e6 / runs;
    }

    private void sync() {
        CudaRuntime.streamSynchronize(stream);
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
     * Times every candidate on the real operands (two warm-ups, five timed runs each) and keeps the fastest:
     * the heuristics' first choice is not always the fastest engine for a shape. A candidate that fails to
     * execute is skipped.
     */
    private void choose(Plan plan, long q, long k, long v, long o, long stats, float scale, long workspace) {
        long started = System.nanoTime();
        double best = Double.POSITIVE_INFINITY;
        CudaException last = null;
        CudnnPlanChoices.Choice winner = null;
        StringBuilder times = new StringBuilder();
        for (int i = 0; i < plan.candidates.size(); i++) {
            MemorySegment c = plan.candidates.get(i);
            try {
                double ms = meanMs(plan, c, q, k, v, o, stats, scale, workspace, 2, 5);
                times.append(times.isEmpty() ? "" : ", ").append(String.format(java.util.Locale.ROOT, "#%d %s %.3f ms", i, plan.labels.get(i), ms));
                if (ms < best) {
                    best = ms;
                    plan.chosen = c;
                    plan.choice = "engine config " + i + " of " + plan.candidates.size();
                    winner = plan.origins.get(i);
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
        CudnnPlanChoices.remember(choicesKey, plan.key, winner);
        CudnnSetupTotals.timed(System.nanoTime() - started);
    }

    private void execute(Plan plan, MemorySegment exec, long q, long k, long v, long o, long stats, float scale, long workspace) {
        List<Long> key = List.of(exec.address(), q, k, v, o, plan.stats() ? stats : 0L, workspace, (long) Float.floatToRawIntBits(scale));
        Pack vp = plan.packs.get(key);
        if (vp == null) {
            if (plan.packs.size() >= MAX_PACKS) {
                dropPacks(plan);
            }
            vp = pack(plan, q, k, v, o, stats, scale, workspace);
            plan.packs.put(key, vp);
        }
        CudnnApi.execute(handle, exec, vp.descriptor(), "SDPA forward");
    }

    /**
     * A finalized variant pack and the host float its by-value scale points at, which must live as long as the pack
     * does (a segment of its own: packs come and go, and an object reused by many backends must not grow).
     */
    record Pack(MemorySegment descriptor, MemorySegment scale) {
    }

    private static void dropPacks(Plan plan) {
        plan.packs.values().forEach(p -> CudnnApi.destroyDescriptor(p.descriptor()));
        plan.packs.clear();
    }

    /** A finalized variant pack for these pointers and scale. */
    private Pack pack(Plan plan, long q, long k, long v, long o, long stats, float scale, long workspace) {
        MemorySegment vp = CudnnApi.createDescriptor(DescriptorType.VARIANT_PACK);
        MemorySegment scaleValue = Arena.ofAuto().allocateFrom(JAVA_FLOAT, scale);
        try {
            long[] ids = plan.stats() ? new long[] {UID_Q, UID_K, UID_V, UID_O, UID_SCALE, UID_STATS} : new long[] {UID_Q, UID_K, UID_V, UID_O, UID_SCALE};
            try (Arena a = Arena.ofConfined()) {
                MemorySegment uids = a.allocateFrom(JAVA_LONG, ids);
                MemorySegment ptrs = a.allocate(ADDRESS, ids.length);
                long[] addr = {q, k, v, o};
                for (int i = 0; i < addr.length; i++) {
                    ptrs.setAtIndex(ADDRESS, i, MemorySegment.ofAddress(addr[i]));
                }
                ptrs.setAtIndex(ADDRESS, 4, scaleValue); // by value: a host pointer
                if (plan.stats()) {
                    ptrs.setAtIndex(ADDRESS, 5, MemorySegment.ofAddress(stats));
                }
                CudnnApi.setAttribute(vp, Attribute.VARIANT_PACK_UNIQUE_IDS, AttributeType.INT64, ids.length, uids, "variant pack uids");
                CudnnApi.setAttribute(vp, Attribute.VARIANT_PACK_DATA_POINTERS, AttributeType.VOID_PTR, ids.length, ptrs, "variant pack pointers");
                CudnnApi.setAttribute(vp, Attribute.VARIANT_PACK_WORKSPACE, AttributeType.VOID_PTR, 1,
                        a.allocateFrom(ADDRESS, MemorySegment.ofAddress(workspace)), "variant pack workspace");
            }
            CudnnApi.finalizeDescriptor(vp, "variant pack");
            return new Pack(vp, scaleValue);
        } catch (RuntimeException e) {
            CudnnApi.destroyDescriptor(vp);
            throw e;
        }
    }

    /**
     * Finalizes the plan of {@code key} (b, h, sq, skv, d, stats, bshd, oBshd, kvRows as in {@link #plan}): with
     * {@code remembered}, that configuration alone and already chosen; without it, or where it no longer finalizes,
     * every candidate, to be timed on first use.
     */
    private Plan build(List<Integer> key, CudnnPlanChoices.Choice remembered) {
        int b = key.get(0), h = key.get(1), sq = key.get(2), skv = key.get(3), d = key.get(4), kvRows = key.get(8);
        boolean withStats = key.get(5) == 1, bshd = key.get(6) == 1, oBshd = key.get(7) == 1;
        String what = "SDPA forward b=" + b + " h=" + h + " sq=" + sq + " skv=" + skv + " d=" + d + (withStats ? " with statistics" : "")
                + (bshd ? " [b, s, h, d] layout" : "") + (oBshd ? " output [b, s, h, d]" : "")
                + (kvRows != skv ? " keys and values in rows of " + kvRows : "");
        MemorySegment q = tensor(UID_Q, DataType.BFLOAT16, new long[] {b, h, sq, d}, false, bshd);
        long[] kvDims = {b, h, skv, d};
        long[] kvStrides = bshd ? null : new long[] {(long) h * kvRows * d, (long) kvRows * d, d, 1};
        MemorySegment k = tensor(UID_K, DataType.BFLOAT16, kvDims, kvStrides, false, bshd);
        MemorySegment v = tensor(UID_V, DataType.BFLOAT16, kvDims, kvStrides, false, bshd);
        MemorySegment o = tensor(UID_O, DataType.BFLOAT16, new long[] {b, h, sq, d}, false, oBshd);
        MemorySegment scale = tensor(UID_SCALE, DataType.FLOAT, new long[] {1, 1, 1, 1}, true, false);
        MemorySegment op = keep(DescriptorType.OPERATION_SDPA_FWD);
        setDesc(op, Attribute.OPERATION_SDPA_FWD_QDESC, q);
        setDesc(op, Attribute.OPERATION_SDPA_FWD_KDESC, k);
        setDesc(op, Attribute.OPERATION_SDPA_FWD_VDESC, v);
        setDesc(op, Attribute.OPERATION_SDPA_FWD_ODESC, o);
        if (withStats) {
            setDesc(op, Attribute.OPERATION_SDPA_FWD_STATSDESC, tensor(UID_STATS, DataType.FLOAT, new long[] {b, h, sq, 1}, false, false));
        }
        setDesc(op, Attribute.OPERATION_SDPA_FWD_SCALEDESC, scale);
        CudnnApi.finalizeDescriptor(op, what);
        MemorySegment graph = keep(DescriptorType.OPERATIONGRAPH);
        CudnnApi.setAttribute(graph, Attribute.OPERATIONGRAPH_HANDLE, AttributeType.HANDLE, 1, arena.allocateFrom(ADDRESS, handle), "graph handle");
        setDesc(graph, Attribute.OPERATIONGRAPH_OPS, op);
        CudnnApi.finalizeDescriptor(graph, "operation graph of " + what);
        CudaException last = null;
        List<MemorySegment> ok = new ArrayList<>();
        List<String> labels = new ArrayList<>();
        List<CudnnPlanChoices.Choice> origins = new ArrayList<>();
        long workspace = 0;
        for (HeurMode mode : new HeurMode[] {HeurMode.A, HeurMode.B}) {
            String modeName = mode.name();
            if (remembered != null && !remembered.mode().equals(modeName)) {
                continue;
            }
            List<MemorySegment> cfgs;
            try {
                cfgs = heuristics(graph, mode, what);
            } catch (CudaException e) {
                last = e;
                continue;
            }
            // every configuration, or the remembered one alone
            int from = remembered == null ? 0 : remembered.index(), to = remembered == null ? cfgs.size() : Math.min(cfgs.size(), from + 1);
            for (int i = from; i < to && ok.size() < MAX_CANDIDATES; i++) {
                long engine = engineIndex(cfgs.get(i));
                if (remembered != null && !remembered.sameEngine(engine)) {
                    break; // the heuristics now list another engine at the remembered place: choose again among all
                }
                MemorySegment plan = keep(DescriptorType.EXECUTION_PLAN);
                try {
                    CudnnApi.setAttribute(plan, Attribute.EXECUTION_PLAN_HANDLE, AttributeType.HANDLE, 1, arena.allocateFrom(ADDRESS, handle),
                            "plan handle");
                    setDesc(plan, Attribute.EXECUTION_PLAN_ENGINE_CONFIG, cfgs.get(i));
                    finalizations++;
                    CudnnApi.finalizeDescriptor(plan, "execution plan " + i + " of " + what);
                    MemorySegment ws = arena.allocate(JAVA_LONG);
                    MemorySegment count = arena.allocate(JAVA_LONG);
                    CudnnApi.getAttribute(plan, Attribute.EXECUTION_PLAN_WORKSPACE_SIZE, AttributeType.INT64, 1, count, ws, "workspace size");
                    ok.add(plan);
                    origins.add(new CudnnPlanChoices.Choice(modeName, i, engine));
                    labels.add("mode " + modeName + "[" + i + "] engine " + engine + " ws " + ws.get(JAVA_LONG, 0));
                    workspace = Math.max(workspace, ws.get(JAVA_LONG, 0));
                } catch (CudaException e) {
                    last = e;
                }
            }
        }
        if (remembered != null) {
            if (ok.isEmpty()) {
                return build(key, null); // the remembered configuration is gone or no longer finalizes: choose again among all
            }
            Plan p = new Plan(key, ok, labels, origins, workspace, withStats);
            p.chosen = ok.get(0);
            p.choice = "engine config " + labels.get(0) + ", the winner of an earlier timing on this device (this process or the plan cache)";
            return p;
        }
        if (!ok.isEmpty()) {
            return new Plan(key, ok, labels, origins, workspace, withStats);
        }
        throw new IllegalStateException("no cuDNN engine finalizes " + what + (last == null ? "" : ": " + last.getMessage()), last);
    }

    /** The engine configurations heuristics mode {@code mode} returns for the graph, best first. */
    private List<MemorySegment> heuristics(MemorySegment graph, HeurMode mode, String what) {
        MemorySegment heur = keep(DescriptorType.ENGINEHEUR);
        setDesc(heur, Attribute.ENGINEHEUR_OPERATION_GRAPH, graph);
        CudnnApi.setAttribute(heur, Attribute.ENGINEHEUR_MODE, AttributeType.HEUR_MODE, 1, arena.allocateFrom(JAVA_INT, mode.code()),
                "heuristics mode");
        CudnnApi.finalizeDescriptor(heur, "heuristics of " + what);
        MemorySegment count = arena.allocate(JAVA_LONG);
        CudnnApi.getAttribute(heur, Attribute.ENGINEHEUR_RESULTS, AttributeType.BACKEND_DESCRIPTOR, 0, count, MemorySegment.NULL,
                "heuristic results count");
        int n = (int) count.get(JAVA_LONG, 0);
        List<MemorySegment> out = new ArrayList<>();
        if (n < 1) {
            return out;
        }
        MemorySegment cfgs = arena.allocate(ADDRESS, n);
        for (int i = 0; i < n; i++) {
            cfgs.setAtIndex(ADDRESS, i, keep(DescriptorType.ENGINECFG));
        }
        CudnnApi.getAttribute(heur, Attribute.ENGINEHEUR_RESULTS, AttributeType.BACKEND_DESCRIPTOR, n, count, cfgs, "heuristic results");
        n = (int) count.get(JAVA_LONG, 0);
        for (int i = 0; i < n; i++) {
            out.add(cfgs.getAtIndex(ADDRESS, i));
        }
        return out;
    }

    /** The global index of the engine of an engine configuration, or -1 where cuDNN does not say. */
    private long engineIndex(MemorySegment cfg) {
        MemorySegment engine = keep(DescriptorType.ENGINE);
        MemorySegment holder = arena.allocateFrom(ADDRESS, engine);
        MemorySegment count = arena.allocate(JAVA_LONG);
        if (!CudnnApi.tryGetAttribute(cfg, Attribute.ENGINECFG_ENGINE, AttributeType.BACKEND_DESCRIPTOR, 1, count, holder)) {
            return -1;
        }
        MemorySegment idx = arena.allocate(JAVA_LONG);
        if (!CudnnApi.tryGetAttribute(engine, Attribute.ENGINE_GLOBAL_INDEX, AttributeType.INT64, 1, count, idx)) {
            return -1;
        }
        return idx.get(JAVA_LONG, 0);
    }

    /**
     * A finalized tensor descriptor of dimensions {@code dims}: contiguous with the last dimension innermost, or,
     * with {@code bshd}, dimensions [b, h, s, d] stored as [b, s, h, d].
     */
    private MemorySegment tensor(long uid, DataType dataType, long[] dims, boolean byValue, boolean bshd) {
        return tensor(uid, dataType, dims, null, byValue, bshd);
    }

    /** As above, with the strides given ({@code given} not null) instead of derived from the layout. */
    private MemorySegment tensor(long uid, DataType dataType, long[] dims, long[] given, boolean byValue, boolean bshd) {
        MemorySegment t = keep(DescriptorType.TENSOR);
        long[] strides = new long[dims.length];
        long s = 1;
        for (int i = dims.length - 1; i >= 0; i--) {
            strides[i] = s;
            s *= dims[i];
        }
        if (bshd) {
            strides = new long[] {dims[1] * dims[2] * dims[3], dims[3], dims[1] * dims[3], 1};
        }
        if (given != null) {
            strides = given;
        }
        CudnnApi.setAttribute(t, Attribute.TENSOR_DATA_TYPE, AttributeType.DATA_TYPE, 1, arena.allocateFrom(JAVA_INT, dataType.code()),
                "tensor type");
        CudnnApi.setAttribute(t, Attribute.TENSOR_DIMENSIONS, AttributeType.INT64, dims.length, arena.allocateFrom(JAVA_LONG, dims), "tensor dims");
        CudnnApi.setAttribute(t, Attribute.TENSOR_STRIDES, AttributeType.INT64, dims.length, arena.allocateFrom(JAVA_LONG, strides),
                "tensor strides");
        CudnnApi.setAttribute(t, Attribute.TENSOR_UNIQUE_ID, AttributeType.INT64, 1, arena.allocateFrom(JAVA_LONG, uid), "tensor uid");
        CudnnApi.setAttribute(t, Attribute.TENSOR_BYTE_ALIGNMENT, AttributeType.INT64, 1, arena.allocateFrom(JAVA_LONG, 16L), "tensor alignment");
        if (byValue) {
            MemorySegment yes = arena.allocate(JAVA_BOOLEAN);
            yes.set(JAVA_BOOLEAN, 0, true);
            CudnnApi.setAttribute(t, Attribute.TENSOR_IS_BY_VALUE, AttributeType.BOOLEAN, 1, yes, "tensor by value");
        }
        CudnnApi.finalizeDescriptor(t, "tensor " + uid);
        return t;
    }

    private MemorySegment keep(DescriptorType type) {
        MemorySegment d = CudnnApi.createDescriptor(type);
        descriptors.add(d);
        return d;
    }

    private void setDesc(MemorySegment d, Attribute attr, MemorySegment value) {
        CudnnApi.setAttribute(d, attr, AttributeType.BACKEND_DESCRIPTOR, 1, arena.allocateFrom(ADDRESS, value),
                "descriptor attribute " + attr.code());
    }

    /**
     * Hands this context to another stream ({@link CudnnContexts}): later runs go on {@code stream}. The variant packs
     * are dropped, since they name the previous owner's buffers; the finalized plans and their chosen engines stay.
     */
    void attach(MemorySegment stream) {
        dropAllPacks();
        CudnnApi.setStream(handle, stream);
        this.stream = stream;
    }

    /**
     * Leaves the owner's stream, which its backend is about to destroy, for the default stream, and drops the packs
     * that name its buffers: an idle context of {@link CudnnContexts} refers to nothing of a closed backend.
     */
    void detach() {
        attach(MemorySegment.NULL);
    }

    private void dropAllPacks() {
        for (Map<List<Integer>, Plan> m : List.of(plans, surveyPlans)) {
            m.values().forEach(CudnnAttention::dropPacks);
        }
    }

    /** The device this context's plans were finalized for. */
    String device() {
        return device;
    }

    @Override
    public void close() {
        dropAllPacks();
        for (int i = descriptors.size() - 1; i >= 0; i--) {
            CudnnApi.destroyDescriptor(descriptors.get(i));
        }
        descriptors.clear();
        plans.clear();
        surveyPlans.clear();
        CudnnApi.destroy(handle);
        arena.close();
    }
}
