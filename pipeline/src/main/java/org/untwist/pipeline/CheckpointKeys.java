package org.untwist.pipeline;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.untwist.checkpoint.ConfigFile;
import org.untwist.checkpoint.DiffusersKeys;
import org.untwist.flux.FluxConfig;
import org.untwist.autoencoder.AutoEncoderConfig;
import org.untwist.io.TensorSource;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/** What a checkpoint's keys and shapes say: its architecture, and the configs a single file does not carry. */
final class CheckpointKeys {

    /** ComfyUI's (and the original LDM code's) prefix of the diffusion model in a single file. */
    static final String DIFFUSION_PREFIX = "model.diffusion_model.";
    /** The key that identifies a FLUX.1 transformer (diffusers' {@code CHECKPOINT_KEY_NAMES["flux"]}). */
    static final String FLUX_KEY = "double_blocks.0.img_attn.norm.key_norm.scale";
    static final List<String> CLIP_PREFIXES = List.of("text_encoders.clip_l.transformer.", "cond_stage_model.clip_l.transformer.");
    static final List<String> T5_PREFIXES = List.of("text_encoders.t5xxl.transformer.", "cond_stage_model.t5xxl.transformer.");
    static final List<String> VAE_PREFIXES = List.of("first_stage_model.", "vae.");

    /** Identifying keys of architectures that are not FLUX.1 (after diffusers' CHECKPOINT_KEY_NAMES), with their names. */
    private static final String[][] FOREIGN = {
            {"single_stream_modulation.lin.weight", "FLUX.2"},
            {"distilled_guidance_layer.in_proj.bias", "Chroma"},
            {"input_blocks.", "Stable Diffusion 1.x/2.x (LDM UNet)"},
            {"conditioner.embedders.", "Stable Diffusion XL"},
            {"joint_blocks.", "Stable Diffusion 3"},
            {"double_layers.", "AuraFlow"},
            {"txt_in.individual_token_refiner.", "HunyuanVideo"},
            {"patchify_proj.", "LTX-Video"},
            {"cap_embedder.", "Lumina 2"},
            {"head.modulation", "Wan"},
            {"double_stream_blocks.", "HiDream"},
            {"blocks.0.attn.qkv_x.", "Mochi"},
            {"blocks.0.cross_attn.q_linear.", "Sana"},
            {"layers.0.adaLN_modulation.", "Z-Image"},
            {"pos_embed_input.", "Stable Cascade / SD3 ControlNet"},
            {"cond_stage_model.transformer.text_model.", "Stable Diffusion 1.x (with its CLIP)"},
            {"transformer_blocks.0.attn.to_q.weight", "a diffusers-layout transformer file (give the pipeline folder instead)"},
    };

    private CheckpointKeys() {
    }

    /** The name of the foreign architecture {@code names} belong to, or null when none is recognized. */
    static String foreignArchitecture(List<String> names) {
        for (String[] f : FOREIGN) {
            for (String n : names) {
                String bare = n.startsWith(DIFFUSION_PREFIX) ? n.substring(DIFFUSION_PREFIX.length()) : n;
                if (bare.startsWith(f[0]) || n.startsWith(f[0])) {
                    return f[1];
                }
            }
        }
        return null;
    }

    /** One line about ComfyUI's scaled fp8 (per-layer {@code scale_weight}): not supported, rather than wrong numbers. */
    static void rejectScaledFp8(TensorSource s) {
        for (String n : s.names()) {
            if (n.equals("scaled_fp8") || n.endsWith(".scale_weight") || n.endsWith(".scale_input")) {
                throw new IllegalArgumentException(s.describe() + ": scaled fp8 (ComfyUI's '" + n + "' tensors) is not supported; use an unscaled"
                        + " fp8 (e4m3fn), bf16 or fp16 file");
            }
        }
    }

    /**
     * A FLUX.1 transformer's config from its keys and shapes (BFL names, prefix removed). Theta 10000 as every FLUX.1;
     * RoPE axes (16, 56, 56) for heads of 128 as FLUX.1's, otherwise assumed in the same proportions: the first axis
     * {@code headDim/8} rounded to even, the rest split in two, the second rounded down to a multiple of 2.
     */
    static FluxConfig inferFlux(TensorSource s) {
        int[] img = shape(s, "img_in.weight", 2);
        int hidden = img[0], depth = DiffusersKeys.count(s, "double_blocks."), single = DiffusersKeys.count(s, "single_blocks.");
        String qn = depth > 0 ? "double_blocks.0.img_attn.norm.query_norm.scale" : "single_blocks.0.norm.query_norm.scale";
        int headDim = shape(s, qn, 1)[0];
        if (headDim <= 0 || hidden % headDim != 0) {
            throw new IllegalArgumentException(s.describe() + ": head size " + headDim + " (from " + qn + ") does not divide the width " + hidden);
        }
        int mlp = depth > 0 ? shape(s, "double_blocks.0.img_mlp.0.weight", 2)[0] : shape(s, "single_blocks.0.linear1.weight", 2)[0] - 3 * hidden;
        String weight = s.tensor("img_in.weight").dtype().name();
        return new FluxConfig(img[1], shape(s, "final_layer.linear.weight", 2)[0], shape(s, "vector_in.in_layer.weight", 2)[1],
                shape(s, "txt_in.weight", 2)[1], hidden, (double) mlp / hidden, hidden / headDim, depth, single, axes(headDim), 10_000,
                depth > 0 ? s.contains("double_blocks.0.img_attn.qkv.bias") : true, s.contains("guidance_in.in_layer.weight"), weight.toLowerCase());
    }

