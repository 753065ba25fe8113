package org.untwist.gpu;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.untwist.backend.AbstractBackend;
import org.untwist.backend.RopeFrequencies;
import org.untwist.backend.TimestepFrequencies;
import org.untwist.ffm.CudaCheck;
import org.untwist.ffm.CudaException;
import org.untwist.ffm.gen.cublas.Cublas;
import org.untwist.ffm.gen.cuda.CudaDriver;
import org.untwist.ffm.gen.cudart.Cudart;
import org.untwist.tensor.DType;
import org.untwist.tensor.DeviceStorage;
import org.untwist.tensor.Tensor;

/**
 * The GPU backend: our CUDA C kernels (NVRTC, {@link KernelModule}) launched through the driver API, GEMMs
 * through cuBLAS, on one stream per backend with one cuBLAS handle per backend.
 *
 * <p>Memory: {@link #allocate} returns device tensors ({@link GpuMemory}); {@link #copy} moves data between
 * host and device. Every operation also accepts host tensors: they are staged through temporary device
 * buffers (uploaded before, outputs downloaded after), which is what lets the CPU conformance suite run
 * unchanged against this backend. Fast code keeps its tensors on the device (FluxModel does).
 *
 * <p>Precision ({@code -Duntwist.gpu.precision}): {@code f32} (default) computes in float32 everywhere, with
 * float32 GEMMs on the CUDA cores unless {@code -Duntwist.gpu.tf32=true}; {@code bf16} runs attention with
 * head dim 128 on bf16 tensor cores (float32 accumulation), as PyTorch's bf16 SDPA does, through cuDNN's fused
 * SDPA, and its attention also takes BF16 activations ({@link #supportsBf16Attention}). GEMMs with BF16 or
 * F16 weights round the activations to the weights' type in {@code bf16} precision (tensor cores, float32
 * accumulation and output: what a bf16 reference computes); in {@code f32} precision the weights are widened
 * block by block and multiplied in float32.
 *
 * <p>Unlike the CPU backends a GPU backend is not thread-safe: one thread drives it (its stream, cuBLAS handle
 * and scratch buffers are shared by all operations). Attention supports head dimensions up to 256.
 */
public final class GpuBackend extends AbstractBackend {
    public static final String PRECISION_PROPERTY = "untwist.gpu.precision";
    public static final String TF32_PROPERTY = "untwist.gpu.tf32";
    public static final String CUDNN_PROPERTY = "untwist.gpu.cudnn";
    /**
     * Shared attention through cuDNN on float32 activations: 2 (default) two SDPAs (own keys; reference keys with
     * the queries scaled per chunk) merged by their log-sum-exps, 1 one SDPA over own + band-scaled reference keys.
     * Two passes measured faster on an H200 (kernels/RESULTS.md: 1.099 vs 1.198 ms). BF16 activations always take
     * one pass.
     */
    public static final String SHARED_PASSES_PROPERTY = "untwist.gpu.sharedPasses";
    private static final System.Logger LOG = System.getLogger("org.untwist.gpu");

    /** How attention and float32 GEMMs compute. */
    public enum Precision { F32, BF16 }

    private static final int BLOCK = 256;
    /** Size of the float32 block that 16-bit weights are widened into in f32 precision. */
    private static final long WIDEN_CHUNK_BYTES = 64L << 20;

    private final GpuDevice dev;
    private final Precision precision;
    private final boolean tf32;
    private final Arena arena = Arena.ofShared(); // handles and GEMM scalars, freed on close
    private final MemorySegment stream;
    private final MemorySegment cublas;
    private final MemorySegment one, zero;
    private GpuMemory scratch; // activations rounded to 16 bits for tensor-core GEMMs, grown on demand
    // Attention through cuDNN: bf16 operands, partial outputs and statistics, workspace; grown on demand.
    private static final int S_Q = 0, S_K = 1, S_V = 2, S_O1 = 3, S_STATS1 = 4, S_QSCALED = 5, S_RK = 6, S_RV = 7, S_O2 = 8, S_STATS2 = 9,
            S_WORKSPACE = 10, S_SCALE = 11;
    private final GpuMemory[] slots = new GpuMemory[12];
    private final boolean useCudnn;
    private CudnnAttention cudnn;
    private final java.util.Set<List<Integer>> cudnnFailed = new java.util.HashSet<>();
    private String lastAttentionPath = "none";
    private String lastCudnnChoice = "";
    private Runnable lastCudnnRun;
    private int sharedPasses = sharedPassesFromProperty();
    private boolean closed;

    /** A backend with the settings of {@code -Duntwist.gpu.precision}, {@code -Duntwist.gpu.tf32}, {@code -Duntwist.gpu.cudnn}. */
    public GpuBackend() {
        this(precisionFromProperty(), Boolean.getBoolean(TF32_PROPERTY), !"false".equalsIgnoreCase(System.getProperty(CUDNN_PROPERTY)));
    }

    public GpuBackend(Precision precision, boolean tf32) {
        this(precision, tf32, true);
    }

