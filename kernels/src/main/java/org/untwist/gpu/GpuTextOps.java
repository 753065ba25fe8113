package org.untwist.gpu;

import static org.untwist.gpu.KernelLauncher.BLOCK;
import static org.untwist.gpu.KernelLauncher.args;
import static org.untwist.gpu.KernelLauncher.ceil;
import static org.untwist.gpu.KernelLauncher.vec4;

import java.lang.foreign.MemorySegment;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * The text encoders' layout and gather operations for {@link GpuBackend} (CLIP and T5: issue 15): the gated
 * feed-forward's product, the token embedding and the head split of separate q, k, v projections. Their
 * attention is {@link GpuAttention#masked}; affine LayerNorm and quick GELU extend the backend's own kernels.
 */
final class GpuTextOps {
    private final KernelLauncher launcher;
    private final MemorySegment stream;
    private final String device;

    /** @param device the device's label, for out-of-memory messages */
    GpuTextOps(KernelLauncher launcher, MemorySegment stream, String device) {
        this.launcher = launcher;
        this.stream = stream;
        this.device = device;
    }

    /** {@code out = a · b} elementwise. */
    void multiply(Tensor a, Tensor b, Tensor out, long n) {
        if (n == 0) {
            return;
        }
        try (Staging st = new Staging(device, stream)) {
            launcher.launch("mul_f32", launcher.grid(n), 1, 1, BLOCK, 0, args().ptr(st.in(a)).ptr(st.in(b)).ptr(st.out(out)).i64(n));
        }
    }

    /**
     * {@code out[r, :] = table[ids[r], :]} widened to float32 on the device. The ids go up with the call. A host
     * table is not uploaded whole (a T5 table is hundreds of MiB): the host gathers the rows the ids name, in the
     * table's own type, and only those travel, unless they would be more bytes than the table.
     */
    void embedding(Tensor table, int[] ids, Tensor out, int rows, int dim) {
        long n = (long) rows * dim;
        if (n == 0) {
            return;
        }
        long rowBytes = table.dtype().byteSize((long) dim); // rows of a block-quantized table are whole blocks
        try (Staging st = new Staging(device, stream)) {
            long pt, pids;
            if (!table.isDevice() && rows * rowBytes < table.byteSize() && rows * rowBytes <= Integer.MAX_VALUE - 16) {
                byte[] gathered = new byte[(int) (rows * rowBytes)];
                MemorySegment dst = MemorySegment.ofArray(gathered);
                for (int r = 0; r < rows; r++) {
                    MemorySegment.copy(table.segment(), ids[r] * rowBytes, dst, r * rowBytes, rowBytes);
                }
                pt = st.bytes(gathered);
                pids = 0; // row r is the r-th id's row
            } else {
                pt = st.in(table);
                pids = st.ints(ids);
            }
            launcher.launch("embedding_gather", launcher.grid(n), 1, 1, BLOCK, 0, args().ptr(pt).ptr(pids).ptr(st.out(out)).i32(dim)
                    .i32(typeCode(table.dtype())).i64(n));
        }
    }

    /** {@code x [b, l, h·d]} into head-major {@code out [b, h, l, d]}. */
    void splitHeads(Tensor x, Tensor out, int b, int h, int l, int d) {
        long rows = (long) b * l;
        if (rows * h * d == 0) {
            return;
        }
        if ((long) h * d > Integer.MAX_VALUE / 2) {
            throw new IllegalArgumentException("splitHeads: rows of " + (long) h * d + " values exceed the kernel's 32-bit index");
        }
        try (Staging st = new Staging(device, stream)) {
            long px = st.in(x), po = st.out(out);
            int vec = vec4(d, px, po) ? 4 : 1;
            int blocksX = (int) Math.min(ceil((long) h * d / vec, BLOCK), 64);
            for (long r0 = 0; r0 < rows; r0 += 65535) { // grid y holds at most 65535 rows per launch
                int cnt = (int) Math.min(65535, rows - r0);
                launcher.launch("split_heads_f32", blocksX, cnt, 1, BLOCK, 0, args().ptr(px).ptr(po).i32(h).i32(l).i32(d).i32((int) r0).i32(vec));
            }
        }
    }

    /** The {@code type} argument of {@code embedding_gather}. */
    static int typeCode(DType t) {
        return switch (t) {
            case F32 -> 0;
            case BF16 -> 1;
            case F16 -> 2;
            case F8_E4M3 -> 3;
            case F8_E5M2 -> 4;
            case Q8_0 -> 5;
            case Q4_K -> 6;
            case I64, I32 -> throw new IllegalArgumentException("embedding: an integer table (" + t + ") is not a weight type");
        };
    }
}
