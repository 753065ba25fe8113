package org.untwist.gpu;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.untwist.ffm.CudaCheck;
import org.untwist.ffm.CudaLibraries;
import org.untwist.ffm.gen.cuda.CudaDriver;
import org.untwist.ffm.gen.cudart.Cudart;

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
        Arena arena = Arena.global();
        MemorySegment v = arena.allocate(JAVA_INT);
        CudaCheck.cudart(Cudart.cudaSetDevice(ordinal), "cudaSetDevice(" + ordinal + ")");
        CudaCheck.cudart(Cudart.cudaFree(MemorySegment.NULL), "cudaFree(0) (creates the primary context)");
        CudaCheck.cudart(Cudart.cudaDeviceGetAttribute(v, Cudart.cudaDevAttrComputeCapabilityMajor(), ordinal), "cudaDeviceGetAttribute");
        major = v.get(JAVA_INT, 0);
        CudaCheck.cudart(Cudart.cudaDeviceGetAttribute(v, Cudart.cudaDevAttrComputeCapabilityMinor(), ordinal), "cudaDeviceGetAttribute");
        minor = v.get(JAVA_INT, 0);
        CudaCheck.cudart(Cudart.cudaDeviceGetAttribute(v, Cudart.cudaDevAttrMultiProcessorCount(), ordinal), "cudaDeviceGetAttribute");
        sms = v.get(JAVA_INT, 0);
        CudaCheck.driver(CudaDriver.cuInit(0), "cuInit");
        MemorySegment dev = arena.allocate(JAVA_INT);
        CudaCheck.driver(CudaDriver.cuDeviceGet(dev, ordinal), "cuDeviceGet");
        MemorySegment buf = arena.allocate(256);
        CudaCheck.driver(CudaDriver.cuDeviceGetName(buf, (int) buf.byteSize(), dev.get(JAVA_INT, 0)), "cuDeviceGetName");
        name = buf.getString(0);
        MemorySegment ctx = arena.allocate(ADDRESS);
        CudaCheck.driver(CudaDriver.cuCtxGetCurrent(ctx), "cuCtxGetCurrent");
        context = ctx.get(ADDRESS, 0);
        current.set(true);
        label = "gpu:" + ordinal + " (" + name + ")";
        byte[] image = KernelModule.cubin(major, minor);
        MemorySegment img = arena.allocate(image.length + 1L);
        MemorySegment.copy(image, 0, img, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, image.length);
        MemorySegment mod = arena.allocate(ADDRESS);
        CudaCheck.driver(CudaDriver.cuModuleLoadData(mod, img), "cuModuleLoadData(untwist kernels for sm_" + major + minor + ")");
        module = mod.get(ADDRESS, 0);
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
            CudaCheck.driver(CudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
            current.set(true);
        }
    }

    /** A kernel of the module by its extern "C" name. */
    MemorySegment function(String kernel) {
        return functions.computeIfAbsent(kernel, k -> {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment fn = a.allocate(ADDRESS);
                CudaCheck.driver(CudaDriver.cuModuleGetFunction(fn, module, a.allocateFrom(k)), "cuModuleGetFunction(" + k + ")");
                return fn.get(ADDRESS, 0);
            }
        });
    }

    String describe() {
        return name + " (sm_" + major + minor + ", " + sms + " SMs)";
    }
}
