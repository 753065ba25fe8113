package org.untwist.vector;

import java.lang.foreign.MemorySegment;
import org.untwist.tensor.Tensor;

/**
 * {@code conv2d} as an implicit GEMM on {@link VectorGemm}, one per batch element, K = {@code Cin·kh·kw}, the patches
 * gathered from the image while packing (im2col a panel or a tile at a time, never for the whole image). With F32, BF16
 * or F16 weights the weights are the GEMM's rows and the output pixels its columns: {@code out[co, p] = Σ_k W[co, k] ·
 * X[k, p] + bias[co]}, the patches packed once per column block by {@link Im2colColumns} and shared by the workers,
 * each micro-panel then serving all of Cout's row tiles, and out written row-major, which is channels-first. Otherwise
 * (8-bit weights, or {@code -Duntwist.conv.weightRows=false}) the pixels are the rows ({@link Im2colRows}) and the
 * weights the GEMM's weight matrix, widened as for {@code linear}, the product stored transposed.
 *
 * <p>Why the weights as rows: with pixels as rows, each packed tile of patches served only Cout/NR micro-panels (4 for
 * the autoencoder's 128-channel convolutions). Measured on the 2-core AMD EPYC, the real FLUX autoencoder decoding a 512²
 * image (BF16 weights, 2 threads, third call in one JVM, two alternating runs each): 11.4 and 13.2 s against 15.0 and
 * 15.8 s; its 128-channel 3 × 3 convolutions at 512² 412–467 ms a call against 585–621 ms. Both ways give the same bits:
 * each output element is one FMA chain over k in order (zero terms for padding) from zero, the bias added last,
 * whatever the thread count (the GEMM's guarantee), and the product of two factors does not depend on their order (the
 * files {@code untwist vae} wrote both ways, for the golden tiny autoencoder and for the real one at 512², compare equal).
 *
 * <p>A 1×1 convolution with stride 1 and no padding reads its image as one row of {@code H·W} pixels (every tile or
 * panel then takes the vector copy).
 */
final class VectorConv2d {
    /** Whether F32/BF16/F16 weights are the GEMM's rows ({@code -Duntwist.conv.weightRows}, default true); see the class comment. */
    static final boolean WEIGHT_ROWS = !"false".equalsIgnoreCase(System.getProperty("untwist.conv.weightRows", "true").trim());

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
            Im2colGeometry patches = pointwise ? new Im2colGeometry(xs, 1, h * wIn, 1, 1, 1, 0, 0, pixels)
                    : new Im2colGeometry(xs, h, wIn, kh, kw, stride, pad[0], pad[2], wo);
            GemmRows weightRows = WEIGHT_ROWS ? GemmRows.weights(w.segment(), w.dtype(), k) : null;
            VectorGemm gemm = weightRows != null // the weights as rows, the patches as shared columns: out channels-first as it stands
                    ? new VectorGemm(weightRows, new Im2colColumns(patches), bs, os, cout, k, pixels, pool.threads())
                    : new VectorGemm(new Im2colRows(patches), w.segment(), w.dtype(), bs, os, true, pixels, k, cout, pool.threads());
            gemm.execute((n, task) -> pool.parallelFor(n, (t, s) -> task.accept(t)));
        }
    }
}
