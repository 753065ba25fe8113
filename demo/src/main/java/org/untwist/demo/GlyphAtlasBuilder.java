package org.untwist.demo;

import java.awt.Font;
import java.awt.GraphicsEnvironment;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.font.FontRenderContext;
import java.awt.font.GlyphVector;
import java.awt.geom.AffineTransform;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.regex.Pattern;

/**
 * Renders the glyph masks of the demo dataset from the fonts installed on this machine (Debian's font
 * packages; see {@code train/README.md} for the list). Each glyph's outline is scaled to fit a
 * {@code box × box} square (aspect kept) centred in a {@code size × size} image and filled with
 * anti-aliasing, so content (the character) is always in the same place and only the font changes its
 * shape. The atlas is the dataset's content half; style (colours, textures) is composited on top at
 * training time.
 */
public final class GlyphAtlasBuilder {
    /** Faces whose glyphs are not letters (symbol, dingbat, math, icon fonts) or that are Java aliases. */
    private static final Pattern EXCLUDED = Pattern.compile(
            "(?i).*(symbol|dingbat|d050000l|math|icon|awesome|emoji|ornament|music|braille|dseg|^dialog|^sansserif$|^serif$|^monospaced).*");

    private GlyphAtlasBuilder() {
    }

    /**
     * Renders {@code maxFonts} faces (chosen reproducibly from {@code seed} among the usable ones, sorted by
     * name first so the choice does not depend on the order the system lists them in).
     */
    public static GlyphAtlas build(String characters, int size, int box, int maxFonts, long seed) {
        if (size < 8 || box < 4 || box > size) {
            throw new IllegalArgumentException("need 8 <= size and 4 <= box <= size, got size " + size + ", box " + box);
        }
        if (maxFonts < 2) {
            throw new IllegalArgumentException("need at least 2 fonts, got " + maxFonts);
        }
        List<Font> usable = usableFonts(characters);
        if (usable.size() < 2) {
            throw new IllegalStateException("found " + usable.size() + " usable fonts (faces that draw all of \"" + characters
                    + "\"); install Debian font packages (see train/README.md)");
        }
        // Reproducible choice: shuffle the sorted list with the seed, keep the first maxFonts, sort again.
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = usable.size() - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            Font t = usable.get(i);
            usable.set(i, usable.get(j));
            usable.set(j, t);
        }
        List<Font> chosen = new ArrayList<>(usable.subList(0, Math.min(maxFonts, usable.size())));
        chosen.sort(Comparator.comparing(Font::getFontName));
        int f = chosen.size(), c = characters.length();
        float[] masks = new float[f * c * size * size];
        List<String> names = new ArrayList<>();
        for (int fi = 0; fi < f; fi++) {
            Font font = chosen.get(fi).deriveFont(100f);
            names.add(font.getFontName(Locale.ROOT));
            for (int ci = 0; ci < c; ci++) {
                render(font, characters.charAt(ci), size, box, masks, ((long) fi * c + ci) * size * size);
            }
        }
        return new GlyphAtlas(characters, names, size, masks);
    }

    /** Plain faces that draw every character with a non-empty outline, excluding symbol fonts. */
    static List<Font> usableFonts(String characters) {
        List<Font> out = new ArrayList<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (Font font : GraphicsEnvironment.getLocalGraphicsEnvironment().getAllFonts()) {
            String name = font.getFontName(Locale.ROOT);
            if (EXCLUDED.matcher(name).matches() || EXCLUDED.matcher(font.getFamily(Locale.ROOT)).matches()
                    || font.canDisplayUpTo(characters) != -1 || !seen.add(name)) {
                continue;
            }
            Font sized = font.deriveFont(100f);
            boolean ok = true;
            for (int i = 0; i < characters.length() && ok; i++) {
                Rectangle2D b = outline(sized, characters.charAt(i)).getBounds2D();
                ok = b.getWidth() > 1 && b.getHeight() > 1;
            }
            if (ok) {
                out.add(font);
            }
        }
        out.sort(Comparator.comparing(fnt -> fnt.getFontName(Locale.ROOT)));
        return out;
    }

    private static Shape outline(Font font, char ch) {
        FontRenderContext frc = new FontRenderContext(null, true, true);
        GlyphVector gv = font.createGlyphVector(frc, String.valueOf(ch));
        return gv.getOutline();
    }

    /** Fits the glyph's outline into the centred box and writes its coverage in [0, 1]. */
    private static void render(Font font, char ch, int size, int box, float[] dst, long offset) {
        Shape shape = outline(font, ch);
        Rectangle2D b = shape.getBounds2D();
        double scale = box / Math.max(b.getWidth(), b.getHeight());
        AffineTransform at = new AffineTransform();
        at.translate(size / 2.0, size / 2.0);
        at.scale(scale, scale);
        at.translate(-b.getCenterX(), -b.getCenterY());
        BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_BYTE_GRAY);
        var g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
            g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
            g.setColor(java.awt.Color.WHITE);
            g.fill(at.createTransformedShape(shape));
        } finally {
            g.dispose();
        }
        Raster raster = img.getRaster();
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                dst[(int) (offset + (long) y * size + x)] = raster.getSample(x, y, 0) / 255f;
            }
        }
    }
}
