package org.untwist.text;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.untwist.backend.Backend;
import org.untwist.checkpoint.ModelParameters;
import org.untwist.io.SafeTensorsFolder;
import org.untwist.io.TensorSource;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * The encoder of T5 v1.1 as FLUX.1 calls transformers' {@code T5EncoderModel} (no attention mask): the shared
 * token embedding; per block a pre-norm self-attention whose logits are {@code q·kᵀ} (no {@code 1/√d}) plus a
 * relative position bias computed once from the first block's bucket table, and a pre-norm gated feed-forward
 * {@code wo(gelu_tanh(wi_0 x) · wi_1 x)}; T5's RMS norm (no mean, no bias) everywhere; a final norm. No linear
 * layer has a bias. Weights keep their stored type; keys are those of the real checkpoints
 * ({@code shared.weight}, {@code encoder.block.N.layer.M...}).
 */
public final class T5Encoder implements TextEncoder {

    private record Block(Tensor attentionNorm, Tensor q, Tensor k, Tensor v, Tensor o, Tensor feedForwardNorm, Tensor wi0, Tensor wi1,
                         Tensor wo) {
    }

    private final T5Config config;
    private final Backend backend;
    private final ModelParameters parameters;
    private final Tensor embedding;
    private final Tensor relativeBias; // [numBuckets, numHeads]
    private final List<Block> blocks = new ArrayList<>();
    private final Tensor finalNorm;

    private T5Encoder(T5Config c, ModelParameters p, Backend backend) {
        this.config = c;
        this.backend = backend;
        this.parameters = p;
        int d = c.dModel(), inner = c.innerDim();
        String embeddingKey = p.contains("shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight";
        embedding = p.matrix(embeddingKey, c.vocabSize(), d);
        relativeBias = p.matrix("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", c.numBuckets(), c.numHeads());
        for (int i = 0; i < c.numLayers(); i++) {
            String a = "encoder.block." + i + ".layer.0.";
            String f = "encoder.block." + i + ".layer.1.";
            blocks.add(new Block(p.vector(a + "layer_norm.weight", d),
                    p.matrix(a + "SelfAttention.q.weight", inner, d), p.matrix(a + "SelfAttention.k.weight", inner, d),
                    p.matrix(a + "SelfAttention.v.weight", inner, d), p.matrix(a + "SelfAttention.o.weight", d, inner),
                    p.vector(f + "layer_norm.weight", d), p.matrix(f + "DenseReluDense.wi_0.weight", c.dFf(), d),
                    p.matrix(f + "DenseReluDense.wi_1.weight", c.dFf(), d), p.matrix(f + "DenseReluDense.wo.weight", d, c.dFf())));
        }
        finalNorm = p.vector("encoder.final_layer_norm.weight", d);
    }

    /** Loads {@code dir}'s {@code config.json} and weights (see {@link TextEncoder#load}). */
    public static T5Encoder load(Path dir, Backend backend) {
        return create(T5Config.read(dir), SafeTensorsFolder.open(dir), backend);
    }

    /**
     * The encoder of {@code config} over the tensors of {@code weights} (a folder, a single file, or a view of a
     * part of one), which it owns from now on (closed with it, or here on failure).
     */
    public static T5Encoder create(T5Config config, TensorSource weights, Backend backend) {
        return ModelParameters.buildOrClose(weights, backend, parameters -> new T5Encoder(config, parameters, backend));
    }

    public T5Config config() {
        return config;
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public int width() {
        return config.dModel();
    }

    @Override
    public int maxTokens() {
        return Integer.MAX_VALUE;
    }

    @Override
    public String describe() {
        T5Config c = config;
        return "T5 encoder: " + c.numLayers() + " blocks, d_model " + c.dModel() + ", " + c.numHeads() + " heads of " + c.dKv() + ", d_ff "
                + c.dFf() + ", vocabulary " + c.vocabSize() + ", " + embedding.dtype() + " weights from " + parameters.describe();
    }

    /** {@code last_hidden_state [B, L, d_model]}; {@link TextEncoding#pooled} is null. */
    @Override
    public TextEncoding encode(int[][] ids) {
        int[] flat = TextEncoder.flatIds(ids, config.vocabSize(), maxTokens());
        int batch = ids.length, length = flat.length / batch;
        int d = config.dModel(), heads = config.numHeads(), dKv = config.dKv(), inner = config.innerDim();
        Tensor hidden = backend.allocate(DType.F32, batch, length, d);
        try (Tensor normed = backend.allocate(DType.F32, batch, length, d);
             Tensor projected = backend.allocate(DType.F32, batch, length, inner);
             Tensor q = backend.allocate(DType.F32, batch, heads, length, dKv);
             Tensor k = backend.allocate(DType.F32, batch, heads, length, dKv);
             Tensor v = backend.allocate(DType.F32, batch, heads, length, dKv);
             Tensor attended = backend.allocate(DType.F32, batch, length, inner);
             Tensor update = backend.allocate(DType.F32, batch, length, d);
             Tensor gate = backend.allocate(DType.F32, batch, length, config.dFf());
             Tensor up = backend.allocate(DType.F32, batch, length, config.dFf());
             Tensor positionBias = backend.allocate(DType.F32, 2 * length - 1, heads)) {
            backend.embedding(embedding, flat, hidden);
            // One bias per head and offset j − i, from the first block's table, shared by every block (as T5 does).
            backend.embedding(relativeBias, T5RelativePosition.offsetBuckets(length, length, config.numBuckets(), config.maxDistance()),
                    positionBias);
            for (Block block : blocks) {
                backend.rmsNorm(hidden, block.attentionNorm(), config.eps(), normed);
                project(normed, block.q(), projected, q);
                project(normed, block.k(), projected, k);
                project(normed, block.v(), projected, v);
                backend.attention(q, k, v, 1f, positionBias, false, attended);
                backend.linear(attended, block.o(), null, update);
                backend.add(hidden, update, hidden);

                backend.rmsNorm(hidden, block.feedForwardNorm(), config.eps(), normed);
                backend.linearGeluTanh(normed, block.wi0(), null, gate);
                backend.linear(normed, block.wi1(), null, up);
                backend.multiply(gate, up, gate);
                backend.linear(gate, block.wo(), null, update);
                backend.add(hidden, update, hidden);
            }
            backend.rmsNorm(hidden, finalNorm, config.eps(), hidden);
            return new TextEncoding(hidden, null);
        } catch (RuntimeException | Error e) {
            hidden.close();
            throw e;
        }
    }

    /** {@code x · Wᵀ} into head-major {@code heads} through the {@code [B, L, inner]} buffer {@code flat}. */
    private void project(Tensor x, Tensor weight, Tensor flat, Tensor heads) {
        backend.linear(x, weight, null, flat);
        backend.splitHeads(flat, heads);
    }

    @Override
    public void close() {
        parameters.close();
    }
}
