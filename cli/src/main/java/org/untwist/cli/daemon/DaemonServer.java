package org.untwist.cli.daemon;

import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.Channels;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import org.untwist.cli.Main;

/**
 * The resident JVM of {@code UNTWIST_DAEMON=1}: runs each command line a {@link DaemonClient} sends in this one process,
 * so the kernels the JIT compiled for one command stay compiled for the next (a one-shot JVM compiles them again every
 * time, several seconds a forward pass: {@code docs/aot-warmup.md}). One command at a time, in arrival order, with the
 * client's working folder for relative paths and its output and exit code relayed back. Models and backends are opened
 * and closed by each command as in a one-shot run; what stays is the JVM with its compiled code.
 *
 * <p>It exits after {@code idle} seconds without a command; when a client of another build asks (the jar was rebuilt:
 * that client then starts a new daemon); when a client hangs up during its command (Ctrl-C: the command stops with the
 * process, as it would in a one-shot JVM); and at once when another daemon already holds the socket's lock. The socket
 * sits in a folder only its user may enter ({@code bin/untwist} makes it).
 *
 * <p>{@code java ... -cp untwist.jar org.untwist.cli.daemon.DaemonServer SOCKET IDLE_SECONDS JAR}
 */
public final class DaemonServer implements AutoCloseable {
    /** How long a new daemon waits for the lock of one that is exiting before it gives up. */
    private static final long LOCK_WAIT_MILLIS = 5_000;
    private final ServerSocketChannel server;
    private final Path socket;
    private final long stamp;
    private final long idleMillis;
    private final FileChannel lockFile;
    private final FileLock lock;
    private volatile long lastActivity = System.currentTimeMillis();
    private volatile boolean busy;

    private DaemonServer(ServerSocketChannel server, Path socket, long stamp, long idleMillis, FileChannel lockFile, FileLock lock) {
        this.server = server;
        this.socket = socket;
        this.stamp = stamp;
        this.idleMillis = idleMillis;
        this.lockFile = lockFile;
        this.lock = lock;
    }

    public static void main(String[] a) throws IOException {
        // What one command leaves for the next: its workspace's memory and its weight files' mappings (unless set otherwise).
        if (System.getProperty("untwist.keepFreedMemory") == null) {
            System.setProperty("untwist.keepFreedMemory", "1g");
        }
        if (System.getProperty("untwist.keepMappedFiles") == null) {
            System.setProperty("untwist.keepMappedFiles", "16g");
        }
        Path socket = Path.of(a[0]);
        long idleMillis = Long.parseLong(a[1]) * 1000;
        long stamp = DaemonProtocol.stamp(Path.of(a[2]));
        try (DaemonServer s = open(socket, stamp, idleMillis)) {
            if (s == null) {
                System.err.println("untwist daemon: another one holds " + socket + ".lock; exiting");
                return;
            }
            logToCurrentErr();
            System.err.println("untwist daemon: listening on " + socket + " (exits after " + idleMillis / 1000 + " s idle)");
            s.serve(true);
        }
        System.exit(0);
    }

