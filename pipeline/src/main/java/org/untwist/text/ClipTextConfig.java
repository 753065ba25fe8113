package org.untwist.text;

import java.nio.file.Path;

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
        return from(ConfigJson.read(dir));
    }

    static ClipTextConfig from(ConfigJson c) {
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

    /** Size of one attention head. */
    public int headDim() {
        return hiddenSize / numHeads;
    }
}
