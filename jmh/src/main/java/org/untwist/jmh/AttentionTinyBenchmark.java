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
import org.untwist.tensor.Tensor;

/**
 * RoPE + attention as in {@link AttentionBenchmark}, on a shape small enough for the scalar oracle (which is
 * single-threaded): scalar vs vector. FLOPs per call {@code 4·H·Lq·Lk·Dh}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 4, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class AttentionTinyBenchmark {
    /** Backend and thread count ({@code scalar} always computes with 1 thread). */
    @Param({"scalar/1", "vector/1", "vector/2"})
    public String backend;

    @Param({"4"})
    public int heads;

    @Param({"256"})
    public int lq;

    @Param({"512"})
    public int lk;

    Backend be;
    Tensor q, k, v, peQ, peK, qr, kr, out;

    @Setup(Level.Trial)
    public void setUp() {
        be = BenchData.backend(backend);
        int d = BenchData.HEAD_DIM;
        q = BenchData.gaussian(1, 1, heads, lq, d);
        k = BenchData.gaussian(2, 1, heads, lk, d);
        v = BenchData.gaussian(3, 1, heads, lk, d);
        peQ = BenchData.fluxRopeTable(be, lq);
        peK = BenchData.fluxRopeTable(be, lk);
        qr = Tensor.allocate(1, heads, lq, d);
        kr = Tensor.allocate(1, heads, lk, d);
        out = Tensor.allocate(1, lq, heads * d);
        System.out.println("# " + be.describe());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        BenchData.closeAll(q, k, v, peQ, peK, qr, kr, out);
        be.close();
    }

    @Benchmark
    public Tensor ropeAttention() {
        be.applyRope(q, peQ, qr);
        be.applyRope(k, peK, kr);
        be.attention(qr, kr, v, out);
        return out;
    }
}
