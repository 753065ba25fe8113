package org.untwist.vector;

import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.L;
import static org.untwist.vector.Simd.LE;
import static org.untwist.vector.VectorGemm.NR;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;

/**
 * The columns of {@code conv2d}'s implicit GEMM when the weights are its rows ({@code out[co, p] = Σ_k W[co, k] · X[k, p]},
 * out channels-first as the product is stored): column p is output pixel {@code (oy, ox) = (p / Wo, p % Wo)}, row
 * {@code k = (ci·kh + ky)·kw + kx} its input value {@code x[ci, oy·s + ky − top, ox·s + kx − left]}, zero in the
 * padding. {@link VectorGemm} packs the columns micro-panel by micro-panel, shared by its workers, and every panel then
 * serves all of Cout's row tiles: for a narrow Cout the packed patches are reused Cout/MR times instead of Cout/NR.
 *
 * <p>With stride 1, the NR pixels of a panel that lie in one output row read NR consecutive input values per k: whole
 * vector loads when they are all inside the image row; the rest (row ends, borders, stride 2) a scalar gather.
 */
final class Im2colColumns {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MemorySegment xs;
    private final int h, w, kh, kw, stride, top, left, wo;

    /** {@code xs} one batch element's {@code [Cin, h, w]}; {@code wo} the output width. */
    Im2colColumns(MemorySegment xs, int h, int w, int kh, int kw, int stride, int top, int left, int wo) {
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

    /**
     * Writes columns {@code [col, col + live)} ({@code live ≤ NR}), rows {@code [pc, pc + kc)} as {@code pb[d + q·NR + j]}
     * (q the row from pc, j the column from {@code col}); columns {@code live..NR-1} zero.
     */
    void packPanel(float[] pb, int d, int col, int live, int pc, int kc) {
        int oy0 = col / wo, ox0 = col % wo;
        boolean oneRow = stride == 1 && live == NR && ox0 + NR <= wo;
        int[] iy0 = null, ix0 = null;
        if (!oneRow) { // each pixel's top-left input position
            iy0 = new int[live];
            ix0 = new int[live];
            for (int j = 0; j < live; j++) {
                iy0[j] = (col + j) / wo * stride - top;
                ix0[j] = (col + j) % wo * stride - left;
            }
        }
        int kx = pc % kw, ky = pc / kw % kh, ci = pc / (kw * kh);
        for (int q = 0; q < kc; q++, d += NR) {
            long plane = (long) ci * h;
            if (oneRow) {
                int iy = oy0 + ky - top, ix = ox0 + kx - left;
                if (iy < 0 || iy >= h) {
                    for (int c = 0; c < NR; c += L) {
                        FloatVector.zero(F).intoArray(pb, d + c);
                    }
                } else if (ix >= 0 && ix + NR <= w) {
                    long o = ((plane + iy) * w + ix) * Float.BYTES;
                    for (int c = 0; c < NR; c += L) {
                        FloatVector.fromMemorySegment(F, xs, o + 4L * c, LE).intoArray(pb, d + c);
                    }
                } else {
                    long rowStart = (plane + iy) * w;
                    for (int j = 0; j < NR; j++) {
                        int x = ix + j;
                        pb[d + j] = x >= 0 && x < w ? xs.getAtIndex(F32, rowStart + x) : 0f;
                    }
                }
            } else {
                for (int j = 0; j < live; j++) {
                    int iy = iy0[j] + ky, ix = ix0[j] + kx;
                    pb[d + j] = iy >= 0 && iy < h && ix >= 0 && ix < w ? xs.getAtIndex(F32, (plane + iy) * w + ix) : 0f;
                }
                for (int j = live; j < NR; j++) {
                    pb[d + j] = 0f;
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
}
