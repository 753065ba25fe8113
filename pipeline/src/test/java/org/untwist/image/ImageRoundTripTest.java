package org.untwist.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.untwist.tensor.Tensor;

/** Pixels to tensors and back, the fit to the output size, PNG text chunks, and unreadable images. */
class ImageRoundTripTest {
    @TempDir
    Path tmp;

    private static BufferedImage gradient(int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, ((x * 255 / Math.max(1, w - 1)) << 16) | ((y * 255 / Math.max(1, h - 1)) << 8) | ((x + y) & 0xFF));
            }
        }
        return img;
    }

    @Test
    void pixelsRoundTripThroughTheTensorExactly() {
        BufferedImage img = gradient(37, 23);
        try (Tensor t = ImageTensors.toTensor(img)) {
            assertEquals(List.of(1, 3, 23, 37), java.util.Arrays.stream(t.shape()).boxed().toList());
            assertEquals(-1f, ImageTensors.toTensor(new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB)).get(0));
            BufferedImage back = ImageTensors.toImages(t).get(0);
            for (int y = 0; y < 23; y++) {
                for (int x = 0; x < 37; x++) {
                    // v/127.5 - 1 then (int)(127.5 (x + 1)) gives v back except where float rounding lands just below: at most 1 off
                    int a = img.getRGB(x, y), b = back.getRGB(x, y);
                    for (int c = 0; c < 24; c += 8) {
                        assertTrue(Math.abs(((a >> c) & 0xFF) - ((b >> c) & 0xFF)) <= 1, "pixel " + x + "," + y);
                    }
                }
            }
        }
    }

    @Test
    void decodedValuesAreClampedAndTruncatedLikeTorchByte() {
        try (Tensor t = Tensor.of(new float[] {-2f, 1.5f, 0f, Float.NaN, 0.999f, -0.999f, 0.5f, -0.5f, 0.1f, 0.2f, 0.3f, 0.4f}, 1, 3, 2, 2)) {
            BufferedImage img = ImageTensors.toImages(t).get(0);
            assertEquals(0, (img.getRGB(0, 0) >> 16) & 0xFF);      // -2 clamps to -1 → 0
            assertEquals(255, (img.getRGB(1, 0) >> 16) & 0xFF);    // 1.5 clamps to 1 → 255
            assertEquals(127, (img.getRGB(0, 1) >> 16) & 0xFF);    // 0 → 127.5 truncated
            assertEquals(254, (img.getRGB(0, 0) >> 8) & 0xFF);     // 0.999 → 254.87 truncated
        }
    }

    @Test
    void fitCoversTheOutputAndCropsTheCentre() {
        BufferedImage wide = new BufferedImage(200, 100, BufferedImage.TYPE_INT_RGB);
        for (int x = 0; x < 200; x++) { // three vertical bands: red | green | blue
            for (int y = 0; y < 100; y++) {
                wide.setRGB(x, y, x < 50 ? 0xFF0000 : x < 150 ? 0x00FF00 : 0x0000FF);
            }
        }
        BufferedImage square = ImageFit.coverAndCrop(wide, 64, 64);
        assertEquals(64, square.getWidth());
        assertEquals(64, square.getHeight());
        assertEquals(0x00FF00, square.getRGB(32, 32) & 0xFFFFFF); // the centre band fills the square's middle
        // scaled to 128×64, 32 columns cut from each side: exactly the red and blue bands
        assertTrue(((square.getRGB(2, 32) >> 8) & 0xFF) > 200 && ((square.getRGB(61, 32) >> 8) & 0xFF) > 200, "side bands cropped");
        BufferedImage up = ImageFit.coverAndCrop(gradient(10, 20), 48, 48); // upscale path
        assertEquals(48, up.getWidth());
    }

    @Test
    void pngCarriesTheSettingsAsTextChunks() throws IOException {
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("prompt", "a watercolor fox, Crème brûlée");
        settings.put("prompt_ja", "水彩のキツネ 🦊");
        settings.put("seed", "42");
        Path file = tmp.resolve("out.png");
        PngFiles.write(gradient(16, 8), settings, file);
        assertEquals(settings, PngFiles.readText(file));
        assertEquals(16, ImageIO.read(file.toFile()).getWidth());
        try (var files = Files.list(tmp)) {
            assertEquals(1, files.count(), "no temporary file left");
        }
    }

    @Test
    void unreadableImagesAreOneLineNamingTheFile() throws IOException {
        Path junk = tmp.resolve("junk.png");
        Files.writeString(junk, "not an image");
        IOException e = assertThrows(IOException.class, () -> ImageFiles.readRgb(junk));
        assertTrue(e.getMessage().startsWith(junk.toString()) && !e.getMessage().contains("\n"), e.getMessage());
        assertTrue(assertThrows(IOException.class, () -> ImageFiles.readRgb(tmp.resolve("none.png"))).getMessage().contains("not found"));
        assertTrue(assertThrows(IOException.class, () -> ImageFiles.readRgb(tmp)).getMessage().contains("is a folder"));
        Path truncated = tmp.resolve("truncated.png");
        PngFiles.write(gradient(64, 64), Map.of(), truncated);
        byte[] bytes = Files.readAllBytes(truncated);
        Files.write(truncated, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        IOException t = assertThrows(IOException.class, () -> ImageFiles.readRgb(truncated));
        assertFalse(t.getMessage().contains("\n"), t.getMessage());
        Path jpeg = tmp.resolve("photo.jpg");
        ImageIO.write(gradient(30, 20), "jpeg", jpeg.toFile());
        assertEquals(30, ImageFiles.readRgb(jpeg).getWidth());
    }
}
