package org.untwist.sampling;

/**
 * The flow-matching time grid of the reference's {@code get_schedule}: {@code N + 1} times from 1 to 0,
 * warped toward high noise by a shift {@code μ} that grows linearly with the number of image tokens
 * (0.5 at 256 tokens, 1.15 at 4096). Computed in float32 like the reference's tensor arithmetic.
 */
public final class FlowMatchSchedule {
    /** The reference's defaults. */
    public static final double BASE_SHIFT = 0.5, MAX_SHIFT = 1.15;

    /**
     * The most steps a schedule has: the reference samples with 4 to 50; 1000 is 20 times the largest and
     * already converged for an Euler sampler, while costing 1000 forward passes. Larger counts are typos.
     */
    public static final int MAX_STEPS = 1000;

    private FlowMatchSchedule() {
    }

    /** {@code get_schedule(numSteps, imageSeqLen, 0.5, 1.15, shift)}. */
    public static float[] timesteps(int numSteps, int imageSeqLen, boolean shift) {
        return timesteps(numSteps, imageSeqLen, BASE_SHIFT, MAX_SHIFT, shift);
    }

    /**
     * The {@code numSteps + 1} times, first 1 and last 0.
     *
     * @throws IllegalArgumentException for a step count outside {@code [1, MAX_STEPS]}, a non-positive sequence
     *                                  length or a non-finite shift
     */
    public static float[] timesteps(int numSteps, int imageSeqLen, double baseShift, double maxShift, boolean shift) {
        if (numSteps < 1 || numSteps > MAX_STEPS) {
            throw new IllegalArgumentException("number of steps must be between 1 and " + MAX_STEPS + ", got " + numSteps);
        }
        if (!Double.isFinite(baseShift) || !Double.isFinite(maxShift)) {
            throw new IllegalArgumentException("base and max shift must be finite, got " + baseShift + " and " + maxShift);
        }
        if (imageSeqLen < 1) {
            throw new IllegalArgumentException("image sequence length must be >= 1, got " + imageSeqLen);
        }
        float[] t = linspace(1f, 0f, numSteps + 1);
        if (shift) {
            double m = (maxShift - baseShift) / (4096 - 256);
            double b = baseShift - m * 256;
            double mu = imageSeqLen * m + b;
            float e = (float) Math.exp(mu);
            for (int i = 0; i < t.length; i++) {
                // exp(mu) / (exp(mu) + (1/t - 1)^1); at t = 0 this is e / inf = 0, as in the reference.
                t[i] = e / (e + (1f / t[i] - 1f));
            }
        }
        return t;
    }

    /** {@code torch.linspace} in float32: the first half stepped from the start, the second from the end. */
    static float[] linspace(float start, float end, int steps) {
        float[] out = new float[steps];
        if (steps == 1) {
            out[0] = start;
            return out;
        }
        float step = (end - start) / (steps - 1);
        int half = steps / 2;
        for (int i = 0; i < steps; i++) {
            out[i] = i < half ? start + step * i : end - step * (steps - 1 - i);
        }
        return out;
    }
}
