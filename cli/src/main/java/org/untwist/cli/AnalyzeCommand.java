package org.untwist.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.untwist.backend.Backend;
import org.untwist.sampling.FlowMatchSchedule;
import org.untwist.flux.FluxConfig;
import org.untwist.flux.FluxModel;
import org.untwist.io.SafeTensors;
import org.untwist.method.AttentionStats;
import org.untwist.method.BandCurves;
import org.untwist.method.SharingMode;
import org.untwist.sampling.StyleAlignedSampler;
import org.untwist.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code untwist analyze}: why untwisting works, measured on a model. */
@Command(name = "analyze", mixinStandardHelpOptions = true,
        description = "Band curves, per-band logit energy per block, aligned-attention mass per block and mode, attention maps. "
                + "Writes CSV, JSON and PNG files into --out-dir.")
final class AnalyzeCommand implements Callable<Integer> {
    static final List<SharingMode> MODES = List.of(SharingMode.FULL, SharingMode.UNTWISTED, SharingMode.STYLE_ALIGNED, SharingMode.SHIFT_PE);

    @Mixin
    BackendOptions options;

    @Mixin
    MethodOptions method;

    @Mixin
    FluxModelOptions model;

    @Option(names = "--inputs", required = true, paramLabel = "FILE", description = "safetensors with img, img_ids, txt, txt_ids, y (batch 1 or 2).")
    Path inputs;

    @Option(names = "--out-dir", required = true, paramLabel = "DIR", description = "Folder for the results.")
    Path outDir;

    @Option(names = "--steps", defaultValue = "4", paramLabel = "N", description = "Sampling steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--guidance", defaultValue = "3.5", paramLabel = "G", description = "Guidance (default: ${DEFAULT-VALUE}).")
    float guidance;

    @Option(names = "--seed", defaultValue = "1", paramLabel = "S", description = "Target noise seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--ref-seed", defaultValue = "0", paramLabel = "S", description = "Reference noise seed (default: ${DEFAULT-VALUE}).")
    long refSeed;

    @Option(names = "--radius", defaultValue = "1.0", paramLabel = "R", description = "Aligned-attention radius in grid cells (default: ${DEFAULT-VALUE}).")
    double radius;

