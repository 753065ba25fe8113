package org.untwist.backend;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Time spent per backend operation, filled by {@link ProfilingBackend}: calls and total time by operation, and by
 * operation and argument shapes. {@link #table} renders both as markdown, largest first. Thread-safe.
 */
public final class OpProfile {
    /** One operation (or operation and shapes): how many calls, how long in total. */
    public record Entry(String op, String shapes, long calls, long nanos) {
        public double millis() {
            return nanos / 1e6;
        }
    }

    private final Map<String, long[]> byOp = new LinkedHashMap<>();
    private final Map<String, long[]> byShape = new LinkedHashMap<>();

    /** Adds one call of {@code op} on arguments of {@code shapes} that took {@code nanos}. */
    public synchronized void record(String op, String shapes, long nanos) {
        add(byOp, op, nanos);
        add(byShape, op + "\t" + shapes, nanos);
    }

    private static void add(Map<String, long[]> m, String key, long nanos) {
        long[] v = m.computeIfAbsent(key, k -> new long[2]);
        v[0]++;
        v[1] += nanos;
    }

    /** Forgets everything recorded (e.g. after a warm-up run). */
    public synchronized void reset() {
        byOp.clear();
        byShape.clear();
    }

    /** Per operation, largest total first. */
    public synchronized List<Entry> byOperation() {
        return sorted(byOp, false);
    }

    /** Per operation and argument shapes, largest total first. */
    public synchronized List<Entry> byOperationAndShapes() {
        return sorted(byShape, true);
    }

    /** Total time of every recorded call, nanoseconds. */
    public synchronized long totalNanos() {
        return byOp.values().stream().mapToLong(v -> v[1]).sum();
    }

    private static List<Entry> sorted(Map<String, long[]> m, boolean withShapes) {
        List<Entry> out = new ArrayList<>();
        for (Map.Entry<String, long[]> e : m.entrySet()) {
            String[] k = withShapes ? e.getKey().split("\t", 2) : new String[] {e.getKey(), ""};
            out.add(new Entry(k[0], k[1], e.getValue()[0], e.getValue()[1]));
        }
        out.sort(Comparator.comparingLong(Entry::nanos).reversed());
        return out;
    }

    /**
     * Two markdown tables: per operation, then the {@code topShapes} largest operation-and-shapes rows; times in ms,
     * shares of the total.
     */
    public synchronized String table(String title, int topShapes) {
        double total = Math.max(totalNanos() / 1e6, 1e-9);
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%s: %.1f ms in %d calls%n%n", title, total,
                byOp.values().stream().mapToLong(v -> v[0]).sum()));
        sb.append("| operation | calls | total ms | share | mean ms |\n|---|---|---|---|---|\n");
        for (Entry e : byOperation()) {
            sb.append(String.format(Locale.ROOT, "| %s | %d | %.2f | %.1f %% | %.4f |%n", e.op(), e.calls(), e.millis(), 100 * e.millis() / total,
                    e.millis() / e.calls()));
        }
        sb.append("\n| operation | shapes | calls | total ms | share | mean ms |\n|---|---|---|---|---|---|\n");
        List<Entry> rows = byOperationAndShapes();
        for (Entry e : rows.subList(0, Math.min(topShapes, rows.size()))) {
            sb.append(String.format(Locale.ROOT, "| %s | %s | %d | %.2f | %.1f %% | %.4f |%n", e.op(), e.shapes(), e.calls(), e.millis(),
                    100 * e.millis() / total, e.millis() / e.calls()));
        }
        return sb.toString();
    }
}
