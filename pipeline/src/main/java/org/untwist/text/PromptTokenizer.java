package org.untwist.text;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/** A FLUX.1 prompt tokenizer: {@link ClipTokenizer} (a pipeline's {@code tokenizer/}) or {@link T5Tokenizer} ({@code tokenizer_2/}). */
public sealed interface PromptTokenizer permits ClipTokenizer, T5Tokenizer {

    /**
     * The tokenizer in {@code dir}, chosen by the files it holds: {@code vocab.json} and {@code merges.txt} are
     * CLIP's byte-level BPE; {@code tokenizer.json} or {@code spiece.model} T5's Unigram.
     *
     * @throws IOException naming the folder when it holds neither, or a file that cannot be read
     */
    static PromptTokenizer load(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new NoSuchFileException(dir.toString(), null, "no such tokenizer folder");
        }
        if (Files.isRegularFile(dir.resolve("vocab.json")) && Files.isRegularFile(dir.resolve("merges.txt"))) {
            return ClipTokenizer.load(dir);
        }
        if (Files.isRegularFile(dir.resolve("tokenizer.json")) || Files.isRegularFile(dir.resolve("spiece.model"))) {
            return T5Tokenizer.load(dir);
        }
        throw new NoSuchFileException(dir.toString(), null,
                "not a tokenizer folder: neither vocab.json + merges.txt (CLIP) nor tokenizer.json / spiece.model (T5)");
    }

    /** The ids FLUX.1 feeds the encoder: special tokens added, truncated (keeping the end token) and padded to {@code length}. */
    int[] encode(String text, int length);

    /** The ids with special tokens, neither truncated nor padded. */
    int[] ids(String text);

    /** The text's pieces as vocabulary strings, without the special tokens the tokenizer adds: for looking. */
    List<String> pieces(String text);

    /** The length FLUX.1 pads to by default: CLIP's 77 positions, T5's 512 (FLUX.1 [dev]; [schnell] uses 256). */
    int defaultLength();
}
