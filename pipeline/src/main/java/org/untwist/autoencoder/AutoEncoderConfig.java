package org.untwist.autoencoder;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.untwist.checkpoint.ConfigFile;

/**
 * The hyper-parameters of FLUX's autoencoder, as the reference's {@code AutoEncoderParams} names them. Read from a
 * {@code config.json} with those names ({@code ch}, {@code ch_mult}, {@code num_res_blocks}, {@code z_channels},
 * {@code scale_factor}, {@code shift_factor}, ...) or from a diffusers {@code AutoencoderKL} config (a pipeline's
 * {@code vae/config.json}: {@code block_out_channels}, {@code layers_per_block}, {@code latent_channels},
 * {@code scaling_factor}, {@code shift_factor}, {@code norm_num_groups}), which describes the same network.
 *
 * @param inChannels   image channels (3)
 * @param ch           channels of the first level
 * @param outChannels  channels of the decoded image (3)
 * @param chMult       per level, the multiple of {@code ch}; one level per entry, {@code 2^(levels − 1)} the
 *                     downsampling factor
 * @param numResBlocks residual blocks per encoder level (the decoder has one more)
 * @param zChannels    latent channels
 * @param scaleFactor  {@code encode} returns {@code scaleFactor · (mean − shiftFactor)}
 * @param shiftFactor  see {@code scaleFactor}
 * @param normGroups   the GroupNorms' groups (32 in the reference)
 */
public record AutoEncoderConfig(int inChannels, int ch, int outChannels, List<Integer> chMult, int numResBlocks, int zChannels,
                                float scaleFactor, float shiftFactor, int normGroups) {

    /** The reference's GroupNorm epsilon. */
    public static final float NORM_EPS = 1e-6f;

    /** FLUX.1's autoencoder (the reference's {@code ae_params} of flux-dev and flux-schnell). */
    public static AutoEncoderConfig flux1() {
        return new AutoEncoderConfig(3, 128, 3, List.of(1, 2, 4, 4), 2, 16, 0.3611f, 0.1159f, 32);
    }

    public AutoEncoderConfig {
        chMult = List.copyOf(chMult);
        String bad = null;
        if (inChannels < 1 || ch < 1 || outChannels < 1 || numResBlocks < 1 || zChannels < 1 || normGroups < 1) {
            bad = "channel, block and group counts must be positive";
        } else if (chMult.isEmpty() || chMult.stream().anyMatch(m -> m < 1)) {
            bad = "ch_mult must be a non-empty list of positive integers, got " + chMult;
        } else if (chMult.size() > 16) {
            bad = "ch_mult has " + chMult.size() + " levels, at most 16 are supported";
        } else if (!(scaleFactor != 0 && Float.isFinite(scaleFactor) && Float.isFinite(shiftFactor))) {
            bad = "scale_factor must be finite and non-zero and shift_factor finite, got " + scaleFactor + " and " + shiftFactor;
        } else {
            for (int m : chMult) {
                if ((long) ch * m % normGroups != 0 || (long) ch * m > Integer.MAX_VALUE / 16) {
                    bad = "level channels ch × ch_mult = " + (long) ch * m + " must be a multiple of the " + normGroups + " GroupNorm groups";
                    break;
                }
            }
        }
        if (bad != null) {
            throw new IllegalArgumentException("autoencoder config: " + bad);
        }
    }

    /** Number of resolution levels. */
    public int levels() {
        return chMult.size();
    }

    /** Channels of level {@code i}: {@code ch · ch_mult[i]}. */
    public int channels(int level) {
        return ch * chMult.get(level);
    }

    /** The spatial factor between image and latent, {@code 2^(levels − 1)}. */
    public int downsamplingFactor() {
        return 1 << (levels() - 1);
    }

    /** Reads {@code dir/config.json}: the reference's names, or a diffusers {@code AutoencoderKL} config. */
    public static AutoEncoderConfig read(Path dir) {
        ConfigFile f = ConfigFile.inFolder(dir, "an autoencoder");
        try {
            return f.has("block_out_channels") ? fromDiffusers(f) : fromReference(f);
        } catch (IllegalArgumentException e) {
            if (e.getMessage().startsWith(f.file().toString())) {
                throw e;
            }
            throw new IllegalArgumentException(f.file() + ": " + e.getMessage(), e);
        }
    }

    private static AutoEncoderConfig fromReference(ConfigFile f) {
        return new AutoEncoderConfig(f.positiveIntOr("in_channels", 3), f.positiveInt("ch"), f.positiveIntOr("out_ch", 3),
                f.positiveInts("ch_mult"), f.positiveInt("num_res_blocks"), f.positiveInt("z_channels"),
                (float) f.number("scale_factor"), (float) f.number("shift_factor"), 32);
    }

    private static AutoEncoderConfig fromDiffusers(ConfigFile f) {
        String type = f.stringOr("_class_name", null);
        if (type != null && !type.equals("AutoencoderKL")) {
            throw f.unsupported("_class_name", type, "AutoencoderKL");
        }
        if (f.booleanOr("use_quant_conv", false) || f.booleanOr("use_post_quant_conv", false)) {
            throw new IllegalArgumentException(f.file() + ": use_quant_conv / use_post_quant_conv are set; FLUX's autoencoder has no quant "
                    + "convolutions (this is another autoencoder, e.g. Stable Diffusion's)");
        }
        if (!f.booleanOr("mid_block_add_attention", true)) {
            throw new IllegalArgumentException(f.file() + ": mid_block_add_attention is false; FLUX's autoencoder has the middle attention");
        }
        List<Integer> out = f.positiveInts("block_out_channels");
        int ch = out.get(0);
        List<Integer> mult = new ArrayList<>();
        for (int c : out) {
            if (c % ch != 0) {
                throw new IllegalArgumentException(f.file() + ": block_out_channels " + out + " are not multiples of the first, " + ch);
            }
            mult.add(c / ch);
        }
        return new AutoEncoderConfig(f.positiveIntOr("in_channels", 3), ch, f.positiveIntOr("out_channels", 3), mult,
                f.positiveInt("layers_per_block"), f.positiveInt("latent_channels"), (float) f.number("scaling_factor"),
                (float) f.numberOr("shift_factor", 0), f.positiveIntOr("norm_num_groups", 32));
    }
}
