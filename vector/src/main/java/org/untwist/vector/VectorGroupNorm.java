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
 * {@code groupNorm} in two parallel phases. Statistics, one task per (batch element, group), whose values lie
 * contiguous: the mean, then the sum of squared deviations from it (two passes over the group), each summed lane-wise
 * in float over blocks of {@link #BLOCK} values, every block's lanes folded by {@link Simd#sum} into a double
 * accumulator, block after block (the autoencoder's groups hold up to 16 channels × 1024² values: float alone would
 * lose digits). Then normalization, chunks of (batch, channel) planes: {@code (x − mean)·a + bias} with
 * {@code a = weight·inv} per channel, one FMA per value. Every order is fixed by the data layout alone.
 */
final class VectorGroupNorm {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Values per float partial sum (a multiple of any lane count). */
    static final int BLOCK = 1024;

    private VectorGroupNorm() {
    }

    static void groupNorm(ComputePool pool, Tensor x, int groups, Tensor weight, Tensor bias, float eps, Tensor out, int b, int c,
                          long spatial) {
        if (b == 0 || c == 0 || spatial == 0) {
            return;
        }
        MemorySegment xs = x.segment(), os = out.segment(), ws = weight.segment(), bs = bias.segment();
        int per = c / groups;
        long n = per * spatial;
        float[] mean = new float[b * groups], inv = new float[b * groups];
        pool.parallelFor(b * groups, (t, s) -> {
            long base = t * n * Float.BYTES;
            double m = sum(xs, base, n, 0f, false) / n;
            double var = sum(xs, base, n, (float) m, true) / n;
            mean[t] = (float) m;
            inv[t] = (float) (1.0 / Math.sqrt(var + eps));
        });
        long bound = F.loopBound(spatial);
        pool.parallelRows((long) b * c, (int) Math.min(Integer.MAX_VALUE, spatial), (from, to) -> {
            for (long plane = from; plane < to; plane++) {
                int ch = (int) (plane % c), g = (int) (plane / c) * groups + ch / per;
                float mu = mean[g], a = ws.getAtIndex(F32, ch) * inv[g], beta = bs.getAtIndex(F32, ch);
                long base = plane * spatial * Float.BYTES;
                long i = 0;
                for (; i < bound; i += L) {
                    long o = base + 4 * i;
                    load(xs, o).sub(mu).lanewise(jdk.incubator.vector.VectorOperators.FMA, a, beta).intoMemorySegment(os, o, LE);
                }
                for (; i < spatial; i++) {
                    long o = base + 4 * i;
                    os.set(F32, o, Math.fma(xs.get(F32, o) - mu, a, beta));
                }
            }
        });
    }

    /**
     * {@code Σ v} (or {@code Σ (v − center)²} when {@code squares}) over {@code n} floats from byte {@code base}:
     * float lanes per block of {@link #BLOCK}, each block's lane sum added to a double in order, then the scalar tail.
     */
    private static double sum(MemorySegment xs, long base, long n, float center, boolean squares) {
        double total = 0;
        long full = n / BLOCK * BLOCK;
        for (long b0 = 0; b0 < full; b0 += BLOCK) {
            FloatVector acc = FloatVector.zero(F);
            for (long i = b0; i < b0 + BLOCK; i += L) {
                FloatVector v = load(xs, base + 4 * i);
                if (squares) {
                    v = v.sub(center);
                    acc = v.fma(v, acc);
                } else {
                    acc = acc.add(v);
                }
            }
            total += Simd.sum(acc);
        }
        long bound = full + F.loopBound(n - full);
        FloatVector acc = FloatVector.zero(F);
        long i = full;
        for (; i < bound; i += L) {
            FloatVector v = load(xs, base + 4 * i);
            if (squares) {
                v = v.sub(center);
                acc = v.fma(v, acc);
            } else {
                acc = acc.add(v);
            }
        }
        total += Simd.sum(acc);
        for (; i < n; i++) {
            float v = xs.get(F32, base + 4 * i);
            if (squares) {
                v -= center;
                total += v * v;
            } else {
                total += v;
            }
        }
        return total;
    }
}
