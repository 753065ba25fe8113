package org.untwist.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The experiment's scores on images whose answer is known: the shipped references and synthetic glyphs. */
class GlyphMetricsTest {
    static final Path MODEL = Path.of("..").resolve(GlyphModel.DEFAULT_DIR);
    static GlyphAtlas atlas;
    static ReferenceSet refs;
    static GlyphMetrics metrics;

    @BeforeAll
    static void load() throws IOException {
        atlas = GlyphAtlas.read(MODEL.resolve("glyphs.safetensors"));
        refs = ReferenceSet.read(MODEL.resolve("references.safetensors"));
        metrics = new GlyphMetrics(atlas);
    }

    /** The content classifier on the references (fonts never trained on, random styles): measured 40/40 → demand ≥ 90 %. */
    @Test
    void classifierReadsTheReferencesCharacters() {
        int correct = 0;
        StringBuilder wrong = new StringBuilder();
        for (int i = 0; i < refs.size(); i++) {
            int pred = metrics.classify(metrics.features(refs.image(i)));
            if (pred == refs.character()[i]) {
                correct++;
            } else {
                wrong.append(" ").append(i).append(":").append(atlas.characters().charAt(refs.character()[i])).append("->")
                        .append(pred < 0 ? "none" : String.valueOf(atlas.characters().charAt(pred)));
            }
        }
        System.out.printf("classifier: %d/%d references correct;%s%n", correct, refs.size(), wrong);
        assertTrue(correct >= 0.9 * refs.size(), "classifier accuracy " + correct + "/" + refs.size() + ", wrong:" + wrong);
    }

    /** A glyph of known colours on a known gradient: the features recover them. */
    @Test
    void featuresRecoverKnownColours() {
        int s = atlas.size(), font = 3, ch = atlas.characterIndex('K');
        float[] rgb = new float[3 * s * s];
        float[] bg = {0.2f, 0.5f, 0.8f}, fg = {0.9f, 0.1f, 0.3f};
        for (int y = 0; y < s; y++) {
            for (int x = 0; x < s; x++) {
                float m = atlas.masks()[atlas.offset(font, ch) + y * s + x];
                float ramp = 0.2f * y / (s - 1);
                for (int c = 0; c < 3; c++) {
                    rgb[(c * s + y) * s + x] = (bg[c] + ramp) * (1 - m) + fg[c] * m;
                }
            }
        }
        GlyphMetrics.Features f = metrics.features(new GlyphImage(s, rgb));
        for (int c = 0; c < 3; c++) {
            assertEquals(bg[c] + 0.1, f.bg()[c], 0.02, "background channel " + c);
            assertEquals(fg[c], f.fg()[c], 0.05, "glyph channel " + c);
            assertEquals(0.2 * s / (s - 1.0), f.bgSlope()[2 * c], 0.03, "vertical gradient of channel " + c);
        }
        assertEquals(ch, metrics.classify(f));
        GlyphMetrics.Scores self = metrics.scores(f, ch, f, ch, font);
        assertEquals(1.0, self.copy(), 1e-6);
        assertEquals(1.0, self.style(), 1e-9);
        assertTrue(self.fontAffinity() > 0, "a glyph is closest to its own font: affinity " + self.fontAffinity());
    }

    @Test
    void blankImageHasNoGlyph() {
        int s = atlas.size();
        float[] rgb = new float[3 * s * s];
        java.util.Arrays.fill(rgb, 0.4f);
        GlyphMetrics.Features f = metrics.features(new GlyphImage(s, rgb));
        assertFalse(f.hasGlyph());
        assertEquals(-1, metrics.classify(f));
    }

    @Test
    void uniformAlignedMassCountsNeighbours() {
        // On a 1-cell grid everything is aligned; on a large grid radius 1 covers about 5 of grid² cells.
        assertEquals(1.0, GlyphMetrics.uniformAlignedMass(1, 1.0), 1e-12);
        assertEquals(5.0 / 256, GlyphMetrics.uniformAlignedMass(16, 1.0), 0.002);
    }

    @Test
    void bootstrapIntervalCoversTheMean() {
        double[] v = new double[200];
        for (int i = 0; i < v.length; i++) {
            v[i] = i % 2;
        }
        Bootstrap.Interval iv = Bootstrap.mean(v, 0.95, 2000, 1);
        assertEquals(0.5, iv.mean(), 1e-12);
        assertTrue(iv.low() < 0.5 && iv.high() > 0.5 && iv.high() - iv.low() < 0.2, iv.toString());
    }
}