    /** @param useCudnn bf16 attention through cuDNN's fused SDPA where it has an engine (else our kernel) */
    public GpuBackend(Precision precision, boolean tf32, boolean useCudnn) {
        this.precision = precision;
        this.tf32 = tf32;
        this.useCudnn = useCudnn;
        this.dev = GpuDevice.get();
        MemorySegment s = MemorySegment.NULL, h = MemorySegment.NULL;
        try {
            MemorySegment p = arena.allocate(ADDRESS);
            CudaCheck.cudart(Cudart.cudaStreamCreateWithFlags(p, Cudart.cudaStreamNonBlocking()), "cudaStreamCreateWithFlags");
            s = p.get(ADDRESS, 0);
            CudaCheck.cublas(Cublas.cublasCreate_v2(p), "cublasCreate_v2");
            h = p.get(ADDRESS, 0);
            CudaCheck.cublas(Cublas.cublasSetStream_v2(h, s), "cublasSetStream_v2");
            CudaCheck.cublas(Cublas.cublasSetMathMode(h, tf32 ? Cublas.CUBLAS_TF32_TENSOR_OP_MATH() : Cublas.CUBLAS_DEFAULT_MATH()),
                    "cublasSetMathMode");
        } catch (RuntimeException e) {
            if (h.address() != 0) {
                Cublas.cublasDestroy_v2(h);
            }
            if (s.address() != 0) {
                Cudart.cudaStreamDestroy(s);
            }
            arena.close();
            throw e;
        }
        this.stream = s;
        this.cublas = h;
        this.one = arena.allocateFrom(JAVA_FLOAT, 1f);
        this.zero = arena.allocateFrom(JAVA_FLOAT, 0f);
    }

    static Precision precisionFromProperty() {
        String p = System.getProperty(PRECISION_PROPERTY, "f32").trim().toLowerCase(Locale.ROOT);
        return switch (p) {
            case "f32", "fp32", "float32" -> Precision.F32;
            case "bf16", "bfloat16" -> Precision.BF16;
            default -> throw new IllegalArgumentException("-D" + PRECISION_PROPERTY + "=" + p + ": expected f32 or bf16");
        };
    }

    @Override
    public String name() {
        return "gpu";
    }

    @Override
    public String describe() {
        return "gpu: " + dev.describe() + ", CUDA kernels (NVRTC) + cuBLAS, precision " + precision.name().toLowerCase(Locale.ROOT)
                + (precision == Precision.F32 ? (tf32 ? " (TF32 GEMMs)" : " (TF32 off)")
                : useCudnn ? " (bf16 attention: cuDNN fused SDPA, our kernel where cuDNN has no engine)" : " (bf16 attention: our tensor-core kernel)");
    }

    @Override
    public int threads() {
        return 1;
    }

    public Precision precision() {
        return precision;
    }

    // ---- memory --------------------------------------------------------------------------------------

