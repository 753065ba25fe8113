package org.untwist.vector;

import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.L;
import static org.untwist.vector.Simd.LE;
import static org.untwist.vector.Simd.load;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import org.untwist.backend.RopeFrequencies;
import org.untwist.tensor.Tensor;

/**
 * Rotary position embeddings: {@code ropeTable} computes the 2×2 rotation of every (token, pair) with scalar
 * {@code Math.cos}/{@code Math.sin} of the float angle, exactly as the scalar oracle (the vector {@code COS}/{@code SIN}
 * of the Vector API differ between the interpreter and C2 in the last bit; the table is small, once per forward);
 * {@code applyRope} applies it token by token, each token's table row de-interleaved once into diagonal and cross
 * coefficients, then every head's row of that token rotated.
 */
final class VectorRope {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Tokens per applyRope task (the unit of parallel work; one token's coefficients are in L1 at a time). */
    static final int ROPE_TOKENS = 64;

    private VectorRope() {
    }

    static void ropeTable(ComputePool pool, Tensor ids, int[] axesDim, double theta, Tensor pe, int batch, int tokens) {
        int axes = axesDim.length;
        int pairs = pe.dim(3);
        float[] omega = new float[pairs];
        int[] axisOf = new int[pairs];
        for (int a = 0, p = 0; a < axes; a++) {
            for (int j = 0; j < axesDim[a] / 2; j++, p++) {
                omega[p] = RopeFrequencies.omega(j, axesDim[a], theta);
                axisOf[p] = a;
            }
        }
        float[] pos = ids.toFloatArray(); // [batch·tokens, axes]: small
        MemorySegment ps = pe.segment();
        long rows = (long) batch * tokens;
        pool.parallelRows(rows, 4 * pairs, (from, to) -> {
            for (long row = from; row < to; row++) {
                int posOff = (int) (row * axes);
                long base = row * pairs * 16; // bytes: 4 floats per pair
                for (int p = 0; p < pairs; p++) {
                    float angle = pos[posOff + axisOf[p]] * omega[p];
                    float c = (float) Math.cos(angle), s = (float) Math.sin(angle);
                    long o = base + 16L * p;
                    ps.set(F32, o, c);
                    ps.set(F32, o + 4, -s);
                    ps.set(F32, o + 8, s);
                    ps.set(F32, o + 12, c);
                }
            }
        });
    }

    static void applyRope(ComputePool pool, Tensor x, Tensor pe, Tensor out, int batch, int heads, int tokens, int headDim,
                          int peBatch) {
        MemorySegment xs = x.segment(), ps = pe.segment(), os = out.segment();
        int bound = F.loopBound(headDim); // L is even, so vector chunks hold whole pairs
        long headBytes = (long) tokens * headDim * 4;
        int blocks = (tokens + ROPE_TOKENS - 1) / ROPE_TOKENS;
        // One task per (batch, block of tokens), token by token: the token's table row is de-interleaved once into
        // diagonal (m00, m11) and cross (m01, m10) coefficients (2·headDim floats, in L1), then every head's row of
        // that token is rotated: out = diag·x + cross·swap(x), one pass, one shuffle per vector. Token-major rather
        // than head-major: the coefficients never leave L1 (head-major re-read a block's coefficients, twice the
        // bytes of x, from L2 for every head), and in place each line is read and written back while cached.
        ComputePool.Task body = (task, s) -> {
            int b = task / blocks, t0 = (task % blocks) * ROPE_TOKENS, t1 = Math.min(tokens, t0 + ROPE_TOKENS);
            long pb = peBatch == 1 ? 0 : b;
            float[] coef = s.rope(2 * headDim);
            for (int t = t0; t < t1; t++) {
                deinterleave(ps, (pb * tokens + t) * headDim * 8, coef, headDim, bound); // (headDim/2 pairs)·16 bytes
                long off = (long) b * heads * headBytes + (long) t * headDim * 4;
                for (int h = 0; h < heads; h++, off += headBytes) {
                    rotateRow(xs, os, off, coef, headDim, bound);
                }
            }
        };
        pool.parallelFor(batch * blocks, body);
    }

    /** Splits one token's table row at byte {@code peBase} into {@code coef[0, headDim)} = diag, {@code [headDim, 2·headDim)} = cross. */
    private static void deinterleave(MemorySegment ps, long peBase, float[] coef, int headDim, int bound) {
        int d = 0;
        for (; d < bound; d += L) {
            long m = peBase + 8L * d; // table of pair d/2
            FloatVector tv0 = load(ps, m), tv1 = load(ps, m + 4L * L);
            Simd.ROPE_DIAG_IDX.selectFrom(tv0, tv1).intoArray(coef, d);
            Simd.ROPE_CROSS_IDX.selectFrom(tv0, tv1).intoArray(coef, headDim + d);
        }
        for (; d < headDim; d += 2) {
            long m = peBase + 8L * d;
            coef[d] = ps.get(F32, m);
            coef[d + 1] = ps.get(F32, m + 12);
            coef[headDim + d] = ps.get(F32, m + 4);
            coef[headDim + d + 1] = ps.get(F32, m + 8);
        }
    }

    /** Rotates the {@code headDim} floats at byte {@code off} of {@code xs} into the same place of {@code os}. */
    private static void rotateRow(MemorySegment xs, MemorySegment os, long off, float[] coef, int headDim, int bound) {
        int d = 0;
        for (; d < bound; d += L) {
            FloatVector xv = load(xs, off + 4L * d);
            FloatVector diag = FloatVector.fromArray(F, coef, d);
            FloatVector cross = FloatVector.fromArray(F, coef, headDim + d);
            cross.fma(xv.rearrange(Simd.SWAP_PAIRS), diag.mul(xv)).intoMemorySegment(os, off + 4L * d, LE);
        }
        for (; d < headDim; d += 2) {
            float x0 = xs.get(F32, off + 4L * d), x1 = xs.get(F32, off + 4L * d + 4);
            os.set(F32, off + 4L * d, Math.fma(coef[headDim + d], x1, coef[d] * x0));
            os.set(F32, off + 4L * d + 4, Math.fma(coef[headDim + d + 1], x0, coef[d + 1] * x1));
        }
    }
}
