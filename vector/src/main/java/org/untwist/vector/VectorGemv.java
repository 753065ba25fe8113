package org.untwist.vector;

import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.L;
import static org.untwist.vector.Simd.load;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicLong;
import jdk.incubator.vector.FloatVector;
import org.untwist.tensor.DType;

/**
 * {@code linear} on fewer than {@link VectorGemm#MIN_ROWS} rows (see {@link VectorGemm#worthIt}), where packing for
 * the GEMM would not pay off: dot products of x rows with weight rows. Tasks are (row block × column block);
 * BF16/F16/F8_E4M3/F8_E5M2 (and block-quantized Q8_0/Q4_K) weights of the task's column block are widened into a per-thread
 * float panel (never the whole matrix),
 * then a 2-row × 4-column register-blocked FMA kernel runs over it.
 */
final class VectorGemv {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Rows and columns per task. */
    static final int LINEAR_ROWS = 64, LINEAR_COLS = 32;

    /** Numbers the calls, so that a thread's panel is known to hold this call's column block (see {@link Scratch}). */
    private static final AtomicLong CALLS = new AtomicLong();

    private VectorGemv() {
    }

    /** {@code out [rows, outDim] = x [rows, in] · w [outDim, in]ᵀ + bias} ({@code bs} may be null). */
    static void linear(ComputePool pool, MemorySegment xs, MemorySegment ws, DType dt, MemorySegment bs, MemorySegment os,
                       int rows, int in, int outDim) {
        int rowBlocks = (rows + LINEAR_ROWS - 1) / LINEAR_ROWS;
        int colBlocks = (outDim + LINEAR_COLS - 1) / LINEAR_COLS;
        long call = CALLS.incrementAndGet();
        pool.parallelFor(rowBlocks * colBlocks, (t, s) -> {
            int cb = t / rowBlocks, rb = t % rowBlocks; // consecutive tasks share a column block
            int r0 = rb * LINEAR_ROWS, r1 = Math.min(rows, r0 + LINEAR_ROWS);
            int c0 = cb * LINEAR_COLS, c1 = Math.min(outDim, c0 + LINEAR_COLS);
            MemorySegment wp;
            long wBase;
            if (dt == DType.F32) {
                wp = ws;
                wBase = (long) c0 * in * Float.BYTES;
            } else {
                wp = s.panel((long) (c1 - c0) * in * Float.BYTES);
                if (s.panelCall != call || s.panelBlock != cb) {
                    HalfWidening.widenRows(ws, dt, c0, c1, in, wp);
                    s.panelCall = call;
                    s.panelBlock = cb;
                }
                wBase = 0;
            }
            gemmBlock(xs, wp, wBase, bs, os, r0, r1, c0, c1, in, outDim);
        });
    }

    /**
     * {@code out[r, c] = x[r]·w[c] + bias[c]} for rows {@code [r0, r1)}, columns {@code [c0, c1)}; weight row
     * {@code c} starts at byte {@code wBase + (c − c0)·in·4} of {@code wp}. Every element is reduced the same way
     * (lane-wise FMA over the vector part, lane sum in a fixed order ({@link Simd#sum}), scalar tail, bias) whichever
     * micro-kernel computes it.
     */
    private static void gemmBlock(MemorySegment xs, MemorySegment wp, long wBase, MemorySegment bs, MemorySegment os,
                                  int r0, int r1, int c0, int c1, int in, int outDim) {
        long rowBytes = (long) in * Float.BYTES;
        int bound = F.loopBound(in);
        int r = r0;
        for (; r + 1 < r1; r += 2) {
            int c = c0;
            for (; c + 3 < c1; c += 4) {
                kernel2x4(xs, (long) r * rowBytes, wp, wBase + (c - c0) * rowBytes, rowBytes, bound, in, bs, os, r, c, outDim);
            }
            for (; c < c1; c++) {
                kernel2x1(xs, (long) r * rowBytes, wp, wBase + (c - c0) * rowBytes, rowBytes, bound, in, bs, os, r, c, outDim);
            }
        }
        for (; r < r1; r++) {
            int c = c0;
            for (; c + 3 < c1; c += 4) {
                kernel1x4(xs, (long) r * rowBytes, wp, wBase + (c - c0) * rowBytes, rowBytes, bound, in, bs, os, r, c, outDim);
            }
            for (; c < c1; c++) {
                kernel1x1(xs, (long) r * rowBytes, wp, wBase + (c - c0) * rowBytes, bound, in, bs, os, r, c, outDim);
            }
        }
    }

