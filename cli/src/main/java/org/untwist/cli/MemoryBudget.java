package org.untwist.cli;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The memory a command's request needs, compared with what this machine has before anything is allocated.
 *
 * <p>Activations live in native memory, outside the Java heap, so the budget is the machine's: on Linux
 * {@code MemAvailable} of {@code /proc/meminfo} (free memory plus the page cache the kernel can reclaim),
 * within a container memory limit (the JVM's container-aware free memory: limit − usage) when one applies;
 * elsewhere the JVM's free physical memory. {@code -Duntwist.maxMemory=SIZE} (e.g. {@code 8g}) sets the
 * budget instead. Memory the Java heap needs (attention maps of {@code analyze}) is compared with the heap's
 * limit ({@code -Xmx}).
 */
final class MemoryBudget {
    static final String PROPERTY = "untwist.maxMemory";
    private static final double GIB = 1024.0 * 1024 * 1024;

    private MemoryBudget() {
    }

    /** Bytes available, and where the number comes from (for the message). */
    record Available(long bytes, String source) {
    }

    static Available available() {
        String cap = System.getProperty(PROPERTY);
        if (cap != null && !cap.isBlank()) {
            return new Available(parseSize(cap), "-D" + PROPERTY);
        }
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long free = os.getFreeMemorySize(), memAvailable = meminfo("MemAvailable"), memTotal = meminfo("MemTotal");
        if (memAvailable < 0) {
            return new Available(free, "free physical memory");
        }
        if (memTotal > 0 && os.getTotalMemorySize() < memTotal) { // a container memory limit below the host's memory
            return free < memAvailable ? new Available(free, "container limit minus usage") : new Available(memAvailable, "MemAvailable");
        }
        return new Available(memAvailable, "MemAvailable");
    }

    /**
     * Refuses a request whose native memory {@code bytes} exceeds what is available.
     *
     * @param what      the command and what grows, e.g. {@code "generate"}, used as "{what} needs ~X GiB {forWhat}"
     * @param forWhat   e.g. {@code "for 1000000 targets"}
     */
    static void require(String what, long bytes, String forWhat) {
        Available a = available();
        if (bytes > a.bytes()) {
            throw new IllegalArgumentException(what + " needs ~" + gib(bytes) + " of memory " + forWhat + ", " + gib(a.bytes())
                    + " available (" + a.source() + "; -D" + PROPERTY + "=SIZE overrides)");
        }
    }

    /** Refuses a request whose Java-heap memory {@code bytes} exceeds the heap's limit. */
    static void requireHeap(String what, long bytes, String forWhat) {
        Runtime rt = Runtime.getRuntime();
        long free = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
        if (bytes > free) {
            throw new IllegalArgumentException(what + " needs ~" + gib(bytes) + " of Java heap " + forWhat + ", " + gib(free)
                    + " free of the " + gib(rt.maxMemory()) + " limit (-Xmx)");
        }
    }

    /** {@code 4 × Π dims} bytes (float32), saturating at {@code Long.MAX_VALUE} instead of overflowing. */
    static long floats(long... dims) {
        long n = 4;
        for (long d : dims) {
            if (d < 0) {
                return 0;
            }
            if (d != 0 && n > Long.MAX_VALUE / d) {
                return Long.MAX_VALUE;
            }
            n *= d;
        }
        return n;
    }

    /** The sum, saturating at {@code Long.MAX_VALUE}. */
    static long sum(long... parts) {
        long s = 0;
        for (long p : parts) {
            s = p > Long.MAX_VALUE - s ? Long.MAX_VALUE : s + p;
        }
        return s;
    }

    static String gib(long bytes) {
        return bytes == Long.MAX_VALUE ? "more than 8 EiB" : String.format(Locale.ROOT, bytes < 0.1 * GIB ? "%.3f GiB" : "%.1f GiB", bytes / GIB);
    }

    /** {@code 123}, {@code 64k}, {@code 512m}, {@code 8g}, {@code 1t} (binary units; an optional {@code b}/{@code ib}). */
    static long parseSize(String s) {
        try {
            return org.untwist.tensor.ByteSize.parse(s);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("-D" + PROPERTY + "=" + s + " is not a size such as 8g or 512m");
        }
    }

    /** A field of /proc/meminfo in bytes, or -1 when there is none (not Linux). */
    private static long meminfo(String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith(field + ":")) {
                    String[] p = line.substring(field.length() + 1).trim().split("\\s+");
                    return Long.parseLong(p[0]) * (p.length > 1 && p[1].equalsIgnoreCase("kB") ? 1024 : 1);
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux or not readable: fall back
        }
        return -1;
    }
}
