package org.untwist.vector;

import java.lang.foreign.MemorySegment;
import org.untwist.tensor.Tensor;

/**
 * {@code conv2d} as an implicit GEMM on {@link VectorGemm}, one per batch element: {@code out[co, p] = Σ_k W[co, k] ·
 * X[p, k] + bias[co]} with M = the output pixels {@code Ho·Wo}, N = Cout, K = {@code Cin·kh·kw}. The rows of X (the
 * patches) are gathered from the image while the GEMM packs its row tiles ({@link Im2colRows}); the weight
 * {@code [Cout, Cin, kh, kw]} is the GEMM's {@code [N, K]} weight matrix, packed and widened (BF16/F16/F8_E4M3/F8_E5M2) as for
 * {@code linear}; the product is stored transposed, channels-first. A 1×1 convolution with stride 1 and no padding
 * reads its image as one row of {@code H·W} pixels (every tile then takes the vector copy).
 *
 * <p>Each output element is one FMA chain over k in order (zero terms for padding), the bias added last, whatever the
 * thread count: the GEMM's guarantee.
 */
final class VectorConv2d {
    private VectorConv2d() {
    }

    static void conv2d(ComputePool pool, Tensor x, Tensor w, Tensor bias, Tensor out, int b, int cin, int h, int wIn, int cout,
                       int kh, int kw, int stride, int[] pad, int ho, int wo) {
        int pixels = ho * wo, k = cin * kh * kw;
        if (b == 0 || cout == 0 || pixels == 0) {
            return;
        }
        boolean pointwise = kh == 1 && kw == 1 && stride == 1 && pad[0] == 0 && pad[1] == 0 && pad[2] == 0 && pad[3] == 0;
        long inBytes = (long) cin * h * wIn * Float.BYTES, outBytes = (long) cout * pixels * Float.BYTES;
        MemorySegment bs = bias == null ? null : bias.segment();
        for (int bi = 0; bi < b; bi++) {
            MemorySegment xs = x.segment().asSlice(bi * inBytes, inBytes), os = out.segment().asSlice(bi * outBytes, outBytes);
            GemmRows rows = pointwise ? new Im2colRows(xs, 1, h * wIn, 1, 1, 1, 0, 0, pixels)
                    : new Im2colRows(xs, h, wIn, kh, kw, stride, pad[0], pad[2], wo);
            VectorGemm gemm = new VectorGemm(rows, w.segment(), w.dtype(), bs, os, true, pixels, k, cout, pool.threads());
            gemm.execute((n, task) -> pool.parallelFor(n, (t, s) -> task.accept(t)));
        }
    }
}
