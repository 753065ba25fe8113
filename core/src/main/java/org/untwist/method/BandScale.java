package org.untwist.method;

import java.util.Arrays;

/**
 * The per-chunk scale of reference keys, {@code s_d = s_hf + (s_lf − s_hf) · d̃^β} (PAPER.md §4.2): one value per
 * RoPE chunk (pair of adjacent elements), {@code d̃ = 0} at the highest frequency and {@code 1} at the lowest.
 *
 * @param sHf     scale at the highest frequency, {@code ≥ 0}
 * @param sLf     scale at the lowest frequency, {@code ≥ 0}
 * @param beta    curve exponent, {@code > 0}
 * @param mapping how {@code d̃} is laid over the axes
 * @param axis0   what axis 0 gets under {@link ChunkMapping#PER_AXIS}
 */
public record BandScale(double sHf, double sLf, double beta, ChunkMapping mapping, Axis0 axis0) {

    /** The paper's community-reported β (PAPER.md §4.2: "β = 2" per a third-party analysis). */
    public static final double DEFAULT_BETA = 2.0;

    public BandScale {
        if (!(sHf >= 0) || Double.isInfinite(sHf)) {
            throw new IllegalArgumentException("s_hf must be a finite number >= 0, got " + sHf);
        }
        if (!(sLf >= 0) || Double.isInfinite(sLf)) {
            throw new IllegalArgumentException("s_lf must be a finite number >= 0, got " + sLf);
        }
        if (!(beta > 0) || Double.isInfinite(beta)) {
            throw new IllegalArgumentException("beta must be a finite number > 0, got " + beta);
        }
        if (mapping == null || axis0 == null) {
            throw new IllegalArgumentException("mapping and axis0 must be given");
        }
    }

    /** Per-axis mapping with axis 0 at {@code s_lf}: the default layout. */
    public static BandScale of(double sHf, double sLf, double beta) {
        return new BandScale(sHf, sLf, beta, ChunkMapping.PER_AXIS, Axis0.LOW);
    }

    /** A uniform scale {@code s} on every chunk (StyleAligned's {@code shared_score_scale}; 1 = plain sharing). */
    public static BandScale uniform(double s) {
        return new BandScale(s, s, 1.0, ChunkMapping.GLOBAL, Axis0.LOW);
    }

    /** The scale at normalized index {@code dTilde ∈ [0, 1]}. */
    public double at(double dTilde) {
        return sHf + (sLf - sHf) * Math.pow(dTilde, beta);
    }

    /**
     * One scale per chunk of a head whose RoPE axes have {@code axesDim} dimensions (chunks of axis 0 first,
     * as FLUX lays them out).
     */
    public float[] chunkScales(int[] axesDim) {
        int chunks = 0;
        for (int d : axesDim) {
            if (d <= 0 || d % 2 != 0) {
                throw new IllegalArgumentException("axes dimensions must be positive and even, got " + Arrays.toString(axesDim));
            }
            chunks += d / 2;
        }
        float[] s = new float[chunks];
        if (mapping == ChunkMapping.GLOBAL || axesDim.length == 1) {
            for (int d = 0; d < chunks; d++) {
                s[d] = (float) at(chunks == 1 ? 0 : (double) d / (chunks - 1));
            }
            return s;
        }
        int p = 0;
        for (int a = 0; a < axesDim.length; a++) {
            int n = axesDim[a] / 2;
            for (int j = 0; j < n; j++, p++) {
                if (a == 0) {
                    s[p] = axis0 == Axis0.LOW ? (float) sLf : 1f;
                } else {
                    s[p] = (float) at(n == 1 ? 0 : (double) j / (n - 1));
                }
            }
        }
        return s;
    }

    /** The scales at progress {@code tau ∈ [0, 1]} of a linear schedule from {@code start} to {@code end}. */
    public static BandScale lerp(BandScale start, BandScale end, double tau) {
        if (!(tau >= 0 && tau <= 1)) {
            throw new IllegalArgumentException("schedule progress must be in [0, 1], got " + tau);
        }
        return new BandScale(start.sHf + tau * (end.sHf - start.sHf), start.sLf + tau * (end.sLf - start.sLf), start.beta,
                start.mapping, start.axis0);
    }
}
