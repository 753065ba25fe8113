package org.untwist.gpu;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.untwist.gpu.KernelLauncher.BLOCK;
import static org.untwist.gpu.KernelLauncher.args;
import static org.untwist.gpu.KernelLauncher.ceil;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Map;
import org.untwist.ffm.CudaException;
import org.untwist.gpu.GpuBackend.Precision;
import org.untwist.gpu.cuda.CublasApi;
import org.untwist.gpu.cuda.CublasApi.ComputeType;
import org.untwist.gpu.cuda.CublasApi.DataType;
import org.untwist.gpu.cuda.CublasApi.MathMode;
import org.untwist.gpu.cuda.CublasApi.Operation;
import org.untwist.gpu.cuda.CublasLtApi;
import org.untwist.gpu.cuda.CublasLtApi.Epilogue;
import org.untwist.gpu.cuda.CudaRuntime;
import org.untwist.tensor.DType;

/**
 * The GEMM of a linear layer through cuBLAS, with one handle per backend on the backend's stream. Float32
 * weights: one float32 GEMM (TF32 tensor cores only where the backend allows them). 16-bit weights in
 * {@code f32} precision: widened block by block and multiplied in float32; in {@code bf16} precision: the
 * activations rounded to the weights' type for one tensor-core GEMM with float32 accumulation and output.
 * F8_E4M3 and F8_E5M2 weights: widened block by block like 16-bit ones in {@code f32} precision; in {@code bf16}
 * precision widened block by block to bf16 (exact: bf16 holds every e4m3 and every e5m2 value) for the same bf16
 * GEMM with the activations rounded to bf16, never as a whole. (F8_E5M2 would widen to f16 exactly too, by a shift,
 * but the activations would then be rounded to f16, whose range FLUX's activations exceed; bf16 keeps it.)
 * Q8_0 and Q4_K weights (GGUF files): dequantized block by block like F8 ones, to float32 exactly as the scalar oracle
 * does in {@code f32} precision, rounded to bf16 in {@code bf16} precision (whose contract rounds operands to bf16).
 *
 * <p>In {@code bf16} precision a linear layer's GEMM goes through cuBLASLt where it has an algorithm for the shape
 * ({@link #multiplyWithEpilogue}): the bias and, for an MLP's input layer, the tanh GELU are applied by the GEMM's
 * epilogue as it writes the float32 output, instead of a bias pass before the GEMM (which then also reads the output
 * back, beta = 1) and a GELU pass after it.
 */
final class CublasGemm implements AutoCloseable {
    /** Size of the float32 block that 16-bit weights are widened into in f32 precision. */
    static final long WIDEN_CHUNK_BYTES = 64L << 20;
    /** cuBLASLt's workspace: what NVIDIA suggests for Hopper (32 MiB). */
    private static final long LT_WORKSPACE_BYTES = 32L << 20;
    /**
     * {@code true}: cuBLASLt's algorithm for each GEMM shape is chosen by timing up to {@link #AUTOTUNE_CANDIDATES} of
     * its heuristic's candidates on the first call's operands (as cuDNN's attention plans are), instead of taking the
     * heuristic's first. Off by default until timed on a device.
     */
    static final String AUTOTUNE_PROPERTY = "untwist.gpu.gemmAutotune";
    private static final int AUTOTUNE_CANDIDATES = 8, AUTOTUNE_RUNS = 3;
    /** At most this many cuBLASLt plans are kept (one per shape, epilogue and pointer alignments in use). */
    private static final int LT_PLANS = 256;

