package org.untwist.backend;

/**
 * Frequencies of the sinusoidal timestep embedding as the reference computes them in float32:
 * {@code exp(−ln(maxPeriod) · j / half)}. Shared by every backend.
 */
public final class TimestepFrequencies {
    private TimestepFrequencies() {
    }

    /** The {@code half} frequencies. */
    public static float[] of(int half, double maxPeriod) {
        float[] f = new float[half];
        float logMax = (float) -Math.log(maxPeriod);
        for (int j = 0; j < half; j++) {
            float x = logMax * (float) j / (float) half;
            f[j] = (float) Math.exp(x);
        }
        return f;
    }
}
