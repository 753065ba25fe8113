package org.untwist.vector;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import org.untwist.tensor.BlockQuantization;
import org.untwist.tensor.DType;

/**
 * Block-quantized (Q8_0, Q4_K) weights to float, one weight row at a time, for the two {@code linear} paths
 * ({@link VectorGemm} dequantizes while packing its column blocks, {@link VectorGemv} into a column block's panel) and
 * for {@code embedding} ({@link VectorEmbedding}). A row is whole blocks (the tensor guarantees it); it is dequantized
 * into a per-thread buffer with the float operations of the scalar oracle, so both backends see the same weights bit for
 * bit, and never more than one row exists as floats per thread.
 */
final class BlockWidening {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ThreadLocal<float[]> ROW = ThreadLocal.withInitial(() -> new float[0]);

    private BlockWidening() {
    }

    /** Row {@code c} of a {@code [rows, in]} matrix of type {@code dt}, dequantized into this thread's buffer (valid until its next call). */
    static float[] row(MemorySegment src, DType dt, int c, int in) {
        float[] buf = ROW.get();
        if (buf.length < in) {
            buf = new float[in];
            ROW.set(buf);
        }
        BlockQuantization.dequantize(dt, src, (long) c * in, in, buf, 0);
        return buf;
    }

    /** Dequantizes weight rows {@code [c0, c1)} into consecutive float rows of {@code dst}. */
    static void widenRows(MemorySegment src, DType dt, int c0, int c1, int in, MemorySegment dst) {
        for (int c = c0; c < c1; c++) {
            MemorySegment.copy(row(src, dt, c, in), 0, dst, F32, (long) (c - c0) * in * Float.BYTES, in);
        }
    }
}
