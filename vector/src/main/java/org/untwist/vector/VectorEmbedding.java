package org.untwist.vector;

import java.lang.foreign.MemorySegment;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * {@code embedding}: table rows gathered by id into float32 rows, rows split into chunks. F32 rows are bulk copies;
 * BF16/F16/F8_E4M3/F8_E5M2 rows are widened with SIMD by {@link HalfWidening} straight from the table, Q8_0/Q4_K rows
 * dequantized by {@link BlockWidening} (one row at a time, the table is never converted as a whole). Copies and exact widenings: the result does not depend on the split.
 */
final class VectorEmbedding {
    private VectorEmbedding() {
    }

    static void embedding(ComputePool pool, Tensor table, int[] ids, Tensor out, int rows, int dim) {
        MemorySegment ts = table.segment(), os = out.segment();
        DType dt = table.dtype();
        long rowBytes = (long) dim * Float.BYTES;
        pool.parallelRows(rows, dim, (from, to) -> {
            for (long r = from; r < to; r++) {
                int id = ids[(int) r];
                switch (dt) {
                    case F32 -> MemorySegment.copy(ts, id * rowBytes, os, r * rowBytes, rowBytes);
                    case F8_E4M3 -> HalfWidening.widenF8(ts, (long) id * dim, dim, os, r * rowBytes, false);
                    case F8_E5M2 -> HalfWidening.widenF8(ts, (long) id * dim, dim, os, r * rowBytes, true);
                    case BF16, F16, Q8_0, Q4_K -> HalfWidening.widenRows(ts, dt, id, id + 1, dim, os.asSlice(r * rowBytes, rowBytes));
                    default -> throw new IllegalArgumentException("embedding: no kernel for a " + dt + " table");
                }
            }
        });
    }
}
