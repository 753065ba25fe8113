package org.untwist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.untwist.backend.Backend;
import org.untwist.flux.FluxConfig;
import org.untwist.flux.FluxInputs;
import org.untwist.flux.FluxModel;
import org.untwist.io.SafeTensors;
import org.untwist.io.TensorSource;
import org.untwist.pipeline.ComponentPaths;
import org.untwist.pipeline.FluxCheckpoint;
import org.untwist.pipeline.ScheduleSettings;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;
import org.untwist.text.TextEncoder;
import org.untwist.text.TextEncoding;

/**
 * testdata/flux-pipeline-tiny (pipeline/src/test/python/make_tiny_pipeline.py): one random FLUX.1-dev-like pipeline
 * as a diffusers folder and as BFL / ComfyUI single files. Loaded either way, the parts are the same parameters:
 * the transformer's prediction is bit-identical, the autoencoder's tensors under ae.safetensors names equal,
 * the text encoders' outputs identical. Foreign architectures, missing parts and fp8 variants each in one line.
 */
class FluxCheckpointTest {
    static final Path ROOT = TestSupport.tinyFlux().getParent().getParent().resolve("flux-pipeline-tiny");
    static final Path DIFFUSERS = ROOT, SINGLE = ROOT.resolveSibling("flux-pipeline-tiny-single");
    static final Path FLUX_FILE = SINGLE.resolve("flux1-tiny.safetensors");

    @TempDir
    Path tmp;

    @Test
    void diffusersConfigEqualsTheOneInferredFromTheSingleFile() {
        FluxCheckpoint d = FluxCheckpoint.open(DIFFUSERS, ComponentPaths.NONE), s = FluxCheckpoint.open(FLUX_FILE, ComponentPaths.NONE);
        assertEquals(FluxCheckpoint.Layout.DIFFUSERS, d.layout());
        assertEquals(FluxCheckpoint.Layout.SINGLE_FILE, s.layout());
        Map<String, Object> a = json(d.transformerConfig()), b = json(s.transformerConfig());
        assertEquals(a.toString(), b.toString());
        assertArrayEquals(new int[] {2, 6, 8}, s.transformerConfig().axesDim());
        assertTrue(s.transformerConfig().guidanceEmbed());
        assertEquals(28, d.defaults().steps());
        assertEquals(3.5f, d.defaults().guidance());
        assertEquals(new ScheduleSettings(true, 3.0, 0.5, 1.15, 256, 4096), d.defaults().schedule());
        assertEquals(ScheduleSettings.DEV, s.defaults().schedule());
        assertArrayEquals(d.defaults().schedule().timesteps(4, 64), s.defaults().schedule().timesteps(4, 64));
    }

    private static Map<String, Object> json(FluxConfig c) {
        Map<String, Object> m = new LinkedHashMap<>(c.toJsonMap());
        m.remove("weight_dtype");
        m.put("axes_dim", java.util.Arrays.toString(c.axesDim()));
        return m;
    }

