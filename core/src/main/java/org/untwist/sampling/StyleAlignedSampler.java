package org.untwist.sampling;

import org.untwist.flux.FluxConfig;
import org.untwist.flux.FluxInputs;
import org.untwist.flux.FluxModel;
import org.untwist.method.AttentionSharing;
import org.untwist.method.AttentionStats;
import org.untwist.method.BandScale;
import org.untwist.method.BlockSelection;
import org.untwist.method.SharingMode;
import org.untwist.method.SharingPlan;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * Style-aligned generation with the reference in the same batch (batch element 0) and targets after it,
 * the reference's attention shared with the targets according to a {@link SharingPlan}. The reference is
 * either generated in parallel from its own noise and prompt, or given as a clean latent {@code x0} and
 * noised along the same schedule ({@code x_t = (1 − t)·x0 + t·ε}, the flow-matching path) at every step.
 */
public final class StyleAlignedSampler {
    private StyleAlignedSampler() {
    }

    /**
     * Samples every batch element from {@code start.img()} (element 0: the reference's noise).
     *
     * @param referenceLatent clean reference latent {@code [1, Li, C]}, or null to generate the reference in parallel
     * @param stats           collector of attention statistics, or null
     * @return the final latents {@code [B, Li, C]} (reference first), owned by the caller
     */
    public static Tensor generate(FluxModel model, FluxInputs start, Tensor referenceLatent, float[] timesteps, float guidance,
                                  SharingPlan plan, AttentionStats stats, EulerSampler.StepListener listener) {
        FluxConfig c = model.config();
        int b = start.batch(), li = start.imageTokens(), ch = c.outChannels();
        int steps = EulerSampler.steps(timesteps);
        if (b < 2 && plan.mode() != SharingMode.NONE) {
            throw new IllegalArgumentException("style-aligned generation needs the reference and at least one target (batch >= 2), got " + b);
        }
        if (referenceLatent != null && !referenceLatent.hasShape(1, li, ch)) {
            throw new IllegalArgumentException("reference latent has shape " + java.util.Arrays.toString(referenceLatent.shape())
                    + ", expected [1, " + li + ", " + ch + "] (a reference of another grid size cannot share positions)");
        }
        int last = plan.lastStep() == -1 ? steps - 1 : plan.lastStep();
        if (plan.firstStep() >= steps || last >= steps) {
            throw new IllegalArgumentException("step range [" + plan.firstStep() + ", " + last + "] is outside the " + steps + " steps");
        }
        BlockSelection blocks = BlockSelection.parse(plan.blocks(), c.depth(), c.depthSingleBlocks());
        int gridWidth = start.gridColumns();
        try (Tensor noise0 = start.img().rows(0, 1).copy(DType.F32)) {
            Tensor img = EulerSampler.integrate(model, start, timesteps, guidance, (i, tCurr, in, pred) -> {
                if (referenceLatent != null) {
                    noiseReference(in.img().rows(0, 1), referenceLatent, noise0, tCurr);
                }
                AttentionSharing sharing = null;
                if (plan.mode() != SharingMode.NONE && i >= plan.firstStep() && i <= last) {
                    double tau = last == plan.firstStep() ? 0 : (double) (i - plan.firstStep()) / (last - plan.firstStep());
                    sharing = sharingAt(plan, tau, blocks, c, gridWidth, stats);
                }
                if (stats != null) {
                    stats.setStep(i);
                }
                model.forward(in, pred, sharing);
            }, listener);
            if (referenceLatent != null) {
                try {
                    img.rows(0, 1).copyFrom(referenceLatent);
                } catch (RuntimeException e) {
                    img.close();
                    throw e;
                }
            }
            return img;
        }
    }

    /** The per-call sharing instructions at schedule progress {@code tau}. */
    static AttentionSharing sharingAt(SharingPlan plan, double tau, BlockSelection blocks, FluxConfig c, int gridWidth, AttentionStats stats) {
        int chunks = c.headDim() / 2;
        return switch (plan.mode()) {
            case FULL -> new AttentionSharing(SharingMode.FULL, blocks, null, false, 0, stats);
            case UNTWISTED -> new AttentionSharing(SharingMode.UNTWISTED, blocks,
                    BandScale.lerp(plan.start(), plan.end(), tau).chunkScales(c.axesDim()), false, 0, stats);
            case STYLE_ALIGNED -> new AttentionSharing(SharingMode.STYLE_ALIGNED, blocks, uniform(chunks, plan.uniformScale()), true, 0, stats);
            case SHIFT_PE -> new AttentionSharing(SharingMode.SHIFT_PE, blocks, uniform(chunks, plan.uniformScale()), false, gridWidth, stats);
            case NONE -> throw new IllegalStateException("no sharing in mode NONE");
        };
    }

    private static float[] uniform(int chunks, double s) {
        if (s == 1.0) {
            return null;
        }
        float[] v = new float[chunks];
        java.util.Arrays.fill(v, (float) s);
        return v;
    }


    /** {@code x_t = (1 − t)·x0 + t·ε}. */
    private static void noiseReference(Tensor dst, Tensor x0, Tensor noise, float t) {
        for (long e = 0; e < dst.numel(); e++) {
            dst.set(e, (1f - t) * x0.get(e) + t * noise.get(e));
        }
    }

}
