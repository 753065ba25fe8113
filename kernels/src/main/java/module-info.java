/**
 * The {@code gpu} backend: CUDA C kernels compiled by NVRTC, cuBLAS and cuDNN through the generated bindings,
 * found through {@code Backends}; nothing exported.
 */
module org.untwist.kernels {
    requires org.untwist.core;
    requires org.untwist.ffm;

    provides org.untwist.backend.BackendProvider with org.untwist.gpu.GpuBackendProvider;
}
