package org.untwist.gpu;

import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.untwist.gpu.cuda.CudaRuntime;
import org.untwist.tensor.DeviceStorage;
import org.untwist.tensor.Tensor;

/**
 * One {@code cudaMalloc} allocation. {@link #close()} frees it (idempotent). Live allocations are counted
 * so that tests can prove that nothing leaks.
 */
final class GpuMemory implements DeviceStorage {
    private static final AtomicLong LIVE_BYTES = new AtomicLong();
    private static final AtomicLong LIVE_COUNT = new AtomicLong();

    private final long address;
    private final long bytes;
    private final String device;
    private final AtomicBoolean freed = new AtomicBoolean();

    private GpuMemory(long address, long bytes, String device) {
        this.address = address;
        this.bytes = bytes;
        this.device = device;
    }

    /**
     * Allocates {@code bytes} of device memory.
     *
     * @param what names the allocation in the out-of-memory message
     * @throws GpuOutOfMemoryException when the device has too little free memory
     */
    static GpuMemory allocate(long bytes, String device, String what) {
        if (bytes < 0) {
            throw new IllegalArgumentException("negative allocation size " + bytes);
        }
        if (bytes == 0) { // no memory behind it; a 0-element tensor is never read or written
            LIVE_COUNT.incrementAndGet();
            return new GpuMemory(0, 0, device);
        }
        OptionalLong p = CudaRuntime.tryMalloc(bytes, "cudaMalloc(" + bytes + " bytes for " + what + ")");
        if (p.isEmpty()) {
            throw new GpuOutOfMemoryException(bytes, what, device, freeAndTotal());
        }
        LIVE_BYTES.addAndGet(bytes);
        LIVE_COUNT.incrementAndGet();
        return new GpuMemory(p.getAsLong(), bytes, device);
    }

    /** Whether {@code m} is a live allocation of at least {@code bytes}. */
    static boolean holds(GpuMemory m, long bytes) {
        return m != null && m.isAlive() && m.byteSize() >= bytes;
    }

    /**
     * A scratch buffer grown on demand: {@code current} where it {@link #holds} {@code bytes}, else {@code current} freed
     * (cudaFree waits for the work that used it) and a new allocation of {@code max(bytes, minBytes)} returned, which the
     * caller keeps in its place. After a failed allocation {@code current} is freed, so the next call allocates again.
     */
    static GpuMemory atLeast(GpuMemory current, long bytes, long minBytes, String device, String what) {
        if (holds(current, bytes)) {
            return current;
        }
        if (current != null) {
            current.close();
        }
        return allocate(Math.max(bytes, minBytes), device, what);
    }

    /** Free and total device memory in bytes, or null when the query fails. */
    static long[] freeAndTotal() {
        return CudaRuntime.memoryInfo();
    }

    /** The address of a device tensor whose memory is ours (not another backend's). */
    static long addressOf(Tensor t) {
        DeviceStorage s = t.deviceStorage();
        if (!(s instanceof GpuMemory)) {
            throw new IllegalArgumentException(t + " is device memory of another backend (" + s.device() + ")");
        }
        return t.deviceAddress();
    }

    /** Bytes currently allocated through this class in this JVM. */
    static long liveBytes() {
        return LIVE_BYTES.get();
    }

    /** Allocations currently alive in this JVM. */
    static long liveCount() {
        return LIVE_COUNT.get();
    }

    @Override
    public long address() {
        return address;
    }

    @Override
    public long byteSize() {
        return bytes;
    }

    @Override
    public String device() {
        return device;
    }

    @Override
    public boolean isAlive() {
        return !freed.get();
    }

    @Override
    public void close() {
        if (!freed.compareAndSet(false, true)) {
            return;
        }
        LIVE_COUNT.decrementAndGet();
        if (bytes == 0) {
            return;
        }
        LIVE_BYTES.addAndGet(-bytes);
        CudaRuntime.free(address, bytes + " bytes on " + device + " (an earlier kernel may have failed)");
    }
}
