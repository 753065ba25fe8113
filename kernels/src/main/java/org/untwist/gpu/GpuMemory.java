package org.untwist.gpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.untwist.ffm.CudaCheck;
import org.untwist.ffm.CudaException;
import org.untwist.ffm.gen.cudart.Cudart;
import org.untwist.tensor.DeviceStorage;

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
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            int rc = Cudart.cudaMalloc(p, bytes);
            if (rc == Cudart.cudaErrorMemoryAllocation()) {
                Cudart.cudaGetLastError(); // clear the (non-sticky) error so that the context stays usable
                throw new GpuOutOfMemoryException(bytes, what, device, freeAndTotal());
            }
            CudaCheck.cudart(rc, "cudaMalloc(" + bytes + " bytes for " + what + ")");
            LIVE_BYTES.addAndGet(bytes);
            LIVE_COUNT.incrementAndGet();
            return new GpuMemory(p.get(ValueLayout.ADDRESS, 0).address(), bytes, device);
        }
    }

    /** Free and total device memory in bytes, or null when the query fails. */
    static long[] freeAndTotal() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = a.allocate(ValueLayout.JAVA_LONG), t = a.allocate(ValueLayout.JAVA_LONG);
            if (Cudart.cudaMemGetInfo(f, t) != 0) {
                return null;
            }
            return new long[] {f.get(ValueLayout.JAVA_LONG, 0), t.get(ValueLayout.JAVA_LONG, 0)};
        }
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
        int rc = Cudart.cudaFree(MemorySegment.ofAddress(address));
        if (rc != 0) {
            throw new CudaException(org.untwist.ffm.CudaLibrary.CUDART, "cudaFree", rc, "cudaFree failed", "status " + rc
                    + " freeing " + bytes + " bytes on " + device + " (an earlier kernel may have failed)");
        }
    }
}
