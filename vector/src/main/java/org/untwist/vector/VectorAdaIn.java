package org.untwist.vector;

import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.L;
import static org.untwist.vector.Simd.LE;
import static org.untwist.vector.Simd.load;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import org.untwist.tensor.Tensor;

/** AdaIN: each head's channels of x moved to the mean and standard deviation of the reference's, over the tokens. */
final class VectorAdaIn {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Tokens per partial sum of the statistics (bounds the float accumulation error). */
    static final int ADAIN_TOKENS = 64;

    private VectorAdaIn() {
    }

    /**
     * Statistics per channel with {@link FloatVector} lanes across the contiguous channels of each token row: the
     * reference's over all heads first (so that nothing is written before every statistic is read, even if
     * {@code out} overlaps {@code ref}), then tasks of (batch, head) take their own statistics and write
     * {@code (x − μ_x)·(σ_ref/σ_x) + μ_ref} token by token.
     */
    static void adaIn(ComputePool pool, Tensor x, Tensor ref, float eps, Tensor out, int batch, int heads, int tokens,
                      int headDim, int refTokens, int tokenStart) {
        if (batch == 0 || heads == 0 || headDim == 0) {
            return;
        }
        MemorySegment xs = x.segment(), rs = ref.segment(), os = out.segment();
        long rowBytes = (long) headDim * 4;
        float[] refMean = new float[heads * headDim], refStd = new float[heads * headDim];
        pool.parallelFor(heads, (h, s) -> {
            s.stats(headDim);
            channelStats(rs, (long) h * refTokens * rowBytes, tokenStart, refTokens, headDim, eps, s);
            System.arraycopy(s.mean, 0, refMean, h * headDim, headDim);
            System.arraycopy(s.std, 0, refStd, h * headDim, headDim);
        });
        boolean inPlace = xs.isNative() && os.isNative() && xs.address() == os.address();
        int bound = F.loopBound(headDim);
        pool.parallelFor(batch * heads, (bh, s) -> {
            int h = bh % heads, r = h * headDim;
            long base = (long) bh * tokens * rowBytes;
            s.stats(headDim);
            channelStats(xs, base, tokenStart, tokens, headDim, eps, s);
            float[] mean = s.mean, gain = s.std;
            int d = 0;
            for (; d < bound; d += L) {
                FloatVector.fromArray(F, refStd, r + d).div(FloatVector.fromArray(F, gain, d)).intoArray(gain, d);
            }
            for (; d < headDim; d++) {
                gain[d] = refStd[r + d] / gain[d];
            }
            if (tokenStart > 0 && !inPlace) {
                MemorySegment.copy(xs, base, os, base, tokenStart * rowBytes);
            }
            for (int t = tokenStart; t < tokens; t++) {
                long row = base + t * rowBytes;
                for (d = 0; d < bound; d += L) {
                    load(xs, row + 4L * d).sub(FloatVector.fromArray(F, mean, d))
                            .fma(FloatVector.fromArray(F, gain, d), FloatVector.fromArray(F, refMean, r + d))
                            .intoMemorySegment(os, row + 4L * d, LE);
                }
                for (; d < headDim; d++) {
                    os.set(F32, row + 4L * d, Math.fma(xs.get(F32, row + 4L * d) - mean[d], gain[d], refMean[r + d]));
                }
            }
        });
    }

    /**
     * Into {@code s.mean} and {@code s.std}: per channel of the {@code [*, headDim]} rows at byte {@code base},
     * the mean and {@code sqrt(unbiased variance + eps)} over rows {@code [from, to)} (at least 2). Two passes
     * (sum, then centered squares), each summing {@link #ADAIN_TOKENS} rows into a partial before adding it to
     * the total.
     */
    private static void channelStats(MemorySegment xs, long base, int from, int to, int headDim, float eps, Scratch s) {
        float[] mean = s.mean, std = s.std, part = s.part;
        long rowBytes = (long) headDim * 4;
        int bound = F.loopBound(headDim);
        int n = to - from;
        for (int pass = 0; pass < 2; pass++) {
            float[] total = pass == 0 ? mean : std;
            java.util.Arrays.fill(total, 0, headDim, 0f);
            for (int t0 = from; t0 < to; t0 += ADAIN_TOKENS) {
                int t1 = Math.min(to, t0 + ADAIN_TOKENS);
                java.util.Arrays.fill(part, 0, headDim, 0f);
                for (int t = t0; t < t1; t++) {
                    long row = base + t * rowBytes;
                    int d = 0;
                    if (pass == 0) {
                        for (; d < bound; d += L) {
                            FloatVector.fromArray(F, part, d).add(load(xs, row + 4L * d)).intoArray(part, d);
                        }
                        for (; d < headDim; d++) {
                            part[d] += xs.get(F32, row + 4L * d);
                        }
                    } else {
                        for (; d < bound; d += L) {
                            FloatVector c = load(xs, row + 4L * d).sub(FloatVector.fromArray(F, mean, d));
                            c.fma(c, FloatVector.fromArray(F, part, d)).intoArray(part, d);
                        }
                        for (; d < headDim; d++) {
                            float c = xs.get(F32, row + 4L * d) - mean[d];
                            part[d] = Math.fma(c, c, part[d]);
                        }
                    }
                }
                int d = 0;
                for (; d < bound; d += L) {
                    FloatVector.fromArray(F, total, d).add(FloatVector.fromArray(F, part, d)).intoArray(total, d);
                }
                for (; d < headDim; d++) {
                    total[d] += part[d];
                }
            }
            float div = pass == 0 ? n : n - 1;
            int d = 0;
            for (; d < bound; d += L) {
                FloatVector v = FloatVector.fromArray(F, total, d).div(div);
                (pass == 0 ? v : v.add(eps).lanewise(VectorOperators.SQRT)).intoArray(total, d);
            }
            for (; d < headDim; d++) {
                total[d] = pass == 0 ? total[d] / div : (float) Math.sqrt(total[d] / div + eps);
            }
        }
    }
}
