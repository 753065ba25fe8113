/** The glyph demo: the shipped FLUX-architecture glyph model, its references and metrics, the experiment. */
module org.untwist.demo {
    requires transitive org.untwist.core;
    requires transitive java.desktop;
    requires com.fasterxml.jackson.databind;

    exports org.untwist.demo;
}
