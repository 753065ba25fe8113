package org.untwist.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.untwist.method.BandCurves;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code untwist bands}: the RoPE band-curve table of PAPER.md §3.2. */
@Command(name = "bands", mixinStandardHelpOptions = true,
        description = "Mean cos(Δ·θ_d) over all RoPE chunks and over K frequency bands (highest first), for shifts Δ = 0..M.")
final class BandsCommand implements Callable<Integer> {
    @Option(names = "--dim", defaultValue = "128", paramLabel = "D", description = "Head dimension (default: ${DEFAULT-VALUE}).")
    int dim;

    @Option(names = "--theta", defaultValue = "10000", paramLabel = "T", description = "RoPE base (default: ${DEFAULT-VALUE}).")
    double theta;

    @Option(names = "--bands", defaultValue = "3", paramLabel = "K", description = "Number of contiguous bands (default: ${DEFAULT-VALUE}).")
    int bands;

    @Option(names = "--max-shift", defaultValue = "65", paramLabel = "M", description = "Largest shift Δ (default: ${DEFAULT-VALUE}).")
    int maxShift;

    @Option(names = "--out", paramLabel = "FILE.csv", description = "Also write the table as CSV.")
    Path out;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        Checks.between("--dim", dim, 2, MAX_DIM);
        Checks.between("--max-shift", maxShift, 0, MAX_SHIFT);
        try (Outputs files = new Outputs().file("--out", out)) {
            return run(files);
        }
    }

    /** Larger head dimensions than any transformer's (FLUX.1: 128); beyond them the table only costs time. */
    static final int MAX_DIM = 65_536;
    /** Larger shifts than any position grid (FLUX.1 at 2048 px: 128 cells a side); a typo beyond that fills the screen. */
    static final int MAX_SHIFT = 100_000;

    private int run(Outputs files) throws IOException {
        double[][] t = BandCurves.table(dim, theta, bands, maxShift);
        int chunks = dim / 2;
        String[] header = new String[bands + 2];
        header[0] = "shift";
        header[1] = "all";
        for (int b = 0; b < bands; b++) {
            header[b + 2] = "band" + b + "_chunks" + BandCurves.bandStart(b, chunks, bands) + "-" + (BandCurves.bandStart(b + 1, chunks, bands) - 1);
        }
        var log = spec.commandLine().getOut();
        StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%6s", header[0]));
        for (int c = 1; c < header.length; c++) {
            line.append(String.format(Locale.ROOT, " %18s", header[c]));
        }
        log.println(line);
        StringBuilder csv = new StringBuilder(String.join(",", header)).append('\n');
        for (int s = 0; s <= maxShift; s++) {
            line.setLength(0);
            line.append(String.format(Locale.ROOT, "%6d", s));
            csv.append(s);
            for (double v : t[s]) {
                line.append(String.format(Locale.ROOT, " %18.4f", v));
                csv.append(',').append(String.format(Locale.ROOT, "%.6f", v));
            }
            csv.append('\n');
            log.println(line);
        }
        if (out != null) {
            files.write(out, f -> Files.writeString(f, csv));
            files.commit();
            log.println("wrote " + out);
        }
        return 0;
    }
}
