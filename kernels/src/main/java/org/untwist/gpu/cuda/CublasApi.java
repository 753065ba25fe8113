package org.untwist.gpu.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.untwist.ffm.CudaCheck;
import org.untwist.ffm.gen.cublas.Cublas;

/**
 * The cuBLAS calls the GPU backend makes: handle lifecycle and the two GEMMs, each status checked by
 * {@link CudaCheck}. Matrices are column-major device addresses, as cuBLAS takes them; {@code alpha} and
 * {@code beta} are host pointers to float32 scalars. Call only after {@link org.untwist.ffm.CudaLibraries}
 * has loaded cuBLAS.
 */
public final class CublasApi {
    private CublasApi() {
    }

    /** {@code cublasOperation_t}. */
    public enum Operation {
        N(Cublas.CUBLAS_OP_N()),
        T(Cublas.CUBLAS_OP_T());

        final int code;

        Operation(int code) {
            this.code = code;
        }
    }

    /** {@code cudaDataType}: the element types of GEMM operands. */
    public enum DataType {
        F32(Cublas.CUDA_R_32F()),
        F16(Cublas.CUDA_R_16F()),
        BF16(Cublas.CUDA_R_16BF());

        final int code;

        DataType(int code) {
            this.code = code;
        }
    }

    /** {@code cublasMath_t}: whether float32 GEMMs may run on TF32 tensor cores. */
    public enum MathMode {
        DEFAULT(Cublas.CUBLAS_DEFAULT_MATH()),
        TF32_TENSOR_OP(Cublas.CUBLAS_TF32_TENSOR_OP_MATH());

        final int code;

        MathMode(int code) {
            this.code = code;
        }
    }

    /** {@code cublasComputeType_t}. */
    public enum ComputeType {
        F32(Cublas.CUBLAS_COMPUTE_32F());

        final int code;

        ComputeType(int code) {
            this.code = code;
        }
    }

    /** {@code cublasCreate_v2}: a new handle. */
    public static MemorySegment create() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            CudaCheck.cublas(Cublas.cublasCreate_v2(p), "cublasCreate_v2");
            return p.get(ADDRESS, 0);
        }
    }

    /** {@code cublasDestroy_v2}, status ignored (close and clean-up paths). */
    public static void destroy(MemorySegment handle) {
        Cublas.cublasDestroy_v2(handle);
    }

    /** {@code cublasSetStream_v2}: the handle's calls run on {@code stream}. */
    public static void setStream(MemorySegment handle, MemorySegment stream) {
        CudaCheck.cublas(Cublas.cublasSetStream_v2(handle, stream), "cublasSetStream_v2");
    }

    /** {@code cublasSetMathMode}. */
    public static void setMathMode(MemorySegment handle, MathMode mode) {
        CudaCheck.cublas(Cublas.cublasSetMathMode(handle, mode.code), "cublasSetMathMode");
    }

    /** {@code cublasSgemm_v2}: {@code C = alpha · op(A) · op(B) + beta · C}, C m × n, op(A) m × k, all float32. */
    public static void sgemm(MemorySegment handle, Operation transA, Operation transB, int m, int n, int k, MemorySegment alpha, long a, int lda,
                             long b, int ldb, MemorySegment beta, long c, int ldc) {
        CudaCheck.cublas(Cublas.cublasSgemm_v2(handle, transA.code, transB.code, m, n, k, alpha, MemorySegment.ofAddress(a), lda,
                MemorySegment.ofAddress(b), ldb, beta, MemorySegment.ofAddress(c), ldc), "cublasSgemm_v2");
    }

    /**
     * {@code cublasGemmEx} with the default algorithm ({@code CUBLAS_GEMM_DEFAULT}): as {@link #sgemm} with the
     * operands' types given; a failure names the call {@code cublasGemmEx(what)}.
     */
    public static void gemmEx(MemorySegment handle, Operation transA, Operation transB, int m, int n, int k, MemorySegment alpha, long a,
                              DataType aType, int lda, long b, DataType bType, int ldb, MemorySegment beta, long c, DataType cType, int ldc,
                              ComputeType computeType, String what) {
        CudaCheck.cublas(Cublas.cublasGemmEx(handle, transA.code, transB.code, m, n, k, alpha, MemorySegment.ofAddress(a), aType.code, lda,
                MemorySegment.ofAddress(b), bType.code, ldb, beta, MemorySegment.ofAddress(c), cType.code, ldc, computeType.code,
                Cublas.CUBLAS_GEMM_DEFAULT()), "cublasGemmEx(" + what + ")");
    }
}
