package org.untwist.onednn;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * Creating, using and closing the onednn backend many times leaves no native memory behind: everything malloc'ed in
 * the process (glibc's {@code mallinfo2}, all arenas: the Java arenas of the backend's buffers and descriptors as well
 * as oneDNN's engines, streams, primitives and memory objects) grows by at most 12 MB over 300 cycles. For scale: the
 * same cycles without {@code close()} grew it by about 13 MB per 100 cycles (buffers alone about 75 KB a cycle), and
 * the JVM's own allocations move it by a few MB either way.
 */
class OnednnNativeMemoryTest {
    static final int WARMUP = 10, CYCLES = 300;

    @Test
    void createUseCloseLeavesNoNativeMemory() throws Throwable {
        String why = new OnednnBackendProvider().unavailableReason();
        Assumptions.assumeTrue(why == null, "the onednn backend cannot run here: " + why);
        try (Tensor x = OnednnBackendTest.random(DType.F32, 1, 1f, 70, 300); Tensor w = OnednnBackendTest.random(DType.BF16, 2, 1f, 130, 300);
             Tensor w8 = OnednnBackendTest.random(DType.F8_E4M3, 3, 1f, 50, 300); Tensor out = Tensor.allocate(70, 130);
             Tensor out8 = Tensor.allocate(70, 50)) {
            long malloc0 = 0;
            for (int i = 0; i < WARMUP + CYCLES; i++) {
                if (i == WARMUP) {
                    malloc0 = mallocedBytes();
                }
                try (OnednnBackend be = new OnednnBackend(2)) {
                    be.linear(x, w, null, out); // BF16 in place
                    be.linear(x, w8, null, out8); // a converted panel
                }
            }
            long malloc = (mallocedBytes() - malloc0) >> 10;
            assertTrue(malloc <= 12 << 10, "malloc'ed memory grew by " + malloc + " KB over " + CYCLES + " cycles");
        }
    }

    private static final StructLayout MALLINFO2 = MemoryLayout.structLayout(
            IntStream.range(0, 10).mapToObj(i -> ValueLayout.JAVA_LONG.withName("f" + i)).toArray(MemoryLayout[]::new));

    /** glibc's {@code mallinfo2}: {@code uordblks} (in use from the heaps) + {@code hblkhd} (in mmap'ed blocks), all arenas. */
    private static long mallocedBytes() throws Throwable {
        Linker linker = Linker.nativeLinker();
        MemorySegment fn = linker.defaultLookup().find("mallinfo2").orElse(null);
        Assumptions.assumeTrue(fn != null, "no glibc mallinfo2 here");
        MethodHandle h = linker.downcallHandle(fn, FunctionDescriptor.of(MALLINFO2));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = (MemorySegment) h.invokeExact((SegmentAllocator) a);
            return m.get(ValueLayout.JAVA_LONG, 7 * 8) + m.get(ValueLayout.JAVA_LONG, 4 * 8);
        }
    }
}
