package org.untwist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.untwist.backend.Backend;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;
import org.untwist.text.T5Tokenizer;
import org.untwist.text.TextEncoder;
import org.untwist.text.TextEncoding;

/** {@code untwist encode-text} and {@code untwist tokenize}: golden outputs, prompts through a pipeline folder, and bad input. */
class TextCommandsTest {
    @TempDir
    Path tmp;

    static final Path T5 = TestSupport.goldenRoot().resolve("t5-tiny-f32");
    static final Path CLIP = TestSupport.goldenRoot().resolve("clip-tiny-f32");
    static final Path T5_TOKENIZER = TestSupport.goldenRoot().getParent().resolve("text/t5-unigram");

    private static CliTest.Result run(String... args) {
        return CliTest.run(args);
    }

    /** Exit code 1, exactly one error line, naming {@code culprit}, and no output file left behind. */
    private static void assertOneLineError(CliTest.Result r, String culprit, Path out) {
        assertEquals(1, r.code(), r.err());
        List<String> lines = r.err().lines().filter(l -> l.startsWith("untwist:")).toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.get(0).contains(culprit), "'" + culprit + "' not named in: " + lines.get(0));
        if (out != null) {
            assertFalse(Files.exists(out), "a failed run left " + out);
        }
    }

    @Test
    void encodesTheGoldenCases() {
        for (Path model : List.of(T5, CLIP)) {
            Path out = tmp.resolve(model.getFileName() + ".safetensors");
            CliTest.Result r = run("encode-text", "--model", model.toString(), "--inputs", model.resolve("inputs.safetensors").toString(),
                    "--out", out.toString());
            assertEquals(0, r.code(), r.err());
            try (SafeTensors got = SafeTensors.open(out); SafeTensors ref = SafeTensors.open(model.resolve("outputs.safetensors"))) {
                for (String name : ref.names()) {
                    double bound = 1e-4 * TestSupport.rms(ref.tensor(name));
                    double err = TestSupport.maxAbsDiff(got.tensor(name), ref.tensor(name));
                    assertTrue(err <= bound, model.getFileName() + " " + name + ": max |diff| " + err + " > " + bound);
                }
                assertEquals(ref.names().size(), got.names().size(), "outputs: " + got.names());
            }
        }
    }

    /** A pipeline folder with a small random T5 (seed printed on failure) beside the project-trained tokenizer. */
    private Path tinyPipeline(long seed) throws IOException {
        Path root = tmp.resolve("pipeline");
        Path tokenizer = Files.createDirectories(root.resolve("tokenizer_2"));
        try (Stream<Path> files = Files.list(T5_TOKENIZER)) {
            for (Path f : files.toList()) {
                Files.copy(f, tokenizer.resolve(f.getFileName()));
            }
        }
        int vocab = T5Tokenizer.load(tokenizer).vocabularySize(), d = 32, heads = 2, dKv = 16, ff = 48;
        Path encoder = Files.createDirectories(root.resolve("text_encoder_2"));
        Files.writeString(encoder.resolve("config.json"), """
                {"model_type": "t5", "vocab_size": %d, "d_model": %d, "d_kv": %d, "d_ff": %d, "num_layers": 1, "num_heads": %d,
                 "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128, "layer_norm_epsilon": 1e-6,
                 "feed_forward_proj": "gated-gelu"}""".formatted(vocab, d, dKv, ff, heads));
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, Tensor> w = new LinkedHashMap<>();
        String a = "encoder.block.0.layer.0.", f = "encoder.block.0.layer.1.";
        w.put("shared.weight", random(rnd, vocab, d));
        w.put(a + "SelfAttention.relative_attention_bias.weight", random(rnd, 32, heads));
        for (String p : List.of("q", "k", "v")) {
            w.put(a + "SelfAttention." + p + ".weight", random(rnd, heads * dKv, d));
        }
        w.put(a + "SelfAttention.o.weight", random(rnd, d, heads * dKv));
        w.put(a + "layer_norm.weight", random(rnd, d));
        w.put(f + "DenseReluDense.wi_0.weight", random(rnd, ff, d));
        w.put(f + "DenseReluDense.wi_1.weight", random(rnd, ff, d));
        w.put(f + "DenseReluDense.wo.weight", random(rnd, d, ff));
        w.put(f + "layer_norm.weight", random(rnd, d));
        w.put("encoder.final_layer_norm.weight", random(rnd, d));
        SafeTensors.write(encoder.resolve("model.safetensors"), w, Map.of());
        w.values().forEach(Tensor::close);
        return root;
    }

    private static Tensor random(SplittableRandom rnd, int... shape) {
        Tensor t = Tensor.allocate(DType.BF16, shape);
        for (long i = 0; i < t.numel(); i++) {
            t.set(i, (float) rnd.nextDouble(-0.5, 0.5));
        }
        return t;
    }

    @Test
    void encodesPromptsThroughThePipelineFolder() throws IOException {
        long seed = 20261205L;
        Path pipeline = tinyPipeline(seed);
        Path out = tmp.resolve("prompt.safetensors");
        List<String> prompts = List.of("a photo of a cat", "Crème brûlée, 3 spoons 🐱");
        CliTest.Result r = run("encode-text", "--backend", "scalar", "--model", pipeline.resolve("text_encoder_2").toString(), "--prompt",
                prompts.get(0), prompts.get(1), "--length", "16", "--out", out.toString());
        assertEquals(0, r.code(), "seed " + seed + ": " + r.err());
        T5Tokenizer tokenizer = T5Tokenizer.load(pipeline.resolve("tokenizer_2"));
        int[][] ids = {tokenizer.encode(prompts.get(0), 16), tokenizer.encode(prompts.get(1), 16)};
        try (SafeTensors got = SafeTensors.open(out); Backend be = TestSupport.backend("scalar", 1);
             TextEncoder encoder = TextEncoder.load(pipeline.resolve("text_encoder_2"), be); TextEncoding expected = encoder.encode(ids)) {
            Tensor written = got.tensor("input_ids");
            assertEquals(DType.I64, written.dtype());
            for (int b = 0; b < 2; b++) {
                for (int l = 0; l < 16; l++) {
                    assertEquals(ids[b][l], written.getLong(b * 16L + l), "input_ids[" + b + "][" + l + "]");
                }
            }
            assertEquals(0.0, TestSupport.maxAbsDiff(got.tensor("last_hidden_state"), expected.lastHiddenState()), "seed " + seed);
        }
        CliTest.Result tok = run("tokenize", "--model", pipeline.resolve("text_encoder_2").toString(), "--text", prompts.get(0));
        assertEquals(0, tok.code(), tok.err());
        int[] printed = java.util.Arrays.stream(tok.out().strip().replaceAll("[\\[\\]]", "").split(",\\s*")).mapToInt(Integer::parseInt).toArray();
        assertArrayEquals(tokenizer.ids(prompts.get(0)), printed);
    }

    @Test
    void badInputIsOneLineNamingTheCulprit() throws IOException {
        Path out = tmp.resolve("never.safetensors");
        // an unsupported config value
        Path relu = copyOf(T5, "relu");
        Files.writeString(relu.resolve("config.json"), Files.readString(relu.resolve("config.json")).replace("\"gated-gelu\"", "\"relu\""));
        assertOneLineError(run("encode-text", "--model", relu.toString(), "--inputs", T5.resolve("inputs.safetensors").toString(), "--out",
                out.toString()), "feed_forward_proj 'relu' is not supported", out);
        // an unknown architecture
        Path bert = copyOf(T5, "bert");
        Files.writeString(bert.resolve("config.json"), Files.readString(bert.resolve("config.json")).replace("\"model_type\": \"t5\"",
                "\"model_type\": \"bert\""));
        assertOneLineError(run("encode-text", "--model", bert.toString(), "--inputs", T5.resolve("inputs.safetensors").toString(), "--out",
                out.toString()), "model_type 'bert'", out);
        // ids out of range, ids of the wrong type
        Path ids = tmp.resolve("ids.safetensors");
        try (Tensor t = Tensor.allocate(DType.I64, 1, 4)) {
            t.setLong(2, 999);
            SafeTensors.write(ids, Map.of("input_ids", t), Map.of());
        }
        assertOneLineError(run("encode-text", "--model", T5.toString(), "--inputs", ids.toString(), "--out", out.toString()),
                "input_ids[0][2] = 999 is outside the vocabulary of 200 tokens", out);
        Path floats = tmp.resolve("floats.safetensors");
        try (Tensor t = Tensor.allocate(DType.F32, 1, 4)) {
            SafeTensors.write(floats, Map.of("input_ids", t), Map.of());
        }
        assertOneLineError(run("encode-text", "--model", T5.toString(), "--inputs", floats.toString(), "--out", out.toString()),
                "input_ids is F32, expected integer ids", out);
        // a weight stored as integers, a missing weight
        Path intWeight = copyOf(T5, "intweight");
        rewriteWeights(intWeight, "encoder.final_layer_norm.weight", true);
        assertOneLineError(run("encode-text", "--model", intWeight.toString(), "--inputs", T5.resolve("inputs.safetensors").toString(), "--out",
                out.toString()), "'encoder.final_layer_norm.weight' is I32", out);
        Path missing = copyOf(T5, "missing");
        rewriteWeights(missing, "encoder.final_layer_norm.weight", false);
        assertOneLineError(run("encode-text", "--model", missing.toString(), "--inputs", T5.resolve("inputs.safetensors").toString(), "--out",
                out.toString()), "missing tensor 'encoder.final_layer_norm.weight'", out);
        // tokenizer folders: nothing there, a CLIP folder without merges.txt
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertOneLineError(run("tokenize", "--model", empty.toString(), "--text", "hi"), "no tokenizer files", null);
        Path clipTok = Files.createDirectories(tmp.resolve("cliptok"));
        Files.writeString(clipTok.resolve("vocab.json"), "{}");
        assertOneLineError(run("tokenize", "--model", clipTok.toString(), "--text", "hi"), clipTok.toString(), null);
    }

    private Path copyOf(Path golden, String name) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        for (String f : List.of("config.json", "weights.safetensors")) {
            Files.copy(golden.resolve(f), dir.resolve(f));
        }
        return dir;
    }

    /** Rewrites weights.safetensors with {@code name} stored as I32 ({@code asInt}) or left out. */
    private static void rewriteWeights(Path dir, String name, boolean asInt) throws IOException {
        Path file = dir.resolve("weights.safetensors");
        Map<String, Tensor> w = new LinkedHashMap<>();
        try (SafeTensors st = SafeTensors.open(file)) {
            for (String n : st.names()) {
                if (n.equals(name)) {
                    if (asInt) {
                        w.put(n, Tensor.allocate(DType.I32, st.tensor(n).shape()));
                    }
                } else {
                    w.put(n, st.tensor(n).copy(st.tensor(n).dtype()));
                }
            }
        }
        Path tmpFile = dir.resolve("w.tmp");
        SafeTensors.write(tmpFile, w, Map.of());
        w.values().forEach(Tensor::close);
        Files.move(tmpFile, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
}
