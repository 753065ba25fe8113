package org.untwist.gpu;

import java.util.EnumSet;
import java.util.Set;
import org.untwist.ffm.CudaException;
import org.untwist.ffm.CudaLibraries;
import org.untwist.ffm.CudaLibrary;
import org.untwist.gpu.cuda.CudaDriverApi;
import org.untwist.gpu.cuda.CudaRuntime;
import org.untwist.gpu.cuda.CudaRuntime.DeviceAttribute;

/**
 * Decides whether the GPU backend can run here: the CUDA libraries load, a device exists, the driver is new
 * enough for the runtime. Touches the generated bindings only after {@link CudaLibraries} has loaded the
 * libraries they call (through {@code org.untwist.gpu.cuda}). Never throws.
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
        try {
            int devices;
            try {
                devices = CudaRuntime.deviceCount();
            } catch (CudaException e) {
                return "no CUDA device: " + e.getMessage();
            }
            if (devices < 1) {
                return "no CUDA device: cudaGetDeviceCount found none";
            }
            int runtime = CudaRuntime.runtimeVersion();
            int driver = CudaRuntime.driverVersion();
            if (runtime < MIN_RUNTIME) {
                return "the CUDA runtime is " + version(runtime) + ", the bindings need " + version(MIN_RUNTIME) + " or newer";
            }
            if (driver < runtime) {
                return "the NVIDIA driver supports CUDA " + version(driver) + " but the runtime is CUDA " + version(runtime);
            }
            describeDevice(0); // the driver answers for device 0
            return null;
        } catch (CudaException e) {
            return "the GPU probe failed: " + e.getMessage();
        }
    }

    private static String describeDevice(int ordinal) {
        int major = CudaRuntime.deviceAttribute(DeviceAttribute.COMPUTE_CAPABILITY_MAJOR, ordinal);
        int minor = CudaRuntime.deviceAttribute(DeviceAttribute.COMPUTE_CAPABILITY_MINOR, ordinal);
        int sms = CudaRuntime.deviceAttribute(DeviceAttribute.MULTIPROCESSOR_COUNT, ordinal);
        String name = "?";
        try {
            CudaDriverApi.init();
            name = CudaDriverApi.deviceName(CudaDriverApi.device(ordinal));
        } catch (CudaException e) {
            name = "(name unknown: " + e.getMessage() + ")";
        }
        return name + " (sm_" + major + minor + ", " + sms + " SMs)";
    }

    /** {@code 13000 -> "13.0"}, {@code 12080 -> "12.8"}. */
    static String version(int v) {
        return (v / 1000) + "." + (v % 1000) / 10;
    }
}
