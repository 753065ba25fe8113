package org.untwist.pipeline;

import java.util.Arrays;

/**
 * The FLUX.1 autoencoder's hyper-parameters with the names of BFL's {@code AutoEncoderParams}.
 *
 * @param resolution   training resolution (informational)
 * @param inChannels   image channels in
 * @param ch           channels of the first level
 * @param outCh        image channels out
 * @param chMult       channel multiplier per level
 * @param numResBlocks resnet blocks per encoder level (the decoder has one more)
 * @param zChannels    latent channels
 * @param scaleFactor  latent scale
 * @param shiftFactor  latent shift
 */
public record VaeConfig(int resolution, int inChannels, int ch, int outCh, int[] chMult, int numResBlocks, int zChannels, double scaleFactor,
                        double shiftFactor) {

    /** FLUX.1's latent scale and shift (BFL's {@code ae_params}), assumed for an {@code ae.safetensors} with 16 latent channels. */
    public static final double FLUX_SCALE = 0.3611, FLUX_SHIFT = 0.1159;

    public VaeConfig {
        chMult = chMult.clone();
    }

    @Override
    public int[] chMult() {
        return chMult.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof VaeConfig v && resolution == v.resolution && inChannels == v.inChannels && ch == v.ch && outCh == v.outCh
                && Arrays.equals(chMult, v.chMult) && numResBlocks == v.numResBlocks && zChannels == v.zChannels
                && Double.compare(scaleFactor, v.scaleFactor) == 0 && Double.compare(shiftFactor, v.shiftFactor) == 0;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(chMult) * 31 + ch * 17 + zChannels;
    }

    @Override
    public String toString() {
        return "VaeConfig[ch " + ch + ", ch_mult " + Arrays.toString(chMult) + ", res blocks " + numResBlocks + ", z " + zChannels
                + ", in " + inChannels + ", out " + outCh + ", scale " + scaleFactor + ", shift " + shiftFactor + "]";
    }

    /** The same settings as the autoencoder takes them (GroupNorm with 32 groups, as the reference). */
    public org.untwist.autoencoder.AutoEncoderConfig autoEncoderConfig() {
        return new org.untwist.autoencoder.AutoEncoderConfig(inChannels, ch, outCh, java.util.Arrays.stream(chMult).boxed().toList(), numResBlocks,
                zChannels, (float) scaleFactor, (float) shiftFactor, 32);
    }
}
