package org.untwist.gpu;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.untwist.backend.StreamClock;
import org.untwist.gpu.cuda.CudaRuntime;

/**
 * {@link StreamClock} on a {@link GpuBackend}'s stream: each mark records a CUDA event, the span between two is
 * {@code cudaEventElapsedTime} (about half a microsecond of resolution). Events are created on first use and reused
 * after {@link #reset}; {@link #close} destroys them. Not tied to the backend's lifetime: close it before the backend.
 */
final class GpuStreamClock implements StreamClock {
    private final MemorySegment stream;
    private final String device;
    private final List<MemorySegment> events = new ArrayList<>();
    private int used;
    private boolean closed;

    GpuStreamClock(MemorySegment stream, String device) {
        this.stream = stream;
        this.device = device;
    }

    @Override
    public synchronized int mark() {
        requireOpen();
        if (used == events.size()) {
            events.add(CudaRuntime.createTimingEvent());
        }
        CudaRuntime.eventRecord(events.get(used), stream);
        return used++;
    }

    @Override
    public synchronized double millisBetween(int from, int to) {
        requireOpen();
        if (from < 0 || to < 0 || from >= used || to >= used) {
            throw new IndexOutOfBoundsException("marks " + from + " and " + to + " of " + used + " recorded on " + device);
        }
        return CudaRuntime.eventElapsedMillis(events.get(from), events.get(to));
    }

    @Override
    public synchronized void reset() {
        used = 0;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (MemorySegment e : events) {
            CudaRuntime.eventDestroy(e);
        }
        events.clear();
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("stream clock on " + device + " is closed");
        }
    }
}
