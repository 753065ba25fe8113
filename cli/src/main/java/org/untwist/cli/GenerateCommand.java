package org.untwist.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.untwist.backend.Backend;
import org.untwist.sampling.FlowMatchSchedule;
import org.untwist.flux.FluxModel;
import org.untwist.io.SafeTensors;
import org.untwist.method.AttentionStats;
import org.untwist.method.SharingMode;
import org.untwist.method.SharingPlan;
import org.untwist.sampling.StyleAlignedSampler;
import org.untwist.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code untwist generate}: style-aligned generation with shared attention. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate targets that share attention with a reference (batch element 0). Writes 'latents' [1 + targets, Li, C].")
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    BackendOptions options;

    @Mixin
    MethodOptions method;

    @Mixin
    FluxModelOptions model;

    @picocli.CommandLine.ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    /** Latent level (prepared tensors) or prompts. */
    static final class Source {
        @Option(names = "--inputs", required = true, paramLabel = "FILE",
                description = "Latent level: safetensors with img (for its shape), img_ids, txt, txt_ids, y: batch 1 (one prompt for all) or 1 + targets.")
        Path inputs;

        @Option(names = "--prompt", required = true, arity = "1..*", paramLabel = "TEXT",
                description = "From prompts: one target image per prompt (the model path is then a FLUX.1 checkpoint with its encoders and VAE, "
                        + "or a single transformer file with --clip, --t5, --vae).")
        List<String> prompts;

        @Option(names = "--prompts", required = true, paramLabel = "FILE", description = "From prompts: a text file with one prompt per line.")
        Path promptsFile;
    }

    @picocli.CommandLine.ArgGroup(exclusive = false)
    PromptOptions prompt = new PromptOptions();

    @Option(names = "--mode", paramLabel = "MODE",
            description = "none, full, untwisted, style-aligned or shift-pe (default: untwisted; from prompts without --reference: none).")
    String mode;

    @Option(names = "--targets", defaultValue = "1", paramLabel = "N", description = "Number of targets (default: ${DEFAULT-VALUE}).")
    int targets;

    @Option(names = "--seed", defaultValue = "1", paramLabel = "S", description = "Noise seed of target i is S + i (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--ref-seed", defaultValue = "0", paramLabel = "S", description = "Noise seed of the reference (default: ${DEFAULT-VALUE}).")
    long refSeed;

    @Option(names = "--reference", paramLabel = "FILE",
            description = "Latent level: a clean reference latent ('img' [1, Li, C]) noised along the schedule, instead of generating the "
                    + "reference. From prompts: the style reference image (PNG or JPEG), scaled to cover the output and centre-cropped.")
    Path reference;

    @Option(names = "--steps", paramLabel = "N", description = "Sampling steps (default: latent level 4; from prompts the model's: schnell 4, dev 28).")
    Integer steps;

    @Option(names = "--guidance", paramLabel = "G", description = "Guidance value (default: latent level 3.5; from prompts the model's: dev 3.5).")
    Float guidance;

    @Option(names = "--out", required = true, paramLabel = "FILE",
            description = "Latent level: output safetensors file. From prompts: the PNG file (several prompts: FILE-1.png, FILE-2.png, ...).")
    Path out;

    @Option(names = "--stats", paramLabel = "FILE.csv", description = "Write per step and block the aligned-attention mass and reference share.")
    Path stats;

    @Option(names = "--radius", defaultValue = "1.0", paramLabel = "R", description = "Aligned-attention radius in grid cells (default: ${DEFAULT-VALUE}).")
    double radius;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (source.inputs == null) {
            return PromptGeneration.run(this, spec.commandLine().getOut());
        }
        if (prompt.given()) {
            throw new IllegalArgumentException("--width, --height, --reference-prompt, --clip, --t5, --vae and the tokenizer options apply to "
                    + "--prompt, not to --inputs");
        }
        int steps = this.steps == null ? 4 : this.steps;
        float guidance = this.guidance == null ? 3.5f : this.guidance;
        String mode = this.mode == null ? "untwisted" : this.mode;
        Path inputs = source.inputs;
        var log = spec.commandLine().getOut();
        // Everything that can be checked from the arguments, before the model is loaded or anything allocated.
        Checks.steps("--steps", steps);
        Checks.guidance("--guidance", guidance);
        Checks.atLeast("--radius", radius, 0);
        Checks.atLeast("--targets", targets, 1);
        SharingMode m = MethodOptions.mode(mode);
        SharingPlan plan = method.plan(m, steps);
        options.validate();
        boolean collect = stats != null && m != SharingMode.NONE;
        AttentionStats collector = collect ? new AttentionStats(radius) : null;
        try (Outputs outputs = new Outputs().file("--out", out).file("--stats", stats);
             SafeTensors in = TensorFiles.open(inputs, "inputs")) {
            MemoryBudget.require("generate", SharedBatch.bytesNeeded(in, model.config(), targets, collect, 0, m == SharingMode.SHIFT_PE),
                    "for " + targets + (targets == 1 ? " target" : " targets"));
            try (Backend be = options.create();
                 FluxModel fm = model.load(be);
                 SharedBatch batch = SharedBatch.build(in, targets, refSeed, seed);
                 SafeTensors refFile = reference == null ? null : TensorFiles.open(reference, "reference")) {
                batch.inputs().validate(fm.config());
                Tensor refLatent = refFile == null ? null : TensorFiles.require(refFile, "img");
                float[] schedule = FlowMatchSchedule.timesteps(steps, batch.inputs().imageTokens(), true);
                long t0 = System.nanoTime();
                try (Tensor latents = StyleAlignedSampler.generate(fm, batch.inputs(), refLatent, schedule, guidance, plan, collector,
                        (i, n) -> log.printf("step %d/%d%n", i + 1, n))) {
                    log.printf("generated %d targets + reference (%s) on %s in %.1f ms%n", targets, mode, be.name(), (System.nanoTime() - t0) / 1e6);
                    Map<String, Tensor> outs = new LinkedHashMap<>();
                    outs.put("latents", latents);
                    outputs.write(out, f -> SafeTensors.write(f, outs, Map.of("producer", "untwist generate", "mode", m.name(), "plan", plan.toString())));
                }
                if (stats != null) { // mode none shares nothing: the header alone
                    StringBuilder csv = new StringBuilder("step,block,aligned_mass,reference_share\n");
                    for (AttentionStats.Entry e : collector == null ? List.<AttentionStats.Entry>of() : collector.entries()) {
                        csv.append(String.format(Locale.ROOT, "%d,%s,%.6f,%.6f%n", e.step(), e.block(), e.meanAlignedMass(), e.meanReferenceShare()));
                    }
                    outputs.write(stats, f -> Files.writeString(f, csv));
                }
                outputs.commit();
                log.println("wrote " + out + ": latents" + java.util.Arrays.toString(new int[] {1 + targets, batch.inputs().imageTokens(),
                        fm.config().outChannels()}));
                if (stats != null) {
                    log.println("wrote " + stats + (collector == null ? " (mode none: no shared attention, header only)" : ""));
                }
            }
        }
        return 0;
    }
}
