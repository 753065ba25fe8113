package org.untwist.text;

import java.nio.charset.StandardCharsets;
import java.text.BreakIterator;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The fast tokenizer's text preparation, as the tokenizers library runs a {@code tokenizer.json}'s normalizer and
 * pre-tokenizer: a chain of normalizing steps, then whitespace splitting and the metaspace rule. Built by
 * {@link TokenizerJsonFile} from the JSON; each step mirrors one tokenizers component.
 */
final class TokenizerJsonPipeline implements WordSplitter {

    /** When Metaspace puts a "▁" before a word (tokenizers' {@code prepend_scheme}). */
    enum PrependScheme { ALWAYS, FIRST, NEVER }

    private final List<UnaryOperator<String>> normalizers;
    private final boolean whitespaceSplit;
    private final String replacement;
    private final PrependScheme prependScheme;
    private final boolean splitOnReplacement;

    TokenizerJsonPipeline(List<UnaryOperator<String>> normalizers, boolean whitespaceSplit, String replacement,
            PrependScheme prependScheme, boolean splitOnReplacement) {
        this.normalizers = List.copyOf(normalizers);
        this.whitespaceSplit = whitespaceSplit;
        this.replacement = replacement;
        this.prependScheme = prependScheme;
        this.splitOnReplacement = splitOnReplacement;
    }

    @Override
    public List<String> split(String text) {
        String normalized = text;
        for (UnaryOperator<String> step : normalizers) {
            normalized = step.apply(normalized);
        }
        // Each word remembers whether it starts the text, for prepend_scheme "first".
        List<String> words = new ArrayList<>();
        List<Boolean> atStart = new ArrayList<>();
        if (whitespaceSplit) {
            int i = 0;
            while (i < normalized.length()) {
                int cp = normalized.codePointAt(i);
                if (isWhitespace(cp)) {
                    i += Character.charCount(cp);
                    continue;
                }
                int start = i;
                while (i < normalized.length() && !isWhitespace(normalized.codePointAt(i))) {
                    i += Character.charCount(normalized.codePointAt(i));
                }
                words.add(normalized.substring(start, i));
                atStart.add(start == 0);
            }
        } else if (!normalized.isEmpty()) {
            words.add(normalized);
            atStart.add(true);
        }
        List<String> out = new ArrayList<>();
        for (int w = 0; w < words.size(); w++) {
            String word = words.get(w).replace(" ", replacement);
            boolean prepend = switch (prependScheme) {
                case ALWAYS -> true;
                case FIRST -> atStart.get(w);
                case NEVER -> false;
            };
            if (prepend && !word.startsWith(replacement)) {
                word = replacement + word;
            }
            if (splitOnReplacement) {
                splitBeforeEachReplacement(word, out);
            } else {
                out.add(word);
            }
        }
        return out;
    }

    /** tokenizers' "MergedWithNext": each "▁" starts a new word. */
    private void splitBeforeEachReplacement(String word, List<String> out) {
        int start = 0;
        int next;
        while ((next = word.indexOf(replacement, start + 1)) > 0) {
            out.add(word.substring(start, next));
            start = next;
        }
        if (start < word.length()) {
            out.add(word.substring(start));
        }
    }

    /** Rust's {@code char::is_whitespace} (the Unicode White_Space property), which tokenizers splits and strips on. */
    static boolean isWhitespace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F
                || cp == 0x205F || cp == 0x3000;
    }

    /**
     * tokenizers' "Precompiled" normalizer. Unlike sentencepiece it goes grapheme by grapheme: a grapheme shorter
     * than 6 UTF-8 bytes is replaced whole by the first (shortest) charsmap key that prefixes it; otherwise, or if
     * none does, each of its characters is looked up alone.
     */
    static UnaryOperator<String> precompiled(PrecompiledCharsmap charsmap) {
        return text -> {
            StringBuilder out = new StringBuilder(text.length());
            BreakIterator graphemes = BreakIterator.getCharacterInstance(java.util.Locale.ROOT);
            graphemes.setText(text);
            int start = graphemes.first();
            for (int end = graphemes.next(); end != BreakIterator.DONE; start = end, end = graphemes.next()) {
                String grapheme = text.substring(start, end);
                byte[] bytes = grapheme.getBytes(StandardCharsets.UTF_8);
                if (bytes.length < 6) {
                    PrecompiledCharsmap.Match whole = charsmap.shortestMatch(bytes, 0, bytes.length);
                    if (whole != null) {
                        out.append(whole.replacement());
                        continue;
                    }
                }
                grapheme.codePoints().forEach(cp -> {
                    String character = Character.toString(cp);
                    byte[] one = character.getBytes(StandardCharsets.UTF_8);
                    PrecompiledCharsmap.Match match = charsmap.shortestMatch(one, 0, one.length);
                    out.append(match != null ? match.replacement() : character);
                });
            }
            return out.toString();
        };
    }

    /** tokenizers' "Replace" with a literal pattern. */
    static UnaryOperator<String> replaceLiteral(String pattern, String content) {
        return text -> text.replace(pattern, content);
    }

    /** tokenizers' "Replace" with a regex pattern (Rust regex syntax; the simple patterns T5 files use read the same in Java). */
    static UnaryOperator<String> replaceRegex(String regex, String content) {
        Pattern pattern = Pattern.compile(regex);
        String literal = Matcher.quoteReplacement(content);
        return text -> pattern.matcher(text).replaceAll(literal);
    }

    /** tokenizers' "Strip": removes Unicode whitespace from the chosen ends. */
    static UnaryOperator<String> strip(boolean left, boolean right) {
        return text -> {
            int start = 0;
            int end = text.length();
            while (left && start < end && isWhitespace(text.codePointAt(start))) {
                start += Character.charCount(text.codePointAt(start));
            }
            while (right && end > start && isWhitespace(text.codePointBefore(end))) {
                end -= Character.charCount(text.codePointBefore(end));
            }
            return text.substring(start, end);
        };
    }
}
