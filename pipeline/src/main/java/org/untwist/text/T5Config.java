package org.untwist.text;

import java.nio.file.Path;
import java.util.Arrays;
import org.untwist.checkpoint.ConfigFile;
import org.untwist.io.TensorSource;
import org.untwist.tensor.Tensor;

/**
 * The hyper-parameters of a T5 v1.1 encoder ({@code T5EncoderModel}), read from {@code config.json} with
 * transformers' names. Only what FLUX.1's T5 uses is supported: the gated feed-forward with the tanh GELU
 * ({@code feed_forward_proj: "gated-gelu"}) and bidirectional relative position buckets.
 *
 * @param vocabSize   rows of the shared embedding
 * @param dModel      hidden size
 * @param dKv         size of one attention head
 * @param dFf         feed-forward size
 * @param numLayers   encoder blocks
 * @param numHeads    attention heads
 * @param numBuckets  relative position buckets
 * @param maxDistance distance from which the buckets stop growing
 * @param eps         the RMS norms' epsilon
 */
public record T5Config(int vocabSize, int dModel, int dKv, int dFf, int numLayers, int numHeads, int numBuckets, int maxDistance,
                       float eps) {

    /** The model type that transformers writes for T5. */
    public static final String MODEL_TYPE = "t5";

    /** Reads {@code dir/config.json}. */
    public static T5Config read(Path dir) {
        return from(ConfigFile.inFolder(dir, "a text encoder"));
    }

    static T5Config from(ConfigFile c) {
        String type = c.stringOr("model_type", null);
        if (!MODEL_TYPE.equals(type)) {
            throw c.unsupported("model_type", type, "t5");
        }
        // As transformers' T5Config: "gated-gelu" means the gated feed-forward with gelu_new (the tanh GELU).
        String proj = c.stringOr("feed_forward_proj", "relu");
        String[] parts = proj.split("-");
        boolean gated = parts.length == 2 && parts[0].equals("gated");
        String act = parts[parts.length - 1];
        boolean tanhGelu = act.equals("gelu") || act.equals("gelu_new") || act.equals("gelu_pytorch_tanh");
        if (!gated || !tanhGelu) {
            throw c.unsupported("feed_forward_proj", proj, "gated-gelu, the T5 v1.1 feed-forward FLUX.1 uses");
        }
        if (c.booleanOr("is_decoder", false)) {
            throw c.unsupported("is_decoder", true, "false: untwist runs T5's encoder only");
        }
        int numBuckets = c.positiveInt("relative_attention_num_buckets");
        if (numBuckets < 4) {
            throw new IllegalArgumentException(c.file() + ": 'relative_attention_num_buckets' must be at least 4, got " + numBuckets);
        }
        int maxDistance = c.intOr("relative_attention_max_distance", 128);
        if (maxDistance <= numBuckets / 4) { // the log-spaced buckets start at numBuckets/4 (bidirectional)
            throw new IllegalArgumentException(c.file() + ": 'relative_attention_max_distance' " + maxDistance
                    + " must exceed relative_attention_num_buckets / 4 = " + numBuckets / 4);
        }
        return new T5Config(c.positiveInt("vocab_size"), c.positiveInt("d_model"), c.positiveInt("d_kv"), c.positiveInt("d_ff"),
                c.positiveInt("num_layers"), c.positiveInt("num_heads"), numBuckets, maxDistance, c.epsilonOr("layer_norm_epsilon", 1e-6f));
    }

    /**
     * The config of a single-file T5 encoder without {@code config.json} (ComfyUI's {@code t5xxl_fp16.safetensors},
     * {@code t5xxl_fp8_e4m3fn.safetensors}), from its keys and shapes: vocabulary and width from the embedding,
     * blocks from the highest {@code encoder.block.N}, heads from the relative position bias table, head size from
     * the q projection, feed-forward size from {@code wi_0}. Assumed, as every T5 v1.1 has them: the gated tanh
     * GELU, {@code relative_attention_max_distance} 128, epsilon 1e-6.
     *
     * @throws IllegalArgumentException naming the source and the tensor that is missing or has an unexpected shape
     */
    public static T5Config infer(TensorSource s) {
        String embedding = s.contains("shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight";
        int[] e = shape(s, embedding, 2), bias = shape(s, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", 2);
        int[] q = shape(s, "encoder.block.0.layer.0.SelfAttention.q.weight", 2), wi = shape(s, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight", 2);
        int layers = 0;
        while (s.contains("encoder.block." + layers + ".layer.0.SelfAttention.q.weight")) {
            layers++;
        }
        int heads = bias[1];
        if (q[0] % heads != 0) {
            throw new IllegalArgumentException(s.describe() + ": q projection of " + q[0] + " rows is not a multiple of the " + heads + " heads of the position bias");
        }
        return new T5Config(e[0], e[1], q[0] / heads, wi[0], layers, heads, bias[0], 128, 1e-6f);
    }

    private static int[] shape(TensorSource s, String name, int rank) {
        if (!s.contains(name)) {
            throw new IllegalArgumentException(s.describe() + ": missing tensor '" + name + "' (not a T5 encoder?)");
        }
        Tensor t = s.tensor(name);
        if (t.rank() != rank) {
            throw new IllegalArgumentException(s.describe() + ": tensor '" + name + "' has shape " + Arrays.toString(t.shape()) + ", expected rank " + rank);
        }
        return t.shape();
    }

    /** Width of the attention projections: {@code numHeads · dKv}. */
    public int innerDim() {
        return numHeads * dKv;
    }
}
