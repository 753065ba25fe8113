package org.untwist.text;

import java.nio.file.Path;
import org.untwist.backend.Backend;
import org.untwist.checkpoint.ConfigFile;

/**
 * A text encoder of FLUX.1: {@link T5Encoder} (FLUX.1's {@code txt}) or {@link ClipTextEncoder} (its {@code y}).
 * Thread-safe when the backend is: every call allocates its own activations.
 */
public sealed interface TextEncoder extends AutoCloseable permits T5Encoder, ClipTextEncoder {

    /**
     * Loads the encoder in {@code dir} (its {@code config.json} and weights, single or sharded safetensors: a
     * golden case's folder, or a pipeline's {@code text_encoder/} or {@code text_encoder_2/}), choosing the
     * architecture by the config's {@code model_type}.
     */
    static TextEncoder load(Path dir, Backend backend) {
        ConfigFile config = ConfigFile.inFolder(dir, "a text encoder");
        String type = config.stringOr("model_type", null);
        if (T5Config.MODEL_TYPE.equals(type)) {
            return T5Encoder.load(dir, backend);
        }
        if (ClipTextConfig.MODEL_TYPE.equals(type) || "clip".equals(type)) {
            return ClipTextEncoder.load(dir, backend);
        }
        throw config.unsupported("model_type", type, "t5 (T5EncoderModel), clip_text_model (CLIPTextModel)");
    }

    /**
     * Encodes a batch of token-id rows of one length (as a tokenizer pads them).
     *
     * @throws IllegalArgumentException naming the row and position of an id outside the vocabulary, or rows of
     *                                  different lengths
     */
    TextEncoding encode(int[][] ids);

    /** Rows of the token embedding: every id must be below this. */
    int vocabSize();

    /** The width of {@link TextEncoding#lastHiddenState}. */
    int width();

    /** The most tokens a row may have: CLIP's learned positions; T5, with relative positions only, has no bound. */
    int maxTokens();

    /** A one-line description: architecture, sizes, weight type, where the weights come from. */
    String describe();

    /** Frees the parameters' device copies and unmaps the weights. */
    @Override
    void close();

    /**
     * The rows of a batch of ids one after the other, as the embedding takes them, after checking them: at least one
     * row, rows of one positive length of at most {@code maxLength}, every id in the vocabulary.
     */
    static int[] flatIds(int[][] ids, int vocabSize, int maxLength) {
        if (ids == null || ids.length == 0) {
            throw new IllegalArgumentException("input_ids: no rows");
        }
        int length = ids[0] == null ? 0 : ids[0].length;
        if (length == 0) {
            throw new IllegalArgumentException("input_ids: rows are empty");
        }
        if (length > maxLength) {
            throw new IllegalArgumentException("input_ids: " + length + " tokens per row, more than the model's " + maxLength + " positions");
        }
        int[] flat = new int[ids.length * length];
        for (int b = 0; b < ids.length; b++) {
            if (ids[b] == null || ids[b].length != length) {
                throw new IllegalArgumentException("input_ids: row " + b + " has " + (ids[b] == null ? 0 : ids[b].length) + " tokens, row 0 has "
                        + length + " (pad the rows to one length)");
            }
            for (int t = 0; t < length; t++) {
                if (ids[b][t] < 0 || ids[b][t] >= vocabSize) {
                    throw new IllegalArgumentException("input_ids[" + b + "][" + t + "] = " + ids[b][t] + " is outside the vocabulary of "
                            + vocabSize + " tokens");
                }
            }
            System.arraycopy(ids[b], 0, flat, b * length, length);
        }
        return flat;
    }
}