    private final Precision precision;
    private final KernelLauncher launcher;
    private final String device;
    private final Arena arena = Arena.ofShared(); // the GEMM scalars, freed on close
    private final MemorySegment handle;
    private final MemorySegment one, zero;
    private GpuMemory scratch; // widened weights or 16-bit activations, grown on demand
    private GpuMemory weightScratch; // bf16 blocks of F8, Q8_0 and Q4_K weights in bf16 precision, grown on demand
    private GpuMemory biasScratch; // a bias rounded to bf16 for a GEMM with a bf16 output, grown on demand
    private final MemorySegment stream;
    private MemorySegment ltHandle; // created on first use; NULL after a failed create (then no epilogue GEMMs)
    private boolean ltFailed;
    private GpuMemory ltWorkspace;
    private long epilogueGemms; // how many linear layers ran with the fused epilogue (tests check the path ran)
    private boolean autotune = Boolean.getBoolean(AUTOTUNE_PROPERTY);
    private long autotuned;
    private MemorySegment tuneStart, tuneEnd; // CUDA events timing the candidates, made on first use
    private long unjoinedConcats; // linearConcat calls that ran as two GEMMs over column blocks (tests check the path ran)
    /** Plans by shape; a null value: cuBLASLt has no algorithm for that key (asked once). */
    private final Map<PlanKey, CublasLtApi.Plan> plans = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<PlanKey, CublasLtApi.Plan> eldest) {
            if (size() <= LT_PLANS) {
                return false;
            }
            if (eldest.getValue() != null) {
                eldest.getValue().close(); // host descriptors only: GEMMs already enqueued with it are unaffected
            }
            return true;
        }
    };

    private record PlanKey(int m, int n, int k, DataType ab, DataType d, int lda, int ldb, int ldd, Epilogue epilogue, int alignA, int alignB,
                           int alignD, int alignBias) {
    }

    /** @param device the device's label, for out-of-memory messages */
    CublasGemm(MemorySegment stream, Precision precision, boolean tf32, KernelLauncher launcher, String device) {
        this.precision = precision;
        this.launcher = launcher;
        this.device = device;
        this.stream = stream;
        MemorySegment h = MemorySegment.NULL;
        try {
            h = CublasApi.create();
            CublasApi.setStream(h, stream);
            CublasApi.setMathMode(h, tf32 ? MathMode.TF32_TENSOR_OP : MathMode.DEFAULT);
        } catch (RuntimeException e) {
            if (h.address() != 0) {
                CublasApi.destroy(h);
            }
            arena.close();
            throw e;
        }
        this.handle = h;
        this.one = arena.allocateFrom(JAVA_FLOAT, 1f);
        this.zero = arena.allocateFrom(JAVA_FLOAT, 0f);
    }

    /**
     * Row-major {@code out[rows, outDim] = x[rows, in] · w[outDim, in]ᵀ}, added to what {@code out} holds when
     * {@code accumulate} (the bias, written there first). Device addresses; {@code x} and {@code out} float32.
     */
    void multiply(long px, long pw, DType weightType, long po, int rows, int in, int outDim, boolean accumulate) {
        multiply(px, null, pw, weightType, po, rows, in, outDim, accumulate);
    }

    /**
     * {@link #multiply} with the activations written into the GEMM's 16-bit operand by {@code rounding} instead of
     * rounded from {@code px} ({@code bf16} precision and 16-bit, 8-bit or block-quantized weights only, where the GEMM
     * takes a rounded operand; {@code px} then unused).
     */
    void multiply(long px, Rounding rounding, long pw, DType weightType, long po, int rows, int in, int outDim, boolean accumulate) {
        multiply(px, false, rounding, pw, weightType, po, rows, in, outDim, accumulate);
    }

    /** {@link #multiply} on activations at {@code px} that are bf16 already where {@code xBf16} ({@link #takesBf16(DType)} weights). */
    void multiply(long px, boolean xBf16, Rounding rounding, long pw, DType weightType, long po, int rows, int in, int outDim, boolean accumulate) {
        MemorySegment beta = accumulate ? one : zero;
        // Row-major out[rows, outDim] = x[rows, in] · w[outDim, in]ᵀ is column-major outᵀ = wᵀ(as stored) · x:
        // cuBLAS m = outDim (a block of c of them), n = rows, k = in, A = w transposed (lda = in), B = x (ldb = in).
        withWeights(px, xBf16, rounding, (long) rows * in, pw, weightType, outDim, in, (wb, wt, x, xt, o0, c) ->
                gemm(Operation.T, Operation.N, c, rows, in, wb, wt, Math.max(1, in), x, xt, Math.max(1, in), beta, po + (long) o0 * 4, outDim,
                        weightType));
    }

    /** Writes a GEMM's activations, rounded to bf16 ({@code bf16}) or f16, as {@code [rows, in]} at the device address {@code dst}. */
    @FunctionalInterface
    interface Rounding {
        void write(long dst, boolean bf16);
    }

    /** Whether {@link #multiply(long, Rounding, long, DType, long, int, int, int, boolean)} can take a {@link Rounding} for these weights. */
    boolean roundsOperands(DType weightType) {
        return precision == Precision.BF16 && weightType != DType.F32;
    }

    /**
     * Whether the GEMM over these weights takes a bf16 operand (bf16 precision and BF16, 8-bit or block-quantized weights):
     * then activations that are bf16 already are read as they are, and {@link #multiplyWithEpilogue} may write bf16.
     */
    boolean takesBf16(DType weightType) {
        return precision == Precision.BF16 && (weightType == DType.BF16 || widensToBf16(weightType));
    }

    /** Bf16 activations (in or out) are for GEMMs that {@link #takesBf16} over these weights; a caller error otherwise. */
    private void requireBf16Operand(DType weightType) {
        if (!takesBf16(weightType)) {
            throw new IllegalStateException("bf16 activations need a bf16 GEMM operand, got " + precision + " precision and " + weightType
                    + " weights");
        }
    }

    /**
     * {@code bf16} precision: row-major {@code out[rows, outDim] = x · wᵀ (+ bias) (then tanh GELU)} with the bias and the
     * GELU in a cuBLASLt epilogue, the weights handled as in {@link #multiply}. Returns false, having done nothing,
     * where this does not apply: {@code f32} precision, float32 weights, {@code in == 0}, or no cuBLASLt algorithm for
     * the shape; the caller then writes the bias, calls {@link #multiply} and applies the GELU itself.
     *
     * @param bias device address of {@code outDim} float32 values, 0 for none
     */
    boolean multiplyWithEpilogue(long px, long pw, DType weightType, long po, int rows, int in, int outDim, long bias, boolean gelu) {
        return multiplyWithEpilogue(px, null, pw, weightType, po, rows, in, outDim, bias, gelu);
    }

    /** {@link #multiplyWithEpilogue} with the activations written by {@code rounding}, as in {@link #multiply(long, Rounding, long, DType, long, int, int, int, boolean)}. */
    boolean multiplyWithEpilogue(long px, Rounding rounding, long pw, DType weightType, long po, int rows, int in, int outDim, long bias,
                                 boolean gelu) {
        return multiplyWithEpilogue(px, false, rounding, pw, weightType, po, false, rows, in, outDim, bias, gelu);
    }

    /**
     * {@link #multiplyWithEpilogue} with bf16 activations at {@code px} where {@code xBf16}, and a bf16 output where
     * {@code outBf16} (the float32 result, bias and GELU included, rounded once as the tile is written; the bias is
     * rounded to bf16 first, cuBLASLt's bias type for a bf16 output): both only for {@link #takesBf16} weights.
     */
    boolean multiplyWithEpilogue(long px, boolean xBf16, Rounding rounding, long pw, DType weightType, long po, boolean outBf16, int rows, int in,
                                 int outDim, long bias, boolean gelu) {
        if (xBf16 || outBf16) {
            requireBf16Operand(weightType);
        }
        if (precision == Precision.F32 || weightType == DType.F32 || in == 0 || rows == 0 || outDim == 0 || !ltReady()) {
            return false;
        }
        Epilogue epilogue = Epilogue.of(bias != 0, gelu);
        DataType ab = weightType == DType.F16 ? DataType.F16 : DataType.BF16;
        DataType dt = outBf16 ? DataType.BF16 : DataType.F32;
        int outBytes = outBf16 ? 2 : 4;
        int block = blockRows(weightType, outDim, in);
        long pb = bias == 0 || !outBf16 ? bias : biasScratch(outDim); // a fresh allocation: 256-byte aligned
        // Every block size the call will use needs a plan, before anything is launched: all or nothing.
        // A is the widening scratch (a fresh device allocation: 256-byte aligned) or the weights at the block's offset;
        // B the activations (their scratch, or where they are when bf16 already); out and bias at the blocks' starts.
        for (int o0 = 0; o0 < outDim; o0 += block) {
            int c = Math.min(block, outDim - o0);
            long a = widensToBf16(weightType) ? 256 : pw + (long) o0 * in * 2;
            if (plan(c, rows, in, ab, dt, outDim, epilogue, a, xBf16 ? px : 256, po + (long) o0 * outBytes,
                    pb == 0 ? 0 : pb + (long) o0 * outBytes) == null) {
                return false;
            }
        }
        if (outBf16 && bias != 0) {
            launcher.launch("f32_to_bf16", launcher.grid(outDim), 1, 1, BLOCK, 0, args().ptr(bias).ptr(pb).i64(outDim));
        }
        withWeights(px, xBf16, rounding, (long) rows * in, pw, weightType, outDim, in, (wb, wt, x, xt, o0, c) -> {
            long d = po + (long) o0 * outBytes, b = pb == 0 ? 0 : pb + (long) o0 * outBytes;
            CublasLtApi.Plan p = plan(c, rows, in, ab, dt, outDim, epilogue, wb, x, d, b);
            matmul(p, wb, x, d, b, widensToBf16(weightType) ? weightType + " (as bf16)" : String.valueOf(weightType));
        });
        epilogueGemms++;
        return true;
    }

    /**
     * {@code bf16} precision, BF16 weights, bf16 activations {@code a [rows, ka]} and {@code b [rows, kb]} where they are:
     * row-major float32 {@code out[rows, outDim] = [a, b] · wᵀ + bias} as two GEMMs over the weights' column blocks
     * ({@code lda = ka + kb}), with no joined copy of the inputs: cuBLASLt writes {@code a · waᵀ + bias} through its
     * bias epilogue, then cuBLAS adds {@code b · wbᵀ} (beta = 1). The joined GEMM's sums up to the order of float32
     * additions. Returns false, having done nothing, where this does not apply or cuBLASLt has no algorithm for the first.
     *
     * @param bias device address of {@code outDim} float32 values, 0 for none
     */
    boolean multiplyConcat(long pa, long pb, long pw, DType weightType, long po, int rows, int ka, int kb, int outDim, long bias) {
        if (precision != Precision.BF16 || weightType != DType.BF16 || ka == 0 || kb == 0 || rows == 0 || outDim == 0 || !ltReady()) {
            return false;
        }
        int in = ka + kb;
        CublasLtApi.Plan first = plan(outDim, rows, ka, DataType.BF16, DataType.F32, in, ka, outDim, Epilogue.of(bias != 0, false), pw, pa, po,
                bias);
        if (first == null) {
            return false;
        }
        // Column-major: the weights as stored are [in, outDim] (lda = in); their columns [ka, in) of a row start ka values in.
        matmul(first, pw, pa, po, bias, "BF16, first column block");
        gemm(Operation.T, Operation.N, outDim, rows, kb, pw + (long) ka * 2, DataType.BF16, in, pb, DataType.BF16, kb, one, po, outDim, weightType);
        epilogueGemms++;
        unjoinedConcats++;
        return true;
    }

    /**
     * linearConcat's operand rows {@code [a, b]} joined at the GEMM's operand address: float32 inputs rounded to bf16 or
     * f16 as the GEMM asks, bf16 inputs ({@code inBf16}) copied; four values at a time where rows and addresses allow.
     */
    Rounding joinRows(long pa, long pb, int rows, int ka, int kb, boolean inBf16) {
        return (dst, bf16) -> {
            boolean quads = ka % 4 == 0 && kb % 4 == 0 && ((pa | pb) & (inBf16 ? 7 : 15)) == 0 && (dst & 7) == 0;
            for (int r0 = 0; r0 < rows; r0 += 65535) { // grid y holds at most 65535 rows per launch
                int cnt = Math.min(65535, rows - r0);
                launcher.launch(inBf16 ? "join_rows_bf16" : "join_rows_16", (int) Math.min(ceil((ka + kb) / (quads ? 4 : 1), BLOCK), 64), cnt, 1,
                        BLOCK, 0, args().ptr(pa).ptr(pb).ptr(dst).i32(ka).i32(kb).i32(r0).i32(bf16 ? 1 : 0).i32(quads ? 1 : 0));
            }
        };
    }

    /** How many linear layers ran through {@link #multiplyWithEpilogue} (tests check that the fused path ran). */
    long epilogueGemms() {
        return epilogueGemms;
    }

    /**
     * Rows of weights per GEMM: all of them, or blocks that fit the widening scratch for 8-bit and block-quantized
     * weights in bf16 precision, a multiple of 8 rows so that every block's bias and output columns start 16-byte
     * aligned for a bf16 output as for a float32 one (cuBLASLt may have no algorithm for less).
     */
    static int blockRows(DType weightType, int outDim, int in) {
        if (!widensToBf16(weightType)) {
            return outDim;
        }
        long fit = (WIDEN_CHUNK_BYTES / 2) / Math.max(1, in);
        return fit >= outDim ? outDim : (int) Math.max(1, fit >= 8 ? fit & ~7L : fit);
    }

    /**
     * The plan of one block: column-major D[m = c, n = rows] = wᵀ(as stored, transposed) · x, lda = ldb = in, ldd =
     * outDim; cached by shape and the alignments of the pointers it is used with.
     */
    private CublasLtApi.Plan plan(int c, int rows, int in, DataType ab, DataType dt, int ldd, Epilogue epilogue, long a, long b, long d,
                                  long bias) {
        return plan(c, rows, in, ab, dt, in, in, ldd, epilogue, a, b, d, bias);
    }

    /** {@link #plan} with the weights' and activations' leading dimensions given (a block of the weights' columns). */
    private CublasLtApi.Plan plan(int c, int rows, int in, DataType ab, DataType dt, int lda, int ldb, int ldd, Epilogue epilogue, long a, long b,
                                  long d, long bias) {
        PlanKey key = new PlanKey(c, rows, in, ab, dt, lda, ldb, ldd, epilogue, alignment(a), alignment(b), alignment(d),
                bias == 0 ? 0 : alignment(bias));
        if (plans.containsKey(key)) {
            return plans.get(key);
        }
        CublasLtApi.Plan p = CublasLtApi.plan(ltHandle, Operation.T, Operation.N, c, rows, in, ab, lda, ldb, dt, ldd, epilogue,
                bias, key.alignA(), key.alignB(), key.alignD(), LT_WORKSPACE_BYTES, autotune ? AUTOTUNE_CANDIDATES : 1);
        plans.put(key, p);
        return p;
    }

    /**
     * {@code cublasLtMatmul} with the plan (beta 0). With autotuning on, a plan's first call times each of its candidate
     * algorithms on these operands first (one warm-up, then {@link #AUTOTUNE_RUNS} calls between two CUDA events; beta 0,
     * so the repeated calls write the same output) and keeps the fastest; a candidate whose call returns an error status is
     * skipped.
     */
    private void matmul(CublasLtApi.Plan p, long a, long b, long d, long bias, String what) {
        if (autotune && !p.tuned() && p.candidates() > 1) {
            if (tuneStart == null) {
                tuneStart = CudaRuntime.createTimingEvent();
                tuneEnd = CudaRuntime.createTimingEvent();
            }
            double best = Double.POSITIVE_INFINITY;
            int fastest = -1;
            for (int i = 0; i < p.candidates(); i++) {
                p.choose(i);
                try { // a status the call returns (an algorithm this shape cannot run): that candidate is skipped
                    ltMatmul(p, a, b, d, bias, what);
                } catch (CudaException e) {
                    System.getLogger("org.untwist.gpu").log(System.Logger.Level.DEBUG, "cuBLASLt candidate " + i + " for " + what + ": " + e.getMessage());
                    continue;
                }
                // Device time between two events (a fault on the device surfaces here and is not caught)
                CudaRuntime.eventRecord(tuneStart, stream);
                for (int r = 0; r < AUTOTUNE_RUNS; r++) {
                    ltMatmul(p, a, b, d, bias, what);
                }
                CudaRuntime.eventRecord(tuneEnd, stream);
                double ms = CudaRuntime.eventElapsedMillis(tuneStart, tuneEnd);
                if (ms < best) {
                    best = ms;
                    fastest = i;
                }
            }
            if (fastest < 0) {
                System.getLogger("org.untwist.gpu").log(System.Logger.Level.WARNING, "no cuBLASLt candidate ran for " + what + " while autotuning");
            }
            p.choose(Math.max(0, fastest));
            autotuned++;
        }
        ltMatmul(p, a, b, d, bias, what);
    }

    /** One {@code cublasLtMatmul} with the plan's chosen algorithm, beta 0, on the backend's workspace and stream. */
    private void ltMatmul(CublasLtApi.Plan p, long a, long b, long d, long bias, String what) {
        CublasLtApi.matmul(ltHandle, p, one, zero, a, b, d, bias, ltWorkspace.address(), ltWorkspace.byteSize(), stream, what);
    }

    /**
     * Autotuning of cuBLASLt's algorithms on or off from now on (plans made so far are dropped, so each is made again
     * with the candidates it needs); off by default, {@code -Duntwist.gpu.gemmAutotune=true} turns it on.
     */
    void autotune(boolean on) {
        if (on != autotune) {
            autotune = on;
            dropPlans();
        }
    }

    /** Closes every cuBLASLt plan (host descriptors only: GEMMs already enqueued are unaffected) and forgets them. */
    private void dropPlans() {
        for (CublasLtApi.Plan p : plans.values()) {
            if (p != null) {
                p.close();
            }
        }
        plans.clear();
    }

    /** How many linearConcat calls ran as two GEMMs over the weights' column blocks ({@link #multiplyConcat}). */
    long unjoinedConcats() {
        return unjoinedConcats;
    }

    /** How many plans were tuned by timing their candidates (tests and benchmarks check that tuning ran). */
    long autotuned() {
        return autotuned;
    }

    /** The largest power of two (at most 256) that divides a device address. */
    private static int alignment(long address) {
        return address == 0 ? 256 : (int) Math.min(256, Long.lowestOneBit(address));
    }

    /** Creates the cuBLASLt handle and workspace on first use; false (and never again tried) if that fails. */
    private boolean ltReady() {
        if (ltHandle != null) {
            return true;
        }
        if (ltFailed) {
            return false;
        }
        try {
            ltWorkspace = GpuMemory.allocate(LT_WORKSPACE_BYTES, device, "cuBLASLt workspace");
            ltHandle = CublasLtApi.create();
            return true;
        } catch (RuntimeException e) {
            ltFailed = true;
            if (ltWorkspace != null) {
                ltWorkspace.close();
                ltWorkspace = null;
            }
            System.getLogger("org.untwist.gpu").log(System.Logger.Level.WARNING,
                    "cuBLASLt unavailable, linear layers keep a separate bias and GELU pass: " + e.getMessage());
            return false;
        }
    }

    /**
     * Row-major {@code out[outDim, cols] = w[outDim, in] · x[in, cols]} with out's rows {@code ldo} floats apart (the
     * GEMM of a convolution: x the im2col columns of a band of output pixels, out a band of every output channel's
     * plane), added to what {@code out} holds when {@code accumulate}. The weights are handled as in
     * {@link #multiply}; device addresses, {@code x} and {@code out} float32, {@code ldo >= cols}. With a
     * {@code rounding} (only where {@link #roundsOperands} these weights) the 16-bit columns are written by it and
     * {@code px} is unused.
     */
    void multiplyColumns(long px, Rounding rounding, long pw, DType weightType, long po, int cols, int in, int outDim, int ldo, boolean accumulate) {
        MemorySegment beta = accumulate ? one : zero;
        // Column-major C[m = cols, n = c] at out + o0·ldo (ldc = ldo) = A[cols, in] · B[in, c]: A is x as stored
        // (element (p, k) at k·cols + p, lda = cols), B the weights as stored (element (k, j) at j·in + k, ldb = in).
        withWeights(px, false, rounding, (long) in * cols, pw, weightType, outDim, in, (wb, wt, x, xt, o0, c) ->
                gemm(Operation.N, Operation.N, cols, c, in, x, xt, Math.max(1, cols), wb, wt, Math.max(1, in), beta, po + (long) o0 * ldo * 4, ldo,
                        weightType));
    }

    /**
     * Column-major float32 {@code C = op(A) · op(B)} (beta 0) on device addresses, {@code cublasSgemm} (TF32 only where
     * the handle's math mode allows it): the two products of {@link GpuAttention}'s wide-head path.
     */
    void sgemm(boolean transA, boolean transB, int m, int n, int k, long a, int lda, long b, int ldb, long c, int ldc) {
        CublasApi.sgemm(handle, transA ? Operation.T : Operation.N, transB ? Operation.T : Operation.N, m, n, k, one, a, lda, b, ldb, zero, c,
                ldc);
    }

    /** One GEMM over the weights of output rows {@code [o0, o0 + c)} at {@code w} (type wt) and the activations at {@code x} (type xt). */
    @FunctionalInterface
    private interface BlockGemm {
        void run(long w, DataType wt, long x, DataType xt, int o0, int c);
    }

    /**
     * The weight handling shared by {@link #multiply} and {@link #multiplyColumns}: hands {@code g} the weights and
     * activations (x: {@code xElems} contiguous float32 values) in the types the GEMM takes, block by block where the
     * weights are widened.
     */
    private void withWeights(long px, boolean xBf16, Rounding rounding, long xElems, long pw, DType weightType, int outDim, int in, BlockGemm g) {
        if (rounding != null && !roundsOperands(weightType)) {
            throw new IllegalStateException("a rounding of the activations needs bf16 precision and non-float32 weights, got " + precision + " and "
                    + weightType);
        }
        if (xBf16) {
            requireBf16Operand(weightType);
        }
        if (weightType == DType.F32) {
            g.run(pw, DataType.F32, px, DataType.F32, 0, outDim);
        } else if (precision == Precision.F32) {
            // Exact contract: float32 activations times the widened weights. The weights are widened a block
            // of output rows at a time into scratch (never as a whole), each block one float32 GEMM into its
            // rows (columns) of out.
            int chunk = (int) Math.max(1, Math.min(outDim, (WIDEN_CHUNK_BYTES / 4) / Math.max(1, in)));
            long wide = scratch((long) chunk * in * 4);
            String widen = switch (weightType) {
                case BF16 -> "bf16_to_f32";
                case F16 -> "f16_to_f32";
                case F8_E4M3 -> "f8e4m3_to_f32";
                case F8_E5M2 -> "f8e5m2_to_f32";
                case Q8_0 -> "q8_0_to_f32";
                case Q4_K -> "q4k_to_f32";
                default -> throw new IllegalArgumentException("linear: weights of type " + weightType + " are not a weight type");
            };
            for (int o0 = 0; o0 < outDim; o0 += chunk) {
                int c = Math.min(chunk, outDim - o0);
                long n = (long) c * in;
                if (n > 0) { // rows of block-quantized weights are whole blocks: row o0 starts at a block
                    launcher.launch(widen, launcher.grid(n), 1, 1, BLOCK, 0, args().ptr(pw + weightType.byteSize((long) o0 * in)).ptr(wide).i64(n));
                }
                g.run(wide, DataType.F32, px, DataType.F32, o0, c);
            }
        } else if (widensToBf16(weightType)) {
            String widen = switch (weightType) {
                case F8_E4M3 -> "f8e4m3_to_bf16";
                case F8_E5M2 -> "f8e5m2_to_bf16";
                case Q8_0 -> "q8_0_to_bf16";
                default -> "q4k_to_bf16";
            };
            long x16 = xBf16 ? px : scratch(xElems * 2);
            if (xElems > 0 && !xBf16) {
                round(px, rounding, x16, xElems, true);
            }
            int chunk = blockRows(weightType, outDim, in);
            long wide = weightScratch((long) chunk * in * 2);
            for (int o0 = 0; o0 < outDim; o0 += chunk) {
                int c = Math.min(chunk, outDim - o0);
                long cn = (long) c * in;
                if (cn > 0) {
                    launcher.launch(widen, launcher.grid(cn), 1, 1, BLOCK, 0, args().ptr(pw + weightType.byteSize((long) o0 * in)).ptr(wide).i64(cn));
                }
                g.run(wide, DataType.BF16, x16, DataType.BF16, o0, c);
            }
        } else {
            boolean bf = weightType == DType.BF16;
            long x16 = xBf16 ? px : scratch(xElems * 2);
            if (xElems > 0 && !xBf16) {
                round(px, rounding, x16, xElems, bf);
            }
            DataType type = bf ? DataType.BF16 : DataType.F16;
            g.run(pw, type, x16, type, 0, outDim);
        }
    }

    /** The activations as the GEMM's 16-bit operand at x16: written by {@code rounding}, or {@code px}'s floats rounded. */
    private void round(long px, Rounding rounding, long x16, long xElems, boolean bf16) {
        if (rounding != null) {
            rounding.write(x16, bf16);
        } else if (xElems % 4 == 0 && (px & 15) == 0 && (x16 & 7) == 0) { // four at a time
            launcher.launch("f32_to_16_x4", launcher.grid(xElems / 4), 1, 1, BLOCK, 0, args().ptr(px).ptr(x16).i64(xElems / 4).i32(bf16 ? 1 : 0));
        } else {
            launcher.launch(bf16 ? "f32_to_bf16" : "f32_to_f16", launcher.grid(xElems), 1, 1, BLOCK, 0, args().ptr(px).ptr(x16).i64(xElems));
        }
    }

    /**
     * Column-major {@code C = op(A) · op(B) + beta · C} (float32 C, float32 accumulation): float32 operands through
     * {@code cublasSgemm} (TF32 only where the handle's math mode allows it), 16-bit ones through {@code cublasGemmEx}.
     */
    private void gemm(Operation ta, Operation tb, int m, int n, int k, long a, DataType at, int lda, long b, DataType bt, int ldb,
                      MemorySegment beta, long c, int ldc, DType weightType) {
        if (at == DataType.F32 && bt == DataType.F32) {
            CublasApi.sgemm(handle, ta, tb, m, n, k, one, a, lda, b, ldb, beta, c, ldc);
        } else {
            CublasApi.gemmEx(handle, ta, tb, m, n, k, one, a, at, lda, b, bt, ldb, beta, c, DataType.F32, ldc, ComputeType.F32,
                    widensToBf16(weightType) ? weightType + " (as bf16)" : String.valueOf(weightType));
        }
    }

    /** The weight types that bf16 precision widens block by block to bf16 for its GEMM (8-bit floats and block-quantized types). */
    private static boolean widensToBf16(DType t) {
        return t == DType.F8_E4M3 || t == DType.F8_E5M2 || t.isBlockQuantized();
    }

    private long scratch(long bytes) {
        scratch = GpuMemory.atLeast(scratch, bytes, 1 << 20, device, "16-bit GEMM input scratch");
        return scratch.address();
    }

    /** Room for {@code n} bf16 bias values (256-byte aligned: a device allocation of its own). */
    private long biasScratch(int n) {
        biasScratch = GpuMemory.atLeast(biasScratch, 2L * n, 64 << 10, device, "bf16 bias scratch");
        return biasScratch.address();
    }

    private long weightScratch(long bytes) {
        weightScratch = GpuMemory.atLeast(weightScratch, bytes, 1 << 20, device, "F8/Q8_0/Q4_K weight widening scratch");
        return weightScratch.address();
    }

    /** Frees the scratch buffers (the backend does this first on close, before its attention buffers). */
    void freeScratch() {
        if (scratch != null) {
            scratch.close();
        }
        if (weightScratch != null) {
            weightScratch.close();
        }
        if (biasScratch != null) {
            biasScratch.close();
        }
        if (ltWorkspace != null) {
            ltWorkspace.close();
        }
    }

    /** Destroys the cuBLAS handle and frees the scalars; after {@link #freeScratch}. */
    @Override
    public void close() {
        dropPlans();
        if (tuneStart != null) {
            CudaRuntime.eventDestroy(tuneStart);
            CudaRuntime.eventDestroy(tuneEnd);
        }
        if (ltHandle != null) {
            CublasLtApi.destroy(ltHandle);
        }
        CublasApi.destroy(handle);
        arena.close();
    }
}
