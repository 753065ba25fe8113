package org.untwist.checkpoint;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.untwist.io.TensorSource;

/**
 * The key maps from diffusers' layouts to FLUX.1's (Black Forest Labs') names: {@code FluxTransformer2DModel}
 * to {@code flux1-*.safetensors}, {@code AutoencoderKL} to {@code ae.safetensors}. Written from the layouts of
 * both (diffusers' single-file conversion maps the other way); every entry is a view ({@link RenamedTensors}).
 */
public final class DiffusersKeys {

    private DiffusersKeys() {
    }

    /** The FLUX.1 transformer's names over a diffusers {@code transformer/} folder. */
    public static RenamedTensors fluxTransformer(TensorSource diffusers) {
        int depth = count(diffusers, "transformer_blocks."), single = count(diffusers, "single_transformer_blocks.");
        return new RenamedTensors(diffusers, "diffusers FluxTransformer2DModel keys seen as FLUX.1's", fluxTransformer(depth, single));
    }

    /** canonical FLUX.1 name → how diffusers stores it, for {@code depth} double and {@code single} single blocks. */
    public static Map<String, RenamedTensors.Mapping> fluxTransformer(int depth, int single) {
        Map<String, RenamedTensors.Mapping> m = new LinkedHashMap<>();
        for (String k : List.of("weight", "bias")) {
            whole(m, "img_in." + k, "x_embedder." + k);
            whole(m, "txt_in." + k, "context_embedder." + k);
            for (String[] e : new String[][] {{"time_in", "timestep_embedder"}, {"vector_in", "text_embedder"}, {"guidance_in", "guidance_embedder"}}) {
                whole(m, e[0] + ".in_layer." + k, "time_text_embed." + e[1] + ".linear_1." + k);
                whole(m, e[0] + ".out_layer." + k, "time_text_embed." + e[1] + ".linear_2." + k);
            }
            for (int i = 0; i < depth; i++) {
                String p = "double_blocks." + i + ".", q = "transformer_blocks." + i + ".";
                whole(m, p + "img_mod.lin." + k, q + "norm1.linear." + k);
                whole(m, p + "txt_mod.lin." + k, q + "norm1_context.linear." + k);
                m.put(p + "img_attn.qkv." + k, new RenamedTensors.Blocks(List.of(q + "attn.to_q." + k, q + "attn.to_k." + k, q + "attn.to_v." + k)));
                m.put(p + "txt_attn.qkv." + k, new RenamedTensors.Blocks(List.of(q + "attn.add_q_proj." + k, q + "attn.add_k_proj." + k,
                        q + "attn.add_v_proj." + k)));
                whole(m, p + "img_attn.proj." + k, q + "attn.to_out.0." + k);
                whole(m, p + "txt_attn.proj." + k, q + "attn.to_add_out." + k);
                whole(m, p + "img_mlp.0." + k, q + "ff.net.0.proj." + k);
                whole(m, p + "img_mlp.2." + k, q + "ff.net.2." + k);
                whole(m, p + "txt_mlp.0." + k, q + "ff_context.net.0.proj." + k);
                whole(m, p + "txt_mlp.2." + k, q + "ff_context.net.2." + k);
            }
            for (int i = 0; i < single; i++) {
                String p = "single_blocks." + i + ".", q = "single_transformer_blocks." + i + ".";
                whole(m, p + "modulation.lin." + k, q + "norm.linear." + k);
                m.put(p + "linear1." + k, new RenamedTensors.Blocks(List.of(q + "attn.to_q." + k, q + "attn.to_k." + k, q + "attn.to_v." + k,
                        q + "proj_mlp." + k)));
                whole(m, p + "linear2." + k, q + "proj_out." + k);
            }
            whole(m, "final_layer.linear." + k, "proj_out." + k);
            m.put("final_layer.adaLN_modulation.1." + k, new RenamedTensors.SwappedHalves("norm_out.linear." + k));
        }
        for (int i = 0; i < depth; i++) {
            String p = "double_blocks." + i + ".", q = "transformer_blocks." + i + ".attn.";
            whole(m, p + "img_attn.norm.query_norm.scale", q + "norm_q.weight");
            whole(m, p + "img_attn.norm.key_norm.scale", q + "norm_k.weight");
            whole(m, p + "txt_attn.norm.query_norm.scale", q + "norm_added_q.weight");
            whole(m, p + "txt_attn.norm.key_norm.scale", q + "norm_added_k.weight");
        }
        for (int i = 0; i < single; i++) {
            String p = "single_blocks." + i + ".norm.", q = "single_transformer_blocks." + i + ".attn.";
            whole(m, p + "query_norm.scale", q + "norm_q.weight");
            whole(m, p + "key_norm.scale", q + "norm_k.weight");
        }
        return m;
    }

