package org.untwist.demo;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.untwist.sampling.EulerSampler;
import org.untwist.method.BandScale;
import org.untwist.method.SharingMode;
import org.untwist.method.SharingPlan;

/**
 * The copying-versus-style experiment: for each of {@code references} references of the shipped set and
 * {@code promptsPerReference} prompts (characters other than the reference's, drawn from the seed), every
 * {@link Setting} generates the targets from the same noise, and each target is scored with
 * {@link GlyphMetrics} against its reference and prompt.
 */
public final class Experiment {
    /** One way of sharing: a mode, and for untwisted its (possibly scheduled) band scales. */
    public record Setting(String name, SharingPlan plan) {
        public static Setting of(SharingMode mode) {
            return new Setting(mode.label(), SharingPlan.defaults(mode));
        }

        /** Untwisted with a constant band scale. */
        public static Setting constant(double sHf, double sLf) {
            return new Setting(String.format(java.util.Locale.ROOT, "untwisted s_hf=%.2f s_lf=%.2f", sHf, sLf),
                    SharingPlan.defaults(SharingMode.UNTWISTED).withConstantScale(BandScale.of(sHf, sLf, BandScale.DEFAULT_BETA)));
        }
    }

    /** The scores of one target. */
    public record Row(String setting, int reference, int referenceChar, int prompt, long seed, GlyphMetrics.Scores scores,
                      double alignedMass, double referenceShare) {
    }

    /** The default comparison: the four modes, then a sweep of constant untwisted scales. */
    public static List<Setting> defaultSettings() {
        List<Setting> s = new ArrayList<>();
        for (SharingMode m : new SharingMode[] {SharingMode.NONE, SharingMode.FULL, SharingMode.UNTWISTED, SharingMode.STYLE_ALIGNED}) {
            s.add(Setting.of(m));
        }
        for (double[] p : new double[][] {{0.2, 1.0}, {0.4, 1.0}, {0.6, 1.0}, {0.8, 1.0}, {0.4, 1.5}, {0.8, 1.5}}) {
            s.add(Setting.constant(p[0], p[1]));
        }
        return s;
    }

    private Experiment() {
    }

    /** The prompts of reference {@code r}: distinct characters other than its own, from {@code seed}. */
    public static int[] prompts(GlyphModel model, int r, int count, long seed) {
        int vocab = model.vocabulary().length(), own = model.references().character()[r];
        if (count < 1 || count > vocab - 1) {
            throw new IllegalArgumentException("prompts per reference must be in [1, " + (vocab - 1) + "], got " + count);
        }
        SplittableRandom rng = new SplittableRandom(seed * 7919 + r);
        List<Integer> pool = new ArrayList<>();
        for (int c = 0; c < vocab; c++) {
            if (c != own) {
                pool.add(c);
            }
        }
        int[] out = new int[count];
        for (int i = 0; i < count; i++) {
            out[i] = pool.remove(rng.nextInt(pool.size()));
        }
        return out;
    }

    /**
     * Runs every setting on references {@code 0 .. references-1}.
     *
     * @param progress called after every sampling step
     */
    public static List<Row> run(GlyphModel model, List<Setting> settings, int references, int promptsPerReference, long seed, int steps,
                                EulerSampler.StepListener progress) {
        if (references < 1 || references > model.references().size()) {
            throw new IllegalArgumentException("references must be in [1, " + model.references().size() + "], got " + references);
        }
        GlyphMetrics metrics = new GlyphMetrics(model.atlas());
        List<Row> rows = new ArrayList<>();
        for (int r = 0; r < references; r++) {
            int[] prompts = prompts(model, r, promptsPerReference, seed);
            long noiseSeed = seed * 1_000_003L + 100L * r;
            GlyphMetrics.Features ref = metrics.features(model.references().image(r));
            int refChar = model.references().character()[r], refFont = model.references().font()[r];
            for (Setting s : settings) {
                StyleTransfer.Result res = StyleTransfer.run(model, r, prompts, noiseSeed, steps, s.plan(), true, progress);
                List<GlyphMetrics.Scores> scores = metrics.scores(res.targets(), prompts, ref, refChar, refFont);
                for (int p = 0; p < prompts.length; p++) {
                    rows.add(new Row(s.name(), r, refChar, prompts[p], noiseSeed + 1 + p, scores.get(p), res.alignedMass(), res.referenceShare()));
                }
            }
        }
        return rows;
    }
}
