package org.untwist.text;

import java.nio.charset.StandardCharsets;

/**
 * SentencePiece's precompiled normalization map ({@code precompiled_charsmap}), as carried by {@code spiece.model}
 * and, base64-encoded, by a {@code tokenizer.json}'s "Precompiled" normalizer.
 *
 * <p>Layout: a little-endian uint32 giving the trie's size in bytes, then that many bytes of a Darts-clone double
 * array (one little-endian uint32 unit per node), then the replacement strings, each NUL-terminated. The trie's keys
 * are UTF-8 byte sequences; a key's value is the offset of its replacement in the strings area.
 *
 * <p>Both users look up prefixes of a UTF-8 byte sequence: sentencepiece takes the longest key that matches, the
 * tokenizers library the shortest (see {@link #longestMatch} and {@link #shortestMatch}).
 */
final class PrecompiledCharsmap {

    private final int[] units;
    private final byte[] normalized;

    private PrecompiledCharsmap(int[] units, byte[] normalized) {
        this.units = units;
        this.normalized = normalized;
    }

    /** Parses the blob; {@code origin} names it in the one-line error ("spiece.model: precompiled_charsmap ..."). */
    static PrecompiledCharsmap parse(byte[] blob, String origin) {
        if (blob.length < 4) {
            throw new IllegalArgumentException(origin + ": precompiled_charsmap of " + blob.length
                    + " bytes is too short for its 4-byte trie size");
        }
        long trieBytes = littleEndian(blob, 0) & 0xFFFFFFFFL;
        if (trieBytes % 4 != 0 || trieBytes == 0 || trieBytes > blob.length - 4L) {
            throw new IllegalArgumentException(origin + ": precompiled_charsmap says its trie has " + trieBytes
                    + " bytes but the blob holds " + (blob.length - 4));
        }
        int[] units = new int[(int) (trieBytes / 4)];
        for (int i = 0; i < units.length; i++) {
            units[i] = littleEndian(blob, 4 + 4 * i);
        }
        byte[] normalized = java.util.Arrays.copyOfRange(blob, 4 + (int) trieBytes, blob.length);
        return new PrecompiledCharsmap(units, normalized);
    }

    /** A match: {@code length} bytes of the key were consumed, {@code replacement} replaces them. */
    record Match(int length, String replacement) {
    }

    /** sentencepiece's rule: the longest key that is a prefix of {@code key[from, to)}, or null. */
    Match longestMatch(byte[] key, int from, int to) {
        return search(key, from, to, false);
    }

    /** The tokenizers library's rule: the first (shortest) key that is a prefix of {@code key[from, to)}, or null. */
    Match shortestMatch(byte[] key, int from, int to) {
        return search(key, from, to, true);
    }

    // Darts-clone unit bits: label in bits 0-7 (bit 31 set on value units, so they never match a label),
    // has-leaf in bit 8, the offset to the children in bits 10-31 (shifted left 8 more when bit 9 is set),
    // and on a leaf unit the value in bits 0-30.
    private Match search(byte[] key, int from, int to, boolean stopAtFirst) {
        int node = 0;
        node ^= offset(unit(node));
        Match found = null;
        for (int i = from; i < to; i++) {
            int label = key[i] & 0xFF;
            if (label == 0) {
                break; // keys never contain NUL: both libraries stop here
            }
            node ^= label;
            int unit = unit(node);
            if ((unit & 0x800000FF) != label) {
                break;
            }
            node ^= offset(unit);
            if ((unit >>> 8 & 1) == 1) {
                int value = unit(node) & 0x7FFFFFFF;
                found = new Match(i + 1 - from, replacementAt(value));
                if (stopAtFirst) {
                    break;
                }
            }
        }
        return found;
    }

    private int unit(int index) {
        if (index < 0 || index >= units.length) {
            throw new IllegalStateException("precompiled_charsmap trie is corrupt: node " + index + " of "
                    + units.length);
        }
        return units[index];
    }

    private static int offset(int unit) {
        return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
    }

    private String replacementAt(int start) {
        if (start >= normalized.length) {
            throw new IllegalStateException("precompiled_charsmap trie points at byte " + start
                    + " past its " + normalized.length + " bytes of replacements");
        }
        int end = start;
        while (end < normalized.length && normalized[end] != 0) {
            end++;
        }
        return new String(normalized, start, end - start, StandardCharsets.UTF_8);
    }

    private static int littleEndian(byte[] bytes, int at) {
        return (bytes[at] & 0xFF) | (bytes[at + 1] & 0xFF) << 8 | (bytes[at + 2] & 0xFF) << 16
                | (bytes[at + 3] & 0xFF) << 24;
    }
}
