/**
 * The GPU backend: CUDA C kernels compiled at run time by NVRTC, cuBLAS GEMMs and cuDNN attention behind
 * {@link org.untwist.backend.Backend}. So far only {@link org.untwist.gpu.GpuBackendProvider} exists: it
 * loads the CUDA libraries through {@link org.untwist.ffm.CudaLibraries}, probes for a device and reports
 * why the backend cannot run (a missing library, no device, or the kernels not being implemented yet), so
 * automatic selection never picks it.
 */
package org.untwist.gpu;
