package org.untwist.image;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/** Reading a reference image (PNG, JPEG, or whatever else the JDK's image readers decode), with one-line errors. */
public final class ImageFiles {
    private ImageFiles() {
    }

    /**
     * The decoded image as 8-bit RGB (alpha dropped, grey and palette images expanded).
     *
     * @throws IOException naming the file when it is missing, a folder, or not an image the JDK can decode
     */
    public static BufferedImage readRgb(Path file) throws IOException {
        if (!Files.exists(file)) {
            throw new IOException(file + ": image file not found");
        }
        if (Files.isDirectory(file)) {
            throw new IOException(file + ": is a folder, not an image");
        }
        BufferedImage img;
        try (InputStream in = Files.newInputStream(file)) {
            img = ImageIO.read(in);
        } catch (IOException | RuntimeException e) { // ImageIO throws IIOException or even runtime exceptions on corrupt data
            throw new IOException(file + ": cannot decode the image (" + e.getMessage() + ")", e);
        }
        if (img == null) {
            throw new IOException(file + ": not an image this program can decode (PNG, JPEG, BMP, GIF)");
        }
        if (img.getWidth() < 1 || img.getHeight() < 1) {
            throw new IOException(file + ": empty image");
        }
        BufferedImage rgb = new BufferedImage(img.getWidth(), img.getHeight(), BufferedImage.TYPE_INT_RGB);
        java.awt.Graphics2D g = rgb.createGraphics();
        try {
            g.setColor(java.awt.Color.WHITE); // transparent pixels become white, as PIL's convert("RGB") on a white page
            g.fillRect(0, 0, rgb.getWidth(), rgb.getHeight());
            g.drawImage(img, 0, 0, null);
        } finally {
            g.dispose();
        }
        return rgb;
    }
}
