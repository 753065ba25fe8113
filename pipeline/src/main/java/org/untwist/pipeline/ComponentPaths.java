package org.untwist.pipeline;

import java.nio.file.Path;

/**
 * Where the parts of a pipeline come from when the model path does not hold them (a single transformer file),
 * or to replace those it holds: the CLI's {@code --clip}, {@code --t5}, {@code --vae}, {@code --clip-tokenizer},
 * {@code --t5-tokenizer}. Each is null when not given; an encoder or the VAE may be a file or a folder.
 *
 * @param clip          CLIP text encoder: a single file ({@code clip_l.safetensors}) or a folder with {@code config.json}
 * @param t5            T5 encoder: a single file ({@code t5xxl_fp16.safetensors}) or a folder with {@code config.json}
 * @param vae           autoencoder: {@code ae.safetensors}, or a diffusers {@code vae/} folder
 * @param clipTokenizer CLIP tokenizer folder ({@code vocab.json}, {@code merges.txt})
 * @param t5Tokenizer   T5 tokenizer folder ({@code tokenizer.json} or {@code spiece.model})
 */
public record ComponentPaths(Path clip, Path t5, Path vae, Path clipTokenizer, Path t5Tokenizer) {

    /** Nothing given: every part comes from the model path. */
    public static final ComponentPaths NONE = new ComponentPaths(null, null, null, null, null);
}