    private static void kernel2x4(MemorySegment xs, long x0, MemorySegment wp, long w0, long rowBytes, int bound, int in,
                                  MemorySegment bs, MemorySegment os, int r, int c, int outDim) {
        long x1 = x0 + rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        for (int k = 0; k < bound; k += L) {
            long kb = 4L * k;
            FloatVector xa = load(xs, x0 + kb), xb = load(xs, x1 + kb);
            FloatVector v0 = load(wp, w0 + kb), v1 = load(wp, w1 + kb), v2 = load(wp, w2 + kb), v3 = load(wp, w3 + kb);
            a00 = xa.fma(v0, a00);
            a01 = xa.fma(v1, a01);
            a02 = xa.fma(v2, a02);
            a03 = xa.fma(v3, a03);
            a10 = xb.fma(v0, a10);
            a11 = xb.fma(v1, a11);
            a12 = xb.fma(v2, a12);
            a13 = xb.fma(v3, a13);
        }
        float s00 = Simd.sum(a00), s01 = Simd.sum(a01);
        float s02 = Simd.sum(a02), s03 = Simd.sum(a03);
        float s10 = Simd.sum(a10), s11 = Simd.sum(a11);
        float s12 = Simd.sum(a12), s13 = Simd.sum(a13);
        for (int k = bound; k < in; k++) {
            long kb = 4L * k;
            float xa = xs.get(F32, x0 + kb), xb = xs.get(F32, x1 + kb);
            float v0 = wp.get(F32, w0 + kb), v1 = wp.get(F32, w1 + kb), v2 = wp.get(F32, w2 + kb), v3 = wp.get(F32, w3 + kb);
            s00 = Math.fma(xa, v0, s00);
            s01 = Math.fma(xa, v1, s01);
            s02 = Math.fma(xa, v2, s02);
            s03 = Math.fma(xa, v3, s03);
            s10 = Math.fma(xb, v0, s10);
            s11 = Math.fma(xb, v1, s11);
            s12 = Math.fma(xb, v2, s12);
            s13 = Math.fma(xb, v3, s13);
        }
        long o0 = ((long) r * outDim + c) * Float.BYTES, o1 = o0 + (long) outDim * Float.BYTES;
        os.set(F32, o0, s00 + bias(bs, c));
        os.set(F32, o0 + 4, s01 + bias(bs, c + 1));
        os.set(F32, o0 + 8, s02 + bias(bs, c + 2));
        os.set(F32, o0 + 12, s03 + bias(bs, c + 3));
        os.set(F32, o1, s10 + bias(bs, c));
        os.set(F32, o1 + 4, s11 + bias(bs, c + 1));
        os.set(F32, o1 + 8, s12 + bias(bs, c + 2));
        os.set(F32, o1 + 12, s13 + bias(bs, c + 3));
    }

    private static void kernel2x1(MemorySegment xs, long x0, MemorySegment wp, long w0, long rowBytes, int bound, int in,
                                  MemorySegment bs, MemorySegment os, int r, int c, int outDim) {
        long x1 = x0 + rowBytes;
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        for (int k = 0; k < bound; k += L) {
            long kb = 4L * k;
            FloatVector v = load(wp, w0 + kb);
            a0 = load(xs, x0 + kb).fma(v, a0);
            a1 = load(xs, x1 + kb).fma(v, a1);
        }
        float s0 = Simd.sum(a0), s1 = Simd.sum(a1);
        for (int k = bound; k < in; k++) {
            long kb = 4L * k;
            float v = wp.get(F32, w0 + kb);
            s0 = Math.fma(xs.get(F32, x0 + kb), v, s0);
            s1 = Math.fma(xs.get(F32, x1 + kb), v, s1);
        }
        long o0 = ((long) r * outDim + c) * Float.BYTES;
        os.set(F32, o0, s0 + bias(bs, c));
        os.set(F32, o0 + (long) outDim * Float.BYTES, s1 + bias(bs, c));
    }

    private static void kernel1x4(MemorySegment xs, long x0, MemorySegment wp, long w0, long rowBytes, int bound, int in,
                                  MemorySegment bs, MemorySegment os, int r, int c, int outDim) {
        long w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < bound; k += L) {
            long kb = 4L * k;
            FloatVector xa = load(xs, x0 + kb);
            a0 = xa.fma(load(wp, w0 + kb), a0);
            a1 = xa.fma(load(wp, w1 + kb), a1);
            a2 = xa.fma(load(wp, w2 + kb), a2);
            a3 = xa.fma(load(wp, w3 + kb), a3);
        }
        float s0 = Simd.sum(a0), s1 = Simd.sum(a1);
        float s2 = Simd.sum(a2), s3 = Simd.sum(a3);
        for (int k = bound; k < in; k++) {
            long kb = 4L * k;
            float xa = xs.get(F32, x0 + kb);
            s0 = Math.fma(xa, wp.get(F32, w0 + kb), s0);
            s1 = Math.fma(xa, wp.get(F32, w1 + kb), s1);
            s2 = Math.fma(xa, wp.get(F32, w2 + kb), s2);
            s3 = Math.fma(xa, wp.get(F32, w3 + kb), s3);
        }
        long o0 = ((long) r * outDim + c) * Float.BYTES;
        os.set(F32, o0, s0 + bias(bs, c));
        os.set(F32, o0 + 4, s1 + bias(bs, c + 1));
        os.set(F32, o0 + 8, s2 + bias(bs, c + 2));
        os.set(F32, o0 + 12, s3 + bias(bs, c + 3));
    }

    private static void kernel1x1(MemorySegment xs, long x0, MemorySegment wp, long w0, int bound, int in,
                                  MemorySegment bs, MemorySegment os, int r, int c, int outDim) {
        FloatVector a = FloatVector.zero(F);
        for (int k = 0; k < bound; k += L) {
            long kb = 4L * k;
            a = load(xs, x0 + kb).fma(load(wp, w0 + kb), a);
        }
        float s = Simd.sum(a);
        for (int k = bound; k < in; k++) {
            long kb = 4L * k;
            s = Math.fma(xs.get(F32, x0 + kb), wp.get(F32, w0 + kb), s);
        }
        os.set(F32, ((long) r * outDim + c) * Float.BYTES, s + bias(bs, c));
    }

    private static float bias(MemorySegment bs, int c) {
        return bs == null ? 0f : bs.get(F32, (long) c * Float.BYTES);
    }
}
