package org.untwist.backend;

import java.lang.foreign.MemorySegment;
import java.util.List;
import org.untwist.tensor.Tensor;

/**
 * The layout operations of the host-memory backends as bulk memory copies: {@link AbstractBackend}'s default
 * kernels for {@code splitQkv}, {@code splitHeads}, {@code permute}, {@code concat} and {@code split}. Arguments are
 * already checked.
 */
final class HostLayout {
    private HostLayout() {
    }

    /** {@code qkv [b, l, 3·h·d]} into head-major {@code q, k, v [b, h, lTot, d]} at tokens {@code [tokenOffset, +l)}. */
    static void splitQkv(Tensor qkv, Tensor q, Tensor k, Tensor v, int tokenOffset, int b, int h, int l, int lTot, int d) {
        long rowBytes = (long) d * Float.BYTES;
        MemorySegment src = qkv.segment();
        Tensor[] dst = {q, k, v};
        for (int bi = 0; bi < b; bi++) {
            for (int t = 0; t < l; t++) {
                long srcRow = ((long) bi * l + t) * 3L * h * d;
                for (int which = 0; which < 3; which++) {
                    for (int hi = 0; hi < h; hi++) {
                        long srcOff = (srcRow + ((long) which * h + hi) * d) * Float.BYTES;
                        long dstOff = ((((long) bi * h + hi) * lTot) + tokenOffset + t) * rowBytes;
                        MemorySegment.copy(src, srcOff, dst[which].segment(), dstOff, rowBytes);
                    }
                }
            }
        }
    }

    /** {@code x [b, l, h·d]} into head-major {@code out [b, h, l, d]}. */
    static void splitHeads(Tensor x, Tensor out, int b, int h, int l, int d) {
        long rowBytes = (long) d * Float.BYTES;
        for (int bi = 0; bi < b; bi++) {
            for (int t = 0; t < l; t++) {
                for (int hi = 0; hi < h; hi++) {
                    long srcOff = (((long) bi * l + t) * h + hi) * rowBytes;
                    long dstOff = (((long) bi * h + hi) * l + t) * rowBytes;
                    MemorySegment.copy(x.segment(), srcOff, out.segment(), dstOff, rowBytes);
                }
            }
        }
    }

    /** {@code out[i_{axes[0]}, ...] = x[i_0, ...]}: a strided copy. */
    static void permute(Tensor x, int[] axes, Tensor out) {
        int rank = x.rank();
        long elem = x.dtype().byteSize();
        long[] inStride = new long[rank];
        long s = elem;
        for (int d = rank - 1; d >= 0; d--) {
            inStride[d] = s;
            s *= x.dim(d);
        }
        long[] srcStride = new long[rank]; // the input stride of each output dimension
        int[] outDims = out.shape();
        for (int i = 0; i < rank; i++) {
            srcStride[i] = inStride[axes[i]];
        }
        int last = rank - 1;
        long n = out.numel();
        if (n == 0) {
            return;
        }
        if (rank == 0) { // a scalar: nothing to reorder
            MemorySegment.copy(x.segment(), 0, out.segment(), 0, elem);
            return;
        }
        int[] idx = new int[rank];
        MemorySegment src = x.segment(), dst = out.segment();
        long rowLen = outDims[last];
        for (long o = 0; o < n; o += rowLen) {
            long base = 0;
            for (int d = 0; d < last; d++) {
                base += idx[d] * srcStride[d];
            }
            long dstOff = o * elem;
            if (srcStride[last] == elem) { // the innermost dimension stays innermost: one bulk copy per row
                MemorySegment.copy(src, base, dst, dstOff, rowLen * elem);
            } else {
                for (int j = 0; j < rowLen; j++) {
                    MemorySegment.copy(src, base + j * srcStride[last], dst, dstOff + j * elem, elem);
                }
            }
            for (int d = last - 1; d >= 0; d--) { // next row: odometer over the outer output dimensions
                if (++idx[d] < outDims[d]) {
                    break;
                }
                idx[d] = 0;
            }
        }
    }

    /**
     * Copies {@code outer} blocks between {@code whole} and each part: part {@code i}'s block of
     * {@code dim(axis) · innerBytes} bytes sits after the blocks of the parts before it in each of whole's rows.
     */
    static void blockCopy(List<Tensor> parts, Tensor whole, long outer, long inner, int ax, boolean intoWhole) {
        long wholeBlock = whole.dim(ax) * inner;
        long offset = 0;
        for (Tensor p : parts) {
            long partBlock = p.dim(ax) * inner;
            for (long o = 0; o < outer; o++) {
                if (intoWhole) {
                    MemorySegment.copy(p.segment(), o * partBlock, whole.segment(), o * wholeBlock + offset, partBlock);
                } else {
                    MemorySegment.copy(whole.segment(), o * wholeBlock + offset, p.segment(), o * partBlock, partBlock);
                }
            }
            offset += partBlock;
        }
    }
}
