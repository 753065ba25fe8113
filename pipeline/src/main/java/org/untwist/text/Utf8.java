package org.untwist.text;

/** UTF-8 byte-level helpers for the charsmap, which works on bytes rather than Java's UTF-16 chars. */
final class Utf8 {

    private Utf8() {
    }

    /** The length of the well-formed UTF-8 character starting at {@code at}, or 0 if the bytes there are malformed. */
    static int sequenceLength(byte[] bytes, int at) {
        int lead = bytes[at] & 0xFF;
        int length;
        int min;
        if (lead < 0x80) {
            return 1;
        } else if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
            min = 0x80;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            min = 0x800;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            min = 0x10000;
        } else {
            return 0;
        }
        if (at + length > bytes.length) {
            return 0;
        }
        int codePoint = lead & (0x7F >> length);
        for (int i = 1; i < length; i++) {
            int b = bytes[at + i] & 0xFF;
            if ((b & 0xC0) != 0x80) {
                return 0;
            }
            codePoint = codePoint << 6 | (b & 0x3F);
        }
        if (codePoint < min || codePoint > 0x10FFFF || (codePoint >= 0xD800 && codePoint <= 0xDFFF)) {
            return 0;
        }
        return length;
    }
}
