package org.untwist.cli;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.untwist.autoencoder.AutoEncoder;
import org.untwist.backend.Backend;
import org.untwist.flux.FluxConfig;
import org.untwist.flux.FluxModel;
import org.untwist.image.ImageFiles;
import org.untwist.image.PngFiles;
import org.untwist.method.SharingMode;
import org.untwist.method.SharingPlan;
import org.untwist.pipeline.FluxCheckpoint;
import org.untwist.pipeline.PhaseTimes;
import org.untwist.pipeline.PromptToImage;
import org.untwist.pipeline.SamplingDefaults;
import org.untwist.text.TokenLimits;

/** {@code untwist generate --prompt}: prompts (and a style reference image) to PNG files that carry their settings. */
final class PromptGeneration {
    private PromptGeneration() {
    }

    static int run(GenerateCommand cmd, PrintWriter log) throws IOException {
        List<String> prompts = prompts(cmd);
        if (cmd.stats != null) {
            throw new IllegalArgumentException("--stats applies to the latent level (--inputs); from prompts it is not collected");
        }
        if (cmd.targets != 1) {
            throw new IllegalArgumentException("--targets applies to --inputs; from prompts there is one target per prompt");
        }
        FluxCheckpoint checkpoint = FluxCheckpoint.open(cmd.model.folder, cmd.prompt.components());
        int size = checkpoint.defaultImageSize();
        int width = cmd.prompt.width == null ? size : cmd.prompt.width;
        int height = cmd.prompt.height == null ? size : cmd.prompt.height;
        SamplingDefaults defaults = checkpoint.defaults();
        int steps = Checks.steps("--steps", cmd.steps == null ? defaults.steps() : cmd.steps);
        float guidance = Checks.guidance("--guidance", cmd.guidance != null ? cmd.guidance : defaults.guidance() == null ? 0f : defaults.guidance());
        String modeName = cmd.mode != null ? cmd.mode : cmd.reference == null ? "none" : "untwisted";
        SharingMode mode = MethodOptions.mode(modeName);
        SharingPlan plan = cmd.method.plan(mode, steps);
        cmd.options.validate();
        BufferedImage reference = cmd.reference == null ? null : ImageFiles.readRgb(cmd.reference);
        PromptToImage.Request request = new PromptToImage.Request(prompts, reference, cmd.prompt.referencePrompt, width, height, steps, guidance,
                cmd.seed, cmd.refSeed, plan);
        List<Path> files = outputFiles(cmd.out, prompts.size());
        try (Outputs outputs = new Outputs()) {
            for (Path f : files) {
                outputs.file("--out", f);
            }
            FluxConfig fc = checkpoint.transformerConfig();
            int batch = prompts.size() + (reference == null ? 0 : 1);
            int multiple = PromptToImage.sizeMultiple(checkpoint);
            long tokens = (long) (width / multiple) * (height / multiple);
            int textTokens = fc.guidanceEmbed() ? TokenLimits.T5_DEV : TokenLimits.T5_SCHNELL;
            MemoryBudget.require("generate", MemoryBudget.sum(FluxModel.activationBytes(fc, batch, textTokens, tokens),
                    AutoEncoder.workspaceBytes(checkpoint.autoencoderConfig(), Math.max(1, prompts.size()), height, width),
                    MemoryBudget.floats(3L * batch, tokens, fc.inChannels())), "for " + batch + " images of " + width + "×" + height);
            log.println(checkpoint.describe());
            long t0 = System.nanoTime();
            List<BufferedImage> images;
            PhaseTimes times = new PhaseTimes();
            long[] stepEnds = new long[steps + 1]; // stepEnds[i + 1]: when step i had finished
            try (Backend be = cmd.options.create();
                 ProgressBar bar = new ProgressBarBuilder().setTaskName("denoising").setInitialMax(steps).setStyle(ProgressBarStyle.ASCII)
                         .setUpdateIntervalMillis(500).build()) {
                images = PromptToImage.generate(checkpoint, be, request, (i, n) -> {
                    be.synchronize(); // a device backend's step is finished before it is timed
                    stepEnds[i + 1] = System.nanoTime();
                    bar.stepTo(i + 1);
                }, times);
            }
            log.printf(Locale.ROOT, "generated %d image%s of %d×%d (%s, %d steps) in %.1f s%n", images.size(), images.size() == 1 ? "" : "s",
                    width, height, modeName, steps, (System.nanoTime() - t0) / 1e9);
            Double sampling = times.seconds().get("sampling");
            log.printf(Locale.ROOT, "  %s (%.1f s per step for a batch of %d)%n", times, sampling == null ? 0 : sampling / steps, batch);
            log.println("  " + stepTimes(stepEnds, sampling));
            for (int i = 0; i < images.size(); i++) {
                Map<String, String> settings = settings(cmd, checkpoint, prompts.get(i), i, width, height, steps, guidance, modeName, plan);
                BufferedImage img = images.get(i);
                outputs.write(files.get(i), f -> PngFiles.write(img, settings, f));
            }
            outputs.commit();
            for (Path f : files) {
                log.println("wrote " + f);
            }
        }
        return 0;
    }

