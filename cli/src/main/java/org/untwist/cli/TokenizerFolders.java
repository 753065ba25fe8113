package org.untwist.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.untwist.text.PromptTokenizer;

/** Where a text encoder's tokenizer is: a pipeline keeps {@code tokenizer/} beside {@code text_encoder/}, {@code tokenizer_2/} beside {@code text_encoder_2/}. */
final class TokenizerFolders {
    private TokenizerFolders() {
    }

    /** The tokenizer of {@code dir}: the folder itself when it holds tokenizer files, else the pipeline's sibling folder. */
    static PromptTokenizer load(Path dir) throws IOException {
        return PromptTokenizer.load(locate(dir));
    }

    static Path locate(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException(dir + ": no such folder");
        }
        if (holdsTokenizer(dir)) {
            return dir;
        }
        Path name = dir.toAbsolutePath().normalize().getFileName();
        String sibling = name == null ? null : switch (name.toString()) {
            case "text_encoder" -> "tokenizer";
            case "text_encoder_2" -> "tokenizer_2";
            default -> null;
        };
        if (sibling != null) {
            Path candidate = dir.toAbsolutePath().normalize().resolveSibling(sibling);
            if (holdsTokenizer(candidate)) {
                return candidate;
            }
            throw new IllegalArgumentException(dir + ": no tokenizer beside it (" + candidate + " holds no vocab.json + merges.txt, "
                    + "tokenizer.json or spiece.model); give one with --tokenizer");
        }
        throw new IllegalArgumentException(dir + ": no tokenizer files (vocab.json + merges.txt for CLIP, tokenizer.json or spiece.model "
                + "for T5) and not a pipeline's text_encoder/ or text_encoder_2/; give the tokenizer folder");
    }

    private static boolean holdsTokenizer(Path dir) {
        return Files.isRegularFile(dir.resolve("vocab.json")) && Files.isRegularFile(dir.resolve("merges.txt"))
                || Files.isRegularFile(dir.resolve("tokenizer.json")) || Files.isRegularFile(dir.resolve("spiece.model"));
    }
}
