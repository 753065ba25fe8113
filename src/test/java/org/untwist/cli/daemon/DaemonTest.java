package org.untwist.cli.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.untwist.TestSupport;

/**
 * The background JVM of {@code UNTWIST_DAEMON=1}, in process: a client's command runs with the client's folder for
 * relative paths and its output and exit code come back; a usage error comes back as one; a second daemon on the same
 * socket is refused; a client of another build stops the daemon and is told to start its own; an idle daemon exits and
 * removes its socket.
 */
class DaemonTest {
    @TempDir
    Path tmp;

    private static Thread serving(DaemonServer server) {
        return Thread.ofPlatform().start(() -> {
            try {
                server.serve(false);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    @Test
    void commandsRunThereWithTheClientsFolderOutputAndExitCode() throws Exception {
        Path socket = tmp.resolve("d.sock");
        DaemonServer server = DaemonServer.open(socket, 42L, 60_000);
        assertNotNull(server);
        assertNull(DaemonServer.open(socket, 42L, 60_000), "a second daemon on the same socket is refused by the lock");
        Thread serving = serving(server);
        Path work = Files.createDirectories(tmp.resolve("work"));
        String model = TestSupport.tinyFlux().toString(), inputs = TestSupport.tinyFlux().resolve("inputs.safetensors").toString();
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        String[] forward = {"forward", "--backend", "scalar", "--model", model, "--inputs", inputs, "--out", "rel.safetensors"};
        int code = DaemonClient.call(socket, 42L, work, forward, out, err, 5_000);
        assertEquals(0, code, err.toString(StandardCharsets.UTF_8));
        assertTrue(Files.size(work.resolve("rel.safetensors")) > 0, "the relative --out lands in the client's folder");
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("forward on scalar"), out.toString(StandardCharsets.UTF_8));

        out.reset();
        err.reset();
        code = DaemonClient.call(socket, 42L, work, new String[] {"forward", "--no-such-option"}, out, err, 0);
        assertEquals(2, code);
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("usage error"), err.toString(StandardCharsets.UTF_8));

        code = DaemonClient.call(socket, 43L, work, new String[] {"--version"}, out, err, 0);
        assertEquals(DaemonProtocol.NOT_RUNNING, code, "a client of another build is told to start its own daemon");
        serving.join(10_000);
        assertFalse(serving.isAlive(), "the stale daemon stopped");
        assertFalse(Files.exists(socket), "and removed its socket");
        assertEquals(DaemonProtocol.NOT_RUNNING, DaemonClient.call(socket, 42L, work, new String[] {"--version"}, out, err, 0));
    }

    @Test
    void anIdleDaemonExits() throws Exception {
        Path socket = tmp.resolve("idle.sock");
        DaemonServer server = DaemonServer.open(socket, 7L, 300);
        assertNotNull(server);
        Thread serving = serving(server);
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        assertEquals(0, DaemonClient.call(socket, 7L, tmp, new String[] {"--version"}, out, err, 0));
        assertTrue(out.toString(StandardCharsets.UTF_8).startsWith("untwist "), out.toString(StandardCharsets.UTF_8));
        serving.join(10_000);
        assertFalse(serving.isAlive(), "idle for its idle time: stopped");
        assertFalse(Files.exists(socket));
        DaemonServer again = DaemonServer.open(socket, 7L, 300); // its lock was released
        assertNotNull(again);
        again.close();
    }
}
