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
 * The main kernels on each backend, on shapes of a small DiT block (the scalar oracle is the baseline).
 * Run: {@code java -jar jmh/target/benchmarks.jar KernelBenchmark}. Forks carry the Vector API and FFM flags.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
public class KernelBenchmark {
    @Param({"scalar", "vector"})
    public String backend;

    @Param({"2"})
    public int threads;

    /** Tokens of the benchmark sequence. */
    @Param({"256"})
    public int tokens;

    static final int HIDDEN = 512, HEADS = 4, HEAD_DIM = 128;

    Backend be;
    Tensor x, w, bias, y, q, k, v, attn, pe, ids, table;

    @Setup(Level.Trial)
    public void setUp() {
        be = Backends.create(backend, threads);
        x = BenchData.gaussian(1, tokens, HIDDEN);
        w = BenchData.gaussian(2, HIDDEN, HIDDEN);
        bias = BenchData.gaussian(3, HIDDEN);
        y = Tensor.allocate(tokens, HIDDEN);
        q = BenchData.gaussian(4, 1, HEADS, tokens, HEAD_DIM);
        k = BenchData.gaussian(5, 1, HEADS, tokens, HEAD_DIM);
        v = BenchData.gaussian(6, 1, HEADS, tokens, HEAD_DIM);
        attn = Tensor.allocate(1, tokens, HEADS * HEAD_DIM);
        pe = BenchData.fluxRopeTable(be, tokens);
        ids = Tensor.allocate(1, tokens, 3);
        for (int t = 0; t < tokens; t++) { // FLUX's image grid, as BenchData.fluxRopeTable
            ids.set(t * 3L + 1, t / BenchData.GRID_WIDTH);
            ids.set(t * 3L + 2, t % BenchData.GRID_WIDTH);
        }
        table = Tensor.allocate(1, 1, tokens, HEAD_DIM / 2, 2, 2);
    }


    @TearDown(Level.Trial)
    public void tearDown() {
        for (Tensor t : new Tensor[] {x, w, bias, y, q, k, v, attn, pe, ids, table}) {
            t.close();
        }
        be.close();
    }

    @Benchmark
    public Tensor linear() {
        be.linear(x, w, bias, y);
        return y;
    }

    @Benchmark
    public Tensor attention() {
        be.attention(q, k, v, attn);
        return attn;
    }

    @Benchmark
    public Tensor applyRope() {
        be.applyRope(q, pe, q);
        return q;
    }

    @Benchmark
    public Tensor silu() {
        be.silu(x, y);
        return y;
    }

    @Benchmark
    public Tensor geluTanh() {
        be.geluTanh(x, y);
        return y;
    }

    /** The FLUX RoPE table of the sequence (axes 16, 56, 56). */
    @Benchmark
    public Tensor ropeTable() {
        be.ropeTable(ids, BenchData.FLUX_AXES, BenchData.FLUX_THETA, table);
        return table;
    }

    @Benchmark
    public Tensor layerNorm() {
        be.layerNorm(x, 1e-6f, y);
        return y;
    }
}
