package org.untwist.jmh;

import java.util.Locale;
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
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * One decoder-sized {@link Backend#conv2d} on the {@code vector} backend: 3×3, stride 1, padding 1, {@code C → C}
 * channels on a {@code size × size} map ({@code shape = "C:size"}: FLUX.1's decoder runs 128 channels at 256² ... 1024²
 * and 512 at 64² ... 256²), float32 and BF16 weights, with bias; against {@link Backend#linear} of the same GEMM size
 * in the same run (M = {@code size²} pixels, N = C, K = 9·C: what the implicit GEMM computes, from a materialized
 * im2col matrix). FLOPs per call {@code 2·C·C·9·size²} for both (the bias ignored); the setup prints them, so
 * GFLOP/s = that / the time.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
public class Conv2dBenchmark {
    @Param({"2"})
    public int threads;

    /** {@code channels:size}. */
    @Param({"128:256", "512:64"})
    public String shape;

    Backend be;
    Tensor x, w, wBf16, bias, out, cols, w2d, w2dBf16, linOut;
    int c, size;

    @Setup(Level.Trial)
    public void setUp() {
        String[] p = shape.split(":");
        c = Integer.parseInt(p[0]);
        size = Integer.parseInt(p[1]);
        be = Backends.create("vector", threads);
        x = BenchData.gaussian(11, 1, c, size, size);
        w = BenchData.gaussian(12, c, c, 3, 3);
        wBf16 = w.copy(DType.BF16);
        bias = BenchData.gaussian(13, c);
        out = Tensor.allocate(1, c, size, size);
        int pixels = size * size, k = 9 * c;
        cols = BenchData.gaussian(14, pixels, k);
        w2d = w.reshape(c, k);
        w2dBf16 = wBf16.reshape(c, k);
        linOut = Tensor.allocate(pixels, c);
        System.out.println("# " + be.describe());
        System.out.printf(Locale.ROOT, "# conv2d 3x3 %d->%d on %dx%d, GEMM M=%d N=%d K=%d: %.3f GFLOP per call%n", c, c, size, size,
                pixels, c, k, 2.0 * pixels * c * k / 1e9);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        BenchData.closeAll(x, w, wBf16, bias, out, cols, linOut);
        be.close();
    }

    @Benchmark
    public Tensor conv2dF32() {
        be.conv2d(x, w, bias, 1, new int[] {1, 1, 1, 1}, out);
        return out;
    }

    @Benchmark
    public Tensor conv2dBf16() {
        be.conv2d(x, wBf16, bias, 1, new int[] {1, 1, 1, 1}, out);
        return out;
    }

    @Benchmark
    public Tensor linearF32() {
        be.linear(cols, w2d, bias, linOut);
        return linOut;
    }

    @Benchmark
    public Tensor linearBf16() {
        be.linear(cols, w2dBf16, bias, linOut);
        return linOut;
    }
}
