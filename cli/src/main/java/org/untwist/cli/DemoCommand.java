package org.untwist.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.untwist.backend.Backend;
import org.untwist.demo.GlyphImage;
import org.untwist.demo.GlyphMetrics;
import org.untwist.demo.GlyphModel;
import org.untwist.demo.StyleTransfer;
import org.untwist.flux.FluxConfig;
import org.untwist.flux.FluxModel;
import org.untwist.method.SharingMode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code untwist demo}: the shipped glyph model, one reference, several prompts, every sharing mode, one PNG grid. */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Generate targets for several prompts while sharing attention with a shipped reference, in the modes",
                "full, untwisted, style-aligned and none; write one PNG grid (reference | modes, a row per prompt) and print",
                "the aligned-attention mass and the copy / content / style scores of each mode."})
final class DemoCommand implements Callable<Integer> {
    static final SharingMode[] MODES = {SharingMode.FULL, SharingMode.UNTWISTED, SharingMode.STYLE_ALIGNED, SharingMode.NONE};

    @Mixin
    BackendOptions options;

    @Mixin
    MethodOptions method;

    @Mixin
    GlyphModelOptions model;

    @Option(names = "--reference", defaultValue = "0", paramLabel = "I", description = "Index in the model's reference set (default: ${DEFAULT-VALUE}).")
    int reference;

    @Option(names = "--prompts", defaultValue = "A,G,R,5", split = ",", paramLabel = "C,...", description = "One character per target (default: ${DEFAULT-VALUE}).")
    List<String> prompts;

    @Option(names = "--seed", defaultValue = "1", paramLabel = "S", description = "Noise seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--steps", defaultValue = "20", paramLabel = "N", description = "Sampling steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--out", defaultValue = "out/demo.png", paramLabel = "FILE.png", description = "Grid to write (default: ${DEFAULT-VALUE}).")
    Path out;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    private static String orDash(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.3f", v);
    }

    /** Native memory of one mode's generation: the model's workspace and statistics for 1 + prompts images, inputs, sampler. */
    static long bytesNeeded(GlyphModel gm, int prompts) {
        FluxConfig c = gm.flux().config();
        long b = 1L + prompts, grid = gm.imageSize() / 2, li = grid * grid, ch = c.inChannels();
        return MemoryBudget.sum(FluxModel.activationBytes(c, b, 1, li), FluxModel.sharingBytes(c, b, 1, li, true, 0, false),
                MemoryBudget.floats(b, li * ch + li * 3 + c.contextInDim() + 3 + c.vecInDim() + 2),
                MemoryBudget.floats(b, 2 * li * ch + ch + 2), MemoryBudget.floats(2, li, ch));
    }

    @Override
    public Integer call() throws Exception {
        var log = spec.commandLine().getOut();
        Checks.steps("--steps", steps);
        method.plan(SharingMode.UNTWISTED, steps); // every knob checked before any work
        options.validate();
        try (Outputs files = new Outputs().file("--out", out); Backend be = options.create(); GlyphModel gm = model.load(be)) {
            int[] idx = prompts.stream().mapToInt(gm::promptIndex).toArray();
            int refs = gm.references().size();
            if (reference < 0 || reference >= refs) {
                throw new IllegalArgumentException("--reference " + reference + " does not exist: the set has " + refs + " references (0-" + (refs - 1) + ")");
            }
            MemoryBudget.require("demo", bytesNeeded(gm, idx.length), "for " + idx.length + (idx.length == 1 ? " prompt" : " prompts"));
            GlyphImage ref = gm.references().image(reference);
            char refChar = gm.vocabulary().charAt(gm.references().character()[reference]);
            log.printf("reference %d: '%c' in %s; prompts %s; %d steps, seed %d, backend %s%n", reference, refChar,
                    gm.references().fonts().get(gm.references().font()[reference]), prompts, steps, seed, be.name());
            GlyphMetrics metrics = new GlyphMetrics(gm.atlas());
            Map<SharingMode, StyleTransfer.Result> results = new LinkedHashMap<>();
            long t0 = System.nanoTime();
            try (ProgressBar bar = new ProgressBarBuilder().setTaskName("demo").setInitialMax((long) MODES.length * steps)
                    .setStyle(ProgressBarStyle.ASCII).continuousUpdate().setUpdateIntervalMillis(250).build()) {
                for (SharingMode m : MODES) {
                    bar.setExtraMessage(m.label());
                    results.put(m, StyleTransfer.run(gm, reference, idx, seed, steps, method.plan(m), true, (i, n) -> bar.step()));
                }
            }
            log.printf("generated %d modes × %d targets in %.1f s%n", MODES.length, idx.length, (System.nanoTime() - t0) / 1e9);
            List<String> columns = new ArrayList<>(List.of("reference"));
            List<List<GlyphImage>> cells = new ArrayList<>();
            for (int p = 0; p < idx.length; p++) {
                List<GlyphImage> row = new ArrayList<>(List.of(ref));
                for (SharingMode m : MODES) {
                    row.add(results.get(m).targets().get(p));
                }
                cells.add(row);
            }
            for (SharingMode m : MODES) {
                columns.add(m.label());
            }
            boolean[] labelled = {false};
            files.write(out, f -> labelled[0] = GridPng.write(f, columns, prompts, cells, 4));
            files.commit();
            log.println("wrote " + out + (labelled[0] ? "" : " without labels (no fonts on this machine); columns: " + String.join(" | ", columns)));
            log.printf("%-14s %12s %10s %10s %10s %10s %10s%n", "mode", "aligned_mass", "ref_share", "copy", "copy_rate", "content", "style");
            GlyphMetrics.Features rf = metrics.features(ref);
            for (SharingMode m : MODES) {
                StyleTransfer.Result r = results.get(m);
                double copy = 0, copyRate = 0, content = 0, style = 0;
                for (GlyphMetrics.Scores s : metrics.scores(r.targets(), idx, rf, gm.references().character()[reference],
                        gm.references().font()[reference])) {
                    copy += s.copy() / idx.length;
                    copyRate += (s.copiedReference() ? 1.0 : 0.0) / idx.length;
                    content += (s.contentCorrect() ? 1.0 : 0.0) / idx.length;
                    style += s.style() / idx.length;
                }
                log.printf(Locale.ROOT, "%-14s %12s %10s %10.3f %10.2f %10.2f %10.3f%n", m.label(), orDash(r.alignedMass()),
                        orDash(r.referenceShare()), copy, copyRate, content, style);
            }
            log.printf("aligned_mass: share of the reference attention within %.0f grid cell of the query's own position (uniform: %.3f)%n",
                    StyleTransfer.ALIGNED_RADIUS, GlyphMetrics.uniformAlignedMass(gm.imageSize() / 2, StyleTransfer.ALIGNED_RADIUS));
        }
        return 0;
    }
}
