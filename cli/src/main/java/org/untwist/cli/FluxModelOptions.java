package org.untwist.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.untwist.backend.Backend;
import org.untwist.flux.FluxConfig;
import org.untwist.flux.FluxModel;
import picocli.CommandLine.Option;

/** {@code --model DIR} of the commands that run a FLUX model folder given by the user. */
final class FluxModelOptions {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Model folder with config.json and weights.safetensors.")
    Path folder;

    /** The model's config, read without loading the model (for checks before any work). */
    FluxConfig config() throws IOException {
        if (!Files.isDirectory(folder)) {
            throw new IOException(folder + ": not a model folder (expected config.json and weights.safetensors inside)");
        }
        return FluxConfig.read(folder.resolve("config.json"));
    }

    /** Loads the model onto {@code backend} (weights mapped in their stored type). */
    FluxModel load(Backend backend) throws IOException {
        return FluxModel.load(folder, backend);
    }
}
