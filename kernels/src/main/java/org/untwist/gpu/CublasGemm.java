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
 * F8_E4M3 weights: widened block by block like 16-bit ones in {@code f32} precision; in {@code bf16} precision
 * widened block by block to bf16 (exact: bf16 holds every e4m3 value) for the same bf16 GEMM, never as a whole.
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
    private GpuMemory weightScratch; // bf16 blocks of F8 weights in bf16 precision, grown on demand

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
        // cuBLAS m = outDim, n = rows, k = in, A = w transposed (lda = in), B = x (ldb = in).
        if (weightType == DType.F32) {
            sgemm(pw, px, po, rows, in, outDim, outDim, beta);
        } else if (precision == Precision.F32) {
            // Exact contract: float32 activations times the widened weights. The weights are widened a block
            // of output rows at a time into scratch (never as a whole), each block one float32 GEMM into its
            // columns of out.
            int chunk = (int) Math.max(1, Math.min(outDim, (WIDEN_CHUNK_BYTES / 4) / Math.max(1, in)));
            long wide = scratch((long) chunk * in * 4);
            String widen = switch (weightType) {
                case BF16 -> "bf16_to_f32";
                case F16 -> "f16_to_f32";
                default -> "f8e4m3_to_f32";
            };
            int wes = weightType.byteSize();
            for (int o0 = 0; o0 < outDim; o0 += chunk) {
                int c = Math.min(chunk, outDim - o0);
                long n = (long) c * in;
                if (n > 0) {
                    launcher.launch(widen, launcher.grid(n), 1, 1, BLOCK, 0, args().ptr(pw + (long) o0 * in * wes).ptr(wide).i64(n));
                }
                sgemm(wide, px, po + (long) o0 * 4, rows, in, c, outDim, beta);
            }
        } else if (weightType == DType.F8_E4M3) {
            long n = (long) rows * in;
            long x16 = scratch(n * 2);
            if (n > 0) {
                launcher.launch("f32_to_bf16", launcher.grid(n), 1, 1, BLOCK, 0, args().ptr(px).ptr(x16).i64(n));
            }
            int chunk = (int) Math.max(1, Math.min(outDim, (WIDEN_CHUNK_BYTES / 2) / Math.max(1, in)));
            long wide = weightScratch((long) chunk * in * 2);
            for (int o0 = 0; o0 < outDim; o0 += chunk) {
                int c = Math.min(chunk, outDim - o0);
                long cn = (long) c * in;
                if (cn > 0) {
                    launcher.launch("f8e4m3_to_bf16", launcher.grid(cn), 1, 1, BLOCK, 0, args().ptr(pw + (long) o0 * in).ptr(wide).i64(cn));
                }
                CublasApi.gemmEx(handle, Operation.T, Operation.N, c, rows, in, one, wide, DataType.BF16, Math.max(1, in), x16, DataType.BF16,
                        Math.max(1, in), beta, po + (long) o0 * 4, DataType.F32, outDim, ComputeType.F32, "F8_E4M3 (as bf16)");
            }
        } else {
            boolean bf = weightType == DType.BF16;
            long n = (long) rows * in;
            long x16 = scratch(n * 2);
            if (n > 0) {
                launcher.launch(bf ? "f32_to_bf16" : "f32_to_f16", launcher.grid(n), 1, 1, BLOCK, 0, args().ptr(px).ptr(x16).i64(n));
            }
            DataType type = bf ? DataType.BF16 : DataType.F16;
            CublasApi.gemmEx(handle, Operation.T, Operation.N, outDim, rows, in, one, pw, type, Math.max(1, in), x16, type, Math.max(1, in), beta,
                    po, DataType.F32, outDim, ComputeType.F32, String.valueOf(weightType));
        }
    }

    /** Column-major {@code C[m=outCols, n=rows] = Wᵀ · X}: out[r, o] for o in a block of {@code outCols} columns, row stride ldc. */
    private void sgemm(long pw, long px, long po, int rows, int in, int outCols, int ldc, MemorySegment beta) {
        CublasApi.sgemm(handle, Operation.T, Operation.N, outCols, rows, in, one, pw, Math.max(1, in), px, Math.max(1, in), beta, po, ldc);
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
            weightScratch = GpuMemory.allocate(Math.max(bytes, 1 << 20), device, "F8 weight widening scratch");
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
