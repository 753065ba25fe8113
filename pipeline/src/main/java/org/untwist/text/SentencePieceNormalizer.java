package org.untwist.text;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The slow tokenizer's text preparation, as the sentencepiece library does it from a {@code spiece.model}'s
 * normalizer spec: walks the UTF-8 bytes, replacing at each point the longest charsmap key found there (or copying
 * one character; a malformed byte becomes U+FFFD), drops leading and repeated spaces, prepends the dummy "▁",
 * writes spaces as "▁" and drops trailing ones. The result is one word: sentencepiece segments the whole text at once.
 */
final class SentencePieceNormalizer implements WordSplitter {

    private static final byte[] METASPACE_BYTES = METASPACE.getBytes(StandardCharsets.UTF_8);
    private static final byte[] REPLACEMENT_CHARACTER = "\uFFFD".getBytes(StandardCharsets.UTF_8);

    private final PrecompiledCharsmap charsmap; // null: the identity rule
    private final boolean addDummyPrefix;
    private final boolean removeExtraWhitespaces;
    private final boolean escapeWhitespaces;

    SentencePieceNormalizer(PrecompiledCharsmap charsmap, boolean addDummyPrefix, boolean removeExtraWhitespaces,
            boolean escapeWhitespaces) {
        this.charsmap = charsmap;
        this.addDummyPrefix = addDummyPrefix;
        this.removeExtraWhitespaces = removeExtraWhitespaces;
        this.escapeWhitespaces = escapeWhitespaces;
    }

    @Override
    public List<String> split(String text) {
        String normalized = normalize(text);
        return normalized.isEmpty() ? List.of() : List.of(normalized);
    }

    String normalize(String text) {
        byte[] input = text.getBytes(StandardCharsets.UTF_8);
        int at = 0;
        if (removeExtraWhitespaces) {
            while (at < input.length) {
                Step step = normalizePrefix(input, at);
                if (!step.output.equals(" ")) {
                    break;
                }
                at += step.consumed;
            }
        }
        if (at == input.length) {
            return "";
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(input.length + 8);
        if (addDummyPrefix) {
            writeSpace(out);
        }
        boolean previousWasSpace = removeExtraWhitespaces;
        while (at < input.length) {
            Step step = normalizePrefix(input, at);
            String piece = step.output;
            if (previousWasSpace) {
                int skip = 0;
                while (skip < piece.length() && piece.charAt(skip) == ' ') {
                    skip++;
                }
                piece = piece.substring(skip);
            }
            if (!piece.isEmpty()) {
                for (byte b : piece.getBytes(StandardCharsets.UTF_8)) {
                    if (b == ' ' && escapeWhitespaces) {
                        writeSpace(out);
                    } else {
                        out.write(b);
                    }
                }
                previousWasSpace = piece.endsWith(" ");
            }
            at += step.consumed;
            previousWasSpace = previousWasSpace && removeExtraWhitespaces;
        }
        byte[] bytes = out.toByteArray();
        int length = bytes.length;
        if (removeExtraWhitespaces) {
            // Trailing spaces go, including "▁" characters that were in the prompt itself (sentencepiece does so).
            byte[] space = escapeWhitespaces ? METASPACE_BYTES : new byte[] {' '};
            while (length >= space.length && java.util.Arrays.equals(bytes, length - space.length, length,
                    space, 0, space.length)) {
                length -= space.length;
            }
        }
        return new String(bytes, 0, length, StandardCharsets.UTF_8);
    }

    private void writeSpace(ByteArrayOutputStream out) {
        if (escapeWhitespaces) {
            out.writeBytes(METASPACE_BYTES);
        } else {
            out.write(' ');
        }
    }

    private record Step(String output, int consumed) {
    }

    private Step normalizePrefix(byte[] input, int at) {
        if (charsmap != null) {
            PrecompiledCharsmap.Match match = charsmap.longestMatch(input, at, input.length);
            if (match != null) {
                return new Step(match.replacement(), match.length());
            }
        }
        int length = Utf8.sequenceLength(input, at);
        if (length == 0) {
            return new Step(new String(REPLACEMENT_CHARACTER, StandardCharsets.UTF_8), 1);
        }
        return new Step(new String(input, at, length, StandardCharsets.UTF_8), length);
    }
}
