package org.untwist.demo;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.Tensor;

/**
 * The shipped references: clean glyph images (as FLUX tokens) in fonts the model never trained on, with the
 * character and font each shows. Written by {@code train/train.py} from its seed.
 */
public record ReferenceSet(String characters, List<String> fonts, int imageSize, float[] tokens, int tokensPerImage,
                           int channels, int[] character, int[] font) {
    private static final ObjectMapper JSON = new ObjectMapper();

    public int size() {
        return character.length;
    }

    /** The clean tokens of reference {@code i} as a new {@code [1, Li, C]} tensor (owned by the caller). */
    public Tensor latent(int i) {
        checkIndex(i);
        float[] v = java.util.Arrays.copyOfRange(tokens, i * tokensPerImage * channels, (i + 1) * tokensPerImage * channels);
        return Tensor.of(v, 1, tokensPerImage, channels);
    }

    /** Reference {@code i} as an RGB image. */
    public GlyphImage image(int i) {
        checkIndex(i);
        return GlyphImage.fromTokens(tokens, i * tokensPerImage * channels, imageSize);
    }

    private void checkIndex(int i) {
        if (i < 0 || i >= size()) {
            throw new IllegalArgumentException("reference " + i + " does not exist; the set has " + size() + " (0.." + (size() - 1) + ")");
        }
    }

    public static ReferenceSet read(Path file) throws IOException {
        try (SafeTensors st = SafeTensors.open(file)) {
            var meta = st.metadata();
            if (!meta.containsKey("characters") || !meta.containsKey("fonts") || !meta.containsKey("image_size")) {
                throw new IOException(file + ": metadata needs 'characters', 'fonts' and 'image_size'");
            }
            for (String name : new String[] {"img", "character", "font"}) {
                if (!st.contains(name)) {
                    throw new IOException(file + ": tensor '" + name + "' is missing");
                }
            }
            Tensor img = st.tensor("img");
            int size = Integer.parseInt(meta.get("image_size"));
            if (img.rank() != 3 || img.dim(1) != (size / 2) * (size / 2) || img.dim(2) != 12) {
                throw new IOException(file + ": img has shape " + java.util.Arrays.toString(img.shape()) + ", expected [N, " + (size / 2) * (size / 2) + ", 12]");
            }
            int n = img.dim(0);
            int[] ch = ints(st.tensor("character"), n, file, "character");
            int[] fo = ints(st.tensor("font"), n, file, "font");
            List<String> fonts = JSON.readValue(meta.get("fonts"), new TypeReference<>() { });
            return new ReferenceSet(meta.get("characters"), fonts, size, img.toFloatArray(), img.dim(1), img.dim(2), ch, fo);
        }
    }

    private static int[] ints(Tensor t, int n, Path file, String name) throws IOException {
        if (!t.hasShape(n)) {
            throw new IOException(file + ": '" + name + "' must have shape [" + n + "]");
        }
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = Math.round(t.get(i));
        }
        return out;
    }
}
