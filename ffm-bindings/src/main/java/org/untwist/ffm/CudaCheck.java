package org.untwist.ffm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.untwist.ffm.gen.cublas.Cublas;
import org.untwist.ffm.gen.cuda.CudaDriver;
import org.untwist.ffm.gen.cudart.Cudart;
import org.untwist.ffm.gen.cudnn.Cudnn;
import org.untwist.ffm.gen.nvrtc.Nvrtc;

/**
 * Status checks at the FFM boundary: every status a CUDA library returns goes through one of these, which
 * throws a {@link CudaException} with the status's name and the library's message. Call only after
 * {@link CudaLibraries} has loaded the library (the name and message come from the library itself).
 *
 * <pre>{@code
 * CudaCheck.cudart(Cudart.cudaMalloc(ptr, bytes), "cudaMalloc");
 * CudaCheck.cublas(Cublas.cublasGemmEx(...), "cublasGemmEx");
 * }</pre>
 */
public final class CudaCheck {
    private static final long MAX_STRING = 4096;

    private CudaCheck() {
    }

    /** Checks a {@code cudaError_t}; {@code cudaSuccess} is 0. */
    public static void cudart(int status, String call) {
        if (status != 0) {
            throw cudartException(status, call);
        }
    }

    /** Checks a driver API {@code CUresult}; {@code CUDA_SUCCESS} is 0. */
    public static void driver(int status, String call) {
        if (status != 0) {
            throw driverException(status, call);
        }
    }

    /** Checks a {@code cublasStatus_t}; {@code CUBLAS_STATUS_SUCCESS} is 0. */
    public static void cublas(int status, String call) {
        if (status != 0) {
            throw cublasException(status, call);
        }
    }

    /** Checks a {@code cudnnStatus_t}; {@code CUDNN_STATUS_SUCCESS} is 0. */
    public static void cudnn(int status, String call) {
        if (status != 0) {
            throw cudnnException(status, call);
        }
    }

    /** Checks an {@code nvrtcResult}; {@code NVRTC_SUCCESS} is 0. */
    public static void nvrtc(int status, String call) {
        if (status != 0) {
            throw nvrtcException(status, call);
        }
    }

    /** Dispatches to the check of {@code library}. */
    public static void check(CudaLibrary library, int status, String call) {
        switch (library) {
            case CUDART -> cudart(status, call);
            case CUDA_DRIVER -> driver(status, call);
            case CUBLAS, CUBLAS_LT -> cublas(status, call);
            case CUDNN -> cudnn(status, call);
            case NVRTC -> nvrtc(status, call);
        }
    }

    static CudaException cudartException(int status, String call) {
        String name = safe(() -> string(Cudart.cudaGetErrorName(status)));
        String message = safe(() -> string(Cudart.cudaGetErrorString(status)));
        return new CudaException(CudaLibrary.CUDART, call, status, orCode(name, status), message);
    }

    static CudaException driverException(int status, String call) {
        String name = safe(() -> driverString(status, true));
        String message = safe(() -> driverString(status, false));
        return new CudaException(CudaLibrary.CUDA_DRIVER, call, status, orCode(name, status), message);
    }

    static CudaException cublasException(int status, String call) {
        String name = safe(() -> string(Cublas.cublasGetStatusName(status)));
        String message = safe(() -> string(Cublas.cublasGetStatusString(status)));
        return new CudaException(CudaLibrary.CUBLAS, call, status, orCode(name, status), message);
    }

    static CudaException cudnnException(int status, String call) {
        // cudnnGetErrorString gives the status's name; cudnnGetLastErrorString the detail of the last failure.
        String name = safe(() -> string(Cudnn.cudnnGetErrorString(status)));
        String message = safe(() -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment buf = arena.allocate(1024);
                Cudnn.cudnnGetLastErrorString(buf, buf.byteSize());
                return buf.getString(0);
            }
        });
        return new CudaException(CudaLibrary.CUDNN, call, status, orCode(name, status), message);
    }

    static CudaException nvrtcException(int status, String call) {
        String name = safe(() -> string(Nvrtc.nvrtcGetErrorString(status)));
        return new CudaException(CudaLibrary.NVRTC, call, status, orCode(name, status), null);
    }

    private static String driverString(int status, boolean name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            int rc = name ? CudaDriver.cuGetErrorName(status, out) : CudaDriver.cuGetErrorString(status, out);
            return rc == 0 ? string(out.get(ValueLayout.ADDRESS, 0)) : null;
        }
    }

    /** Reads a NUL-terminated C string the library owns; {@code null} for a null pointer. */
    static String string(MemorySegment cString) {
        if (cString == null || cString.equals(MemorySegment.NULL)) {
            return null;
        }
        MemorySegment s = cString.reinterpret(MAX_STRING);
        long n = 0;
        while (n < MAX_STRING && s.get(ValueLayout.JAVA_BYTE, n) != 0) {
            n++;
        }
        return new String(s.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), java.nio.charset.StandardCharsets.UTF_8);
    }

    private static String orCode(String name, int status) {
        return name == null || name.isBlank() ? "status " + status : name;
    }

    private static String safe(java.util.function.Supplier<String> s) {
        try {
            return s.get();
        } catch (Throwable t) { // the library could not describe its own status: keep the code
            return null;
        }
    }
}
