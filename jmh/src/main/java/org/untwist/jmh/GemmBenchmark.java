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
import org.openjdk.jmh.infra.BenchmarkParams;
import org.untwist.backend.Backend;
import org.untwist.backend.Backends;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * {@link Backend#linear} without bias, {@code out[M, N] = x[M, K] · w[N, K]ᵀ} ({@code shape} = MxNxK), on the
 * {@code vector} backend with float32 and BF16 weights, and the peer OpenBLAS {@code cblas_sgemm} (row-major,
 * {@code C = A·Bᵀ}, float32) through FFM on the same data in the same run. FLOPs per call {@code 2·M·N·K}.
 *
 * <p>OpenBLAS runs with {@code openblas_set_num_threads(threads)}; the fork's log prints the kernel it selected
 * ({@code openblas_get_corename}). Without the library the {@code openblasSgemm} benchmark fails in its setup with a
 * message saying so, and the others run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 4, time = 2)
@Fork(value = 2, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
public class GemmBenchmark {
    @Param({"1", "2"})
    public int threads;

    /**
     * {@code MxNxK}. The default run times 2048³; FLUX's linears (rows 1,280 at 512² and 4,608 at 1024²; N×K of
     * qkv 9216×3072, proj 3072×3072, MLP 12288×3072 and 3072×12288, single-block 21504×3072 and 3072×15360) go in
     * with {@code -p shape=...} ({@code SUITE=gemm-shapes jmh/run-benchmarks.sh}).
     */
    @Param({"2048x2048x2048"})
    public String shape;

    int m, n, k;

    Backend be;
    Tensor x, w, wBf16, out;

    @Setup(Level.Trial)
    public void setUp() {
        String[] mnk = shape.split("x");
        if (mnk.length != 3) {
            throw new IllegalArgumentException("shape must be MxNxK, got " + shape);
        }
        m = Integer.parseInt(mnk[0]);
        n = Integer.parseInt(mnk[1]);
        k = Integer.parseInt(mnk[2]);
        be = Backends.create("vector", threads);
        x = BenchData.gaussian(11, m, k);
        w = BenchData.gaussian(12, n, k);
        wBf16 = w.copy(DType.BF16);
        out = Tensor.allocate(m, n);
        System.out.println("# " + be.describe());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        BenchData.closeAll(x, w, wBf16, out);
        be.close();
    }

    @Benchmark
    public Tensor linearF32() {
        be.linear(x, w, null, out);
        return out;
    }

    @Benchmark
    public Tensor linearBf16() {
        be.linear(x, wBf16, null, out);
        return out;
    }

    @Benchmark
    public Tensor openblasSgemm(Blas blas) {
        blas.lib.sgemmABt(m, n, k, x.segment(), w.segment(), out.segment());
        return out;
    }

    /** OpenBLAS, loaded only by the benchmark that uses it; checks layout and thread count before timing. */
    @State(Scope.Benchmark)
    public static class Blas {
        OpenBlas lib;

        @Setup(Level.Trial)
        public void setUp(BenchmarkParams params) {
            lib = OpenBlas.load();
            int t = Integer.parseInt(params.getParam("threads"));
            lib.setThreads(t);
            System.out.println("# OpenBLAS " + lib.path() + ": core " + lib.coreName() + ", threads " + lib.threads() + ", config "
                    + lib.config());
            if (lib.threads() != t) {
                throw new IllegalStateException("OpenBLAS runs " + lib.threads() + " threads, asked for " + t
                        + " (is OPENBLAS_NUM_THREADS below " + t + "?)");
            }
            checkAgainstUntwist();
        }

        /** C = A·Bᵀ on a small odd shape must agree with the scalar backend's linear: same layout, same math. */
        private void checkAgainstUntwist() {
            int m = 37, n = 29, k = 53;
            try (Backend scalar = Backends.create("scalar", 1);
                 Tensor a = BenchData.gaussian(1, m, k); Tensor b = BenchData.gaussian(2, n, k);
                 Tensor c = Tensor.allocate(m, n); Tensor ref = Tensor.allocate(m, n)) {
                lib.sgemmABt(m, n, k, a.segment(), b.segment(), c.segment());
                scalar.linear(a, b, null, ref);
                double diff = BenchData.maxAbsDiff(c, ref);
                if (!(diff < 1e-3 * Math.max(1, BenchData.maxAbs(ref)))) {
                    throw new IllegalStateException("cblas_sgemm disagrees with Backend.linear: max |diff| " + diff);
                }
                System.out.println("# cblas_sgemm(A·Bᵀ) agrees with scalar linear on 37×29×53: max |diff| " + diff);
            }
        }
    }
}
