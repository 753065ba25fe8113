package org.untwist.gpu;

import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What setting up cuDNN attention has cost this process so far, over every backend: plans built (one per attention
 * shape a cuDNN context met), the execution-plan finalizations tried for them (finalizing compiles kernels), the wall time of
 * those builds, and the shapes whose candidates were timed on first use with the time that took. A read-out for
 * benchmarks and tests that ask where a backend's first calls or a pipeline cycle spend their time.
 *
 * @param plansBuilt     attention plans built (shapes met by a context without one)
 * @param finalizations  execution-plan finalizations tried while building them (failed ones too)
 * @param buildMs        wall milliseconds spent building (graph, heuristics, finalization)
 * @param shapesTimed    plans whose candidates were timed to choose one
 * @param timingMs       wall milliseconds spent timing
 */
public record CudnnSetupTotals(long plansBuilt, long finalizations, double buildMs, long shapesTimed, double timingMs) {
    private static final AtomicLong BUILT = new AtomicLong(), FINALIZED = new AtomicLong(), BUILD_NANOS = new AtomicLong(),
            TIMED = new AtomicLong(), TIMING_NANOS = new AtomicLong();

    /** The totals of this process so far. */
    public static CudnnSetupTotals sinceStart() {
        return new CudnnSetupTotals(BUILT.get(), FINALIZED.get(), BUILD_NANOS.get() / 1e6, TIMED.get(), TIMING_NANOS.get() / 1e6);
    }

    static void built(long finalizationsTried, long nanos) {
        BUILT.incrementAndGet();
        FINALIZED.addAndGet(finalizationsTried);
        BUILD_NANOS.addAndGet(nanos);
    }

    static void timed(long nanos) {
        TIMED.incrementAndGet();
        TIMING_NANOS.addAndGet(nanos);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "cuDNN attention setup: %d plans built (%d finalizations) in %.1f ms, %d timed in %.1f ms",
                plansBuilt, finalizations, buildMs, shapesTimed, timingMs);
    }
}
