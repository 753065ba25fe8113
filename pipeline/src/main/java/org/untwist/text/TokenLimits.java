package org.untwist.text;

/** The sequence lengths FLUX.1 tokenizes its prompts to: one place for each constant. */
public final class TokenLimits {

    /** CLIP's text tower: 77 positions, start and end token included. */
    public static final int CLIP = 77;

    /** T5 for FLUX.1 [schnell]. */
    public static final int T5_SCHNELL = 256;

    /** T5 for FLUX.1 [dev]. */
    public static final int T5_DEV = 512;

    private TokenLimits() {
    }
}
