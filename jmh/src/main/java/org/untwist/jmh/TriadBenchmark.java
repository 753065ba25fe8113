package org.untwist.jmh;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
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

/**
 * The memory-bandwidth yardstick of the RoPE rows, measured in the same run: a STREAM triad {@code a = b + s·c} in the
 * Java Vector API over three float arrays of {@code heads·tokens·128} floats each (the size of RoPE's x), split into
 * {@code threads} contiguous parts on as many threads. Bytes counted as STREAM counts them: {@code 3·4·n} (the
 * write-allocate read of {@code a} not counted), so it is comparable with the triad figure of the CPU notes, which
 * the machine's neighbours move from run to run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class TriadBenchmark {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    @Param({"1", "2"})
    public int threads;

    @Param({"24"})
    public int heads;

    @Param({"4096"})
    public int tokens;

    Arena arena;
    MemorySegment a, b, c;
    long n;
    ExecutorService pool;

    @Setup(Level.Trial)
    public void setUp() {
        n = (long) heads * tokens * BenchData.HEAD_DIM;
        arena = Arena.ofShared();
        a = arena.allocate(4 * n, 64);
        b = arena.allocate(4 * n, 64);
        c = arena.allocate(4 * n, 64);
        for (long i = 0; i < n; i++) { // touch every page before timing
            a.setAtIndex(ValueLayout.JAVA_FLOAT, i, 0f);
            b.setAtIndex(ValueLayout.JAVA_FLOAT, i, i % 7);
            c.setAtIndex(ValueLayout.JAVA_FLOAT, i, i % 5);
        }
        pool = Executors.newFixedThreadPool(threads);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.shutdownNow();
        arena.close();
    }

    @Benchmark
    public MemorySegment triad() throws Exception {
        Future<?>[] parts = new Future<?>[threads];
        for (int t = 0; t < threads; t++) {
            long from = n * t / threads / F.length() * F.length();
            long to = t == threads - 1 ? n : n * (t + 1) / threads / F.length() * F.length();
            parts[t] = pool.submit(() -> triad(from, to));
        }
        for (Future<?> p : parts) {
            p.get();
        }
        return a;
    }

    private void triad(long from, long to) {
        FloatVector s = FloatVector.broadcast(F, 3f);
        long i = from;
        for (long bound = from + (to - from) / F.length() * F.length(); i < bound; i += F.length()) {
            FloatVector bv = FloatVector.fromMemorySegment(F, b, 4 * i, LE);
            FloatVector cv = FloatVector.fromMemorySegment(F, c, 4 * i, LE);
            s.fma(cv, bv).intoMemorySegment(a, 4 * i, LE);
        }
        for (; i < to; i++) {
            a.setAtIndex(ValueLayout.JAVA_FLOAT, i,
                    b.getAtIndex(ValueLayout.JAVA_FLOAT, i) + 3f * c.getAtIndex(ValueLayout.JAVA_FLOAT, i));
        }
    }
}
