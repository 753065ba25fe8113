package org.untwist.backend;

/**
 * RoPE frequencies exactly as the reference computes them, in float32: {@code scale = (2j as float) / dim},
 * {@code ω_j = 1 / theta^scale}. Shared by every backend so that the tables agree to the last bit of ω.
 */
public final class RopeFrequencies {
    private RopeFrequencies() {
    }

    /** Frequency of pair {@code j} of an axis with {@code dim} dimensions. */
    public static float omega(int j, int dim, double theta) {
        float scale = (float) (2 * j) / (float) dim;
        float pow = (float) Math.pow((float) theta, scale);
        return 1.0f / pow;
    }

    /** All {@code dim / 2} frequencies of one axis. */
    public static float[] omegas(int dim, double theta) {
        float[] w = new float[dim / 2];
        for (int j = 0; j < w.length; j++) {
            w[j] = omega(j, dim, theta);
        }
        return w;
    }
}
