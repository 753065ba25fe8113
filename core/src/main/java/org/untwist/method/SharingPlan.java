package org.untwist.method;

/**
 * The knobs of style-aligned generation (PAPER.md §4). Defaults where the paper is silent are choices of
 * this project, documented in the README:
 * <ul>
 *   <li>untwisted scales rise linearly over the steps from {@code (s_hf, s_lf) = (0.4, 1.0)} to {@code (0.8, 1.5)}:
 *       the two settings the paper's ablation labels "Ours" (§4.7), ordered so both scales increase (§4.4);</li>
 *   <li>{@code β = 2} (a third-party report of the paper's value, §4.2), per-axis mapping, axis 0 at {@code s_lf};</li>
 *   <li>sharing in all blocks and all steps (the paper does not say; AlignedGen uses single-stream blocks only);</li>
 *   <li>StyleAligned and ShiftPE use a uniform reference-key scale of 1 (StyleAligned's {@code shared_score_scale}
 *       default).</li>
 * </ul>
 *
 * @param mode         sharing mode
 * @param start        band scale at the first shared step (untwisted)
 * @param end          band scale at the last shared step (untwisted)
 * @param uniformScale reference-key scale for StyleAligned and ShiftPE
 * @param blocks       block selection spec ({@link BlockSelection#parse})
 * @param firstStep    first step (from 0) with sharing
 * @param lastStep     last step with sharing, inclusive; {@code -1} = the last step
 */
public record SharingPlan(SharingMode mode, BandScale start, BandScale end, double uniformScale, String blocks, int firstStep,
                          int lastStep) {

    public SharingPlan {
        if (mode == null) {
            throw new IllegalArgumentException("mode must be given");
        }
        if (!(uniformScale >= 0) || Double.isInfinite(uniformScale)) {
            throw new IllegalArgumentException("uniform scale must be a finite number >= 0, got " + uniformScale);
        }
        if (firstStep < 0 || (lastStep != -1 && lastStep < firstStep)) {
            throw new IllegalArgumentException("step range [" + firstStep + ", " + lastStep + "] is empty or negative");
        }
        if (start == null || end == null) {
            throw new IllegalArgumentException("start and end band scales must be given");
        }
        if (start.beta() != end.beta() || start.mapping() != end.mapping() || start.axis0() != end.axis0()) {
            throw new IllegalArgumentException("start and end band scales must share beta, mapping and axis-0 policy");
        }
    }

    /** The defaults for a mode. */
    public static SharingPlan defaults(SharingMode mode) {
        return new SharingPlan(mode, BandScale.of(0.4, 1.0, BandScale.DEFAULT_BETA), BandScale.of(0.8, 1.5, BandScale.DEFAULT_BETA), 1.0,
                "all", 0, -1);
    }

    /** This plan with another mode. */
    public SharingPlan withMode(SharingMode m) {
        return new SharingPlan(m, start, end, uniformScale, blocks, firstStep, lastStep);
    }

    /** This plan with a constant band scale (start = end). */
    public SharingPlan withConstantScale(BandScale s) {
        return new SharingPlan(mode, s, s, uniformScale, blocks, firstStep, lastStep);
    }
}
