package org.untwist.gpu;

import static org.untwist.gpu.KernelLauncher.BLOCK;
import static org.untwist.gpu.KernelLauncher.args;
import static org.untwist.gpu.KernelLauncher.ceil;
import static org.untwist.gpu.KernelLauncher.rowThreads;
import static org.untwist.gpu.KernelLauncher.vec4;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Locale;
import org.untwist.backend.AbstractBackend;
import org.untwist.backend.RopeFrequencies;
import org.untwist.backend.TimestepFrequencies;
import org.untwist.gpu.cuda.CudaRuntime;
import org.untwist.gpu.cuda.CudaRuntime.MemcpyKind;
import org.untwist.tensor.DType;
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
 * SDPA, and it takes BF16 activations where {@link #roundedActivationType} lists them. GEMMs with BF16 or
 * F16 weights round the activations to the weights' type in {@code bf16} precision (tensor cores, float32
 * accumulation and output: what a bf16 reference computes); in {@code f32} precision the weights are widened
 * block by block and multiplied in float32. F8_E4M3 and F8_E5M2 weights are widened block by block too: to float32 in
 * {@code f32} precision, to bf16 (exact) for the bf16 GEMM in {@code bf16} precision. {@code conv2d}'s GEMMs
 * (over im2col columns, {@link GpuImageOps}) handle their weights the same way; the other autoencoder ops compute
 * in float32 in both precisions.
 *
 * <p>Unlike the CPU backends a GPU backend is not thread-safe: one thread drives it (its stream, cuBLAS handle
 * and scratch buffers are shared by all operations). Attention supports head dimensions up to 256; the
 * text encoders' attention (scale, position bias, causal mask) runs on our float32 kernel in either precision.
 *
 * <p>The parts: {@link KernelLauncher} launches the kernels, {@link Staging} stages host tensors,
 * {@link CublasGemm} runs the GEMMs of linear layers, {@link GpuAttention} chooses how attention computes
 * (cuDNN, {@link CudnnAttention}, or our kernels), {@link GpuTextOps} and {@link GpuImageOps} hold the text
 * encoders' and the autoencoder's operations; every CUDA call goes through {@code org.untwist.gpu.cuda}.
 */
public final class GpuBackend extends AbstractBackend {
    public static final String PRECISION_PROPERTY = "untwist.gpu.precision";
    public static final String TF32_PROPERTY = "untwist.gpu.tf32";
    public static final String CUDNN_PROPERTY = "untwist.gpu.cudnn";
    /**
     * Shared attention through cuDNN: 2 (the default), two SDPAs (own keys; reference keys with the queries scaled per
     * chunk) merged by their log-sum-exps (on BF16 activations both read the keys where they are); 1, one SDPA over own
     * + band-scaled reference keys copied together. Two passes measured faster on an H200 for both activation types
     * (kernels/RESULTS.md: float32 1.099 vs 1.198 ms; bf16 0.876 vs 0.914 ms).
     */
    public static final String SHARED_PASSES_PROPERTY = "untwist.gpu.sharedPasses";
    /**
     * {@code true} (the default): in bf16 precision {@link #roundedActivationType} answers BF16 for weights whose GEMM
     * takes a bf16 operand, so that models keep the activations those GEMMs and attention read in bf16 (FLUX.1-dev's
     * forward at 1024² on an H200: 130.7 ms instead of 145.8, kernels/RESULTS.md). {@code false}: models keep float32
     * activations between operations.
     */
    public static final String BF16_ACTIVATIONS_PROPERTY = "untwist.gpu.bf16Activations";

    /** How attention and float32 GEMMs compute. */
    public enum Precision { F32, BF16 }

    private final GpuDevice dev;
    private final Precision precision;
    private final boolean tf32;
    private final boolean useCudnn;
    private final boolean bf16Activations;
    private final MemorySegment stream;
    private final KernelLauncher launcher;
    private final CublasGemm gemm;
    private final GpuAttention attention;
    private final GpuTextOps text;
    private final GpuImageOps image;