    /**
     * Each step's wall time from the listener's calls, one line: {@code step times: first 1.234 s (with the sampler's
     * set-up), steps 2-N median 0.362 s, min 0.358 s, max 0.371 s; each (s): 1.234 0.362 ...}. The first step has no start
     * mark of its own (it begins inside the sampler): its time is the phase {@code sampling} less the other steps.
     */
    static String stepTimes(long[] stepEnds, Double samplingSeconds) {
        int n = stepEnds.length - 1;
        double[] s = new double[n];
        for (int i = 1; i < n; i++) {
            s[i] = (stepEnds[i + 1] - stepEnds[i]) / 1e9;
        }
        s[0] = samplingSeconds == null ? Double.NaN : samplingSeconds - (stepEnds[n] - stepEnds[1]) / 1e9;
        StringBuilder each = new StringBuilder();
        for (double v : s) {
            each.append(String.format(Locale.ROOT, " %.4f", v));
        }
        if (n < 2) {
            return String.format(Locale.ROOT, "step times: first %.4f s (with the sampler's set-up); each (s):%s", s[0], each);
        }
        WarmTimes warm = WarmTimes.afterFirst(s);
        return String.format(Locale.ROOT, "step times: first %.4f s (with the sampler's set-up), steps 2-%d median %.4f s, min %.4f s, max %.4f s;"
                + " each (s):%s", s[0], n, warm.median(), warm.min(), warm.max(), each);
    }

    private static List<String> prompts(GenerateCommand cmd) throws IOException {
        if (cmd.source.prompts != null) {
            return cmd.source.prompts;
        }
        Path file = cmd.source.promptsFile;
        if (!Files.isRegularFile(file)) {
            throw new IOException(file + ": prompts file not found");
        }
        List<String> prompts = new ArrayList<>();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            if (!line.isBlank()) {
                prompts.add(line.strip());
            }
        }
        if (prompts.isEmpty()) {
            throw new IllegalArgumentException(file + ": no prompts (one per line)");
        }
        return prompts;
    }

    /** {@code FILE.png} for one image; {@code FILE-1.png}, {@code FILE-2.png}, ... for several. */
    static List<Path> outputFiles(Path out, int n) {
        String name = out.getFileName().toString();
        if (!name.toLowerCase(Locale.ROOT).endsWith(".png")) {
            throw new IllegalArgumentException("--out " + out + ": generating from prompts writes PNG files; name it *.png");
        }
        if (n == 1) {
            return List.of(out);
        }
        String stem = name.substring(0, name.length() - 4);
        List<Path> files = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            files.add(out.resolveSibling(stem + "-" + i + ".png"));
        }
        return files;
    }

    /** What made the image, as PNG text chunks: enough to make it again. */
    private static Map<String, String> settings(GenerateCommand cmd, FluxCheckpoint checkpoint, String prompt, int index, int width, int height,
                                                int steps, float guidance, String mode, SharingPlan plan) {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("prompt", prompt);
        s.put("seed", Long.toString(cmd.seed + index));
        s.put("steps", Integer.toString(steps));
        s.put("guidance", Float.toString(guidance));
        s.put("size", width + "x" + height);
        s.put("mode", mode);
        if (cmd.reference != null) {
            s.put("reference", cmd.reference.getFileName().toString());
            s.put("reference_prompt", cmd.prompt.referencePrompt == null ? "" : cmd.prompt.referencePrompt);
            s.put("reference_seed", Long.toString(cmd.refSeed));
            s.put("sharing", plan.toString());
        }
        s.put("model", cmd.model.folder.toAbsolutePath().normalize().toString());
        s.put("model_layout", checkpoint.layout().name().toLowerCase(Locale.ROOT));
        String version = PromptGeneration.class.getPackage().getImplementationVersion();
        s.put("Software", "untwist" + (version == null ? "" : " " + version));
        return s;
    }
}
