package org.untwist.gpubench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.untwist.backend.Backend;
import org.untwist.backend.OpProfile;
import org.untwist.backend.ProfilingBackend;
import org.untwist.backend.StreamClock;
import org.untwist.flux.FluxConfig;
import org.untwist.flux.FluxInputs;
import org.untwist.flux.FluxModel;
import org.untwist.flux.FluxWeightSource;
import org.untwist.gpu.GpuBackend;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * The GPU benchmark: shared attention and joint attention (bf16 tensor cores and exact float32), RoPE, one
 * bf16 GEMM and the FLUX.1-dev-shaped forward pass with random bf16 weights generated on the device. Writes
 * one tab-separated line per measurement ({@code name, median ms, detail}) to the file given as the first
 * argument; {@code kernels/bench/torch_peer.py} runs PyTorch on the same shapes and makes the table.
 * Timings: medians after warm-ups, each one ending with a stream synchronize.
 */
public final class GpuBenchmark {
    private static final int H = 24, D = 128, LT = 512, LI = 4096, L = LT + LI;

    private GpuBenchmark() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 1) {
            System.err.println("usage: GpuBenchmark RESULTS.tsv [attention|rope|gemm|ops|flux|profile|survey]...");
            System.exit(2);
        }
        Path file = Path.of(args[0]);
        List<String> only = Arrays.asList(args).subList(1, args.length);
        List<String> lines = new ArrayList<>();
        try (GpuBackend be = new GpuBackend(GpuBackend.Precision.BF16, false)) {
            lines.add(row("device", 0, be.describe() + "; java " + Runtime.version()));
            if (only.contains("survey")) {
                survey(be, lines);
            }
            if (only.isEmpty() || only.contains("attention")) {
                attention(be, lines);
            }
            if (only.isEmpty() || only.contains("rope")) {
                rope(be, lines);
            }
            if (only.isEmpty() || only.contains("gemm")) {
                gemm(be, lines);
            }
            if (only.isEmpty() || only.contains("ops")) {
                ops(be, lines);
            }
            if (only.isEmpty() || only.contains("flux")) {
                flux(be, lines, 1, "");
                flux(be, lines, 2, "");
                // The same forward with float32 activations between operations (-Duntwist.gpu.bf16Activations=false), for the
                // gain of the default's bf16 ones, and with cuBLASLt's algorithms chosen by timing (-Duntwist.gpu.gemmAutotune=true)
                try (GpuBackend f32Activations = new GpuBackend(GpuBackend.Precision.BF16, false, true, false)) {
                    flux(f32Activations, lines, 1, "_f32_activations");
                }
                try (GpuBackend tuned = new GpuBackend(GpuBackend.Precision.BF16, false, true, true)) {
                    tuned.diagnostics().gemmAutotune(true);
                    flux(tuned, lines, 1, "_autotuned");
                }
            }
            if (only.contains("profile")) {
                profile(be, file.resolveSibling("forward-profile.md"));
            }
        }
        Files.write(file, lines);
    }

    private static String row(String name, double ms, String detail) {
        String line = name + "\t" + String.format(Locale.ROOT, "%.4f", ms) + "\t" + detail;
        System.out.println(line);
        return line;
    }

    private interface Op {
        void run();
    }

    /** Median milliseconds of {@code samples} timings of {@code reps} calls each, after {@code warm} calls. */
    private static double time(GpuBackend be, int warm, int samples, int reps, Op op) {
        for (int i = 0; i < warm; i++) {
            op.run();
        }
        be.synchronize();
        double[] t = new double[samples];
        for (int s = 0; s < samples; s++) {
            long t0 = System.nanoTime();
            for (int r = 0; r < reps; r++) {
                op.run();
            }
            be.synchronize();
            t[s] = (System.nanoTime() - t0) / 1e6 / reps;
        }
        Arrays.sort(t);
        return t[samples / 2];
    }

    private static Tensor uniform(GpuBackend be, long seed, float scale, DType dt, int... shape) {
        Tensor t = be.allocate(dt, shape);
        be.fillUniform(t, seed, scale);
        return t;
    }

    /** A band-scale-like chunk scale: the first 16 chunks (index axis) 1, the rest between 0.25 and 0.75. */
    private static Tensor chunkScale() {
        Tensor s = Tensor.allocate(D / 2);
        for (int p = 0; p < D / 2; p++) {
            s.set(p, p < 8 ? 1f : 0.25f + 0.5f * p / (D / 2f));
        }
        return s;
    }

    private static void attention(GpuBackend bf, List<String> lines) {
        try (GpuBackend f32 = new GpuBackend(GpuBackend.Precision.F32, false); GpuBackend own = new GpuBackend(GpuBackend.Precision.BF16, false, false);
             Tensor q = uniform(bf, 1, 1f, DType.F32, 1, H, L, D); Tensor k = uniform(bf, 2, 1f, DType.F32, 1, H, L, D);
             Tensor v = uniform(bf, 3, 1f, DType.F32, 1, H, L, D); Tensor rk = uniform(bf, 4, 1f, DType.F32, 1, H, L, D);
             Tensor rv = uniform(bf, 5, 1f, DType.F32, 1, H, L, D); Tensor out = bf.allocate(DType.F32, 1, L, H * D);
             Tensor scale = chunkScale()) {
            double shared = 4.0 * H * L * (L + LI) * D, joint = 4.0 * H * L * L * D;
            bf.diagnostics().sharedPasses(1);
            double t = time(bf, 3, 10, 1, () -> bf.sharedAttention(q, k, v, rk, rv, LT, scale, out));
            lines.add(row("shared_attention_bf16", t, tflops(shared, t) + " (" + bf.diagnostics().lastAttentionPath()
                    + ", one SDPA over 4608 own + 4096 band-scaled reference keys; Lq 4608, 24x128; float32 in/out: incl. rounding q, k, v"
                    + " to bf16 (the band scale fused there) and widening the output)"));
            String sharedChoice = bf.diagnostics().lastCudnnChoice();
            t = time(bf, 3, 10, 1, () -> bf.diagnostics().rerunLastCudnn());
            lines.add(row("shared_attention_bf16_sdpa_only", t, tflops(shared, t)
                    + " (the same cuDNN SDPA call alone on its bf16 operands: bf16 in/out, like PyTorch's call)"));
            bf.diagnostics().sharedPasses(2);
            t = time(bf, 3, 10, 1, () -> bf.sharedAttention(q, k, v, rk, rv, LT, scale, out));
            lines.add(row("shared_attention_bf16_two_pass", t, tflops(shared, t) + " (" + bf.diagnostics().lastAttentionPath()
                    + ", two SDPAs (own keys; reference keys with q scaled per chunk) merged by log-sum-exp; float32 in/out)"));
            String twoPassChoice = bf.diagnostics().lastCudnnChoice();
            bf.diagnostics().sharedPasses(1);
            t = time(bf, 3, 10, 1, () -> bf.attention(q, k, v, out));
            lines.add(row("joint_attention_bf16", t, tflops(joint, t) + " (" + bf.diagnostics().lastAttentionPath() + "; Lq = Lk = 4608, 24x128; float32 in/out)"));
            t = time(bf, 3, 10, 1, () -> bf.diagnostics().rerunLastCudnn());
            lines.add(row("joint_attention_bf16_sdpa_only", t, tflops(joint, t) + " (the same cuDNN SDPA call alone: bf16 in/out, like PyTorch's call)"));
            String jointChoice = bf.diagnostics().lastCudnnChoice();
            String sharedIoTwoPassChoice;
            try (Tensor qb = uniform(bf, 1, 1f, DType.BF16, 1, H, L, D); Tensor kb = uniform(bf, 2, 1f, DType.BF16, 1, H, L, D);
                 Tensor vb = uniform(bf, 3, 1f, DType.BF16, 1, H, L, D); Tensor rkb = uniform(bf, 4, 1f, DType.BF16, 1, H, L, D);
                 Tensor rvb = uniform(bf, 5, 1f, DType.BF16, 1, H, L, D); Tensor outb = bf.allocate(DType.BF16, 1, L, H * D)) {
                t = time(bf, 3, 10, 1, () -> bf.sharedAttention(qb, kb, vb, rkb, rvb, LT, scale, outb));
                lines.add(row("shared_attention_bf16_io", t, tflops(shared, t) + " (" + bf.diagnostics().lastAttentionPath()
                        + "; bf16 in/out like PyTorch's row: the concatenated keys [own; s_p-scaled reference] and values written once, then one SDPA"
                        + " writing out [1, 4608, 3072] directly)"));
                bf.diagnostics().sharedPasses(2);
                t = time(bf, 3, 10, 1, () -> bf.sharedAttention(qb, kb, vb, rkb, rvb, LT, scale, outb));
                lines.add(row("shared_attention_bf16_io_two_pass", t, tflops(shared, t) + " (" + bf.diagnostics().lastAttentionPath()
                        + "; bf16 in/out, nothing concatenated: one SDPA over the own keys where they are, one over the reference's image"
                        + " tokens where they are with q scaled per chunk, merged in place by log-sum-exp)"));
                sharedIoTwoPassChoice = bf.diagnostics().lastCudnnChoice();
                t = time(bf, 3, 10, 1, () -> bf.diagnostics().rerunLastCudnn());
                lines.add(row("shared_attention_bf16_io_two_pass_sdpa_only", t, tflops(shared, t)
                        + " (the two cuDNN SDPA calls of that row alone, without the query scaling and the merge)"));
                bf.diagnostics().sharedPasses(1);
                t = time(bf, 3, 10, 1, () -> bf.attention(qb, kb, vb, outb));
                lines.add(row("joint_attention_bf16_io", t, tflops(joint, t) + " (" + bf.diagnostics().lastAttentionPath()
                        + "; bf16 in/out like PyTorch's row: one SDPA on q, k, v where they are, writing out directly)"));
            }
            lines.add(row("cudnn_plans", 0, "shared: " + sharedChoice + " | shared, two passes: " + twoPassChoice + " | joint: " + jointChoice
                    + " | shared, bf16 activations, two passes: " + sharedIoTwoPassChoice));
            bf.synchronize();
            t = time(own, 3, 10, 1, () -> own.sharedAttention(q, k, v, rk, rv, LT, scale, out));
            lines.add(row("shared_attention_bf16_own_kernel", t, tflops(shared, t) + " (" + own.diagnostics().lastAttentionPath() + ", same shape)"));
            own.synchronize();
            t = time(f32, 1, 3, 1, () -> f32.sharedAttention(q, k, v, rk, rv, LT, scale, out));
            lines.add(row("shared_attention_f32", t, tflops(shared, t) + " (exact float32 kernel, same shape)"));
        }
    }

    /**
     * Every engine configuration cuDNN's heuristics (modes A and B) offer for the benchmark's attention shapes,
     * layouts [b, h, s, d] and [b, s, h, d], with and without statistics, timed on bf16 operands (10 calls after 3).
     */
    private static void survey(GpuBackend bf, List<String> lines) {
        try (Tensor q = uniform(bf, 1, 1f, DType.F32, 1, H, L, D); Tensor k = uniform(bf, 2, 1f, DType.F32, 1, H, L, D);
             Tensor v = uniform(bf, 3, 1f, DType.F32, 1, H, L, D); Tensor rk = uniform(bf, 4, 1f, DType.F32, 1, H, L, D);
             Tensor rv = uniform(bf, 5, 1f, DType.F32, 1, H, L, D); Tensor out = bf.allocate(DType.F32, 1, L, H * D);
             Tensor scale = chunkScale()) {
            bf.sharedAttention(q, k, v, rk, rv, LT, scale, out); // leaves bf16 operands of 4608 x 8704 on the device
            bf.synchronize();
            for (int skv : new int[] {L, L + LI}) {
                for (String s : bf.diagnostics().cudnnSurvey(1, H, L, skv, D, 3, 10)) {
                    lines.add(row("survey", 0, s));
                }
            }
        }
    }

    private static String tflops(double flops, double ms) {
        return String.format(Locale.ROOT, "%.1f TFLOP/s", flops / (ms * 1e-3) / 1e12);
    }

    private static void rope(GpuBackend be, List<String> lines) {
        int l = LI;
        try (Tensor q = uniform(be, 6, 1f, DType.F32, 1, H, l, D); Tensor k = uniform(be, 7, 1f, DType.F32, 1, H, l, D);
             Tensor ids = Tensor.allocate(1, l, 3); Tensor pe = be.allocate(DType.F32, 1, 1, l, D / 2, 2, 2)) {
            for (int t = 0; t < l; t++) {
                ids.set(t * 3L + 1, t / 64);
                ids.set(t * 3L + 2, t % 64);
            }
            be.ropeTable(ids, new int[] {16, 56, 56}, 10_000, pe);
            double t = time(be, 3, 10, 10, () -> {
                be.applyRope(q, pe, q);
                be.applyRope(k, pe, k);
            });
            double bytes = 2.0 * (2.0 * H * l * D * 4) + pe.numel() * 4.0 * 2;
            lines.add(row("rope_q_and_k_f32", t, String.format(Locale.ROOT, "%.0f GB/s (q and k [1, 24, 4096, 128] float32, in place)",
                    bytes / (t * 1e-3) / 1e9)));
        }
    }

    private static void gemm(GpuBackend be, List<String> lines) {
        int m = L, n = 4 * 3072, kk = 3072;
        try (Tensor x = uniform(be, 8, 1f, DType.F32, m, kk); Tensor w = uniform(be, 9, 0.02f, DType.BF16, n, kk);
             Tensor b = uniform(be, 10, 0.02f, DType.F32, n); Tensor out = be.allocate(DType.F32, m, n)) {
            double t = time(be, 3, 10, 1, () -> be.linear(x, w, b, out));
            lines.add(row("linear_bf16_4608x3072x12288", t, tflops(2.0 * m * n * kk, t) + " (float32 in/out, bf16 weights, incl. rounding x and bias)"));
        }
        // bf16 in and out like PyTorch's row, cuBLASLt's algorithm from its heuristic, then chosen by timing its candidates
        try (GpuBackend bf = new GpuBackend(GpuBackend.Precision.BF16, false, true, true); Tensor x = uniform(bf, 8, 1f, DType.BF16, m, kk);
             Tensor w = uniform(bf, 9, 0.02f, DType.BF16, n, kk); Tensor b = uniform(bf, 10, 0.02f, DType.F32, n);
             Tensor out = bf.allocate(DType.BF16, m, n)) {
            bf.diagnostics().gemmAutotune(false);
            double t = time(bf, 3, 10, 1, () -> bf.linear(x, w, b, out));
            lines.add(row("linear_bf16_io_4608x3072x12288", t, tflops(2.0 * m * n * kk, t) + " (bf16 in/out, bias epilogue; cuBLASLt heuristic's first algorithm)"));
            bf.diagnostics().gemmAutotune(true);
            t = time(bf, 3, 10, 1, () -> bf.linear(x, w, b, out));
            lines.add(row("linear_bf16_io_4608x3072x12288_autotuned", t, tflops(2.0 * m * n * kk, t) + " (the same, the algorithm chosen by timing up to 8"
                    + " candidates; " + bf.diagnostics().autotunedGemms() + " plan(s) tuned)"));
        }
    }

    /** The other operations of one FLUX.1-dev block at 1024² (batch 1), for the forward pass's breakdown. */
    private static void ops(GpuBackend be, List<String> lines) {
        int hid = 3072, mlp = 4 * hid;
        try (Tensor x = uniform(be, 11, 1f, DType.F32, 1, L, hid); Tensor y = be.allocate(DType.F32, 1, L, hid);
             Tensor mod = uniform(be, 12, 0.1f, DType.F32, 1, hid); Tensor big = uniform(be, 13, 1f, DType.F32, 1, L, mlp);
             Tensor lin1 = uniform(be, 14, 1f, DType.F32, 1, L, 3 * hid + mlp); Tensor qkv = be.allocate(DType.F32, 1, L, 3 * hid);
             Tensor lin2 = be.allocate(DType.F32, 1, L, hid + mlp); Tensor q = be.allocate(DType.F32, 1, H, L, D);
             Tensor k = be.allocate(DType.F32, 1, H, L, D); Tensor v = be.allocate(DType.F32, 1, H, L, D);
             Tensor scale = uniform(be, 15, 1f, DType.F32, D)) {
            lines.add(row("op_layerNorm_4608x3072", time(be, 3, 10, 10, () -> be.layerNorm(x, 1e-6f, y)), "float32"));
            lines.add(row("op_modulate_4608x3072", time(be, 3, 10, 10, () -> be.modulate(x, mod, mod, y)), "float32"));
            lines.add(row("op_gatedResidual_4608x3072", time(be, 3, 10, 10, () -> be.gatedResidual(x, mod, x, y)), "float32"));
            lines.add(row("op_geluTanh_4608x12288", time(be, 3, 10, 10, () -> be.geluTanh(big, big)), "float32, in place"));
            lines.add(row("op_split_lin1_4608x21504", time(be, 3, 10, 10, () -> be.split(lin1, 2, List.of(qkv, big))), "float32"));
            lines.add(row("op_splitQkv_4608x9216", time(be, 3, 10, 10, () -> be.splitQkv(qkv, q, k, v, 0)), "float32"));
            lines.add(row("op_rmsNorm_q_24x4608x128", time(be, 3, 10, 10, () -> be.rmsNorm(q, scale, 1e-6f, q)), "float32, in place"));
            lines.add(row("op_concat_lin2_4608x15360", time(be, 3, 10, 10, () -> be.concat(List.of(x, big), 2, lin2)), "float32"));
        }
    }

    /** FLUX.1-dev's shape: 19 double + 38 single blocks, hidden 3072, 24 heads, guidance embedding. */
    static FluxConfig fluxDev() {
        return new FluxConfig(64, 64, 768, 4096, 3072, 4.0, 24, 19, 38, new int[] {16, 56, 56}, 10_000, true, true, "bf16");
    }

    /** Random weights made on the device: bf16 matrices uniform in ±1/sqrt(in), float32 vectors in ±0.02. */
    static FluxWeightSource randomWeights(GpuBackend be, long seed) {
        return new FluxWeightSource() {
            private final List<Tensor> made = new ArrayList<>();
            private final List<String> names = new ArrayList<>();

            @Override
            public String describe() {
                return "random bf16 weights (seed " + seed + ")";
            }

            @Override
            public boolean contains(String name) {
                return true;
            }

            @Override
            public Tensor tensor(String name, int... shape) {
                Tensor t = shape.length == 2
                        ? uniform(be, seed + made.size(), (float) (1 / Math.sqrt(shape[1])), DType.BF16, shape)
                        : uniform(be, seed + made.size(), 0.02f, DType.F32, shape);
                made.add(t);
                names.add(name);
                return t;
            }

            @Override
            public List<String> names() {
                return List.copyOf(names);
            }

            @Override
            public void close() {
                for (Tensor t : made) {
                    t.close();
                }
            }
        };
    }

    private static void flux(GpuBackend be, List<String> lines, int batch, String suffix) {
        long t0 = System.nanoTime();
        try (FluxModel model = FluxModel.create(fluxDev(), randomWeights(be, 1000), be); Inputs x = new Inputs(batch)) {
            be.synchronize();
            double setup = (System.nanoTime() - t0) / 1e9;
            Tensor out = x.out;
            double t = time(be, 2, 5, 1, () -> model.forward(x.in, out));
            double rms = 0;
            for (long i = 0; i < out.numel(); i++) {
                rms += (double) out.get(i) * out.get(i);
            }
            rms = Math.sqrt(rms / out.numel());
            lines.add(row("flux_dev_forward_b" + batch + suffix, t, String.format(Locale.ROOT,
                    "1024x1024: %d image + %d text tokens, batch %d, bf16 weights made on the device in %.1f s; block activations %s; output rms %.4g"
                            + " (finite: %b)", LI, LT, batch, setup, model.interiorActivationType(), rms, Double.isFinite(rms))));
        }
    }

    /** The forward's host inputs at 1024² (seed 42: image and text tokens, pooled vector; timestep 0.5, guidance 3.5) and its output. */
    private static final class Inputs implements AutoCloseable {
        final FluxInputs in;
        final Tensor out;
        private final List<Tensor> owned = new ArrayList<>();

        Inputs(int batch) {
            Random r = new Random(42);
            Tensor img = own(host(r, batch, LI, 64)), imgIds = own(Tensor.allocate(batch, LI, 3)), txt = own(host(r, batch, LT, 4096));
            Tensor txtIds = own(Tensor.allocate(batch, LT, 3)), y = own(host(r, batch, 768)), ts = own(Tensor.allocate(batch));
            Tensor g = own(Tensor.allocate(batch));
            out = own(Tensor.allocate(batch, LI, 64));
            for (int b = 0; b < batch; b++) {
                ts.set(b, 0.5f);
                g.set(b, 3.5f);
                for (int t = 0; t < LI; t++) {
                    imgIds.set(((long) b * LI + t) * 3 + 1, t / 64);
                    imgIds.set(((long) b * LI + t) * 3 + 2, t % 64);
                }
            }
            in = new FluxInputs(img, imgIds, txt, txtIds, y, ts, g);
        }

        private Tensor own(Tensor t) {
            owned.add(t);
            return t;
        }

        @Override
        public void close() {
            owned.forEach(Tensor::close);
        }
    }

    /**
     * Where the FLUX.1-dev forward's time goes (batch 1, 1024²), twice, each after a warm-up forward: every operation
     * timed by CUDA events in the stream with nothing synchronized (the spans add up to the forward, gaps where the device
     * waited for the host included), then every operation between two synchronizes (its cost in isolation, plus a launch
     * latency). Both tables go to {@code table} (markdown).
     */
    private static void profile(GpuBackend be, Path table) throws IOException {
        String text;
        try (StreamClock clock = be.diagnostics().streamClock()) {
            text = profileOnce(be, clock, "operations timed by CUDA events in the stream, nothing synchronized between them");
        }
        text += "\n\n" + profileOnce(be, null, "every operation between two synchronizes");
        Files.writeString(table, text);
        System.out.println(text);
    }

    private static String profileOnce(GpuBackend be, StreamClock clock, String how) {
        OpProfile profile = new OpProfile();
        Backend profiled = ProfilingBackend.wrap(be, profile, null, clock);
        try (FluxModel model = FluxModel.create(fluxDev(), randomWeights(be, 1000), profiled); Inputs x = new Inputs(1)) {
            FluxInputs in = x.in;
            Tensor out = x.out;
            model.forward(in, out); // warm-up: cuDNN plans, cuBLASLt plans, workspaces
            profiled.synchronize();
            profile.reset();
            long t0 = System.nanoTime();
            model.forward(in, out);
            be.synchronize();
            double ms = (System.nanoTime() - t0) / 1e6;
            profiled.synchronize(); // records the clock's spans
            return profile.table(String.format(Locale.ROOT, "FLUX.1-dev forward, 1024² batch 1, %s, block activations %s; %s; profiled forward %.1f ms"
                    + " wall", be.describe(), model.interiorActivationType(), how, ms), 60);
        }
    }

    private static Tensor host(Random r, int... shape) {
        Tensor t = Tensor.allocate(shape);
        for (long i = 0; i < t.numel(); i++) {
            t.set(i, (float) r.nextGaussian());
        }
        return t;
    }
}
