package org.untwist.cli;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import org.untwist.backend.Backend;
import org.untwist.sampling.EulerSampler;
import org.untwist.sampling.FlowMatchSchedule;
import org.untwist.flux.FluxConfig;
import org.untwist.flux.FluxInputs;
import org.untwist.flux.FluxModel;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code untwist denoise}: Euler sampling along the flow-matching schedule. */
@Command(name = "denoise", mixinStandardHelpOptions = true,
        description = "Sample from the given 'img' with the Euler sampler along the reference schedule. Writes 'denoised'.")
final class DenoiseCommand implements Callable<Integer> {
    @Mixin
    BackendOptions options;

    @Mixin
    FluxModelOptions model;

    @Option(names = "--inputs", required = true, paramLabel = "FILE",
            description = "safetensors with img (the starting noise), img_ids, txt, txt_ids and y.")
    Path inputs;

    @Option(names = "--steps", required = true, paramLabel = "N", description = "Number of sampling steps.")
    int steps;

    @Option(names = "--guidance", paramLabel = "G", defaultValue = "4.0",
            description = "Guidance value fed to a guidance-embedding model (default: ${DEFAULT-VALUE}, the reference's denoise default).")
    float guidance;

    @Option(names = "--no-shift", description = "Use the unshifted linear schedule (the reference shifts by default).")
    boolean noShift;

    @Mixin
    OutputOptions output;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        var log = spec.commandLine().getOut();
        Checks.steps("--steps", steps);
        Checks.guidance("--guidance", guidance);
        options.validate();
        try (Outputs files = output.check();
             SafeTensors in = TensorFiles.open(inputs, "inputs")) {
            FluxConfig c = model.config();
            long[] dims = TensorFiles.geometry(in);
            if (dims != null) { // b, lt, li
                long ch = c.outChannels();
                MemoryBudget.require("denoise", MemoryBudget.sum(FluxModel.activationBytes(c, dims[0], dims[1], dims[2]),
                        MemoryBudget.floats(dims[0], 2 * dims[2] * ch + ch + 4)), "for batch " + dims[0]);
            }
            run(files, in, log);
        }
        return 0;
    }

    private void run(Outputs files, SafeTensors in, java.io.PrintWriter log) throws Exception {
        try (Backend be = options.create(); FluxModel m = model.load(be)) {
            FluxInputs start = TensorFiles.modelInputs(in, false, false);
            int b = start.batch();
            try (Tensor t = Tensor.allocate(b); Tensor g = Tensor.allocate(b)) {
                start = start.with(start.img(), t, g);
                start.validate(m.config());
                float[] schedule = FlowMatchSchedule.timesteps(steps, start.imageTokens(), !noShift);
                log.println("schedule: " + Arrays.toString(schedule));
                long begin = System.nanoTime();
                try (Tensor denoised = EulerSampler.denoise(m, start, schedule, guidance,
                        (i, n) -> log.printf("step %d/%d  t=%.4f -> %.4f%n", i + 1, n, schedule[i], schedule[i + 1]))) {
                    log.printf("denoised on %s in %.1f ms%n", be.name(), (System.nanoTime() - begin) / 1e6);
                    Map<String, Tensor> outs = new LinkedHashMap<>();
                    outs.put("denoised", denoised);
                    output.write(files, outs, log);
                }
            }
        }
    }
}
