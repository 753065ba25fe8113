package org.untwist.cli.daemon;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The short-lived side of {@code UNTWIST_DAEMON=1}: sends one command line to the resident {@link DaemonServer} and
 * relays what the command writes and its exit code. Exits with {@link DaemonProtocol#NOT_RUNNING} when no daemon of
 * this build answers, so that {@code bin/untwist} starts one.
 *
 * <p>{@code java -cp untwist.jar org.untwist.cli.daemon.DaemonClient SOCKET JAR WAIT_SECONDS ARGS...}
 */
public final class DaemonClient {
    private DaemonClient() {
    }

    public static void main(String[] a) throws IOException {
        Path socket = Path.of(a[0]);
        long stamp = DaemonProtocol.stamp(Path.of(a[1]));
        long waitMillis = Long.parseLong(a[2]) * 1000;
        String[] args = Arrays.copyOfRange(a, 3, a.length);
        int code = call(socket, stamp, Path.of(System.getProperty("user.dir")), args, System.out, System.err, waitMillis);
        System.out.flush();
        System.err.flush();
        System.exit(code);
    }

    /**
     * Runs {@code args} in the daemon at {@code socket} as if from {@code cwd}, copying its output to {@code out} and
     * {@code err}; returns the command's exit code, or {@link DaemonProtocol#NOT_RUNNING} when no daemon of build
     * {@code stamp} answered within {@code waitMillis} (0: one try).
     */
    public static int call(Path socket, long stamp, Path cwd, String[] args, OutputStream out, OutputStream err, long waitMillis)
            throws IOException {
        SocketChannel ch = connect(socket, waitMillis);
        if (ch == null) {
            return DaemonProtocol.NOT_RUNNING;
        }
        try (ch) {
            DataOutputStream request = new DataOutputStream(Channels.newOutputStream(ch));
            DaemonProtocol.writeRequest(request, new DaemonProtocol.Request(stamp, cwd.toAbsolutePath(), args));
            DataInputStream in = new DataInputStream(Channels.newInputStream(ch));
            while (true) {
                byte kind;
                try {
                    kind = in.readByte();
                } catch (EOFException e) {
                    err.write(("untwist: the background JVM ended without an answer (its log is beside " + socket + ")\n").getBytes());
                    return 1;
                }
                switch (kind) {
                    case DaemonProtocol.OUT, DaemonProtocol.ERR -> {
                        byte[] b = in.readNBytes(in.readInt());
                        OutputStream to = kind == DaemonProtocol.OUT ? out : err;
                        to.write(b);
                        to.flush();
                    }
                    case DaemonProtocol.EXIT -> {
                        return in.readInt();
                    }
                    case DaemonProtocol.STALE -> {
                        return DaemonProtocol.NOT_RUNNING;
                    }
                    default -> throw new IOException("unknown frame " + kind + " from the daemon at " + socket);
                }
            }
        }
    }

    /** A connection to the daemon, retried every 50 ms for up to {@code waitMillis}; null when none answers. */
    private static SocketChannel connect(Path socket, long waitMillis) {
        long deadline = System.nanoTime() + waitMillis * 1_000_000;
        while (true) {
            try {
                return SocketChannel.open(UnixDomainSocketAddress.of(socket));
            } catch (IOException e) { // no socket file yet, or nobody listening on it
                if (System.nanoTime() >= deadline) {
                    return null;
                }
                try {
                    Thread.sleep(50);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    return null;
                }
            }
        }
    }
}