    private static final Pattern UP = Pattern.compile("^decoder\\.up_blocks\\.(\\d+)\\.(resnets\\.(\\d+)|upsamplers\\.0)\\.(.*)$");
    private static final Pattern MID_ATTN = Pattern.compile("^(encoder|decoder)\\.mid_block\\.attentions\\.0\\.(group_norm|to_q|to_k|to_v|to_out\\.0)\\.(weight|bias)$");

    /** The FLUX.1 autoencoder's names ({@code ae.safetensors}) over a diffusers {@code vae/} folder ({@code AutoencoderKL}). */
    public static RenamedTensors autoencoder(TensorSource diffusers) {
        int levels = count(diffusers, "decoder.up_blocks.");
        Map<String, RenamedTensors.Mapping> m = new LinkedHashMap<>();
        for (String stored : diffusers.names()) {
            String canonical = autoencoderName(stored, levels);
            if (canonical == null) {
                continue;
            }
            boolean conv = MID_ATTN.matcher(stored).matches() && !stored.contains("group_norm") && stored.endsWith(".weight");
            m.put(canonical, conv ? new RenamedTensors.AsConv1x1(stored) : new RenamedTensors.Whole(stored));
        }
        return new RenamedTensors(diffusers, "diffusers AutoencoderKL keys seen as FLUX.1's", m);
    }

    /** The {@code ae.safetensors} name of a diffusers {@code AutoencoderKL} key, or null for none. */
    static String autoencoderName(String k, int levels) {
        Matcher a = MID_ATTN.matcher(k);
        if (a.matches()) {
            String n = switch (a.group(2)) {
                case "group_norm" -> "norm";
                case "to_q" -> "q";
                case "to_k" -> "k";
                case "to_v" -> "v";
                default -> "proj_out";
            };
            return a.group(1) + ".mid.attn_1." + n + "." + a.group(3);
        }
        String n = k.replaceFirst("^encoder\\.down_blocks\\.(\\d+)\\.resnets\\.(\\d+)\\.", "encoder.down.$1.block.$2.")
                .replaceFirst("^encoder\\.down_blocks\\.(\\d+)\\.downsamplers\\.0\\.", "encoder.down.$1.downsample.");
        Matcher u = UP.matcher(n);
        if (u.matches()) {
            int level = levels - 1 - Integer.parseInt(u.group(1));
            n = "decoder.up." + level + "." + (u.group(3) != null ? "block." + u.group(3) : "upsample") + "." + u.group(4);
        }
        n = n.replace(".mid_block.resnets.0.", ".mid.block_1.").replace(".mid_block.resnets.1.", ".mid.block_2.")
                .replace(".conv_shortcut.", ".nin_shortcut.").replace(".conv_norm_out.", ".norm_out.");
        return n;
    }

    private static void whole(Map<String, RenamedTensors.Mapping> m, String canonical, String stored) {
        m.put(canonical, new RenamedTensors.Whole(stored));
    }

    /** 1 + the largest N of names {@code prefix N.…}, or 0. */
    public static int count(TensorSource source, String prefix) {
        OptionalInt max = source.names().stream().filter(n -> n.startsWith(prefix)).map(n -> n.substring(prefix.length()))
                .filter(r -> r.indexOf('.') > 0 && r.substring(0, r.indexOf('.')).chars().allMatch(Character::isDigit))
                .mapToInt(r -> Integer.parseInt(r.substring(0, r.indexOf('.')))).max();
        return max.isPresent() ? max.getAsInt() + 1 : 0;
    }
}
