package org.untwist.gpu;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.untwist.gpu.KernelLauncher.BLOCK;
import static org.untwist.gpu.KernelLauncher.args;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.untwist.gpu.GpuBackend.Precision;
import org.untwist.gpu.cuda.CublasApi;
import org.untwist.gpu.cuda.CublasApi.ComputeType;
import org.untwist.gpu.cuda.CublasApi.DataType;
import org.untwist.gpu.cuda.CublasApi.MathMode;
import org.untwist.gpu.cuda.CublasApi.Operation;
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
 */
final class CublasGemm implements AutoCloseable {
    /** Size of the float32 block that 16-bit weights are widened into in f32 precision. */
    private static final long WIDEN_CHUNK_BYTES = 64L << 20;

    private final Precision precision;
    private final KernelLauncher launcher;
    private final String device;
    private final Arena arena = Arena.ofShared(); // the GEMM scalars, freed on close
    private final MemorySegment handle;
    private final MemorySegment one, zero;
    private GpuMemory scratch; // widened weights or 16-bit activations, grown on demand
    private GpuMemory weightScratch; // bf16 blocks of F8, Q8_0 and Q4_K weights in bf16 precision, grown on demand

    /** @param device the device's label, for out-of-memory messages */
    CublasGemm(MemorySegment stream, Precision precision, boolean tf32, KernelLauncher launcher, String device) {
        this.precision = precision;
        this.launcher = launcher;
        this.device = device;
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
        MemorySegment beta = accumulate ? one : zero;
        // Row-major out[rows, outDim] = x[rows, in] · w[outDim, in]ᵀ is column-major outᵀ = wᵀ(as stored) · x:
        // cuBLAS m = outDim (a block of c of them), n = rows, k = in, A = w transposed (lda = in), B = x (ldb = in).
        withWeights(px, (long) rows * in, pw, weightType, outDim, in, (wb, wt, x, xt, o0, c) ->
                gemm(Operation.T, Operation.N, c, rows, in, wb, wt, Math.max(1, in), x, xt, Math.max(1, in), beta, po + (long) o0 * 4, outDim,
                        weightType));
    }

    /**
     * Row-major {@code out[outDim, cols] = w[outDim, in] · x[in, cols]} with out's rows {@code ldo} floats apart (the
     * GEMM of a convolution: x the im2col columns of a band of output pixels, out a band of every output channel's
     * plane), added to what {@code out} holds when {@code accumulate}. The weights are handled as in
     * {@link #multiply}; device addresses, {@code x} and {@code out} float32, {@code ldo >= cols}.
     */
    void multiplyColumns(long px, long pw, DType weightType, long po, int cols, int in, int outDim, int ldo, boolean accumulate) {
        MemorySegment beta = accumulate ? one : zero;
        // Column-major C[m = cols, n = c] at out + o0·ldo (ldc = ldo) = A[cols, in] · B[in, c]: A is x as stored
        // (element (p, k) at k·cols + p, lda = cols), B the weights as stored (element (k, j) at j·in + k, ldb = in).
        withWeights(px, (long) in * cols, pw, weightType, outDim, in, (wb, wt, x, xt, o0, c) ->
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
    private void withWeights(long px, long xElems, long pw, DType weightType, int outDim, int in, BlockGemm g) {
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
            long x16 = scratch(xElems * 2);
            if (xElems > 0) {
                launcher.launch("f32_to_bf16", launcher.grid(xElems), 1, 1, BLOCK, 0, args().ptr(px).ptr(x16).i64(xElems));
            }
            int chunk = (int) Math.max(1, Math.min(outDim, (WIDEN_CHUNK_BYTES / 2) / Math.max(1, in)));
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
            long x16 = scratch(xElems * 2);
            if (xElems > 0) {
                launcher.launch(bf ? "f32_to_bf16" : "f32_to_f16", launcher.grid(xElems), 1, 1, BLOCK, 0, args().ptr(px).ptr(x16).i64(xElems));
            }
            DataType type = bf ? DataType.BF16 : DataType.F16;
            g.run(pw, type, x16, type, 0, outDim);
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
        if (scratch == null || scratch.byteSize() < bytes) {
            if (scratch != null) {
                scratch.close(); // cudaFree waits for the GEMMs that used it
                scratch = null;
            }
            scratch = GpuMemory.allocate(Math.max(bytes, 1 << 20), device, "16-bit GEMM input scratch");
        }
        return scratch.address();
    }

    private long weightScratch(long bytes) {
        if (weightScratch == null || weightScratch.byteSize() < bytes) {
            if (weightScratch != null) {
                weightScratch.close();
                weightScratch = null;
            }
            weightScratch = GpuMemory.allocate(Math.max(bytes, 1 << 20), device, "F8/Q8_0/Q4_K weight widening scratch");
        }
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
    }

    /** Destroys the cuBLAS handle and frees the scalars; after {@link #freeScratch}. */
    @Override
    public void close() {
        CublasApi.destroy(handle);
        arena.close();
    }
}