    /** RoPE axes for a head size: FLUX.1's (16, 56, 56) for 128, the same proportions otherwise. */
    static int[] axes(int headDim) {
        int first = Math.max(2, 2 * Math.round(headDim / 16f));
        int rest = headDim - first, second = 2 * (rest / 4);
        return new int[] {first, second, rest - second};
    }

    /** {@code transformer/config.json} of a diffusers {@code FluxTransformer2DModel} as a FLUX.1 config; the MLP width from the weights. */
    static FluxConfig diffusersFlux(Path file, TensorSource weights) {
        ConfigFile r = ConfigFile.read(file);
        String cls = r.stringOr("_class_name", "FluxTransformer2DModel");
        if (!cls.equals("FluxTransformer2DModel")) {
            throw new IllegalArgumentException(file + ": transformer class '" + cls + "' is not supported (supported: FluxTransformer2DModel)");
        }
        int heads = r.positiveInt("num_attention_heads"), headDim = r.positiveInt("attention_head_dim");
        int hidden = heads * headDim, in = r.positiveIntOr("in_channels", 64);
        if (r.positiveIntOr("patch_size", 1) != 1) {
            throw new IllegalArgumentException(file + ": patch_size other than 1 is not supported");
        }
        String ff = "transformer_blocks.0.ff.net.0.proj.weight";
        double mlpRatio = weights.contains(ff) ? (double) weights.tensor(ff).dim(0) / hidden : 4.0;
        return new FluxConfig(in, r.positiveIntOr("out_channels", in), r.positiveIntOr("pooled_projection_dim", 768),
                r.positiveIntOr("joint_attention_dim", 4096), hidden, mlpRatio, heads, r.positiveIntOr("num_layers", 19),
                r.positiveIntOr("num_single_layers", 38), r.has("axes_dims_rope") ? r.ints("axes_dims_rope") : new int[] {16, 56, 56},
                10_000, true, r.booleanOr("guidance_embeds", false), null);
    }

    /** The autoencoder's parameters from the keys and shapes of {@code ae.safetensors}; scale, shift and groups assumed FLUX.1's. */
    static AutoEncoderConfig inferVae(TensorSource s) {
        int[] convIn = shape(s, "encoder.conv_in.weight", 4);
        int ch = convIn[0], levels = DiffusersKeys.count(s, "encoder.down.");
        if (levels == 0) {
            throw new IllegalArgumentException(s.describe() + ": no 'encoder.down.N' blocks (not a FLUX.1 autoencoder?)");
        }
        int[] mult = new int[levels];
        for (int i = 0; i < levels; i++) {
            mult[i] = shape(s, "encoder.down." + i + ".block.0.conv1.weight", 4)[0] / ch;
        }
        int z = shape(s, "decoder.conv_in.weight", 4)[1];
        AutoEncoderConfig flux1 = AutoEncoderConfig.flux1();
        return new AutoEncoderConfig(convIn[1], ch, shape(s, "decoder.conv_out.weight", 4)[0], Arrays.stream(mult).boxed().toList(),
                DiffusersKeys.count(s, "encoder.down.0.block."), z, flux1.scaleFactor(), flux1.shiftFactor(), flux1.normGroups());
    }

    static int[] shape(TensorSource s, String name, int rank) {
        if (!s.contains(name)) {
            throw new IllegalArgumentException(s.describe() + ": missing tensor '" + name + "'");
        }
        Tensor t = s.tensor(name);
        if (t.rank() != rank) {
            throw new IllegalArgumentException(s.describe() + ": tensor '" + name + "' has shape " + Arrays.toString(t.shape()) + ", expected rank " + rank);
        }
        if (!t.dtype().isFloatingPoint() && !t.dtype().isBlockQuantized()) {
            throw new IllegalArgumentException(s.describe() + ": tensor '" + name + "' is " + t.dtype() + ", expected a weight type ("
                    + Arrays.stream(DType.values()).filter(d -> d.isFloatingPoint() || d.isBlockQuantized()).toList() + ")");
        }
        return t.shape();
    }
}
