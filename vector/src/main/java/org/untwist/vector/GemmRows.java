package org.untwist.vector;

import static org.untwist.vector.VectorGemm.MR;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Where the rows of {@link VectorGemm}'s left operand come from: each source packs an MR-row tile of one K block
 * into the GEMM's k-major layout. {@link #matrix} reads a row-major {@code [m, k]} matrix ({@code linear});
 * {@link Im2colRows} gathers the patches of a convolution from the image ({@code conv2d}'s implicit GEMM).
 */
interface GemmRows {
    /**
     * Writes rows {@code [row, row + live)} ({@code live ≤ MR}), columns {@code [pc, pc + kc)} of the operand as
     * {@code pa[d + q·MR + i]} (q the column from pc, i the row from {@code row}); rows {@code live..MR-1} zero.
     */
    void packTile(float[] pa, int d, int row, int live, int pc, int kc);

    /** The rows of a row-major F32 matrix {@code [m, k]}. */
    static GemmRows matrix(MemorySegment xs, int k) {
        return new Matrix(xs, k);
    }

    /**
     * The rows of a weight matrix {@code [m, k]} of type F32, BF16 or F16, widened while packing ({@code conv2d} with the
     * weights as the left operand); null for the other types.
     */
    static GemmRows weights(MemorySegment ws, org.untwist.tensor.DType dt, int k) {
        return switch (dt) {
            case F32 -> new Matrix(ws, k);
            case BF16, F16 -> new HalfMatrix(ws, k, dt == org.untwist.tensor.DType.BF16);
            default -> null;
        };
    }

    /** A row-major BF16 or F16 matrix, each value widened exactly to float32. */
    record HalfMatrix(MemorySegment ws, int k, boolean bf16) implements GemmRows {
        private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

        @Override
        public void packTile(float[] pa, int d, int row, int live, int pc, int kc) {
            long rowBytes = (long) k * 2;
            long base = ((long) row * k + pc) * 2;
            for (int q = 0; q < kc; q++, d += MR) {
                long o = base + 2L * q;
                for (int i = 0; i < live; i++, o += rowBytes) {
                    short h = ws.get(I16, o);
                    pa[d + i] = bf16 ? Float.intBitsToFloat(h << 16) : Float.float16ToFloat(h);
                }
                for (int i = live; i < MR; i++) {
                    pa[d + i] = 0f;
                }
            }
        }
    }

    /** A row-major F32 matrix: scalar copies, faster here than vector scatters with a 12-float stride. */
    record Matrix(MemorySegment xs, int k) implements GemmRows {
        private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

        @Override
        public void packTile(float[] pa, int d, int row, int live, int pc, int kc) {
            long rowBytes = (long) k * Float.BYTES;
            long base = ((long) row * k + pc) * Float.BYTES;
            for (int q = 0; q < kc; q++, d += MR) {
                long o = base + 4L * q;
                for (int i = 0; i < live; i++, o += rowBytes) {
                    pa[d + i] = xs.get(F32, o);
                }
                for (int i = live; i < MR; i++) {
                    pa[d + i] = 0f;
                }
            }
        }
    }
}
