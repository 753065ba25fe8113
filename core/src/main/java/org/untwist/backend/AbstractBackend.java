package org.untwist.backend;

import static org.untwist.backend.ArgumentChecks.*;

import java.util.Arrays;
import java.util.List;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * The one place where every {@link Backend} operation checks its arguments. Public methods validate shapes
 * and types, then call a protected kernel with the sizes already unpacked; a backend implements only the
 * kernels. The layout operations ({@code splitQkv}, {@code concat}, {@code split}) are bulk memory copies
 * and are shared by all host-memory backends.
 */
public abstract class AbstractBackend implements Backend {

    /** Throws unless {@code t} is float32 (for subclasses' own checks). */
    protected static void requireF32(String op, String arg, Tensor t) {
        ArgumentChecks.requireF32(op, arg, t);
    }

    // ---- kernels a backend implements ----------------------------------------------------------------

    /** {@code out[r, o] = Σ_i x[r, i]·w[o, i] + bias[o]}; {@code bias} may be null. */
    protected abstract void linearKernel(Tensor x, Tensor w, Tensor bias, Tensor out, int rows, int in, int outDim);

    protected abstract void addKernel(Tensor a, Tensor b, Tensor out, long n);

    protected abstract void multiplyKernel(Tensor a, Tensor b, Tensor out, long n);

    /** {@code out[r, :] = table[ids[r], :]} widened to float32; ids are already checked to lie in the table. */
    protected abstract void embeddingKernel(Tensor table, int[] ids, Tensor out, int rows, int dim);

    /** LayerNorm; {@code weight} and {@code bias} are null (no affine) or {@code [dim]} ({@code bias} may be null alone). */
    protected abstract void layerNormKernel(Tensor x, Tensor weight, Tensor bias, float eps, Tensor out, int rows, int dim);

    protected abstract void rmsNormKernel(Tensor x, Tensor scale, float eps, Tensor out, int rows, int dim);

    protected abstract void siluKernel(Tensor x, Tensor out, long n);

    protected abstract void geluTanhKernel(Tensor x, Tensor out, long n);

    protected abstract void quickGeluKernel(Tensor x, Tensor out, long n);

    /** {@code out = scale · x + shift}. */
    protected abstract void affineKernel(Tensor x, float scale, float shift, Tensor out, long n);

    /**
     * 2-D convolution, PyTorch's cross-correlation: {@code x [b, cin, h, w]}, {@code w [cout, cin, kh, kw]} (stored type),
     * {@code bias [cout]} or null, zero padding {@code pad = {top, bottom, left, right}}, output {@code [b, cout, ho, wo]}.
     */
    protected abstract void conv2dKernel(Tensor x, Tensor w, Tensor bias, Tensor out, int b, int cin, int h, int wIn, int cout, int kh,
                                         int kw, int stride, int[] pad, int ho, int wo);

    /** GroupNorm over {@code x [b, c, spatial]} in {@code groups} groups of {@code c/groups} channels; weight and bias {@code [c]}. */
    protected abstract void groupNormKernel(Tensor x, int groups, Tensor weight, Tensor bias, float eps, Tensor out, int b, int c,
                                            long spatial);

    /** Nearest-neighbour ×2 upsampling of {@code x [planes, h, w]} into {@code out [planes, 2h, 2w]}. */
    protected abstract void upsampleNearest2xKernel(Tensor x, Tensor out, long planes, int h, int w);

    protected abstract void modulateKernel(Tensor x, Tensor shift, Tensor scale, Tensor out, int batch, int tokens, int dim);

    protected abstract void gatedResidualKernel(Tensor residual, Tensor gate, Tensor y, Tensor out, int batch, int tokens, int dim);

    /** {@code pe} is {@code [batch, 1, tokens, pairs, 2, 2]} with {@code pairs = Σ axesDim / 2}. */
    protected abstract void ropeTableKernel(Tensor ids, int[] axesDim, double theta, Tensor pe, int batch, int tokens);

    /** {@code peBatch} is 1 (shared table) or {@code batch}. */
    protected abstract void applyRopeKernel(Tensor x, Tensor pe, Tensor out, int batch, int heads, int tokens, int headDim, int peBatch);

    protected abstract void timestepEmbeddingKernel(Tensor t, float timeFactor, double maxPeriod, Tensor out, int batch, int dim);

    /**
     * Attention over {@code lk} own keys followed by {@code lr} reference keys (scaled per chunk by
     * {@code refKeyScale} when it is not null) in one softmax. The reference keys are tokens
     * {@code [refStart, refStart + lr)} of {@code refK}, which holds {@code refTokens} tokens per head.
     * {@code refK}/{@code refV} may be null when {@code lr == 0}; {@code refBatch} is 1 or {@code batch}.
     */
    protected abstract void attentionKernel(Tensor q, Tensor k, Tensor v, Tensor refK, Tensor refV, Tensor refKeyScale,
                                            Tensor out, int batch, int heads, int lq, int lk, int lr, int headDim, int refBatch,
                                            int refStart, int refTokens);

