package org.untwist.vector;

import jdk.incubator.vector.VectorShape;

/**
 * The checks that need the Vector API linked: loaded only after {@link VectorBackendProvider} has seen the
 * incubator module in the boot layer. Decides the vector width from {@code -Duntwist.vectorBits} and the
 * hardware's preferred shape.
 */
final class VectorSupport {
    /** System property that overrides the vector width in bits (128, 256 or 512). */
    static final String BITS_PROPERTY = "untwist.vectorBits";

    private VectorSupport() {
    }

    /** The hardware's preferred vector size in bits. */
    static int preferredBits() {
        return VectorShape.preferredShape().vectorBitSize();
    }

    /** Why the backend cannot run here, or {@code null}. */
    static String unavailableReason() {
        int preferred;
        try {
            preferred = preferredBits();
        } catch (Throwable t) {
            return "the Java Vector API cannot be used: " + t;
        }
        if (preferred < 128) {
            return "the preferred vector size is " + preferred + " bits; at least 128 bits are needed";
        }
        String s = System.getProperty(BITS_PROPERTY);
        if (s == null || s.isBlank()) {
            return null;
        }
        int bits;
        try {
            bits = Integer.parseInt(s.trim());
        } catch (NumberFormatException e) {
            return "-D" + BITS_PROPERTY + "=" + s + " is not one of 128, 256, 512";
        }
        if (bits != 128 && bits != 256 && bits != 512) {
            return "-D" + BITS_PROPERTY + "=" + s + " is not one of 128, 256, 512";
        }
        if (bits > preferred) {
            return "-D" + BITS_PROPERTY + "=" + bits + " exceeds the hardware's preferred vector size of " + preferred + " bits";
        }
        return null;
    }

    /** The vector width to use: the property when it is valid, else the preferred size. */
    static int chosenBits() {
        String why = unavailableReason();
        if (why != null) {
            throw new IllegalStateException("backend 'vector' cannot run here: " + why);
        }
        String s = System.getProperty(BITS_PROPERTY);
        return s == null || s.isBlank() ? preferredBits() : Integer.parseInt(s.trim());
    }
}
