package org.untwist.cli;

import java.util.Locale;
import org.untwist.method.Axis0;
import org.untwist.method.BandScale;
import org.untwist.method.ChunkMapping;
import org.untwist.method.SharingMode;
import org.untwist.method.SharingPlan;
import picocli.CommandLine.Option;

/** The knobs of shared attention, shared by {@code generate} and {@code analyze}. Defaults: {@link SharingPlan#defaults}. */
final class MethodOptions {
    @Option(names = "--s-hf", paramLabel = "START[:END]", defaultValue = "0.4:0.8",
            description = "High-frequency scale, linearly from START at the first shared step to END at the last (default: ${DEFAULT-VALUE}).")
    String sHf;

    @Option(names = "--s-lf", paramLabel = "START[:END]", defaultValue = "1.0:1.5",
            description = "Low-frequency scale schedule (default: ${DEFAULT-VALUE}).")
    String sLf;

    @Option(names = "--beta", paramLabel = "B", defaultValue = "2.0", description = "Band curve exponent β > 0 (default: ${DEFAULT-VALUE}).")
    double beta;

    @Option(names = "--mapping", paramLabel = "per-axis|global", defaultValue = "per-axis",
            description = "How the frequency index is laid over the RoPE axes (default: ${DEFAULT-VALUE}).")
    String mapping;

    @Option(names = "--axis0", paramLabel = "low|one", defaultValue = "low",
            description = "Scale of RoPE axis 0 under per-axis mapping: s_lf or 1 (default: ${DEFAULT-VALUE}).")
    String axis0;

    @Option(names = "--blocks", paramLabel = "SPEC", defaultValue = "all",
            description = "Blocks that share attention: all, double, single, none, or ranges like d0-18,s10-37 (default: ${DEFAULT-VALUE}).")
    String blocks;

    @Option(names = "--share-steps", paramLabel = "FROM-TO", description = "Steps (from 0, inclusive) with sharing (default: all).")
    String shareSteps;

    @Option(names = "--uniform-scale", paramLabel = "S", defaultValue = "1.0",
            description = "Reference-key scale of the style-aligned and shift-pe baselines (default: ${DEFAULT-VALUE}).")
    double uniformScale;

    static SharingMode mode(String s) {
        return switch (s.trim().toLowerCase(Locale.ROOT).replace('_', '-')) {
            case "none" -> SharingMode.NONE;
            case "full" -> SharingMode.FULL;
            case "untwisted" -> SharingMode.UNTWISTED;
            case "style-aligned", "stylealigned" -> SharingMode.STYLE_ALIGNED;
            case "shift-pe", "shiftpe" -> SharingMode.SHIFT_PE;
            default -> throw new IllegalArgumentException("unknown mode '" + s + "' (none, full, untwisted, style-aligned, shift-pe)");
        };
    }

    /**
     * The plan for {@code mode}, checked against the number of sampling steps: every knob is validated here, before
     * any work, whatever the mode (a knob the mode does not use is still refused when it is invalid).
     */
    SharingPlan plan(SharingMode mode, int steps) {
        SharingPlan p = plan(mode);
        int last = p.lastStep() == -1 ? steps - 1 : p.lastStep();
        if (p.firstStep() >= steps || last >= steps) {
            throw new IllegalArgumentException("--share-steps " + shareSteps + " is outside the " + steps + " steps (0-" + (steps - 1) + ")");
        }
        return p;
    }

    SharingPlan plan(SharingMode mode) {
        double[] hf = range("--s-hf", sHf), lf = range("--s-lf", sLf);
        ChunkMapping m = switch (mapping.trim().toLowerCase(Locale.ROOT)) {
            case "per-axis" -> ChunkMapping.PER_AXIS;
            case "global" -> ChunkMapping.GLOBAL;
            default -> throw new IllegalArgumentException("--mapping must be per-axis or global, got '" + mapping + "'");
        };
        Axis0 a0 = switch (axis0.trim().toLowerCase(Locale.ROOT)) {
            case "low" -> Axis0.LOW;
            case "one" -> Axis0.ONE;
            default -> throw new IllegalArgumentException("--axis0 must be low or one, got '" + axis0 + "'");
        };
        int first = 0, last = -1;
        if (shareSteps != null) {
            String[] p = shareSteps.split("-", -1);
            try {
                first = Integer.parseInt(p[0].trim());
                last = p.length > 1 ? Integer.parseInt(p[1].trim()) : first;
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--share-steps must look like 0-27, got '" + shareSteps + "'");
            }
        }
        try {
            return new SharingPlan(mode, new BandScale(hf[0], lf[0], beta, m, a0), new BandScale(hf[1], lf[1], beta, m, a0), uniformScale, blocks,
                    first, last);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(e.getMessage().replace("s_hf", "--s-hf (s_hf)").replace("s_lf", "--s-lf (s_lf)")
                    .replace("beta", "--beta").replace("uniform scale", "--uniform-scale").replace("step range", "--share-steps"), e);
        }
    }

    private static double[] range(String opt, String s) {
        String[] p = s.split(":", -1);
        try {
            double a = Double.parseDouble(p[0].trim());
            double b = p.length > 1 ? Double.parseDouble(p[1].trim()) : a;
            if (p.length > 2) {
                throw new NumberFormatException();
            }
            return new double[] {a, b};
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(opt + " must be a number or START:END, got '" + s + "'");
        }
    }
}
