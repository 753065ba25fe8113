package org.untwist.cli;

import java.util.Arrays;

/**
 * The summary the commands print for repeated work whose first round pays the set-up and the JIT: median, minimum and
 * maximum of rounds 2 to N ({@code forward --repeat}, {@code generate}'s step times).
 */
record WarmTimes(double median, double min, double max) {
    /** Of {@code values[1..]}; at least two values. */
    static WarmTimes afterFirst(double[] values) {
        if (values.length < 2) {
            throw new IllegalArgumentException("warm times need at least two rounds, got " + values.length);
        }
        double[] rest = Arrays.copyOfRange(values, 1, values.length);
        Arrays.sort(rest);
        int m = rest.length;
        return new WarmTimes(m % 2 == 1 ? rest[m / 2] : (rest[m / 2 - 1] + rest[m / 2]) / 2, rest[0], rest[m - 1]);
    }
}
