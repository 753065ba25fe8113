package org.untwist.io;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Builds GGUF bytes for the tests, field by field, so that each can be made wrong on purpose: metadata entries and
 * tensor infos are appended as given, the counts are theirs unless overridden, and the data section follows the
 * infos at the next multiple of {@link #alignment}.
 */
final class GgufBytes {
    static final int UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7, STRING = 8, ARRAY = 9,
            UINT64 = 10, INT64 = 11, FLOAT64 = 12;
    static final int F32 = 0, F16 = 1, Q8_0 = 8, Q4_K = 12, Q5_K = 13, BF16 = 30;

    int magic = GgufHeader.MAGIC;
    int version = 3;
    Long tensorCount, kvCount; // null: the number appended
    int alignment = 32;
    byte[] data = new byte[0];

    private final ByteArrayOutputStream kvs = new ByteArrayOutputStream(), infos = new ByteArrayOutputStream();
    private int kvN, tensorN;

    /** A metadata entry: key, value type, then the value's bytes as given. */
    GgufBytes kv(String key, int type, byte[] value) {
        kvs.writeBytes(string(key));
        kvs.writeBytes(u32(type));
        kvs.writeBytes(value);
        kvN++;
        return this;
    }

    /** A tensor info: name, GGUF dimensions (innermost first), GGML type, offset in the data section. */
    GgufBytes tensor(String name, int type, long offset, long... dims) {
        return tensorRaw(string(name), type, offset, dims);
    }

    /** A tensor info whose name is given as raw bytes (with their length prefix). */
    GgufBytes tensorRaw(byte[] name, int type, long offset, long... dims) {
        infos.writeBytes(name);
        infos.writeBytes(u32(dims.length));
        for (long d : dims) {
            infos.writeBytes(u64(d));
        }
        infos.writeBytes(u32(type));
        infos.writeBytes(u64(offset));
        tensorN++;
        return this;
    }

    /** The whole file. */
    byte[] build() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(u32(magic));
        out.writeBytes(u32(version));
        out.writeBytes(u64(tensorCount != null ? tensorCount : tensorN));
        out.writeBytes(u64(kvCount != null ? kvCount : kvN));
        out.writeBytes(kvs.toByteArray());
        out.writeBytes(infos.toByteArray());
        while (out.size() % alignment != 0) {
            out.write(0);
        }
        out.writeBytes(data);
        return out.toByteArray();
    }

    Path write(Path file) throws java.io.IOException {
        return Files.write(file, build());
    }

    static byte[] string(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return concat(u64(b.length), b);
    }

    static byte[] u32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
    }

    static byte[] u64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }
}
