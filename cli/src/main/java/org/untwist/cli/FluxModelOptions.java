package org.untwist.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.untwist.backend.Backend;
import org.untwist.flux.FluxConfig;
import org.untwist.flux.FluxModel;
import org.untwist.pipeline.ComponentPaths;
import org.untwist.pipeline.FluxCheckpoint;
import picocli.CommandLine.Option;

/**
 * {@code --model PATH} of the commands that run a FLUX model given by the user: a folder with config.json and
 * weights.safetensors, a diffusers FluxPipeline folder, or a single FLUX.1 file (BFL's or ComfyUI's, fp8 too, or GGUF).
 */
final class FluxModelOptions {
    @Option(names = "--model", required = true, paramLabel = "PATH", description = "FLUX.1 model: a folder with config.json and"
            + " weights.safetensors, a diffusers pipeline folder (model_index.json), or a single .safetensors or .gguf file (BFL or ComfyUI keys,"
            + " fp8 too; GGUF with F32/F16/BF16/Q8_0/Q4_K tensors).")
    Path folder;

    /** Whether the path is one that {@link FluxCheckpoint} recognizes beyond the plain model folder. */
    private boolean checkpointLayout() {
        return Files.isRegularFile(folder) || Files.isRegularFile(folder.resolve("model_index.json"));
    }

    private FluxCheckpoint checkpoint() throws IOException {
        try {
            return FluxCheckpoint.open(folder, ComponentPaths.NONE);
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /** The model's config, read (or inferred from a single file's shapes) without loading the model. */
    FluxConfig config() throws IOException {
        if (checkpointLayout()) {
            return checkpoint().transformerConfig();
        }
        if (!Files.isDirectory(folder)) {
            throw new IOException(folder + ": not a model folder (expected config.json and weights.safetensors inside)");
        }
        return FluxConfig.read(folder.resolve("config.json"));
    }

    /** Loads the model onto {@code backend} (weights mapped in their stored type). */
    FluxModel load(Backend backend) throws IOException {
        if (checkpointLayout()) {
            FluxCheckpoint c = checkpoint();
            try {
                return c.loadTransformer(backend);
            } catch (IllegalArgumentException e) {
                throw new IOException(e.getMessage(), e);
            }
        }
        return FluxModel.load(folder, backend);
    }
}
