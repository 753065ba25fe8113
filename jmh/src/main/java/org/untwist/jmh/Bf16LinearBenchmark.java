package org.untwist.jmh;

import java.util.concurrent.TimeUnit;
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
import org.untwist.backend.Precision;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * {@link Backend#linear} with bias at FLUX's shapes, {@code out[M, N] = x[M, K] · w[N, K]ᵀ + b} with {@code shape} =
 * {@code MxKxN}: the float32 precision of the {@code vector} backend against the bf16 precision of the {@code onednn}
 * backend (oneDNN's bf16 matmul), same data, same run. 1280 rows = 1,024 image + 256 text tokens, 4608 = 4,096 + 512
 * (1024² with 512 text tokens); K 3072 = FLUX's width, N 3072 (attention projection) or 12288 (MLP up). FLOPs per call
 * {@code 2·M·N·K}. Weights {@code weights} (BF16: a FLUX checkpoint, used in place by onednn; F32/F16/F8_E4M3:
 * converted per call). {@code jmh/run-bf16-linear.sh} runs it and writes the table.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xms3g", "-Xmx3g"})
public class Bf16LinearBenchmark {
    @Param({"1280x3072x12288", "1280x3072x3072", "4608x3072x3072", "4608x3072x12288"})
    public String shape;

    @Param({"BF16"})
    public String weights;

    @Param({"2"})
    public int threads;

    Tensor x, w, bias, out;

    @Setup(Level.Trial)
    public void setUp() {
        String[] d = shape.split("x");
        int m = Integer.parseInt(d[0]), k = Integer.parseInt(d[1]), n = Integer.parseInt(d[2]);
        x = BenchData.gaussian(21, m, k);
        try (Tensor w32 = BenchData.gaussian(22, n, k)) {
            w = w32.copy(DType.valueOf(weights));
        }
        bias = BenchData.gaussian(23, n);
        out = Tensor.allocate(m, n);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        BenchData.closeAll(x, w, bias, out);
    }

    /** A backend made once per trial, only by the benchmark that uses it. */
    @State(Scope.Benchmark)
    public static class VectorF32 {
        Backend be;

        @Setup(Level.Trial)
        public void setUp(Bf16LinearBenchmark b) {
            be = Backends.create("vector", b.threads, Precision.F32);
            System.out.println("# " + be.describe());
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            be.close();
        }
    }

    /** The onednn backend; its setup fails with the reason where it cannot run. */
    @State(Scope.Benchmark)
    public static class OnednnBf16 {
        Backend be;

        @Setup(Level.Trial)
        public void setUp(Bf16LinearBenchmark b) {
            be = Backends.create("onednn", b.threads, Precision.BF16);
            System.out.println("# " + be.describe());
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            be.close();
        }
    }

    @Benchmark
    public Tensor vectorF32(VectorF32 s) {
        s.be.linear(x, w, bias, out);
        return out;
    }

    @Benchmark
    public Tensor onednnBf16(OnednnBf16 s) {
        s.be.linear(x, w, bias, out);
        return out;
    }
}
