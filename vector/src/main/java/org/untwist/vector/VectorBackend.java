package org.untwist.vector;

import java.lang.foreign.MemorySegment;
import org.untwist.backend.AbstractBackend;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * Java Vector API kernels on a fixed pool of compute threads ({@link ComputePool}).
 *
 * <p>Every kernel works on float vectors loaded straight from the tensors' memory segments (unaligned loads, so
 * memory-mapped weights at any offset are fine); scalar code only finishes loop tails. Work is split into tasks of
 * a fixed size that does not depend on the thread count, and each output element is reduced in an order fixed by
 * the task layout, so results are the same for any number of threads. This class only dispatches; the kernels are:
 * <ul>
 *   <li>{@code linear}: from {@link VectorGemm#MIN_ROWS} rows on the packed, cache-blocked GEMM of
 *       {@link VectorGemm}; fewer rows the dot-product kernels of {@link VectorGemv}. Both widen BF16/F16/F8_E4M3/F8_E5M2
 *       weights with {@link HalfWidening} and dequantize Q8_0/Q4_K weights with {@link BlockWidening}, one block at a
 *       time (never the whole matrix).</li>
 *   <li>{@code attention}: flash-style online softmax in {@link VectorAttention}, its QKᵀ tile in
 *       {@link AttentionScores}. Reference keys are read in place, never scaled or copied: the query copy is
 *       scaled instead ({@code q·(s⊙k) = (s⊙q)·k}).</li>
 *   <li>{@code attention} with a scale, a relative position bias and/or a causal mask (the text encoders):
 *       {@link MaskedAttention}, the same tiles and online softmax with the bias added to and the mask applied on
 *       each score tile, key blocks wholly above the diagonal skipped; without bias and mask, {@link VectorAttention}
 *       with the given scale.</li>
 *   <li>{@code attentionProbs} (the same score tile, then a softmax per output row) and {@code chunkLogits}:
 *       {@link AttentionAnalysis}.</li>
 *   <li>{@code add}, {@code multiply}, {@code silu}, {@code geluTanh}, {@code quickGelu}, {@code modulate},
 *       {@code gatedResidual}: {@link VectorElementwise}; {@code layerNorm} (plain and affine), {@code rmsNorm}:
 *       {@link VectorNorms}; {@code embedding}: {@link VectorEmbedding}; {@code ropeTable},
 *       {@code applyRope}: {@link VectorRope}; {@code timestepEmbedding}: {@link VectorTimestepEmbedding};
 *       {@code adaIn}: {@link VectorAdaIn}.</li>
 *   <li>{@code conv2d}: an implicit GEMM on {@link VectorGemm}, the patches gathered while packing ({@link VectorConv2d},
 *       {@link Im2colRows}); {@code groupNorm}: {@link VectorGroupNorm}; {@code upsampleNearest2x}: {@link VectorUpsample};
 *       {@code affine}: {@link VectorElementwise}; {@code permute}: the host copy of {@code AbstractBackend}.</li>
 * </ul>
 * Per-thread scratch ({@link Scratch}) lives with each pool thread and is reused across calls.
 *
 * <p>The class is open to one subclass, the onednn backend (its module alone sees this package), which hands
 * {@code linear} to a native bf16 GEMM and keeps the rest; {@link #toBf16Rows} prepares its operands on this
 * backend's threads.
 */
public class VectorBackend extends AbstractBackend {
    private final ComputePool pool;

    /** Creates the backend with {@code threads} compute threads. */
    public VectorBackend(int threads) {
        org.untwist.backend.Backends.requireThreads("threads", threads); // the library's bound, also when built directly
        Simd.check();
        this.pool = new ComputePool(threads);
    }

    @Override
    public String name() {
        return "vector";
    }

    @Override
    public String describe() {
        int threads = pool.threads();
        return "vector: Java Vector API, " + Simd.describeWidth() + ", " + threads + (threads == 1 ? " thread" : " threads");
    }

    @Override
    public int threads() {
        return pool.threads();
    }

    @Override
    public void close() {
        pool.close();
        scratchTensors.close();
    }

    /**
     * Rows {@code [r0, r1)} of a {@code [*, cols]} matrix at {@code src} of type {@code dt} (F32, BF16, F16, F8_E4M3,
     * F8_E5M2) as consecutive bfloat16 rows at {@code dst}, on this backend's threads: float32 and F16 rounded to
     * nearest even ({@link DType#floatToBf16}), F8 widened exactly, BF16 copied. For a subclass that feeds a native
     * bf16 GEMM.
     */
    protected final void toBf16Rows(MemorySegment src, DType dt, long r0, long r1, int cols, MemorySegment dst) {
        pool.parallelRows(r1 - r0, cols, (a, b) -> Bf16Rounding.rows(src, dt, r0 + a, r0 + b, cols, dst.asSlice(a * cols * 2L)));
    }

    @Override
    protected void linearKernel(Tensor x, Tensor w, Tensor bias, Tensor out, int rows, int in, int outDim) {
        if (rows == 0 || outDim == 0) {
            return;
        }
        MemorySegment xs = x.segment(), ws = w.segment(), os = out.segment();
        MemorySegment bs = bias == null ? null : bias.segment();
        DType dt = w.dtype();
        if (VectorGemm.worthIt(rows, in, outDim)) { // packed, cache-blocked GEMM (see VectorGemm)
            VectorGemm gemm = new VectorGemm(xs, ws, dt, bs, os, rows, in, outDim, pool.threads());
            gemm.execute((n, task) -> pool.parallelFor(n, (t, s) -> task.accept(t)));
            return;
        }
        VectorGemv.linear(pool, xs, ws, dt, bs, os, rows, in, outDim); // few rows: dot products over the weight rows
    }

    @Override
    protected void attentionKernel(Tensor q, Tensor k, Tensor v, Tensor refK, Tensor refV, Tensor refKeyScale,
                                   Tensor out, int batch, int heads, int lq, int lk, int lr, int headDim, int refBatch,
                                   int refStart, int refTokens) {
        if (batch == 0 || heads == 0 || lq == 0) {
            return;
        }
        float inv = (float) (1.0 / Math.sqrt(headDim));
        float[] rf = AttentionScores.refFactor(refKeyScale, lr, headDim, inv);
        VectorAttention att = new VectorAttention(q.segment(), k.segment(), v.segment(), lr > 0 ? refK.segment() : null,
                lr > 0 ? refV.segment() : null, out.segment(), batch, heads, lq, lk, lr, headDim, refBatch, refStart, refTokens,
                inv, rf, pool.threads());
        pool.parallelFor(att.tasks(batch), (task, s) -> att.run(task));
    }

    @Override
    protected void attentionProbsKernel(Tensor q, Tensor k, Tensor refK, Tensor refKeyScale, Tensor out, int batch, int heads,
                                        int lq, int lk, int lr, int headDim, int refBatch, int refStart, int refTokens) {
        AttentionAnalysis.attentionProbs(pool, q, k, refK, refKeyScale, out, batch, heads, lq, lk, lr, headDim, refBatch,
                refStart, refTokens);
    }

    @Override
    protected void chunkLogitsKernel(Tensor q, Tensor k, int[] chunkBand, int bands, Tensor out, int batch, int heads,
                                     int lq, int lk, int headDim) {
        AttentionAnalysis.chunkLogits(pool, q, k, chunkBand, bands, out, batch, heads, lq, lk, headDim);
    }

    @Override
    protected void addKernel(Tensor a, Tensor b, Tensor out, long n) {
        VectorElementwise.add(pool, a, b, out, n);
    }

    @Override
    protected void siluKernel(Tensor x, Tensor out, long n) {
        VectorElementwise.silu(pool, x, out, n);
    }

    @Override
    protected void geluTanhKernel(Tensor x, Tensor out, long n) {
        VectorElementwise.geluTanh(pool, x, out, n);
    }

    @Override
    protected void modulateKernel(Tensor x, Tensor shift, Tensor scale, Tensor out, int batch, int tokens, int dim) {
        VectorElementwise.modulate(pool, x, shift, scale, out, batch, tokens, dim);
    }

    @Override
    protected void gatedResidualKernel(Tensor residual, Tensor gate, Tensor y, Tensor out, int batch, int tokens, int dim) {
        VectorElementwise.gatedResidual(pool, residual, gate, y, out, batch, tokens, dim);
    }

    @Override
    protected void layerNormKernel(Tensor x, Tensor weight, Tensor bias, float eps, Tensor out, int rows, int dim) {
        VectorNorms.layerNorm(pool, x, weight, bias, eps, out, rows, dim);
    }

    @Override
    protected void rmsNormKernel(Tensor x, Tensor scale, float eps, Tensor out, int rows, int dim) {
        VectorNorms.rmsNorm(pool, x, scale, eps, out, rows, dim);
    }

    @Override
    protected void ropeTableKernel(Tensor ids, int[] axesDim, double theta, Tensor pe, int batch, int tokens) {
        VectorRope.ropeTable(pool, ids, axesDim, theta, pe, batch, tokens);
    }

    @Override
    protected void applyRopeKernel(Tensor x, Tensor pe, Tensor out, int batch, int heads, int tokens, int headDim, int peBatch) {
        VectorRope.applyRope(pool, x, pe, out, batch, heads, tokens, headDim, peBatch);
    }

    @Override
    protected void timestepEmbeddingKernel(Tensor t, float timeFactor, double maxPeriod, Tensor out, int batch, int dim) {
        VectorTimestepEmbedding.embed(t, timeFactor, maxPeriod, out, batch, dim);
    }

    @Override
    protected void adaInKernel(Tensor x, Tensor ref, float eps, Tensor out, int batch, int heads, int tokens, int headDim,
                               int refTokens, int tokenStart) {
        VectorAdaIn.adaIn(pool, x, ref, eps, out, batch, heads, tokens, headDim, refTokens, tokenStart);
    }

    // ---- the text encoders' ops (issue 15) ---------------------------------------------------------------

    @Override
    protected void multiplyKernel(Tensor a, Tensor b, Tensor out, long n) {
        VectorElementwise.multiply(pool, a, b, out, n);
    }

    @Override
    protected void embeddingKernel(Tensor table, int[] ids, Tensor out, int rows, int dim) {
        VectorEmbedding.embedding(pool, table, ids, out, rows, dim);
    }

    @Override
    protected void quickGeluKernel(Tensor x, Tensor out, long n) {
        VectorElementwise.quickGelu(pool, x, out, n);
    }

    @Override
    protected void maskedAttentionKernel(Tensor q, Tensor k, Tensor v, float scale, Tensor positionBias, boolean causal,
                                         Tensor out, int batch, int heads, int lq, int lk, int headDim) {
        if (batch == 0 || heads == 0 || lq == 0) {
            return;
        }
        if (positionBias == null && !causal) { // plain attention with another scale: the same kernel as attention()
            VectorAttention att = new VectorAttention(q.segment(), k.segment(), v.segment(), null, null, out.segment(), batch, heads,
                    lq, lk, 0, headDim, 1, 0, 0, scale, null, pool.threads());
            pool.parallelFor(att.tasks(batch), (task, s) -> att.run(task));
            return;
        }
        MaskedAttention att = new MaskedAttention(q.segment(), k.segment(), v.segment(), out.segment(), batch, heads, lq, lk, headDim,
                scale, positionBias == null ? null : positionBias.segment(), causal, pool.threads());
        pool.parallelFor(att.tasks(batch), (task, s) -> att.run(task));
    }

    // ---- the autoencoder's ops (issue 16) --------------------------------------------------------------

    @Override
    protected void affineKernel(Tensor x, float scale, float shift, Tensor out, long n) {
        VectorElementwise.affine(pool, x, scale, shift, out, n);
    }

    @Override
    protected void conv2dKernel(Tensor x, Tensor w, Tensor bias, Tensor out, int b, int cin, int h, int wIn, int cout, int kh, int kw,
                                int stride, int[] pad, int ho, int wo) {
        VectorConv2d.conv2d(pool, x, w, bias, out, b, cin, h, wIn, cout, kh, kw, stride, pad, ho, wo);
    }

    @Override
    protected void groupNormKernel(Tensor x, int groups, Tensor weight, Tensor bias, float eps, Tensor out, int b, int c, long spatial) {
        VectorGroupNorm.groupNorm(pool, x, groups, weight, bias, eps, out, b, c, spatial);
    }

    @Override
    protected void upsampleNearest2xKernel(Tensor x, Tensor out, long planes, int h, int w) {
        VectorUpsample.upsampleNearest2x(pool, x, out, planes, h, w);
    }
}
