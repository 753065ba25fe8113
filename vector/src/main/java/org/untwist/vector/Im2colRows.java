package org.untwist.vector;

import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.L;
import static org.untwist.vector.Simd.LE;
import static org.untwist.vector.VectorGemm.MR;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * The rows of {@code conv2d}'s implicit GEMM, gathered from one image while packing (im2col one tile at a time, never
 * for the whole image): row p is output pixel p, column k its k-th patch value ({@link Im2colGeometry}). The weight
 * {@code [Cout, Cin, kh, kw]} read as {@code [Cout, K]} is then the GEMM's ordinary weight matrix.
 *
 * <p>With stride 1, a tile's MR pixels in one output row read MR consecutive input values per k: one masked vector
 * load and store when all of them lie inside the image row, zeros when the input row is padding; tiles across an
 * output row's end, the image's left and right borders and stride 2 take a scalar gather with bounds checks.
 */
final class Im2colRows implements GemmRows {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Vectors per MR-float tile column. */
    private static final int CHUNKS = (MR + L - 1) / L;

    private final Im2colGeometry g;

    Im2colRows(Im2colGeometry g) {
        this.g = g;
    }

    @Override
    public void packTile(float[] pa, int d, int row, int live, int pc, int kc) {
        int ox0 = row % g.wo();
        if (g.stride() == 1 && ox0 + live <= g.wo()) {
            packRowTile(pa, d, row / g.wo(), ox0, live, pc, kc);
            return;
        }
        int[] iy0 = new int[live], ix0 = new int[live]; // each pixel's top-left input position
        for (int i = 0; i < live; i++) {
            iy0[i] = g.inputRow(row + i);
            ix0[i] = g.inputColumn(row + i);
        }
        Im2colGeometry.Cursor c = g.cursor(pc);
        for (int q = 0; q < kc; q++, d += MR, c.next()) {
            long plane = c.plane();
            for (int i = 0; i < live; i++) {
                pa[d + i] = g.valueOrZero(plane, iy0[i] + c.ky, ix0[i] + c.kx);
            }
            for (int i = live; i < MR; i++) {
                pa[d + i] = 0f;
            }
        }
    }

    /** Stride 1, the tile's pixels {@code (oy, ox0 + i)} in one output row: per k, MR consecutive input values. */
    private void packRowTile(float[] pa, int d, int oy, int ox0, int live, int pc, int kc) {
        VectorMask<Float>[] loadMask = masks(live), storeMask = masks(MR);
        int h = g.h(), w = g.w();
        MemorySegment xs = g.xs();
        Im2colGeometry.Cursor c = g.cursor(pc);
        FloatVector zero = FloatVector.zero(F);
        for (int q = 0; q < kc; q++, d += MR, c.next()) {
            int iy = oy + c.ky - g.top(), ix = ox0 + c.kx - g.left();
            if (iy < 0 || iy >= h) { // a padding row
                for (int ch = 0; ch < CHUNKS; ch++) {
                    zero.intoArray(pa, d + ch * L, storeMask[ch]);
                }
            } else if (ix >= 0 && ix + live <= w) { // inside the image row
                long o = ((c.plane() + iy) * w + ix) * Float.BYTES;
                for (int ch = 0; ch < CHUNKS; ch++) {
                    FloatVector.fromMemorySegment(F, xs, o + 4L * ch * L, LE, loadMask[ch]).intoArray(pa, d + ch * L, storeMask[ch]);
                }
            } else { // across the left or right border
                long rowStart = (c.plane() + iy) * w;
                for (int i = 0; i < MR; i++) {
                    int x = ix + i;
                    pa[d + i] = i < live && x >= 0 && x < w ? xs.getAtIndex(F32, rowStart + x) : 0f;
                }
            }
        }
    }

    /** Per chunk of L lanes of an MR-float tile column, the lanes below {@code n}. */
    @SuppressWarnings("unchecked")
    private static VectorMask<Float>[] masks(int n) {
        VectorMask<Float>[] m = new VectorMask[CHUNKS];
        for (int c = 0; c < CHUNKS; c++) {
            m[c] = F.indexInRange(c * L, n);
        }
        return m;
    }
}
