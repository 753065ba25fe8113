package org.untwist.cli;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import org.untwist.backend.Backend;
import org.untwist.flux.FluxConfig;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code untwist rope}: the RoPE table, RoPE application and attention on a probe q, k, v. */
@Command(name = "rope", mixinStandardHelpOptions = true,
        description = "RoPE table, rotated q/k and attention for a probe (q, k, v, ids). Writes pe, q_rope, k_rope, attention.")
final class RopeCommand implements Callable<Integer> {
    @Mixin
    BackendOptions options;

    @Option(names = "--inputs", required = true, paramLabel = "FILE", description = "safetensors with q, k, v [B, H, L, Dh] and ids [B, L, A].")
    Path inputs;

    @Mixin
    OutputOptions output;

    @Option(names = "--axes-dim", split = ",", paramLabel = "D0,D1,..",
            description = "RoPE dimensions per axis (must sum to Dh). Default: from --model, else 16,56,56 (FLUX.1, Dh 128).")
    int[] axesDim;

    @Option(names = "--model", paramLabel = "DIR", description = "Take axes_dim and theta from this model's config.json.")
    Path model;

    @Option(names = "--theta", paramLabel = "T", description = "RoPE base (default: from --model, else 10000).")
    Double theta;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        var log = spec.commandLine().getOut();
        if (theta != null) {
            Checks.above("--theta", theta, 0);
        }
        if (axesDim != null) {
            for (int a : axesDim) {
                if (a <= 0 || a % 2 != 0) {
                    throw new IllegalArgumentException("--axes-dim entries must be positive and even, got " + java.util.Arrays.toString(axesDim));
                }
            }
        }
        options.validate();
        try (Outputs files = output.check(); Backend be = options.create(); SafeTensors in = TensorFiles.open(inputs, "inputs")) {
            Tensor q = TensorFiles.require(in, "q"), k = TensorFiles.require(in, "k"), v = TensorFiles.require(in, "v");
            Tensor ids = TensorFiles.require(in, "ids");
            if (q.rank() != 4) {
                throw new IllegalArgumentException("input 'q' must be [B, H, L, Dh], got rank " + q.rank());
            }
            int b = q.dim(0), h = q.dim(1), l = q.dim(2), d = q.dim(3);
            int[] axes = axesDim;
            double th = theta != null ? theta : 10_000;
            if (model != null) {
                FluxConfig c = FluxConfig.read(model.resolve("config.json"));
                axes = axes != null ? axes : c.axesDim();
                th = theta != null ? theta : c.theta();
            }
            if (axes == null) {
                axes = defaultAxes(d);
            }
            int sum = 0;
            for (int a : axes) {
                sum += a;
            }
            if (sum != d) {
                throw new IllegalArgumentException("sum(axes_dim) = " + sum + " " + java.util.Arrays.toString(axes) + " != head dim " + d + " of q");
            }
            MemoryBudget.require("rope", MemoryBudget.sum(MemoryBudget.floats(b, l, 2L * d), MemoryBudget.floats(q.numel()),
                    MemoryBudget.floats(k.numel()), MemoryBudget.floats(b, l, (long) h * d)), "for q " + java.util.Arrays.toString(q.shape()));
            try (Tensor pe = Tensor.allocate(b, 1, l, d / 2, 2, 2);
                 Tensor qr = Tensor.allocate(q.shape());
                 Tensor kr = Tensor.allocate(k.shape());
                 Tensor attn = Tensor.allocate(b, l, h * d)) {
                be.ropeTable(ids, axes, th, pe);
                be.applyRope(q, pe, qr);
                be.applyRope(k, pe, kr);
                be.attention(qr, kr, v, attn);
                Map<String, Tensor> outs = new LinkedHashMap<>();
                outs.put("pe", pe);
                outs.put("q_rope", qr);
                outs.put("k_rope", kr);
                outs.put("attention", attn);
                output.write(files, outs, log);
            }
        }
        return 0;
    }

    /** FLUX.1's split for head dim 128; other head dims must say theirs. */
    static int[] defaultAxes(int headDim) {
        if (headDim != 128) {
            throw new IllegalArgumentException("give --axes-dim or --model: the default 16,56,56 (FLUX.1) needs head dim 128, q has " + headDim);
        }
        return new int[] {16, 56, 56};
    }
}
