package org.untwist.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleFunction;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.untwist.backend.Backend;
import org.untwist.demo.Bootstrap;
import org.untwist.demo.Experiment;
import org.untwist.demo.GlyphModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code untwist experiment}: copy, content and style scores of every sharing setting over reference–prompt pairs. */
@Command(name = "experiment", mixinStandardHelpOptions = true,
        description = {"Over references × prompts of the shipped glyph model, generate targets in the modes none, full, untwisted,",
                "style-aligned and a sweep of constant (s_hf, s_lf), and score each: copy (mask NCC with the reference, and",
                "how often it shows the reference's character), content (shows the prompted character), style (colour and",
                "texture statistics vs the reference), font affinity, aligned-attention mass. Writes rows.csv, summary.csv,",
                "summary.md (means with 95% bootstrap intervals, paired differences) and tradeoff.png."})
final class ExperimentCommand implements Callable<Integer> {
    static final int RESAMPLES = 2000;

    @Mixin
    BackendOptions options;

    @Mixin
    GlyphModelOptions model;

    @Option(names = "--references", defaultValue = "25", paramLabel = "N", description = "References 0..N-1 of the set (default: ${DEFAULT-VALUE}).")
    int references;

    @Option(names = "--prompts-per-reference", defaultValue = "4", paramLabel = "M", description = "Prompts per reference (default: ${DEFAULT-VALUE}).")
    int promptsPerReference;

    @Option(names = "--seed", defaultValue = "1", paramLabel = "S", description = "Seed of prompts, noise and bootstrap (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--steps", defaultValue = "20", paramLabel = "N", description = "Sampling steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--quick", description = "Only the four modes (no s_hf/s_lf sweep).")
    boolean quick;