    @Option(names = "--bands", defaultValue = "3", paramLabel = "K", description = "Frequency bands per spatial axis (default: ${DEFAULT-VALUE}).")
    int bands;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        Checks.steps("--steps", steps);
        Checks.guidance("--guidance", guidance);
        Checks.atLeast("--radius", radius, 0);
        Checks.atLeast("--bands", bands, 1);
        for (SharingMode m : MODES) {
            method.plan(m, steps); // every knob checked before any work
        }
        options.validate();
        List<String> charts = new ArrayList<>();
        Map<String, Object> json = new LinkedHashMap<>();
        try (Outputs files = new Outputs().folder("--out-dir", outDir);
             SafeTensors in = TensorFiles.open(inputs, "inputs")) {
            FluxConfig c = model.config();
            long li0 = in.contains("img") && in.tensor("img").rank() == 3 ? in.tensor("img").dim(1) : 0;
            MemoryBudget.require("analyze", SharedBatch.bytesNeeded(in, c, 1, true, bands + 1, true), "for " + li0 + " image tokens");
            MemoryBudget.requireHeap("analyze", MemoryBudget.floats(steps, c.depth() + c.depthSingleBlocks(), 3, li0),
                    "for the attention maps of " + steps + " steps");
            try (Backend be = options.create(); FluxModel fm = model.load(be); SharedBatch batch = SharedBatch.build(in, 1, refSeed, seed)) {
                analyze(c, fm, be, batch, files, json, charts);
            }
        }
        return 0;
    }

    private void analyze(FluxConfig c, FluxModel fm, Backend be, SharedBatch batch, Outputs files, Map<String, Object> json, List<String> charts)
            throws IOException {
        var log = spec.commandLine().getOut();
        var err = spec.commandLine().getErr();
        batch.inputs().validate(c);
        int li = batch.inputs().imageTokens();
        int[] axes = c.axesDim();
        int gridCols = batch.inputs().gridColumns(), gridRows = batch.inputs().gridRows();
        if ((long) gridRows * gridCols != li) {
            throw new IllegalArgumentException("image ids do not form a full rows × cols grid (" + gridRows + " × " + gridCols + " != " + li + ")");
        }
        json.put("model", model.folder.toString());
        json.put("backend", be.describe());
        json.put("grid", new int[] {gridRows, gridCols});
        json.put("radius", radius);

        // 1. Band curves of the spatial axis: how fast each band decorrelates with distance.
        int axisDim = axes[axes.length - 1];
        double[][] curves = BandCurves.table(axisDim, c.theta(), bands, Math.max(gridRows, gridCols));
        StringBuilder csv = new StringBuilder("shift,all");
        Map<String, double[]> series = new LinkedHashMap<>();
        series.put("all", column(curves, 0));
        for (int b = 0; b < bands; b++) {
            csv.append(",band").append(b);
            series.put("band " + b + (b == 0 ? " (highest freq.)" : b == bands - 1 ? " (lowest freq.)" : ""), column(curves, b + 1));
        }
        csv.append('\n');
        for (int s = 0; s < curves.length; s++) {
            csv.append(s);
            for (double v : curves[s]) {
                csv.append(String.format(Locale.ROOT, ",%.6f", v));
            }
            csv.append('\n');
        }
        files.write(outDir.resolve("band_curves.csv"), f -> Files.writeString(f, csv));
        charts.add(chart(files, outDir.resolve("band_curves.png"), err, f -> Plots.lines(f,
                "RoPE attention vs positional shift (axis dim " + axisDim + ", theta " + c.theta() + ")", "position shift Δ",
                "mean cos(Δ·θ_d)", series)));
        json.put("band_curves", series);

        // 2-4. Sample with each mode; collect aligned mass, band energies and maps.
        float[] schedule = FlowMatchSchedule.timesteps(steps, li, true);
        int[] queries = {(gridRows / 2) * gridCols + gridCols / 2, (gridRows / 4) * gridCols + gridCols / 4,
                (3 * gridRows / 4) * gridCols + 3 * gridCols / 4};
        int[] chunkBand = BandCurves.chunkBandsPerAxis(axes, bands);
        Map<String, Map<String, Double>> massByMode = new LinkedHashMap<>();
        Map<String, Object> modesJson = new LinkedHashMap<>();
        StringBuilder massCsv = new StringBuilder("mode,block,aligned_mass,reference_share\n");
        StringBuilder energyCsv = new StringBuilder("block,band,mean_squared_logit_term\n");
        Map<String, float[][]> mapsByMode = new LinkedHashMap<>();
        for (SharingMode m : MODES) {
            AttentionStats stats = new AttentionStats(radius).withMaps(queries);
            if (m == SharingMode.FULL) {
                stats.withBandEnergy(chunkBand, bands + (axes.length > 1 ? 1 : 0));
            }
            try (Tensor ignored = StyleAlignedSampler.generate(fm, batch.inputs(), null, schedule, guidance, method.plan(m), stats, null)) {
                log.printf("analyzed %s%n", m);
            }
            String name = m.label();
            Map<String, Double> perBlock = new LinkedHashMap<>();
            Map<String, Object> blockJson = new LinkedHashMap<>();
            stats.perBlockMeans().forEach((block, v) -> {
                perBlock.put(block, v[0]);
                blockJson.put(block, Map.of("aligned_mass", v[0], "reference_share", v[1]));
                massCsv.append(String.format(Locale.ROOT, "%s,%s,%.6f,%.6f%n", name, block, v[0], v[1]));
            });
            massByMode.put(name, perBlock);
            modesJson.put(name, blockJson);
            if (m == SharingMode.FULL) {
                for (AttentionStats.BandEnergy e : stats.bandEnergies()) {
                    if (e.step() != 0) {
                        continue; // the first (noisiest) step: where layout is decided
                    }
                    for (int b = 0; b < e.perHeadBand()[0].length; b++) {
                        double mean = 0;
                        for (double[] head : e.perHeadBand()) {
                            mean += head[b] / e.perHeadBand().length;
                        }
                        energyCsv.append(String.format(Locale.ROOT, "%s,%s,%.6g%n", e.block(), b < bands ? "band" + b : "axis0", mean));
                    }
                }
            }
            // Maps of the last shared block at the last step.
            List<AttentionStats.AttentionMap> maps = stats.maps();
            if (!maps.isEmpty()) {
                AttentionStats.AttentionMap lastMap = maps.getLast();
                float[][] row = new float[queries.length][];
                for (AttentionStats.AttentionMap am : maps) {
                    if (am.step() == lastMap.step() && am.block().equals(lastMap.block())) {
                        for (int qi = 0; qi < queries.length; qi++) {
                            if (am.query() == queries[qi]) {
                                row[qi] = am.referenceMap();
                            }
                        }
                    }
                }
                mapsByMode.put(name + " (" + lastMap.block() + ")", row);
            }
        }
        files.write(outDir.resolve("aligned_mass.csv"), f -> Files.writeString(f, massCsv));
        files.write(outDir.resolve("band_energy.csv"), f -> Files.writeString(f, energyCsv));
        charts.add(chart(files, outDir.resolve("aligned_mass.png"), err, f -> Plots.bars(f, "Aligned-attention mass (radius " + radius
                + ") per block", "block", "share of reference attention near own position", massByMode)));
        List<String> colNames = new ArrayList<>();
        int[][] cells = new int[queries.length][];
        for (int qi = 0; qi < queries.length; qi++) {
            cells[qi] = new int[] {queries[qi] / gridCols, queries[qi] % gridCols};
            colNames.add("query (" + cells[qi][0] + ", " + cells[qi][1] + ")");
        }
        charts.add(chart(files, outDir.resolve("attention_maps.png"), err, f -> Plots.heatmaps(f,
                "Target→reference attention (last step, mean over heads; red: query position)", new ArrayList<>(mapsByMode.keySet()),
                colNames, mapsByMode.values().toArray(new float[0][][]), cells, gridRows, gridCols)));
        json.put("aligned_mass", modesJson);
        json.put("plan", method.plan(SharingMode.UNTWISTED).toString());
        files.write(outDir.resolve("analysis.json"), f -> new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(f.toFile(), json));
        files.commit();
        log.println("aligned-attention mass (radius " + radius + "), mean over heads and steps:");
        log.printf("%-8s", "block");
        massByMode.keySet().forEach(k -> log.printf(" %14s", k));
        log.println();
        for (String block : massByMode.get("full").keySet()) {
            log.printf("%-8s", block);
            for (Map<String, Double> v : massByMode.values()) {
                log.printf(" %14.4f", v.getOrDefault(block, Double.NaN));
            }
            log.println();
        }
        charts.removeIf(java.util.Objects::isNull);
        log.println("wrote " + outDir + ": band_curves.csv, band_energy.csv, aligned_mass.csv, analysis.json"
                + (charts.isEmpty() ? "" : ", " + String.join(", ", charts)));
    }

    /** Draws a chart into the staged {@code target}; a chart that cannot be drawn (no fonts) is dropped and named on {@code err}. */
    static String chart(Outputs files, Path target, java.io.PrintWriter err, Outputs.Writer draw) throws IOException {
        boolean[] drawn = {false};
        files.write(target, f -> drawn[0] = Plots.writeOrReport(target, () -> draw.write(f), err));
        if (!drawn[0]) {
            files.discard(target);
            return null;
        }
        return target.getFileName().toString();
    }

    private static double[] column(double[][] t, int c) {
        double[] v = new double[t.length];
        for (int i = 0; i < t.length; i++) {
            v[i] = t[i][c];
        }
        return v;
    }

}