    /**
     * Binds {@code socket} for clients of build {@code stamp}, replacing a dead daemon's socket file; null when a live
     * daemon holds the lock file beside it.
     */
    public static DaemonServer open(Path socket, long stamp, long idleMillis) throws IOException {
        Path lockPath = socket.resolveSibling(socket.getFileName() + ".lock");
        FileChannel lockFile = FileChannel.open(lockPath, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock lock = null;
        long deadline = System.currentTimeMillis() + LOCK_WAIT_MILLIS; // a stale daemon may still be on its way out
        while (lock == null) {
            try {
                lock = lockFile.tryLock();
            } catch (OverlappingFileLockException e) { // held in this JVM
                lock = null;
            }
            if (lock != null || System.currentTimeMillis() >= deadline) {
                break;
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (lock == null) {
            lockFile.close();
            return null;
        }
        try {
            Files.deleteIfExists(socket); // a dead daemon's: the lock proves nobody serves it
            ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(socket));
            try {
                Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
            } catch (UnsupportedOperationException e) {
                // not a POSIX file system: the folder's permissions are what protects it
            }
            return new DaemonServer(server, socket, stamp, idleMillis, lockFile, lock);
        } catch (IOException | RuntimeException e) {
            lock.release();
            lockFile.close();
            throw e;
        }
    }

    /**
     * Serves commands until this daemon is idle for its idle time, a client of another build asks, or {@link #close}.
     * With {@code haltOnHangUp} the process exits when a client hangs up during its command.
     */
    public void serve(boolean haltOnHangUp) throws IOException {
        Thread idleWatch = Thread.ofPlatform().daemon().name("untwist-daemon-idle").start(() -> {
            while (server.isOpen()) {
                try {
                    Thread.sleep(Math.min(1000, Math.max(10, idleMillis / 4)));
                } catch (InterruptedException e) {
                    return;
                }
                if (!busy && System.currentTimeMillis() - lastActivity >= idleMillis) {
                    closeQuietly();
                }
            }
        });
        try {
            while (server.isOpen()) {
                SocketChannel ch;
                try {
                    ch = server.accept();
                } catch (ClosedChannelException e) { // closed by the idle watch or close()
                    break;
                }
                busy = true;
                boolean keepServing;
                try (ch) {
                    keepServing = handle(ch, haltOnHangUp);
                } catch (IOException e) { // a client that went away or spoke nonsense: the next one is served
                    System.err.println("untwist daemon: a request failed: " + e.getMessage());
                    keepServing = true;
                } finally {
                    lastActivity = System.currentTimeMillis();
                    busy = false;
                }
                if (!keepServing) {
                    break;
                }
            }
        } finally {
            idleWatch.interrupt();
            close();
        }
    }

    /** One request; false when the client runs another build (this daemon is then stale and stops). */
    private boolean handle(SocketChannel ch, boolean haltOnHangUp) throws IOException {
        DataInputStream in = new DataInputStream(Channels.newInputStream(ch));
        DataOutputStream out = new DataOutputStream(Channels.newOutputStream(ch));
        DaemonProtocol.Request r = DaemonProtocol.readRequest(in);
        if (r.jarStamp() != stamp) {
            out.writeByte(DaemonProtocol.STALE);
            out.flush();
            return false;
        }
        java.util.concurrent.atomic.AtomicBoolean running = new java.util.concurrent.atomic.AtomicBoolean(true);
        if (haltOnHangUp) {
            watchForHangUp(in, running);
        }
        PrintStream cmdOut = frames(out, DaemonProtocol.OUT), cmdErr = frames(out, DaemonProtocol.ERR);
        PrintStream oldOut = System.out, oldErr = System.err;
        int code;
        System.setOut(cmdOut); // what commands and libraries print directly (progress bars, log records)
        System.setErr(cmdErr);
        try {
            code = Main.run(r.args(), new PrintWriter(cmdOut, true), new PrintWriter(cmdErr, true), r.cwd());
        } catch (RuntimeException | Error e) { // Main.run reports expected failures itself; this is a bug's last line
            cmdErr.println("untwist: error: " + e);
            code = 1;
        } finally {
            cmdOut.flush();
            cmdErr.flush();
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
        running.set(false); // the client may hang up from here on: it has what it needs once EXIT is out
        synchronized (out) {
            out.writeByte(DaemonProtocol.EXIT);
            out.writeInt(code);
            out.flush();
        }
        return true;
    }

    /**
     * A client sends nothing after its request, so the end of its stream means it hung up (Ctrl-C): the process exits,
     * stopping the command as a one-shot JVM's Ctrl-C would.
     */
    private static void watchForHangUp(DataInputStream in, java.util.concurrent.atomic.AtomicBoolean running) {
        Thread.ofPlatform().daemon().name("untwist-daemon-hangup").start(() -> {
            try {
                if (in.read() < 0 && running.get()) {
                    System.exit(130);
                }
            } catch (IOException e) {
                // the channel closed after the command ended
            }
        });
    }

    /** A stream whose writes go to the client as frames of {@code kind}; once the client is gone, writes are dropped. */
    private static PrintStream frames(DataOutputStream out, byte kind) {
        OutputStream framed = new OutputStream() {
            private boolean gone;

            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                if (gone || len == 0) {
                    return;
                }
                synchronized (out) {
                    try {
                        out.writeByte(kind);
                        out.writeInt(len);
                        out.write(b, off, len);
                        out.flush();
                    } catch (IOException e) {
                        gone = true;
                    }
                }
            }
        };
        return new PrintStream(new BufferedOutputStream(framed, 8192), true, StandardCharsets.UTF_8);
    }

    /** Routes log records to whatever {@code System.err} is when they are published: the current command's client. */
    private static void logToCurrentErr() {
        Logger root = Logger.getLogger("");
        for (Handler h : root.getHandlers()) {
            root.removeHandler(h);
        }
        Handler h = new Handler() {
            @Override
            public void publish(LogRecord record) {
                if (isLoggable(record)) {
                    System.err.print(getFormatter().format(record));
                    System.err.flush();
                }
            }

            @Override
            public void flush() {
                System.err.flush();
            }

            @Override
            public void close() {
            }
        };
        h.setFormatter(new SimpleFormatter());
        h.setLevel(Level.INFO);
        root.addHandler(h);
    }

    private void closeQuietly() {
        try {
            close();
        } catch (IOException e) {
            // closing on the way out
        }
    }

    /** Stops accepting, removes the socket file and releases the lock. */
    @Override
    public synchronized void close() throws IOException {
        if (!lockFile.isOpen()) {
            return;
        }
        try {
            server.close();
            Files.deleteIfExists(socket);
        } catch (AsynchronousCloseException e) {
            // already closing
        } finally {
            lock.release();
            lockFile.close();
        }
    }
}