    @Option(names = "--out-dir", defaultValue = "out/experiment", paramLabel = "DIR", description = "Output folder (default: ${DEFAULT-VALUE}).")
    Path outDir;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        var log = spec.commandLine().getOut();
        List<Experiment.Setting> settings = Experiment.defaultSettings();
        if (quick) {
            settings = settings.subList(0, 4);
        }
        Checks.steps("--steps", steps);
        options.validate();
        try (Outputs files = new Outputs().folder("--out-dir", outDir)) {
            run(files, settings);
        }
        return 0;
    }

    private void run(Outputs files, List<Experiment.Setting> settings) throws Exception {
        var log = spec.commandLine().getOut();
        List<Experiment.Row> rows;
        long t0 = System.nanoTime();
        try (Backend be = options.create(); GlyphModel gm = model.load(be)) {
            Checks.between("--references", references, 1, gm.references().size());
            Checks.between("--prompts-per-reference", promptsPerReference, 1, gm.vocabulary().length() - 1);
            MemoryBudget.require("experiment", DemoCommand.bytesNeeded(gm, promptsPerReference), "for " + promptsPerReference + " prompts per reference");
            log.printf("experiment: %d references × %d prompts × %d settings, %d steps, seed %d, backend %s%n", references,
                    promptsPerReference, settings.size(), steps, seed, be.name());
            try (ProgressBar bar = new ProgressBarBuilder().setTaskName("experiment").setInitialMax((long) references * settings.size() * steps)
                    .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(1000).build()) {
                rows = Experiment.run(gm, settings, references, promptsPerReference, seed, steps, (i, n) -> bar.step());
            }
            String vocabulary = gm.vocabulary();
            List<Experiment.Row> done = rows;
            files.write(outDir.resolve("rows.csv"), f -> writeRows(f, done, vocabulary));
        }
        log.printf("ran in %.1f s%n", (System.nanoTime() - t0) / 1e9);
        String md = summarize(settings, rows, files);
        files.write(outDir.resolve("summary.md"), f -> Files.writeString(f, md));
        files.commit();
        log.print(md);
        log.println("wrote " + outDir.resolve("rows.csv") + ", summary.csv, summary.md" + (tradeoffWritten ? ", tradeoff.png" : ""));
    }

    /** Whether summarize drew tradeoff.png (not on a machine without fonts). */
    private boolean tradeoffWritten;

    private static final Map<String, ToDoubleFunction<Experiment.Row>> METRICS = new LinkedHashMap<>();

    static {
        METRICS.put("copy", r -> r.scores().copy());
        METRICS.put("copy_rate", r -> r.scores().copiedReference() ? 1 : 0);
        METRICS.put("content", r -> r.scores().contentCorrect() ? 1 : 0);
        METRICS.put("style", r -> r.scores().style());
        METRICS.put("font_affinity", r -> r.scores().fontAffinity());
        METRICS.put("aligned_mass", Experiment.Row::alignedMass);
    }

    private String summarize(List<Experiment.Setting> settings, List<Experiment.Row> rows, Outputs files) throws Exception {
        StringBuilder csv = new StringBuilder("setting,pairs");
        StringBuilder md = new StringBuilder();
        md.append(String.format(Locale.ROOT, "%d references × %d prompts = %d pairs per setting, %d steps, seed %d; means with 95%% bootstrap intervals (%d resamples over pairs)%n%n",
                references, promptsPerReference, references * promptsPerReference, steps, seed, RESAMPLES));
        md.append("| setting |");
        for (String m : METRICS.keySet()) {
            csv.append(',').append(m).append(',').append(m).append("_low,").append(m).append("_high");
            md.append(' ').append(m).append(" |");
        }
        csv.append('\n');
        md.append("\n|---|").append("---|".repeat(METRICS.size())).append('\n');
        Map<String, double[]> tradeoff = new LinkedHashMap<>();
        for (Experiment.Setting s : settings) {
            List<Experiment.Row> mine = rows.stream().filter(r -> r.setting().equals(s.name())).toList();
            csv.append('"').append(s.name()).append("\",").append(mine.size());
            md.append("| ").append(s.name()).append(" |");
            Map<String, Bootstrap.Interval> ci = new LinkedHashMap<>();
            for (var m : METRICS.entrySet()) {
                double[] v = mine.stream().mapToDouble(m.getValue()).toArray();
                Bootstrap.Interval iv = Bootstrap.mean(v, 0.95, RESAMPLES, seed);
                ci.put(m.getKey(), iv);
                csv.append(String.format(Locale.ROOT, ",%.4f,%.4f,%.4f", iv.mean(), iv.low(), iv.high()));
                md.append(Double.isNaN(iv.mean()) ? " – |" : String.format(Locale.ROOT, " %.3f [%.3f, %.3f] |", iv.mean(), iv.low(), iv.high()));
            }
            csv.append('\n');
            md.append('\n');
            Bootstrap.Interval c = ci.get("content"), st = ci.get("style");
            tradeoff.put(s.name(), new double[] {c.mean(), c.low(), c.high(), st.mean(), st.low(), st.high()});
        }
        files.write(outDir.resolve("summary.csv"), f -> Files.writeString(f, csv));
        tradeoffWritten = AnalyzeCommand.chart(files, outDir.resolve("tradeoff.png"), spec.commandLine().getErr(), f -> Plots.scatterWithIntervals(f,
                "Style vs content over sharing settings (95% bootstrap intervals)", "content: target shows the prompted character (accuracy)",
                "style: similarity of colour/texture statistics to the reference", tradeoff)) != null;
        md.append("\nPaired differences (same reference, prompt and noise), mean [95% bootstrap interval]:\n\n| difference | copy | copy_rate | content | style |\n|---|---|---|---|---|\n");
        for (String[] pair : new String[][] {{"untwisted", "full"}, {"untwisted", "none"}, {"untwisted", "style-aligned"}}) {
            List<Experiment.Row> a = rows.stream().filter(r -> r.setting().equals(pair[0])).toList();
            List<Experiment.Row> b = rows.stream().filter(r -> r.setting().equals(pair[1])).toList();
            if (a.isEmpty() || a.size() != b.size()) {
                continue;
            }
            md.append("| ").append(pair[0]).append(" − ").append(pair[1]).append(" |");
            for (String m : new String[] {"copy", "copy_rate", "content", "style"}) {
                ToDoubleFunction<Experiment.Row> f = METRICS.get(m);
                double[] d = new double[a.size()];
                for (int i = 0; i < d.length; i++) {
                    d[i] = f.applyAsDouble(a.get(i)) - f.applyAsDouble(b.get(i));
                }
                Bootstrap.Interval iv = Bootstrap.mean(d, 0.95, RESAMPLES, seed);
                md.append(String.format(Locale.ROOT, " %+.3f [%+.3f, %+.3f] |", iv.mean(), iv.low(), iv.high()));
            }
            md.append('\n');
        }
        return md.toString();
    }

    private static void writeRows(Path file, List<Experiment.Row> rows, String vocab) throws java.io.IOException {
        StringBuilder csv = new StringBuilder("setting,reference,reference_char,prompt,seed,predicted,content_correct,copied_reference,copy,style,font_affinity,aligned_mass,reference_share\n");
        for (Experiment.Row r : rows) {
            var s = r.scores();
            csv.append(String.format(Locale.ROOT, "\"%s\",%d,%c,%c,%d,%s,%b,%b,%.5f,%.5f,%.5f,%.5f,%.5f%n", r.setting(), r.reference(),
                    vocab.charAt(r.referenceChar()), vocab.charAt(r.prompt()), r.seed(), s.predicted() < 0 ? "" : String.valueOf(vocab.charAt(s.predicted())),
                    s.contentCorrect(), s.copiedReference(), s.copy(), s.style(), s.fontAffinity(), r.alignedMass(), r.referenceShare()));
        }
        Files.writeString(file, csv);
    }
}
