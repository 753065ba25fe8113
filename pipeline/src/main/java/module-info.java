/**
 * The parts of a FLUX.1 pipeline around the transformer: the CLIP and T5 tokenizers and text encoders
 * ({@code org.untwist.text}), the autoencoder with the latent packing ({@code org.untwist.autoencoder}), images in and out
 * ({@code org.untwist.image}), checkpoint reading ({@code org.untwist.checkpoint}) and whole pipelines as users have them ({@code org.untwist.pipeline}). Built on the core API only;
 * backends come from their provider modules.
 */
module org.untwist.pipeline {
    requires transitive org.untwist.core;
    requires com.fasterxml.jackson.databind;
    requires java.desktop; // org.untwist.image: ImageIO and BufferedImage

    exports org.untwist.text;
    exports org.untwist.checkpoint;
    exports org.untwist.image;
    exports org.untwist.autoencoder;
    exports org.untwist.pipeline;
}
