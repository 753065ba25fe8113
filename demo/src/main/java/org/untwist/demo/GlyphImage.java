package org.untwist.demo;

import java.awt.image.BufferedImage;

/**
 * An RGB image with values in {@code [0, 1]}, planar {@code [3, size, size]}: the demo model's output unpacked
 * from FLUX tokens (2×2 pixels per token, channel order {@code (c, ph, pw)} as FLUX's {@code rearrange}).
 */
public record GlyphImage(int size, float[] rgb) {

    public GlyphImage {
        if (rgb.length != 3 * size * size) {
            throw new IllegalArgumentException("an RGB image of side " + size + " has " + 3 * size * size + " values, got " + rgb.length);
        }
    }

    /** Unpacks the tokens starting at {@code offset} ({@code (size/2)² × 12} values in [-1, 1]) and maps them to [0, 1]. */
    public static GlyphImage fromTokens(float[] tokens, int offset, int size) {
        int grid = size / 2;
        float[] rgb = new float[3 * size * size];
        for (int gy = 0; gy < grid; gy++) {
            for (int gx = 0; gx < grid; gx++) {
                int token = offset + (gy * grid + gx) * 12;
                for (int c = 0; c < 3; c++) {
                    for (int py = 0; py < 2; py++) {
                        for (int px = 0; px < 2; px++) {
                            float v = tokens[token + c * 4 + py * 2 + px];
                            rgb[(c * size + gy * 2 + py) * size + gx * 2 + px] = Math.clamp((v + 1f) / 2f, 0f, 1f);
                        }
                    }
                }
            }
        }
        return new GlyphImage(size, rgb);
    }

    public float at(int channel, int y, int x) {
        return rgb[(channel * size + y) * size + x];
    }

    /** The image scaled up {@code zoom} times (nearest neighbour), for grids people look at. */
    public BufferedImage toBufferedImage(int zoom) {
        BufferedImage img = new BufferedImage(size * zoom, size * zoom, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < size * zoom; y++) {
            for (int x = 0; x < size * zoom; x++) {
                int r = Math.round(at(0, y / zoom, x / zoom) * 255), g = Math.round(at(1, y / zoom, x / zoom) * 255),
                        b = Math.round(at(2, y / zoom, x / zoom) * 255);
                img.setRGB(x, y, (r << 16) | (g << 8) | b);
            }
        }
        return img;
    }
}
