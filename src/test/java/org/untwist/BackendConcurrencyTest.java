package org.untwist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.OpConformanceTest.Scope;
import org.untwist.backend.Backend;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * Several Java threads call ONE backend instance at once, each on its own inputs and outputs of its own shapes: every
 * output must be bit-identical to what the same backend computed for the same call alone (a backend's results depend
 * only on the inputs and its thread count, not on what runs beside it). The workloads mix every kind of kernel
 * (GEMM and GEMV with F32/BF16 weights, attention, shared attention with a band scale, RoPE, norms, elementwise,
 * AdaIN, attention probabilities), so per-thread and per-call buffers of different sizes are in use together.
 */
class BackendConcurrencyTest {
    static final int CALLERS = 4, ROUNDS = 6;
    static final long SEED = 0xC0_C0_2026L;

    static List<String> backends() {
        return TestSupport.availableBackends();
    }

    /** One caller's work: a fixed list of calls writing into its own outputs. */
    static final class Workload {
        final List<Runnable> calls = new ArrayList<>();
        final List<Tensor> outputs = new ArrayList<>();

        Tensor out(Scope sc, int... shape) {
            Tensor t = sc.zeros(shape);
            outputs.add(t);
            return t;
        }

        void run() {
            calls.forEach(Runnable::run);
        }

        List<float[]> snapshot() {
            return outputs.stream().map(Tensor::toFloatArray).toList();
        }
    }

    /** Caller {@code c}'s workload on {@code be}: shapes differ between callers (and so do the buffers they need). */
    static Workload workload(Backend be, Scope sc, int c) {
        Random r = new Random(SEED + c);
        Workload w = new Workload();
        int rows = new int[] {3, 37, 130, 700}[c], in = new int[] {200, 64, 515, 96}[c], outDim = new int[] {33, 257, 64, 128}[c];
        Tensor x = sc.randn(r, rows, in);
        Tensor wf = sc.weight(r, DType.F32, 0, outDim, in), wb = sc.weight(r, DType.BF16, 2, outDim, in);
        Tensor bias = sc.randn(r, outDim);
        Tensor lin1 = w.out(sc, rows, outDim), lin2 = w.out(sc, rows, outDim);
        w.calls.add(() -> be.linear(x, wf, bias, lin1));
        w.calls.add(() -> be.linear(x, wb, null, lin2));

        int h = 1 + c, lq = new int[] {5, 67, 130, 33}[c], lk = new int[] {67, 9, 200, 130}[c], d = new int[] {128, 64, 18, 256}[c];
        Tensor q = sc.randn(r, 1, h, lq, d), k = sc.randn(r, 1, h, lk, d), v = sc.randn(r, 1, h, lk, d);
        Tensor refK = sc.randn(r, 1, h, 40, d), refV = sc.randn(r, 1, h, 40, d);
        Tensor scale = sc.zeros(d / 2);
        for (int p = 0; p < d / 2; p++) {
            scale.set(p, (float) (0.2 + r.nextDouble()));
        }
        Tensor pe = sc.randn(r, 1, 1, lq, d / 2, 2, 2);
        Tensor qr = w.out(sc, 1, h, lq, d), att = w.out(sc, 1, lq, h * d), shared = w.out(sc, 1, lq, h * d);
        Tensor probs = w.out(sc, 1, h, lq, lk + 37);
        w.calls.add(() -> be.applyRope(q, pe, qr));
        w.calls.add(() -> be.attention(qr, k, v, att));
        w.calls.add(() -> be.sharedAttention(qr, k, v, refK, refV, 3, scale, shared));
        w.calls.add(() -> be.attentionProbs(qr, k, refK, 3, scale, probs));

        Tensor ln = w.out(sc, rows, in), rms = w.out(sc, rows, in), act = w.out(sc, rows, in), sum = w.out(sc, rows, in);
        Tensor gain = sc.randn(r, in);
        w.calls.add(() -> be.layerNorm(x, 1e-6f, ln));
        w.calls.add(() -> be.rmsNorm(x, gain, 1e-6f, rms));
        w.calls.add(() -> be.geluTanh(x, act));
        w.calls.add(() -> be.add(x, act, sum));

        Tensor ada = w.out(sc, 1, h, lk, d);
        w.calls.add(() -> be.adaIn(k, v, 2, 1e-5f, ada));
        return w;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void callersAtOnceGetWhatEachGetsAlone(String name) throws Exception {
        try (Backend be = TestSupport.backend(name, 2); Scope sc = new Scope()) {
            List<Workload> work = new ArrayList<>();
            List<List<float[]>> alone = new ArrayList<>();
            for (int c = 0; c < CALLERS; c++) {
                Workload w = workload(be, sc, c);
                w.run();
                work.add(w);
                alone.add(w.snapshot());
            }
            ExecutorService callers = Executors.newFixedThreadPool(CALLERS);
            try {
                for (int round = 0; round < ROUNDS; round++) {
                    CountDownLatch start = new CountDownLatch(1);
                    List<Future<?>> running = new ArrayList<>();
                    for (Workload w : work) {
                        running.add(callers.submit(() -> {
                            start.await();
                            w.run();
                            return null;
                        }));
                    }
                    start.countDown();
                    for (Future<?> f : running) {
                        f.get();
                    }
                    for (int c = 0; c < CALLERS; c++) {
                        List<float[]> now = work.get(c).snapshot();
                        for (int o = 0; o < now.size(); o++) {
                            assertBitIdentical(name + " caller " + c + " output " + o + " round " + round + " (seed " + (SEED + c) + ")",
                                    alone.get(c).get(o), now.get(o));
                        }
                    }
                }
            } finally {
                callers.shutdownNow();
            }
        }
    }

    static void assertBitIdentical(String what, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                fail(what + ": element " + i + " is " + actual[i] + " with other callers running, " + expected[i] + " alone");
            }
        }
    }
}
