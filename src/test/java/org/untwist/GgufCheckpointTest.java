package org.untwist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.backend.Backend;
import org.untwist.flux.FluxModel;
import org.untwist.io.SafeTensors;
import org.untwist.io.TensorSource;
import org.untwist.pipeline.ComponentPaths;
import org.untwist.pipeline.FluxCheckpoint;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * A FLUX.1 transformer stored as GGUF ({@code testdata/gguf/flux1-tiny-mixed.gguf}: the tiny single-file transformer as
 * ComfyUI-GGUF stores FLUX.1, with Q8_0, Q4_K, F16, BF16 and F32 tensors; {@code make_gguf_cases.py}) loads through
 * {@link FluxCheckpoint} like a single safetensors file, and computes exactly what the same model with its weights
 * dequantized to float32 computes: bit for bit on each backend (the kernels dequantize to the same floats), every
 * backend within 1e-4 of the RMS of the scalar oracle; through the CLI's {@code forward} and {@code generate} too.
 * Broken or foreign GGUF files are refused in one line naming the file.
 */
class GgufCheckpointTest {
    static final Path GGUF = TestSupport.goldenRoot().getParent().resolve("gguf").resolve("flux1-tiny-mixed.gguf");
    static final Path SINGLE = FluxCheckpointTest.SINGLE;

    @TempDir
    static Path shared;
    /** The GGUF's tensors dequantized to float32, as a single safetensors file with the same keys. */
    static Path dequantized;

    @TempDir
    Path tmp;

    static List<String> backends() {
        return TestSupport.availableBackends();
    }

    @BeforeAll
    static void dequantize() throws IOException {
        dequantized = shared.resolve("flux1-tiny-dequantized.safetensors");
        FluxCheckpoint c = FluxCheckpoint.open(GGUF, ComponentPaths.NONE);
        Map<String, Tensor> f32 = new LinkedHashMap<>();
        try (TensorSource s = c.transformerTensors()) {
            for (String n : s.names()) {
                f32.put(n, s.tensor(n).copy(DType.F32));
            }
            SafeTensors.write(dequantized, f32, Map.of());
        } finally {
            f32.values().forEach(Tensor::close);
        }
    }