    /**
     * {@code softmax(scale · q·kᵀ + positionBias[j − i + lq − 1, h]) · v}, keys {@code j > i} left out when
     * {@code causal} ({@code lq == lk} then); {@code positionBias} is null or {@code [lq + lk − 1, heads]}.
     */
    protected abstract void maskedAttentionKernel(Tensor q, Tensor k, Tensor v, float scale, Tensor positionBias, boolean causal,
                                                  Tensor out, int batch, int heads, int lq, int lk, int headDim);

    /** The softmax rows of {@link #attentionKernel} into {@code out [batch, heads, lq, lk + lr]}. */
    protected abstract void attentionProbsKernel(Tensor q, Tensor k, Tensor refK, Tensor refKeyScale, Tensor out, int batch, int heads,
                                                 int lq, int lk, int lr, int headDim, int refBatch, int refStart, int refTokens);

    /** Per-band logit terms into {@code out [batch, heads, lq, lk, bands]}. */
    protected abstract void chunkLogitsKernel(Tensor q, Tensor k, int[] chunkBand, int bands, Tensor out, int batch, int heads,
                                              int lq, int lk, int headDim);

    /** AdaIN over tokens {@code [tokenStart, tokens)} toward {@code ref}'s statistics over {@code [tokenStart, refTokens)}. */
    protected abstract void adaInKernel(Tensor x, Tensor ref, float eps, Tensor out, int batch, int heads, int tokens, int headDim,
                                        int refTokens, int tokenStart);

    // ---- validated public operations -----------------------------------------------------------------

    @Override
    public final void linear(Tensor x, Tensor weight, Tensor bias, Tensor out) {
        int[] d = checkLinear("linear", x, weight, bias, out, takesBf16For(weight));
        linearKernel(x, weight, bias, out, d[0], d[1], d[2]);
    }

    @Override
    public final void linearGeluTanh(Tensor x, Tensor weight, Tensor bias, Tensor out) {
        int[] d = checkLinear("linearGeluTanh", x, weight, bias, out, takesBf16For(weight));
        linearGeluTanhKernel(x, weight, bias, out, d[0], d[1], d[2]);
    }

    /** {@code out = geluTanh(x · wᵀ + bias)}: the linear kernel, then the GELU kernel in place; a backend that fuses them overrides this. */
    protected void linearGeluTanhKernel(Tensor x, Tensor w, Tensor bias, Tensor out, int rows, int in, int outDim) {
        linearKernel(x, w, bias, out, rows, in, outDim);
        geluTanhKernel(out, out, out.numel());
    }

    @Override
    public final void linearConcat(Tensor a, Tensor b, Tensor weight, Tensor bias, Tensor out) {
        int[] d = checkLinearConcat("linearConcat", a, b, weight, bias, out, takesBf16For(weight));
        linearConcatKernel(a, b, weight, bias, out, d[0], d[1], d[2], d[3]);
    }

    /**
     * {@code out = [a, b] · wᵀ + bias} on {@code rows} rows: by default a and b joined into one of this backend's reusable
     * scratch tensors ({@link #scratchTensors}), then the linear kernel; a backend that reads them in place overrides this.
     */
    protected void linearConcatKernel(Tensor a, Tensor b, Tensor w, Tensor bias, Tensor out, int rows, int ka, int kb, int outDim) {
        if (ka == 0 || kb == 0) { // one side is empty: the weights are the other side's alone
            Tensor x = ka == 0 ? b : a;
            linearKernel(x, w, bias, out, rows, ka + kb, outDim);
            return;
        }
        long n = (long) rows * (ka + kb);
        if (n > Integer.MAX_VALUE) { // beyond a 1-D scratch tensor: a tensor of its own
            try (Tensor joined = allocate(DType.F32, rows, ka + kb)) {
                joinAndMultiply(a, b, joined, w, bias, out, rows, ka, kb, outDim);
            }
            return;
        }
        Tensor buffer = scratchTensors.take((int) n);
        try {
            joinAndMultiply(a, b, buffer.rows(0, (int) n).reshape(rows, ka + kb), w, bias, out, rows, ka, kb, outDim);
        } finally {
            scratchTensors.give(buffer);
        }
    }

    private void joinAndMultiply(Tensor a, Tensor b, Tensor joined, Tensor w, Tensor bias, Tensor out, int rows, int ka, int kb, int outDim) {
        blockCopyKernel(List.of(a.reshape(rows, ka), b.reshape(rows, kb)), joined, rows, Float.BYTES, 1, true);
        linearKernel(joined, w, bias, out, rows, ka + kb, outDim);
    }

    /** Float32 scratch tensors in this backend's memory, reused across calls; a subclass's {@code close} frees them. */
    protected final ScratchTensors scratchTensors = new ScratchTensors(this);