    @Override
    public Tensor allocate(DType dtype, int... shape) {
        requireOpen();
        long n = 1;
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + java.util.Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        long bytes = n * dtype.byteSize();
        GpuMemory m = GpuMemory.allocate(bytes, dev.label, dtype + " tensor " + java.util.Arrays.toString(shape));
        try {
            if (bytes > 0) {
                CudaCheck.cudart(Cudart.cudaMemsetAsync(MemorySegment.ofAddress(m.address()), 0, bytes, stream), "cudaMemsetAsync");
            }
            return Tensor.onDevice(m, dtype, true, shape);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        requireOpen();
        if (src.dtype() != dst.dtype() || !java.util.Arrays.equals(src.shape(), dst.shape())) {
            throw new IllegalArgumentException("copy: " + src + " into " + dst + ": shape and type must agree");
        }
        long bytes = src.byteSize();
        if (bytes == 0) {
            return;
        }
        if (!src.isDevice() && !dst.isDevice()) {
            dst.copyFrom(src);
            return;
        }
        MemorySegment s = src.isDevice() ? MemorySegment.ofAddress(address(src)) : src.segment();
        MemorySegment d = dst.isDevice() ? MemorySegment.ofAddress(address(dst)) : dst.segment();
        int kind = src.isDevice() ? (dst.isDevice() ? Cudart.cudaMemcpyDeviceToDevice() : Cudart.cudaMemcpyDeviceToHost())
                : Cudart.cudaMemcpyHostToDevice();
        CudaCheck.cudart(Cudart.cudaMemcpyAsync(d, s, bytes, kind, stream), "cudaMemcpyAsync(" + bytes + " bytes)");
        if (!dst.isDevice() || !src.isDevice()) { // pageable host memory: finish before Java touches it again
            synchronize();
        }
    }

    @Override
    public Tensor place(Tensor src) {
        if (src.isDevice()) {
            address(src); // one of ours, alive
            return src;
        }
        Tensor d = allocate(src.dtype(), src.shape());
        try {
            copy(src, d);
            return d;
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
    }

    @Override
    public void synchronize() {
        requireOpen();
        CudaCheck.cudart(Cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    }

    /** Fills a device tensor (F32 or BF16) with uniform values in {@code [-scale, scale)} from a seeded hash. */
    public void fillUniform(Tensor t, long seed, float scale) {
        requireOpen();
        if (!t.isDevice() || (t.dtype() != DType.F32 && t.dtype() != DType.BF16)) {
            throw new IllegalArgumentException("fillUniform: needs an F32 or BF16 device tensor, got " + t);
        }
        long n = t.numel();
        if (n > 0) {
            launch(t.dtype() == DType.F32 ? "fill_uniform_f32" : "fill_uniform_bf16", grid(n), 1, 1, BLOCK, 0,
                    args().ptr(address(t)).i64(n).i64(seed).f32(scale));
        }
    }

    private long address(Tensor t) {
        DeviceStorage s = t.deviceStorage();
        if (!(s instanceof GpuMemory)) {
            throw new IllegalArgumentException(t + " is device memory of another backend (" + s.device() + ")");
        }
        return t.deviceAddress();
    }

    // ---- dense algebra -------------------------------------------------------------------------------

    @Override
    protected void linearKernel(Tensor x, Tensor w, Tensor bias, Tensor out, int rows, int in, int outDim) {
        if ((long) rows * outDim == 0) {
            return;
        }
        try (Staging st = new Staging()) {
            long px = st.in(x), pw = st.in(w), po = st.out(out);
            // The bias is written first and the GEMM accumulates onto it (beta = 1): no extra pass over out.
            MemorySegment beta = zero;
            if (bias != null) {
                launch("broadcast_rows_f32", rows, 1, 1, rowThreads(outDim / 4), 0,
                        args().ptr(po).ptr(st.in(bias)).i32(outDim).i32(vec4(outDim, po, st.in(bias)) ? 1 : 0));
                beta = one;
            }
            // Row-major out[rows, outDim] = x[rows, in] · w[outDim, in]ᵀ is column-major outᵀ = wᵀ(as stored) · x:
            // cuBLAS m = outDim, n = rows, k = in, A = w transposed (lda = in), B = x (ldb = in).
            if (w.dtype() == DType.F32) {
                sgemm(pw, px, po, rows, in, outDim, outDim, beta);
            } else if (precision == Precision.F32) {
                // Exact contract: float32 activations times the widened weights. The weights are widened a block
                // of output rows at a time into scratch (never as a whole), each block one float32 GEMM into its
                // columns of out.
                int chunk = (int) Math.max(1, Math.min(outDim, (WIDEN_CHUNK_BYTES / 4) / Math.max(1, in)));
                long wide = scratch((long) chunk * in * 4);
                String widen = w.dtype() == DType.BF16 ? "bf16_to_f32" : "f16_to_f32";
                for (int o0 = 0; o0 < outDim; o0 += chunk) {
                    int c = Math.min(chunk, outDim - o0);
                    long n = (long) c * in;
                    if (n > 0) {
                        launch(widen, grid(n), 1, 1, BLOCK, 0, args().ptr(pw + (long) o0 * in * 2).ptr(wide).i64(n));
                    }
                    sgemm(wide, px, po + (long) o0 * 4, rows, in, c, outDim, beta);
                }
            } else {
                boolean bf = w.dtype() == DType.BF16;
                long n = (long) rows * in;
                long x16 = scratch(n * 2);
                if (n > 0) {
                    launch(bf ? "f32_to_bf16" : "f32_to_f16", grid(n), 1, 1, BLOCK, 0, args().ptr(px).ptr(x16).i64(n));
                }
                int type = bf ? Cublas.CUDA_R_16BF() : Cublas.CUDA_R_16F();
                CudaCheck.cublas(Cublas.cublasGemmEx(cublas, Cublas.CUBLAS_OP_T(), Cublas.CUBLAS_OP_N(), outDim, rows, in, one,
                        seg(pw), type, Math.max(1, in), seg(x16), type, Math.max(1, in), beta, seg(po), Cublas.CUDA_R_32F(), outDim,
                        Cublas.CUBLAS_COMPUTE_32F(), Cublas.CUBLAS_GEMM_DEFAULT()), "cublasGemmEx(" + w.dtype() + ")");
            }
        }
    }

    /** Column-major {@code C[m=outCols, n=rows] = Wᵀ · X}: out[r, o] for o in a block of {@code outCols} columns, row stride ldc. */
    private void sgemm(long pw, long px, long po, int rows, int in, int outCols, int ldc, MemorySegment beta) {
        CudaCheck.cublas(Cublas.cublasSgemm_v2(cublas, Cublas.CUBLAS_OP_T(), Cublas.CUBLAS_OP_N(), outCols, rows, in, one,
                seg(pw), Math.max(1, in), seg(px), Math.max(1, in), beta, seg(po), ldc), "cublasSgemm_v2");
    }

    @Override
    protected void addKernel(Tensor a, Tensor b, Tensor out, long n) {
        if (n == 0) {
            return;
        }
        try (Staging st = new Staging()) {
            launch("add_f32", grid(n), 1, 1, BLOCK, 0, args().ptr(st.in(a)).ptr(st.in(b)).ptr(st.out(out)).i64(n));
        }
    }

    // ---- normalization and activations ---------------------------------------------------------------

    @Override
    protected void layerNormKernel(Tensor x, float eps, Tensor out, int rows, int dim) {
        if ((long) rows * dim == 0) {
            return;
        }
        try (Staging st = new Staging()) {
            if (dim >= 1024) { // long rows: a block per row
                launch("layer_norm_block_f32", rows, 1, 1, BLOCK, 0, args().ptr(st.in(x)).ptr(st.out(out)).i32(dim).f32(eps));
            } else {
                launch("layer_norm_f32", ceil(rows, BLOCK / 32), 1, 1, BLOCK, 0,
                        args().ptr(st.in(x)).ptr(st.out(out)).i64(rows).i32(dim).f32(eps));
            }
        }
    }

    @Override
    protected void rmsNormKernel(Tensor x, Tensor scale, float eps, Tensor out, int rows, int dim) {
        if ((long) rows * dim == 0) {
            return;
        }
        try (Staging st = new Staging()) {
            launch("rms_norm_f32", ceil(rows, BLOCK / 32), 1, 1, BLOCK, 0,
                    args().ptr(st.in(x)).ptr(st.in(scale)).ptr(st.out(out)).i64(rows).i32(dim).f32(eps));
        }
    }

    @Override
    protected void siluKernel(Tensor x, Tensor out, long n) {
        unary(x, out, n, 0);
    }

    @Override
    protected void geluTanhKernel(Tensor x, Tensor out, long n) {
        unary(x, out, n, 1);
    }

    private void unary(Tensor x, Tensor out, long n, int op) {
        if (n == 0) {
            return;
        }
        try (Staging st = new Staging()) {
            int code = op == 1 && precision == Precision.BF16 ? 2 : op; // bf16 precision: GELU in float math
            launch("unary_f32", grid(n), 1, 1, BLOCK, 0, args().ptr(st.in(x)).ptr(st.out(out)).i64(n).i32(code));
        }
    }

    // ---- adaLN modulation ----------------------------------------------------------------------------

    @Override
    protected void modulateKernel(Tensor x, Tensor shift, Tensor scale, Tensor out, int batch, int tokens, int dim) {
        long n = (long) batch * tokens * dim;
        if (n == 0) {
            return;
        }
        try (Staging st = new Staging()) {
            long px = st.in(x), ps = st.in(shift), pc = st.in(scale), po = st.out(out);
            launch("modulate_f32", (long) batch * tokens, 1, 1, rowThreads(dim / 4), 0, args().ptr(px).ptr(ps).ptr(pc).ptr(po).i32(tokens)
                    .i32(dim).i32(vec4(dim, px, ps, pc, po) ? 1 : 0));
        }
    }

    @Override
    protected void gatedResidualKernel(Tensor residual, Tensor gate, Tensor y, Tensor out, int batch, int tokens, int dim) {
        long n = (long) batch * tokens * dim;
        if (n == 0) {
            return;
        }
        try (Staging st = new Staging()) {
            long pr = st.in(residual), pg = st.in(gate), py = st.in(y), po = st.out(out);
            launch("gated_residual_f32", (long) batch * tokens, 1, 1, rowThreads(dim / 4), 0, args().ptr(pr).ptr(pg).ptr(py).ptr(po)
                    .i32(tokens).i32(dim).i32(vec4(dim, pr, pg, py, po) ? 1 : 0));
        }
    }

    // ---- positions -----------------------------------------------------------------------------------

    @Override
    protected void ropeTableKernel(Tensor ids, int[] axesDim, double theta, Tensor pe, int batch, int tokens) {
        int pairs = pe.dim(3);
        long n = (long) batch * tokens * pairs;
        if (n == 0) {
            return;
        }
        float[] omega = new float[pairs];
        int[] axis = new int[pairs];
        int p = 0;
        for (int a = 0; a < axesDim.length; a++) { // the frequencies exactly as the oracle computes them
            for (int j = 0; j < axesDim[a] / 2; j++, p++) {
                omega[p] = RopeFrequencies.omega(j, axesDim[a], theta);
                axis[p] = a;
            }
        }
        try (Staging st = new Staging()) {
            launch("rope_table_f32", grid(n), 1, 1, BLOCK, 0, args().ptr(st.in(ids)).ptr(st.floats(omega)).ptr(st.ints(axis))
                    .ptr(st.out(pe)).i32(axesDim.length).i32(pairs).i64(n));
        }
    }

    @Override
    protected void applyRopeKernel(Tensor x, Tensor pe, Tensor out, int batch, int heads, int tokens, int headDim, int peBatch) {
        long n = (long) batch * heads * tokens * (headDim / 2);
        if (n == 0) {
            return;
        }
        try (Staging st = new Staging()) {
            long px = st.in(x), pp = st.in(pe), po = st.out(out);
            long perHead = (long) tokens * (headDim / 2);
            if (perHead > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("applyRope: " + perHead + " pairs per head exceed the kernel's 32-bit index");
            }
            int bh = batch * heads;
            for (int b0 = 0; b0 < bh; b0 += 65535) { // grid y holds at most 65535 heads; whole heads per launch
                int cnt = Math.min(65535, bh - b0);
                if (peBatch != 1 && b0 % heads != 0) {
                    throw new IllegalStateException("unreachable: 65535-head chunks of per-batch tables");
                }
                long off = (long) b0 * perHead * 8; // bytes: two floats per pair
                long peOff = peBatch == 1 ? 0 : (long) (b0 / heads) * perHead * 16;
                launch("apply_rope_f32", ceil(perHead, BLOCK), cnt, 1, BLOCK, 0, args().ptr(px + off).ptr(pp + peOff).ptr(po + off).i32(heads)
                        .i32(tokens).i32(headDim / 2).i32(peBatch));
            }
        }
    }

    @Override
    protected void timestepEmbeddingKernel(Tensor t, float timeFactor, double maxPeriod, Tensor out, int batch, int dim) {
        long n = (long) batch * dim;
        if (n == 0) {
            return;
        }
        float[] freqs = TimestepFrequencies.of(Math.max(1, dim / 2), maxPeriod);
        try (Staging st = new Staging()) {
            launch("timestep_embedding_f32", grid(n), 1, 1, BLOCK, 0,
                    args().ptr(st.in(t)).ptr(st.floats(freqs)).ptr(st.out(out)).i32(dim).f32(timeFactor).i64(n));
        }
    }

    // ---- attention -----------------------------------------------------------------------------------

    @Override
    protected void attentionKernel(Tensor q, Tensor k, Tensor v, Tensor refK, Tensor refV, Tensor refKeyScale, Tensor out, int batch,
                                   int heads, int lq, int lk, int lr, int headDim, int refBatch, int refStart, int refTokens) {
        if ((long) batch * heads * lq == 0) {
            return;
        }
        if (headDim > 256) {
            throw new UnsupportedOperationException("gpu attention supports head dimensions up to 256, got " + headDim);
        }
        try (Staging st = new Staging()) {
            long pq = st.in(q), pk = st.in(k), pv = st.in(v), po = st.out(out);
            long prk = lr > 0 ? st.in(refK) : 0, prv = lr > 0 ? st.in(refV) : 0;
            long ps = lr > 0 && refKeyScale != null ? chunkScaleOnDevice(st, refKeyScale) : 0;
            if (q.dtype() == DType.BF16) { // AbstractBackend admits BF16 activations only in bf16 precision
                cudnnBf16(pq, pk, pv, prk, prv, ps, po, batch, heads, lq, lk, lr, headDim, refBatch, refStart, refTokens);
            } else if (precision == Precision.BF16 && cudnnAttention(pq, pk, pv, prk, prv, ps, po, batch, heads, lq, lk, lr, headDim, refBatch, refStart,
                    refTokens)) {
                lastAttentionPath = "cudnn";
            } else if (precision == Precision.BF16 && headDim == 128) {
                lastAttentionPath = "own bf16 kernel";
                launch("attention_bf16_d128", ceil(lq, 64), heads, batch, 128, 0, args().ptr(pq).ptr(pk).ptr(pv).ptr(prk).ptr(prv).ptr(ps)
                        .ptr(po).i32(heads).i32(lq).i32(lk).i32(lr).i32(refBatch).i32(refStart).i32(refTokens));
            } else {
                lastAttentionPath = "own f32 kernel";
                launch("attention_f32", ceil(lq, 4), heads, batch, 128, 0, args().ptr(pq).ptr(pk).ptr(pv).ptr(prk).ptr(prv).ptr(ps)
                        .ptr(po).i32(heads).i32(lq).i32(lk).i32(lr).i32(headDim).i32(refBatch).i32(refStart).i32(refTokens));
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
        CudaCheck.cudart(Cudart.cudaMemcpyAsync(seg(p), scale.segment(), scale.byteSize(), Cudart.cudaMemcpyHostToDevice(), stream),
                "cudaMemcpyAsync(chunk scale, host to device)");
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
                cudnn = new CudnnAttention(stream);
            }
            float scale = (float) (1 / Math.sqrt(d));
            if (lr == 0 || sharedPasses == 1) {
                return cudnnOnePass(pq, pk, pv, prk, prv, ps, po, b, h, lq, lk, lr, d, refBatch, refStart, refTokens, scale);
            }
            CudnnAttention.Plan own = cudnn.plan(b, h, lq, lk, d, lr > 0); // statistics only when two parts are merged
            CudnnAttention.Plan ref = lr == 0 ? null : cudnn.plan(refBatch == b ? b : 1, h, lq, lr, d, true);
            long ws = slot(S_WORKSPACE, Math.max(own.workspace(), ref == null ? 0 : ref.workspace()));
            long qRows = (long) b * h * lq, kRows = (long) b * h * lk;
            long qb = slot(S_Q, qRows * d * 2), kb = slot(S_K, kRows * d * 2), vb = slot(S_V, kRows * d * 2);
            long o1 = slot(S_O1, qRows * d * 2), s1 = slot(S_STATS1, qRows * 4);
            launch("to_bf16_rows", ceil(qPairs, BLOCK), 1, 1, BLOCK, 0, args().ptr(pq).ptr(0).ptr(qb).i32(d).i32((int) qPairs));
            launch("to_bf16_rows", ceil(kPairs, BLOCK), 1, 1, BLOCK, 0, args().ptr(pk).ptr(0).ptr(kb).i32(d).i32((int) kPairs));
            launch("to_bf16_rows", ceil(kPairs, BLOCK), 1, 1, BLOCK, 0, args().ptr(pv).ptr(0).ptr(vb).i32(d).i32((int) kPairs));
            cudnn.run(own, qb, kb, vb, o1, s1, scale, ws);
            lastCudnnRun = null;
            long o2 = 0, s2 = 0;
            if (lr > 0) {
                long qs = ps == 0 ? qb : slot(S_QSCALED, qRows * d * 2);
                if (ps != 0) {
                    launch("to_bf16_rows", ceil(qPairs, BLOCK), 1, 1, BLOCK, 0, args().ptr(pq).ptr(ps).ptr(qs).i32(d).i32((int) qPairs));
                }
                long rRows = (long) refBatch * h * lr;
                long rkb = slot(S_RK, rRows * d * 2), rvb = slot(S_RV, rRows * d * 2);
                launch("gather_bf16_rows", ceil(rPairs, BLOCK), 1, 1, BLOCK, 0, args().ptr(prk).ptr(rkb).i32(lr).i32(refTokens).i32(refStart).i32(d)
                        .i32((int) rPairs));
                launch("gather_bf16_rows", ceil(rPairs, BLOCK), 1, 1, BLOCK, 0, args().ptr(prv).ptr(rvb).i32(lr).i32(refTokens).i32(refStart).i32(d)
                        .i32((int) rPairs));
                o2 = slot(S_O2, qRows * d * 2);
                s2 = slot(S_STATS2, qRows * 4);
                if (refBatch == b) {
                    cudnn.run(ref, qs, rkb, rvb, o2, s2, scale, ws);
                } else { // one reference for every batch element: one call per element (no stride-0 batch in cuDNN)
                    long perQ = (long) h * lq;
                    for (int bi = 0; bi < b; bi++) {
                        cudnn.run(ref, qs + bi * perQ * d * 2, rkb, rvb, o2 + bi * perQ * d * 2, s2 + bi * perQ * 4, scale, ws);
                    }
                }
            }
            lastCudnnChoice = own.choice + (ref == null ? "" : "; reference pass: " + ref.choice);
            launch("merge_attention", ceil(qPairs, BLOCK), 1, 1, BLOCK, 0, args().ptr(o1).ptr(s1).ptr(o2).ptr(s2).ptr(po).i32(h).i32(lq).i32(d)
                    .i32((int) qPairs));
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
        launch("attention_operands_bf16", ceil(Math.max(qPairs, kvPairs) / 4, BLOCK), 3, 1, BLOCK, 0, args().ptr(pq).ptr(pk).ptr(pv).ptr(prk)
                .ptr(prv).ptr(lr > 0 ? ps : 0).ptr(qb).ptr(kb).ptr(vb).i32(h).i32(lk).i32(lr).i32(refBatch).i32(refStart).i32(refTokens).i32(d)
                .i32((int) (qPairs / 4)).i32((int) (kvPairs / 4)));
        cudnn.run(plan, qb, kb, vb, o1, 0, scale, ws);
        lastCudnnRun = () -> cudnn.run(plan, qb, kb, vb, o1, 0, scale, ws);
        lastCudnnChoice = plan.choice + " (one pass over " + lk + " + " + lr + " keys)";
        launch("widen_bf16", ceil(qPairs / 4, BLOCK), 1, 1, BLOCK, 0, args().ptr(o1).ptr(po).i32((int) (qPairs / 4)));
        return true;
    }

    /**
     * Attention on bf16 activations (q, k, v, refK, refV, out all BF16): cuDNN reads q (and, without a reference,
     * k and v) where they are and writes out [b, lq, h·d] directly. With a reference, one kernel writes the bf16
     * keys [own; reference · s_p] and values [own; reference] (see {@code attention_kv_from_bf16}) for one SDPA.
     */
    private void cudnnBf16(long pq, long pk, long pv, long prk, long prv, long ps, long po, int b, int h, int lq, int lk, int lr, int d,
                           int refBatch, int refStart, int refTokens) {
        long kvQuads = (long) b * h * (lk + lr) * d / 8;
        if (!useCudnn || d % 8 != 0 || d > 128 || lk == 0 || kvQuads >= Integer.MAX_VALUE || ((pq | pk | pv | prk | prv | po) & 15) != 0) {
            throw new UnsupportedOperationException("gpu attention on BF16 activations runs through cuDNN only (head dimension a multiple of 8, "
                    + "at most 128, 16-byte aligned tensors); got head dimension " + d + (useCudnn ? "" : " with cuDNN switched off"));
        }
        if (cudnn == null) {
            cudnn = new CudnnAttention(stream);
        }
        float scale = (float) (1 / Math.sqrt(d));
        CudnnAttention.Plan plan = cudnn.plan(b, h, lq, lk + lr, d, false, false, true);
        long ws = slot(S_WORKSPACE, plan.workspace());
        long kb = pk, vb = pv;
        if (lr > 0) {
            kb = slot(S_K, kvQuads * 16);
            vb = slot(S_V, kvQuads * 16);
            // One (batch, head) row per blockIdx.y, keys and values in blockIdx.z, KV_ITEMS (4) quads per thread.
            launch("attention_kv_from_bf16", ceil((long) (lk + lr) * d / 8, BLOCK * 4L), b * h, 2, BLOCK, 0, args().ptr(pk).ptr(pv).ptr(prk)
                    .ptr(prv).ptr(ps).ptr(kb).ptr(vb).i32(h).i32(lk).i32(lr).i32(refBatch).i32(refStart).i32(refTokens).i32(d));
        }
        long k2 = kb, v2 = vb;
        cudnn.run(plan, pq, k2, v2, po, 0, scale, ws);
        lastCudnnRun = () -> cudnn.run(plan, pq, k2, v2, po, 0, scale, ws);
        lastCudnnChoice = plan.choice + " (bf16 activations, one pass over " + lk + " + " + lr + " keys)";
        lastAttentionPath = "cudnn";
    }

    /** In {@code bf16} precision: BF16 q, k, v, refK, refV and out, through cuDNN only (else a clear error). */
    @Override
    protected boolean supportsBf16Attention() {
        return precision == Precision.BF16;
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
                    CudnnAttention.Plan p = cudnn.plan(b, h, lq, skv, d, stats, bshd);
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

    private static int sharedPassesFromProperty() {
        String p = System.getProperty(SHARED_PASSES_PROPERTY, "2").trim();
        return switch (p) {
            case "1" -> 1;
            case "2" -> 2;
            default -> throw new IllegalArgumentException("-D" + SHARED_PASSES_PROPERTY + "=" + p + ": expected 1 or 2");
        };
    }

    /** 1: shared attention through cuDNN as one SDPA over own + scaled reference keys; 2: two SDPAs merged. */
    void sharedPasses(int passes) {
        if (passes != 1 && passes != 2) {
            throw new IllegalArgumentException("shared attention passes: 1 or 2, got " + passes);
        }
        this.sharedPasses = passes;
    }

    /** Which attention implementation the last attention call used (for benchmarks and tests). */
    public String lastAttentionPath() {
        return lastAttentionPath;
    }

    /** The cuDNN engine configurations the last cuDNN attention call used, with the first-use timings. */
    public String lastCudnnChoice() {
        return lastCudnnChoice;
    }

    @Override
    protected void attentionProbsKernel(Tensor q, Tensor k, Tensor refK, Tensor refKeyScale, Tensor out, int batch, int heads, int lq,
                                        int lk, int lr, int headDim, int refBatch, int refStart, int refTokens) {
        long rows = (long) batch * heads * lq;
        if (rows == 0 || lk + lr == 0) {
            return;
        }
        try (Staging st = new Staging()) {
            long prk = lr > 0 ? st.in(refK) : 0, ps = lr > 0 && refKeyScale != null ? st.in(refKeyScale) : 0;
            launch("attention_probs_f32", ceil(rows, BLOCK / 32), 1, 1, BLOCK, 0, args().ptr(st.in(q)).ptr(st.in(k)).ptr(prk).ptr(ps)
                    .ptr(st.out(out)).i32(heads).i32(lq).i32(lk).i32(lr).i32(headDim).i32(refBatch).i32(refStart).i32(refTokens).i64(rows));
        }
    }

    @Override
    protected void chunkLogitsKernel(Tensor q, Tensor k, int[] chunkBand, int bands, Tensor out, int batch, int heads, int lq, int lk,
                                     int headDim) {
        long n = out.numel();
        if (n == 0) {
            return;
        }
        try (Staging st = new Staging()) {
            launch("chunk_logits_f32", grid(n), 1, 1, BLOCK, 0, args().ptr(st.in(q)).ptr(st.in(k)).ptr(st.ints(chunkBand))
                    .ptr(st.out(out)).i32(lq).i32(lk).i32(headDim).i32(bands).i64(n));
        }
    }

    @Override
    protected void adaInKernel(Tensor x, Tensor ref, float eps, Tensor out, int batch, int heads, int tokens, int headDim, int refTokens,
                               int tokenStart) {
        long n = (long) batch * heads * headDim;
        if (n == 0) {
            return;
        }
        try (Staging st = new Staging()) {
            launch("ada_in_f32", ceil(n, 128), 1, 1, 128, 0, args().ptr(st.in(x)).ptr(st.in(ref)).ptr(st.out(out)).i32(batch).i32(heads)
                    .i32(tokens).i32(headDim).i32(refTokens).i32(tokenStart).f32(eps));
        }
    }

    // ---- layout --------------------------------------------------------------------------------------

    @Override
    protected void splitQkvKernel(Tensor qkv, Tensor q, Tensor k, Tensor v, int tokenOffset, int b, int h, int l, int lTot, int d) {
        long n = qkv.numel();
        if (n == 0) {
            return;
        }
        try (Staging st = new Staging()) {
            long pqkv = st.in(qkv), pq = st.out(q), pk = st.out(k), pv = st.out(v);
            int vec = vec4(d, pqkv, pq, pk, pv) ? 4 : 1;
            long perRow = 3L * h * d / vec;
            int blocksX = (int) Math.min(ceil(perRow, BLOCK), 64);
            long rows = (long) b * l;
            for (long r0 = 0; r0 < rows; r0 += 65535) { // grid y holds at most 65535 rows per launch
                int cnt = (int) Math.min(65535, rows - r0);
                launch("split_qkv_f32", blocksX, cnt, 1, BLOCK, 0, args().ptr(pqkv).ptr(pq).ptr(pk).ptr(pv).i32(h).i32(l).i32(lTot).i32(d)
                        .i32(tokenOffset).i32((int) r0).i32(vec));
            }
        }
    }

    @Override
    protected void blockCopyKernel(List<Tensor> parts, Tensor whole, long outer, long inner, int ax, boolean intoWhole) {
        int esize = whole.dtype().byteSize();
        long innerElems = inner / esize;
        long wholeBlock = whole.dim(ax) * innerElems;
        if (outer > Integer.MAX_VALUE) {
            throw new IllegalArgumentException((intoWhole ? "concat" : "split") + ": " + outer + " rows exceed the kernel's 32-bit row index");
        }
        try (Staging st = new Staging()) {
            long pw = intoWhole ? st.out(whole) : st.in(whole);
            long offset = 0;
            for (Tensor p : parts) {
                long block = p.dim(ax) * innerElems;
                if (outer * block > 0) {
                    long pp = intoWhole ? st.in(p) : st.out(p);
                    long src = intoWhole ? pp : pw, dst = intoWhole ? pw : pp;
                    long srcStride = intoWhole ? block : wholeBlock, dstStride = intoWhole ? wholeBlock : block;
                    long srcOff = intoWhole ? 0 : offset, dstOff = intoWhole ? offset : 0;
                    int vec = esize == 2 ? 0 : (block % 4 == 0 && srcStride % 4 == 0 && dstStride % 4 == 0 && srcOff % 4 == 0 && dstOff % 4 == 0
                            && (src & 15) == 0 && (dst & 15) == 0) ? 4 : 1;
                    long perRow = ceil(block, Math.max(1, vec));
                    int blocksX = (int) Math.max(1, Math.min(ceil(perRow, BLOCK), Math.max(1, 4096 / Math.min(outer, 4096))));
                    for (long r0 = 0; r0 < outer; r0 += 65535) {
                        int cnt = (int) Math.min(65535, outer - r0);
                        launch("block_copy", blocksX, cnt, 1, BLOCK, 0, args().ptr(src).ptr(dst).i64(block).i64(srcStride).i64(dstStride).i64(srcOff)
                                .i64(dstOff).i32((int) r0).i32(vec));
                    }
                }
                offset += block;
            }
        }
    }

    // ---- plumbing ------------------------------------------------------------------------------------

    private static long ceil(long n, long d) {
        return (n + d - 1) / d;
    }

    /** Blocks for a grid-stride loop over {@code n} elements: enough to fill the device, not more. */
    private long grid(long n) {
        return Math.max(1, Math.min(ceil(n, BLOCK), (long) dev.sms * 32));
    }

    /** Threads for a row-wise kernel over {@code work} items per row: a multiple of 32, at most BLOCK. */
    private static int rowThreads(int work) {
        return (int) Math.max(32, Math.min(BLOCK, ceil(Math.max(1, work), 32) * 32));
    }

    /** Whether rows of {@code dim} floats at these addresses can be read as float4. */
    private static boolean vec4(int dim, long... addresses) {
        if (dim % 4 != 0) {
            return false;
        }
        for (long a : addresses) {
            if ((a & 15) != 0) {
                return false;
            }
        }
        return true;
    }

    private static MemorySegment seg(long address) {
        return MemorySegment.ofAddress(address);
    }

    private long slot(int i, long bytes) {
        if (slots[i] == null || slots[i].byteSize() < bytes) {
            if (slots[i] != null) {
                slots[i].close();
                slots[i] = null;
            }
            slots[i] = GpuMemory.allocate(Math.max(bytes, 256), dev.label, "attention scratch " + i);
        }
        return slots[i].address();
    }

    private long scratch(long bytes) {
        if (scratch == null || scratch.byteSize() < bytes) {
            if (scratch != null) {
                scratch.close(); // cudaFree waits for the GEMMs that used it
                scratch = null;
            }
            scratch = GpuMemory.allocate(Math.max(bytes, 1 << 20), dev.label, "16-bit GEMM input scratch");
        }
        return scratch.address();
    }

    private Args args() {
        return new Args();
    }

    /** Kernel arguments: each value in native memory, and the array of pointers to them that cuLaunchKernel takes. */
    private static final class Args {
        private final Arena a = Arena.ofConfined();
        private final List<MemorySegment> values = new ArrayList<>();

        Args ptr(long address) {
            values.add(a.allocateFrom(JAVA_LONG, address));
            return this;
        }

        Args i32(int v) {
            values.add(a.allocateFrom(JAVA_INT, v));
            return this;
        }

        Args i64(long v) {
            values.add(a.allocateFrom(JAVA_LONG, v));
            return this;
        }

        Args f32(float v) {
            values.add(a.allocateFrom(JAVA_FLOAT, v));
            return this;
        }
    }

    private void launch(String kernel, long gridX, int gridY, int gridZ, int block, int smem, Args args) {
        Arena arena = args.a;
        try (arena) {
            requireOpen();
            if (gridX > Integer.MAX_VALUE || gridY > 65535 || gridZ > 65535) {
                throw new IllegalArgumentException(kernel + ": grid " + gridX + " x " + gridY + " x " + gridZ + " exceeds the device limits");
            }
            MemorySegment params = args.a.allocate(ADDRESS, args.values.size());
            for (int i = 0; i < args.values.size(); i++) {
                params.setAtIndex(ADDRESS, i, args.values.get(i));
            }
            dev.makeCurrent();
            CudaCheck.driver(CudaDriver.cuLaunchKernel(dev.function(kernel), (int) gridX, gridY, gridZ, block, 1, 1, smem, stream, params,
                    MemorySegment.NULL), "cuLaunchKernel(" + kernel + ")");
        }
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the gpu backend is closed");
        }
    }

    private record HostKey(long address, long bytes) {
    }

    /**
     * Device addresses for the tensors of one operation. Device tensors are used in place; host tensors get a
     * temporary device copy (the same copy for the same host memory, so in-place calls stay in place), and
     * host outputs are copied back when the operation's staging closes. Temporary buffers are freed then.
     */
    private final class Staging implements AutoCloseable {
        private Map<HostKey, GpuMemory> byHost; // host address -> its device copy (null until a host tensor appears)
        private List<Tensor> outputs;
        private List<GpuMemory> temps;
        private Arena hostArena;

        long in(Tensor t) {
            return t.isDevice() ? address(t) : stage(t, false);
        }

        long out(Tensor t) {
            return t.isDevice() ? address(t) : stage(t, true);
        }

        private long stage(Tensor t, boolean output) {
            if (byHost == null) {
                byHost = new HashMap<>();
                outputs = new ArrayList<>();
                temps = new ArrayList<>();
            }
            HostKey key = new HostKey(t.segment().address(), t.byteSize());
            GpuMemory m = byHost.get(key);
            if (m == null) {
                m = GpuMemory.allocate(t.byteSize(), dev.label, "staging copy of host " + t);
                temps.add(m);
                byHost.put(key, m);
                if (t.byteSize() > 0) { // outputs too: an operation may write only part of them (or read them in place)
                    CudaCheck.cudart(Cudart.cudaMemcpyAsync(seg(m.address()), t.segment(), t.byteSize(), Cudart.cudaMemcpyHostToDevice(), stream),
                            "cudaMemcpyAsync(host to device)");
                }
            }
            if (output) {
                outputs.add(t);
            }
            return m.address();
        }

        long floats(float[] values) {
            return upload(MemorySegment.ofArray(values));
        }

        long ints(int[] values) {
            return upload(MemorySegment.ofArray(values));
        }

        private long upload(MemorySegment heap) {
            if (temps == null) {
                byHost = new HashMap<>();
                outputs = new ArrayList<>();
                temps = new ArrayList<>();
            }
            if (hostArena == null) {
                hostArena = Arena.ofConfined();
            }
            MemorySegment h = hostArena.allocate(Math.max(1, heap.byteSize()), 16);
            MemorySegment.copy(heap, 0, h, 0, heap.byteSize());
            GpuMemory m = GpuMemory.allocate(Math.max(4, heap.byteSize()), dev.label, "kernel table");
            temps.add(m);
            CudaCheck.cudart(Cudart.cudaMemcpyAsync(seg(m.address()), h, heap.byteSize(), Cudart.cudaMemcpyHostToDevice(), stream),
                    "cudaMemcpyAsync(table)");
            return m.address();
        }

        @Override
        public void close() {
            if (temps == null) {
                return;
            }
            try {
                for (Tensor t : outputs) {
                    GpuMemory m = byHost.get(new HostKey(t.segment().address(), t.byteSize()));
                    if (t.byteSize() > 0) {
                        CudaCheck.cudart(Cudart.cudaMemcpyAsync(t.segment(), seg(m.address()), t.byteSize(), Cudart.cudaMemcpyDeviceToHost(), stream),
                                "cudaMemcpyAsync(device to host)");
                    }
                }
                CudaCheck.cudart(Cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize");
            } finally {
                for (GpuMemory m : temps) {
                    m.close();
                }
                if (hostArena != null) {
                    hostArena.close();
                }
            }
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            Cudart.cudaStreamSynchronize(stream);
            if (scratch != null) {
                scratch.close();
            }
            for (GpuMemory m : slots) {
                if (m != null) {
                    m.close();
                }
            }
            if (cudnn != null) {
                cudnn.close();
            }
        } finally {
            Cublas.cublasDestroy_v2(cublas);
            Cudart.cudaStreamDestroy(stream);
            arena.close();
        }
    }
}
