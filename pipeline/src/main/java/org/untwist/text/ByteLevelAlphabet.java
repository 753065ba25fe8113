package org.untwist.text;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * GPT-2's byte-to-character table, which CLIP's BPE works on: every UTF-8 byte of the text becomes one visible
 * character, so that the vocabulary never holds whitespace or control characters. Bytes that are printable
 * Latin-1 ({@code !}..{@code ~}, {@code ¡}..{@code ¬}, {@code ®}..{@code ÿ}) stand for themselves; the other
 * 68 bytes, in byte order, get U+0100, U+0101, ... The vocabulary starts with these 256 characters in that
 * order: the printable bytes first, then the others.
 */
final class ByteLevelAlphabet {

    private static final char[] CHAR_OF_BYTE = new char[256];
    private static final List<String> VOCABULARY_ORDER;

    static {
        List<String> printable = new ArrayList<>();
        List<String> remapped = new ArrayList<>();
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean stands = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            CHAR_OF_BYTE[b] = stands ? (char) b : (char) next++;
            (stands ? printable : remapped).add(String.valueOf(CHAR_OF_BYTE[b]));
        }
        printable.addAll(remapped);
        VOCABULARY_ORDER = List.copyOf(printable);
    }

    private ByteLevelAlphabet() {
    }

    /** The piece's UTF-8 bytes, one alphabet character each. The piece must be well-formed UTF-16. */
    static String encode(String piece) {
        byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
        char[] chars = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            chars[i] = CHAR_OF_BYTE[bytes[i] & 0xFF];
        }
        return new String(chars);
    }

    /** The 256 alphabet characters in the order the CLIP vocabulary lists them (ids 0..255). */
    static List<String> vocabularyOrder() {
        return VOCABULARY_ORDER;
    }
}
