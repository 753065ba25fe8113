package org.untwist.onednn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.backend.ScalarBackend;
import org.untwist.onednn.dnnl.OpenMp;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * The onednn backend's bf16 {@code linear} against the scalar oracle, with the tolerances of {@link Bf16Reference}:
 * awkward sizes (M, N, K off every multiple of 16 and 32, M = 1), every weight type, with and without bias, row chunks
 * and weight panels, sequences of shapes on one instance, several calling threads. Skips, saying why, where the
 * backend cannot run (no {@code libdnnl.so.2}: {@code apt-get install libdnnl2}).
 */
class OnednnBackendTest {
    private static final DType[] WEIGHT_TYPES = {DType.F32, DType.BF16, DType.F16, DType.F8_E4M3, DType.F8_E5M2};
    /** {M, K, N}: 1 row, primes, one past and one short of the kernels' blocks, a FLUX-like width. */
    private static final int[][] SHAPES = {{1, 1, 1}, {1, 37, 5}, {3, 17, 33}, {17, 100, 31}, {33, 65, 47}, {65, 129, 63},
            {130, 300, 257}, {1, 3072, 96}, {64, 64, 64}};

    private static ScalarBackend oracle;
    private static OnednnBackend backend;

    @BeforeAll
    static void available() {
        String why = new OnednnBackendProvider().unavailableReason();
        Assumptions.assumeTrue(why == null, "the onednn backend cannot run here: " + why);
        oracle = new ScalarBackend();
        backend = new OnednnBackend(2);
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
            oracle.close();
        }
    }

    static Stream<Arguments> cases() {
        List<Arguments> all = new ArrayList<>();
        for (DType t : WEIGHT_TYPES) {
            for (int[] s : SHAPES) {
                all.add(Arguments.of(t, s[0], s[1], s[2], (s[0] + s[1]) % 2 == 0));
            }
        }
        return all.stream();
    }

    @ParameterizedTest(name = "{0} {1}x{2}->{3} bias={4}")
    @MethodSource("cases")
    void linearIsTheOracleOnBf16RoundedOperands(DType wt, int m, int k, int n, boolean withBias) {
        try (Tensor x = random(DType.F32, 1, 2f, m, k); Tensor w = random(wt, 2, 1f, n, k);
             Tensor bias = withBias ? random(DType.F32, 3, 0.5f, n) : null; Tensor out = Tensor.allocate(m, n)) {
            backend.linear(x, w, bias, out);
            checkAgainstOracle(x, w, bias, out);
        }
    }

    @Test
    void threeDimensionalActivationsAreRows() {
        try (Tensor x = random(DType.F32, 4, 1f, 2, 7, 40); Tensor w = random(DType.BF16, 5, 1f, 9, 40);
             Tensor out = Tensor.allocate(2, 7, 9)) {
            backend.linear(x, w, null, out);
            checkAgainstOracle(x, w, null, out);
        }
    }

    @Test
    void roundsToBf16RatherThanComputingInFloat32() {
        try (Tensor x = random(DType.F32, 6, 1f, 8, 256); Tensor w = random(DType.F32, 7, 1f, 16, 256);
             Tensor out = Tensor.allocate(8, 16); Tensor exact = Tensor.allocate(8, 16)) {
            backend.linear(x, w, null, out);
            oracle.linear(x, w, null, exact);
            assertTrue(maxDiff(out, exact) > 1e-4, "an f32 result would mean the bf16 GEMM is not used");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("weightTypes")
    void rowChunksAndWeightPanelsCoverEveryRowAndColumn(DType wt) {
        int m = 23, k = 50, n = 41;
        // chunks of 5 rows of x and panels of 7 weight rows: remainders in both loops
        try (OnednnBackend small = new OnednnBackend(2, 5L * 2 * k, 7L * 2 * k);
             Tensor x = random(DType.F32, 8, 1f, m, k); Tensor w = random(wt, 9, 1f, n, k); Tensor bias = random(DType.F32, 10, 1f, n);
             Tensor out = Tensor.allocate(m, n)) {
            small.linear(x, w, bias, out);
            checkAgainstOracle(x, w, bias, out);
        }
    }

    static Stream<DType> weightTypes() {
        return Stream.of(WEIGHT_TYPES);
    }

    @Test
    void aSequenceOfShapesOnOneInstanceRepeatsBitForBitAndKeepsOnePrimitivePerShape() {
        try (OnednnBackend be = new OnednnBackend(2)) {
            List<float[]> first = runSequence(be);
            int kept = be.cachedShapes();
            List<float[]> again = runSequence(be);
            for (int i = 0; i < first.size(); i++) {
                assertArrayEquals(first.get(i), again.get(i), "call " + i);
            }
            assertEquals(SHAPES.length, kept, "one primitive per shape (BF16 weights: no panels, one chunk)");
            assertEquals(kept, be.cachedShapes(), "the second pass made no new primitives");
        }
    }

    @Test
    void severalCallingThreadsGetTheSequentialResults() throws Exception {
        List<float[]> sequential = runSequence(backend);
        ExecutorService callers = Executors.newFixedThreadPool(4);
        try {
            List<Future<List<float[]>>> runs = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                runs.add(callers.submit(() -> runSequence(backend)));
            }
            for (Future<List<float[]>> r : runs) {
                List<float[]> got = r.get();
                for (int i = 0; i < sequential.size(); i++) {
                    assertArrayEquals(sequential.get(i), got.get(i), "call " + i);
                }
            }
        } finally {
            callers.shutdown();
        }
    }

    @Test
    void shapesPastTheCacheAreMadePerCallAndStillRight() {
        try (OnednnBackend be = new OnednnBackend(1)) {
            for (int m = 1; m <= Bf16Matmul.MAX_CACHED + 6; m++) {
                try (Tensor x = random(DType.F32, m, 1f, m, 24); Tensor w = random(DType.BF16, 100 + m, 1f, 10, 24);
                     Tensor out = Tensor.allocate(m, 10)) {
                    be.linear(x, w, null, out);
                    checkAgainstOracle(x, w, null, out);
                }
            }
            assertEquals(Bf16Matmul.MAX_CACHED, be.cachedShapes());
        }
    }

    @Test
    void oneDnnRunsOnTheBackendsThreadCount() {
        try (OnednnBackend one = new OnednnBackend(1); Tensor x = random(DType.F32, 11, 1f, 4, 8);
             Tensor w = random(DType.BF16, 12, 1f, 4, 8); Tensor out = Tensor.allocate(4, 4)) {
            OpenMp.setThreads(3);
            one.linear(x, w, null, out);
            assertEquals(1, OpenMp.maxThreads(), "the calling thread's OpenMP team size is the backend's thread count");
        }
    }

    @Test
    void emptyShapesDoWhatTheOracleDoes() {
        try (Tensor x0 = Tensor.allocate(0, 8); Tensor w = random(DType.BF16, 13, 1f, 5, 8); Tensor out0 = Tensor.allocate(0, 5)) {
            backend.linear(x0, w, null, out0);
        }
        // K = 0: x [3, 0] has no rows (Tensor.rows), so neither backend writes out
        try (Tensor x = Tensor.allocate(3, 0); Tensor w = Tensor.allocate(DType.BF16, 5, 0); Tensor bias = random(DType.F32, 14, 1f, 5);
             Tensor out = Tensor.allocate(3, 5); Tensor ref = Tensor.allocate(3, 5)) {
            out.fill(7f);
            ref.fill(7f);
            backend.linear(x, w, bias, out);
            oracle.linear(x, w, bias, ref);
            assertArrayEquals(ref.toFloatArray(), out.toFloatArray());
        }
    }

    @Test
    void nanAndInfinityPropagateAsInTheOracle() {
        try (Tensor x = random(DType.F32, 15, 1f, 2, 16); Tensor w = random(DType.BF16, 16, 1f, 3, 16); Tensor out = Tensor.allocate(2, 3)) {
            x.set(3, Float.NaN);
            x.set(16 + 5, Float.POSITIVE_INFINITY);
            backend.linear(x, w, null, out);
            for (int j = 0; j < 3; j++) {
                assertTrue(Float.isNaN(out.get(j)), "a NaN in row 0 reaches every output of row 0");
                assertFalse(Float.isFinite(out.get(3 + j)), "an infinity in row 1 reaches every output of row 1");
            }
        }
    }

    @Test
    void aClosedBackendRefusesWorkAndClosesTwice() {
        OnednnBackend be = new OnednnBackend(1);
        be.close();
        be.close();
        try (Tensor x = random(DType.F32, 17, 1f, 2, 8); Tensor w = random(DType.BF16, 18, 1f, 3, 8); Tensor out = Tensor.allocate(2, 3)) {
            assertThrows(IllegalStateException.class, () -> be.linear(x, w, null, out));
        }
    }

    // ---- helpers ---------------------------------------------------------------------------------------------------

    /** Within γ·S of the oracle on bf16-rounded operands, and within the bf16 bound of the exact float32 oracle. */
    private static void checkAgainstOracle(Tensor x, Tensor w, Tensor bias, Tensor out) {
        int k = x.dim(x.rank() - 1);
        try (Tensor xr = Bf16Reference.rounded(x, DType.F32); Tensor wr = Bf16Reference.rounded(w, DType.F32);
             Tensor ref = Tensor.allocate(out.shape()); Tensor exact = Tensor.allocate(out.shape())) {
            oracle.linear(xr, wr, bias, ref);
            double r = Bf16Reference.worstRatio(oracle, xr, wr, bias, out, ref, Bf16Reference.gamma(k));
            assertTrue(r <= 1, "against the oracle on bf16-rounded operands: " + r + " of the float32 summation bound (K = " + k + ")");
            oracle.linear(x, w, bias, exact);
            double e = Bf16Reference.worstRatio(oracle, x, w, bias, out, exact, Bf16Reference.bf16Factor(k));
            assertTrue(e <= 1, "against the exact oracle: " + e + " of the bf16 bound (K = " + k + ")");
        }
    }

    /** Every shape of {@link #SHAPES} once with BF16 weights and a bias; the outputs in order. */
    private static List<float[]> runSequence(OnednnBackend be) {
        List<float[]> outs = new ArrayList<>();
        for (int[] s : SHAPES) {
            try (Tensor x = random(DType.F32, 20 + s[0], 1f, s[0], s[1]); Tensor w = random(DType.BF16, 40 + s[2], 1f, s[2], s[1]);
                 Tensor bias = random(DType.F32, 60 + s[2], 1f, s[2]); Tensor out = Tensor.allocate(s[0], s[2])) {
                be.linear(x, w, bias, out);
                outs.add(out.toFloatArray());
            }
        }
        return outs;
    }

    /** Uniform values in {@code [-scale, scale)} from a seeded generator, stored in {@code type} (so rounded to it). */
    @ParameterizedTest(name = "{0} {1}x{2}->{3}")
    @MethodSource("quantizedCases")
    void ggufBlockWeightsAreDequantizedThenRounded(DType wt, int m, int k, int n) {
        try (Tensor x = random(DType.F32, 11, 2f, m, k); Tensor w = randomBlocks(wt, 12, n, k); Tensor bias = random(DType.F32, 13, 0.5f, n);
             Tensor out = Tensor.allocate(m, n)) {
            backend.linear(x, w, bias, out);
            checkAgainstOracle(x, w, bias, out);
        }
    }

    static Stream<Arguments> quantizedCases() { // K a whole number of blocks: 32 for Q8_0, 256 for Q4_K
        return Stream.of(Arguments.of(DType.Q8_0, 1, 32, 5), Arguments.of(DType.Q8_0, 17, 96, 33), Arguments.of(DType.Q8_0, 65, 512, 63),
                Arguments.of(DType.Q4_K, 1, 256, 3), Arguments.of(DType.Q4_K, 23, 512, 41), Arguments.of(DType.Q4_K, 64, 768, 17));
    }

    /** Random valid GGUF blocks: random codes, binary16 scales (and Q4_K mins) that keep the values near 1. */
    static Tensor randomBlocks(DType type, long seed, int out, int in) {
        SplittableRandom r = new SplittableRandom(seed);
        Tensor t = Tensor.allocate(type, out, in);
        java.lang.foreign.MemorySegment s = t.segment();
        for (long i = 0; i < s.byteSize(); i++) {
            s.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) r.nextInt());
        }
        var half = java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (long at = 0; at < s.byteSize(); at += type.blockBytes()) {
            s.set(half, at, Float.floatToFloat16((float) ((r.nextBoolean() ? 1 : -1) * (0.5 + r.nextDouble()) / (type == DType.Q8_0 ? 128 : 945))));
            if (type == DType.Q4_K) {
                s.set(half, at + 2, Float.floatToFloat16((float) ((0.5 + r.nextDouble()) / 63)));
            }
        }
        return t;
    }

    static Tensor random(DType type, long seed, float scale, int... shape) {
        SplittableRandom r = new SplittableRandom(seed);
        Tensor t = Tensor.allocate(type, shape);
        for (long i = 0; i < t.numel(); i++) {
            t.set(i, (float) ((r.nextDouble() * 2 - 1) * scale));
        }
        return t;
    }

    private static double maxDiff(Tensor a, Tensor b) {
        double m = 0;
        for (long i = 0; i < a.numel(); i++) {
            m = Math.max(m, Math.abs(a.get(i) - b.get(i)));
        }
        return m;
    }
}
