package org.untwist.gpu.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.OptionalLong;
import org.untwist.ffm.CudaCheck;
import org.untwist.ffm.CudaException;
import org.untwist.ffm.CudaLibrary;
import org.untwist.ffm.gen.cudart.Cudart;

/**
 * The CUDA runtime calls the GPU backend makes: one method per call, its status checked by {@link CudaCheck}
 * (a {@link CudaException} naming the call). Out-parameters are returned. Call only after
 * {@link org.untwist.ffm.CudaLibraries} has loaded the runtime.
 */
public final class CudaRuntime {
    private CudaRuntime() {
    }

    /** {@code cudaMemcpyKind}: the directions the backend copies in. */
    public enum MemcpyKind {
        HOST_TO_DEVICE(Cudart.cudaMemcpyHostToDevice()),
        DEVICE_TO_HOST(Cudart.cudaMemcpyDeviceToHost()),
        DEVICE_TO_DEVICE(Cudart.cudaMemcpyDeviceToDevice());

        final int code;

        MemcpyKind(int code) {
            this.code = code;
        }
    }

    /** {@code cudaDeviceAttr}: the attributes the backend reads. */
    public enum DeviceAttribute {
        COMPUTE_CAPABILITY_MAJOR(Cudart.cudaDevAttrComputeCapabilityMajor()),
        COMPUTE_CAPABILITY_MINOR(Cudart.cudaDevAttrComputeCapabilityMinor()),
        MULTIPROCESSOR_COUNT(Cudart.cudaDevAttrMultiProcessorCount());

        final int code;

        DeviceAttribute(int code) {
            this.code = code;
        }
    }

    // ---- device and versions ---------------------------------------------------------------------------

