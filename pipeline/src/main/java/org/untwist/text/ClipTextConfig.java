package org.untwist.text;

import java.nio.file.Path;
import java.util.Arrays;
import org.untwist.checkpoint.ConfigFile;
import org.untwist.io.TensorSource;
import org.untwist.tensor.Tensor;

/**
 * The hyper-parameters of CLIP's text tower ({@code CLIPTextModel}), read from {@code config.json} with
 * transformers' names: a {@code clip_text_model} config, or a full {@code clip} config's {@code text_config}.
 *
 * @param vocabSize    rows of the token embedding
 * @param hiddenSize   width
 * @param intermediate MLP width
 * @param numLayers    encoder layers
 * @param numHeads     attention heads
 * @param maxPositions positions of the position embedding (77 for FLUX.1's CLIP)
 * @param eps          the LayerNorms' epsilon
 * @param eosTokenId   the end token id from the config; 2 means transformers' legacy rule (the end token is the
 *                     largest id in each row)
 * @param activation   the MLP activation
 */
public record ClipTextConfig(int vocabSize, int hiddenSize, int intermediate, int numLayers, int numHeads, int maxPositions, float eps,
                             int eosTokenId, Activation activation) {

    /** The MLP activations supported. */
    public enum Activation {
        /** {@code x · sigmoid(1.702·x)}, CLIP ViT-L/14's. */
        QUICK_GELU,
        /** GELU with the tanh approximation. */
        GELU_TANH
    }

    /** The model type of a text tower config. */
    public static final String MODEL_TYPE = "clip_text_model";

    /** transformers' marker for checkpoints whose config predates a correct {@code eos_token_id}. */
    static final int LEGACY_EOS_TOKEN_ID = 2;

    /** Reads {@code dir/config.json}. */
    public static ClipTextConfig read(Path dir) {
        return from(ConfigFile.inFolder(dir, "a text encoder"));
    }

    static ClipTextConfig from(ConfigFile c) {
        String type = c.stringOr("model_type", null);
        if ("clip".equals(type)) {
            c = c.nested("text_config");
        } else if (!MODEL_TYPE.equals(type)) {
            throw c.unsupported("model_type", type, "clip_text_model, or clip with a text_config");
        }
        String act = c.stringOr("hidden_act", "quick_gelu");
        Activation activation = switch (act) {
            case "quick_gelu" -> Activation.QUICK_GELU;
            case "gelu_new", "gelu_pytorch_tanh" -> Activation.GELU_TANH;
            default -> throw c.unsupported("hidden_act", act, "quick_gelu, gelu_new, gelu_pytorch_tanh");
        };
        int hidden = c.positiveInt("hidden_size");
        int heads = c.positiveInt("num_attention_heads");
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(c.file() + ": hidden_size " + hidden + " is not a multiple of num_attention_heads " + heads);
        }
        return new ClipTextConfig(c.positiveInt("vocab_size"), hidden, c.positiveInt("intermediate_size"), c.positiveInt("num_hidden_layers"),
                heads, c.positiveInt("max_position_embeddings"), c.epsilonOr("layer_norm_eps", 1e-5f),
                c.intOr("eos_token_id", LEGACY_EOS_TOKEN_ID), activation);
    }

    /** Size of an attention head assumed when a single file's config must be inferred: CLIP ViT-L/14's (and ViT-bigG's). */
    public static final int INFERRED_HEAD_DIM = 64;

    /**
     * The config of a single-file CLIP text tower without {@code config.json} (ComfyUI's {@code clip_l.safetensors}),
     * from its keys and shapes, with or without the {@code text_model.} prefix: vocabulary and width from the token
     * embedding, positions from the position embedding, layers from the highest {@code encoder.layers.N}, MLP
     * width from {@code fc1}. Assumed, as the shapes do not tell them: heads of {@value #INFERRED_HEAD_DIM}
     * (CLIP-L: 768 / 64 = 12), the quick GELU, epsilon 1e-5, and the end token found as the largest id of a row
     * (transformers' legacy rule, right for CLIP's vocabularies where {@code <|endoftext|>} is the last id).
     *
     * @throws IllegalArgumentException naming the source and the tensor at fault, or a width that is not a multiple of 64
     */
    public static ClipTextConfig infer(TensorSource s) {
        String t = s.contains("text_model.embeddings.token_embedding.weight") ? "text_model." : "";
        int[] tok = shape(s, t + "embeddings.token_embedding.weight"), pos = shape(s, t + "embeddings.position_embedding.weight");
        int[] fc1 = shape(s, t + "encoder.layers.0.mlp.fc1.weight");
        int layers = 0;
        while (s.contains(t + "encoder.layers." + layers + ".mlp.fc1.weight")) {
            layers++;
        }
        int width = tok[1];
        if (width % INFERRED_HEAD_DIM != 0) {
            throw new IllegalArgumentException(s.describe() + ": CLIP width " + width + " is not a multiple of " + INFERRED_HEAD_DIM
                    + ", so the number of heads cannot be inferred; use a folder with config.json");
        }
        return new ClipTextConfig(tok[0], width, fc1[0], layers, width / INFERRED_HEAD_DIM, pos[0], 1e-5f, LEGACY_EOS_TOKEN_ID,
                Activation.QUICK_GELU);
    }

    private static int[] shape(TensorSource s, String name) {
        if (!s.contains(name)) {
            throw new IllegalArgumentException(s.describe() + ": missing tensor '" + name + "' (not a CLIP text encoder?)");
        }
        Tensor x = s.tensor(name);
        if (x.rank() != 2) {
            throw new IllegalArgumentException(s.describe() + ": tensor '" + name + "' has shape " + Arrays.toString(x.shape()) + ", expected a matrix");
        }
        return x.shape();
    }

    /** Size of one attention head. */
    public int headDim() {
        return hiddenSize / numHeads;
    }
}