    @Test
    void opensAsASingleFileCheckpointWithItsStoredTypes() {
        FluxCheckpoint g = FluxCheckpoint.open(GGUF, ComponentPaths.NONE), s = FluxCheckpoint.open(FluxCheckpointTest.FLUX_FILE, ComponentPaths.NONE);
        assertEquals(FluxCheckpoint.Layout.SINGLE_FILE, g.layout());
        Map<String, Object> a = new LinkedHashMap<>(g.transformerConfig().toJsonMap()), b = new LinkedHashMap<>(s.transformerConfig().toJsonMap());
        assertEquals("f16", a.remove("weight_dtype")); // img_in is kept in F16, as ComfyUI-GGUF keeps the embedders unquantized
        b.remove("weight_dtype");
        a.put("axes_dim", Arrays.toString(g.transformerConfig().axesDim()));
        b.put("axes_dim", Arrays.toString(s.transformerConfig().axesDim()));
        assertEquals(b.toString(), a.toString());
        assertTrue(g.describe().contains("single file") && g.describe().contains(GGUF.toString()), g.describe());
        Map<DType, Integer> types = new TreeMap<>();
        try (TensorSource t = g.transformerTensors()) {
            for (String n : t.names()) {
                types.merge(t.tensor(n).dtype(), 1, Integer::sum);
                assertFalse(t.tensor(n).ownsMemory(), n + ": a view of the mapping, not a copy");
            }
            assertEquals(DType.Q8_0, t.tensor("double_blocks.0.img_attn.qkv.weight").dtype());
            assertEquals(DType.Q4_K, t.tensor("double_blocks.1.txt_mlp.2.weight").dtype());
            assertEquals(DType.F32, t.tensor("double_blocks.0.img_attn.norm.key_norm.scale").dtype());
            assertEquals(List.of(64, 256), Arrays.stream(t.tensor("double_blocks.1.txt_mlp.2.weight").shape()).boxed().toList());
        }
        assertEquals(Map.of(DType.F32, 48, DType.BF16, 1, DType.F16, 2, DType.Q8_0, 27, DType.Q4_K, 6), types);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void forwardEqualsTheDequantizedModel(String name) {
        FluxCheckpoint g = FluxCheckpoint.open(GGUF, ComponentPaths.NONE), d = FluxCheckpoint.open(dequantized, ComponentPaths.NONE);
        FluxCheckpoint original = FluxCheckpoint.open(FluxCheckpointTest.FLUX_FILE, ComponentPaths.NONE);
        float[] want, got, dq, bf16;
        try (Backend oracle = TestSupport.backend("scalar", 1); FluxModel ref = d.loadTransformer(oracle)) {
            want = FluxCheckpointTest.predict(ref);
        }
        try (Backend be = TestSupport.backend(name, 2); FluxModel m = g.loadTransformer(be); FluxModel md = d.loadTransformer(be);
             FluxModel mo = original.loadTransformer(be)) {
            got = FluxCheckpointTest.predict(m);
            dq = FluxCheckpointTest.predict(md);
            bf16 = FluxCheckpointTest.predict(mo);
        }
        FluxCheckpointTest.assertBitEqual(dq, got, name + ": GGUF pred vs the dequantized weights' pred on the same backend");
        double rms = rms(want);
        double err = maxAbsDiff(got, want);
        assertTrue(err <= GoldenConformanceTest.MODEL_REL_TOL * rms, name + ": max |pred − oracle| = " + err + " > 1e-4 of the RMS " + rms);
        double moved = maxAbsDiff(got, bf16) / rms;
        System.out.println(name + ": GGUF pred within " + err / rms + " of the oracle's RMS; quantization moves pred by " + moved + " of its RMS");
        assertTrue(moved > 1e-4 && moved < 0.5, "the quantized model differs from the original as quantization would: " + moved);
    }

    @Test
    void cliForwardAndGenerateTakeAGgufModel() throws IOException {
        Path inputs = inputs(tmp);
        Path[] models = {GGUF, dequantized};
        FluxCheckpointTest.assertBitEqual(FluxCheckpointTest.cliForwardPred(dequantized, inputs, tmp.resolve("pred1.safetensors")),
                FluxCheckpointTest.cliForwardPred(GGUF, inputs, tmp.resolve("pred0.safetensors")), "forward --model x.gguf vs the dequantized safetensors");

        BufferedImage[] images = new BufferedImage[2];
        for (int i = 0; i < 2; i++) {
            Path png = tmp.resolve("gen" + i + ".png");
            CliTest.Result res = CliTest.run("generate", "--backend", "vector", "--model", models[i].toString(), "--clip", SINGLE.resolve("clip_l.safetensors").toString(),
                    "--t5", SINGLE.resolve("t5xxl.safetensors").toString(), "--vae", SINGLE.resolve("ae.safetensors").toString(),
                    "--clip-tokenizer", PromptGenerateCommandTest.PIPELINE.resolve("tokenizer").toString(),
                    "--t5-tokenizer", PromptGenerateCommandTest.PIPELINE.resolve("tokenizer_2").toString(),
                    "--prompt", "a lighthouse at dusk", "--steps", "2", "--width", "32", "--height", "16", "--out", png.toString());
            assertEquals(0, res.code(), res.err());
            images[i] = ImageIO.read(png.toFile());
        }
        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 32; x++) {
                assertEquals(images[1].getRGB(x, y), images[0].getRGB(x, y), "generate --model x.gguf: pixel " + x + "," + y);
            }
        }
    }

    /** Forward inputs for the tiny transformer: one image of 4×4 tokens, 5 text tokens. */
    private static Path inputs(Path dir) throws IOException {
        Path inputs = dir.resolve("inputs.safetensors");
        java.util.Random r = new java.util.Random(11);
        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("img", random(r, 1, 16, 64));
        in.put("img_ids", Tensor.allocate(1, 16, 3));
        in.put("txt", random(r, 1, 5, 32));
        in.put("txt_ids", Tensor.allocate(1, 5, 3));
        in.put("y", random(r, 1, 64));
        in.put("timesteps", Tensor.of(new float[] {0.5f}, 1));
        in.put("guidance", Tensor.of(new float[] {3.5f}, 1));
        SafeTensors.write(inputs, in, Map.of());
        in.values().forEach(Tensor::close);
        return inputs;
    }

    private static Tensor random(java.util.Random r, int... shape) {
        Tensor t = Tensor.allocate(shape);
        for (long i = 0; i < t.numel(); i++) {
            t.set(i, (float) r.nextGaussian());
        }
        return t;
    }

    @Test
    void brokenAndForeignGgufFilesInOneLine() throws IOException {
        byte[] whole = Files.readAllBytes(GGUF);
        Path truncated = Files.write(tmp.resolve("truncated.gguf"), Arrays.copyOf(whole, whole.length - 1000));
        String t = assertThrows(IllegalArgumentException.class, () -> FluxCheckpoint.open(truncated, ComponentPaths.NONE)).getMessage();
        assertTrue(t.startsWith(truncated + ": ") && t.contains("runs past the end of the file") && !t.contains("\n"), t);

        byte[] sd3 = whole.clone(); // general.architecture is the first entry: "flux" becomes "sd3\0"... as another name
        int at = indexOf(sd3, "flux".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        System.arraycopy("sdxl".getBytes(java.nio.charset.StandardCharsets.US_ASCII), 0, sd3, at, 4);
        Path foreign = Files.write(tmp.resolve("sdxl.gguf"), sd3);
        String f = assertThrows(IllegalArgumentException.class, () -> FluxCheckpoint.open(foreign, ComponentPaths.NONE)).getMessage();
        assertTrue(f.contains("architecture 'sdxl'") && f.contains("not supported") && !f.contains("\n"), f);

        CliTest.Result cli = CliTest.run("forward", "--model", truncated.toString(), "--inputs", inputs(tmp).toString(), "--out",
                tmp.resolve("x.safetensors").toString());
        assertEquals(1, cli.code(), cli.err());
        List<String> lines = cli.err().lines().filter(l -> l.startsWith("untwist:")).toList();
        assertEquals(1, lines.size(), cli.err());
        assertTrue(lines.get(0).contains("truncated.gguf") && lines.get(0).contains("runs past the end"), lines.get(0));
        assertFalse(Files.exists(tmp.resolve("x.safetensors")));
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new AssertionError("not found");
    }

    private static double rms(float[] a) {
        double s = 0;
        for (float v : a) {
            s += (double) v * v;
        }
        return Math.sqrt(s / a.length);
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs((double) a[i] - b[i]));
        }
        return m;
    }
}
