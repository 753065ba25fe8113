package org.untwist.gpu;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.untwist.gpu.cuda.CudaDriverApi;

/**
 * Launches our kernels ({@link KernelModule}) on one backend's stream: the arguments packed the way
 * {@code cuLaunchKernel} takes them, the launch shapes the kernels are written for, and whether the backend
 * is still open (a closed backend launches nothing; {@link GpuBackend} also asks before its memory calls).
 */
final class KernelLauncher {
    /** Threads per block of the grid-stride and row-wise kernels. */
    static final int BLOCK = 256;

    private final GpuDevice dev;
    private final MemorySegment stream;
    private boolean closed;

    KernelLauncher(GpuDevice dev, MemorySegment stream) {
        this.dev = dev;
        this.stream = stream;
    }

    /** Kernel arguments: each value in native memory, and the array of pointers to them that cuLaunchKernel takes. */
    static final class Args {
        private final Arena a = Arena.ofConfined();
        private final List<MemorySegment> values = new ArrayList<>();

        Args ptr(long address) {
            values.add(a.allocateFrom(JAVA_LONG, address));
            return this;
        }

        Args i32(int v) {
            values.add(a.allocateFrom(JAVA_INT, v));
            return this;
        }

        Args i64(long v) {
            values.add(a.allocateFrom(JAVA_LONG, v));
            return this;
        }

        Args f32(float v) {
            values.add(a.allocateFrom(JAVA_FLOAT, v));
            return this;
        }
    }

    static Args args() {
        return new Args();
    }

    /** Launches {@code kernel} with {@code block} threads per block; frees the arguments whatever happens. */
    void launch(String kernel, long gridX, int gridY, int gridZ, int block, int smem, Args args) {
        Arena arena = args.a;
        try (arena) {
            requireOpen();
            if (gridX > Integer.MAX_VALUE || gridY > 65535 || gridZ > 65535) {
                throw new IllegalArgumentException(kernel + ": grid " + gridX + " x " + gridY + " x " + gridZ + " exceeds the device limits");
            }
            MemorySegment params = args.a.allocate(ADDRESS, args.values.size());
            for (int i = 0; i < args.values.size(); i++) {
                params.setAtIndex(ADDRESS, i, args.values.get(i));
            }
            dev.makeCurrent();
            CudaDriverApi.launchKernel(dev.function(kernel), (int) gridX, gridY, gridZ, block, smem, stream, params, kernel);
        }
    }

    static long ceil(long n, long d) {
        return (n + d - 1) / d;
    }

    /** Blocks for a grid-stride loop over {@code n} elements: enough to fill the device, not more. */
    long grid(long n) {
        return Math.max(1, Math.min(ceil(n, BLOCK), (long) dev.sms * 32));
    }

    /** Threads for a row-wise kernel over {@code work} items per row: a multiple of 32, at most BLOCK. */
    static int rowThreads(int work) {
        return (int) Math.max(32, Math.min(BLOCK, ceil(Math.max(1, work), 32) * 32));
    }

    /** Whether rows of {@code dim} floats at these addresses can be read as float4. */
    static boolean vec4(int dim, long... addresses) {
        if (dim % 4 != 0) {
            return false;
        }
        for (long a : addresses) {
            if ((a & 15) != 0) {
                return false;
            }
        }
        return true;
    }

    void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the gpu backend is closed");
        }
    }

    boolean isClosed() {
        return closed;
    }

    /** Refuses every later launch; the backend then frees what the launches used. */
    void close() {
        closed = true;
    }
}
