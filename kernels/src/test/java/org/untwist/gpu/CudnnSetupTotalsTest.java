package org.untwist.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The process-wide cuDNN setup read-out adds what it is told, and says it in one line; no device needed. */
class CudnnSetupTotalsTest {
    @Test
    void accumulatesBuildsAndTimings() {
        CudnnSetupTotals before = CudnnSetupTotals.sinceStart();
        CudnnSetupTotals.built(3, 2_500_000);
        CudnnSetupTotals.built(1, 500_000);
        CudnnSetupTotals.timed(1_250_000);
        CudnnSetupTotals after = CudnnSetupTotals.sinceStart();
        assertEquals(2, after.plansBuilt() - before.plansBuilt());
        assertEquals(4, after.finalizations() - before.finalizations());
        assertEquals(3.0, after.buildMs() - before.buildMs(), 1e-9);
        assertEquals(1, after.shapesTimed() - before.shapesTimed());
        assertEquals(1.25, after.timingMs() - before.timingMs(), 1e-9);
        String line = new CudnnSetupTotals(2, 4, 3.0, 1, 1.25).toString();
        assertEquals("cuDNN attention setup: 2 plans built (4 finalizations) in 3.0 ms, 1 timed in 1.3 ms", line);
        assertTrue(line.lines().count() == 1);
    }
}
