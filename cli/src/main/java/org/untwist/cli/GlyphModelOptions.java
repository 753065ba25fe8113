package org.untwist.cli;

import java.io.IOException;
import java.nio.file.Path;
import org.untwist.backend.Backend;
import org.untwist.demo.GlyphModel;
import picocli.CommandLine.Option;

/** {@code --model} of the commands that use the glyph model; by default the shipped one of this checkout. */
final class GlyphModelOptions {
    @Option(names = "--model", paramLabel = "DIR", description = "Glyph model folder (default: models/glyph-flux of this checkout).")
    Path model;

    /** The given folder, else {@code models/glyph-flux} under {@code -Duntwist.home} (set by bin/untwist), else under the working directory. */
    Path dir() {
        if (model != null) {
            return model;
        }
        String home = System.getProperty("untwist.home");
        return home == null ? GlyphModel.DEFAULT_DIR : Path.of(home).resolve(GlyphModel.DEFAULT_DIR);
    }

    GlyphModel load(Backend backend) throws IOException {
        return GlyphModel.load(dir(), backend);
    }
}