    @ParameterizedTest
    @ValueSource(strings = {"scalar", "vector"})
    void transformerFromDiffusersIsBitIdenticalToTheSingleFile(String backend) {
        FluxCheckpoint d = FluxCheckpoint.open(DIFFUSERS, ComponentPaths.NONE), s = FluxCheckpoint.open(FLUX_FILE, ComponentPaths.NONE);
        try (Backend be = TestSupport.backend(backend, 2); FluxModel md = d.loadTransformer(be); FluxModel ms = s.loadTransformer(be)) {
            assertEquals(3, md.projectionParts());
            assertEquals(1, ms.projectionParts());
            float[] a = predict(md), b = predict(ms);
            assertBitEqual(b, a, backend + " pred");
            assertEquals(FluxModel.workspaceBytes(md.config(), 2, 5, 16, 3), md.allocatedBytes());
            assertEquals(FluxModel.workspaceBytes(ms.config(), 2, 5, 16), ms.allocatedBytes());
            try (FluxModel one = s.loadTransformer(be)) { // a batch of one: streams and modulation chunks are views
                float[] first = predict(one, 1);
                double worst = 0, scale = 0;
                for (int i = 0; i < first.length; i++) {
                    worst = Math.max(worst, Math.abs(first[i] - b[i]));
                    scale = Math.max(scale, Math.abs(b[i]));
                }
                // The same arithmetic per batch element; only a GEMM's blocking over its rows may differ (float32 sums).
                assertTrue(worst <= 1e-5 * scale, backend + ": batch element 0 alone vs in a batch of 2: " + worst + " (max |out| " + scale + ")");
                assertEquals(FluxModel.workspaceBytes(one.config(), 1, 5, 16), one.allocatedBytes());
                assertTrue(FluxModel.workspaceBytes(one.config(), 1, 5, 16) < FluxModel.workspaceBytes(one.config(), 2, 5, 16) / 2);
            }
        }
    }

    /** A batch of 2 with 5 text and 4×4 image tokens, random but fixed. */
    static float[] predict(FluxModel m) {
        return predict(m, 2);
    }

    /** The first {@code n} (1 or 2) elements of {@link #predict(FluxModel)}'s batch. */
    static float[] predict(FluxModel m, int n) {
        FluxConfig c = m.config();
        Random r = new Random(7);
        int b = 2, lt = 5, li = 16;
        List<Tensor> owned = new ArrayList<>();
        try {
            Tensor img = random(owned, r, b, li, c.inChannels()), txt = random(owned, r, b, lt, c.contextInDim()), y = random(owned, r, b, c.vecInDim());
            Tensor imgIds = Tensor.allocate(b, li, 3), txtIds = Tensor.allocate(b, lt, 3);
            owned.add(imgIds);
            owned.add(txtIds);
            for (int i = 0; i < b * li; i++) {
                imgIds.set(i * 3L + 1, (i % li) / 4);
                imgIds.set(i * 3L + 2, i % 4);
            }
            Tensor t = Tensor.of(new float[] {0.3f, 0.8f}, b), g = Tensor.of(new float[] {3.5f, 2f}, b);
            owned.add(t);
            owned.add(g);
            try (Tensor out = Tensor.allocate(n, li, c.outChannels())) {
                m.forward(new FluxInputs(img.rows(0, n), imgIds.rows(0, n), txt.rows(0, n), txtIds.rows(0, n), y.rows(0, n), t.rows(0, n),
                        g.rows(0, n)), out);
                return out.toFloatArray();
            }
        } finally {
            owned.forEach(Tensor::close);
        }
    }

    private static Tensor random(List<Tensor> owned, Random r, int... shape) {
        Tensor t = Tensor.allocate(shape);
        for (long i = 0; i < t.numel(); i++) {
            t.set(i, (float) r.nextGaussian());
        }
        owned.add(t);
        return t;
    }

    /** {@code untwist forward --backend vector --threads 2} of {@code model} on {@code inputs}: its {@code pred}, after a zero exit. */
    static float[] cliForwardPred(Path model, Path inputs, Path out) {
        CliTest.Result res = CliTest.run("forward", "--backend", "vector", "--threads", "2", "--model", model.toString(), "--inputs",
                inputs.toString(), "--out", out.toString());
        assertEquals(0, res.code(), res.err());
        try (SafeTensors f = SafeTensors.open(out)) {
            return f.tensor("pred").toFloatArray();
        }
    }

