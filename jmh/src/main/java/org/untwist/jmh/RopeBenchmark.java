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
import org.untwist.tensor.Tensor;

/**
 * {@link Backend#applyRope} of {@code x [1, heads, tokens, 128]} with a FLUX table {@code [1, 1, tokens, 64, 2, 2]}
 * into a separate output on the {@code vector} backend: a memory-bound kernel.
 *
 * <p>Effective bytes per call, as RESULTS.md counts them: read x ({@code 4·H·L·Dh}) + read the table once
 * ({@code 16·L·Dh/2 = 8·L·Dh}; it is shared by all heads) + write out ({@code 4·H·L·Dh}). Write-allocate reads of
 * {@code out} and re-reads of the table per head are not counted.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class RopeBenchmark {
    @Param({"1", "2"})
    public int threads;

    @Param({"24"})
    public int heads;

    @Param({"4096"})
    public int tokens;

    Backend be;
    Tensor x, pe, out;

    @Setup(Level.Trial)
    public void setUp() {
        be = Backends.create("vector", threads);
        x = BenchData.gaussian(21, 1, heads, tokens, BenchData.HEAD_DIM);
        pe = BenchData.fluxRopeTable(be, tokens);
        out = Tensor.allocate(1, heads, tokens, BenchData.HEAD_DIM);
        System.out.println("# " + be.describe());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        BenchData.closeAll(x, pe, out);
        be.close();
    }

    @Benchmark
    public Tensor applyRope() {
        be.applyRope(x, pe, out);
        return out;
    }

    /** In place, as {@code FluxModel} calls it on q and k: no write-allocate reads (a rotation, so x stays bounded). */
    @Benchmark
    public Tensor applyRopeInPlace() {
        be.applyRope(x, pe, x);
        return x;
    }
}
