package org.untwist.method;

import java.util.Arrays;

/**
 * What one forward pass of the FLUX model ({@code org.untwist.flux.FluxModel}) does with shared attention. Batch element 0
 * is the reference; every other element is a target. In the selected blocks the reference attends only to
 * itself and each target attends to its own keys (text and image) plus the reference's image keys, scaled
 * per RoPE chunk by {@link #chunkScale()} as they are read.
 *
 * @param mode          which kind of sharing (never {@link SharingMode#NONE}: pass no sharing instead)
 * @param blocks        blocks where sharing applies
 * @param chunkScale    one scale per RoPE chunk for the reference keys, or null for all ones
 * @param adaIn         StyleAligned: AdaIN of target image queries and keys to the reference's statistics
 * @param shiftColumns  ShiftPE: reference keys are rotated as if shifted right by this many columns (0 = same grid)
 * @param stats         optional collector of attention statistics (aligned-attention mass), or null
 */
public record AttentionSharing(SharingMode mode, BlockSelection blocks, float[] chunkScale, boolean adaIn, int shiftColumns,
                               AttentionStats stats) {
    /** StyleAligned's AdaIN epsilon (added to the variance). */
    public static final float ADAIN_EPS = 1e-5f;

    public AttentionSharing {
        if (mode == null || mode == SharingMode.NONE) {
            throw new IllegalArgumentException("attention sharing needs a mode other than NONE");
        }
        if (blocks == null) {
            throw new IllegalArgumentException("attention sharing needs a block selection");
        }
        if (shiftColumns < 0) {
            throw new IllegalArgumentException("shiftColumns must be >= 0, got " + shiftColumns);
        }
        if (chunkScale != null) {
            chunkScale = chunkScale.clone();
            for (int i = 0; i < chunkScale.length; i++) {
                if (!(chunkScale[i] >= 0) || Float.isInfinite(chunkScale[i])) {
                    throw new IllegalArgumentException("chunk scale " + i + " = " + chunkScale[i] + " must be finite and >= 0");
                }
            }
        }
    }

    @Override
    public float[] chunkScale() {
        return chunkScale == null ? null : chunkScale.clone();
    }

    @Override
    public String toString() {
        return mode + " blocks=" + blocks + (chunkScale == null ? "" : " scale=" + Arrays.toString(chunkScale)) + (adaIn ? " adain" : "")
                + (shiftColumns > 0 ? " shift=" + shiftColumns : "");
    }
}
