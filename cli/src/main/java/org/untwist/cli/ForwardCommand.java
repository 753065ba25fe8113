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

    @Mixin
    OutputOptions output;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        var log = spec.commandLine().getOut();
        options.validate();
        try (Outputs files = output.check();
             SafeTensors in = TensorFiles.open(inputs, "inputs")) {
            FluxConfig c = model.config();
            long[] g = TensorFiles.geometry(in);
            if (g != null) { // b, lt, li
                MemoryBudget.require("forward", MemoryBudget.sum(FluxModel.workspaceBytes(c, g[0], g[1], g[2]),
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
                long t0 = System.nanoTime();
                m.forward(fi, pred);
                log.printf("forward on %s: %.1f ms%n", be.name(), (System.nanoTime() - t0) / 1e6);
                Map<String, Tensor> outs = new LinkedHashMap<>();
                outs.put("pred", pred);
                outs.put("pe", pe);
                output.write(files, outs, log);
            }
        }
    }
}
