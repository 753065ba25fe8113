package org.untwist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.backend.Backend;
import org.untwist.backend.ScalarBackend;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * GGUF's block-quantized weights (Q8_0, Q4_K) on every backend against the scalar oracle, which dequantizes element by
 * element ({@code Tensor.get}): {@code linear} on awkward sizes (rows and outputs around the SIMD widths and the GEMM's
 * tiles, K one to several blocks and past a K block of the GEMM, rank-3 inputs, weights at unaligned byte offsets) with
 * {@link OpConformanceTest}'s tolerance {@code u·|e| + u·√K·‖(x_k·w_k)‖₂}; the dequantization itself exactly (one-hot
 * rows through linear's GEMV and GEMM paths, and {@code embedding}); and every other operation refusing such a tensor in
 * one line that names its type. Seeds (base {@code -Duntwist.seed}) are in every message.
 */
class QuantizedWeightsConformanceTest {
    static final DType[] TYPES = {DType.Q8_0, DType.Q4_K};
    static final int THREADS = 2;
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static List<String> backends() {
        return TestSupport.availableBackends();
    }

    /**
     * A {@code [out, in]} tensor of random valid blocks, {@code offset} bytes into a larger allocation (unaligned):
     * random bytes, with binary16 scales (of both signs for Q8_0; a zero, subnormal and negative one among the Q4_K
     * super-blocks) that make the values about 0.5 in magnitude.
     */
    static Tensor randomBlocks(OpConformanceTest.Scope sc, Random r, DType dt, int offset, int out, int in) {
        long bytes = dt.byteSize((long) out * in);
        Tensor backing = sc.zeros((int) ((bytes + offset) / 4 + 2));
        Tensor w = Tensor.wrap(backing.segment().asSlice(offset, bytes), dt, out, in);
        MemorySegment s = w.segment();
        for (long i = 0; i < bytes; i++) {
            s.set(ValueLayout.JAVA_BYTE, i, (byte) r.nextInt());
        }
        long blocks = bytes / dt.blockBytes();
        for (long b = 0; b < blocks; b++) {
            long at = b * dt.blockBytes();
            if (dt == DType.Q8_0) {
                s.set(HALF, at, Float.floatToFloat16((float) ((r.nextBoolean() ? 1 : -1) * (0.5 + r.nextDouble()) / 128)));
            } else {
                float d = (float) ((0.5 + r.nextDouble()) / (63 * 15)), dmin = (float) ((0.5 + r.nextDouble()) / 63);
                switch ((int) (b % 7)) {
                    case 3 -> d = 0;
                    case 4 -> d = 3e-6f; // a binary16 subnormal
                    case 5 -> {
                        d = -d;
                        dmin = -dmin;
                    }
                    default -> { }
                }
                s.set(HALF, at, Float.floatToFloat16(d));
                s.set(HALF, at + 2, Float.floatToFloat16(dmin));
            }
        }
        return w;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void linearAgainstTheOracle(String name) {
        // {rows, K in blocks, out}: GEMV (rows < 8) and GEMM, tails of every tile, K past the GEMM's K block (256)
        int[][] shapes = {{1, 1, 1}, {1, 3, 257}, {3, 2, 33}, {7, 1, 17}, {8, 5, 9}, {9, 1, 100}, {13, 9, 31}, {37, 4, 130},
                {130, 3, 71}, {250, 2, 530}};
        try (Backend be = OpConformanceTest.create(name, THREADS); ScalarBackend oracle = new ScalarBackend()) {
            for (DType dt : TYPES) {
                for (int i = 0; i < shapes.length; i++) {
                    int[] s = shapes[i];
                    int in = s[1] * dt.blockSize();
                    boolean rank3 = i % 4 == 1 && s[0] % 2 == 0;
                    check(be, oracle, name, rank3 ? new int[] {s[0] / 2, 2, in} : new int[] {s[0], in}, s[2], dt, i % 2 == 0, i % 3);
                }
            }
        }
    }

    private static void check(Backend be, ScalarBackend oracle, String name, int[] xShape, int outDim, DType dt, boolean withBias, int offset) {
        OpConformanceTest.checkLinear(be, oracle, name, "quantized linear", "linear " + dt, xShape, outDim, dt, withBias, offset);
    }

    /**
     * Every dequantized weight exactly as the oracle's: {@code linear} with x one-hot at k gives {@code w[c, k]} (the
     * other products are ±0), through the GEMV path (3 rows) and the GEMM (300 rows, every k of two super-blocks); and
     * {@code embedding} gathers rows bit for bit.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void dequantizesExactlyAsTheOracle(String name) {
        try (Backend be = OpConformanceTest.create(name, THREADS); OpConformanceTest.Scope sc = new OpConformanceTest.Scope()) {
            for (DType dt : TYPES) {
                int vocab = 19, d = 2 * Math.max(dt.blockSize(), 256);
                long seed = OpConformanceTest.seedOf("quantized exact", dt);
                Tensor table = randomBlocks(sc, new Random(seed), dt, 3, vocab, d);
                String ctx = name + " " + dt + " seed=" + seed + " (base -Duntwist.seed=" + OpConformanceTest.SEED + ")";
                int[] ids = {18, 0, 7, 7, 3, 18, 11, 1};
                Tensor rows = sc.zeros(2, ids.length / 2, d);
                be.embedding(table, ids, rows);
                for (int n = 0; n < ids.length; n++) {
                    for (int k = 0; k < d; k++) {
                        float want = table.get((long) ids[n] * d + k), got = rows.get((long) n * d + k);
                        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), ctx + " embedding id " + ids[n] + " column " + k);
                    }
                }
                for (int m : new int[] {3, 300}) {
                    Tensor x = sc.zeros(m, d), out = sc.zeros(m, vocab);
                    for (int i = 0; i < m; i++) {
                        x.set((long) i * d + (i * 7) % d, 1f);
                    }
                    be.linear(x, table, null, out);
                    for (int i = 0; i < m; i++) {
                        for (int c = 0; c < vocab; c++) {
                            float want = table.get((long) c * d + (i * 7) % d), got = out.get((long) i * vocab + c);
                            assertTrue(want == got, ctx + " linear rows " + m + " [" + i + ", " + c + "]: want " + want + ", got " + got);
                        }
                    }
                }
            }
        }
    }

    /** Only linear's weight and embedding's table may be block-quantized: everything else refuses one in one line. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void otherOperationsRefuseBlockQuantizedTensors(String name) {
        try (Backend be = OpConformanceTest.create(name, THREADS); OpConformanceTest.Scope sc = new OpConformanceTest.Scope()) {
            for (DType dt : TYPES) {
                int n = dt.blockSize();
                Tensor q = sc.track(Tensor.allocate(dt, 2, n)), f = sc.zeros(2, n), out = sc.zeros(2, n);
                Tensor row = q.rows(0, 1).reshape(n); // one block, as a norm's scale or a bias would be
                refused(name, dt, "rmsNorm", () -> be.rmsNorm(f, row, 1e-6f, out));
                refused(name, dt, "layerNorm", () -> be.layerNorm(f, row, null, 1e-6f, out));
                refused(name, dt, "add", () -> be.add(q, f, out));
                refused(name, dt, "silu", () -> be.silu(q, out));
                refused(name, dt, "linear", () -> be.linear(f, f, row, sc.zeros(2, 2)));
                refused(name, dt, "conv2d", () -> be.conv2d(sc.zeros(1, 1, 4, 4), sc.track(Tensor.allocate(dt, 1, 1, 1, n)), null, 1,
                        new int[] {0, 0, 0, 0}, sc.zeros(1, 1, 4, 4)));
                refused(name, dt, "permute", () -> be.permute(q, new int[] {1, 0}, sc.zeros(n, 2)));
                refused(name, dt, "concat", () -> be.concat(List.of(q, q), 0, sc.track(Tensor.allocate(dt, 4, n))));
                refused(name, dt, "split", () -> be.split(sc.track(Tensor.allocate(dt, 4, n)), 0, List.of(q, q)));
            }
        }
    }

    private static void refused(String backend, DType dt, String op, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call, backend + " " + op + " took a " + dt + " tensor");
        String msg = e.getMessage();
        assertTrue(msg.startsWith(op + ": ") && msg.contains(dt.name()) && !msg.contains("\n"), backend + " " + op + ": " + msg);
    }
}
