package org.untwist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.Tensor;

/** {@code untwist vae}: the golden autoencoder case through the command on every backend, and one-line errors that write nothing. */
class VaeCommandTest {
    @TempDir
    Path tmp;

    static final Path AE = TestSupport.goldenRoot().resolve("ae-tiny-f32");

    static List<String> backends() {
        return TestSupport.availableBackends();
    }

    @ParameterizedTest
    @MethodSource("backends")
    void reproducesTheGoldenCase(String backend) {
        Path out = tmp.resolve("sub/ae.safetensors");
        CliTest.Result r = CliTest.run("vae", "--backend", backend, "--threads", "2", "--model", AE.toString(), "--inputs",
                AE.resolve("inputs.safetensors").toString(), "--out", out.toString(), "--compare", AE.resolve("outputs.safetensors").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("compare encoded") && r.out().contains("compare decoded") && r.out().contains("compare packed"), r.out());
        try (SafeTensors got = SafeTensors.open(out); SafeTensors ref = SafeTensors.open(AE.resolve("outputs.safetensors"))) {
            for (String name : List.of("encoded", "decoded", "packed")) {
                double bound = 1e-4 * TestSupport.rms(ref.tensor(name));
                double err = TestSupport.maxAbsDiff(got.tensor(name), ref.tensor(name));
                assertTrue(err <= bound, name + " on " + backend + ": max |diff| " + err + " > " + bound);
            }
            assertEquals(3, got.names().size(), "outputs: " + got.names());
        }
    }

    /** Only z: decoded and packed, no encoded. */
    @Test
    void decodesAlone() throws IOException {
        Path inputs = tmp.resolve("z.safetensors"), out = tmp.resolve("out.safetensors");
        try (SafeTensors in = SafeTensors.open(AE.resolve("inputs.safetensors"))) {
            SafeTensors.write(inputs, Map.of("z", in.tensor("z")), Map.of());
        }
        CliTest.Result r = CliTest.run("vae", "--backend", "scalar", "--model", AE.toString(), "--inputs", inputs.toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        try (SafeTensors got = SafeTensors.open(out)) {
            assertEquals(java.util.Set.of("decoded", "packed"), java.util.Set.copyOf(got.names()));
        }
    }

    /** Exit code 1, one error line naming {@code culprit}, and no output file. */
    private static void assertOneLineError(CliTest.Result r, String culprit, Path out) {
        assertEquals(1, r.code(), r.err());
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.get(0).startsWith("untwist: error: "), lines.get(0));
        assertTrue(lines.get(0).contains(culprit), "'" + culprit + "' not named in: " + lines.get(0));
        assertFalse(Files.exists(out), "a failed run left " + out);
        try (var files = Files.list(out.getParent())) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().startsWith(out.getFileName().toString())), "temporary files left beside " + out);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private CliTest.Result vae(Path model, Path inputs, Path out) {
        return CliTest.run("vae", "--backend", "scalar", "--model", model.toString(), "--inputs", inputs.toString(), "--out", out.toString());
    }

    /** A copy of the golden model folder whose weights {@code edit} changed. */
    private Path modelWith(String name, Consumer<Map<String, Tensor>> edit) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        Files.copy(AE.resolve("config.json"), dir.resolve("config.json"));
        try (SafeTensors w = SafeTensors.open(AE.resolve("weights.safetensors"))) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (String n : w.names()) {
                tensors.put(n, w.tensor(n));
            }
            edit.accept(tensors);
            SafeTensors.write(dir.resolve("weights.safetensors"), tensors, Map.of());
        }
        return dir;
    }

    private Path inputsWith(String name, int... xShape) throws IOException {
        Path file = tmp.resolve(name + ".safetensors");
        try (Tensor x = Tensor.allocate(xShape)) {
            SafeTensors.write(file, Map.of("x", x), Map.of());
        }
        return file;
    }

    @Test
    void missingConfig() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("no-config"));
        Files.copy(AE.resolve("weights.safetensors"), dir.resolve("weights.safetensors"));
        Path out = tmp.resolve("out.safetensors");
        assertOneLineError(vae(dir, AE.resolve("inputs.safetensors"), out), dir.resolve("config.json") + ": missing", out);
    }

    @Test
    void weightOfTheWrongShape() throws IOException {
        String key = "decoder.up.1.upsample.conv.weight";
        Path dir = modelWith("wrong-shape", t -> t.put(key, t.get(key).reshape(64, 64, 9, 1)));
        Path out = tmp.resolve("out.safetensors");
        assertOneLineError(vae(dir, AE.resolve("inputs.safetensors"), out), "'" + key + "' has shape [64, 64, 9, 1] but the config implies [64, 64, 3, 3]", out);
    }

    @Test
    void missingWeight() throws IOException {
        String key = "encoder.mid.attn_1.q.bias";
        Path dir = modelWith("missing", t -> t.remove(key));
        Path out = tmp.resolve("out.safetensors");
        assertOneLineError(vae(dir, AE.resolve("inputs.safetensors"), out), "missing tensor '" + key + "'", out);
    }

    @Test
    void sizeNotAMultipleOfTheFactor() throws IOException {
        Path out = tmp.resolve("out.safetensors");
        assertOneLineError(vae(AE, inputsWith("odd", 1, 3, 17, 24), out), "x is 17 × 24 pixels, not a multiple of the autoencoder's downsampling factor 2", out);
    }

    @Test
    void imageWithFourChannels() throws IOException {
        Path out = tmp.resolve("out.safetensors");
        assertOneLineError(vae(AE, inputsWith("rgba", 1, 4, 16, 24), out), "x has shape [1, 4, 16, 24], expected [B, 3, H, W]", out);
    }

    @Test
    void neitherXNorZ() throws IOException {
        Path file = tmp.resolve("empty.safetensors"), out = tmp.resolve("out.safetensors");
        try (Tensor y = Tensor.allocate(1, 2)) {
            SafeTensors.write(file, Map.of("y", y), Map.of());
        }
        assertOneLineError(vae(AE, file, out), "holds neither 'x'", out);
    }
}
