package org.untwist.gpu;

/** The device has too little free memory for an allocation; the backend stays usable. */
public final class GpuOutOfMemoryException extends RuntimeException {
    private final long requested;

    GpuOutOfMemoryException(long requested, String what, String device, long[] freeAndTotal) {
        super("out of GPU memory on " + device + ": " + what + " needs " + mib(requested)
                + (freeAndTotal == null ? "" : ", " + mib(freeAndTotal[0]) + " free of " + mib(freeAndTotal[1])));
        this.requested = requested;
    }

    /** Bytes the failed allocation asked for. */
    public long requested() {
        return requested;
    }

    private static String mib(long bytes) {
        return bytes >= (1L << 30) ? String.format(java.util.Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30))
                : String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
    }
}
