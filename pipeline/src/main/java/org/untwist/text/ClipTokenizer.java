package org.untwist.text;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * FLUX.1's CLIP tokenizer (byte-level BPE, OpenAI's 49408-token vocabulary), in plain Java, giving the ids that
 * transformers' {@code CLIPTokenizer} gives.
 *
 * <p>Steps, for the text between special tokens: normalize and split into words ({@link ClipPreTokenizer}),
 * write each word's UTF-8 bytes as {@link ByteLevelAlphabet} characters, mark the word's last character with
 * {@code </w>}, join by the ranked merges ({@link BpeMerges}) and look the pieces up in the vocabulary (a piece
 * that is not there becomes the unknown token; with the real vocabulary every byte is there, so that never
 * happens). The special-token strings (start, end, unknown, pad) are recognised in the raw text, case-sensitive,
 * before normalization, as transformers 5 registers them (AddedToken, normalized=false): {@code <|endoftext|>}
 * in a prompt is the end token, {@code <|ENDOFTEXT|>} is ordinary text.
 *
 * <p>Instances are immutable and safe to share between threads.
 */
public final class ClipTokenizer implements PromptTokenizer {

    /** The end-of-word mark that CLIP's BPE appends to a word's last symbol. */
    static final String END_OF_WORD = "</w>";

    private final Map<String, Integer> vocabulary;
    private final BpeMerges merges;
    private final ClipSpecialTokens special;
    private final int maxLength;
    /** Special-token strings, longest first, so that the longest one wins where two start at one place. */
    private final List<String> specialStrings;

    private ClipTokenizer(Map<String, Integer> vocabulary, BpeMerges merges, ClipSpecialTokens special,
                          int maxLength) {
        this.vocabulary = Map.copyOf(vocabulary);
        this.merges = merges;
        this.special = special;
        this.maxLength = maxLength;
        this.specialStrings = Stream.of(special.bos(), special.eos(), special.unk(), special.pad()).distinct()
                .sorted(Comparator.comparingInt(String::length).reversed()).toList();
    }

    /**
     * Reads a {@code tokenizer/} folder of a FLUX.1 pipeline ({@code vocab.json}, {@code merges.txt},
     * {@code tokenizer_config.json}, optionally {@code special_tokens_map.json}).
     *
     * @throws ClipTokenizerFileException a file is missing or malformed; the message names it
     */
    public static ClipTokenizer load(Path dir) {
        Objects.requireNonNull(dir, "dir");
        ClipTokenizerFolder folder = new ClipTokenizerFolder(dir);
        Map<String, Integer> vocabulary = folder.vocabulary();
        BpeMerges merges = folder.merges(vocabulary);
        ClipSpecialTokens special = folder.specialTokens(vocabulary);
        int maxLength = folder.modelMaxLength();
        return new ClipTokenizer(vocabulary, merges, special, maxLength);
    }

    /**
     * The ids as FLUX.1 asks for them, {@code tokenizer(text, truncation=True, max_length=model_max_length,
     * padding="max_length")}: start token, the text's ids cut to fit, end token, then pad tokens up to
     * {@link #maxLength()}.
     */
    public int[] encode(String text) {
        return encode(text, maxLength);
    }

    /** As {@link #encode(String)}, to {@code length} ids (at least 2: the start and end token). */
    @Override
    public int[] encode(String text, int length) {
        if (length < 2) {
            throw new IllegalArgumentException("length must be at least 2 (start and end token), got " + length);
        }
        int[] all = tokenIds(text);
        int[] out = new int[length];
        int kept = Math.min(all.length - 1, length - 1);
        System.arraycopy(all, 0, out, 0, kept);
        out[kept] = special.eosId();
        Arrays.fill(out, kept + 1, length, special.padId());
        return out;
    }

    @Override
    public int[] ids(String text) {
        return tokenIds(text);
    }

    @Override
    public int defaultLength() {
        return maxLength;
    }

    /** All ids of the text, start and end token included, neither truncated nor padded. */
    public int[] tokenIds(String text) {
        List<String> pieces = pieces(text);
        int[] ids = new int[pieces.size() + 2];
        ids[0] = special.bosId();
        for (int i = 0; i < pieces.size(); i++) {
            ids[i + 1] = vocabulary.getOrDefault(pieces.get(i), special.unkId());
        }
        ids[ids.length - 1] = special.eosId();
        return ids;
    }

    /**
     * The text's pieces as vocabulary strings (byte-level characters, {@code </w>} at word ends), without start
     * and end token; a special-token string in the text is one piece. A piece missing from the vocabulary is
     * returned as it is (its id is the unknown token's).
     *
     * @throws IllegalArgumentException the text holds an unpaired surrogate (it has no UTF-8 form)
     */
    @Override
    public List<String> pieces(String text) {
        Objects.requireNonNull(text, "text");
        requireWellFormed(text);
        List<String> pieces = new ArrayList<>();
        int start = 0;
        while (start <= text.length()) {
            int[] found = nextSpecial(text, start);
            int end = found == null ? text.length() : found[0];
            for (String word : ClipPreTokenizer.words(text.substring(start, end))) {
                pieces.addAll(bytePairs(word));
            }
            if (found == null) {
                break;
            }
            String token = specialStrings.get(found[1]);
            pieces.add(token);
            start = end + token.length();
        }
        return pieces;
    }

    /** The length {@link #encode} pads and truncates to: tokenizer_config.json's model_max_length (77). */
    public int maxLength() {
        return maxLength;
    }

    public int startId() {
        return special.bosId();
    }

    public int endId() {
        return special.eosId();
    }

    public int padId() {
        return special.padId();
    }

    public int unknownId() {
        return special.unkId();
    }

    /** Number of entries in vocab.json (49408 for CLIP). */
    public int vocabularySize() {
        return vocabulary.size();
    }

    private List<String> bytePairs(String word) {
        String bytes = ByteLevelAlphabet.encode(word);
        List<String> symbols = new ArrayList<>(bytes.length());
        for (int i = 0; i < bytes.length(); i++) {
            // Alphabet characters are all in the BMP: one char each.
            symbols.add(i == bytes.length() - 1 ? bytes.charAt(i) + END_OF_WORD : String.valueOf(bytes.charAt(i)));
        }
        return merges.apply(symbols);
    }

    /** {position, index into specialStrings} of the leftmost special-token string at or after from; longest wins. */
    private int[] nextSpecial(String text, int from) {
        int[] best = null;
        for (int i = 0; i < specialStrings.size(); i++) {
            int at = text.indexOf(specialStrings.get(i), from);
            if (at >= 0 && (best == null || at < best[0])) {
                best = new int[] {at, i};
            }
        }
        return best;
    }

    private static void requireWellFormed(String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new IllegalArgumentException("text has an unpaired surrogate U+"
                        + Integer.toHexString(c).toUpperCase(java.util.Locale.ROOT) + " at index " + i);
            }
        }
    }
}