    @Override
    public final void add(Tensor a, Tensor b, Tensor out) {
        requireF32("add", "a", a);
        requireSameShape("add", "b", b, a);
        requireSameShape("add", "out", out, a);
        requireF32("add", "b", b);
        requireF32("add", "out", out);
        addKernel(a, b, out, a.numel());
    }

    @Override
    public final void multiply(Tensor a, Tensor b, Tensor out) {
        requireF32("multiply", "a", a);
        requireSameShape("multiply", "b", b, a);
        requireSameShape("multiply", "out", out, a);
        requireF32("multiply", "b", b);
        requireF32("multiply", "out", out);
        multiplyKernel(a, b, out, a.numel());
    }

    @Override
    public final void embedding(Tensor table, int[] ids, Tensor out) {
        String op = "embedding";
        requireRank(op, "table", table, 2);
        requireWeight(op, "table", table);
        if (ids == null) {
            throw new IllegalArgumentException(op + ": ids is null");
        }
        requireF32(op, "out", out);
        int vocab = table.dim(0), dim = table.dim(1);
        if (out.rank() < 1 || out.dim(-1) != dim || out.rows() != ids.length) {
            throw shapeError(op, "out", out, ids.length + " rows of " + dim + " (one per id, table " + Arrays.toString(table.shape()) + ")");
        }
        for (int n = 0; n < ids.length; n++) {
            if (ids[n] < 0 || ids[n] >= vocab) {
                throw new IllegalArgumentException(op + ": id " + ids[n] + " at position " + n + " is outside the table's " + vocab + " rows");
            }
        }
        requireDistinct(op, table, out);
        embeddingKernel(table, ids.clone(), out, ids.length, dim);
    }

    @Override
    public final void layerNorm(Tensor x, float eps, Tensor out) {
        requireRows("layerNorm", x, out);
        requireEps("layerNorm", eps);
        layerNormKernel(x, null, null, eps, out, toInt("layerNorm", x.rows()), x.dim(-1));
    }

    @Override
    public final void layerNorm(Tensor x, Tensor weight, Tensor bias, float eps, Tensor out) {
        String op = "layerNorm";
        requireRows(op, x, out);
        requireEps(op, eps);
        requireF32(op, "weight", weight);
        requireShape(op, "weight", weight, x.dim(-1));
        if (bias != null) {
            requireF32(op, "bias", bias);
            requireShape(op, "bias", bias, x.dim(-1));
        }
        layerNormKernel(x, weight, bias, eps, out, toInt(op, x.rows()), x.dim(-1));
    }

    @Override
    public final void rmsNorm(Tensor x, Tensor scale, float eps, Tensor out) {
        requireRows("rmsNorm", x, out);
        requireEps("rmsNorm", eps);
        requireF32("rmsNorm", "scale", scale);
        requireShape("rmsNorm", "scale", scale, x.dim(-1));
        rmsNormKernel(x, scale, eps, out, toInt("rmsNorm", x.rows()), x.dim(-1));
    }

    @Override
    public final void silu(Tensor x, Tensor out) {
        requireF32("silu", "x", x);
        requireSameShape("silu", "out", out, x);
        requireF32("silu", "out", out);
        siluKernel(x, out, x.numel());
    }

    @Override
    public final void geluTanh(Tensor x, Tensor out) {
        requireF32("geluTanh", "x", x);
        requireSameShape("geluTanh", "out", out, x);
        requireF32("geluTanh", "out", out);
        geluTanhKernel(x, out, x.numel());
    }

    @Override
    public final void quickGelu(Tensor x, Tensor out) {
        requireF32("quickGelu", "x", x);
        requireSameShape("quickGelu", "out", out, x);
        requireF32("quickGelu", "out", out);
        quickGeluKernel(x, out, x.numel());
    }

    @Override
    public final void affine(Tensor x, float scale, float shift, Tensor out) {
        requireF32("affine", "x", x);
        requireSameShape("affine", "out", out, x);
        requireF32("affine", "out", out);
        if (!Float.isFinite(scale) || !Float.isFinite(shift)) {
            throw new IllegalArgumentException("affine: scale and shift must be finite, got " + scale + " and " + shift);
        }
        affineKernel(x, scale, shift, out, x.numel());
    }

