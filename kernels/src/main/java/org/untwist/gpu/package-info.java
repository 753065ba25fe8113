/**
 * The GPU backend: CUDA C kernels compiled at run time by NVRTC, cuBLAS GEMMs and cuDNN attention behind
 * {@link org.untwist.backend.Backend}. Empty until the GPU backend lands; no GPU provider is registered, so
 * automatic selection never considers one.
 */
package org.untwist.gpu;
