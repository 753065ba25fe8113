package org.untwist.demo;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * Glyph coverage masks {@code [fonts, characters, size, size]} in {@code [0, 1]}: the content half of the demo
 * dataset and the templates of the content score. Stored as safetensors ({@code masks}, F16) with the
 * character set and font names in the metadata.
 */
public record GlyphAtlas(String characters, List<String> fonts, int size, float[] masks) {
    private static final ObjectMapper JSON = new ObjectMapper();

    public GlyphAtlas {
        if (masks.length != (long) fonts.size() * characters.length() * size * size) {
            throw new IllegalArgumentException("masks hold " + masks.length + " values, expected fonts × characters × size² = "
                    + fonts.size() + " × " + characters.length() + " × " + size + "²");
        }
        fonts = List.copyOf(fonts);
    }

    public int fontCount() {
        return fonts.size();
    }

    /** Index of character {@code ch} in the character set, or -1. */
    public int characterIndex(char ch) {
        return characters.indexOf(ch);
    }

    /** Offset of mask {@code (font, character)} in {@link #masks()}. */
    public int offset(int font, int character) {
        return (font * characters.length() + character) * size * size;
    }

    public void write(Path file) throws IOException {
        try (Tensor t = Tensor.of(masks, fonts.size(), characters.length(), size, size); Tensor h = t.copy(DType.F16)) {
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("characters", characters);
            meta.put("fonts", JSON.writeValueAsString(fonts));
            meta.put("producer", "untwist glyphs");
            SafeTensors.write(file, Map.of("masks", h), meta);
        }
    }

    public static GlyphAtlas read(Path file) throws IOException {
        try (SafeTensors st = SafeTensors.open(file)) {
            Map<String, String> meta = st.metadata();
            String chars = meta.get("characters");
            String fontsJson = meta.get("fonts");
            if (chars == null || fontsJson == null || !st.contains("masks")) {
                throw new IOException(file + ": not a glyph atlas (needs tensor 'masks' and metadata 'characters', 'fonts')");
            }
            List<String> fonts = JSON.readValue(fontsJson, new TypeReference<>() { });
            Tensor m = st.tensor("masks");
            int[] s = m.shape();
            if (s.length != 4 || s[0] != fonts.size() || s[1] != chars.length() || s[2] != s[3]) {
                throw new IOException(file + ": masks have shape " + java.util.Arrays.toString(s) + ", expected ["
                        + fonts.size() + ", " + chars.length() + ", size, size]");
            }
            return new GlyphAtlas(chars, fonts, s[2], m.toFloatArray());
        }
    }
}
