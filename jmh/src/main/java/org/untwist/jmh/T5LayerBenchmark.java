package org.untwist.jmh;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.untwist.backend.Backend;
import org.untwist.backend.Backends;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;
import org.untwist.text.T5Encoder;
import org.untwist.text.TextEncoding;

/**
 * One T5-XXL-shaped encoder layer through {@link T5Encoder} (d_model 4096, 64 heads of 64, d_ff 10240, the
 * gated-GELU feed-forward, relative position bias), BF16 weights memory-mapped from a safetensors file as FLUX.1's
 * {@code text_encoder_2} ships them, on the {@code vector} backend (float32) and the {@code onednn} backend (bf16 precision); 256 tokens (FLUX.1 [schnell]) and 512
 * ([dev]). The timed call also includes the token embedding lookup and the final norm, both negligible.
 *
 * <p>FLOPs per call: {@code 2·L·(4·d·inner + 3·d·d_ff) + 4·H·L²·d_kv} (the seven projections and the two
 * attention matrix products): 99.86 GFLOP at 256 tokens, 201.86 GFLOP at 512.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 4)
@Measurement(iterations = 5, time = 4)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class T5LayerBenchmark {
    static final int D_MODEL = 4096, HEADS = 64, D_KV = 64, D_FF = 10240, BUCKETS = 32, MAX_DISTANCE = 128, VOCAB = 32128;

    @Param({"256", "512"})
    public int tokens;

    @Param({"2"})
    public int threads;

    /** {@code vector} (float32 compute) or {@code onednn} (its default, the bf16 precision: oneDNN's bf16 GEMM). */
    @Param({"vector", "onednn"})
    public String backend;

    Backend be;
    T5Encoder encoder;
    Path folder;
    int[][] ids;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        folder = Files.createTempDirectory("untwist-t5-layer");
        writeLayer(folder, 20261205L);
        be = Backends.create(backend, threads);
        encoder = T5Encoder.load(folder, be);
        SplittableRandom rnd = new SplittableRandom(7);
        ids = new int[1][tokens];
        for (int t = 0; t < tokens; t++) {
            ids[0][t] = rnd.nextInt(2, VOCAB);
        }
        System.out.println("# " + be.describe() + "; " + encoder.describe());
    }

    /** config.json and one layer of random BF16 weights with T5's key names. */
    static void writeLayer(Path dir, long seed) throws IOException {
        Files.writeString(dir.resolve("config.json"), """
                {"model_type": "t5", "vocab_size": %d, "d_model": %d, "d_kv": %d, "d_ff": %d, "num_layers": 1, "num_heads": %d,
                 "relative_attention_num_buckets": %d, "relative_attention_max_distance": %d, "layer_norm_epsilon": 1e-6,
                 "feed_forward_proj": "gated-gelu"}""".formatted(VOCAB, D_MODEL, D_KV, D_FF, HEADS, BUCKETS, MAX_DISTANCE));
        int inner = HEADS * D_KV;
        String a = "encoder.block.0.layer.0.", f = "encoder.block.0.layer.1.";
        Map<String, int[]> shapes = new LinkedHashMap<>();
        shapes.put("shared.weight", new int[] {VOCAB, D_MODEL});
        shapes.put(a + "SelfAttention.relative_attention_bias.weight", new int[] {BUCKETS, HEADS});
        for (String p : List.of("q", "k", "v")) {
            shapes.put(a + "SelfAttention." + p + ".weight", new int[] {inner, D_MODEL});
        }
        shapes.put(a + "SelfAttention.o.weight", new int[] {D_MODEL, inner});
        shapes.put(a + "layer_norm.weight", new int[] {D_MODEL});
        shapes.put(f + "DenseReluDense.wi_0.weight", new int[] {D_FF, D_MODEL});
        shapes.put(f + "DenseReluDense.wi_1.weight", new int[] {D_FF, D_MODEL});
        shapes.put(f + "DenseReluDense.wo.weight", new int[] {D_MODEL, D_FF});
        shapes.put(f + "layer_norm.weight", new int[] {D_MODEL});
        shapes.put("encoder.final_layer_norm.weight", new int[] {D_MODEL});
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        SplittableRandom rnd = new SplittableRandom(seed);
        try {
            for (Map.Entry<String, int[]> e : shapes.entrySet()) {
                Tensor t = Tensor.allocate(DType.BF16, e.getValue());
                boolean norm = e.getValue().length == 1;
                double scale = norm ? 0.2 : 1.0 / Math.sqrt(e.getValue()[1]);
                for (long i = 0; i < t.numel(); i++) {
                    t.set(i, (float) ((norm ? 1.0 : 0.0) + scale * (rnd.nextDouble() * 2 - 1)));
                }
                tensors.put(e.getKey(), t);
            }
            SafeTensors.write(dir.resolve("model.safetensors"), tensors, Map.of());
        } finally {
            tensors.values().forEach(Tensor::close);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        encoder.close();
        be.close();
        try (Stream<Path> files = Files.walk(folder)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    @Benchmark
    public float encoderLayer() {
        try (TextEncoding out = encoder.encode(ids)) {
            return out.lastHiddenState().get(0);
        }
    }
}
