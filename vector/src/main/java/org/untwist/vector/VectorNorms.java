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
 * Row-wise normalization: {@code layerNorm} (plain, or affine with a per-channel weight and optional bias, fused into
 * the normalizing pass) and {@code rmsNorm} (per-channel scale), rows split into chunks.
 * Each row sum is lane-wise, then {@link Simd#sum} (a fixed order), then the scalar tail.
 */
final class VectorNorms {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private VectorNorms() {
    }

    /** {@code weight} null: plain; else {@code (x − mean)·inv·weight + bias} ({@code bias} may be null). */
    static void layerNorm(ComputePool pool, Tensor x, Tensor weight, Tensor bias, float eps, Tensor out, int rows, int dim) {
        MemorySegment xs = x.segment(), os = out.segment();
        MemorySegment ws = weight == null ? null : weight.segment(), bs = bias == null ? null : bias.segment();
        int bound = F.loopBound(dim);
        pool.parallelRows(rows, dim, (from, to) -> {
            for (long r = from; r < to; r++) {
                long base = r * dim * 4;
                FloatVector acc = FloatVector.zero(F);
                int i = 0;
                for (; i < bound; i += L) {
                    acc = acc.add(load(xs, base + 4L * i));
                }
                float sum = Simd.sum(acc);
                for (; i < dim; i++) {
                    sum += xs.get(F32, base + 4L * i);
                }
                float mean = sum / dim;
                FloatVector sq = FloatVector.zero(F);
                for (i = 0; i < bound; i += L) {
                    FloatVector c = load(xs, base + 4L * i).sub(mean);
                    sq = c.fma(c, sq);
                }
                float var = Simd.sum(sq);
                for (; i < dim; i++) {
                    float c = xs.get(F32, base + 4L * i) - mean;
                    var = Math.fma(c, c, var);
                }
                float inv = (float) (1.0 / Math.sqrt((double) var / dim + eps));
                if (ws == null) {
                    for (i = 0; i < bound; i += L) {
                        load(xs, base + 4L * i).sub(mean).mul(inv).intoMemorySegment(os, base + 4L * i, LE);
                    }
                    for (; i < dim; i++) {
                        os.set(F32, base + 4L * i, (xs.get(F32, base + 4L * i) - mean) * inv);
                    }
                } else if (bs == null) {
                    for (i = 0; i < bound; i += L) {
                        load(xs, base + 4L * i).sub(mean).mul(inv).mul(load(ws, 4L * i)).intoMemorySegment(os, base + 4L * i, LE);
                    }
                    for (; i < dim; i++) {
                        os.set(F32, base + 4L * i, (xs.get(F32, base + 4L * i) - mean) * inv * ws.get(F32, 4L * i));
                    }
                } else {
                    for (i = 0; i < bound; i += L) {
                        load(xs, base + 4L * i).sub(mean).mul(inv).fma(load(ws, 4L * i), load(bs, 4L * i))
                                .intoMemorySegment(os, base + 4L * i, LE);
                    }
                    for (; i < dim; i++) {
                        os.set(F32, base + 4L * i, Math.fma((xs.get(F32, base + 4L * i) - mean) * inv, ws.get(F32, 4L * i), bs.get(F32, 4L * i)));
                    }
                }
            }
        });
    }

    static void rmsNorm(ComputePool pool, Tensor x, Tensor scale, float eps, Tensor out, int rows, int dim) {
        MemorySegment xs = x.segment(), ss = scale.segment(), os = out.segment();
        int bound = F.loopBound(dim);
        pool.parallelRows(rows, dim, (from, to) -> {
            for (long r = from; r < to; r++) {
                long base = r * dim * 4;
                FloatVector acc = FloatVector.zero(F);
                int i = 0;
                for (; i < bound; i += L) {
                    FloatVector v = load(xs, base + 4L * i);
                    acc = v.fma(v, acc);
                }
                float sq = Simd.sum(acc);
                for (; i < dim; i++) {
                    float v = xs.get(F32, base + 4L * i);
                    sq = Math.fma(v, v, sq);
                }
                float inv = (float) (1.0 / Math.sqrt((double) sq / dim + eps));
                for (i = 0; i < bound; i += L) {
                    load(xs, base + 4L * i).mul(inv).mul(load(ss, 4L * i)).intoMemorySegment(os, base + 4L * i, LE);
                }
                for (; i < dim; i++) {
                    os.set(F32, base + 4L * i, xs.get(F32, base + 4L * i) * inv * ss.get(F32, 4L * i));
                }
            }
        });
    }
}
