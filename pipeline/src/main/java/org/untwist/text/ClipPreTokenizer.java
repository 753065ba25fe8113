package org.untwist.text;

import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Text to words, as the Hugging Face CLIP tokenizer does it for a stretch of text between special tokens:
 * normalize (NFC, every whitespace run to one space, lower case), keep the matches of CLIP's word pattern and
 * drop the whitespace between them, then split each match again with GPT-2's pattern (the byte-level step of
 * {@code tokenizers} does that second split; it only ever cuts CLIP's literal {@code <|startoftext|>} and
 * {@code <|endoftext|>} matches into {@code <|}, the letters and {@code |>}).
 *
 * <p>{@code tokenizers} runs these patterns with Oniguruma. Java's {@code \p{L}} and {@code \p{N}} are the same
 * general categories; {@code \s} needs {@link Pattern#UNICODE_CHARACTER_CLASS} to mean Unicode White_Space
 * (25 code points, as Oniguruma's) instead of ASCII whitespace only. Java matches classes on code points, so an
 * emoji outside the BMP is one character to the pattern, as it is to Oniguruma. (OpenAI's own tokenizer uses
 * Python's {@code regex} module with IGNORECASE; after lower-casing that makes no difference.)
 */
final class ClipPreTokenizer {

    private static final Pattern WHITESPACE_RUN = Pattern.compile("\\s+", Pattern.UNICODE_CHARACTER_CLASS);

    /** CLIP's pattern, as transformers' CLIPTokenizer gives it to tokenizers' Split(invert=True, removed). */
    private static final Pattern CLIP_WORD = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            Pattern.UNICODE_CHARACTER_CLASS);

    /** GPT-2's pattern, which tokenizers' ByteLevel pre-tokenizer applies (use_regex=True, the default). */
    private static final Pattern GPT2_WORD = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);

    private ClipPreTokenizer() {
    }

    /** NFC, whitespace runs to one space, then lower case, as tokenizers' normalizer sequence for CLIP. */
    static String normalize(String text) {
        String composed = Normalizer.normalize(text, Normalizer.Form.NFC);
        String collapsed = WHITESPACE_RUN.matcher(composed).replaceAll(" ");
        return lowerCaseEachCodePoint(collapsed);
    }

    /** The words of a stretch of text (no special tokens in it), normalized, in order. */
    static List<String> words(String text) {
        List<String> words = new ArrayList<>();
        Matcher clip = CLIP_WORD.matcher(normalize(text));
        while (clip.find()) {
            splitIsolated(clip.group(), words);
        }
        return words;
    }

    /** Adds the GPT-2 matches of the piece and the stretches between them (Split behaviour "isolated"). */
    private static void splitIsolated(String piece, List<String> out) {
        Matcher gpt2 = GPT2_WORD.matcher(piece);
        int end = 0;
        while (gpt2.find()) {
            if (gpt2.start() > end) {
                out.add(piece.substring(end, gpt2.start()));
            }
            out.add(gpt2.group());
            end = gpt2.end();
        }
        if (end < piece.length()) {
            out.add(piece.substring(end));
        }
    }

    /**
     * Lower case one code point at a time, as Rust's {@code char::to_lowercase} in tokenizers' Lowercase
     * normalizer: full mappings (U+0130 becomes "i" and U+0307) but no context, so a word-final capital sigma
     * becomes σ, not the ς that {@link String#toLowerCase} would give for the whole string.
     */
    private static String lowerCaseEachCodePoint(String text) {
        StringBuilder lower = new StringBuilder(text.length());
        text.codePoints().forEach(cp -> {
            if (cp < 0x80) {
                lower.append((char) (cp >= 'A' && cp <= 'Z' ? cp + ('a' - 'A') : cp));
            } else {
                lower.append(Character.toString(cp).toLowerCase(Locale.ROOT));
            }
        });
        return lower.toString();
    }
}
