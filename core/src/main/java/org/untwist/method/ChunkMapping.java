package org.untwist.method;

/**
 * How the normalized frequency index {@code d̃} of the band formula is laid over a multi-axis RoPE head
 * (PAPER.md §4.5; the paper does not say which it used).
 */
public enum ChunkMapping {
    /**
     * Per spatial axis (the default, as every public port does): {@code d̃ = j / (n_a − 1)} within each axis
     * {@code a ≥ 1} of {@code n_a} chunks; axis 0 (FLUX's index axis, constant in text-to-image) is held at
     * a fixed value ({@link Axis0}).
     */
    PER_AXIS,
    /** Over the raw head: {@code d̃ = d / (D/2 − 1)} for chunk {@code d = 0 … D/2 − 1}, ignoring axes. */
    GLOBAL
}
