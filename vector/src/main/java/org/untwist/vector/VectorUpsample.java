package org.untwist.vector;

import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.L;
import static org.untwist.vector.Simd.LE;
import static org.untwist.vector.Simd.load;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import org.untwist.tensor.Tensor;

/**
 * {@code upsampleNearest2x}: each input row of W values becomes two equal output rows of 2W, every value twice. L input
 * values are duplicated into two vectors by the lane permutations {@link Simd#DUP_LOW} and {@link Simd#DUP_HIGH}; the
 * tail is scalar. Input rows are split into chunks (a copy: any split gives the same bits).
 */
final class VectorUpsample {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private VectorUpsample() {
    }

    static void upsampleNearest2x(ComputePool pool, Tensor x, Tensor out, long planes, int h, int w) {
        MemorySegment xs = x.segment(), os = out.segment();
        long rowBytes = 4L * w, outRowBytes = 8L * w;
        int bound = F.loopBound(w);
        pool.parallelRows(planes * h, 4 * w, (from, to) -> {
            for (long r = from; r < to; r++) { // input row r is output rows 2r and 2r + 1
                long src = r * rowBytes, dst = 2 * r * outRowBytes;
                int i = 0;
                for (; i < bound; i += L) {
                    FloatVector v = load(xs, src + 4L * i);
                    FloatVector lo = v.rearrange(Simd.DUP_LOW), hi = v.rearrange(Simd.DUP_HIGH);
                    long o = dst + 8L * i;
                    lo.intoMemorySegment(os, o, LE);
                    hi.intoMemorySegment(os, o + 4L * L, LE);
                    lo.intoMemorySegment(os, o + outRowBytes, LE);
                    hi.intoMemorySegment(os, o + outRowBytes + 4L * L, LE);
                }
                for (; i < w; i++) {
                    float v = xs.get(F32, src + 4L * i);
                    long o = dst + 8L * i;
                    os.set(F32, o, v);
                    os.set(F32, o + 4, v);
                    os.set(F32, o + outRowBytes, v);
                    os.set(F32, o + outRowBytes + 4, v);
                }
            }
        });
    }
}
