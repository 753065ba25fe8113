package org.untwist.gpu;

import java.util.List;
import org.untwist.backend.Backend;
import org.untwist.backend.BackendProvider;
import org.untwist.backend.Precision;
import org.untwist.ffm.CudaLibraries;

/**
 * Registers the {@code gpu} backend: available when the CUDA libraries load and a device exists; otherwise
 * it says which library is missing or that there is no device, and automatic selection logs that reason
 * and takes a CPU backend. The probe runs once per JVM (loading the CUDA libraries is not free) and never
 * throws.
 */
public final class GpuBackendProvider implements BackendProvider {

    private static final class Probe { // lazy holder: probed on first use, once
        static final String REASON = GpuProbe.unavailableReason(CudaLibraries.Search.fromSystem());
    }

    @Override
    public String name() {
        return "gpu";
    }

    /** Above the CPU backends (vector is 100). */
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
        String why = unavailableReason();
        if (why != null) {
            throw new IllegalStateException("the gpu backend cannot run here: " + why);
        }
        return new GpuBackend();
    }

    /** f32 by default ({@code -Duntwist.gpu.precision} changes what {@link #create(int)} builds), and bf16. */
    @Override
    public List<Precision> precisions() {
        return List.of(Precision.F32, Precision.BF16);
    }

    /** The backend in {@code precision}, whatever {@code -Duntwist.gpu.precision} says; TF32 and cuDNN from their properties. */
    @Override
    public Backend create(int threads, Precision precision) {
        String why = unavailableReason();
        if (why != null) {
            throw new IllegalStateException("the gpu backend cannot run here: " + why);
        }
        GpuBackend.Precision p = precision == Precision.BF16 ? GpuBackend.Precision.BF16 : GpuBackend.Precision.F32;
        return new GpuBackend(p, Boolean.getBoolean(GpuBackend.TF32_PROPERTY), !"false".equalsIgnoreCase(System.getProperty(GpuBackend.CUDNN_PROPERTY)));
    }

    /** Runs the probe with an explicit search (not cached); for tests and diagnostics. */
    static String probe(CudaLibraries.Search search) {
        return GpuProbe.unavailableReason(search);
    }
}
