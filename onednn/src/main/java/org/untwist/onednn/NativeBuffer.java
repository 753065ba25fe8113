package org.untwist.onednn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Native memory that grows on demand and is kept between calls (first touch of fresh pages is slow on this kind of
 * machine, so buffers are reused rather than allocated per call). Used by one thread at a time; freed by {@link #close}.
 */
final class NativeBuffer implements AutoCloseable {
    private static final long ALIGNMENT = 64;

    private Arena arena;
    private MemorySegment segment = MemorySegment.NULL;

    /** At least {@code bytes} bytes, 64-byte aligned; the contents are not kept when it grows. */
    MemorySegment get(long bytes) {
        if (segment.byteSize() < bytes) {
            close();
            arena = Arena.ofShared();
            segment = arena.allocate(Math.max(bytes, 1), ALIGNMENT);
        }
        return segment;
    }

    @Override
    public void close() {
        if (arena != null) {
            arena.close();
            arena = null;
            segment = MemorySegment.NULL;
        }
    }
}
