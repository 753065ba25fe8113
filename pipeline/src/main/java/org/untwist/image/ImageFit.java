package org.untwist.image;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;

/**
 * Fitting a reference image to the output size: scaled so that it covers the whole output (the larger of the
 * two scale factors), then centre-cropped. Nothing is stretched and nothing is padded; what falls outside the
 * output's aspect ratio is cut equally from both sides. Downscaling averages the source pixels each output
 * pixel covers (area averaging, like PIL's box/reducing filters); upscaling is bicubic.
 */
public final class ImageFit {
    private ImageFit() {
    }

    /** {@code src} covering {@code width × height}, centre-cropped. */
    public static BufferedImage coverAndCrop(BufferedImage src, int width, int height) {
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("output size must be positive, got " + width + "×" + height);
        }
        double scale = Math.max(width / (double) src.getWidth(), height / (double) src.getHeight());
        int sw = Math.max(width, (int) Math.round(src.getWidth() * scale));
        int sh = Math.max(height, (int) Math.round(src.getHeight() * scale));
        BufferedImage scaled = resize(src, sw, sh);
        int x0 = (sw - width) / 2, y0 = (sh - height) / 2;
        BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.drawImage(scaled, -x0, -y0, null);
        } finally {
            g.dispose();
        }
        return out;
    }

    private static BufferedImage resize(BufferedImage src, int w, int h) {
        if (w == src.getWidth() && h == src.getHeight()) {
            return src;
        }
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            if (w < src.getWidth() || h < src.getHeight()) {
                g.drawImage(src.getScaledInstance(w, h, java.awt.Image.SCALE_AREA_AVERAGING), 0, 0, null);
            } else {
                g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BICUBIC);
                g.drawImage(src, 0, 0, w, h, null);
            }
        } finally {
            g.dispose();
        }
        return out;
    }
}
