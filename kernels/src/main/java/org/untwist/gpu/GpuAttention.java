package org.untwist.gpu;

import static org.untwist.gpu.KernelLauncher.BLOCK;
import static org.untwist.gpu.KernelLauncher.args;
import static org.untwist.gpu.KernelLauncher.ceil;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.untwist.ffm.CudaException;
import org.untwist.gpu.GpuBackend.Precision;
import org.untwist.gpu.cuda.CudaRuntime;
import org.untwist.gpu.cuda.CudaRuntime.MemcpyKind;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * Attention for {@link GpuBackend}: which implementation computes it, and the device buffers they share. BF16
 * activations: cuDNN's fused SDPA reading them where they are (shared attention in one pass over copied keys or in
 * two, the reference's keys read in place); shapes it does not take are widened to float32 copies for the float32
 * paths below and the output rounded back. Float32 activations in {@code bf16} precision: cuDNN's SDPA on bf16
 * copies of the operands (shared attention in one pass or, by default, two merged by their log-sum-exps), else
 * our bf16 tensor-core kernel (head dimension 128), else our float32 kernel, which is also the {@code f32}
 * precision path. A shape cuDNN has no engine for falls back to our kernels and is logged once.
 */
final class GpuAttention implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("org.untwist.gpu");
    // Attention through cuDNN: bf16 operands, partial outputs and statistics, workspace; grown on demand.
    private static final int S_Q = 0, S_K = 1, S_V = 2, S_O1 = 3, S_STATS1 = 4, S_QSCALED = 5, S_RK = 6, S_RV = 7, S_O2 = 8, S_STATS2 = 9,
            S_WORKSPACE = 10, S_SCALE = 11, S_LOGITS = 12;
    /** The tiled kernels hold a query row and key tiles of up to this head dimension; wider heads take {@link #wideHead}. */
    private static final int MAX_TILED_HEAD_DIM = 256;
    /** Bytes of logits the wide-head path writes per block of queries (lowered by a test to cut small shapes into blocks). */
    static long wideLogitBytes = 256L << 20;

    private final Precision precision;
    private final boolean useCudnn;
    private final KernelLauncher launcher;
    private final MemorySegment stream;
    private final String device;
    private final GpuMemory[] slots = new GpuMemory[13];
    private final CublasGemm gemm;
    private CudnnAttention cudnn;
    private final Set<List<Integer>> cudnnFailed = new HashSet<>();
    private String lastAttentionPath = "none";
    private String lastCudnnChoice = "";
    private Runnable lastCudnnRun;
    private int sharedPasses;

    /**
     * @param sharedPasses 1 or 2, or 0 for the default; see {@link GpuBackend#SHARED_PASSES_PROPERTY}
     * @param device the device's label, for out-of-memory messages
     * @param gemm   the backend's cuBLAS GEMMs (the wide-head path's products)
     */
    GpuAttention(Precision precision, boolean useCudnn, int sharedPasses, KernelLauncher launcher, MemorySegment stream, String device,
                 CublasGemm gemm) {
        this.gemm = gemm;
        this.precision = precision;
        this.useCudnn = useCudnn;
        this.sharedPasses = sharedPasses;
        this.launcher = launcher;
        this.stream = stream;
        this.device = device;
    }

    /** {@link GpuBackend}'s attention and shared attention: the arguments {@code AbstractBackend} has checked. */
    void attention(Tensor q, Tensor k, Tensor v, Tensor refK, Tensor refV, Tensor refKeyScale, Tensor out, int batch, int heads, int lq, int lk,
                   int lr, int headDim, int refBatch, int refStart, int refTokens) {
        if ((long) batch * heads * lq == 0) {
            return;
        }
        if (q.dtype() == DType.BF16 && !cudnnTakesBf16(q, k, v, refK, refV, out, headDim, (long) batch * heads * (lk + lr) * headDim / 8, lk)) {
            widened(q, k, v, refK, refV, refKeyScale, out, batch, heads, lq, lk, lr, headDim, refBatch, refStart, refTokens);
            return;
        }
        if (headDim > MAX_TILED_HEAD_DIM) {
            if (lr > 0) {
                throw new UnsupportedOperationException("gpu shared attention supports head dimensions up to " + MAX_TILED_HEAD_DIM + ", got "
                        + headDim);
            }
            wideHead(q, k, v, out, batch, heads, lq, lk, headDim);
            return;
        }
        boolean cudnnRefusedBf16 = false;
        try (Staging st = new Staging(device, stream)) {
            long pq = st.in(q), pk = st.in(k), pv = st.in(v), po = st.out(out);
            long prk = lr > 0 ? st.in(refK) : 0, prv = lr > 0 ? st.in(refV) : 0;
            long ps = lr > 0 && refKeyScale != null ? chunkScaleOnDevice(st, refKeyScale) : 0;
            if (q.dtype() == DType.BF16) { // AbstractBackend admits BF16 activations only in bf16 precision
                cudnnRefusedBf16 = !cudnnBf16(pq, pk, pv, prk, prv, ps, po, batch, heads, lq, lk, lr, headDim, refBatch, refStart, refTokens);
            } else if (precision == Precision.BF16
                    && cudnnAttention(pq, pk, pv, prk, prv, ps, po, batch, heads, lq, lk, lr, headDim, refBatch, refStart, refTokens)) {
                lastAttentionPath = "cudnn";
            } else if (precision == Precision.BF16 && headDim == 128) {
                lastAttentionPath = "own bf16 kernel";
                launcher.launch("attention_bf16_d128", ceil(lq, 64), heads, batch, 128, 0, args().ptr(pq).ptr(pk).ptr(pv).ptr(prk).ptr(prv).ptr(ps)
                        .ptr(po).i32(heads).i32(lq).i32(lk).i32(lr).i32(refBatch).i32(refStart).i32(refTokens));
            } else {
                lastAttentionPath = "own f32 kernel";
                launcher.launch("attention_f32", ceil(lq, 4), heads, batch, 128, 0, args().ptr(pq).ptr(pk).ptr(pv).ptr(prk).ptr(prv).ptr(ps)
                        .ptr(po).i32(heads).i32(lq).i32(lk).i32(lr).i32(headDim).i32(refBatch).i32(refStart).i32(refTokens).f32(0f).ptr(0).i32(0));
            }
        }
        if (cudnnRefusedBf16) { // no cuDNN engine for the shape after all
            widened(q, k, v, refK, refV, refKeyScale, out, batch, heads, lq, lk, lr, headDim, refBatch, refStart, refTokens);
        }
    }

    /**
     * {@link GpuBackend}'s attention with the text encoders' terms (checked by {@code AbstractBackend}): our
     * float32 kernel in either precision, with the scale, T5's relative position bias and CLIP's causal mask
     * applied to each logit inside the kernel's online softmax (no score tensor), the causal blocks stopping
     * at their last visible key.
     */
    void masked(Tensor q, Tensor k, Tensor v, float scale, Tensor positionBias, boolean causal, Tensor out, int batch, int heads, int lq,
                int lk, int headDim) {
        if ((long) batch * heads * lq == 0) {
            return;
        }
        if (headDim > MAX_TILED_HEAD_DIM) {
            if (positionBias != null || causal) {
                throw new UnsupportedOperationException("gpu attention with a position bias or a causal mask supports head dimensions up to "
                        + MAX_TILED_HEAD_DIM + ", got " + headDim);
            }
            if (scale != (float) (1 / Math.sqrt(headDim))) {
                throw new UnsupportedOperationException("gpu attention with head dimension " + headDim + " (above " + MAX_TILED_HEAD_DIM
                        + ") takes only the scale 1/sqrt(" + headDim + "), got " + scale);
            }
            wideHead(q, k, v, out, batch, heads, lq, lk, headDim);
            return;
        }
        try (Staging st = new Staging(device, stream)) {
            long pb = positionBias == null ? 0 : st.in(positionBias);
            lastAttentionPath = "own f32 kernel" + (positionBias != null ? ", position bias" : "") + (causal ? ", causal" : "");
            launcher.launch("attention_f32", ceil(lq, 4), heads, batch, 128, 0, args().ptr(st.in(q)).ptr(st.in(k)).ptr(st.in(v)).ptr(0).ptr(0)
                    .ptr(0).ptr(st.out(out)).i32(heads).i32(lq).i32(lk).i32(0).i32(headDim).i32(1).i32(0).i32(0).f32(scale).ptr(pb)
                    .i32(causal ? 1 : 0));
        }
    }

    /**
     * Attention over heads wider than the tiled kernels hold (the autoencoder's single 512-channel head), float32 in
     * either precision: per (batch, head) and block of queries, cuBLAS writes the logits {@code Q·Kᵀ} (at most
     * {@link #wideLogitBytes} of them), {@code softmax_rows_f32} turns each row into {@code softmax(Q·Kᵀ/√d)} in place,
     * and cuBLAS writes {@code P·V} into the block's rows of out ({@code [B, Lq, H·d]}: rows H·d floats apart).
     */
    private void wideHead(Tensor q, Tensor k, Tensor v, Tensor out, int batch, int heads, int lq, int lk, int d) {
        if (lk == 0 || q.dtype() != DType.F32) {
            throw new UnsupportedOperationException("gpu attention with head dimension " + d + " (above " + MAX_TILED_HEAD_DIM
                    + ") needs float32 activations and at least one key, got " + q.dtype() + " and " + lk + " keys");
        }
        lastAttentionPath = "cuBLAS logits + row softmax (head dimension " + d + ")";
        int block = (int) Math.max(1, Math.min(lq, wideLogitBytes / 4 / lk));
        float scale = (float) (1 / Math.sqrt(d));
        try (Staging st = new Staging(device, stream)) {
            long pq = st.in(q), pk = st.in(k), pv = st.in(v), po = st.out(out);
            long logits = slot(S_LOGITS, (long) block * lk * 4);
            for (int b = 0; b < batch; b++) {
                for (int h = 0; h < heads; h++) {
                    long qh = pq + ((long) b * heads + h) * lq * d * 4, kh = pk + ((long) b * heads + h) * lk * d * 4;
                    long vh = pv + ((long) b * heads + h) * lk * d * 4;
                    for (int q0 = 0; q0 < lq; q0 += block) {
                        int n = Math.min(block, lq - q0);
                        // Column-major logits [lk, n] (row-major [n, lk]) = Kᵀ (K stored [lk, d]: column-major d×lk) · Q block.
                        gemm.sgemm(true, false, lk, n, d, kh, d, qh + (long) q0 * d * 4, d, logits, lk);
                        launcher.launch("softmax_rows_f32", n, 1, 1, 256, 0, args().ptr(logits).i32(lk).f32(scale));
                        // Column-major out block [d, n] with columns H·d apart = V (column-major d×lk) · P (column-major lk×n).
                        gemm.sgemm(false, false, d, n, lk, vh, d, logits, lk, po + (((long) b * lq + q0) * heads + h) * d * 4, heads * d);
                    }
                }
            }
        }
    }

    /**
     * The device address of the reference keys' chunk scale. A host scale (what FluxModel passes: the backends
     * validate its values) is copied into a buffer kept by this backend, ordered on the stream, instead of a
     * staging allocation per call: a cudaMalloc and a cudaFree (which waits for the whole device) per attention
     * call for a few hundred bytes.
     */
    private long chunkScaleOnDevice(Staging st, Tensor scale) {
        if (scale.isDevice()) {
            return st.in(scale);
        }
        long p = slot(S_SCALE, scale.byteSize());
        CudaRuntime.memcpyAsync(MemorySegment.ofAddress(p), scale.segment(), scale.byteSize(), MemcpyKind.HOST_TO_DEVICE, stream,
                "chunk scale, host to device");
        return p;
    }

    /**
     * Attention through cuDNN's fused SDPA (bf16 operands, float32 statistics): one pass over the own keys, one
     * over the reference keys with the queries scaled per chunk, merged exactly by their log-sum-exps. Returns
     * false, and the caller uses our kernel, where cuDNN is off, missing, or has no engine for the shape (each
     * such shape is logged once).
     */
    private boolean cudnnAttention(long pq, long pk, long pv, long prk, long prv, long ps, long po, int b, int h, int lq, int lk, int lr, int d,
                                   int refBatch, int refStart, int refTokens) {
        long qPairs = (long) b * h * lq * d / 2, kPairs = (long) b * h * lk * d / 2, rPairs = (long) refBatch * h * lr * d / 2;
        if (!useCudnn || d % 8 != 0 || d > 128 || lk == 0 || Math.max(qPairs, Math.max(kPairs, rPairs)) >= Integer.MAX_VALUE
                || ((pq | pk | pv | prk | prv | po) & 15) != 0) {
            return false; // the operand kernels index pairs with 32 bits and read 16 bytes at a time
        }
        List<Integer> shape = List.of(b, h, lq, lk, lr, d, refBatch);
        if (cudnnFailed.contains(shape)) {
            return false;
        }
        try {
            if (cudnn == null) {
                cudnn = CudnnContexts.take(device, stream);
            }
            float scale = (float) (1 / Math.sqrt(d));
            if (lr == 0 || passes() == 1) {
                return cudnnOnePass(pq, pk, pv, prk, prv, ps, po, b, h, lq, lk, lr, d, refBatch, refStart, refTokens, scale);
            }
            CudnnAttention.Plan own = cudnn.plan(b, h, lq, lk, d, lr > 0); // statistics only when two parts are merged
            CudnnAttention.Plan ref = lr == 0 ? null : cudnn.plan(refBatch == b ? b : 1, h, lq, lr, d, true);
            long ws = slot(S_WORKSPACE, Math.max(own.workspace(), ref == null ? 0 : ref.workspace()));
            long qRows = (long) b * h * lq, kRows = (long) b * h * lk;
            long qb = slot(S_Q, qRows * d * 2), kb = slot(S_K, kRows * d * 2), vb = slot(S_V, kRows * d * 2);
            long o1 = slot(S_O1, qRows * d * 2), s1 = slot(S_STATS1, qRows * 4);
            launcher.launch("to_bf16_rows", ceil(qPairs, BLOCK), 1, 1, BLOCK, 0, args().ptr(pq).ptr(0).ptr(qb).i32(d).i32((int) qPairs));
            launcher.launch("to_bf16_rows", ceil(kPairs, BLOCK), 1, 1, BLOCK, 0, args().ptr(pk).ptr(0).ptr(kb).i32(d).i32((int) kPairs));
            launcher.launch("to_bf16_rows", ceil(kPairs, BLOCK), 1, 1, BLOCK, 0, args().ptr(pv).ptr(0).ptr(vb).i32(d).i32((int) kPairs));
            cudnn.run(own, qb, kb, vb, o1, s1, scale, ws);
            lastCudnnRun = null;
            long o2 = 0, s2 = 0;
            if (lr > 0) {
                long qs = ps == 0 ? qb : slot(S_QSCALED, qRows * d * 2);
                if (ps != 0) {
                    launcher.launch("to_bf16_rows", ceil(qPairs, BLOCK), 1, 1, BLOCK, 0, args().ptr(pq).ptr(ps).ptr(qs).i32(d).i32((int) qPairs));
                }
                long rRows = (long) refBatch * h * lr;
                long rkb = slot(S_RK, rRows * d * 2), rvb = slot(S_RV, rRows * d * 2);
                launcher.launch("gather_bf16_rows", ceil(rPairs, BLOCK), 1, 1, BLOCK, 0, args().ptr(prk).ptr(rkb).i32(lr).i32(refTokens).i32(refStart)
                        .i32(d).i32((int) rPairs));
                launcher.launch("gather_bf16_rows", ceil(rPairs, BLOCK), 1, 1, BLOCK, 0, args().ptr(prv).ptr(rvb).i32(lr).i32(refTokens).i32(refStart)
                        .i32(d).i32((int) rPairs));
                o2 = slot(S_O2, qRows * d * 2);
                s2 = slot(S_STATS2, qRows * 4);
                if (refBatch == b) {
                    cudnn.run(ref, qs, rkb, rvb, o2, s2, scale, ws);
                } else { // one reference for every batch element: one call per element (no stride-0 batch in cuDNN)
                    // an element's statistics start bi·h·lq floats in: only 4-byte aligned where h·lq % 4 != 0, though the
                    // plan declares 16; measured right on an H200 (GpuBackendTest, h·lq = 231)
                    long perQ = (long) h * lq;
                    for (int bi = 0; bi < b; bi++) {
                        cudnn.run(ref, qs + bi * perQ * d * 2, rkb, rvb, o2 + bi * perQ * d * 2, s2 + bi * perQ * 4, scale, ws);
                    }
                }
            }
            lastCudnnChoice = own.choice + (ref == null ? "" : "; reference pass: " + ref.choice);
            launcher.launch("merge_attention", ceil(qPairs, BLOCK), 1, 1, BLOCK, 0, args().ptr(o1).ptr(s1).ptr(o2).ptr(s2).ptr(po).i32(h).i32(lq)
                    .i32(d).i32((int) qPairs));
            return true;
        } catch (IllegalStateException | CudaException e) {
            cudnnFailed.add(shape);
            LOG.log(System.Logger.Level.WARNING, "cuDNN attention unavailable for " + shape + " [b, h, lq, lk, lr, d, refBatch], using our kernel: "
                    + e.getMessage());
            return false;
        }
    }

    /**
     * One cuDNN SDPA over the own keys followed by the reference keys: one kernel rounds q, and writes the bf16
     * keys [own; reference · s_p] and values [own; reference] (the band scale applied pair by pair while the
     * reference keys are rounded, see {@code attention_operands_bf16}), then one SDPA without statistics, then
     * the bf16 output is widened into out [b, lq, h·d].
     */
    private boolean cudnnOnePass(long pq, long pk, long pv, long prk, long prv, long ps, long po, int b, int h, int lq, int lk, int lr, int d,
                                 int refBatch, int refStart, int refTokens, float scale) {
        int lkv = lk + lr;
        long qPairs = (long) b * h * lq * d / 2, kvPairs = (long) b * h * lkv * d / 2;
        if (kvPairs >= Integer.MAX_VALUE) {
            throw new IllegalStateException("attention operands of " + kvPairs + " bf16 pairs exceed 32-bit indexing");
        }
        CudnnAttention.Plan plan = cudnn.plan(b, h, lq, lkv, d, false, false, true); // o [b, lq, h, d], the layout of out
        long ws = slot(S_WORKSPACE, plan.workspace());
        long qb = slot(S_Q, qPairs * 4), kb = slot(S_K, kvPairs * 4), vb = slot(S_V, kvPairs * 4), o1 = slot(S_O1, qPairs * 4);
        launcher.launch("attention_operands_bf16", ceil(Math.max(qPairs, kvPairs) / 4, BLOCK), 3, 1, BLOCK, 0, args().ptr(pq).ptr(pk).ptr(pv).ptr(prk)
                .ptr(prv).ptr(lr > 0 ? ps : 0).ptr(qb).ptr(kb).ptr(vb).i32(h).i32(lk).i32(lr).i32(refBatch).i32(refStart).i32(refTokens).i32(d)
                .i32((int) (qPairs / 4)).i32((int) (kvPairs / 4)));
        cudnn.run(plan, qb, kb, vb, o1, 0, scale, ws);
        lastCudnnRun = () -> cudnn.run(plan, qb, kb, vb, o1, 0, scale, ws);
        lastCudnnChoice = plan.choice + " (one pass over " + lk + " + " + lr + " keys)";
        launcher.launch("widen_bf16", ceil(qPairs / 4, BLOCK), 1, 1, BLOCK, 0, args().ptr(o1).ptr(po).i32((int) (qPairs / 4)));
        return true;
    }

    /**
     * Whether cuDNN takes these BF16 activations where they are: cuDNN on, head dimension a multiple of 8 and at most 128,
     * some own keys, 16-byte aligned device tensors (host tensors are staged into fresh, aligned copies).
     */
    private boolean cudnnTakesBf16(Tensor q, Tensor k, Tensor v, Tensor refK, Tensor refV, Tensor out, int d, long kvQuads, int lk) {
        long misaligned = 0;
        for (Tensor t : new Tensor[] {q, k, v, refK, refV, out}) {
            misaligned |= t != null && t.isDevice() ? GpuMemory.addressOf(t) : 0;
        }
        return useCudnn && d % 8 == 0 && d <= 128 && lk > 0 && kvQuads < Integer.MAX_VALUE && (misaligned & 15) == 0;
    }

    /**
     * BF16 attention that cuDNN does not take: the operands widened to float32 device copies (exact), the float32 paths
     * (our kernels, or cuDNN on float32 operands), the output rounded to bf16 once.
     */
    private void widened(Tensor q, Tensor k, Tensor v, Tensor refK, Tensor refV, Tensor refKeyScale, Tensor out, int batch, int heads, int lq,
                         int lk, int lr, int headDim, int refBatch, int refStart, int refTokens) {
        List<Tensor> copies = new ArrayList<>();
        try (Staging st = new Staging(device, stream)) {
            Tensor qf = widen(st, q, copies), kf = widen(st, k, copies), vf = widen(st, v, copies);
            Tensor rkf = lr > 0 ? widen(st, refK, copies) : null, rvf = lr > 0 ? widen(st, refV, copies) : null;
            Tensor of = f32Copy(out, copies);
            attention(qf, kf, vf, rkf, rvf, refKeyScale, of, batch, heads, lq, lk, lr, headDim, refBatch, refStart, refTokens);
            long n = out.numel();
            launcher.launch("f32_to_bf16", launcher.grid(n), 1, 1, BLOCK, 0, args().ptr(GpuMemory.addressOf(of)).ptr(st.out(out)).i64(n));
            lastAttentionPath += " (BF16 activations widened to float32)";
        } finally {
            for (Tensor t : copies) {
                t.close();
            }
        }
    }

    /** A float32 device copy of a BF16 tensor (host or device), added to {@code copies}. */
    private Tensor widen(Staging st, Tensor t, List<Tensor> copies) {
        Tensor f = f32Copy(t, copies);
        long n = t.numel();
        if (n > 0) {
            launcher.launch("bf16_to_f32", launcher.grid(n), 1, 1, BLOCK, 0, args().ptr(st.in(t)).ptr(GpuMemory.addressOf(f)).i64(n));
        }
        return f;
    }

    /** An uninitialized float32 device tensor of {@code t}'s shape, added to {@code copies}. */
    private Tensor f32Copy(Tensor t, List<Tensor> copies) {
        GpuMemory m = GpuMemory.allocate(Math.max(4, t.numel() * 4), device, "float32 copy of a BF16 attention operand " + t);
        Tensor f = Tensor.onDevice(m, DType.F32, true, t.shape());
        copies.add(f);
        return f;
    }

    /**
     * Attention on bf16 activations (q, k, v, refK, refV, out all BF16): cuDNN reads q (and, without a reference,
     * k and v) where they are and writes out [b, lq, h·d] directly. With a reference, in two passes where set
     * ({@link #cudnnBf16TwoPass}), else one kernel writes the bf16 keys [own; reference · s_p] and values
     * [own; reference] (see {@code attention_kv_from_bf16}) for one SDPA.
     */
    private boolean cudnnBf16(long pq, long pk, long pv, long prk, long prv, long ps, long po, int b, int h, int lq, int lk, int lr, int d,
                              int refBatch, int refStart, int refTokens) {
        long kvQuads = (long) b * h * (lk + lr) * d / 8;
        List<Integer> shape = List.of(b, h, lq, lk + lr, d, -1); // -1: the bf16-activation plan
        if (cudnnFailed.contains(shape)) {
            return false;
        }
        CudnnAttention.Plan plan;
        try {
            if (cudnn == null) {
                cudnn = CudnnContexts.take(device, stream);
            }
            if (lr > 0 && passes() == 2 && cudnnBf16TwoPass(pq, pk, pv, prk, prv, ps, po, b, h, lq, lk, lr, d, refBatch, refStart, refTokens)) {
                return true;
            }
            plan = cudnn.plan(b, h, lq, lk + lr, d, false, false, true);
        } catch (IllegalStateException | CudaException e) {
            cudnnFailed.add(shape);
            LOG.log(System.Logger.Level.WARNING, "cuDNN attention on bf16 activations unavailable for " + shape
                    + " [b, h, lq, keys, d], widening to float32 for our kernel: " + e.getMessage());
            return false;
        }
        float scale = (float) (1 / Math.sqrt(d));
        long ws = slot(S_WORKSPACE, plan.workspace());
        long kb = pk, vb = pv;
        if (lr > 0 && (long) b * h > 65535) {
            return false; // attention_kv_from_bf16 takes one (batch, head) row per blockIdx.y: widened for our kernels instead
        }
        if (lr > 0) {
            kb = slot(S_K, kvQuads * 16);
            vb = slot(S_V, kvQuads * 16);
            // One (batch, head) row per blockIdx.y, keys and values in blockIdx.z, KV_ITEMS (4) quads per thread.
            launcher.launch("attention_kv_from_bf16", ceil((long) (lk + lr) * d / 8, BLOCK * 4L), b * h, 2, BLOCK, 0, args().ptr(pk).ptr(pv).ptr(prk)
                    .ptr(prv).ptr(ps).ptr(kb).ptr(vb).i32(h).i32(lk).i32(lr).i32(refBatch).i32(refStart).i32(refTokens).i32(d));
        }
        long k2 = kb, v2 = vb;
        cudnn.run(plan, pq, k2, v2, po, 0, scale, ws);
        lastCudnnRun = () -> cudnn.run(plan, pq, k2, v2, po, 0, scale, ws);
        lastCudnnChoice = plan.choice + " (bf16 activations, one pass over " + lk + " + " + lr + " keys)";
        lastAttentionPath = "cudnn";
        return true;
    }

    /**
     * Shared attention on bf16 activations in two cuDNN passes, no key or value copied: the own pass reads q, k, v
     * where they are and writes out [b, lq, h·d] with its statistics; the reference pass reads the queries scaled per
     * chunk (one bf16 copy of q, {@code scale_chunks_bf16}) and the reference's tokens [refStart, refStart + lr) of
     * rk, rv where they are (strides over their refTokens rows); {@code merge_attention_bf16} merges the two in place
     * by their log-sum-exps. Returns false, and the one-pass path takes over, where cuDNN has no engine for either
     * pass (logged once per shape).
     */
    private boolean cudnnBf16TwoPass(long pq, long pk, long pv, long prk, long prv, long ps, long po, int b, int h, int lq, int lk, int lr,
                                     int d, int refBatch, int refStart, int refTokens) {
        long quads = (long) b * h * lq * d / 8;
        int rb = refBatch == b ? b : 1; // one reference for every batch element: one reference pass per element
        List<Integer> shape = List.of(b, h, lq, lk, lr, d, refBatch, refTokens, -2); // -2: two passes on bf16 activations
        if (quads > 0xffffffffL || cudnnFailed.contains(shape)) {
            return false; // the kernels index quads with 32 bits
        }
        try {
            CudnnAttention.Plan own = cudnn.plan(b, h, lq, lk, d, true, false, true);
            CudnnAttention.Plan ref = cudnn.plan(rb, h, lq, lr, d, true, false, true, refTokens);
            float scale = (float) (1 / Math.sqrt(d));
            long ws = slot(S_WORKSPACE, Math.max(own.workspace(), ref.workspace()));
            long s1 = slot(S_STATS1, (long) b * h * lq * 4), s2 = slot(S_STATS2, (long) b * h * lq * 4), o2 = slot(S_O2, quads * 16);
            long qs = pq;
            if (ps != 0) {
                qs = slot(S_QSCALED, quads * 16);
                launcher.launch("scale_chunks_bf16", ceil(quads, BLOCK), 1, 1, BLOCK, 0, args().ptr(pq).ptr(ps).ptr(qs).i32(d).i32((int) quads));
            }
            long rk0 = prk + (long) refStart * d * 2, rv0 = prv + (long) refStart * d * 2, qsb = qs;
            // queries (and statistics) per batch element; the bf16 rows are d wide. With one reference for the batch an
            // element's statistics may start only 4-byte aligned, as in cudnnAttention (GpuBf16ActivationsTest has such a case)
            long perQ = (long) h * lq;
            java.util.function.LongConsumer sdpaCalls = ownOut -> {
                cudnn.run(own, pq, pk, pv, ownOut, s1, scale, ws);
                for (int bi = 0; bi < b; bi += rb) {
                    cudnn.run(ref, qsb + bi * perQ * d * 2, rk0, rv0, o2 + bi * perQ * d * 2, s2 + bi * perQ * 4, scale, ws);
                }
            };
            sdpaCalls.accept(po);
            launcher.launch("merge_attention_bf16", ceil(quads, BLOCK), 1, 1, BLOCK, 0, args().ptr(po).ptr(s1).ptr(o2).ptr(s2).i32(h).i32(lq).i32(d)
                    .i32((int) quads));
            long replayOut = slot(S_O1, quads * 16); // a replay leaves the merged output alone
            lastCudnnRun = () -> sdpaCalls.accept(replayOut);
            lastCudnnChoice = own.choice + "; reference pass (keys read in place): " + ref.choice;
            lastAttentionPath = "cudnn, two passes";
            return true;
        } catch (IllegalStateException | CudaException e) {
            cudnnFailed.add(shape);
            LOG.log(System.Logger.Level.WARNING, "cuDNN two-pass attention on bf16 activations unavailable for " + shape
                    + " [b, h, lq, lk, lr, d, refBatch, refTokens], using one pass over copied keys: " + e.getMessage());
            return false;
        }
    }

    /**
     * Runs again only the cuDNN SDPA call(s) of the last bf16 attention, on the bf16 operands it left on the
     * device: the attention kernel alone with bf16 in and out, as a bf16 model would call it (for the benchmark).
     */
    void rerunLastCudnn() {
        if (lastCudnnRun == null) {
            throw new IllegalStateException("no cuDNN attention has run on this backend");
        }
        lastCudnnRun.run();
    }

    /**
     * For the benchmark's survey: the bf16 operands of the last one-pass cuDNN attention (q [b, h, lq, d], keys and
     * values of {@code skv} rows) timed through every engine configuration of heuristics modes A and B, with and
     * without statistics, in [b, h, s, d] and [b, s, h, d] layouts (the same buffers read through other strides:
     * the timing, not the values, is what counts here).
     */
    List<String> cudnnSurvey(int b, int h, int lq, int skv, int d, int warm, int runs) {
        if (cudnn == null) {
            throw new IllegalStateException("the cuDNN survey needs a bf16 attention call through cuDNN first (its operands)");
        }
        List<String> out = new ArrayList<>();
        float scale = (float) (1 / Math.sqrt(d));
        long qPairs = (long) b * h * lq * d / 2, kvPairs = (long) b * h * skv * d / 2;
        for (boolean bshd : new boolean[] {false, true}) {
            for (boolean stats : new boolean[] {false, true}) {
                String what = "lq " + lq + " lkv " + skv + (bshd ? " bshd" : " bhsd") + (stats ? " stats" : " no-stats");
                try {
                    CudnnAttention.Plan p = cudnn.surveyPlan(b, h, lq, skv, d, stats, bshd);
                    long ws = slot(S_WORKSPACE, p.workspace());
                    long qb = slot(S_Q, qPairs * 4), kb = slot(S_K, kvPairs * 4), vb = slot(S_V, kvPairs * 4), o1 = slot(S_O1, qPairs * 4);
                    long st = slot(S_STATS1, (long) b * h * lq * 4);
                    for (String line : cudnn.timeCandidates(p, qb, kb, vb, o1, st, scale, ws, warm, runs)) {
                        out.add(what + " | " + line);
                    }
                } catch (RuntimeException e) {
                    out.add(what + " | failed: " + e);
                }
            }
        }
        return out;
    }

    /** The property's pass count, 0 where it is not set (the default, {@link #passes}). */
    static int sharedPassesFromProperty() {
        String p = System.getProperty(GpuBackend.SHARED_PASSES_PROPERTY, "").trim();
        return switch (p) {
            case "" -> 0;
            case "1" -> 1;
            case "2" -> 2;
            default -> throw new IllegalArgumentException("-D" + GpuBackend.SHARED_PASSES_PROPERTY + "=" + p + ": expected 1 or 2");
        };
    }

    /**
     * 1: shared attention through cuDNN as one SDPA over own + scaled reference keys; 2: two SDPAs merged; 0: the
     * default ({@link #passes}).
     */
    void sharedPasses(int passes) {
        if (passes < 0 || passes > 2) {
            throw new IllegalArgumentException("shared attention passes: 1 or 2 (0: the defaults), got " + passes);
        }
        this.sharedPasses = passes;
    }

    /** Shared attention's cuDNN passes: as set, else two, measured faster for float32 and bf16 activations (kernels/RESULTS.md). */
    private int passes() {
        return sharedPasses != 0 ? sharedPasses : 2;
    }

    /** Which attention implementation the last attention call used. */
    String lastAttentionPath() {
        return lastAttentionPath;
    }

    /** The cuDNN engine configurations the last cuDNN attention call used, with the first-use timings. */
    String lastCudnnChoice() {
        return lastCudnnChoice;
    }

    private long slot(int i, long bytes) {
        if (!GpuMemory.holds(slots[i], bytes)) {
            lastCudnnRun = null; // its operands may be in the buffer freed here
            slots[i] = GpuMemory.atLeast(slots[i], bytes, 256, device, "attention scratch " + i);
        }
        return slots[i].address();
    }

    /** Frees the scratch buffers, then cuDNN's handle and plans. */
    @Override
    public void close() {
        for (GpuMemory m : slots) {
            if (m != null) {
                m.close();
            }
        }
        if (cudnn != null) {
            CudnnContexts.giveBack(cudnn); // its finalized plans serve the next backend on this device
            cudnn = null;
        }
    }
}
