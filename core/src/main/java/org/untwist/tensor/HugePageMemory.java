package org.untwist.tensor;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Locale;

/**
 * Zero-filled memory for large tensors from an anonymous {@code mmap} advised {@code MADV_HUGEPAGE}, on Linux: the
 * kernel hands out zeroed pages on first touch, 2 MiB at a time where transparent huge pages allow it, instead of the
 * allocator's memory being zeroed 4 KiB page fault by page fault. Measured on the 2-core AMD EPYC VM (JDK 25): 520 MiB
 * zero-filled by {@code Arena.allocate} took 1.43 s (about 11 µs a page fault), the same touched after this
 * allocation 0.03–0.87 s (the first request in a process may wait for the kernel to compact memory into huge pages).
 * That is a FLUX workspace at 1,280 tokens, paid on a command's first forward pass.
 *
 * <p>Used only where it can be: Linux, transparent huge pages not {@code never}, and native access enabled for this
 * module ({@code --enable-native-access}; without it nothing restricted is called and no warning is printed).
 * Otherwise, and whenever {@code mmap} fails, {@link #allocate} returns null and the caller allocates as usual. The
 * mapping is unmapped when the arena closes.
 *
 * <p>With {@code -Duntwist.keepFreedMemory=SIZE} (e.g. {@code 1g}; the CLI's background JVM sets it) up to that many
 * bytes of freed mappings stay resident and serve later allocations of the same length, zeroed by a fill at memory
 * speed instead of page fault by page fault: a process that runs one command after another then pays its workspace's
 * page faults once (measured on the depth-1/1 FLUX model: about 0.5 s of a 3 s forward). Off by default: a library's
 * freed memory goes back to the system.
 */
final class HugePageMemory {
    /** Smaller allocations gain nothing worth a system call. */
    static final long MIN_BYTES = 8L << 20;
    private static final long HUGE_PAGE = 2L << 20;
    private static final int PROT_READ_WRITE = 0x1 | 0x2, MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20, MADV_HUGEPAGE = 14;

    private static final MethodHandle MMAP, MUNMAP, MADVISE;
    /** Freed mappings kept for reuse ({@code untwist.keepFreedMemory}): addresses by mapped length. */
    private static final java.util.Map<Long, java.util.ArrayDeque<Long>> KEPT = new java.util.HashMap<>();
    private static long keptBytes;

    static {
        MethodHandle mmap = null, munmap = null, madvise = null;
        if (usable()) {
            try {
                Linker linker = Linker.nativeLinker();
                SymbolLookup libc = linker.defaultLookup();
                mmap = linker.downcallHandle(libc.findOrThrow("mmap"),
                        FunctionDescriptor.of(JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
                munmap = linker.downcallHandle(libc.findOrThrow("munmap"), FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG));
                madvise = linker.downcallHandle(libc.findOrThrow("madvise"), FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT));
            } catch (RuntimeException | LinkageError e) {
                mmap = null; // no libc symbols as expected: the ordinary allocation it is
            }
        }
        MMAP = mmap;
        MUNMAP = munmap;
        MADVISE = madvise;
    }

    private HugePageMemory() {
    }

    private static boolean usable() {
        if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("linux")
                || !HugePageMemory.class.getModule().isNativeAccessEnabled() || Boolean.getBoolean("untwist.noHugePages")) {
            return false;
        }
        try {
            String thp = java.nio.file.Files.readString(java.nio.file.Path.of("/sys/kernel/mm/transparent_hugepage/enabled"));
            return !thp.contains("[never]");
        } catch (java.io.IOException | RuntimeException e) {
            return false;
        }
    }

    /** Whether {@link #allocate} maps memory here (Linux, huge pages possible, native access enabled). */
    static boolean available() {
        return MMAP != null;
    }

    /**
     * {@code bytes} of zeroed memory, page-aligned, unmapped when {@code arena} closes; null when not available here,
     * when {@code bytes} is below {@link #MIN_BYTES}, or when the mapping fails (the caller then allocates as usual).
     */
    static MemorySegment allocate(long bytes, Arena arena) {
        if (MMAP == null || bytes < MIN_BYTES) {
            return null;
        }
        try {
            long length = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
            Long kept = takeKept(length);
            if (kept != null) { // a freed mapping of this length, resident: zeroed here
                long address = kept;
                MemorySegment m = MemorySegment.ofAddress(address).reinterpret(length, arena, s -> release(address, length));
                m.fill((byte) 0);
                return m.asSlice(0, bytes);
            }
            long address = (long) MMAP.invokeExact(MemorySegment.NULL, length, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0L);
            if (address == -1L || address == 0L) {
                return null; // MAP_FAILED: let the ordinary allocation report the shortage
            }
            int ignored = (int) MADVISE.invokeExact(address, length, MADV_HUGEPAGE); // advice only: 4 KiB pages if refused
            return MemorySegment.ofAddress(address).reinterpret(length, arena, s -> release(address, length)).asSlice(0, bytes);
        } catch (Throwable e) {
            return null;
        }
    }

    /** The bytes of freed mappings kept now (tests). */
    static synchronized long keptBytes() {
        return keptBytes;
    }

    private static synchronized Long takeKept(long length) {
        java.util.ArrayDeque<Long> q = KEPT.get(length);
        Long address = q == null ? null : q.pollFirst();
        if (address != null) {
            keptBytes -= length;
        }
        return address;
    }

    /** Keeps a freed mapping for reuse while the kept bytes stay within {@code untwist.keepFreedMemory}, else unmaps it. */
    private static void release(long address, long length) {
        synchronized (HugePageMemory.class) {
            if (keptBytes + length <= ByteSize.propertyOrZero("untwist.keepFreedMemory")) {
                KEPT.computeIfAbsent(length, k -> new java.util.ArrayDeque<>()).addFirst(address);
                keptBytes += length;
                return;
            }
        }
        unmap(address, length);
    }

    private static void unmap(long address, long length) {
        try {
            int ignored = (int) MUNMAP.invokeExact(address, length);
        } catch (Throwable e) {
            // nothing to do on close: the mapping goes with the process
        }
    }
}
