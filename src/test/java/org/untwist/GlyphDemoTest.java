package org.untwist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.backend.Backend;
import org.untwist.demo.GlyphModel;
import org.untwist.demo.StyleTransfer;
import org.untwist.flux.FluxInputs;
import org.untwist.io.SafeTensors;
import org.untwist.method.SharingMode;
import org.untwist.method.SharingPlan;
import org.untwist.tensor.Tensor;

/**
 * The shipped glyph model: it loads through the FLUX loader and reproduces the prediction PyTorch made with
 * the same (bf16) weights; {@code demo} and {@code experiment} run end to end; bad input is named.
 */
class GlyphDemoTest {
    /** float32 forward of the same weights; differences come from summation order only (as for the golden model). */
    static final double PRED_REL_TOL = 1e-4;

    @TempDir
    Path tmp;

    static Path modelDir() {
        return TestSupport.goldenRoot().getParent().getParent().resolve(GlyphModel.DEFAULT_DIR);
    }

    static List<String> backends() {
        return TestSupport.availableBackends();
    }

    @ParameterizedTest
    @MethodSource("backends")
    void reproducesThePyTorchPrediction(String backend) throws IOException {
        try (Backend be = TestSupport.backend(backend, 2); GlyphModel gm = GlyphModel.load(modelDir(), be);
             SafeTensors c = SafeTensors.open(modelDir().resolve("conformance.safetensors"));
             Tensor g = Tensor.allocate(2)) {
            FluxInputs in = new FluxInputs(c.tensor("img"), c.tensor("img_ids"), c.tensor("txt"), c.tensor("txt_ids"), c.tensor("y"),
                    c.tensor("timesteps"), g);
            Tensor ref = c.tensor("pred");
            try (Tensor pred = Tensor.allocate(ref.shape())) {
                gm.flux().forward(in, pred);
                double err = TestSupport.maxAbsDiff(pred, ref), bound = PRED_REL_TOL * TestSupport.rms(ref);
                assertTrue(err <= bound, backend + ": max |diff| " + err + " > " + bound);
            }
        }
    }

    /** The method on a trained model: scaling the reference keys' high-frequency chunks down moves attention off the aligned position. */
    @Test
    void untwistingLowersAlignedAttention() throws IOException {
        try (Backend be = TestSupport.backend(backends().getLast(), 2);
             GlyphModel gm = GlyphModel.load(modelDir(), be)) {
            int[] prompts = {gm.promptIndex("A"), gm.promptIndex("5")};
            double full = StyleTransfer.run(gm, 0, prompts, 1, 6, SharingPlan.defaults(SharingMode.FULL), true, null).alignedMass();
            double untwisted = StyleTransfer.run(gm, 0, prompts, 1, 6, SharingPlan.defaults(SharingMode.UNTWISTED), true, null).alignedMass();
            System.out.printf("aligned mass (seed 1, reference 0, prompts A 5, 6 steps): full %.4f, untwisted %.4f%n", full, untwisted);
            assertTrue(untwisted < 0.8 * full, "untwisted aligned mass " + untwisted + " is not clearly below full sharing's " + full);
        }
    }

    @Test
    void demoWritesTheGridAndTheScores() throws IOException {
        Path png = tmp.resolve("demo.png");
        CliTest.Result r = CliTest.run("demo", "--model", modelDir().toString(), "--steps", "2", "--prompts", "A,7", "--out", png.toString());
        assertEquals(0, r.code(), r.err());
        for (String mode : new String[] {"full", "untwisted", "style-aligned", "none", "aligned_mass"}) {
            assertTrue(r.out().contains(mode), "output lacks " + mode + ":\n" + r.out());
        }
        BufferedImage img = ImageIO.read(png.toFile());
        assertTrue(img.getWidth() > 5 * 128 && img.getHeight() > 2 * 128, "grid " + img.getWidth() + "x" + img.getHeight());
    }

    @Test
    void experimentWritesTables() throws IOException {
        CliTest.Result r = CliTest.run("experiment", "--model", modelDir().toString(), "--references", "1", "--prompts-per-reference", "2",
                "--quick", "--steps", "2", "--out-dir", tmp.toString());
        assertEquals(0, r.code(), r.err());
        List<String> rows = Files.readAllLines(tmp.resolve("rows.csv"));
        assertEquals(1 + 4 * 2, rows.size(), "header + 4 settings × 2 pairs");
        if (TestSupport.fontsAvailable()) {
            assertTrue(Files.size(tmp.resolve("tradeoff.png")) > 1000);
        } else { // the plot needs fonts; the tables do not
            assertTrue(r.err().contains("untwist: tradeoff.png not written"), r.err());
        }
        assertTrue(Files.readString(tmp.resolve("summary.md")).contains("untwisted − full"));
    }

    @Test
    void badInputIsNamed() throws IOException {
        CliTest.Result r = CliTest.run("demo", "--model", modelDir().toString(), "--prompts", "AB", "--steps", "1", "--out", tmp.resolve("x.png").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("\"AB\"") && r.err().contains("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), r.err());
        r = CliTest.run("demo", "--model", modelDir().toString(), "--reference", "99", "--steps", "1", "--out", tmp.resolve("x.png").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("reference 99"), r.err());
        Path broken = tmp.resolve("broken");
        Files.createDirectories(broken);
        for (String f : new String[] {"config.json", "weights.safetensors", "references.safetensors", "glyphs.safetensors"}) {
            Files.copy(modelDir().resolve(f), broken.resolve(f));
        }
        r = CliTest.run("demo", "--model", broken.toString(), "--steps", "1", "--out", tmp.resolve("x.png").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("text_encoder.safetensors is missing"), r.err());
    }
}
