package org.untwist.method;

/**
 * RoPE's positional sensitivity by frequency band (PAPER.md §3.2): for chunks {@code d} with
 * {@code θ_d = theta^(−2d/dim)}, {@code κ_S(Δ) = mean_{d∈S} cos(Δ·θ_d)} — the mean attention similarity of two
 * identical vectors shifted by {@code Δ}, over all chunks and over {@code K} contiguous bands (highest
 * frequencies first). Band {@code b} holds chunks {@code ⌊b·n/K⌋ … ⌊(b+1)·n/K⌋ − 1}, so 64 chunks in thirds
 * are 0–20, 21–41, 42–63.
 */
public final class BandCurves {
    private BandCurves() {
    }

    /** First chunk of band {@code b} (and one past the last chunk of band {@code b − 1}). */
    public static int bandStart(int b, int chunks, int bands) {
        return (int) ((long) b * chunks / bands);
    }

    /**
     * The table: row {@code Δ = 0 … maxShift}; column 0 all chunks, then one column per band.
     *
     * @throws IllegalArgumentException for an odd or non-positive dimension, a non-positive theta, fewer than 1
     *                                  or more bands than chunks, or a negative maximum shift
     */
    public static double[][] table(int dim, double theta, int bands, int maxShift) {
        if (dim <= 0 || dim % 2 != 0) {
            throw new IllegalArgumentException("--dim must be positive and even, got " + dim);
        }
        if (!(theta > 1) || Double.isInfinite(theta)) {
            throw new IllegalArgumentException("--theta must be a finite number > 1, got " + theta);
        }
        int chunks = dim / 2;
        if (bands < 1 || bands > chunks) {
            throw new IllegalArgumentException("--bands must be between 1 and " + chunks + " (the number of chunks), got " + bands);
        }
        if (maxShift < 0) {
            throw new IllegalArgumentException("--max-shift must be >= 0, got " + maxShift);
        }
        double[] freq = new double[chunks];
        for (int d = 0; d < chunks; d++) {
            freq[d] = Math.pow(theta, -2.0 * d / dim);
        }
        double[][] rows = new double[maxShift + 1][bands + 1];
        for (int shift = 0; shift <= maxShift; shift++) {
            double all = 0;
            for (int d = 0; d < chunks; d++) {
                all += Math.cos(shift * freq[d]);
            }
            rows[shift][0] = all / chunks;
            for (int b = 0; b < bands; b++) {
                int from = bandStart(b, chunks, bands), to = bandStart(b + 1, chunks, bands);
                double s = 0;
                for (int d = from; d < to; d++) {
                    s += Math.cos(shift * freq[d]);
                }
                rows[shift][b + 1] = s / (to - from);
            }
        }
        return rows;
    }

    /**
     * Band index of every chunk of a multi-axis head: each spatial axis ({@code a ≥ 1}) split into {@code k}
     * contiguous bands by its own chunk index (band 0 = highest frequencies), and axis 0 (when there are
     * several axes) in an extra band {@code k}.
     */
    public static int[] chunkBandsPerAxis(int[] axesDim, int k) {
        if (k < 1) {
            throw new IllegalArgumentException("bands must be >= 1, got " + k);
        }
        int chunks = 0;
        for (int d : axesDim) {
            chunks += d / 2;
        }
        int[] band = new int[chunks];
        int p = 0;
        for (int a = 0; a < axesDim.length; a++) {
            int n = axesDim[a] / 2;
            for (int j = 0; j < n; j++, p++) {
                band[p] = axesDim.length > 1 && a == 0 ? k : Math.min(k - 1, (int) ((long) j * k / n));
            }
        }
        return band;
    }
}
