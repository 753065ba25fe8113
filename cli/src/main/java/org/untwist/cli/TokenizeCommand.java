package org.untwist.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import org.untwist.text.PromptTokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code untwist tokenize}: a prompt's token ids, as transformers' tokenizers give them. */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = {"Prints the token ids of each text, one JSON array per line, as transformers' tokenizer gives them.",
                "The folder is a FLUX.1 pipeline's tokenizer/ (CLIP: vocab.json, merges.txt) or tokenizer_2/ (T5: tokenizer.json or "
                        + "spiece.model), or its text_encoder/ or text_encoder_2/ (the tokenizer beside it is used)."})
final class TokenizeCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Tokenizer folder, or a text encoder folder of a pipeline.")
    Path model;

    @Option(names = "--text", required = true, arity = "1..*", paramLabel = "TEXT", description = "One or more texts.")
    List<String> texts;

    @Option(names = "--length", paramLabel = "N",
            description = "Truncate and pad to N ids as FLUX.1 does (CLIP: 77; T5: 256 for schnell, 512 for dev). Default: neither.")
    Integer length;

    @Option(names = "--pieces", description = "Also print each text's pieces.")
    boolean pieces;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (length != null && length < 2) {
            throw new IllegalArgumentException("--length must be at least 2 (start and end tokens), got " + length);
        }
        PrintWriter out = spec.commandLine().getOut();
        PromptTokenizer tokenizer = TokenizerFolders.load(model);
        for (String text : texts) {
            int[] ids = length == null ? tokenizer.ids(text) : tokenizer.encode(text, length);
            out.println(Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(", ", "[", "]")));
            if (pieces) {
                out.println(tokenizer.pieces(text).stream().map(TokenizeCommand::quote).collect(Collectors.joining(", ", "[", "]")));
            }
        }
        out.flush();
        return 0;
    }

    private static String quote(String s) {
        return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
    }
}
