package org.untwist.cli;

import org.untwist.sampling.FlowMatchSchedule;

/**
 * Checks of numeric options, run before any work: each failure is one line naming the option, the allowed
 * range and the value given.
 */
final class Checks {
    /** Guidance above this is a typo: FLUX.1-dev was distilled on guidance values of about 1 to 10 (default 3.5). */
    static final double MAX_GUIDANCE = 100;

    private Checks() {
    }

    /** A sampling step count in {@code [1, FlowMatchSchedule.MAX_STEPS]}. */
    static int steps(String option, int steps) {
        return between(option, steps, 1, FlowMatchSchedule.MAX_STEPS);
    }

    /** A guidance value: finite, in {@code [0, MAX_GUIDANCE]}. */
    static float guidance(String option, float g) {
        if (!(g >= 0 && g <= MAX_GUIDANCE)) {
            throw new IllegalArgumentException(option + " must be a finite number between 0 and " + (int) MAX_GUIDANCE + ", got " + g);
        }
        return g;
    }

    static int between(String option, long v, long min, long max) {
        if (v < min || v > max) {
            throw new IllegalArgumentException(option + " must be between " + min + " and " + max + ", got " + v);
        }
        return (int) v;
    }

    static int atLeast(String option, long v, long min) {
        if (v < min || v > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(option + " must be >= " + min + ", got " + v);
        }
        return (int) v;
    }

    /** A finite number {@code >= min}. */
    static double atLeast(String option, double v, double min) {
        if (!(v >= min) || Double.isInfinite(v)) {
            throw new IllegalArgumentException(option + " must be a finite number >= " + number(min) + ", got " + v);
        }
        return v;
    }

    /** A finite number {@code > min}. */
    static double above(String option, double v, double min) {
        if (!(v > min) || Double.isInfinite(v)) {
            throw new IllegalArgumentException(option + " must be a finite number > " + number(min) + ", got " + v);
        }
        return v;
    }

    private static String number(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
    }
}
