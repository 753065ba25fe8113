package org.untwist.cli;

import java.nio.file.Path;
import org.untwist.pipeline.ComponentPaths;
import picocli.CommandLine.Option;

/** The options of {@code generate} from prompts: image size, the reference's prompt, and parts not in the model path. */
final class PromptOptions {
    @Option(names = "--width", paramLabel = "W", description = "Image width, a multiple of 16 for FLUX.1 (the autoencoder's factor × 2; default: a diffusers pipeline's VAE sample_size, 1024 for FLUX.1, else 1024).")
    Integer width;

    @Option(names = "--height", paramLabel = "H", description = "Image height, likewise (default: as the width).")
    Integer height;

    @Option(names = "--reference-prompt", paramLabel = "TEXT", description = "The reference image's own prompt (default: empty).")
    String referencePrompt;

    @Option(names = "--clip", paramLabel = "PATH", description = "CLIP text encoder: clip_l.safetensors or a folder with config.json.")
    Path clip;

    @Option(names = "--t5", paramLabel = "PATH", description = "T5 encoder: t5xxl_fp16.safetensors (fp8 too) or a folder with config.json.")
    Path t5;

    @Option(names = "--vae", paramLabel = "PATH", description = "Autoencoder: ae.safetensors or a diffusers vae/ folder.")
    Path vae;

    @Option(names = "--clip-tokenizer", paramLabel = "DIR", description = "CLIP tokenizer folder (vocab.json, merges.txt).")
    Path clipTokenizer;

    @Option(names = "--t5-tokenizer", paramLabel = "DIR", description = "T5 tokenizer folder (tokenizer.json or spiece.model).")
    Path t5Tokenizer;

    boolean given() {
        return width != null || height != null || referencePrompt != null || clip != null || t5 != null || vae != null || clipTokenizer != null
                || t5Tokenizer != null;
    }

    ComponentPaths components() {
        return new ComponentPaths(clip, t5, vae, clipTokenizer, t5Tokenizer);
    }
}
