package org.untwist.gpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.untwist.ffm.CudaLibraries;
import org.untwist.gpu.cuda.CudaDriverApi;
import org.untwist.gpu.cuda.CudaRuntime;
import org.untwist.gpu.cuda.CudaRuntime.DeviceAttribute;

/**
 * Device 0 of this process: its primary context (shared by the CUDA runtime, cuBLAS and our driver-API
 * launches), its description, and the kernel module compiled for it. One per JVM, created on first use by
 * a backend; the module stays loaded for the life of the process (backends come and go, the compiled
 * kernels do not change).
 */
final class GpuDevice {
    private static volatile GpuDevice instance;

    final int ordinal;
    final String name;
    final int major, minor, sms;
    final String label;
    private final MemorySegment context;
    private final MemorySegment module;
    private final Map<String, MemorySegment> functions = new ConcurrentHashMap<>();
    private final ThreadLocal<Boolean> current = ThreadLocal.withInitial(() -> false);

    private GpuDevice(int ordinal) {
        this.ordinal = ordinal;
        // The generated bindings resolve symbols in the libraries CudaLibraries has loaded: load them first, and
        // say which one is missing instead of failing on a symbol.
        CudaLibraries.Result libs = CudaLibraries.load(CudaLibraries.Search.fromSystem(), GpuProbe.REQUIRED);
        if (!libs.ok()) {
            throw new IllegalStateException("the gpu backend cannot run here: " + libs.reason());
        }
        CudaRuntime.setDevice(ordinal);
        CudaRuntime.createPrimaryContext();
        major = CudaRuntime.deviceAttribute(DeviceAttribute.COMPUTE_CAPABILITY_MAJOR, ordinal);
        minor = CudaRuntime.deviceAttribute(DeviceAttribute.COMPUTE_CAPABILITY_MINOR, ordinal);
        sms = CudaRuntime.deviceAttribute(DeviceAttribute.MULTIPROCESSOR_COUNT, ordinal);
        CudaDriverApi.init();
        name = CudaDriverApi.deviceName(CudaDriverApi.device(ordinal));
        context = CudaDriverApi.currentContext();
        current.set(true);
        label = "gpu:" + ordinal + " (" + name + ")";
        byte[] image = KernelModule.cubin(major, minor);
        MemorySegment img = Arena.global().allocate(image.length + 1L);
        MemorySegment.copy(image, 0, img, ValueLayout.JAVA_BYTE, 0, image.length);
        module = CudaDriverApi.loadModule(img, "untwist kernels for sm_" + major + minor);
    }

    /** The device, initialised on first call (context, kernel compilation or cache hit, module load). */
    static GpuDevice get() {
        GpuDevice d = instance;
        if (d == null) {
            synchronized (GpuDevice.class) {
                d = instance;
                if (d == null) {
                    d = new GpuDevice(0);
                    instance = d;
                }
            }
        }
        d.makeCurrent();
        return d;
    }

    /** Driver-API calls need the context current on the calling thread; the runtime's calls do it themselves. */
    void makeCurrent() {
        if (!current.get()) {
            CudaDriverApi.setCurrentContext(context);
            current.set(true);
        }
    }

    /** A kernel of the module by its extern "C" name. */
    MemorySegment function(String kernel) {
        return functions.computeIfAbsent(kernel, k -> CudaDriverApi.function(module, k));
    }

    String describe() {
        return name + " (sm_" + major + minor + ", " + sms + " SMs)";
    }
}
