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
import org.untwist.method.BandScale;
import org.untwist.tensor.Tensor;

/**
 * FLUX-sized attention on the {@code vector} backend: RoPE on q and k ({@link Backend#applyRope}, out of place, with
 * FLUX tables of positions {@code (0, row, col)}) followed by {@link Backend#attention}, timed together; and the same
 * with {@link Backend#sharedAttention} over {@code lr} extra reference keys scaled per RoPE chunk by the method's
 * band scale ({@code s_hf = 0.4, s_lf = 1.0, β = 2}, per-axis mapping).
 *
 * <p>FLOPs per call: {@code 4·H·Lq·Lk·Dh} for attention, {@code 4·H·Lq·(Lk + Lr)·Dh} for shared attention (RoPE not
 * counted). The peer is {@code OrtAttentionBenchmark} (ONNX Runtime, {@code -Ppeers}) on the same data and shape;
 * the scalar oracle runs only in {@link AttentionTinyBenchmark}, it takes minutes on this shape.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 4, time = 2)
@Fork(value = 2, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
public class AttentionBenchmark {
    @Param({"1", "2"})
    public int threads;

    @Param({"24"})
    public int heads;

    @Param({"1024"})
    public int lq;

    @Param({"2048"})
    public int lk;

    /** Reference keys of the shared-attention variant. */
    @Param({"1024"})
    public int lr;

    Backend be;
    Tensor q, k, v, peQ, peK, qr, kr, refK, refV, refScale, out;

    @Setup(Level.Trial)
    public void setUp() {
        be = Backends.create("vector", threads);
        int d = BenchData.HEAD_DIM;
        q = BenchData.gaussian(1, 1, heads, lq, d);
        k = BenchData.gaussian(2, 1, heads, lk, d);
        v = BenchData.gaussian(3, 1, heads, lk, d);
        refK = BenchData.gaussian(4, 1, heads, lr, d);
        refV = BenchData.gaussian(5, 1, heads, lr, d);
        peQ = BenchData.fluxRopeTable(be, lq);
        peK = BenchData.fluxRopeTable(be, lk);
        qr = Tensor.allocate(1, heads, lq, d);
        kr = Tensor.allocate(1, heads, lk, d);
        out = Tensor.allocate(1, lq, heads * d);
        refScale = Tensor.of(BandScale.of(0.4, 1.0, BandScale.DEFAULT_BETA).chunkScales(BenchData.FLUX_AXES), d / 2);
        System.out.println("# " + be.describe());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        BenchData.closeAll(q, k, v, peQ, peK, qr, kr, refK, refV, refScale, out);
        be.close();
    }

    /** RoPE on q and k, then attention: what one FLUX attention layer does after the projections. */
    @Benchmark
    public Tensor ropeAttention() {
        be.applyRope(q, peQ, qr);
        be.applyRope(k, peK, kr);
        be.attention(qr, kr, v, out);
        return out;
    }

    /** RoPE on q and k, then shared attention over the own keys and {@code lr} band-scaled reference keys. */
    @Benchmark
    public Tensor ropeSharedAttention() {
        be.applyRope(q, peQ, qr);
        be.applyRope(k, peK, kr);
        be.sharedAttention(qr, kr, v, refK, refV, 0, refScale, out);
        return out;
    }
}