    /** {@code cudaGetDeviceCount}. */
    public static int deviceCount() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT);
            CudaCheck.cudart(Cudart.cudaGetDeviceCount(out), "cudaGetDeviceCount");
            return out.get(JAVA_INT, 0);
        }
    }

    /** {@code cudaRuntimeGetVersion}: e.g. 13000 for CUDA 13.0. */
    public static int runtimeVersion() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT);
            CudaCheck.cudart(Cudart.cudaRuntimeGetVersion(out), "cudaRuntimeGetVersion");
            return out.get(JAVA_INT, 0);
        }
    }

    /** {@code cudaDriverGetVersion}: the newest CUDA version the installed driver supports. */
    public static int driverVersion() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT);
            CudaCheck.cudart(Cudart.cudaDriverGetVersion(out), "cudaDriverGetVersion");
            return out.get(JAVA_INT, 0);
        }
    }

    /** {@code cudaDeviceGetAttribute}. */
    public static int deviceAttribute(DeviceAttribute attribute, int ordinal) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT);
            CudaCheck.cudart(Cudart.cudaDeviceGetAttribute(out, attribute.code, ordinal), "cudaDeviceGetAttribute");
            return out.get(JAVA_INT, 0);
        }
    }

    /** {@code cudaSetDevice}. */
    public static void setDevice(int ordinal) {
        CudaCheck.cudart(Cudart.cudaSetDevice(ordinal), "cudaSetDevice(" + ordinal + ")");
    }

    /** {@code cudaFree(0)}: frees nothing, but makes the runtime create the device's primary context now. */
    public static void createPrimaryContext() {
        CudaCheck.cudart(Cudart.cudaFree(MemorySegment.NULL), "cudaFree(0) (creates the primary context)");
    }

    // ---- memory ----------------------------------------------------------------------------------------

    /**
     * {@code cudaMalloc}: the device address, or empty when the device is out of memory. That error is not
     * sticky: it is cleared ({@code cudaGetLastError}) so that the context stays usable. Any other failure
     * throws, naming {@code call}.
     */
    public static OptionalLong tryMalloc(long bytes, String call) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            int rc = Cudart.cudaMalloc(p, bytes);
            if (rc == Cudart.cudaErrorMemoryAllocation()) {
                Cudart.cudaGetLastError();
                return OptionalLong.empty();
            }
            CudaCheck.cudart(rc, call);
            return OptionalLong.of(p.get(ADDRESS, 0).address());
        }
    }

    /**
     * {@code cudaFree}. A failure is reported with the raw status (no call into the runtime to name it):
     * {@code what} says what was being freed.
     */
    public static void free(long address, String what) {
        int rc = Cudart.cudaFree(MemorySegment.ofAddress(address));
        if (rc != 0) {
            throw new CudaException(CudaLibrary.CUDART, "cudaFree", rc, "cudaFree failed", "status " + rc + " freeing " + what);
        }
    }

    /** {@code cudaMemGetInfo}: {free, total} bytes, or null when the query fails (it only ever informs a message). */
    public static long[] memoryInfo() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = a.allocate(JAVA_LONG), t = a.allocate(JAVA_LONG);
            if (Cudart.cudaMemGetInfo(f, t) != 0) {
                return null;
            }
            return new long[] {f.get(JAVA_LONG, 0), t.get(JAVA_LONG, 0)};
        }
    }

    /** {@code cudaMemsetAsync} on {@code stream}. */
    public static void memsetAsync(long address, int value, long bytes, MemorySegment stream) {
        CudaCheck.cudart(Cudart.cudaMemsetAsync(MemorySegment.ofAddress(address), value, bytes, stream), "cudaMemsetAsync");
    }

    /** {@code cudaMemcpyAsync} on {@code stream}; a failure names the call {@code cudaMemcpyAsync(what)}. */
    public static void memcpyAsync(MemorySegment dst, MemorySegment src, long bytes, MemcpyKind kind, MemorySegment stream, String what) {
        CudaCheck.cudart(Cudart.cudaMemcpyAsync(dst, src, bytes, kind.code, stream), "cudaMemcpyAsync(" + what + ")");
    }

    // ---- streams ---------------------------------------------------------------------------------------

    /** {@code cudaStreamCreateWithFlags(cudaStreamNonBlocking)}: a stream that does not wait for the legacy default stream. */
    public static MemorySegment createNonBlockingStream() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            CudaCheck.cudart(Cudart.cudaStreamCreateWithFlags(p, Cudart.cudaStreamNonBlocking()), "cudaStreamCreateWithFlags");
            return p.get(ADDRESS, 0);
        }
    }

    /** {@code cudaStreamSynchronize}. */
    public static void streamSynchronize(MemorySegment stream) {
        CudaCheck.cudart(Cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    }

    /** {@code cudaStreamSynchronize}, status ignored: closing goes on to release everything even after a failure. */
    public static void streamSynchronizeQuietly(MemorySegment stream) {
        Cudart.cudaStreamSynchronize(stream);
    }

    // ---- events ----------------------------------------------------------------------------------------

    /** {@code cudaEventCreateWithFlags(cudaEventDefault)}: an event that records a timestamp. */
    public static MemorySegment createTimingEvent() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            CudaCheck.cudart(Cudart.cudaEventCreateWithFlags(p, Cudart.cudaEventDefault()), "cudaEventCreateWithFlags");
            return p.get(ADDRESS, 0);
        }
    }

    /** {@code cudaEventRecord} on {@code stream}. */
    public static void eventRecord(MemorySegment event, MemorySegment stream) {
        CudaCheck.cudart(Cudart.cudaEventRecord(event, stream), "cudaEventRecord");
    }

    /** {@code cudaEventSynchronize}, then {@code cudaEventElapsedTime}: milliseconds from {@code start} to {@code end}. */
    public static float eventElapsedMillis(MemorySegment start, MemorySegment end) {
        CudaCheck.cudart(Cudart.cudaEventSynchronize(end), "cudaEventSynchronize");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ms = a.allocate(JAVA_FLOAT);
            CudaCheck.cudart(Cudart.cudaEventElapsedTime(ms, start, end), "cudaEventElapsedTime");
            return ms.get(JAVA_FLOAT, 0);
        }
    }

    /** {@code cudaEventDestroy}, status ignored (close paths). */
    public static void eventDestroy(MemorySegment event) {
        Cudart.cudaEventDestroy(event);
    }

    /** {@code cudaStreamDestroy}, status ignored (close and clean-up paths). */
    public static void streamDestroy(MemorySegment stream) {
        Cudart.cudaStreamDestroy(stream);
    }
}
