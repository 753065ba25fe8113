package org.untwist.image;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import org.untwist.tensor.Tensor;

/**
 * Pixels ↔ the autoencoder's tensors, as the reference code converts them: an 8-bit channel value {@code v}
 * becomes {@code v / 127.5 − 1} in [-1, 1]; a decoded value {@code x} is clamped to [-1, 1] and becomes
 * {@code (int) (127.5 · (x + 1))}, truncated as PyTorch's {@code .byte()} does.
 */
public final class ImageTensors {
    private ImageTensors() {
    }

    /** {@code [1, 3, H, W]} float32 in [-1, 1]. */
    public static Tensor toTensor(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        float[] values = new float[3 * w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int rgb = img.getRGB(x, y);
                for (int c = 0; c < 3; c++) {
                    int v = (rgb >> (16 - 8 * c)) & 0xFF;
                    values[(c * h + y) * w + x] = v / 127.5f - 1f;
                }
            }
        }
        return Tensor.of(values, 1, 3, h, w);
    }

    /** One RGB image per batch element of a host tensor {@code [B, 3, H, W]}. */
    public static List<BufferedImage> toImages(Tensor t) {
        if (t.rank() != 4 || t.dim(1) != 3) {
            throw new IllegalArgumentException("images need a [B, 3, H, W] tensor, got " + java.util.Arrays.toString(t.shape()));
        }
        int b = t.dim(0), h = t.dim(2), w = t.dim(3);
        List<BufferedImage> images = new ArrayList<>();
        for (int bi = 0; bi < b; bi++) {
            BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int rgb = 0;
                    for (int c = 0; c < 3; c++) {
                        float v = t.get((((long) bi * 3 + c) * h + y) * w + x);
                        float clamped = Float.isNaN(v) ? 0f : Math.max(-1f, Math.min(1f, v));
                        rgb |= ((int) (127.5f * (clamped + 1f))) << (16 - 8 * c);
                    }
                    img.setRGB(x, y, rgb);
                }
            }
            images.add(img);
        }
        return images;
    }
}
