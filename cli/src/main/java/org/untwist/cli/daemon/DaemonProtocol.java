package org.untwist.cli.daemon;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * What {@link DaemonClient} and {@link DaemonServer} say to each other over a Unix-domain socket. The request: a magic
 * number and version, the stamp of the jar the client runs (the daemon answers only clients of its own build), the
 * client's working folder (relative paths in the arguments are resolved there) and the arguments. The answer: frames of
 * the command's standard output and error as it writes them, then its exit code, or "stale": the daemon runs another
 * build and is exiting, so the client starts a new one.
 */
final class DaemonProtocol {
    static final int MAGIC = 0x554E_5457; // "UNTW"
    static final int VERSION = 1;
    static final byte OUT = 1, ERR = 2, EXIT = 3, STALE = 4;
    /** The client's exit code when no daemon answered (none listening, or a stale one): bin/untwist then starts one. */
    static final int NOT_RUNNING = 75;
    /** At most this many arguments and bytes in one string: a request is a command line, not data. */
    private static final int MAX_ARGS = 10_000, MAX_STRING = 1 << 20;

    record Request(long jarStamp, Path cwd, String[] args) {
    }

    private DaemonProtocol() {
    }

    static void writeRequest(DataOutputStream out, Request r) throws IOException {
        out.writeInt(MAGIC);
        out.writeInt(VERSION);
        out.writeLong(r.jarStamp());
        writeString(out, r.cwd().toString());
        out.writeInt(r.args().length);
        for (String a : r.args()) {
            writeString(out, a);
        }
        out.flush();
    }

    static Request readRequest(DataInputStream in) throws IOException {
        if (in.readInt() != MAGIC || in.readInt() != VERSION) {
            throw new IOException("not an untwist client of this version");
        }
        long stamp = in.readLong();
        Path cwd = Path.of(readString(in));
        int n = in.readInt();
        if (n < 0 || n > MAX_ARGS) {
            throw new IOException("a request with " + n + " arguments");
        }
        String[] args = new String[n];
        for (int i = 0; i < n; i++) {
            args[i] = readString(in);
        }
        return new Request(stamp, cwd, args);
    }

    private static void writeString(DataOutputStream out, String s) throws IOException {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        out.writeInt(b.length);
        out.write(b);
    }

    private static String readString(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > MAX_STRING) {
            throw new IOException("a request string of " + n + " bytes");
        }
        return new String(in.readNBytes(n), StandardCharsets.UTF_8);
    }

    /** The jar's stamp: its modification time in milliseconds (a rebuilt jar is another build). */
    static long stamp(Path jar) throws IOException {
        return java.nio.file.Files.getLastModifiedTime(jar).toMillis();
    }
}
