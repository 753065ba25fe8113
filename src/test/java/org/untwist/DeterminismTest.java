package org.untwist;

import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.OpConformanceTest.AttCase;
import org.untwist.OpConformanceTest.Scope;
import org.untwist.backend.Backend;
import org.untwist.flux.FluxModel;
import org.untwist.io.SafeTensors;
import org.untwist.sampling.EulerSampler;
import org.untwist.sampling.FlowMatchSchedule;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * Bit-for-bit reproducibility whatever the JIT tier (issue 14): the same inputs, thread count and machine give the same
 * bits from the first call on.
 *
 * <p>A JVM that has already run other tests holds compiled kernels, so every check runs in a fresh child JVM (same
 * flags, same class path): {@link #main} there creates a fresh backend, makes the first, interpreted call of every
 * operation of {@link Backend} (linear with F32/BF16/F16/F8_E4M3/F8_E5M2/Q8_0/Q4_K weights on the GEMV and the GEMM path, every elementwise,
 * normalization, position, attention, analysis and layout operation, the autoencoder's conv2d with every weight type,
 * stride 2 and 1×1, groupNorm, upsampleNearest2x, affine and permute), then repeats all of them for
 * {@link #rounds} rounds (or {@link #BUDGET_S} seconds), by then through C1 and C2, comparing the raw float bits of
 * every output with the cold call's; then 1 and 3 threads against 2. The whole golden {@code denoise} runs
 * {@link #DENOISE_RUNS} times in another child, every run bit for bit against the first, cold one. Shapes are above
 * the 16 lanes of AVX-512 and off the lane multiples (tails), and some inputs saturate the exponentials. Seeds are in
 * every message ({@code -Duntwist.seed} moves them, as in {@link OpConformanceTest}). The child's command is printed
 * when it fails; {@code -Duntwist.determinism.jvmArgs} adds JVM flags to it.
 */
class DeterminismTest {
    /**
     * Warm rounds of every operation. With {@code -Duntwist.determinism.jvmArgs=-XX:+PrintCompilation} (and
     * {@code -Duntwist.determinism.verbose=true} for the rounds' time stamps) every vector kernel showed its C2 (tier 4)
     * compilation by round ~1300 of 2000, every scalar kernel by round ~170 of 300.
     */
    static int rounds(String backend) {
        return Integer.getInteger("untwist.determinism.rounds", backend.equals("scalar") ? 300 : 2000);
    }

    /** Bound on the warm rounds' time per backend, for slow machines. */
    static final int BUDGET_S = Integer.getInteger("untwist.determinism.budgetSeconds", 25);
    static final int THREADS = 2;
    /** Runs of the golden denoise: a cold one, then warm ones (the second run alone still runs partly before C2). */
    static final int DENOISE_RUNS = 4;

    /** The backends whose results could depend on the JIT tier: the CPU ones (a device backend has no JIT tiers). */
    static List<String> backends() {
        return TestSupport.availableBackends().stream().filter(n -> n.equals("scalar") || n.equals("vector")).toList();
    }

    @ParameterizedTest(name = "{0}", allowZeroInvocations = true) // none with -Duntwist.test.backends=gpu
    @MethodSource("backends")
    void everyOpColdCallEqualsWarmCallsBitForBit(String name) throws Exception {
        runChild("ops", name);
    }

    @Test
    void denoiseRepeatedInOneJvmIsBitIdentical() throws Exception {
        Assumptions.assumeTrue(TestSupport.availableBackends().contains("vector"), "the vector backend is not selected here");
        runChild("denoise", "vector");
    }

    // ---- the child JVM ---------------------------------------------------------------------------------------

    /** Runs {@link #main} with {@code args} in a fresh JVM with this JVM's flags; fails with its report unless it exits 0. */
    private static void runChild(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!a.startsWith("-agentlib") && !a.startsWith("-javaagent") && !a.startsWith("-agentpath") && !a.startsWith("-D")) {
                cmd.add(a);
            }
        }
        for (Map.Entry<Object, Object> p : System.getProperties().entrySet()) {
            if (p.getKey().toString().startsWith("untwist.")) {
                cmd.add("-D" + p.getKey() + "=" + p.getValue());
            }
        }
        if (System.getProperty("untwist.golden") == null) {
            cmd.add("-Duntwist.golden=" + TestSupport.goldenRoot());
        }
        String extra = System.getProperty("untwist.determinism.jvmArgs", ""); // e.g. -XX:+PrintCompilation, to check the tiers
        if (!extra.isBlank()) {
            cmd.addAll(List.of(extra.trim().split("\\s+")));
        }
        String cp = System.getProperty("surefire.test.class.path");
        cmd.add("-cp");
        cmd.add(cp != null && !cp.isBlank() ? cp : System.getProperty("java.class.path"));
        cmd.add(DeterminismTest.class.getName());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        StringBuilder out = new StringBuilder();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                System.out.println("DeterminismTest child: " + line);
                out.append(line).append('\n');
            }
        }
        if (!p.waitFor(10, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            fail("child JVM " + String.join(" ", args) + " did not finish");
        }
        if (p.exitValue() != 0) {
            System.out.println("DeterminismTest: to rerun the child: " + String.join(" ", cmd));
            fail("child JVM " + String.join(" ", args) + " exited with " + p.exitValue() + ":\n" + out);
        }
    }

    /** {@code ops <backend>} or {@code denoise <backend>}; exits 1 when some output differs from the first call's. */
    public static void main(String[] args) throws Exception {
        boolean ok = switch (args[0]) {
            case "ops" -> ops(args[1]);
            case "denoise" -> denoise(args[1]);
            default -> throw new IllegalArgumentException(args[0]);
        };
        System.out.flush();
        System.exit(ok ? 0 : 1);
    }

    /** One operation on fixed inputs, writing into its output tensors (several for the splits). */
    record Probe(String op, List<int[]> outShapes, BiConsumer<Backend, Tensor[]> run) {
        Probe(String op, int[] outShape, BiConsumer<Backend, Tensor> run1) {
            this(op, List.<int[]>of(outShape), (b, o) -> run1.accept(b, o[0]));
        }
    }

    /** Per probe: the cold call's bits, and the first warm call that differs. */
    static final class Record {
        final Probe probe;
        final Tensor[] outs;
        int[][] cold, last;
        int differing;
        String first;
        long nanos;

        Record(Probe probe, Scope sc) {
            this.probe = probe;
            this.outs = probe.outShapes().stream().map(sc::zeros).toArray(Tensor[]::new);
        }

        /** Runs the probe on outputs pre-filled with a NaN pattern (so unwritten elements show); its bits. */
        int[][] call(Backend be) {
            for (Tensor t : outs) {
                t.fill(Float.intBitsToFloat(0x7FC0_DEAD));
            }
            probe.run().accept(be, outs);
            int[][] bits = new int[outs.length][];
            for (int k = 0; k < outs.length; k++) {
                float[] f = outs[k].toFloatArray();
                bits[k] = new int[f.length];
                for (int i = 0; i < f.length; i++) {
                    bits[k][i] = Float.floatToRawIntBits(f[i]);
                }
            }
            return bits;
        }

        /** Counts {@code got} as differing from {@code ref} if some bit does; the first difference is described. */
        void compare(int[][] ref, int[][] got, String refName, String gotName) {
            String d = firstDifference(ref, got, refName, gotName);
            if (d != null && differing++ == 0) {
                first = d;
            }
        }
    }

    /** The first element whose bits differ, both values named, or null. */
    static String firstDifference(int[][] ref, int[][] got, String refName, String gotName) {
        for (int k = 0; k < got.length; k++) {
            for (int i = 0; i < got[k].length; i++) {
                if (got[k][i] != ref[k][i]) {
                    return String.format(Locale.ROOT, "output %d element %d: %s %s (0x%08X), %s %s (0x%08X)", k, i, refName,
                            Float.intBitsToFloat(ref[k][i]), ref[k][i], gotName, Float.intBitsToFloat(got[k][i]), got[k][i]);
                }
            }
        }
        return null;
    }

    static boolean ops(String name) {
        long seed = OpConformanceTest.seedOf("determinism");
        System.out.println(name + ": inputs from seed " + seed + " (base -Duntwist.seed=" + OpConformanceTest.SEED + ")");
        try (Scope sc = new Scope(); Backend be = TestSupport.backend(name, THREADS)) {
            List<Record> records = probes(sc, new Random(seed)).stream().map(p -> new Record(p, sc)).toList();
            for (Record r : records) { // every kernel's first call, interpreted
                r.cold = r.call(be);
            }
            long start = System.nanoTime(), deadline = start + BUDGET_S * 1_000_000_000L;
            int round = 0;
            boolean verbose = Boolean.getBoolean("untwist.determinism.verbose");
            int rounds = rounds(name);
            for (; round < rounds && System.nanoTime() < deadline; round++) {
                if (verbose && Integer.bitCount(round) == 1) { // to place -XX:+PrintCompilation's time stamps
                    System.out.println("warm round " + round + " at JVM uptime " + ManagementFactory.getRuntimeMXBean().getUptime() + " ms");
                }
                for (Record r : records) {
                    long t0 = System.nanoTime();
                    int[][] bits = r.call(be);
                    r.nanos += System.nanoTime() - t0;
                    r.compare(r.cold, bits, "cold", "warm call " + (round + 1));
                    r.last = bits;
                }
            }
            System.out.printf(Locale.ROOT, "%s: %d ops, cold call vs %d warm rounds in %.1f s%n", name, records.size(), round,
                    (System.nanoTime() - start) / 1e9);
            System.out.println(name + ": slowest ops (warm rounds, s): " + records.stream()
                    .sorted((x, y) -> Long.compare(y.nanos, x.nanos)).limit(6)
                    .map(x -> String.format(Locale.ROOT, "%s %.2f", x.probe.op(), x.nanos / 1e9)).toList());
            boolean ok = true;
            for (Record r : records) {
                if (r.differing > 0) {
                    ok = false;
                    System.out.printf(Locale.ROOT, "MISMATCH %s/%s (seed %d): %d of %d warm calls differ from the cold call; first: %s%n",
                            name, r.probe.op(), seed, r.differing, round, r.first);
                }
            }
            if (be.threads() > 1) { // the same bits with other thread counts (other task groupings), all compiled by now
                for (int threads : new int[] {1, 3}) {
                    try (Backend other = TestSupport.backend(name, threads)) {
                        for (Record r : records) {
                            String d = firstDifference(r.last, r.call(other), THREADS + " threads", threads + " threads");
                            if (d != null) {
                                ok = false;
                                System.out.printf(Locale.ROOT, "MISMATCH %s/%s (seed %d): %s%n", name, r.probe.op(), seed, d);
                            }
                        }
                    }
                }
                System.out.println(name + ": compared with 1 and 3 threads");
            }
            System.out.println(ok ? name + ": every warm call is bit-identical to the cold call" : name + ": NOT deterministic");
            return ok;
        }
    }

    /** Every operation of {@link Backend} on inputs from {@code r}. */
    static List<Probe> probes(Scope sc, Random r) {
        List<Probe> probes = new ArrayList<>();
        // linear: GEMV (3 rows) and GEMM (37 rows, K over one 256 block), every weight type at an unaligned address
        Tensor xv = sc.randn(r, 3, 207), xg = sc.randn(r, 37, 300);
        for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16, DType.F8_E4M3, DType.F8_E5M2}) {
            Tensor wv = sc.weight(r, dt, 2, 33, 207), bv = sc.randn(r, 33);
            probes.add(new Probe("linear GEMV " + dt, new int[] {3, 33}, (b, o) -> b.linear(xv, wv, bv, o)));
            Tensor wg = sc.weight(r, dt, 6, 40, 300), bg = sc.randn(r, 40);
            probes.add(new Probe("linear GEMM " + dt, new int[] {37, 40}, (b, o) -> b.linear(xg, wg, bg, o)));
        }
        // GGUF's block-quantized weights: K of whole blocks (Q8_0: 224 = 7 blocks; Q4_K: 512 = 2 super-blocks, past a K block)
        for (DType dt : QuantizedWeightsConformanceTest.TYPES) {
            int k = dt == DType.Q8_0 ? 224 : 512;
            Tensor xq = sc.randn(r, 3, k), xqg = sc.randn(r, 37, k);
            Tensor wq = QuantizedWeightsConformanceTest.randomBlocks(sc, r, dt, 3, 33, k), bq = sc.randn(r, 33);
            probes.add(new Probe("linear GEMV " + dt, new int[] {3, 33}, (b, o) -> b.linear(xq, wq, bq, o)));
            probes.add(new Probe("linear GEMM " + dt, new int[] {37, 33}, (b, o) -> b.linear(xqg, wq, bq, o)));
        }
        Tensor wNoBias = sc.weight(r, DType.BF16, 0, 9, 207);
        probes.add(new Probe("linear GEMV BF16 no bias", new int[] {3, 9}, (b, o) -> b.linear(xv, wNoBias, null, o)));
        // elementwise: a wide spread of arguments with saturating ones; one size split into chunks
        Tensor a = wide(sc, r, 3 * 207), a2 = sc.normal(r, 3, 0, 3 * 207), big = wide(sc, r, 70_001);
        probes.add(new Probe("add", a.shape(), (b, o) -> b.add(a, a2, o)));
        probes.add(new Probe("silu", a.shape(), (b, o) -> b.silu(a, o)));
        probes.add(new Probe("geluTanh", a.shape(), (b, o) -> b.geluTanh(a, o)));
        probes.add(new Probe("silu chunked", big.shape(), (b, o) -> b.silu(big, o)));
        probes.add(new Probe("geluTanh chunked", big.shape(), (b, o) -> b.geluTanh(big, o)));
        probes.add(new Probe("multiply", a.shape(), (b, o) -> b.multiply(a, a2, o)));
        probes.add(new Probe("quickGelu", a.shape(), (b, o) -> b.quickGelu(a, o)));
        probes.add(new Probe("quickGelu chunked", big.shape(), (b, o) -> b.quickGelu(big, o)));
        Tensor x = sc.normal(r, 2, 0.5, 5, 207), rmsScale = sc.normal(r, 1, 1, 207);
        probes.add(new Probe("layerNorm", x.shape(), (b, o) -> b.layerNorm(x, 1e-6f, o)));
        probes.add(new Probe("rmsNorm", x.shape(), (b, o) -> b.rmsNorm(x, rmsScale, 1e-6f, o)));
        Tensor lnBias = sc.randn(r, 207);
        probes.add(new Probe("layerNorm affine", x.shape(), (b, o) -> b.layerNorm(x, rmsScale, lnBias, 1e-5f, o)));
        int[] tokenIds = {0, 5, 32, 5, 1, 32, 17};
        for (DType dt : new DType[] {DType.BF16, DType.F8_E4M3, DType.F8_E5M2}) {
            Tensor table = sc.weight(r, dt, 1, 33, 207);
            probes.add(new Probe("embedding " + dt, new int[] {7, 207}, (b, o) -> b.embedding(table, tokenIds, o)));
        }
        Tensor act = sc.randn(r, 2, 3, 207), shift = sc.randn(r, 2, 207), scale = sc.randn(r, 2, 207);
        probes.add(new Probe("modulate", act.shape(), (b, o) -> b.modulate(act, shift, scale, o)));
        Tensor y = sc.randn(r, 2, 3, 207);
        probes.add(new Probe("gatedResidual", act.shape(), (b, o) -> b.gatedResidual(act, scale, y, o)));
        // positions: integer grid positions up to a few hundred and fractional / negative ones
        Tensor ids = sc.zeros(2, 67, 3);
        for (long i = 0; i < ids.numel(); i++) {
            ids.set(i, i % 5 == 4 ? (float) (r.nextDouble() * 700 - 200) : r.nextInt(300));
        }
        probes.add(new Probe("ropeTable", new int[] {2, 1, 67, 64, 2, 2}, (b, o) -> b.ropeTable(ids, new int[] {16, 56, 56}, 10_000, o)));
        Tensor ids2 = sc.zeros(1, 67, 2);
        for (long i = 0; i < ids2.numel(); i++) {
            ids2.set(i, (float) (r.nextDouble() * 400 - 100));
        }
        probes.add(new Probe("ropeTable axes 6+30", new int[] {1, 1, 67, 18, 2, 2}, (b, o) -> b.ropeTable(ids2, new int[] {6, 30}, 2.5, o)));
        Tensor rx = sc.randn(r, 2, 2, 67, 64), rpe = sc.randn(r, 1, 1, 67, 32, 2, 2);
        probes.add(new Probe("applyRope", rx.shape(), (b, o) -> b.applyRope(rx, rpe, o)));
        Tensor rx18 = sc.randn(r, 1, 3, 20, 18), rpe18 = sc.randn(r, 1, 1, 20, 9, 2, 2);
        probes.add(new Probe("applyRope Dh 18", rx18.shape(), (b, o) -> b.applyRope(rx18, rpe18, o)));
        Tensor t = sc.track(Tensor.of(new float[] {1f, 0.37f, 1e-3f}, 3));
        probes.add(new Probe("timestepEmbedding", new int[] {3, 256}, (b, o) -> b.timestepEmbedding(t, 1000f, 10_000, o)));
        probes.add(new Probe("timestepEmbedding odd", new int[] {3, 207}, (b, o) -> b.timestepEmbedding(t, 1f, 10_000, o)));
        // attention: own keys; shared with and without the band scale, after text tokens; Dh 18 for the tails
        // own keys scaled by a ramp, so that the running maximum grows in most key blocks (rescaling every time)
        AttCase plain = OpConformanceTest.attCase(sc, r, 1, 2, 40, 200, 64, 2, -1, 1, false);
        for (long i = 0; i < plain.k().numel(); i++) {
            plain.k().set(i, plain.k().get(i) * (0.25f + 1.5f * (i / 64 % 200) / 200f));
        }
        probes.add(new Probe("attention", new int[] {1, 40, 128}, plain::run));
        AttCase plain18 = OpConformanceTest.attCase(sc, r, 2, 1, 33, 40, 18, 2, -1, 1, false);
        probes.add(new Probe("attention Dh 18", new int[] {2, 33, 18}, plain18::run));
        AttCase shared = OpConformanceTest.attCase(sc, r, 1, 2, 17, 67, 64, 2, 33, 5, 1, true);
        probes.add(new Probe("sharedAttention band scale", new int[] {1, 17, 128}, shared::run));
        AttCase unscaled = new AttCase(shared.q(), shared.k(), shared.v(), shared.refK(), shared.refV(), shared.refStart(), null);
        probes.add(new Probe("sharedAttention no scale", new int[] {1, 17, 128}, unscaled::run));
        probes.add(new Probe("attentionProbs shared", new int[] {1, 2, 17, 67 + 33}, shared::probs));
        probes.add(new Probe("attentionProbs own keys", new int[] {1, 2, 40, 200}, plain::probs));
        // the text encoders' attention: T5's position bias (Lq ≠ Lk), CLIP's causal mask (77 tokens), both
        Tensor posBias = sc.normal(r, 3, 0, 40 + 200 - 1, 2);
        probes.add(new Probe("attention position bias", new int[] {1, 40, 128},
                (b, o) -> b.attention(plain.q(), plain.k(), plain.v(), 1f, posBias, false, o)));
        AttCase clip = OpConformanceTest.attCase(sc, r, 1, 2, 77, 77, 64, 2, -1, 1, false);
        Tensor clipBias = sc.normal(r, 3, 0, 77 + 77 - 1, 2);
        probes.add(new Probe("attention causal", new int[] {1, 77, 128}, (b, o) -> b.attention(clip.q(), clip.k(), clip.v(), 0.125f, null, true, o)));
        probes.add(new Probe("attention causal + bias", new int[] {1, 77, 128},
                (b, o) -> b.attention(clip.q(), clip.k(), clip.v(), 1f, clipBias, true, o)));
        // chunkLogits: per chunk (identity), masked (3 bands), summed per band (16 bands)
        int[] identity = new int[32], halves = new int[32];
        for (int p = 0; p < 32; p++) {
            identity[p] = p;
            halves[p] = p / 2;
        }
        Tensor q5 = sc.normal(r, 2, 0, 1, 2, 5, 64);
        Tensor k = plain.k();
        probes.add(new Probe("chunkLogits per chunk", new int[] {1, 2, 5, 200, 32}, (b, o) -> b.chunkLogits(q5, k, identity, 32, o)));
        probes.add(new Probe("chunkLogits 3 bands", new int[] {1, 2, 5, 200, 3}, (b, o) -> b.chunkLogits(q5, k, OpConformanceTest.thirds(32), 3, o)));
        probes.add(new Probe("chunkLogits 16 bands", new int[] {1, 2, 5, 200, 16}, (b, o) -> b.chunkLogits(q5, k, halves, 16, o)));
        // adaIn (text tokens first), Dh 64 and 18
        probes.add(new Probe("adaIn", shared.k().shape(), (b, o) -> b.adaIn(shared.k(), shared.refK(), 5, 1e-5f, o)));
        Tensor ax = sc.randn(r, 2, 1, 30, 18), aref = sc.randn(r, 1, 1, 30, 18);
        probes.add(new Probe("adaIn Dh 18", ax.shape(), (b, o) -> b.adaIn(ax, aref, 3, 1e-5f, o)));
        // the autoencoder's ops: 3×3 convs (pad 1, and stride 2 with padding {0,1,0,1}) over more than one row task and K
        // block, a 1×1 conv, every weight type; groupNorm with more than one statistics block; upsample; affine; permute
        Tensor img = sc.randn(r, 1, 29, 31, 25), small = sc.randn(r, 2, 29, 9, 7);
        for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16, DType.F8_E4M3, DType.F8_E5M2}) {
            int co = dt == DType.F32 ? 5 : 17; // few output channels on the large image (the scalar oracle's time)
            Tensor cw = sc.track(Tensor.wrap(sc.weight(r, dt, 2, co, 29 * 9).segment(), dt, co, 29, 3, 3)), cb = sc.randn(r, co);
            Tensor in = dt == DType.F32 ? img : small; // the large one: two row tasks (775 pixels) and two K blocks (K = 261)
            probes.add(new Probe("conv2d 3x3 " + dt, new int[] {in.dim(0), co, in.dim(2), in.dim(3)},
                    (b, o) -> b.conv2d(in, cw, cb, 1, new int[] {1, 1, 1, 1}, o)));
            if (dt == DType.BF16) {
                probes.add(new Probe("conv2d 3x3 stride 2 " + dt, new int[] {1, 17, 15, 12},
                        (b, o) -> b.conv2d(img, cw, null, 2, new int[] {0, 1, 0, 1}, o)));
            }
        }
        Tensor pw = sc.track(Tensor.wrap(sc.weight(r, DType.F32, 0, 17, 29).segment(), DType.F32, 17, 29, 1, 1));
        probes.add(new Probe("conv2d 1x1", new int[] {1, 17, 31, 25}, (b, o) -> b.conv2d(img, pw, null, 1, new int[] {0, 0, 0, 0}, o)));
        Tensor gx = sc.normal(r, 2, 3, 2, 64, 41, 9), gw = sc.normal(r, 1, 1, 64), gb = sc.randn(r, 64);
        probes.add(new Probe("groupNorm", gx.shape(), (b, o) -> b.groupNorm(gx, 32, gw, gb, 1e-6f, o)));
        probes.add(new Probe("groupNorm 4 groups", gx.shape(), (b, o) -> b.groupNorm(gx, 4, gw, gb, 1e-6f, o)));
        probes.add(new Probe("upsampleNearest2x", new int[] {1, 29, 62, 50}, (b, o) -> b.upsampleNearest2x(img, o)));
        probes.add(new Probe("affine", big.shape(), (b, o) -> b.affine(big, 1 / 0.3611f, 0.1159f, o)));
        Tensor packed = sc.randn(r, 1, 16, 5, 2, 7, 2);
        probes.add(new Probe("permute latent packing", new int[] {1, 5, 7, 16, 2, 2}, (b, o) -> b.permute(packed, new int[] {0, 2, 4, 1, 3, 5}, o)));
        // layout
        Tensor qkv = sc.randn(r, 2, 5, 3 * 2 * 17);
        probes.add(new Probe("splitQkv", List.of(new int[] {2, 2, 9, 17}, new int[] {2, 2, 9, 17}, new int[] {2, 2, 9, 17}),
                (b, o) -> b.splitQkv(qkv, o[0], o[1], o[2], 4)));
        Tensor p0 = sc.randn(r, 3, 2, 5), p1 = sc.randn(r, 3, 4, 5);
        probes.add(new Probe("concat", new int[] {3, 6, 5}, (b, o) -> b.concat(List.of(p0, p1), 1, o)));
        Tensor whole = sc.randn(r, 3, 6, 5);
        probes.add(new Probe("split", List.of(new int[] {3, 1, 5}, new int[] {3, 5, 5}), (b, o) -> b.split(whole, 1, List.of(o))));
        return probes;
    }

    /** {@code n} values: mostly N(0, 3²), some from ±[0, 120) and saturating ones (±1000, ±3e38, ±0, tiny). */
    static Tensor wide(Scope sc, Random r, int n) {
        float[] special = {-1000f, 1000f, -3e38f, 3e38f, -0f, 0f, 1e-30f, -1e-30f, -87.5f, 88.5f, -104f, 89f};
        Tensor t = sc.zeros(n);
        for (int i = 0; i < n; i++) {
            t.set(i, i % 97 == 11 ? special[(i / 97) % special.length]
                    : i % 7 == 3 ? (float) (240 * r.nextDouble() - 120) : (float) (3 * r.nextGaussian()));
        }
        return t;
    }

    /** The golden {@code denoise} {@link #DENOISE_RUNS} times on a fresh backend, the first run cold; the images bit for bit. */
    static boolean denoise(String name) throws Exception {
        JsonNode ref = new ObjectMapper().readTree(TestSupport.tinyFlux().resolve("schedule.json").toFile());
        float[] schedule = FlowMatchSchedule.timesteps(ref.get("num_steps").asInt(), ref.get("image_seq_len").asInt(), true);
        float guidance = (float) ref.get("guidance").asDouble();
        try (SafeTensors inputs = SafeTensors.open(TestSupport.tinyFlux().resolve("inputs.safetensors"));
             Backend be = TestSupport.backend(name, THREADS);
             FluxModel model = FluxModel.load(TestSupport.tinyFlux(), be)) {
            float[] first = null;
            int runs = Integer.getInteger("untwist.determinism.denoiseRuns", DENOISE_RUNS);
            boolean ok = true;
            for (int run = 0; run < runs; run++) {
                long start = System.nanoTime();
                float[] img;
                try (Tensor out = EulerSampler.denoise(model, GoldenConformanceTest.inputsOf(inputs), schedule, guidance, null)) {
                    img = out.toFloatArray();
                }
                System.out.printf(Locale.ROOT, "%s: denoise run %d (%d steps) in %.2f s%n", name, run + 1, schedule.length - 1,
                        (System.nanoTime() - start) / 1e9);
                if (first == null) {
                    first = img;
                    continue;
                }
                for (int i = 0; i < img.length; i++) {
                    if (Float.floatToRawIntBits(img[i]) != Float.floatToRawIntBits(first[i])) {
                        System.out.printf(Locale.ROOT, "MISMATCH %s/denoise: run %d differs from the first (cold) run at element %d of %d:"
                                + " %s vs %s%n", name, run + 1, i, img.length, first[i], img[i]);
                        ok = false;
                        break;
                    }
                }
            }
            System.out.println(ok ? name + ": every denoise run is bit-identical to the first" : name + ": denoise NOT deterministic");
            return ok;
        }
    }
}
