package org.untwist.gpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.EnumSet;
import java.util.Set;
import org.untwist.ffm.CudaCheck;
import org.untwist.ffm.CudaException;
import org.untwist.ffm.CudaLibraries;
import org.untwist.ffm.CudaLibrary;
import org.untwist.ffm.gen.cuda.CudaDriver;
import org.untwist.ffm.gen.cudart.Cudart;

/**
 * Decides whether the GPU backend can run here: the CUDA libraries load, a device exists, the driver is new
 * enough for the runtime. Touches the generated bindings only after {@link CudaLibraries} has loaded the
 * libraries they call. Never throws.
 */
final class GpuProbe {
    /** The libraries the GPU backend cannot run without (cuDNN is optional and loaded on demand). */
    static final Set<CudaLibrary> REQUIRED = EnumSet.of(CudaLibrary.CUDART, CudaLibrary.CUDA_DRIVER, CudaLibrary.NVRTC,
            CudaLibrary.CUBLAS_LT, CudaLibrary.CUBLAS);

    /** Oldest CUDA runtime the bindings were generated for (CUDA 13.0 headers). */
    static final int MIN_RUNTIME = 13000;

    private GpuProbe() {
    }

    /** Why the GPU backend cannot run with the libraries {@code search} finds, or {@code null} when it can. */
    static String unavailableReason(CudaLibraries.Search search) {
        try {
            CudaLibraries.Result libs = CudaLibraries.load(search, REQUIRED);
            if (!libs.ok()) {
                return libs.reason();
            }
            return deviceReason();
        } catch (Throwable t) { // never throw from a provider
            return "the GPU probe failed: " + t;
        }
    }

    private static String deviceReason() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_INT);
            int rc = Cudart.cudaGetDeviceCount(out);
            if (rc != 0) {
                CudaException e = exception(rc, "cudaGetDeviceCount");
                return "no CUDA device: " + e.getMessage();
            }
            int devices = out.get(ValueLayout.JAVA_INT, 0);
            if (devices < 1) {
                return "no CUDA device: cudaGetDeviceCount found none";
            }
            CudaCheck.cudart(Cudart.cudaRuntimeGetVersion(out), "cudaRuntimeGetVersion");
            int runtime = out.get(ValueLayout.JAVA_INT, 0);
            CudaCheck.cudart(Cudart.cudaDriverGetVersion(out), "cudaDriverGetVersion");
            int driver = out.get(ValueLayout.JAVA_INT, 0);
            if (runtime < MIN_RUNTIME) {
                return "the CUDA runtime is " + version(runtime) + ", the bindings need " + version(MIN_RUNTIME) + " or newer";
            }
            if (driver < runtime) {
                return "the NVIDIA driver supports CUDA " + version(driver) + " but the runtime is CUDA " + version(runtime);
            }
            describeDevice(arena, 0); // the driver answers for device 0
            return null;
        } catch (CudaException e) {
            return "the GPU probe failed: " + e.getMessage();
        }
    }

    private static String describeDevice(Arena arena, int ordinal) {
        MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
        CudaCheck.cudart(Cudart.cudaDeviceGetAttribute(v, Cudart.cudaDevAttrComputeCapabilityMajor(), ordinal), "cudaDeviceGetAttribute");
        int major = v.get(ValueLayout.JAVA_INT, 0);
        CudaCheck.cudart(Cudart.cudaDeviceGetAttribute(v, Cudart.cudaDevAttrComputeCapabilityMinor(), ordinal), "cudaDeviceGetAttribute");
        int minor = v.get(ValueLayout.JAVA_INT, 0);
        CudaCheck.cudart(Cudart.cudaDeviceGetAttribute(v, Cudart.cudaDevAttrMultiProcessorCount(), ordinal), "cudaDeviceGetAttribute");
        int sms = v.get(ValueLayout.JAVA_INT, 0);
        String name = "?";
        try {
            CudaCheck.driver(CudaDriver.cuInit(0), "cuInit");
            CudaCheck.driver(CudaDriver.cuDeviceGet(v, ordinal), "cuDeviceGet");
            MemorySegment buf = arena.allocate(256);
            CudaCheck.driver(CudaDriver.cuDeviceGetName(buf, (int) buf.byteSize(), v.get(ValueLayout.JAVA_INT, 0)), "cuDeviceGetName");
            name = buf.getString(0);
        } catch (CudaException e) {
            name = "(name unknown: " + e.getMessage() + ")";
        }
        return name + " (sm_" + major + minor + ", " + sms + " SMs)";
    }

    private static CudaException exception(int rc, String call) {
        try {
            CudaCheck.cudart(rc, call);
            throw new AssertionError();
        } catch (CudaException e) {
            return e;
        }
    }

    /** {@code 13000 -> "13.0"}, {@code 12080 -> "12.8"}. */
    static String version(int v) {
        return (v / 1000) + "." + (v % 1000) / 10;
    }
}