    static void assertBitEqual(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                throw new AssertionError(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i]);
            }
        }
        assertTrue(expected.length > 0 && Float.isFinite(expected[0]), what + ": finite");
    }

    @Test
    void autoencoderFromDiffusersEqualsAeSafetensors() {
        FluxCheckpoint d = FluxCheckpoint.open(DIFFUSERS, ComponentPaths.NONE);
        FluxCheckpoint s = FluxCheckpoint.open(FLUX_FILE, new ComponentPaths(null, null, SINGLE.resolve("ae.safetensors"), null, null));
        var expected = new org.untwist.autoencoder.AutoEncoderConfig(3, 32, 3, java.util.List.of(1, 2), 1, 16, 0.3611f, 0.1159f, 32);
        assertEquals(expected, d.autoencoderConfig());
        assertEquals(expected, s.autoencoderConfig());
        try (TensorSource a = d.autoencoderTensors(); TensorSource b = s.autoencoderTensors()) {
            assertEquals(new java.util.TreeSet<>(b.names()), new java.util.TreeSet<>(a.names()));
            for (String n : b.names()) {
                Tensor x = a.tensor(n), y = b.tensor(n);
                assertArrayEquals(y.shape(), x.shape(), n);
                assertArrayEquals(y.toFloatArray(), x.toFloatArray(), n);
            }
            assertArrayEquals(new int[] {64, 64, 1, 1}, a.tensor("decoder.mid.attn_1.q.weight").shape());
        }
        FluxCheckpoint bare = FluxCheckpoint.open(FLUX_FILE, ComponentPaths.NONE);
        assertTrue(assertThrows(IllegalArgumentException.class, bare::autoencoderTensors).getMessage().contains("--vae"));
    }

    @Test
    void textEncodersFromTheFolderAndFromSingleFilesAgree() throws IOException {
        FluxCheckpoint d = FluxCheckpoint.open(DIFFUSERS, ComponentPaths.NONE);
        FluxCheckpoint s = FluxCheckpoint.open(FLUX_FILE, new ComponentPaths(SINGLE.resolve("clip_l.safetensors"), SINGLE.resolve("t5xxl.safetensors"),
                null, DIFFUSERS.resolve("tokenizer"), DIFFUSERS.resolve("tokenizer_2")));
        int[][] clipIds = {d.clipTokenizer().encode("a photo of a cat", 77)};
        int[][] t5Ids = {d.t5Tokenizer().encode("a photo of a cat", 16)};
        assertArrayEquals(clipIds[0], s.clipTokenizer().encode("a photo of a cat", 77));
        try (Backend be = TestSupport.backend("scalar", 1)) {
            compare(d.loadClip(be), s.loadClip(be), clipIds, true);
            compare(d.loadT5(be), s.loadT5(be), t5Ids, false);
        }
        FluxCheckpoint bare = FluxCheckpoint.open(FLUX_FILE, ComponentPaths.NONE);
        try (Backend be = TestSupport.backend("scalar", 1)) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> bare.loadClip(be)).getMessage().contains("--clip"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> bare.loadT5(be)).getMessage().contains("--t5"));
        }
        assertTrue(assertThrows(IllegalArgumentException.class, bare::t5Tokenizer).getMessage().contains("--t5-tokenizer"));
    }

    private static void compare(TextEncoder a, TextEncoder b, int[][] ids, boolean pooled) {
        try (a; b; TextEncoding x = a.encode(ids); TextEncoding y = b.encode(ids)) {
            assertBitEqual(x.lastHiddenState().toFloatArray(), y.lastHiddenState().toFloatArray(), a.describe());
            if (pooled) {
                assertBitEqual(x.pooled().toFloatArray(), y.pooled().toFloatArray(), a.describe() + " pooled");
            }
        }
    }

    /** A copy of a safetensors file with renamed (or dropped: null) tensors, possibly converted, plus extra ones. */
    private Path rewrite(Path src, String name, UnaryOperator<String> rename, java.util.function.BiFunction<String, Tensor, Tensor> convert,
                         Map<String, Tensor> extra) throws IOException {
        Path out = tmp.resolve(name);
        try (SafeTensors f = SafeTensors.open(src)) {
            Map<String, Tensor> m = new LinkedHashMap<>();
            for (String n : f.names()) {
                String to = rename.apply(n);
                if (to != null) {
                    m.put(to, convert.apply(n, f.tensor(n)));
                }
            }
            m.putAll(extra);
            SafeTensors.write(out, m, Map.of());
        }
        return out;
    }

    @Test
    void comfyUiFullCheckpointAndFp8() throws IOException {
        Path comfy = tmp.resolve("comfy.safetensors");
        Map<String, Tensor> all = new LinkedHashMap<>();
        List<SafeTensors> open = new ArrayList<>();
        for (String[] part : new String[][] {{"flux1-tiny.safetensors", "model.diffusion_model."}, {"clip_l.safetensors", "text_encoders.clip_l.transformer."},
                {"t5xxl.safetensors", "text_encoders.t5xxl.transformer."}, {"ae.safetensors", "vae."}}) {
            SafeTensors f = SafeTensors.open(SINGLE.resolve(part[0]));
            open.add(f);
            for (String n : f.names()) {
                all.put(part[1] + n, f.tensor(n));
            }
        }
        SafeTensors.write(comfy, all, Map.of());
        open.forEach(SafeTensors::close);
        FluxCheckpoint c = FluxCheckpoint.open(comfy, ComponentPaths.NONE), s = FluxCheckpoint.open(FLUX_FILE, ComponentPaths.NONE);
        try (Backend be = TestSupport.backend("scalar", 1); FluxModel a = c.loadTransformer(be); FluxModel b = s.loadTransformer(be);
             TextEncoder clip = c.loadClip(be); TextEncoder t5 = c.loadT5(be); TensorSource vae = c.autoencoderTensors()) {
            assertBitEqual(predict(b), predict(a), "comfy");
            assertEquals(64, clip.width());
            assertEquals(32, t5.width());
            assertTrue(vae.contains("decoder.mid.attn_1.q.weight"));
        }

        // fp8 (e4m3fn) as ComfyUI ships it: the matrices in F8_E4M3, the vectors kept; it loads and runs.
        Path fp8 = rewrite(FLUX_FILE, "flux1-tiny-fp8.safetensors", n -> "model.diffusion_model." + n,
                (n, t) -> t.rank() == 2 ? t.copy(DType.F8_E4M3) : t, Map.of());
        FluxCheckpoint f = FluxCheckpoint.open(fp8, ComponentPaths.NONE);
        assertEquals("f8_e4m3", f.transformerConfig().weightDtype());
        try (Backend be = TestSupport.backend("vector", 2); FluxModel m = f.loadTransformer(be)) {
            float[] p = predict(m);
            for (float v : p) {
                assertTrue(Float.isFinite(v));
            }
        }
        Path t5fp8 = rewrite(SINGLE.resolve("t5xxl.safetensors"), "t5xxl_fp8_e4m3fn.safetensors", n -> n,
                (n, t) -> t.rank() == 2 ? t.copy(DType.F8_E4M3) : t, Map.of());
        try (Backend be = TestSupport.backend("scalar", 1);
             TextEncoder t5 = FluxCheckpoint.open(FLUX_FILE, new ComponentPaths(null, t5fp8, null, null, null)).loadT5(be)) {
            assertTrue(t5.describe().contains("F8_E4M3"), t5.describe());
        }
        Path scaled = rewrite(FLUX_FILE, "scaled.safetensors", n -> n, (n, t) -> t, Map.of("scaled_fp8", Tensor.of(new float[] {0, 0}, 2)));
        String msg = assertThrows(IllegalArgumentException.class, () -> FluxCheckpoint.open(scaled, ComponentPaths.NONE)).getMessage();
        assertTrue(msg.contains("scaled fp8") && !msg.contains("\n"), msg);
    }

    @Test
    void cliForwardTakesADiffusersFolderOrASingleFile() throws IOException {
        Random r = new Random(3);
        List<Tensor> owned = new ArrayList<>();
        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("img", random(owned, r, 1, 16, 64));
        in.put("img_ids", random(owned, r, 1, 16, 3));
        in.put("txt", random(owned, r, 1, 5, 32));
        in.put("txt_ids", random(owned, r, 1, 5, 3));
        in.put("y", random(owned, r, 1, 64));
        in.put("timesteps", Tensor.of(new float[] {0.5f}, 1));
        in.put("guidance", Tensor.of(new float[] {3.5f}, 1));
        Path inputs = tmp.resolve("inputs.safetensors");
        SafeTensors.write(inputs, in, Map.of());
        owned.forEach(Tensor::close);
        assertBitEqual(cliForwardPred(FLUX_FILE, inputs, tmp.resolve("pred1.safetensors")),
                cliForwardPred(DIFFUSERS, inputs, tmp.resolve("pred0.safetensors")), "forward --model");
        CliTest.Result bad = CliTest.run("forward", "--model", SINGLE.resolve("ae.safetensors").toString(), "--inputs", inputs.toString(), "--out",
                tmp.resolve("x.safetensors").toString());
        assertTrue(bad.code() != 0 && bad.err().contains("autoencoder"), bad.err());
    }

    @Test
    void foreignArchitecturesAndBrokenCheckpointsInOneLine() throws IOException {
        Map<String, String> foreign = Map.of("model.diffusion_model.input_blocks.0.0.weight", "Stable Diffusion 1.x",
                "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias", "Stable Diffusion XL",
                "model.diffusion_model.joint_blocks.0.context_block.adaLN_modulation.1.bias", "Stable Diffusion 3",
                "model.diffusion_model.single_stream_modulation.lin.weight", "FLUX.2");
        int i = 0;
        for (Map.Entry<String, String> e : foreign.entrySet()) {
            Path p = tmp.resolve("foreign" + i++ + ".safetensors");
            try (Tensor t = Tensor.of(new float[] {1, 2}, 2)) {
                SafeTensors.write(p, Map.of(e.getKey(), t, "model.diffusion_model." + "double_blocks.0.img_attn.norm.key_norm.scale", t), Map.of());
            }
            String msg = assertThrows(IllegalArgumentException.class, () -> FluxCheckpoint.open(p, ComponentPaths.NONE)).getMessage();
            assertTrue(msg.contains(e.getValue()) && msg.contains("not supported") && !msg.contains("\n"), msg);
        }
        String ae = assertThrows(IllegalArgumentException.class, () -> FluxCheckpoint.open(SINGLE.resolve("ae.safetensors"), ComponentPaths.NONE))
                .getMessage();
        assertTrue(ae.contains("autoencoder"), ae);
        Path partial = Files.createDirectories(tmp.resolve("partial"));
        Files.copy(DIFFUSERS.resolve("model_index.json"), partial.resolve("model_index.json"));
        String missing = assertThrows(IllegalArgumentException.class, () -> FluxCheckpoint.open(partial, ComponentPaths.NONE)).getMessage();
        assertTrue(missing.contains("missing subfolder transformer/"), missing);
        Path noQkv = rewrite(FLUX_FILE, "broken.safetensors", n -> n.equals("double_blocks.1.img_attn.qkv.weight") ? null : n, (n, t) -> t, Map.of());
        FluxCheckpoint broken = FluxCheckpoint.open(noQkv, ComponentPaths.NONE);
        try (Backend be = TestSupport.backend("scalar", 1)) {
            String m = assertThrows(IllegalArgumentException.class, () -> broken.loadTransformer(be)).getMessage();
            assertTrue(m.contains("double_blocks.1.img_attn.qkv.weight") && !m.contains("\n"), m);
        }
        String none = assertThrows(IllegalArgumentException.class, () -> FluxCheckpoint.open(tmp.resolve("nothing"), ComponentPaths.NONE)).getMessage();
        assertTrue(none.contains("no such file"), none);
        assertFalse(none.contains("\n"));
    }
}
