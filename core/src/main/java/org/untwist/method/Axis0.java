package org.untwist.method;

/** What the band scale does on RoPE axis 0 under {@link ChunkMapping#PER_AXIS}. */
public enum Axis0 {
    /** Held at {@code s_lf}: axis 0 never rotates in FLUX.1 text-to-image, so it acts as the lowest frequency (default). */
    LOW,
    /** Left unscaled (1). */
    ONE
}
