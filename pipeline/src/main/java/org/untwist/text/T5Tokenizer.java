package org.untwist.text;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * FLUX.1's second text tokenizer: T5's SentencePiece Unigram model, read from a pipeline's {@code tokenizer_2/}
 * folder, giving the ids transformers gives for {@code tokenizer(text, truncation=True, max_length=256 or 512,
 * padding="max_length")}: the pieces, then {@code </s>}, cut so that {@code </s>} stays, then {@code <pad>} (0).
 *
 * <p>The folder may hold the fast form ({@code tokenizer.json}, what diffusers reads) and the slow form
 * ({@code spiece.model}, what FLUX.1's reference code reads through transformers' slow tokenizer). The two forms
 * tokenize the same text slightly differently, as their Python libraries do, and each loader reproduces its own
 * library: see {@link #loadTokenizerJson} and {@link #loadSentencePiece}. Special tokens written in the prompt
 * ({@code </s>}, {@code <pad>}, {@code <unk>}, {@code <extra_id_N>}) become their ids, as in transformers.
 *
 * <p>Immutable and safe to share between threads.
 */
public final class T5Tokenizer implements PromptTokenizer {

    private final String source;
    private final UnigramModel model;
    private final WordSplitter splitter;
    private final Map<String, Integer> specialTokens;
    private final String specialTokenFirstChars;
    private final Map<Integer, String> specialTokenNames = new HashMap<>();
    private final int eosId;
    private final int padId;
    private final int vocabularySize;

    T5Tokenizer(String source, UnigramModel model, WordSplitter splitter, Map<String, Integer> specialTokens,
            int eosId, int padId, int vocabularySize) {
        this.source = source;
        this.model = model;
        this.splitter = splitter;
        this.specialTokens = Map.copyOf(specialTokens);
        StringBuilder firsts = new StringBuilder();
        specialTokens.forEach((text, id) -> {
            specialTokenNames.putIfAbsent(id, text);
            if (!text.isEmpty() && firsts.indexOf(text.substring(0, 1)) < 0) {
                firsts.append(text.charAt(0));
            }
        });
        this.specialTokenFirstChars = firsts.toString();
        this.eosId = eosId;
        this.padId = padId;
        this.vocabularySize = vocabularySize;
    }

    /** Reads {@code dir/tokenizer.json} if there is one (as diffusers does), else {@code dir/spiece.model}. */
    public static T5Tokenizer load(Path dir) throws IOException {
        requireFolder(dir);
        if (Files.isRegularFile(dir.resolve("tokenizer.json"))) {
            return loadTokenizerJson(dir);
        }
        if (Files.isRegularFile(dir.resolve("spiece.model"))) {
            return loadSentencePiece(dir);
        }
        throw new NoSuchFileException(dir.toString(), null,
                "T5 tokenizer folder has neither tokenizer.json nor spiece.model");
    }

    /** The slow form, {@code dir/spiece.model} ({@code dir} may also name the file), tokenized as sentencepiece does. */
    public static T5Tokenizer loadSentencePiece(Path dir) throws IOException {
        return SentencePieceModelFile.read(fileIn(dir, "spiece.model"));
    }

    /** The fast form, {@code dir/tokenizer.json} ({@code dir} may also name the file), tokenized as tokenizers does. */
    public static T5Tokenizer loadTokenizerJson(Path dir) throws IOException {
        return TokenizerJsonFile.read(fileIn(dir, "tokenizer.json"));
    }

    /** FLUX.1's call: ids of {@code text}, then {@code </s>}, truncated and padded with {@code <pad>} to exactly {@code maxLength}. */
    @Override
    public int[] encode(String text, int maxLength) {
        if (maxLength < 1) {
            throw new IllegalArgumentException("maxLength must be at least 1 (room for </s>), got " + maxLength);
        }
        List<Integer> pieces = pieceIds(text);
        int kept = Math.min(pieces.size(), maxLength - 1);
        int[] ids = new int[maxLength];
        Arrays.fill(ids, padId);
        for (int i = 0; i < kept; i++) {
            ids[i] = pieces.get(i);
        }
        ids[kept] = eosId;
        return ids;
    }

    /** The ids of {@code text} followed by {@code </s>}, neither truncated nor padded. */
    @Override
    public int[] ids(String text) {
        List<Integer> pieces = pieceIds(text);
        int[] ids = new int[pieces.size() + 1];
        for (int i = 0; i < pieces.size(); i++) {
            ids[i] = pieces.get(i);
        }
        ids[pieces.size()] = eosId;
        return ids;
    }

    /** The pieces of {@code text} as strings ("▁a", "<unk>", "<0xE2>"), without {@code </s>}: for looking, not for the model. */
    @Override
    public List<String> pieces(String text) {
        List<String> names = new ArrayList<>();
        for (int id : pieceIds(text)) {
            names.add(id < model.size() ? model.piece(id) : specialTokenNames.get(id));
        }
        return names;
    }

    /** {@link TokenLimits#T5_DEV}: FLUX.1 [dev]'s length and the model_max_length of its tokenizer_2 config. */
    @Override
    public int defaultLength() {
        return TokenLimits.T5_DEV;
    }

    public int eosId() {
        return eosId;
    }

    public int padId() {
        return padId;
    }

    /** How many ids the tokenizer can give: the model's pieces and the {@code <extra_id_N>} sentinels. */
    public int vocabularySize() {
        return vocabularySize;
    }

    @Override
    public String toString() {
        return "T5Tokenizer[" + source + ", " + vocabularySize + " ids]";
    }

    /** Special tokens are cut out first (longest at the leftmost place); the stretches between are tokenized apart. */
    private List<Integer> pieceIds(String text) {
        List<Integer> out = new ArrayList<>();
        int stretchStart = 0;
        int i = 0;
        while (i < text.length()) {
            String special = specialTokenFirstChars.indexOf(text.charAt(i)) >= 0 ? specialTokenAt(text, i) : null;
            if (special == null) {
                i++;
                continue;
            }
            tokenizeStretch(text.substring(stretchStart, i), out);
            out.add(specialTokens.get(special));
            i += special.length();
            stretchStart = i;
        }
        tokenizeStretch(text.substring(stretchStart), out);
        return out;
    }

    private String specialTokenAt(String text, int at) {
        String longest = null;
        for (String token : specialTokens.keySet()) {
            if (text.startsWith(token, at) && (longest == null || token.length() > longest.length())) {
                longest = token;
            }
        }
        return longest;
    }

    private void tokenizeStretch(String stretch, List<Integer> out) {
        if (stretch.isEmpty()) {
            return;
        }
        for (String word : splitter.split(stretch)) {
            model.segment(word, out);
        }
    }

    private static void requireFolder(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new NoSuchFileException(dir.toString(), null, "no such T5 tokenizer folder");
        }
    }

    private static Path fileIn(Path dirOrFile, String name) throws IOException {
        if (Files.isDirectory(dirOrFile)) {
            Path file = dirOrFile.resolve(name);
            if (!Files.isRegularFile(file)) {
                throw new NoSuchFileException(file.toString(), null, "no " + name + " in the T5 tokenizer folder");
            }
            return file;
        }
        if (!Files.isRegularFile(dirOrFile)) {
            throw new NoSuchFileException(dirOrFile.toString(), null, "no such T5 tokenizer folder or " + name);
        }
        return dirOrFile;
    }
}
