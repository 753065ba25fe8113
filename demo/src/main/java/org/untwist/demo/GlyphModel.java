package org.untwist.demo;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.untwist.backend.Backend;
import org.untwist.flux.FluxModel;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.Tensor;

/**
 * The demo model folder: a FLUX-architecture transformer ({@code config.json}, {@code weights.safetensors},
 * loaded like a FLUX.1 checkpoint), its text encoder ({@code text_encoder.safetensors}: one embedding per
 * character of the vocabulary, since a prompt is one character), the reference set and the glyph atlas.
 */
public final class GlyphModel implements AutoCloseable {
    /** Where the shipped model lives, relative to the repository root. */
    public static final Path DEFAULT_DIR = Path.of("models", "glyph-flux");

    private final FluxModel flux;
    private final String vocabulary;
    private final float[] tokenEmbedding;   // [V, context_in_dim]
    private final float[] pooledEmbedding;  // [V, vec_in_dim]
    private final ReferenceSet references;
    private final GlyphAtlas atlas;
    private final int imageSize;

    private GlyphModel(FluxModel flux, String vocabulary, float[] tokenEmbedding, float[] pooledEmbedding, ReferenceSet references,
                       GlyphAtlas atlas) {
        this.flux = flux;
        this.vocabulary = vocabulary;
        this.tokenEmbedding = tokenEmbedding;
        this.pooledEmbedding = pooledEmbedding;
        this.references = references;
        this.atlas = atlas;
        this.imageSize = references.imageSize();
    }

    public static GlyphModel load(Path dir, Backend backend) throws IOException {
        for (String f : new String[] {"config.json", "weights.safetensors", "text_encoder.safetensors", "references.safetensors", "glyphs.safetensors"}) {
            if (!Files.isRegularFile(dir.resolve(f))) {
                throw new IOException(dir + " is not a glyph model folder: " + f + " is missing");
            }
        }
        String vocab;
        float[] tok, pooled;
        int ctx, vec;
        FluxModel flux = FluxModel.load(dir, backend);
        try {
            ctx = flux.config().contextInDim();
            vec = flux.config().vecInDim();
            try (SafeTensors te = SafeTensors.open(dir.resolve("text_encoder.safetensors"))) {
                vocab = te.metadata().get("vocabulary");
                if (vocab == null || vocab.isEmpty()) {
                    throw new IOException(te.path() + ": metadata 'vocabulary' is missing");
                }
                tok = embedding(te, "token_embedding.weight", vocab.length(), ctx);
                pooled = embedding(te, "pooled_embedding.weight", vocab.length(), vec);
            }
            ReferenceSet refs = ReferenceSet.read(dir.resolve("references.safetensors"));
            GlyphAtlas atlas = GlyphAtlas.read(dir.resolve("glyphs.safetensors"));
            if (!atlas.characters().equals(vocab) || !refs.characters().equals(vocab)) {
                throw new IOException(dir + ": the text encoder, reference set and glyph atlas disagree on the characters");
            }
            if (flux.config().inChannels() != 12 || flux.config().outChannels() != 12) {
                throw new IOException(dir + ": a glyph model packs 2x2 RGB pixels per token (in_channels 12), got " + flux.config().inChannels());
            }
            return new GlyphModel(flux, vocab, tok, pooled, refs, atlas);
        } catch (IOException | RuntimeException e) {
            flux.close();
            throw e;
        }
    }

    private static float[] embedding(SafeTensors te, String name, int rows, int dim) throws IOException {
        if (!te.contains(name)) {
            throw new IOException(te.path() + ": tensor '" + name + "' is missing");
        }
        Tensor t = te.tensor(name);
        if (!t.hasShape(rows, dim)) {
            throw new IOException(te.path() + ": '" + name + "' has shape " + java.util.Arrays.toString(t.shape()) + ", expected [" + rows + ", " + dim + "]");
        }
        return t.toFloatArray();
    }

    public FluxModel flux() {
        return flux;
    }

    public String vocabulary() {
        return vocabulary;
    }

    public ReferenceSet references() {
        return references;
    }

    public GlyphAtlas atlas() {
        return atlas;
    }

    public int imageSize() {
        return imageSize;
    }

    /** Index of a one-character prompt in the vocabulary (case-insensitive), or an error naming the vocabulary. */
    public int promptIndex(String prompt) {
        String p = prompt.strip().toUpperCase(java.util.Locale.ROOT);
        int i = p.length() == 1 ? vocabulary.indexOf(p.charAt(0)) : -1;
        if (i < 0) {
            throw new IllegalArgumentException("prompt \"" + prompt + "\" is not one of the model's characters: " + vocabulary);
        }
        return i;
    }

    /** Writes the text conditioning of character {@code index} into batch element {@code b} of txt {@code [B, 1, D]} and y {@code [B, D]}. */
    public void encode(int index, Tensor txt, Tensor y, int b) {
        int ctx = txt.dim(2), vec = y.dim(1);
        for (int d = 0; d < ctx; d++) {
            txt.set((long) b * ctx + d, tokenEmbedding[index * ctx + d]);
        }
        for (int d = 0; d < vec; d++) {
            y.set((long) b * vec + d, pooledEmbedding[index * vec + d]);
        }
    }

    @Override
    public void close() {
        flux.close();
    }
}
