package org.untwist.gpu.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.untwist.ffm.CudaCheck;
import org.untwist.ffm.gen.cuda.CudaDriver;

/**
 * The CUDA driver API calls the GPU backend makes (our kernels are loaded and launched through it): one method
 * per call, its status checked by {@link CudaCheck}. Out-parameters are returned. Call only after
 * {@link org.untwist.ffm.CudaLibraries} has loaded the driver.
 */
public final class CudaDriverApi {
    private CudaDriverApi() {
    }

    /** {@code cuInit(0)}. */
    public static void init() {
        CudaCheck.driver(CudaDriver.cuInit(0), "cuInit");
    }

    /** {@code cuDeviceGet}: the driver's handle of device {@code ordinal}. */
    public static int device(int ordinal) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment dev = a.allocate(JAVA_INT);
            CudaCheck.driver(CudaDriver.cuDeviceGet(dev, ordinal), "cuDeviceGet");
            return dev.get(JAVA_INT, 0);
        }
    }

    /** {@code cuDeviceGetName}, read into a 256-byte buffer. */
    public static String deviceName(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(256);
            CudaCheck.driver(CudaDriver.cuDeviceGetName(buf, (int) buf.byteSize(), device), "cuDeviceGetName");
            return buf.getString(0);
        }
    }

    /** {@code cuCtxGetCurrent}: the calling thread's current context. */
    public static MemorySegment currentContext() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ctx = a.allocate(ADDRESS);
            CudaCheck.driver(CudaDriver.cuCtxGetCurrent(ctx), "cuCtxGetCurrent");
            return ctx.get(ADDRESS, 0);
        }
    }

    /** {@code cuCtxSetCurrent}. */
    public static void setCurrentContext(MemorySegment context) {
        CudaCheck.driver(CudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    /** {@code cuModuleLoadData} of an image in native memory; a failure names the call {@code cuModuleLoadData(what)}. */
    public static MemorySegment loadModule(MemorySegment image, String what) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment mod = a.allocate(ADDRESS);
            CudaCheck.driver(CudaDriver.cuModuleLoadData(mod, image), "cuModuleLoadData(" + what + ")");
            return mod.get(ADDRESS, 0);
        }
    }

    /** {@code cuModuleGetFunction}: a kernel of the module by its extern "C" name. */
    public static MemorySegment function(MemorySegment module, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fn = a.allocate(ADDRESS);
            CudaCheck.driver(CudaDriver.cuModuleGetFunction(fn, module, a.allocateFrom(name)), "cuModuleGetFunction(" + name + ")");
            return fn.get(ADDRESS, 0);
        }
    }

    /**
     * {@code cuLaunchKernel} with one-dimensional blocks of {@code block} threads on {@code stream};
     * {@code params} is the array of pointers to the argument values. A failure names the kernel.
     */
    public static void launchKernel(MemorySegment function, int gridX, int gridY, int gridZ, int block, int sharedMemBytes, MemorySegment stream,
                                    MemorySegment params, String kernel) {
        CudaCheck.driver(CudaDriver.cuLaunchKernel(function, gridX, gridY, gridZ, block, 1, 1, sharedMemBytes, stream, params, MemorySegment.NULL),
                "cuLaunchKernel(" + kernel + ")");
    }
}