    @Override
    public final void conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int[] padding, Tensor out) {
        String op = "conv2d";
        requireF32(op, "x", x);
        requireRank(op, "x", x, 4);
        requireRank(op, "weight", weight, 4);
        requireFloatingPoint(op, "weight", weight);
        int b = x.dim(0), cin = x.dim(1), h = x.dim(2), w = x.dim(3);
        int cout = weight.dim(0), kh = weight.dim(2), kw = weight.dim(3);
        if (weight.dim(1) != cin || kh == 0 || kw == 0) {
            throw shapeError(op, "weight", weight, "[Cout, " + cin + ", kh >= 1, kw >= 1] to match x " + Arrays.toString(x.shape()));
        }
        if (stride < 1) {
            throw new IllegalArgumentException(op + ": stride must be >= 1, got " + stride);
        }
        if (padding == null || padding.length != 4 || Arrays.stream(padding).anyMatch(p -> p < 0)) {
            throw new IllegalArgumentException(op + ": padding must be 4 non-negative sizes {top, bottom, left, right}, got "
                    + Arrays.toString(padding));
        }
        int ho = Math.floorDiv(h + padding[0] + padding[1] - kh, stride) + 1;
        int wo = Math.floorDiv(w + padding[2] + padding[3] - kw, stride) + 1;
        if (ho < 1 || wo < 1) {
            throw shapeError(op, "x", x, "a padded size of at least the kernel " + kh + "×" + kw);
        }
        if (bias != null) {
            requireF32(op, "bias", bias);
            requireShape(op, "bias", bias, cout);
        }
        requireF32(op, "out", out);
        requireShape(op, "out", out, b, cout, ho, wo);
        requireDistinct(op, x, out);
        conv2dKernel(x, weight, bias, out, b, cin, h, w, cout, kh, kw, stride, padding.clone(), ho, wo);
    }

    @Override
    public final void groupNorm(Tensor x, int groups, Tensor weight, Tensor bias, float eps, Tensor out) {
        String op = "groupNorm";
        requireF32(op, "x", x);
        if (x.rank() < 2) {
            throw shapeError(op, "x", x, "[B, C, ...]");
        }
        int c = x.dim(1);
        if (groups < 1 || c % groups != 0) {
            throw new IllegalArgumentException(op + ": " + c + " channels do not split into " + groups + " groups");
        }
        requireEps(op, eps);
        requireF32(op, "weight", weight);
        requireShape(op, "weight", weight, c);
        requireF32(op, "bias", bias);
        requireShape(op, "bias", bias, c);
        requireSameShape(op, "out", out, x);
        requireF32(op, "out", out);
        long spatial = x.dim(0) == 0 || c == 0 ? 0 : x.numel() / ((long) x.dim(0) * c);
        groupNormKernel(x, groups, weight, bias, eps, out, x.dim(0), c, spatial);
    }

    @Override
    public final void upsampleNearest2x(Tensor x, Tensor out) {
        String op = "upsampleNearest2x";
        requireF32(op, "x", x);
        requireRank(op, "x", x, 4);
        requireF32(op, "out", out);
        requireShape(op, "out", out, x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3));
        requireDistinct(op, x, out);
        upsampleNearest2xKernel(x, out, (long) x.dim(0) * x.dim(1), x.dim(2), x.dim(3));
    }

    @Override
    public final void modulate(Tensor x, Tensor shift, Tensor scale, Tensor out) {
        String op = "modulate";
        requireRank(op, "x", x, 3);
        requireF32(op, "x", x);
        requirePerBatch(op, "shift", shift, x);
        requirePerBatch(op, "scale", scale, x);
        requireSameShape(op, "out", out, x);
        requireF32(op, "out", out);
        modulateKernel(x, shift, scale, out, x.dim(0), x.dim(1), x.dim(2));
    }

    @Override
    public final void layerNormModulate(Tensor x, float eps, Tensor shift, Tensor scale, Tensor out) {
        String op = "layerNormModulate";
        requireRank(op, "x", x, 3);
        requireF32(op, "x", x);
        requireEps(op, eps);
        requirePerBatch(op, "shift", shift, x);
        requirePerBatch(op, "scale", scale, x);
        requireSameShape(op, "out", out, x);
        requireActivation(op, "out", out, takesBf16Activations());
        layerNormModulateKernel(x, eps, shift, scale, out, x.dim(0), x.dim(1), x.dim(2));
    }

    /** LayerNorm without affine parameters, then {@link #modulateKernel} in place; a backend may do both in one pass. */
    protected void layerNormModulateKernel(Tensor x, float eps, Tensor shift, Tensor scale, Tensor out, int batch, int tokens, int dim) {
        layerNormKernel(x, null, null, eps, out, toInt("layerNormModulate", (long) batch * tokens), dim);
        modulateKernel(out, shift, scale, out, batch, tokens, dim);
    }

    @Override
    public final void gatedResidual(Tensor residual, Tensor gate, Tensor y, Tensor out) {
        String op = "gatedResidual";
        requireRank(op, "residual", residual, 3);
        requireF32(op, "residual", residual);
        requirePerBatch(op, "gate", gate, residual);
        requireSameShape(op, "y", y, residual);
        requireF32(op, "y", y);
        requireSameShape(op, "out", out, residual);
        requireF32(op, "out", out);
        gatedResidualKernel(residual, gate, y, out, residual.dim(0), residual.dim(1), residual.dim(2));
    }

    @Override
    public final void ropeTable(Tensor ids, int[] axesDim, double theta, Tensor pe) {
        String op = "ropeTable";
        requireRank(op, "ids", ids, 3);
        requireF32(op, "ids", ids);
        if (axesDim == null || axesDim.length != ids.dim(2)) {
            throw new IllegalArgumentException(op + ": axesDim " + Arrays.toString(axesDim) + " must have one entry per id axis ("
                    + ids.dim(2) + ")");
        }
        int total = 0;
        for (int d : axesDim) {
            if (d <= 0 || d % 2 != 0) {
                throw new IllegalArgumentException(op + ": every axis dimension must be positive and even, got " + Arrays.toString(axesDim));
            }
            total += d;
        }
        if (!(theta > 0) || Double.isInfinite(theta)) {
            throw new IllegalArgumentException(op + ": theta must be a positive finite number, got " + theta);
        }
        requireF32(op, "pe", pe);
        requireShape(op, "pe", pe, ids.dim(0), 1, ids.dim(1), total / 2, 2, 2);
        ropeTableKernel(ids, axesDim.clone(), theta, pe, ids.dim(0), ids.dim(1));
    }

    @Override
    public final void applyRope(Tensor x, Tensor pe, Tensor out) {
        String op = "applyRope";
        requireRank(op, "x", x, 4);
        requireF32(op, "x", x);
        int b = x.dim(0), h = x.dim(1), l = x.dim(2), d = x.dim(3);
        int peBatch = checkRopeTable(op, pe, b, l, d, "x", x);
        requireSameShape(op, "out", out, x);
        requireF32(op, "out", out);
        applyRopeKernel(x, pe, out, b, h, l, d, peBatch);
    }

    @Override
    public final void timestepEmbedding(Tensor t, float timeFactor, double maxPeriod, Tensor out) {
        String op = "timestepEmbedding";
        requireF32(op, "t", t);
        requireRank(op, "t", t, 1);
        requireF32(op, "out", out);
        requireRank(op, "out", out, 2);
        if (out.dim(0) != t.dim(0)) {
            throw shapeError(op, "out", out, "[" + t.dim(0) + ", dim] to match t " + Arrays.toString(t.shape()));
        }
        if (!(maxPeriod > 0)) {
            throw new IllegalArgumentException(op + ": maxPeriod must be positive, got " + maxPeriod);
        }
        timestepEmbeddingKernel(t, timeFactor, maxPeriod, out, t.dim(0), out.dim(1));
    }

    @Override
    public final void attention(Tensor q, Tensor k, Tensor v, Tensor out) {
        checkAttention("attention", q, k, v, out, takesBf16Activations());
        attentionKernel(q, k, v, null, null, null, out, q.dim(0), q.dim(1), q.dim(2), k.dim(2), 0, q.dim(3), 1, 0, 0);
    }

    @Override
    public final void attention(Tensor q, Tensor k, Tensor v, float scale, Tensor positionBias, boolean causal, Tensor out) {
        String op = "attention";
        checkAttention(op, q, k, v, out, false);
        int h = q.dim(1), lq = q.dim(2), lk = k.dim(2);
        if (!(scale > 0) || Float.isInfinite(scale)) {
            throw new IllegalArgumentException(op + ": scale must be finite and positive, got " + scale);
        }
        if (positionBias != null) {
            requireF32(op, "positionBias", positionBias);
            requireShape(op, "positionBias", positionBias, lq + lk - 1, h);
        }
        if (causal && lq != lk) {
            throw new IllegalArgumentException(op + ": a causal mask needs as many queries as keys, got " + lq + " and " + lk);
        }
        if (lk == 0 && lq > 0) {
            throw new IllegalArgumentException(op + ": no keys to attend to (k " + Arrays.toString(k.shape()) + ")");
        }
        maskedAttentionKernel(q, k, v, scale, positionBias, causal, out, q.dim(0), h, lq, lk, q.dim(3));
    }

    @Override
    public final void sharedAttention(Tensor q, Tensor k, Tensor v, Tensor refK, Tensor refV, int refStart, Tensor refKeyScale, Tensor out) {
        String op = "sharedAttention";
        boolean bf16 = takesBf16Activations();
        checkAttention(op, q, k, v, out, bf16);
        requireAttentionActivation(op, "refK", refK, q, bf16);
        int refBatch = checkReference(op, q, refK, refStart, refKeyScale);
        requireAttentionActivation(op, "refV", refV, q, bf16);
        requireSameShape(op, "refV", refV, refK);
        attentionKernel(q, k, v, refK, refV, refKeyScale, out, q.dim(0), q.dim(1), q.dim(2), k.dim(2), refK.dim(2) - refStart, q.dim(3),
                refBatch, refStart, refK.dim(2));
    }

    @Override
    public final void attentionProbs(Tensor q, Tensor k, Tensor refK, int refStart, Tensor refKeyScale, Tensor out) {
        String op = "attentionProbs";
        checkQueriesAndKeys(op, q, k);
        int b = q.dim(0), h = q.dim(1), lq = q.dim(2), d = q.dim(3);
        int refBatch = 1, lr = 0, refTokens = 0;
        if (refK != null) {
            requireF32(op, "refK", refK);
            refBatch = checkReference(op, q, refK, refStart, refKeyScale);
            refTokens = refK.dim(2);
            lr = refTokens - refStart;
        } else if (refStart != 0 || refKeyScale != null) {
            throw new IllegalArgumentException(op + ": refStart and refKeyScale need a reference (refK is null)");
        }
        requireF32(op, "out", out);
        requireShape(op, "out", out, b, h, lq, k.dim(2) + lr);
        attentionProbsKernel(q, k, refK, refKeyScale, out, b, h, lq, k.dim(2), lr, d, refBatch, refStart, refTokens);
    }

    @Override
    public final void chunkLogits(Tensor q, Tensor k, int[] chunkBand, int bands, Tensor out) {
        String op = "chunkLogits";
        checkQueriesAndKeys(op, q, k);
        int b = q.dim(0), h = q.dim(1), lq = q.dim(2), d = q.dim(3);
        if (chunkBand == null || chunkBand.length != d / 2) {
            throw new IllegalArgumentException(op + ": chunkBand must have one entry per chunk (" + d / 2 + ")");
        }
        if (bands < 1) {
            throw new IllegalArgumentException(op + ": bands must be >= 1, got " + bands);
        }
        for (int p = 0; p < chunkBand.length; p++) {
            if (chunkBand[p] < 0 || chunkBand[p] >= bands) {
                throw new IllegalArgumentException(op + ": chunkBand[" + p + "] = " + chunkBand[p] + " is outside [0, " + bands + ")");
            }
        }
        requireF32(op, "out", out);
        requireShape(op, "out", out, b, h, lq, k.dim(2), bands);
        chunkLogitsKernel(q, k, chunkBand.clone(), bands, out, b, h, lq, k.dim(2), d);
    }

    @Override
    public final void adaIn(Tensor x, Tensor ref, int tokenStart, float eps, Tensor out) {
        String op = "adaIn";
        requireF32(op, "x", x);
        requireRank(op, "x", x, 4);
        requireF32(op, "ref", ref);
        requireRank(op, "ref", ref, 4);
        if (ref.dim(0) != 1 || ref.dim(1) != x.dim(1) || ref.dim(3) != x.dim(3)) {
            throw shapeError(op, "ref", ref, "[1, " + x.dim(1) + ", Lref, " + x.dim(3) + "] to match x " + Arrays.toString(x.shape()));
        }
        if (tokenStart < 0 || tokenStart > x.dim(2) - 2 || tokenStart > ref.dim(2) - 2) {
            throw new IllegalArgumentException(op + ": tokenStart " + tokenStart + " must leave at least 2 tokens in x " + Arrays.toString(x.shape())
                    + " and ref " + Arrays.toString(ref.shape()) + " for an unbiased variance");
        }
        requireEps(op, eps);
        requireSameShape(op, "out", out, x);
        requireF32(op, "out", out);
        adaInKernel(x, ref, eps, out, x.dim(0), x.dim(1), x.dim(2), x.dim(3), ref.dim(2), tokenStart);
    }

    /**
     * Whether this backend takes BF16 activations where {@link Backend#roundedActivationType} lists them (attention,
     * {@link #splitQkvNormRope}, {@link #layerNormModulate}'s output; linear layers only over weights whose rounded
     * activation type is BF16). False here: every CPU backend takes float32 only.
     */
    protected boolean takesBf16Activations() {
        return false;
    }

    /** Whether a linear layer over {@code weight} takes BF16 activations (a null weight fails its own check later). */
    private boolean takesBf16For(Tensor weight) {
        return weight != null && takesBf16Activations() && roundedActivationType(weight.dtype()) == DType.BF16;
    }

    /** An attention activation: F32, or, where the backend supports it, BF16 like q. */
    private static void requireAttentionActivation(String op, String arg, Tensor t, Tensor q, boolean bf16) {
        if (bf16 && t != null && q.dtype() == DType.BF16) {
            if (t.dtype() != DType.BF16) {
                throw new IllegalArgumentException(op + ": " + arg + " must be BF16 like q, got " + t.dtype() + " " + Arrays.toString(t.shape()));
            }
            return;
        }
        requireF32(op, arg, t);
    }

    /** Checks a reference key tensor against q; returns its batch (1 or B). */
    private static int checkReference(String op, Tensor q, Tensor refK, int refStart, Tensor refKeyScale) {
        int b = q.dim(0), h = q.dim(1), d = q.dim(3);
        requireRank(op, "refK", refK, 4);
        int refBatch = refK.dim(0);
        if ((refBatch != 1 && refBatch != b) || refK.dim(1) != h || refK.dim(3) != d) {
            throw shapeError(op, "refK", refK, "[1 or " + b + ", " + h + ", Lr, " + d + "] to match q " + Arrays.toString(q.shape()));
        }
        if (refStart < 0 || refStart > refK.dim(2)) {
            throw new IllegalArgumentException(op + ": refStart " + refStart + " is outside [0, " + refK.dim(2) + "]");
        }
        if (refKeyScale != null) {
            requireF32(op, "refKeyScale", refKeyScale);
            requireShape(op, "refKeyScale", refKeyScale, d / 2);
            for (int p = 0; p < d / 2 && !refKeyScale.isDevice(); p++) { // device values: checked where they are written
                float s = refKeyScale.get(p);
                if (!(s >= 0) || Float.isInfinite(s)) {
                    throw new IllegalArgumentException(op + ": refKeyScale[" + p + "] = " + s + " must be finite and >= 0");
                }
            }
        }
        return refBatch;
    }

    /** q {@code [B, H, Lq, Dh]} with an even Dh, k {@code [B, H, Lk, Dh]}, both F32. */
    private static void checkQueriesAndKeys(String op, Tensor q, Tensor k) {
        requireF32(op, "q", q);
        requireRank(op, "q", q, 4);
        int b = q.dim(0), h = q.dim(1), d = q.dim(3);
        if (d == 0 || d % 2 != 0) {
            throw shapeError(op, "q", q, "a positive even head dimension");
        }
        requireF32(op, "k", k);
        requireRank(op, "k", k, 4);
        if (k.dim(0) != b || k.dim(1) != h || k.dim(3) != d) {
            throw shapeError(op, "k", k, "[" + b + ", " + h + ", Lk, " + d + "] to match q " + Arrays.toString(q.shape()));
        }
    }

    private static void checkAttention(String op, Tensor q, Tensor k, Tensor v, Tensor out, boolean bf16) {
        if (bf16 && q != null && q.dtype() == DType.BF16) {
            requireAttentionActivation(op, "k", k, q, true);
            requireRank(op, "q", q, 4);
            requireRank(op, "k", k, 4);
            int b = q.dim(0), h = q.dim(1), d = q.dim(3);
            if (d == 0 || d % 2 != 0) {
                throw shapeError(op, "q", q, "a positive even head dimension");
            }
            if (k.dim(0) != b || k.dim(1) != h || k.dim(3) != d) {
                throw shapeError(op, "k", k, "[" + b + ", " + h + ", Lk, " + d + "] to match q " + Arrays.toString(q.shape()));
            }
        } else {
            checkQueriesAndKeys(op, q, k);
        }
        int b = q.dim(0), h = q.dim(1), lq = q.dim(2), d = q.dim(3);
        requireAttentionActivation(op, "v", v, q, bf16);
        requireSameShape(op, "v", v, k);
        requireAttentionActivation(op, "out", out, q, bf16);
        requireShape(op, "out", out, b, lq, h * d);
        requireDistinct(op, q, out);
    }

    // ---- layout: bulk copies, host versions shared by the CPU backends ---------------------------------

    @Override
    public final void splitQkv(Tensor qkv, Tensor q, Tensor k, Tensor v, int tokenOffset) {
        int[] s = checkSplitQkv("splitQkv", qkv, q, k, v, tokenOffset, false);
        splitQkvKernel(qkv, q, k, v, tokenOffset, s[0], s[1], s[2], s[3], s[4]);
    }

    @Override
    public final void splitQkvNormRope(Tensor qkv, Tensor qScale, Tensor kScale, float eps, Tensor pe, Tensor q, Tensor k, Tensor v,
                                       int tokenOffset) {
        String op = "splitQkvNormRope";
        int[] s = checkSplitQkv(op, qkv, q, k, v, tokenOffset, takesBf16Activations());
        int b = s[0], d = s[4];
        requireEps(op, eps);
        requireF32(op, "qScale", qScale);
        requireShape(op, "qScale", qScale, d);
        requireF32(op, "kScale", kScale);
        requireShape(op, "kScale", kScale, d);
        int peBatch = pe == null ? 0 : checkRopeTable(op, pe, b, s[3], d, "q", q);
        splitQkvNormRopeKernel(qkv, qScale, kScale, eps, pe, q, k, v, tokenOffset, b, s[1], s[2], s[3], d, peBatch);
    }

    /**
     * {@link #splitQkvNormRope} with checked arguments ({@code pe} null or {@code [peBatch, 1, lTot, d/2, 2, 2]}): by
     * default the split, norm and rotation calls it stands for, which a backend may replace with one pass.
     */
    protected void splitQkvNormRopeKernel(Tensor qkv, Tensor qScale, Tensor kScale, float eps, Tensor pe, Tensor q, Tensor k, Tensor v,
                                          int tokenOffset, int b, int h, int l, int lTot, int d, int peBatch) {
        QkvNormRope.composed(this, qkv, qScale, kScale, eps, pe, q, k, v, tokenOffset);
    }

    /** {@code qkv [b, l, 3·h·d]} into head-major {@code q, k, v [b, h, lTot, d]} at tokens {@code [tokenOffset, +l)}. */
    protected void splitQkvKernel(Tensor qkv, Tensor q, Tensor k, Tensor v, int tokenOffset, int b, int h, int l, int lTot, int d) {
        HostLayout.splitQkv(qkv, q, k, v, tokenOffset, b, h, l, lTot, d);
    }

    @Override
    public final void splitHeads(Tensor x, Tensor out) {
        String op = "splitHeads";
        requireF32(op, "x", x);
        requireRank(op, "x", x, 3);
        requireF32(op, "out", out);
        requireRank(op, "out", out, 4);
        int b = out.dim(0), h = out.dim(1), l = out.dim(2), d = out.dim(3);
        if (!x.hasShape(b, l, h * d)) {
            throw shapeError(op, "x", x, "[" + b + ", " + l + ", " + h * d + "] for out " + Arrays.toString(out.shape()));
        }
        requireDistinct(op, x, out);
        splitHeadsKernel(x, out, b, h, l, d);
    }

    /** {@code x [b, l, h·d]} into head-major {@code out [b, h, l, d]}. */
    protected void splitHeadsKernel(Tensor x, Tensor out, int b, int h, int l, int d) {
        HostLayout.splitHeads(x, out, b, h, l, d);
    }

    @Override
    public final void permute(Tensor x, int[] axes, Tensor out) {
        String op = "permute";
        requireElementwise(op, "x", x);
        int rank = x.rank();
        if (axes == null || axes.length != rank) {
            throw new IllegalArgumentException(op + ": axes " + Arrays.toString(axes) + " must list each of x's " + rank + " dimensions once");
        }
        boolean[] seen = new boolean[rank];
        int[] expected = new int[rank];
        for (int i = 0; i < rank; i++) {
            if (axes[i] < 0 || axes[i] >= rank || seen[axes[i]]) {
                throw new IllegalArgumentException(op + ": axes " + Arrays.toString(axes) + " is not a permutation of 0.." + (rank - 1));
            }
            seen[axes[i]] = true;
            expected[i] = x.dim(axes[i]);
        }
        if (out == null || out.dtype() != x.dtype()) {
            throw new IllegalArgumentException(op + ": out must have x's type " + x.dtype());
        }
        requireShape(op, "out", out, expected);
        requireDistinct(op, x, out);
        permuteKernel(x, axes.clone(), out);
    }

    /** {@code out[i_{axes[0]}, ...] = x[i_0, ...]}: a strided copy, shared by the host-memory backends. */
    protected void permuteKernel(Tensor x, int[] axes, Tensor out) {
        HostLayout.permute(x, axes, out);
    }

    @Override
    public final void concat(List<Tensor> parts, int axis, Tensor out) {
        blockCopy("concat", parts, axis, out, true);
    }

    @Override
    public final void split(Tensor x, int axis, List<Tensor> parts) {
        blockCopy("split", parts, axis, x, false);
    }

    /** Checks, then copies between {@code whole} and its slices along {@code axis}. */
    private void blockCopy(String op, List<Tensor> parts, int axis, Tensor whole, boolean intoWhole) {
        if (parts == null || parts.isEmpty()) {
            throw new IllegalArgumentException(op + ": no parts given");
        }
        requireElementwise(op, intoWhole ? "out" : "x", whole);
        int rank = whole.rank();
        int ax = axis < 0 ? rank + axis : axis;
        if (ax < 0 || ax >= rank) {
            throw new IllegalArgumentException(op + ": axis " + axis + " out of range for rank " + rank);
        }
        int sum = 0;
        for (int i = 0; i < parts.size(); i++) {
            Tensor p = parts.get(i);
            if (p.rank() != rank || p.dtype() != whole.dtype()) {
                throw shapeError(op, "part " + i, p, "rank " + rank + " and dtype " + whole.dtype());
            }
            for (int dd = 0; dd < rank; dd++) {
                if (dd != ax && p.dim(dd) != whole.dim(dd)) {
                    throw shapeError(op, "part " + i, p, "dimension " + dd + " equal to " + whole.dim(dd) + " of " + Arrays.toString(whole.shape()));
                }
            }
            sum += p.dim(ax);
        }
        if (sum != whole.dim(ax)) {
            throw new IllegalArgumentException(op + ": parts sum to " + sum + " along axis " + ax + " but the whole tensor has "
                    + whole.dim(ax) + " (" + Arrays.toString(whole.shape()) + ")");
        }
        long outer = 1;
        for (int dd = 0; dd < ax; dd++) {
            outer *= whole.dim(dd);
        }
        long inner = whole.dtype().byteSize();
        for (int dd = ax + 1; dd < rank; dd++) {
            inner *= whole.dim(dd);
        }
        blockCopyKernel(parts, whole, outer, inner, ax, intoWhole);
    }

    /**
     * Copies {@code outer} blocks between {@code whole} and each part: part {@code i}'s block of
     * {@code dim(axis) · innerBytes} bytes sits after the blocks of the parts before it in each of whole's rows.
     */
    protected void blockCopyKernel(List<Tensor> parts, Tensor whole, long outer, long inner, int ax, boolean intoWhole) {
        HostLayout.blockCopy(parts, whole, outer, inner, ax, intoWhole);
    }
}
