package org.untwist.vector;

import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.L;
import static org.untwist.vector.Simd.LE;
import static org.untwist.vector.Simd.load;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import org.untwist.tensor.Tensor;

/**
 * Elementwise kernels: {@code add}, {@code multiply}, {@code affine}, {@code silu}, {@code geluTanh}, {@code quickGelu} over flat ranges, {@code modulate} and
 * {@code gatedResidual} row by row (their shift, scale and gate are per batch element). Chunked only when large.
 * silu and the GELUs use the polynomial exponential of {@link VectorExp}, also on their tails (one masked vector), so an
 * element's result depends on its value only, not on the JIT tier or where the element lies.
 */
final class VectorElementwise {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** √(2/π) and √(2/π)·0.044715 in float. */
    private static final float GELU_C0 = (float) Math.sqrt(2.0 / Math.PI), GELU_C1 = (float) (Math.sqrt(2.0 / Math.PI) * 0.044715);

    /** The slope of CLIP's quick GELU. */
    private static final float QUICK_GELU = 1.702f;

    private VectorElementwise() {
    }

    static void add(ComputePool pool, Tensor a, Tensor b, Tensor out, long n) {
        MemorySegment as = a.segment(), bs = b.segment(), os = out.segment();
        pool.parallelElements(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                long o = 4 * i;
                load(as, o).add(load(bs, o)).intoMemorySegment(os, o, LE);
            }
            for (; i < to; i++) {
                os.setAtIndex(F32, i, as.getAtIndex(F32, i) + bs.getAtIndex(F32, i));
            }
        });
    }

    static void multiply(ComputePool pool, Tensor a, Tensor b, Tensor out, long n) {
        MemorySegment as = a.segment(), bs = b.segment(), os = out.segment();
        pool.parallelElements(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                long o = 4 * i;
                load(as, o).mul(load(bs, o)).intoMemorySegment(os, o, LE);
            }
            for (; i < to; i++) {
                os.setAtIndex(F32, i, as.getAtIndex(F32, i) * bs.getAtIndex(F32, i));
            }
        });
    }

    /** {@code scale·x + shift}, one FMA per element (a single rounding), the tail as one masked vector. */
    static void affine(ComputePool pool, Tensor x, float scale, float shift, Tensor out, long n) {
        MemorySegment xs = x.segment(), os = out.segment();
        pool.parallelElements(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                load(xs, 4 * i).lanewise(VectorOperators.FMA, scale, shift).intoMemorySegment(os, 4 * i, LE);
            }
            if (i < to) {
                VectorMask<Float> m = F.indexInRange(i, to);
                FloatVector.fromMemorySegment(F, xs, 4 * i, LE, m).lanewise(VectorOperators.FMA, scale, shift).intoMemorySegment(os, 4 * i, LE, m);
            }
        });
    }

    /** CLIP's quick GELU, {@code x · sigmoid(1.702·x)}, with the tail as one masked vector like {@link #silu}. */
    static void quickGelu(ComputePool pool, Tensor x, Tensor out, long n) {
        MemorySegment xs = x.segment(), os = out.segment();
        pool.parallelElements(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                FloatVector v = load(xs, 4 * i);
                VectorExp.timesSigmoid(v, v.mul(QUICK_GELU)).intoMemorySegment(os, 4 * i, LE);
            }
            if (i < to) {
                VectorMask<Float> m = F.indexInRange(i, to);
                FloatVector v = FloatVector.fromMemorySegment(F, xs, 4 * i, LE, m);
                VectorExp.timesSigmoid(v, v.mul(QUICK_GELU)).intoMemorySegment(os, 4 * i, LE, m);
            }
        });
    }

    static void silu(ComputePool pool, Tensor x, Tensor out, long n) {
        MemorySegment xs = x.segment(), os = out.segment();
        pool.parallelElements(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                FloatVector v = load(xs, 4 * i);
                VectorExp.timesSigmoid(v, v).intoMemorySegment(os, 4 * i, LE);
            }
            if (i < to) { // the tail as one masked vector: every element gets the same arithmetic wherever it lies
                VectorMask<Float> m = F.indexInRange(i, to);
                FloatVector v = FloatVector.fromMemorySegment(F, xs, 4 * i, LE, m);
                VectorExp.timesSigmoid(v, v).intoMemorySegment(os, 4 * i, LE, m);
            }
        });
    }

    /**
     * GELU (tanh approximation) as {@code x · sigmoid(2u)} with {@code u = √(2/π)(x + 0.044715x³)}, which equals
     * {@code 0.5·x·(1 + tanh(u))} but keeps its relative accuracy for negative x, where {@code 1 + tanh(u)} cancels.
     */
    static void geluTanh(ComputePool pool, Tensor x, Tensor out, long n) {
        MemorySegment xs = x.segment(), os = out.segment();
        pool.parallelElements(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                FloatVector v = load(xs, 4 * i);
                VectorExp.timesSigmoid(v, v.mul(v).fma(GELU_C1, GELU_C0).mul(v).mul(2f)).intoMemorySegment(os, 4 * i, LE);
            }
            if (i < to) {
                VectorMask<Float> m = F.indexInRange(i, to);
                FloatVector v = FloatVector.fromMemorySegment(F, xs, 4 * i, LE, m);
                VectorExp.timesSigmoid(v, v.mul(v).fma(GELU_C1, GELU_C0).mul(v).mul(2f)).intoMemorySegment(os, 4 * i, LE, m);
            }
        });
    }

    static void modulate(ComputePool pool, Tensor x, Tensor shift, Tensor scale, Tensor out, int batch, int tokens, int dim) {
        MemorySegment xs = x.segment(), sh = shift.segment(), sc = scale.segment(), os = out.segment();
        int bound = F.loopBound(dim);
        long rows = (long) batch * tokens;
        pool.parallelRows(rows, dim, (from, to) -> {
            for (long row = from; row < to; row++) {
                long base = row * dim * 4;
                long pb = (row / tokens) * dim * 4;
                int i = 0;
                for (; i < bound; i += L) {
                    long o = 4L * i;
                    FloatVector s1 = load(sc, pb + o).add(1f);
                    load(xs, base + o).fma(s1, load(sh, pb + o)).intoMemorySegment(os, base + o, LE);
                }
                for (; i < dim; i++) {
                    long o = 4L * i;
                    os.set(F32, base + o, Math.fma(xs.get(F32, base + o), 1f + sc.get(F32, pb + o), sh.get(F32, pb + o)));
                }
            }
        });
    }

    static void gatedResidual(ComputePool pool, Tensor residual, Tensor gate, Tensor y, Tensor out, int batch, int tokens,
                              int dim) {
        MemorySegment rs = residual.segment(), gs = gate.segment(), ys = y.segment(), os = out.segment();
        int bound = F.loopBound(dim);
        long rows = (long) batch * tokens;
        pool.parallelRows(rows, dim, (from, to) -> {
            for (long row = from; row < to; row++) {
                long base = row * dim * 4;
                long pb = (row / tokens) * dim * 4;
                int i = 0;
                for (; i < bound; i += L) {
                    long o = 4L * i;
                    load(ys, base + o).fma(load(gs, pb + o), load(rs, base + o)).intoMemorySegment(os, base + o, LE);
                }
                for (; i < dim; i++) {
                    long o = 4L * i;
                    os.set(F32, base + o, Math.fma(ys.get(F32, base + o), gs.get(F32, pb + o), rs.get(F32, base + o)));
                }
            }
        });
    }
}
