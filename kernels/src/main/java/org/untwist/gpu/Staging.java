package org.untwist.gpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.untwist.gpu.cuda.CudaRuntime;
import org.untwist.gpu.cuda.CudaRuntime.MemcpyKind;
import org.untwist.tensor.Tensor;

/**
 * Device addresses for the tensors of one operation. Device tensors are used in place; host tensors get a
 * temporary device copy (the same copy for the same host memory, so in-place calls stay in place), and
 * host outputs are copied back when the operation's staging closes. Temporary buffers are freed then.
 * This is what lets every operation of {@link GpuBackend} also take host tensors.
 */
final class Staging implements AutoCloseable {
    private record HostKey(long address, long bytes) {
    }

    private final String device;
    private final MemorySegment stream;
    private Map<HostKey, GpuMemory> byHost; // host address -> its device copy (null until a host tensor appears)
    private List<Tensor> outputs;
    private List<GpuMemory> temps;
    private Arena hostArena;

    /** @param device the device's label, for out-of-memory messages */
    Staging(String device, MemorySegment stream) {
        this.device = device;
        this.stream = stream;
    }

    long in(Tensor t) {
        return t.isDevice() ? GpuMemory.addressOf(t) : stage(t, false);
    }

    long out(Tensor t) {
        return t.isDevice() ? GpuMemory.addressOf(t) : stage(t, true);
    }

    private long stage(Tensor t, boolean output) {
        started();
        HostKey key = new HostKey(t.segment().address(), t.byteSize());
        GpuMemory m = byHost.get(key);
        if (m == null) {
            m = GpuMemory.allocate(t.byteSize(), device, "staging copy of host " + t);
            temps.add(m);
            byHost.put(key, m);
            if (t.byteSize() > 0) { // outputs too: an operation may write only part of them (or read them in place)
                CudaRuntime.memcpyAsync(MemorySegment.ofAddress(m.address()), t.segment(), t.byteSize(), MemcpyKind.HOST_TO_DEVICE, stream,
                        "host to device");
            }
        }
        if (output) {
            outputs.add(t);
        }
        return m.address();
    }

    /** Device memory for this operation's intermediate values ({@code what} names it in an out-of-memory message), freed on close. */
    long scratch(long bytes, String what) {
        started();
        GpuMemory m = GpuMemory.allocate(Math.max(4, bytes), device, what);
        temps.add(m);
        return m.address();
    }

    /** A small table (kernel constants) copied to the device for this operation. */
    long floats(float[] values) {
        return upload(MemorySegment.ofArray(values));
    }

    /** A small table (kernel constants) copied to the device for this operation. */
    long ints(int[] values) {
        return upload(MemorySegment.ofArray(values));
    }

    /** Raw bytes (rows a host gathered) copied to the device for this operation. */
    long bytes(byte[] values) {
        return upload(MemorySegment.ofArray(values));
    }

    private long upload(MemorySegment heap) {
        started();
        if (hostArena == null) {
            hostArena = Arena.ofConfined();
        }
        MemorySegment h = hostArena.allocate(Math.max(1, heap.byteSize()), 16);
        MemorySegment.copy(heap, 0, h, 0, heap.byteSize());
        GpuMemory m = GpuMemory.allocate(Math.max(4, heap.byteSize()), device, "kernel table");
        temps.add(m);
        CudaRuntime.memcpyAsync(MemorySegment.ofAddress(m.address()), h, heap.byteSize(), MemcpyKind.HOST_TO_DEVICE, stream, "table");
        return m.address();
    }

    /** Creates the bookkeeping on the first staged tensor, scratch buffer or table (an operation on device tensors needs none). */
    private void started() {
        if (temps == null) {
            byHost = new HashMap<>();
            outputs = new ArrayList<>();
            temps = new ArrayList<>();
        }
    }

    @Override
    public void close() {
        if (temps == null) {
            return;
        }
        try {
            for (Tensor t : outputs) {
                GpuMemory m = byHost.get(new HostKey(t.segment().address(), t.byteSize()));
                if (t.byteSize() > 0) {
                    CudaRuntime.memcpyAsync(t.segment(), MemorySegment.ofAddress(m.address()), t.byteSize(), MemcpyKind.DEVICE_TO_HOST, stream,
                            "device to host");
                }
            }
            CudaRuntime.streamSynchronize(stream);
        } finally {
            for (GpuMemory m : temps) {
                m.close();
            }
            if (hostArena != null) {
                hostArena.close();
            }
        }
    }
}