    /**
     * A backend with the settings of {@code -Duntwist.gpu.precision}, {@code -Duntwist.gpu.tf32}, {@code -Duntwist.gpu.cudnn}
     * and {@code -Duntwist.gpu.bf16Activations}.
     */
    public GpuBackend() {
        this(precisionFromProperty(), Boolean.getBoolean(TF32_PROPERTY), !"false".equalsIgnoreCase(System.getProperty(CUDNN_PROPERTY)));
    }

    public GpuBackend(Precision precision, boolean tf32) {
        this(precision, tf32, true);
    }

    /** @param useCudnn bf16 attention through cuDNN's fused SDPA where it has an engine (else our kernel) */
    public GpuBackend(Precision precision, boolean tf32, boolean useCudnn) {
        this(precision, tf32, useCudnn, !"false".equalsIgnoreCase(System.getProperty(BF16_ACTIVATIONS_PROPERTY, "true").trim()));
    }

    /** @param bf16Activations models may keep activations in bf16 where this backend rounds them to bf16 ({@link #BF16_ACTIVATIONS_PROPERTY}) */
    public GpuBackend(Precision precision, boolean tf32, boolean useCudnn, boolean bf16Activations) {
        this.bf16Activations = bf16Activations;
        int sharedPasses = GpuAttention.sharedPassesFromProperty(); // a bad property fails before the device is touched
        this.precision = precision;
        this.tf32 = tf32;
        this.useCudnn = useCudnn;
        this.dev = GpuDevice.get();
        this.stream = CudaRuntime.createNonBlockingStream();
        this.launcher = new KernelLauncher(dev, stream);
        try {
            this.gemm = new CublasGemm(stream, precision, tf32, launcher, dev.label);
        } catch (RuntimeException e) {
            CudaRuntime.streamDestroy(stream);
            throw e;
        }
        this.attention = new GpuAttention(precision, useCudnn, sharedPasses, launcher, stream, dev.label, gemm);
        this.text = new GpuTextOps(launcher, stream, dev.label);
        this.image = new GpuImageOps(launcher, stream, dev.label, gemm);
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
        long bytes = dtype.byteSize(n); // a block-quantized shape is checked whole by Tensor.onDevice below
        GpuMemory m = GpuMemory.allocate(bytes, dev.label, dtype + " tensor " + java.util.Arrays.toString(shape));
        try {
            if (bytes > 0) {
                CudaRuntime.memsetAsync(m.address(), 0, bytes, stream);
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
        MemorySegment s = src.isDevice() ? MemorySegment.ofAddress(GpuMemory.addressOf(src)) : src.segment();
        MemorySegment d = dst.isDevice() ? MemorySegment.ofAddress(GpuMemory.addressOf(dst)) : dst.segment();
        MemcpyKind kind = src.isDevice() ? (dst.isDevice() ? MemcpyKind.DEVICE_TO_DEVICE : MemcpyKind.DEVICE_TO_HOST)
                : MemcpyKind.HOST_TO_DEVICE;
        CudaRuntime.memcpyAsync(d, s, bytes, kind, stream, bytes + " bytes");
        if (!dst.isDevice() || !src.isDevice()) { // pageable host memory: finish before Java touches it again
            synchronize();
        }
    }

    @Override
    public Tensor place(Tensor src) {
        if (src.isDevice()) {
            GpuMemory.addressOf(src); // one of ours, alive
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
        CudaRuntime.streamSynchronize(stream);
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
                    args().ptr(GpuMemory.addressOf(t)).i64(n).i64(seed).f32(scale));
        }
    }

    // ---- dense algebra -------------------------------------------------------------------------------

    @Override
    protected void linearKernel(Tensor x, Tensor w, Tensor bias, Tensor out, int rows, int in, int outDim) {
        linear(x, w, bias, out, rows, in, outDim, false);
    }

    @Override
    protected void linearGeluTanhKernel(Tensor x, Tensor w, Tensor bias, Tensor out, int rows, int in, int outDim) {
        linear(x, w, bias, out, rows, in, outDim, true);
    }

    /**
     * A linear layer, then the tanh GELU when {@code gelu}. In bf16 precision cuBLASLt applies the bias and the GELU as
     * the GEMM writes out, where it has an algorithm; otherwise the bias is written first and the GEMM accumulates onto
     * it (beta = 1), and the GELU is a pass of its own.
     */
    private void linear(Tensor x, Tensor w, Tensor bias, Tensor out, int rows, int in, int outDim, boolean gelu) {
        if ((long) rows * outDim == 0) {
            return;
        }
        try (Staging st = staging()) {
            linearOn(st, st.in(x), x.dtype() == DType.BF16, null, w, bias, out, rows, in, outDim, gelu);
        }
    }

    /**
     * {@link #linear} on staged activations at {@code px} (bf16 where {@code xBf16}), or written into the GEMM's operand by
     * {@code rounding} where not null. A BF16 out is written by the GEMM's epilogue; where cuBLASLt has no algorithm, the
     * float32 result goes to a scratch buffer first and is rounded into out.
     */
    private void linearOn(Staging st, long px, boolean xBf16, CublasGemm.Rounding rounding, Tensor w, Tensor bias, Tensor out, int rows, int in,
                          int outDim, boolean gelu) {
        long pw = st.in(w), po = st.out(out), pb = bias == null ? 0 : st.in(bias);
        boolean outBf16 = out.dtype() == DType.BF16;
        if (gemm.multiplyWithEpilogue(px, xBf16, rounding, pw, w.dtype(), po, outBf16, rows, in, outDim, pb, gelu)) {
            return;
        }
        long n = (long) rows * outDim;
        long pf = outBf16 ? st.scratch(n * 4, "float32 result of a linear layer with a BF16 output") : po;
        if (bias != null) {
            launch("broadcast_rows_f32", rows, 1, 1, rowThreads(outDim / 4), 0,
                    args().ptr(pf).ptr(pb).i32(outDim).i32(vec4(outDim, pf, pb) ? 1 : 0));
        }
        gemm.multiply(px, xBf16, rounding, pw, w.dtype(), pf, rows, in, outDim, bias != null);
        if (gelu) {
            launchUnary(pf, pf, n, 1);
        }
        if (outBf16) {
            launch("f32_to_bf16", grid(n), 1, 1, BLOCK, 0, args().ptr(pf).ptr(po).i64(n));
        }
    }

    /**
     * In bf16 precision with bf16 activations on (the default, {@link #BF16_ACTIVATIONS_PROPERTY}): BF16 for weights whose GEMM takes a bf16 operand
     * (BF16, F8_E4M3, F8_E5M2, Q8_0, Q4_K), F32 otherwise (F16 weights round to f16; F32 weights multiply in float32).
     */
    @Override
    public DType roundedActivationType(DType weightType) {
        return bf16Activations && gemm.takesBf16(weightType) ? DType.BF16 : DType.F32;
    }

    /**
     * In {@code bf16} precision with 16-bit, 8-bit or block-quantized weights, a and b are rounded and joined in one pass
     * straight into the GEMM's operand (no float32 joined copy); bf16 a and b over BF16 weights into a float32 out are
     * not joined at all ({@link CublasGemm#multiplyConcat}); otherwise they are joined into a scratch tensor first.
     */
    @Override
    protected void linearConcatKernel(Tensor a, Tensor b, Tensor w, Tensor bias, Tensor out, int rows, int ka, int kb, int outDim) {
        if ((long) rows * outDim == 0) {
            return;
        }
        boolean inBf16 = a.dtype() == DType.BF16; // b is too (checked)
        if (!inBf16 && (!gemm.roundsOperands(w.dtype()) || ka == 0 || kb == 0)) {
            super.linearConcatKernel(a, b, w, bias, out, rows, ka, kb, outDim);
            return;
        }
        try (Staging st = staging()) {
            long pa = st.in(a), pb = st.in(b);
            if (inBf16 && out.dtype() == DType.F32
                    && gemm.multiplyConcat(pa, pb, st.in(w), w.dtype(), st.out(out), rows, ka, kb, outDim, bias == null ? 0 : st.in(bias))) {
                return;
            }
            linearOn(st, 0, false, gemm.joinRows(pa, pb, rows, ka, kb, inBf16), w, bias, out, rows, ka + kb, outDim, false);
        }
    }

    @Override
    protected void addKernel(Tensor a, Tensor b, Tensor out, long n) {
        if (n == 0) {
            return;
        }
        try (Staging st = staging()) {
            launch("add_f32", grid(n), 1, 1, BLOCK, 0, args().ptr(st.in(a)).ptr(st.in(b)).ptr(st.out(out)).i64(n));
        }
    }

    // ---- normalization and activations ---------------------------------------------------------------

    @Override
    protected void layerNormKernel(Tensor x, Tensor weight, Tensor bias, float eps, Tensor out, int rows, int dim) {
        if ((long) rows * dim == 0) {
            return;
        }
        try (Staging st = staging()) {
            long pw = weight == null ? 0 : st.in(weight), pb = weight == null || bias == null ? 0 : st.in(bias); // 0: no affine part
            if (dim >= 1024) { // long rows: a block per row
                long px = st.in(x), po = st.out(out);
                launch("layer_norm_block_f32", rows, 1, 1, BLOCK, 0, args().ptr(px).ptr(pw).ptr(pb).ptr(po).i32(dim).f32(eps)
                        .i32(vec4(dim, px) ? 1 : 0));
            } else {
                launch("layer_norm_f32", ceil(rows, BLOCK / 32), 1, 1, BLOCK, 0,
                        args().ptr(st.in(x)).ptr(pw).ptr(pb).ptr(st.out(out)).i64(rows).i32(dim).f32(eps));
            }
        }
    }

    @Override
    protected void rmsNormKernel(Tensor x, Tensor scale, float eps, Tensor out, int rows, int dim) {
        if ((long) rows * dim == 0) {
            return;
        }
        try (Staging st = staging()) {
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
        try (Staging st = staging()) {
            launchUnary(st.in(x), st.out(out), n, op);
        }
    }

    /** {@code unary_f32} over n device floats; op 1 (tanh GELU) runs in float math in bf16 precision. */
    private void launchUnary(long in, long out, long n, int op) {
        int code = op == 1 && precision == Precision.BF16 ? 2 : op;
        launch("unary_f32", grid(n), 1, 1, BLOCK, 0, args().ptr(in).ptr(out).i64(n).i32(code));
    }

    // ---- adaLN modulation ----------------------------------------------------------------------------

    @Override
    protected void modulateKernel(Tensor x, Tensor shift, Tensor scale, Tensor out, int batch, int tokens, int dim) {
        long n = (long) batch * tokens * dim;
        if (n == 0) {
            return;
        }
        try (Staging st = staging()) {
            long px = st.in(x), ps = st.in(shift), pc = st.in(scale), po = st.out(out);
            launch("modulate_f32", (long) batch * tokens, 1, 1, rowThreads(dim / 4), 0, args().ptr(px).ptr(ps).ptr(pc).ptr(po).i32(tokens)
                    .i32(dim).i32(vec4(dim, px, ps, pc, po) ? 1 : 0));
        }
    }

    @Override
    protected void layerNormModulateKernel(Tensor x, float eps, Tensor shift, Tensor scale, Tensor out, int batch, int tokens, int dim) {
        boolean outBf16 = out.dtype() == DType.BF16;
        if (dim < 1024 && !outBf16) { // short rows: the warp-per-row norm, then the modulation
            super.layerNormModulateKernel(x, eps, shift, scale, out, batch, tokens, dim);
            return;
        }
        long rows = (long) batch * tokens;
        if (rows == 0) {
            return;
        }
        try (Staging st = staging()) {
            long px = st.in(x), ps = st.in(shift), pc = st.in(scale), po = st.out(out);
            // vec4: float4 loads and 4-value stores (16 bytes of float32, 8 of bf16: out 16-byte aligned covers both)
            launch("layer_norm_modulate_block_f32", rows, 1, 1, BLOCK, 0, args().ptr(px).ptr(ps).ptr(pc).ptr(po).i32(tokens).i32(dim).f32(eps)
                    .i32(vec4(dim, px) ? 1 : 0).i32(vec4(dim, px, ps, pc, po) ? 1 : 0).i32(outBf16 ? 1 : 0));
        }
    }

    @Override
    protected void gatedResidualKernel(Tensor residual, Tensor gate, Tensor y, Tensor out, int batch, int tokens, int dim) {
        long n = (long) batch * tokens * dim;
        if (n == 0) {
            return;
        }
        try (Staging st = staging()) {
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
        try (Staging st = staging()) {
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
        try (Staging st = staging()) {
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
        try (Staging st = staging()) {
            launch("timestep_embedding_f32", grid(n), 1, 1, BLOCK, 0,
                    args().ptr(st.in(t)).ptr(st.floats(freqs)).ptr(st.out(out)).i32(dim).f32(timeFactor).i64(n));
        }
    }

    // ---- attention -----------------------------------------------------------------------------------

    @Override
    protected void attentionKernel(Tensor q, Tensor k, Tensor v, Tensor refK, Tensor refV, Tensor refKeyScale, Tensor out, int batch,
                                   int heads, int lq, int lk, int lr, int headDim, int refBatch, int refStart, int refTokens) {
        attention.attention(q, k, v, refK, refV, refKeyScale, out, batch, heads, lq, lk, lr, headDim, refBatch, refStart, refTokens);
    }

    /**
     * In {@code bf16} precision: BF16 activations in attention (cuDNN reads them where they are; shapes it has no engine for
     * are widened to float32 for our kernels), {@link #splitQkvNormRope} and {@link #layerNormModulate}'s output; in linear
     * layers where {@link #roundedActivationType} answers BF16 (not with {@code -Duntwist.gpu.bf16Activations=false}, which
     * makes models keep float32 activations).
     */
    @Override
    protected boolean takesBf16Activations() {
        return precision == Precision.BF16;
    }

    /**
     * Closes the cuDNN contexts that closed backends left for later ones: what the device holds for their finalized
     * attention plans comes back, and the next backend finalizes its plans again. For a process that is done with the
     * GPU backend but not with the device.
     */
    public static void closeIdleCudnnContexts() {
        CudnnContexts.closeIdle();
    }

    /** This backend's knobs and read-outs for benchmarks, profiles and tests (which paths ran, cuDNN's and cuBLASLt's choices). */
    public GpuDiagnostics diagnostics() {
        return new GpuDiagnostics(attention, gemm, stream, dev.label);
    }

    @Override
    protected void attentionProbsKernel(Tensor q, Tensor k, Tensor refK, Tensor refKeyScale, Tensor out, int batch, int heads, int lq,
                                        int lk, int lr, int headDim, int refBatch, int refStart, int refTokens) {
        long rows = (long) batch * heads * lq;
        if (rows == 0 || lk + lr == 0) {
            return;
        }
        try (Staging st = staging()) {
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
        try (Staging st = staging()) {
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
        try (Staging st = staging()) {
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
        try (Staging st = staging()) {
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
    protected void splitQkvNormRopeKernel(Tensor qkv, Tensor qScale, Tensor kScale, float eps, Tensor pe, Tensor q, Tensor k, Tensor v,
                                          int tokenOffset, int b, int h, int l, int lTot, int d, int peBatch) {
        long warps = 3L * b * l * h;
        if (warps == 0 || d == 0) {
            return;
        }
        if (qkv.dtype() == DType.BF16) {
            splitQkvNormRopeBf16(qkv, qScale, kScale, eps, pe, q, k, v, tokenOffset, h, l, lTot, d, peBatch, warps);
            return;
        }
        // Host tensors are staged into fresh (256-byte aligned) device copies; device views may sit anywhere.
        long misaligned = deviceAddress(qkv) | deviceAddress(qScale) | deviceAddress(kScale) | deviceAddress(q) | deviceAddress(k)
                | deviceAddress(v);
        if (d % 2 != 0 || (misaligned & 7) != 0 || (deviceAddress(pe) & 15) != 0 || warps > 0xFFFF_FFFFL) { // the three operations one by one
            super.splitQkvNormRopeKernel(qkv, qScale, kScale, eps, pe, q, k, v, tokenOffset, b, h, l, lTot, d, peBatch);
            return;
        }
        try (Staging st = staging()) {
            long pqkv = st.in(qkv), pqs = st.in(qScale), pks = st.in(kScale), pp = pe == null ? 0 : st.in(pe);
            long pq = st.out(q), pk = st.out(k), pv = st.out(v);
            // The row read once into registers where rows are whole 16-byte quads and at most 512 wide (FLUX's 128).
            boolean quads = d <= 512 && vec4(d, pqkv, pqs, pks, pq, pk, pv);
            launch(quads ? "split_qkv_norm_rope4_f32" : "split_qkv_norm_rope_f32", ceil(warps, BLOCK / 32), 1, 1, BLOCK, 0, args().ptr(pqkv)
                    .ptr(pqs).ptr(pks).ptr(pp).ptr(pq).ptr(pk).ptr(pv).i32(h).i32(l).i32(lTot).i32(d).i32(tokenOffset).i32(peBatch).f32(eps)
                    .i32((int) warps));
        }
    }

    /**
     * {@link #splitQkvNormRopeKernel} on BF16 qkv, q, k, v: one warp per row; rows of whole 8-byte quads at most 512 wide
     * (FLUX's 128) are read once into registers, others element by element at any alignment.
     */
    private void splitQkvNormRopeBf16(Tensor qkv, Tensor qScale, Tensor kScale, float eps, Tensor pe, Tensor q, Tensor k, Tensor v,
                                      int tokenOffset, int h, int l, int lTot, int d, int peBatch, long warps) {
        if (warps > 0xFFFF_FFFFL) {
            throw new UnsupportedOperationException("splitQkvNormRope on BF16: " + warps + " head rows exceed 2^32");
        }
        try (Staging st = staging()) {
            long pqkv = st.in(qkv), pqs = st.in(qScale), pks = st.in(kScale), pp = pe == null ? 0 : st.in(pe);
            long pq = st.out(q), pk = st.out(k), pv = st.out(v);
            boolean quads = d % 4 == 0 && d <= 512 && ((pqkv | pq | pk | pv) & 7) == 0 && ((pqs | pks | pp) & 15) == 0;
            launch(quads ? "split_qkv_norm_rope4_bf16" : "split_qkv_norm_rope_bf16", ceil(warps, BLOCK / 32), 1, 1, BLOCK, 0, args().ptr(pqkv)
                    .ptr(pqs).ptr(pks).ptr(pp).ptr(pq).ptr(pk).ptr(pv).i32(h).i32(l).i32(lTot).i32(d).i32(tokenOffset).i32(peBatch).f32(eps)
                    .i32((int) warps));
        }
    }

    /** A device tensor's address (alignment checks); 0 for a host tensor or null. */
    private static long deviceAddress(Tensor t) {
        return t != null && t.isDevice() ? GpuMemory.addressOf(t) : 0;
    }

    @Override
    protected void blockCopyKernel(List<Tensor> parts, Tensor whole, long outer, long inner, int ax, boolean intoWhole) {
        int esize = whole.dtype().byteSize();
        long innerElems = inner / esize;
        long wholeBlock = whole.dim(ax) * innerElems;
        if (outer > Integer.MAX_VALUE) {
            throw new IllegalArgumentException((intoWhole ? "concat" : "split") + ": " + outer + " rows exceed the kernel's 32-bit row index");
        }
        try (Staging st = staging()) {
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

    /** Device addresses for one operation's tensors; see {@link Staging}. */
    private Staging staging() {
        return new Staging(dev.label, stream);
    }

    private void launch(String kernel, long gridX, int gridY, int gridZ, int block, int smem, KernelLauncher.Args args) {
        launcher.launch(kernel, gridX, gridY, gridZ, block, smem, args);
    }

    private long grid(long n) {
        return launcher.grid(n);
    }

    private void requireOpen() {
        launcher.requireOpen();
    }

    @Override
    public void close() {
        if (launcher.isClosed()) {
            return;
        }
        launcher.close();
        try {
            CudaRuntime.streamSynchronizeQuietly(stream);
            scratchTensors.close();
            gemm.freeScratch();
            image.close();
            attention.close();
        } finally {
            gemm.close();
            CudaRuntime.streamDestroy(stream);
        }
        // where a run's first calls went, for benchmarks that turn on org.untwist.gpu's debug logging
        System.getLogger("org.untwist.gpu").log(System.Logger.Level.DEBUG, () -> "gpu backend closed; this process's " + CudnnSetupTotals.sinceStart());
    }

    // ---- text-encoder ops (issue 15): GpuTextOps, GpuAttention.masked --------------------------------

    @Override
    protected void multiplyKernel(Tensor a, Tensor b, Tensor out, long n) {
        text.multiply(a, b, out, n);
    }

    @Override
    protected void embeddingKernel(Tensor table, int[] ids, Tensor out, int rows, int dim) {
        text.embedding(table, ids, out, rows, dim);
    }

    @Override
    protected void quickGeluKernel(Tensor x, Tensor out, long n) {
        unary(x, out, n, 3);
    }

    @Override
    protected void splitHeadsKernel(Tensor x, Tensor out, int b, int h, int l, int d) {
        text.splitHeads(x, out, b, h, l, d);
    }

    @Override
    protected void maskedAttentionKernel(Tensor q, Tensor k, Tensor v, float scale, Tensor positionBias, boolean causal,
                                         Tensor out, int batch, int heads, int lq, int lk, int headDim) {
        attention.masked(q, k, v, scale, positionBias, causal, out, batch, heads, lq, lk, headDim);
    }

    // ---- autoencoder ops (issue 16): GpuImageOps ------------------------------------------------------

    @Override
    protected void affineKernel(Tensor x, float scale, float shift, Tensor out, long n) {
        image.affine(x, scale, shift, out, n);
    }

    /** im2col bands and cuBLAS GEMMs with linear's weight handling (in {@code bf16} precision 16-bit GEMMs): see {@link GpuImageOps}. */
    @Override
    protected void conv2dKernel(Tensor x, Tensor w, Tensor bias, Tensor out, int b, int cin, int h, int wIn, int cout, int kh, int kw,
                                int stride, int[] pad, int ho, int wo) {
        image.conv2d(x, w, bias, out, b, cin, h, wIn, cout, kh, kw, stride, pad, ho, wo);
    }

    @Override
    protected void groupNormKernel(Tensor x, int groups, Tensor weight, Tensor bias, float eps, Tensor out, int b, int c, long spatial) {
        image.groupNorm(x, groups, weight, bias, eps, out, b, c, spatial);
    }

    @Override
    protected void upsampleNearest2xKernel(Tensor x, Tensor out, long planes, int h, int w) {
        image.upsampleNearest2x(x, out, planes, h, w);
    }

    /** On the device (host tensors staged), not AbstractBackend's host copy, which cannot read device memory. */
    @Override
    protected void permuteKernel(Tensor x, int[] axes, Tensor out) {
        image.permute(x, axes, out);
    }
}
