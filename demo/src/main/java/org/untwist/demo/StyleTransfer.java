package org.untwist.demo;

import java.util.ArrayList;
import java.util.List;
import org.untwist.sampling.EulerSampler;
import org.untwist.sampling.FlowMatchSchedule;
import org.untwist.flux.FluxInputs;
import org.untwist.sampling.GaussianNoise;
import org.untwist.method.AttentionStats;
import org.untwist.method.SharingMode;
import org.untwist.method.SharingPlan;
import org.untwist.sampling.StyleAlignedSampler;
import org.untwist.tensor.Tensor;

/**
 * One style-aligned generation with the glyph model: a shipped reference (clean, noised along the schedule
 * as the flow-matching path) in batch element 0 and one target per prompt after it, sharing attention
 * according to a {@link SharingPlan}. Target {@code i} starts from the noise of seed {@code seed + 1 + i}, so
 * runs that differ only in the plan start from the same noise and can be compared pairwise.
 */
public final class StyleTransfer {
    /** Radius (grid cells) of "aligned" in the aligned-attention mass. */
    public static final double ALIGNED_RADIUS = 1.0;

    /**
     * @param targets        the generated targets, in prompt order
     * @param alignedMass    mean share of the reference attention within {@link #ALIGNED_RADIUS} of the query's own
     *                       position (over steps, blocks, heads, targets, image queries); NaN without sharing or stats
     * @param referenceShare mean share of all attention that goes to the reference; NaN likewise
     */
    public record Result(List<GlyphImage> targets, double alignedMass, double referenceShare) {
    }

    private StyleTransfer() {
    }

    public static Result run(GlyphModel model, int referenceIndex, int[] prompts, long seed, int steps, SharingPlan plan,
                             boolean collectStats, EulerSampler.StepListener listener) {
        if (prompts.length == 0) {
            throw new IllegalArgumentException("at least one prompt is needed");
        }
        if (steps < 1) {
            throw new IllegalArgumentException("steps must be >= 1, got " + steps);
        }
        var cfg = model.flux().config();
        int b = 1 + prompts.length, size = model.imageSize(), grid = size / 2, li = grid * grid, ch = cfg.inChannels();
        ReferenceSet refs = model.references();
        List<Tensor> owned = new ArrayList<>();
        try (Tensor refLatent = refs.latent(referenceIndex)) {
            Tensor img = own(owned, Tensor.allocate(b, li, ch));
            Tensor ids = own(owned, Tensor.allocate(b, li, 3));
            Tensor txt = own(owned, Tensor.allocate(b, 1, cfg.contextInDim()));
            Tensor txtIds = own(owned, Tensor.allocate(b, 1, 3));
            Tensor y = own(owned, Tensor.allocate(b, cfg.vecInDim()));
            Tensor t = own(owned, Tensor.allocate(b));
            Tensor g = own(owned, Tensor.allocate(b));
            long per = (long) li * ch;
            for (int e = 0; e < b; e++) {
                GaussianNoise.fill(img, e * per, per, seed + e);
                for (int i = 0; i < li; i++) {
                    ids.set(((long) e * li + i) * 3 + 1, i / grid);
                    ids.set(((long) e * li + i) * 3 + 2, i % grid);
                }
                model.encode(e == 0 ? refs.character()[referenceIndex] : prompts[e - 1], txt, y, e);
            }
            FluxInputs in = new FluxInputs(img, ids, txt, txtIds, y, t, g);
            AttentionStats stats = collectStats && plan.mode() != SharingMode.NONE ? new AttentionStats(ALIGNED_RADIUS) : null;
            float[] schedule = FlowMatchSchedule.timesteps(steps, li, true);
            try (Tensor out = StyleAlignedSampler.generate(model.flux(), in, refLatent, schedule, 0f, plan, stats, listener)) {
                float[] tokens = out.toFloatArray();
                List<GlyphImage> targets = new ArrayList<>();
                for (int e = 1; e < b; e++) {
                    targets.add(GlyphImage.fromTokens(tokens, (int) (e * per), size));
                }
                double aligned = Double.NaN, share = Double.NaN;
                if (stats != null && !stats.entries().isEmpty()) {
                    aligned = stats.entries().stream().mapToDouble(AttentionStats.Entry::meanAlignedMass).average().orElse(Double.NaN);
                    share = stats.entries().stream().mapToDouble(AttentionStats.Entry::meanReferenceShare).average().orElse(Double.NaN);
                }
                return new Result(targets, aligned, share);
            }
        } finally {
            owned.forEach(Tensor::close);
        }
    }

    private static Tensor own(List<Tensor> owned, Tensor t) {
        owned.add(t);
        return t;
    }
}
