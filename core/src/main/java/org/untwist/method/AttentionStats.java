package org.untwist.method;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.untwist.tensor.Tensor;

/**
 * Collects, for each shared-attention block call, how target image queries spread their attention over
 * the reference: the <em>aligned-attention mass</em> (the share of a query's reference attention that falls
 * within {@code radius} grid cells, Euclidean, of its own grid position) and the <em>reference share</em>
 * (the part of its whole softmax that goes to the reference at all), per head, averaged over target image
 * queries and targets. Copying shows as a high aligned mass.
 */
public final class AttentionStats {
    /** One block call. */
    public record Entry(int step, String block, double[] alignedMass, double[] referenceShare) {
        /** Mean over heads. */
        public double meanAlignedMass() {
            return mean(alignedMass);
        }

        /** Mean over heads. */
        public double meanReferenceShare() {
            return mean(referenceShare);
        }

        private static double mean(double[] v) {
            double s = 0;
            for (double x : v) {
                s += x;
            }
            return v.length == 0 ? 0 : s / v.length;
        }
    }

    /** Mean squared per-band logit term of target image queries against reference image keys, per head. */
    public record BandEnergy(int step, String block, double[][] perHeadBand) {
    }

    /** The reference attention map of chosen target image queries (first target, mean over heads). */
    public record AttentionMap(int step, String block, int query, float[] referenceMap) {
    }

    private final double radius;
    private final List<Entry> entries = new ArrayList<>();
    private final List<BandEnergy> energies = new ArrayList<>();
    private final List<AttentionMap> maps = new ArrayList<>();
    private int[] chunkBand;
    private int bands;
    private int[] mapQueries = new int[0];
    private int step;

    /** @param radius grid distance within which reference attention counts as aligned ({@code ≥ 0}) */
    public AttentionStats(double radius) {
        if (!(radius >= 0) || Double.isInfinite(radius)) {
            throw new IllegalArgumentException("aligned-attention radius must be a finite number >= 0, got " + radius);
        }
        this.radius = radius;
    }

    /**
     * Also record per-band logit energies (the model calls {@code Backend.chunkLogits} on the first target's
     * queries and the reference keys; memory grows with the square of the sequence: for small models).
     */
    public AttentionStats withBandEnergy(int[] chunkToBand, int bandCount) {
        this.chunkBand = chunkToBand.clone();
        this.bands = bandCount;
        return this;
    }

    /** Also keep the reference attention maps of these target image query indices. */
    public AttentionStats withMaps(int... imageQueries) {
        this.mapQueries = imageQueries.clone();
        return this;
    }

    /** The chunk-to-band map for band energies, or null when they are not recorded. */
    public int[] chunkBand() {
        return chunkBand == null ? null : chunkBand.clone();
    }

    public int bands() {
        return bands;
    }

    /**
     * Records band energies from {@code terms [1, H, L, L, bands]} (first target's queries × reference keys,
     * unscaled), over image queries and image keys only.
     */
    public void recordBands(String block, Tensor terms, int textTokens) {
        int heads = terms.dim(1), l = terms.dim(2), nb = terms.dim(4), li = l - textTokens;
        double[][] e = new double[heads][nb];
        for (int h = 0; h < heads; h++) {
            for (int i = textTokens; i < l; i++) {
                for (int j = textTokens; j < l; j++) {
                    long base = ((((long) h * l) + i) * l + j) * nb;
                    for (int c = 0; c < nb; c++) {
                        double v = terms.get(base + c);
                        e[h][c] += v * v;
                    }
                }
            }
            for (int c = 0; c < nb; c++) {
                e[h][c] /= (double) li * li;
            }
        }
        energies.add(new BandEnergy(step, block, e));
    }

    public List<BandEnergy> bandEnergies() {
        return Collections.unmodifiableList(energies);
    }

    public List<AttentionMap> maps() {
        return Collections.unmodifiableList(maps);
    }

    public double radius() {
        return radius;
    }

    /** Sets the sampling step that following records belong to. */
    public void setStep(int step) {
        this.step = step;
    }

    /**
     * Records one block call.
     *
     * @param block      block name, e.g. {@code d0} or {@code s3}
     * @param probs      {@code [T, H, L, L + Li]}: target rows over [own text+image keys ; reference image keys]
     * @param textTokens tokens before the image tokens in each sequence
     * @param rows       grid row of each image token ({@code Li} entries; same grid for targets and reference)
     * @param cols       grid column of each image token
     */
    public void record(String block, Tensor probs, int textTokens, float[] rows, float[] cols) {
        int targets = probs.dim(0), heads = probs.dim(1), l = probs.dim(2), width = probs.dim(3);
        int li = rows.length, own = l;
        if (width != own + li || l != textTokens + li) {
            throw new IllegalArgumentException("attention probabilities " + java.util.Arrays.toString(probs.shape())
                    + " do not match " + textTokens + " text and " + li + " image tokens");
        }
        double r2 = radius * radius;
        double[] aligned = new double[heads], share = new double[heads];
        for (int h = 0; h < heads; h++) {
            double a = 0, sh = 0;
            for (int b = 0; b < targets; b++) {
                for (int i = 0; i < li; i++) {
                    long row = (((long) b * heads + h) * l + textTokens + i) * width;
                    double total = 0, near = 0;
                    for (int j = 0; j < li; j++) {
                        double p = probs.get(row + own + j);
                        total += p;
                        double dr = rows[j] - rows[i], dc = cols[j] - cols[i];
                        if (dr * dr + dc * dc <= r2) {
                            near += p;
                        }
                    }
                    a += total > 0 ? near / total : 0;
                    sh += total;
                }
            }
            aligned[h] = a / ((double) targets * li);
            share[h] = sh / ((double) targets * li);
        }
        entries.add(new Entry(step, block, aligned, share));
        for (int qi : mapQueries) {
            if (qi < 0 || qi >= li) {
                throw new IllegalArgumentException("map query " + qi + " is not an image token index in [0, " + li + ")");
            }
            float[] map = new float[li];
            for (int h = 0; h < heads; h++) {
                long row = (((long) h) * l + textTokens + qi) * width + own;
                for (int j = 0; j < li; j++) {
                    map[j] += probs.get(row + j) / heads;
                }
            }
            maps.add(new AttentionMap(step, block, qi, map));
        }
    }

    /** Every record, in order. */
    public List<Entry> entries() {
        return Collections.unmodifiableList(entries);
    }

    /** Mean aligned mass per block over all recorded steps and heads, in first-seen block order. */
    public Map<String, double[]> perBlockMeans() {
        Map<String, double[]> sums = new LinkedHashMap<>(); // block -> {aligned sum, share sum, count}
        for (Entry e : entries) {
            double[] s = sums.computeIfAbsent(e.block(), k -> new double[3]);
            s[0] += e.meanAlignedMass();
            s[1] += e.meanReferenceShare();
            s[2]++;
        }
        Map<String, double[]> out = new LinkedHashMap<>();
        sums.forEach((k, s) -> out.put(k, new double[] {s[0] / s[2], s[1] / s[2]}));
        return out;
    }
}
