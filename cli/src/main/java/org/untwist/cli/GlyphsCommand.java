package org.untwist.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.untwist.demo.GlyphAtlas;
import org.untwist.demo.GlyphAtlasBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code untwist glyphs}: renders the glyph atlas of the demo dataset from the installed fonts. */
@Command(name = "glyphs", mixinStandardHelpOptions = true,
        description = "Render glyph masks [fonts, characters, size, size] from the installed fonts (the demo dataset's content).")
final class GlyphsCommand implements Callable<Integer> {
    @Option(names = "--characters", defaultValue = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", paramLabel = "CHARS",
            description = "Characters to render (default: ${DEFAULT-VALUE}).")
    String characters;

    @Option(names = "--size", defaultValue = "32", paramLabel = "PX", description = "Image side in pixels (default: ${DEFAULT-VALUE}).")
    int size;

    @Option(names = "--box", defaultValue = "24", paramLabel = "PX", description = "Side of the square each glyph is fitted into (default: ${DEFAULT-VALUE}).")
    int box;

    @Option(names = "--fonts", defaultValue = "64", paramLabel = "N", description = "Most fonts to use (default: ${DEFAULT-VALUE}).")
    int fonts;

    @Option(names = "--seed", defaultValue = "7", paramLabel = "S", description = "Seed of the font choice (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Output safetensors file.")
    Path out;

    /** Bounds that keep the atlas [fonts, characters, size, size] of floats far below a gigabyte. */
    static final int MAX_SIZE = 256, MAX_FONTS = 1024, MAX_CHARACTERS = 256;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        var log = spec.commandLine().getOut();
        Checks.between("--size", size, 8, MAX_SIZE);
        Checks.between("--box", box, 4, size);
        Checks.between("--fonts", fonts, 2, MAX_FONTS);
        if (characters.isEmpty() || characters.length() > MAX_CHARACTERS) {
            throw new IllegalArgumentException("--characters must hold 1 to " + MAX_CHARACTERS + " characters, got " + characters.length());
        }
        long cells = (long) fonts * characters.length() * size * size; // the atlas is one float array: at most fonts × chars × size²
        if (cells > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("--fonts " + fonts + " × " + characters.length() + " characters × --size " + size
                    + "² = " + cells + " pixels is more than one array holds (2^31)");
        }
        MemoryBudget.requireHeap("glyphs", MemoryBudget.floats(cells), "for " + fonts + " fonts of " + characters.length() + " characters at " + size + " px");
        GlyphAtlas atlas;
        try (Outputs files = new Outputs().file("--out", out)) {
            atlas = GlyphAtlasBuilder.build(characters, size, box, fonts, seed);
            files.write(out, atlas::write);
            files.commit();
        }
        log.printf("wrote %s: %d fonts × %d characters × %d² (seed %d)%n", out, atlas.fontCount(), characters.length(), size, seed);
        for (String f : atlas.fonts()) {
            log.println("  " + f);
        }
        return 0;
    }
}
