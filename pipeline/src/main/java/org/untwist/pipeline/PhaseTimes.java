package org.untwist.pipeline;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.StringJoiner;

/**
 * Wall time of each phase of a generation (text encoders, reference encoding, sampling, decoding), in the order
 * they ran: what a user needs to see where the minutes of a CPU run go. Not thread-safe; one per generation.
 */
public final class PhaseTimes {
    /** A phase's work. */
    @FunctionalInterface
    public interface Work<T, E extends Exception> {
        T run() throws E;
    }

    private final Map<String, Long> nanos = new LinkedHashMap<>();

    /** Runs {@code work} and adds its wall time to {@code phase}. */
    public <T, E extends Exception> T time(String phase, Work<T, E> work) throws E {
        long t0 = System.nanoTime();
        try {
            return work.run();
        } finally {
            nanos.merge(phase, System.nanoTime() - t0, Long::sum);
        }
    }

    /** Seconds per phase, in the order the phases first ran. */
    public Map<String, Double> seconds() {
        Map<String, Double> s = new LinkedHashMap<>();
        nanos.forEach((k, v) -> s.put(k, v / 1e9));
        return Collections.unmodifiableMap(s);
    }

    /** One line: {@code phase 12.3 s, phase 0.456 s, ...}: tenths from 10 s, milliseconds below (a GPU's phases are short). */
    @Override
    public String toString() {
        StringJoiner j = new StringJoiner(", ");
        nanos.forEach((k, v) -> j.add(String.format(Locale.ROOT, v >= 10e9 ? "%s %.1f s" : "%s %.3f s", k, v / 1e9)));
        return j.toString();
    }
}
