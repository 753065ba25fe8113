package org.untwist.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Builds raw safetensors bytes for the tests, bypassing {@link SafeTensors#write}, and finds the golden data. */
final class StFiles {
    private StFiles() {
    }

    /** Length prefix (the header's UTF-8 length, unpadded), header, and {@code dataBytes} bytes of a fixed pattern. */
    static byte[] build(String headerJson, int dataBytes) {
        byte[] header = headerJson.getBytes(StandardCharsets.UTF_8);
        return build(header.length, header, pattern(dataBytes));
    }

    /** An arbitrary length prefix followed by the given header bytes and data bytes. */
    static byte[] build(long prefix, byte[] header, byte[] data) {
        return ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(prefix).put(header).put(data).array();
    }

    static byte[] pattern(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + 7);
        }
        return b;
    }

    static long headerLength(byte[] file) {
        return ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    static Path write(Path file, byte[] bytes) {
        try {
            return Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The {@code testdata/golden} folder: the system property {@code untwist.golden} when set, else the first
     * {@code testdata/golden} found walking up from the working directory.
     */
    static Path goldenDir() {
        String prop = System.getProperty("untwist.golden");
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop);
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve("testdata").resolve("golden");
            if (Files.isDirectory(candidate)) {
                return candidate;
            }
        }
        throw new IllegalStateException("no testdata/golden above " + Path.of("").toAbsolutePath()
                + " (set -Duntwist.golden=<path to testdata/golden>)");
    }
}
