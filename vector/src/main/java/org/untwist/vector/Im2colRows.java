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
 * The rows of {@code conv2d}'s implicit GEMM, gathered from one image {@code x [Cin, H, W]} while packing (im2col one
 * tile at a time, never for the whole image): row p is output pixel {@code (oy, ox) = (p / Wo, p % Wo)}, column
 * {@code k = (ci·kh + ky)·kw + kx} is its input value {@code x[ci, oy·s + ky − top, ox·s + kx − left]}, zero in the
 * padding. The weight {@code [Cout, Cin, kh, kw]} read as {@code [Cout, K]} is then the GEMM's ordinary weight matrix.
 *
 * <p>With stride 1, a tile's MR pixels in one output row read MR consecutive input values per k: one masked vector
 * load and store when all of them lie inside the image row, zeros when the input row is padding; tiles across an
 * output row's end, the image's left and right borders and stride 2 take a scalar gather with bounds checks.
 */
final class Im2colRows implements GemmRows {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Vectors per MR-float tile column. */
    private static final int CHUNKS = (MR + L - 1) / L;

    private final MemorySegment xs;
    private final int h, w, kh, kw, stride, top, left, wo;

    /** {@code xs} one batch element's {@code [Cin, h, w]}; {@code wo} the output width. */
    Im2colRows(MemorySegment xs, int h, int w, int kh, int kw, int stride, int top, int left, int wo) {
        this.xs = xs;
        this.h = h;
        this.w = w;
        this.kh = kh;
        this.kw = kw;
        this.stride = stride;
        this.top = top;
        this.left = left;
        this.wo = wo;
    }

    @Override
    public void packTile(float[] pa, int d, int row, int live, int pc, int kc) {
        int oy0 = row / wo, ox0 = row % wo;
        if (stride == 1 && ox0 + live <= wo) {
            packRowTile(pa, d, oy0, ox0, live, pc, kc);
            return;
        }
        int[] iy0 = new int[live], ix0 = new int[live]; // each pixel's top-left input position
        for (int i = 0; i < live; i++) {
            iy0[i] = (row + i) / wo * stride - top;
            ix0[i] = (row + i) % wo * stride - left;
        }
        int kx = pc % kw, ky = pc / kw % kh, ci = pc / (kw * kh);
        for (int q = 0; q < kc; q++, d += MR) {
            long plane = (long) ci * h;
            for (int i = 0; i < live; i++) {
                int iy = iy0[i] + ky, ix = ix0[i] + kx;
                pa[d + i] = iy >= 0 && iy < h && ix >= 0 && ix < w ? xs.getAtIndex(F32, (plane + iy) * w + ix) : 0f;
            }
            for (int i = live; i < MR; i++) {
                pa[d + i] = 0f;
            }
            if (++kx == kw) {
                kx = 0;
                if (++ky == kh) {
                    ky = 0;
                    ci++;
                }
            }
        }
    }

    /** Stride 1, the tile's pixels {@code (oy, ox0 + i)} in one output row: per k, MR consecutive input values. */
    private void packRowTile(float[] pa, int d, int oy, int ox0, int live, int pc, int kc) {
        VectorMask<Float>[] loadMask = masks(live), storeMask = masks(MR);
        int kx = pc % kw, ky = pc / kw % kh, ci = pc / (kw * kh);
        FloatVector zero = FloatVector.zero(F);
        for (int q = 0; q < kc; q++, d += MR) {
            int iy = oy + ky - top, ix = ox0 + kx - left;
            if (iy < 0 || iy >= h) { // a padding row
                for (int c = 0; c < CHUNKS; c++) {
                    zero.intoArray(pa, d + c * L, storeMask[c]);
                }
            } else if (ix >= 0 && ix + live <= w) { // inside the image row
                long o = (((long) ci * h + iy) * w + ix) * Float.BYTES;
                for (int c = 0; c < CHUNKS; c++) {
                    FloatVector.fromMemorySegment(F, xs, o + 4L * c * L, LE, loadMask[c]).intoArray(pa, d + c * L, storeMask[c]);
                }
            } else { // across the left or right border
                long rowStart = ((long) ci * h + iy) * w;
                for (int i = 0; i < MR; i++) {
                    int x = ix + i;
                    pa[d + i] = i < live && x >= 0 && x < w ? xs.getAtIndex(F32, rowStart + x) : 0f;
                }
            }
            if (++kx == kw) {
                kx = 0;
                if (++ky == kh) {
                    ky = 0;
                    ci++;
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
