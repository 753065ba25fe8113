package org.untwist.text;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * The protobuf wire format, read by hand: just enough to walk a SentencePiece {@code ModelProto} (varints,
 * fixed32 floats, length-delimited strings and sub-messages), with every overrun reported as the byte it happened
 * at in the whole file so a truncated or corrupt {@code spiece.model} names where it broke.
 */
final class ProtobufReader {

    static final int VARINT = 0;
    static final int FIXED64 = 1;
    static final int LENGTH_DELIMITED = 2;
    static final int FIXED32 = 5;

    private final String fileName;
    private final byte[] bytes;
    private final int end;
    private int position;

    ProtobufReader(String fileName, byte[] bytes) {
        this(fileName, bytes, 0, bytes.length);
    }

    private ProtobufReader(String fileName, byte[] bytes, int start, int end) {
        this.fileName = fileName;
        this.bytes = bytes;
        this.position = start;
        this.end = end;
    }

    boolean atEnd() {
        return position >= end;
    }

    /** Reads a field key; the caller splits it into {@code key >>> 3} (field number) and {@code key & 7}. */
    int readKey() throws IOException {
        int keyAt = position;
        long key = readVarint();
        int wireType = (int) (key & 7);
        if ((key >>> 3) == 0 || (key >>> 3) > 0x1FFFFFFF || wireType == 3 || wireType == 4 || wireType > 5) {
            throw corrupt("bad field key " + key + " (field " + (key >>> 3) + ", wire type " + wireType + ")", keyAt);
        }
        return (int) key;
    }

    long readVarint() throws IOException {
        int start = position;
        long value = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (position >= end) {
                throw truncated();
            }
            byte b = bytes[position++];
            value |= (long) (b & 0x7F) << shift;
            if (b >= 0) {
                return value;
            }
        }
        throw corrupt("varint longer than 10 bytes", start);
    }

    /** An int32 field: protobuf writes negative values as 10-byte varints, whose low 32 bits are the value. */
    int readInt32() throws IOException {
        return (int) readVarint();
    }

    boolean readBool() throws IOException {
        return readVarint() != 0;
    }

    float readFloat() throws IOException {
        require(4);
        int bits = (bytes[position] & 0xFF) | (bytes[position + 1] & 0xFF) << 8
                | (bytes[position + 2] & 0xFF) << 16 | (bytes[position + 3] & 0xFF) << 24;
        position += 4;
        return Float.intBitsToFloat(bits);
    }

    byte[] readBytes() throws IOException {
        int length = readLength();
        byte[] copy = java.util.Arrays.copyOfRange(bytes, position, position + length);
        position += length;
        return copy;
    }

    String readString() throws IOException {
        int length = readLength();
        String text = new String(bytes, position, length, StandardCharsets.UTF_8);
        position += length;
        return text;
    }

    /** A reader over the next length-delimited field (a sub-message); this reader moves past it. */
    ProtobufReader readMessage() throws IOException {
        int length = readLength();
        ProtobufReader inner = new ProtobufReader(fileName, bytes, position, position + length);
        position += length;
        return inner;
    }

    void skip(int wireType) throws IOException {
        switch (wireType) {
            case VARINT -> readVarint();
            case FIXED64 -> { require(8); position += 8; }
            case LENGTH_DELIMITED -> {
                int length = readLength(); // first: "position += readLength()" would add to the old position
                position += length;
            }
            case FIXED32 -> { require(4); position += 4; }
            default -> throw corrupt("cannot skip wire type " + wireType, position);
        }
    }

    /** Fails unless a field of this number has the wire type its schema says. */
    void expect(int key, int wireType, String field) throws IOException {
        if ((key & 7) != wireType) {
            throw corrupt(field + " has wire type " + (key & 7) + ", expected " + wireType, position);
        }
    }

    private int readLength() throws IOException {
        int lengthAt = position;
        long length = readVarint();
        if (length < 0 || length > Integer.MAX_VALUE) {
            throw corrupt("length " + length + " out of range", lengthAt);
        }
        require((int) length);
        return (int) length;
    }

    private void require(int count) throws IOException {
        if (count > end - position) {
            throw truncated();
        }
    }

    /** Past the end of the file is truncation; past the end of an enclosing message is corruption. */
    private IOException truncated() {
        if (end == bytes.length) {
            return new IOException(fileName + ": truncated at byte " + bytes.length);
        }
        return corrupt("field runs past the end of its message (which ends at byte " + end + ")", position);
    }

    IOException corrupt(String what, int at) {
        return new IOException(fileName + ": corrupt protobuf at byte " + at + ": " + what);
    }
}
