/**
 * The GPU benchmark ({@link org.untwist.gpubench.GpuBenchmark}), kept out of the kernels module: it drives the
 * {@code gpu} backend through its public API only (including the benchmark hooks of
 * {@link org.untwist.gpu.GpuBackend}) and builds the FLUX model, which the backend's module does not use.
 * {@code kernels/bench/run-on-gpu.sh} runs it against PyTorch on the same shapes.
 */
package org.untwist.gpubench;
