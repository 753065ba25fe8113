package org.untwist.vector;

import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.L;
import static org.untwist.vector.Simd.LE;
import static org.untwist.vector.VectorGemm.NR;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/**
 * The columns of {@code conv2d}'s implicit GEMM when the weights are its rows ({@code out[co, p] = Σ_k W[co, k] · X[k, p]},
 * out channels-first as the product is stored): column p is output pixel p, row k its k-th patch value
 * ({@link Im2colGeometry}). {@link VectorGemm} packs the columns micro-panel by micro-panel, shared by its workers, and every panel then
 * serves all of Cout's row tiles: for a narrow Cout the packed patches are reused Cout/MR times instead of Cout/NR.
 *
 * <p>With stride 1, the NR pixels of a panel that lie in one output row read NR consecutive input values per k: whole
 * vector loads when they are all inside the image row; the rest (row ends, borders, stride 2) a scalar gather.
 */
final class Im2colColumns {
    private final Im2colGeometry g;

    Im2colColumns(Im2colGeometry g) {
        this.g = g;
    }

    /**
     * Writes columns {@code [col, col + live)} ({@code live ≤ NR}), rows {@code [pc, pc + kc)} as {@code pb[d + q·NR + j]}
     * (q the row from pc, j the column from {@code col}); columns {@code live..NR-1} zero.
     */
    void packPanel(float[] pb, int d, int col, int live, int pc, int kc) {
        int ox0 = col % g.wo();
        boolean oneRow = g.stride() == 1 && live == NR && ox0 + NR <= g.wo();
        int[] iy0 = null, ix0 = null;
        if (!oneRow) { // each pixel's top-left input position
            iy0 = new int[live];
            ix0 = new int[live];
            for (int j = 0; j < live; j++) {
                iy0[j] = g.inputRow(col + j);
                ix0[j] = g.inputColumn(col + j);
            }
        }
        int h = g.h(), w = g.w(), oy0 = col / g.wo();
        MemorySegment xs = g.xs();
        Im2colGeometry.Cursor c = g.cursor(pc);
        for (int q = 0; q < kc; q++, d += NR, c.next()) {
            long plane = c.plane();
            if (!oneRow) {
                for (int j = 0; j < live; j++) {
                    pb[d + j] = g.valueOrZero(plane, iy0[j] + c.ky, ix0[j] + c.kx);
                }
                for (int j = live; j < NR; j++) {
                    pb[d + j] = 0f;
                }
                continue;
            }
            int iy = oy0 + c.ky - g.top(), ix = ox0 + c.kx - g.left();
            if (iy < 0 || iy >= h) { // a padding row
                for (int v = 0; v < NR; v += L) {
                    FloatVector.zero(F).intoArray(pb, d + v);
                }
            } else if (ix >= 0 && ix + NR <= w) { // inside the image row
                long o = ((plane + iy) * w + ix) * Float.BYTES;
                for (int v = 0; v < NR; v += L) {
                    FloatVector.fromMemorySegment(F, xs, o + 4L * v, LE).intoArray(pb, d + v);
                }
            } else { // across the left or right border
                for (int j = 0; j < NR; j++) {
                    pb[d + j] = g.valueOrZero(plane, iy, ix + j);
                }
            }
        }
    }
}
