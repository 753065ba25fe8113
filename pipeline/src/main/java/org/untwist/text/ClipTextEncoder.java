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
 * CLIP's text tower as FLUX.1 calls transformers' {@code CLIPTextModel} (no attention mask, only the causal
 * one): token plus position embeddings; per layer a pre-LayerNorm causal self-attention ({@code 1/√d} scaling)
 * and a pre-LayerNorm MLP with quick-GELU; a final LayerNorm. {@code pooler_output} is the final hidden state at
 * the end token: with the legacy {@code eos_token_id} 2 (FLUX.1's CLIP config) the position of each row's
 * largest id, as transformers does, else the first position holding {@code eos_token_id}. Keys are those of
 * the real checkpoints ({@code text_model.encoder.layers.N...}, or without the {@code text_model.} prefix as
 * transformers 5 saves them); weights keep their stored type.
 */
public final class ClipTextEncoder implements TextEncoder {

    private record Layer(Tensor norm1Weight, Tensor norm1Bias, Tensor qWeight, Tensor qBias, Tensor kWeight, Tensor kBias, Tensor vWeight,
                         Tensor vBias, Tensor outWeight, Tensor outBias, Tensor norm2Weight, Tensor norm2Bias, Tensor fc1Weight,
                         Tensor fc1Bias, Tensor fc2Weight, Tensor fc2Bias) {
    }

    private final ClipTextConfig config;
    private final Backend backend;
    private final ModelParameters parameters;
    private final Tensor tokenEmbedding;
    private final Tensor positionEmbedding;
    private final List<Layer> layers = new ArrayList<>();
    private final Tensor finalNormWeight;
    private final Tensor finalNormBias;

    private ClipTextEncoder(ClipTextConfig c, ModelParameters p, Backend backend) {
        this.config = c;
        this.backend = backend;
        this.parameters = p;
        int d = c.hiddenSize(), m = c.intermediate();
        // FLUX.1's checkpoints (and full CLIPModel ones) prefix the tower's keys; transformers 5 saves them bare.
        String t = p.contains("embeddings.token_embedding.weight") && !p.contains("text_model.embeddings.token_embedding.weight") ? ""
                : "text_model.";
        tokenEmbedding = p.matrix(t + "embeddings.token_embedding.weight", c.vocabSize(), d);
        positionEmbedding = p.matrix(t + "embeddings.position_embedding.weight", c.maxPositions(), d);
        for (int i = 0; i < c.numLayers(); i++) {
            String l = t + "encoder.layers." + i + ".";
            String a = l + "self_attn.";
            layers.add(new Layer(p.vector(l + "layer_norm1.weight", d), p.vector(l + "layer_norm1.bias", d),
                    p.matrix(a + "q_proj.weight", d, d), p.vector(a + "q_proj.bias", d),
                    p.matrix(a + "k_proj.weight", d, d), p.vector(a + "k_proj.bias", d),
                    p.matrix(a + "v_proj.weight", d, d), p.vector(a + "v_proj.bias", d),
                    p.matrix(a + "out_proj.weight", d, d), p.vector(a + "out_proj.bias", d),
                    p.vector(l + "layer_norm2.weight", d), p.vector(l + "layer_norm2.bias", d),
                    p.matrix(l + "mlp.fc1.weight", m, d), p.vector(l + "mlp.fc1.bias", m),
                    p.matrix(l + "mlp.fc2.weight", d, m), p.vector(l + "mlp.fc2.bias", d)));
        }
        finalNormWeight = p.vector(t + "final_layer_norm.weight", d);
        finalNormBias = p.vector(t + "final_layer_norm.bias", d);
    }

    /** Loads {@code dir}'s {@code config.json} and weights (see {@link TextEncoder#load}). */
    public static ClipTextEncoder load(Path dir, Backend backend) {
        return create(ClipTextConfig.read(dir), SafeTensorsFolder.open(dir), backend);
    }

    /**
     * The encoder of {@code config} over the tensors of {@code weights} (a folder, a single file, or a view of a
     * part of one), which it owns from now on (closed with it, or here on failure).
     */
    public static ClipTextEncoder create(ClipTextConfig config, TensorSource weights, Backend backend) {
        return ModelParameters.buildOrClose(weights, backend, parameters -> new ClipTextEncoder(config, parameters, backend));
    }

    public ClipTextConfig config() {
        return config;
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public int width() {
        return config.hiddenSize();
    }

    @Override
    public int maxTokens() {
        return config.maxPositions();
    }

    @Override
    public String describe() {
        ClipTextConfig c = config;
        return "CLIP text encoder: " + c.numLayers() + " layers, width " + c.hiddenSize() + ", " + c.numHeads() + " heads, MLP "
                + c.intermediate() + ", " + c.maxPositions() + " positions, vocabulary " + c.vocabSize() + ", " + tokenEmbedding.dtype()
                + " weights from " + parameters.describe();
    }

    /** {@code last_hidden_state [B, L, width]} and {@code pooler_output [B, width]}. */
    @Override
    public TextEncoding encode(int[][] ids) {
        int[] flat = TextEncoder.flatIds(ids, config.vocabSize(), maxTokens());
        int batch = ids.length, length = flat.length / batch;
        int d = config.hiddenSize(), heads = config.numHeads(), hd = config.headDim();
        int[] positions = new int[batch * length];
        int[] pooledRows = new int[batch];
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < length; t++) {
                positions[b * length + t] = t;
            }
            pooledRows[b] = b * length + endTokenPosition(ids[b]);
        }
        Tensor hidden = backend.allocate(DType.F32, batch, length, d);
        Tensor pooled = null;
        try (Tensor normed = backend.allocate(DType.F32, batch, length, d);
             Tensor projected = backend.allocate(DType.F32, batch, length, d);
             Tensor q = backend.allocate(DType.F32, batch, heads, length, hd);
             Tensor k = backend.allocate(DType.F32, batch, heads, length, hd);
             Tensor v = backend.allocate(DType.F32, batch, heads, length, hd);
             Tensor attended = backend.allocate(DType.F32, batch, length, d);
             Tensor update = backend.allocate(DType.F32, batch, length, d);
             Tensor mlp = backend.allocate(DType.F32, batch, length, config.intermediate())) {
            backend.embedding(tokenEmbedding, flat, hidden);
            backend.embedding(positionEmbedding, positions, update);
            backend.add(hidden, update, hidden);
            float scale = (float) (1.0 / Math.sqrt(hd));
            for (Layer layer : layers) {
                backend.layerNorm(hidden, layer.norm1Weight(), layer.norm1Bias(), config.eps(), normed);
                project(normed, layer.qWeight(), layer.qBias(), projected, q);
                project(normed, layer.kWeight(), layer.kBias(), projected, k);
                project(normed, layer.vWeight(), layer.vBias(), projected, v);
                backend.attention(q, k, v, scale, null, true, attended);
                backend.linear(attended, layer.outWeight(), layer.outBias(), update);
                backend.add(hidden, update, hidden);

                backend.layerNorm(hidden, layer.norm2Weight(), layer.norm2Bias(), config.eps(), normed);
                backend.linear(normed, layer.fc1Weight(), layer.fc1Bias(), mlp);
                if (config.activation() == ClipTextConfig.Activation.QUICK_GELU) {
                    backend.quickGelu(mlp, mlp);
                } else {
                    backend.geluTanh(mlp, mlp);
                }
                backend.linear(mlp, layer.fc2Weight(), layer.fc2Bias(), update);
                backend.add(hidden, update, hidden);
            }
            backend.layerNorm(hidden, finalNormWeight, finalNormBias, config.eps(), hidden);
            pooled = backend.allocate(DType.F32, batch, d);
            // The pooled rows gathered from the final states, viewed as a table of B·L rows.
            backend.embedding(hidden.reshape(batch * length, d), pooledRows, pooled);
            return new TextEncoding(hidden, pooled);
        } catch (RuntimeException | Error e) {
            hidden.close();
            if (pooled != null) {
                pooled.close();
            }
            throw e;
        }
    }

    /** Where transformers takes {@code pooler_output} in one row of ids. */
    private int endTokenPosition(int[] row) {
        int at = 0;
        if (config.eosTokenId() == ClipTextConfig.LEGACY_EOS_TOKEN_ID) {
            for (int t = 1; t < row.length; t++) { // argmax: the first position of the largest id
                if (row[t] > row[at]) {
                    at = t;
                }
            }
            return at;
        }
        for (int t = 0; t < row.length; t++) {
            if (row[t] == config.eosTokenId()) {
                return t;
            }
        }
        return 0; // transformers' argmax over an all-false mask: position 0
    }

    /** {@code x · Wᵀ + b} into head-major {@code heads} through the {@code [B, L, width]} buffer {@code flat}. */
    private void project(Tensor x, Tensor weight, Tensor bias, Tensor flat, Tensor heads) {
        backend.linear(x, weight, bias, flat);
        backend.splitHeads(flat, heads);
    }

    @Override
    public void close() {
        parameters.close();
    }
}
