package org.untwist.gpu;

import org.untwist.backend.Backend;
import org.untwist.backend.BackendProvider;
import org.untwist.ffm.CudaLibraries;

/**
 * Registers the {@code gpu} backend. In this version only the FFM bindings and the device probe exist, so the
 * provider is never available: without CUDA it says which library is missing or that there is no device,
 * and with everything present it says that the kernels are not implemented yet. The probe runs once per
 * JVM (loading the CUDA libraries is not free) and never throws.
 */
public final class GpuBackendProvider implements BackendProvider {

    private static final class Probe { // lazy holder: probed on first use, once
        static final String REASON = GpuProbe.unavailableReason(CudaLibraries.Search.fromSystem());
    }

    @Override
    public String name() {
        return "gpu";
    }

    /** Above the CPU backends (vector is 100), for when the GPU backend exists. */
    @Override
    public int priority() {
        return 200;
    }

    @Override
    public String unavailableReason() {
        try {
            return Probe.REASON;
        } catch (Throwable t) { // ExceptionInInitializerError, NoClassDefFoundError: never throw from here
            return "the GPU probe failed: " + t;
        }
    }

    @Override
    public Backend create(int threads) {
        throw new IllegalStateException("the gpu backend cannot run here: " + unavailableReason());
    }

    /** Runs the probe with an explicit search (not cached); for tests and diagnostics. */
    static String probe(CudaLibraries.Search search) {
        return GpuProbe.unavailableReason(search);
    }
}
