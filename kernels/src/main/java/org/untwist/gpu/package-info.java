/**
 * The GPU backend: {@link org.untwist.gpu.GpuBackend} implements {@link org.untwist.backend.Backend} with CUDA C
 * kernels compiled at run time by NVRTC ({@link org.untwist.gpu.KernelModule}, CUBINs cached on disk) and
 * launched through the driver API, GEMMs through cuBLAS, and bf16 attention through cuDNN's fused SDPA
 * ({@link org.untwist.gpu.CudnnAttention}, the backend graph API). {@link org.untwist.gpu.GpuBackendProvider}
 * makes it the automatic choice where the CUDA libraries load and a device exists; elsewhere it reports why.
 * Device memory is {@link org.untwist.gpu.GpuMemory} behind device {@link org.untwist.tensor.Tensor}s. Every
 * CUDA call goes through the thin layer {@code org.untwist.gpu.cuda}. The benchmark that
 * {@code kernels/bench/run-on-gpu.sh} runs against PyTorch is {@code org.untwist.gpubench.GpuBenchmark}, in the
 * {@code gpu-bench} module.
 */
package org.untwist.gpu;
