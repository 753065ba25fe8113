package org.untwist.ffm;

import java.util.List;

/**
 * The native libraries the GPU backend binds to, by the versioned sonames they are opened with (the NVIDIA
 * wheels and the driver ship no unversioned {@code libfoo.so}). Declared in load order: a library's
 * dependencies come before it.
 */
public enum CudaLibrary {
    /** CUDA runtime 13. */
    CUDART("CUDA runtime", "libcudart.so.13", "cudaRuntimeGetVersion", List.of()),
    /** The NVIDIA driver's CUDA driver API. */
    CUDA_DRIVER("CUDA driver", "libcuda.so.1", "cuDriverGetVersion", List.of()),
    /** Run-time compiler for the CUDA C kernels. */
    NVRTC("NVRTC", "libnvrtc.so.13", "nvrtcVersion", List.of()),
    /** cuBLASLt, which cuBLAS links against. */
    CUBLAS_LT("cuBLASLt", "libcublasLt.so.13", "cublasLtGetVersion", List.of()),
    /** cuBLAS 13. */
    CUBLAS("cuBLAS", "libcublas.so.13", "cublasGetVersion_v2", List.of()),
    /**
     * cuDNN 9. {@code libcudnn.so.9} is a small shim that opens its parts ({@code libcudnn_graph.so.9}, ...)
     * by soname when first used; parts found next to it are loaded first so that the shim finds them even when
     * their folder is not on {@code LD_LIBRARY_PATH}.
     */
    CUDNN("cuDNN", "libcudnn.so.9", "cudnnGetVersion", List.of("libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_heuristic.so.9",
            "libcudnn_engines_runtime_compiled.so.9", "libcudnn_engines_precompiled.so.9", "libcudnn_cnn.so.9",
            "libcudnn_adv.so.9"));

    private final String displayName;
    private final String soname;
    private final String symbol;
    private final List<String> parts;

    CudaLibrary(String displayName, String soname, String symbol, List<String> parts) {
        this.displayName = displayName;
        this.soname = soname;
        this.symbol = symbol;
        this.parts = parts;
    }

    /** Human-readable name: {@code cuBLAS}, {@code CUDA runtime}, ... */
    public String displayName() {
        return displayName;
    }

    /** The versioned file name the library is opened by, e.g. {@code libcudart.so.13}. */
    public String soname() {
        return soname;
    }

    /** A function every version of the library exports (used to find the file the system loader opened). */
    public String symbol() {
        return symbol;
    }

    /** Companion libraries loaded before this one when they sit in the same folder (cuDNN's parts). */
    public List<String> parts() {
        return parts;
    }
}
