package org.untwist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.untwist.image.PngFiles;

/**
 * {@code untwist generate --prompt} on the tiny pipeline ({@code testdata/flux-pipeline-tiny}): PNGs with their
 * settings as text chunks, one file per prompt, the single-file form giving the same pixels, and one-line errors
 * that leave nothing behind.
 */
class PromptGenerateCommandTest {
    static final Path PIPELINE = TestSupport.goldenRoot().getParent().resolve("flux-pipeline-tiny");
    static final Path SINGLE = TestSupport.goldenRoot().getParent().resolve("flux-pipeline-tiny-single");

    @TempDir
    Path tmp;
    Path reference;

    @BeforeEach
    void referenceImage() throws IOException {
        BufferedImage img = new BufferedImage(40, 30, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 30; y++) {
            for (int x = 0; x < 40; x++) {
                img.setRGB(x, y, (x * 6) << 16 | (y * 8) << 8 | ((x * y) & 0xFF));
            }
        }
        reference = tmp.resolve("style.png");
        ImageIO.write(img, "png", reference.toFile());
    }

    private static CliTest.Result run(String... args) {
        return CliTest.run(args);
    }

    private static void assertOneLineError(CliTest.Result r, String culprit) {
        assertEquals(1, r.code(), r.err());
        List<String> lines = r.err().lines().filter(l -> l.startsWith("untwist:")).toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.get(0).contains(culprit), "'" + culprit + "' not named in: " + lines.get(0));
    }

    private List<Path> pngs() throws IOException {
        try (Stream<Path> s = Files.walk(tmp)) {
            return s.filter(p -> p.toString().endsWith(".png") && !p.equals(reference) && !p.getFileName().toString().equals("junk.png")).toList();
        }
    }

    @Test
    void writesOnePngPerPromptWithItsSettings() throws IOException {
        Path out = tmp.resolve("out/fox.png");
        CliTest.Result r = run("generate", "--backend", "vector", "--model", PIPELINE.toString(), "--prompt", "a watercolor fox", "an ink crane",
                "--reference", reference.toString(), "--steps", "2", "--width", "32", "--height", "24", "--seed", "7", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        for (int i = 1; i <= 2; i++) {
            Path f = tmp.resolve("out/fox-" + i + ".png");
            assertTrue(Files.isRegularFile(f), f + " missing: " + r.out());
            BufferedImage img = ImageIO.read(f.toFile());
            assertEquals(32, img.getWidth());
            assertEquals(24, img.getHeight());
            Map<String, String> text = PngFiles.readText(f);
            assertEquals(i == 1 ? "a watercolor fox" : "an ink crane", text.get("prompt"));
            assertEquals(Long.toString(7 + i - 1), text.get("seed"));
            assertEquals("2", text.get("steps"));
            assertEquals("untwisted", text.get("mode"));
            assertEquals("style.png", text.get("reference"));
            assertEquals("32x24", text.get("size"));
            assertTrue(text.get("sharing").contains("UNTWISTED"), text.toString());
        }
        // The phase times: every phase of a generation with a reference, and the per-step figure for reference + 2 targets.
        String phases = (r.out() + r.err()).lines().filter(l -> l.contains("per step for a batch of 3")).findFirst()
                .orElseThrow(() -> new AssertionError("no phase-time line: " + r.out() + r.err()));
        for (String phase : new String[] {"T5 ", "CLIP ", "reference encoding ", "transformer loading ", "sampling ", "decoding "}) {
            assertTrue(phases.matches(".*" + phase + "(\\d{2,}\\.\\d|\\d\\.\\d{3}) s.*"), phase + "missing: " + phases);
        }
        // Each step's time (the first from sampling less the others), one number per step.
        String steps = (r.out() + r.err()).lines().filter(l -> l.contains("step times: first ")).findFirst()
                .orElseThrow(() -> new AssertionError("no step-time line: " + r.out() + r.err()));
        assertTrue(steps.matches(".*steps 2-2 median \\d+\\.\\d{4} s, min .*; each \\(s\\): \\d+\\.\\d{4} \\d+\\.\\d{4}"), steps);
    }

    @Test
    void theSingleFileFormGivesTheSamePixels() throws IOException {
        Path a = tmp.resolve("diffusers.png"), b = tmp.resolve("single.png");
        String[] common = {"--backend", "vector", "--prompt", "a watercolor fox", "--reference", reference.toString(), "--steps", "2", "--width", "32",
                "--height", "24"};
        CliTest.Result ra = run(concat(new String[] {"generate", "--model", PIPELINE.toString(), "--out", a.toString()}, common));
        assertEquals(0, ra.code(), ra.err());
        CliTest.Result rb = run(concat(new String[] {"generate", "--model", SINGLE.resolve("flux1-tiny.safetensors").toString(),
                "--clip", SINGLE.resolve("clip_l.safetensors").toString(), "--t5", SINGLE.resolve("t5xxl.safetensors").toString(),
                "--vae", SINGLE.resolve("ae.safetensors").toString(), "--clip-tokenizer", PIPELINE.resolve("tokenizer").toString(),
                "--t5-tokenizer", PIPELINE.resolve("tokenizer_2").toString(), "--out", b.toString()}, common));
        assertEquals(0, rb.code(), rb.err());
        BufferedImage ia = ImageIO.read(a.toFile()), ib = ImageIO.read(b.toFile());
        for (int y = 0; y < 24; y++) {
            for (int x = 0; x < 32; x++) {
                assertEquals(ia.getRGB(x, y), ib.getRGB(x, y), "pixel " + x + "," + y);
            }
        }
    }

    @Test
    void vaeReadsAPipelinesDiffusersVaeFolderAsTheSingleFile() throws IOException {
        Path in = tmp.resolve("in.safetensors"), out = tmp.resolve("vae.safetensors");
        java.util.Random r = new java.util.Random(5);
        float[] z = new float[16 * 6 * 8];
        for (int i = 0; i < z.length; i++) {
            z[i] = (float) r.nextGaussian();
        }
        try (org.untwist.tensor.Tensor zt = org.untwist.tensor.Tensor.of(z, 1, 16, 6, 8)) {
            org.untwist.io.SafeTensors.write(in, Map.of("z", zt), Map.of());
        }
        CliTest.Result res = run("vae", "--backend", "scalar", "--model", PIPELINE.resolve("vae").toString(), "--inputs", in.toString(), "--out",
                out.toString());
        assertEquals(0, res.code(), res.err());
        var single = org.untwist.pipeline.FluxCheckpoint.open(SINGLE.resolve("flux1-tiny.safetensors"),
                new org.untwist.pipeline.ComponentPaths(null, null, SINGLE.resolve("ae.safetensors"), null, null));
        try (org.untwist.backend.Backend be = TestSupport.backend("scalar", 1); var ae = single.loadAutoencoder(be);
             org.untwist.io.SafeTensors got = org.untwist.io.SafeTensors.open(out);
             org.untwist.io.SafeTensors zf = org.untwist.io.SafeTensors.open(in); org.untwist.tensor.Tensor decoded = ae.decode(zf.tensor("z"))) {
            assertEquals(0.0, TestSupport.maxAbsDiff(got.tensor("decoded"), decoded), "diffusers vae/ vs ae.safetensors");
        }
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void badInputIsOneLineAndWritesNothing() throws IOException {
        String out = tmp.resolve("never.png").toString();
        // a size the autoencoder and the packing cannot divide (the tiny VAE's factor is 2: multiples of 4)
        assertOneLineError(run("generate", "--model", PIPELINE.toString(), "--prompt", "x", "--steps", "1", "--width", "30", "--height", "24",
                "--out", out), "must be multiples of 4");
        // an image that cannot be decoded
        Path junk = tmp.resolve("junk.png");
        Files.writeString(junk, "not a picture");
        assertOneLineError(run("generate", "--model", PIPELINE.toString(), "--prompt", "x", "--reference", junk.toString(), "--steps", "1",
                "--width", "32", "--height", "24", "--out", out), "junk.png: ");
        // a shared-attention mode without a reference
        assertOneLineError(run("generate", "--model", PIPELINE.toString(), "--prompt", "x", "--mode", "untwisted", "--steps", "1", "--width", "32",
                "--height", "24", "--out", out), "give a reference image");
        // a pipeline folder without its vae/
        Path broken = tmp.resolve("broken");
        copyTree(PIPELINE, broken);
        deleteTree(broken.resolve("vae"));
        assertOneLineError(run("generate", "--model", broken.toString(), "--prompt", "x", "--steps", "1", "--width", "32", "--height", "24",
                "--out", out), "vae");
        // not a PNG name, a missing prompts file
        assertOneLineError(run("generate", "--model", PIPELINE.toString(), "--prompt", "x", "--out", tmp.resolve("x.jpg").toString()), "*.png");
        assertOneLineError(run("generate", "--model", PIPELINE.toString(), "--prompts", tmp.resolve("none.txt").toString(), "--out", out),
                "prompts file not found");
        assertTrue(pngs().isEmpty(), "a failed run left " + pngs());
        assertFalse(Files.exists(Path.of(out)));
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Files.copy(p, to.resolve(from.relativize(p).toString()));
            }
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
