package org.untwist.gpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.untwist.backend.ScalarBackend;
import org.untwist.tensor.Tensor;

/**
 * The host-side planning of {@link GpuImageOps}, without a device: the permute kernel's merged dimensions and strides
 * (its index arithmetic emulated here, as permute_copy does it) against the scalar backend's permute for every
 * permutation of several shapes, and the im2col band size bound.
 */
class GpuImageOpsPlanTest {

    private static void permutations(int[] a, int k, List<int[]> out) {
        if (k == a.length) {
            out.add(a.clone());
            return;
        }
        for (int i = k; i < a.length; i++) {
            int t = a[k]; a[k] = a[i]; a[i] = t;
            permutations(a, k + 1, out);
            t = a[k]; a[k] = a[i]; a[i] = t;
        }
    }

    /** permute_copy's loop body for output element o. */
    private static long source(long[][] plan, long o) {
        long[] d = plan[0], s = plan[1];
        long r = o, src = 0;
        for (int j = GpuImageOps.PERMUTE_RANK - 1; j >= 1; j--) {
            src += (r % d[j]) * s[j];
            r /= d[j];
        }
        return src + r * s[0];
    }

    @Test
    void permutePlanMatchesTheScalarPermute() {
        int[][] shapes = {{2, 16, 3, 2, 4, 2}, {2, 3, 1, 4, 1, 5}, {3, 4}, {5}, {2, 1, 3, 1, 2, 2, 3}, {1, 1, 1}};
        int checked = 0;
        try (ScalarBackend oracle = new ScalarBackend()) {
            for (int[] shape : shapes) {
                int[] id = new int[shape.length];
                for (int i = 0; i < id.length; i++) {
                    id[i] = i;
                }
                List<int[]> perms = new ArrayList<>();
                permutations(id, 0, perms);
                for (int[] axes : perms) {
                    long[][] plan = GpuImageOps.permutePlan(shape, axes);
                    if (plan == null) {
                        continue;
                    }
                    int[] outShape = new int[shape.length];
                    for (int i = 0; i < shape.length; i++) {
                        outShape[i] = shape[axes[i]];
                    }
                    try (Tensor x = Tensor.allocate(shape); Tensor want = Tensor.allocate(outShape)) {
                        for (long i = 0; i < x.numel(); i++) {
                            x.set(i, i);
                        }
                        oracle.permute(x, axes, want);
                        for (long o = 0; o < want.numel(); o++) {
                            assertEquals(want.get(o), (float) source(plan, o), java.util.Arrays.toString(shape) + " by " + java.util.Arrays.toString(axes));
                        }
                        checked++;
                    }
                }
            }
        }
        assertTrue(checked > 700, "checked " + checked);
    }

    @Test
    void theLatentPackingTakesSixDimensionsAndAdjacentOnesMerge() {
        // [B, C, h, 2, w, 2] -> [B, h, w, C, 2, 2]: no two output dimensions are adjacent in the source
        long[][] pack = GpuImageOps.permutePlan(new int[] {2, 16, 64, 2, 64, 2}, new int[] {0, 2, 4, 1, 3, 5});
        assertArrayEquals(new long[] {2, 64, 64, 16, 2, 2}, pack[0]);
        assertArrayEquals(new long[] {16L * 128 * 128, 256, 2, 128 * 128, 128, 1}, pack[1]);
        // channels-first to tokens [B, C, H, W] -> [B, H, W, C]: H and W merge
        long[][] tokens = GpuImageOps.permutePlan(new int[] {1, 512, 32, 48}, new int[] {0, 2, 3, 1});
        assertArrayEquals(new long[] {1, 1, 1, 1, 32 * 48, 512}, tokens[0]);
        assertArrayEquals(new long[] {0, 0, 0, 0, 1, 32 * 48}, tokens[1]);
        // seven dimensions, reversed: nothing merges
        assertNull(GpuImageOps.permutePlan(new int[] {2, 2, 2, 2, 2, 2, 2}, new int[] {6, 5, 4, 3, 2, 1, 0}));
    }

    @Test
    void im2colBandsStayWithinTheScratchBound() {
        long k = 128L * 9, plane = 1024L * 1024;
        int cols = GpuImageOps.bandColumns(k, plane);
        assertEquals(14560, cols);
        assertTrue(k * cols * 4 <= GpuImageOps.COL_BYTES);
        assertEquals(73, (plane + cols - 1) / cols);
        assertEquals(30, GpuImageOps.bandColumns(9, 30)); // a whole small map in one band
        assertEquals(1, GpuImageOps.bandColumns(GpuImageOps.COL_BYTES, 10)); // at least one pixel
        assertEquals(0, GpuImageOps.bandColumns(4608, 512L * 512) % 32);
    }
}
