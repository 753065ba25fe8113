package org.untwist.cli;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import org.untwist.backend.Backend;
import org.untwist.flux.FluxConfig;
import org.untwist.flux.FluxInputs;
import org.untwist.flux.FluxModel;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code untwist forward}: one model forward pass. */
@Command(name = "forward", mixinStandardHelpOptions = true,
        description = "One forward pass of a FLUX model. Writes 'pred' and 'pe' as safetensors.")
final class ForwardCommand implements Callable<Integer> {
    @Mixin
    BackendOptions options;

    @Mixin
    FluxModelOptions model;

    @Option(names = "--inputs", required = true, paramLabel = "FILE",
            description = "safetensors with img, img_ids, txt, txt_ids, y, timesteps and (if the model embeds guidance) guidance.")
    Path inputs;

    @Option(names = "--repeat", paramLabel = "N", defaultValue = "1",
            description = "Run the forward pass N times (1 to 1000) and print each time and the median of calls 2 to N: the warm time "
                    + "next to the first call's, which pays the JIT's warm-up. With --profile-ops the profile covers calls 2 to N. Default 1.")
    int repeat;

    @Mixin
    OutputOptions output;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        var log = spec.commandLine().getOut();
        options.validate();
        if (repeat < 1 || repeat > 1000) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--repeat must be 1 to 1000, got " + repeat);
        }
        try (Outputs files = output.check();
             SafeTensors in = TensorFiles.open(inputs, "inputs")) {
            FluxConfig c = model.config();
            long[] g = TensorFiles.geometry(in);
            if (g != null) { // b, lt, li
                MemoryBudget.require("forward", MemoryBudget.sum(FluxModel.activationBytes(c, g[0], g[1], g[2]),
                        MemoryBudget.floats(g[0], g[2], c.outChannels()), MemoryBudget.floats(g[0], g[1] + g[2], 2L * c.headDim())), "for batch " + g[0]);
            }
            run(files, in, log);
        }
        return 0;
    }

    private void run(Outputs files, SafeTensors in, java.io.PrintWriter log) throws Exception {
        try (Backend be = options.create(); FluxModel m = model.load(be)) {
            FluxInputs fi = TensorFiles.modelInputs(in, m.config().guidanceEmbed(), true);
            fi.validate(m.config());
            try (Tensor pred = Tensor.allocate(fi.batch(), fi.imageTokens(), m.config().outChannels());
                 Tensor pe = m.positionTable(fi.txtIds(), fi.imgIds())) {
                double[] ms = new double[repeat];
                for (int i = 0; i < repeat; i++) {
                    long t0 = System.nanoTime();
                    m.forward(fi, pred);
                    ms[i] = (System.nanoTime() - t0) / 1e6;
                    log.printf(repeat == 1 ? "forward on %3$s: %4$.1f ms%n" : "forward %d of %d on %s: %.1f ms%n", i + 1, repeat, be.name(), ms[i]);
                    if (i == 0 && repeat > 1) {
                        options.resetProfile(); // the profile, if any, covers the warm calls
                    }
                }
                if (repeat > 1) {
                    WarmTimes warm = WarmTimes.afterFirst(ms);
                    log.printf("forward on %s: first call %.1f ms, calls 2-%d median %.1f ms (min %.1f, max %.1f)%n", be.name(), ms[0], repeat,
                            warm.median(), warm.min(), warm.max());
                }
                Map<String, Tensor> outs = new LinkedHashMap<>();
                outs.put("pred", pred);
                outs.put("pe", pe);
                output.write(files, outs, log);
            }
        }
    }
}
