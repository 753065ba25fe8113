/**
 * The parts of a FLUX.1 pipeline around the transformer: the CLIP and T5 tokenizers and text encoders
 * ({@code org.untwist.text}), checkpoints as users have them ({@code org.untwist.checkpoint}, {@code org.untwist.pipeline}). Built on the core API only; backends come from their provider modules.
 */
module org.untwist.pipeline {
    requires transitive org.untwist.core;
    requires com.fasterxml.jackson.databind;

    exports org.untwist.text;
    exports org.untwist.checkpoint;
    exports org.untwist.pipeline;
}
