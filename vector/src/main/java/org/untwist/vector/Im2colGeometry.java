package org.untwist.vector;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Where {@code conv2d}'s implicit-GEMM operand reads from, shared by {@link Im2colRows} (pixels as the GEMM's rows) and
 * {@link Im2colColumns} (pixels as its columns): one batch element's image {@code x [Cin, h, w]}, the kernel size, stride
 * and top/left padding, and the output width. Output pixel p is {@code (oy, ox) = (p / wo, p % wo)}; the operand's
 * k-th value for it is {@code x[ci, oy·stride + ky − top, ox·stride + kx − left]} with {@code k = (ci·kh + ky)·kw + kx},
 * zero in the padding.
 */
record Im2colGeometry(MemorySegment xs, int h, int w, int kh, int kw, int stride, int top, int left, int wo) {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The input row of pixel p's top-left patch value ({@code ky = 0}); may lie in the padding. */
    int inputRow(int p) {
        return p / wo * stride - top;
    }

    /** The input column of pixel p's top-left patch value ({@code kx = 0}); may lie in the padding. */
    int inputColumn(int p) {
        return p % wo * stride - left;
    }

    /** {@code x[ci, iy, ix]} (plane = {@code ci·h}), zero outside the image. */
    float valueOrZero(long plane, int iy, int ix) {
        return iy >= 0 && iy < h && ix >= 0 && ix < w ? xs.getAtIndex(F32, (plane + iy) * w + ix) : 0f;
    }

    /** The position of k {@code (ci, ky, kx)} as a cursor that steps through k in order. */
    Cursor cursor(int k) {
        return new Cursor(k / (kw * kh), k / kw % kh, k % kw);
    }

    /** The channel and kernel offsets of one k, stepped in k order. */
    final class Cursor {
        int ci, ky, kx;

        private Cursor(int ci, int ky, int kx) {
            this.ci = ci;
            this.ky = ky;
            this.kx = kx;
        }

        /** The offset of channel ci's plane in rows of the image: {@code ci·h}. */
        long plane() {
            return (long) ci * h;
        }

        /** Moves to k + 1. */
        void next() {
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
