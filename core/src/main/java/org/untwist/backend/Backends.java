package org.untwist.backend;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.ServiceLoader;

/**
 * Finds and builds backends. Automatic selection takes the available backend of highest priority that computes in
 * float32 (or, when a {@link Precision} is asked for, in that precision) and logs one line naming the choice and why;
 * {@code -Duntwist.backend=NAME} (or {@link #create(String, int)} with a name) forces one, and forcing one that cannot
 * run here, or cannot compute in the precision asked for, is an error saying why.
 */
public final class Backends {
    /** System property that forces a backend by name. */
    public static final String BACKEND_PROPERTY = "untwist.backend";
    /** System property that sets the default number of compute threads. */
    public static final String THREADS_PROPERTY = "untwist.threads";

    private static final System.Logger LOG = System.getLogger("org.untwist.backend");

    private Backends() {
    }

    /** Every registered provider, best first (the scalar oracle is always among them). */
    public static List<BackendProvider> providers() {
        List<BackendProvider> all = new ArrayList<>();
        all.add(new ScalarProvider());
        for (BackendProvider p : ServiceLoader.load(BackendProvider.class, Backends.class.getClassLoader())) {
            if (!p.name().equals("scalar")) {
                all.add(p);
            }
        }
        all.sort(Comparator.comparingInt(BackendProvider::priority).reversed());
        return all;
    }

    /** The floor of {@link #maxThreads()}. */
    public static final int MIN_THREAD_BOUND = 64;

    /**
     * The most compute threads a backend accepts: 4 × the available processors, and at least
     * {@value #MIN_THREAD_BOUND}. The kernels are compute-bound, so threads beyond the cores only add switching;
     * 4 × leaves room for SMT and for a container whose CPU quota under-reports the cores, and the floor lets a
     * small machine run the thread counts a larger one (or a determinism test) uses. What it stops is a typo
     * such as 100000, which would start that many OS threads.
     */
    public static int maxThreads() {
        return Math.max(MIN_THREAD_BOUND, 4 * Runtime.getRuntime().availableProcessors());
    }

    /**
     * Returns {@code threads} when it is in {@code [1, maxThreads()]}.
     *
     * @param what how the count was given, for the message (e.g. {@code "threads"}, {@code "--threads"})
     * @throws IllegalArgumentException otherwise, naming the bound and why
     */
    public static int requireThreads(String what, long threads) {
        int max = maxThreads();
        if (threads < 1 || threads > max) {
            throw new IllegalArgumentException(what + " must be between 1 and " + max + " (4 × " + Runtime.getRuntime().availableProcessors()
                    + " available processors, at least " + MIN_THREAD_BOUND + "), got " + threads);
        }
        return (int) threads;
    }

    /** The default thread count: {@code -Duntwist.threads} or the number of available processors. */
    public static int defaultThreads() {
        String s = System.getProperty(THREADS_PROPERTY);
        if (s == null || s.isBlank()) {
            return Runtime.getRuntime().availableProcessors();
        }
        long n;
        try {
            n = Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-D" + THREADS_PROPERTY + "=" + s + " is not an integer");
        }
        return requireThreads("-D" + THREADS_PROPERTY + "=" + s.trim(), n);
    }

    /** The backend named by {@code -Duntwist.backend}, or the best available one, with default threads. */
    public static Backend create() {
        return create(System.getProperty(BACKEND_PROPERTY), defaultThreads());
    }

    /**
     * Builds the named backend, or the best available one when {@code name} is null, blank or {@code auto}.
     *
     * @throws IllegalArgumentException when {@code threads} is outside {@code [1, maxThreads()]}
     * @throws IllegalStateException    when a named backend is unknown or cannot run here; the message says why
     */
    public static Backend create(String name, int threads) {
        return create(name, threads, null);
    }

    /**
     * Builds the named backend, or the best available one when {@code name} is null, blank or {@code auto}, computing
     * in {@code precision}; {@code null} means the backend's default ({@link BackendProvider#create(int)}), and
     * automatic selection then considers only backends that can compute in float32.
     *
     * @throws IllegalArgumentException when {@code threads} is outside {@code [1, maxThreads()]}
     * @throws IllegalStateException    when a named backend is unknown, cannot run here or has no such precision, or
     *                                  no backend offers the precision; the message says why
     */
    public static Backend create(String name, int threads, Precision precision) {
        requireThreads("threads", threads);
        List<BackendProvider> providers = providers();
        if (name != null && !name.isBlank() && !name.trim().equalsIgnoreCase("auto")) {
            String wanted = name.trim().toLowerCase(Locale.ROOT);
            for (BackendProvider p : providers) {
                if (p.name().equals(wanted)) {
                    String why = p.unavailableReason();
                    if (why != null) {
                        throw new IllegalStateException("backend '" + wanted + "' was requested but cannot run here: " + why);
                    }
                    if (precision != null && !p.precisions().contains(precision)) {
                        throw new IllegalStateException("backend '" + wanted + "' cannot compute in " + precision.label() + " (it offers "
                                + labels(p.precisions()) + ")" + offeredBy(providers, precision));
                    }
                    Backend b = precision == null ? p.create(threads) : p.create(threads, precision);
                    LOG.log(System.Logger.Level.INFO, "untwist backend: " + b.describe() + " (forced)");
                    return b;
                }
            }
            throw new IllegalStateException("unknown backend '" + name + "'; known: "
                    + providers.stream().map(BackendProvider::name).toList());
        }
        Precision wanted = precision == null ? Precision.F32 : precision;
        StringBuilder skipped = new StringBuilder();
        for (BackendProvider p : providers) {
            if (!p.precisions().contains(wanted)) {
                continue;
            }
            String why = p.unavailableReason();
            if (why == null) {
                Backend b = precision == null ? p.create(threads) : p.create(threads, precision);
                LOG.log(System.Logger.Level.INFO, "untwist backend: " + b.describe() + " (automatic: highest priority available"
                        + (skipped.isEmpty() ? "" : "; skipped " + skipped) + ")");
                return b;
            }
            if (!skipped.isEmpty()) {
                skipped.append("; ");
            }
            skipped.append(p.name()).append(": ").append(why);
        }
        if (precision != null && skipped.isEmpty()) {
            throw new IllegalStateException("no backend computes in " + precision.label() + offeredBy(providers, precision));
        }
        throw new IllegalStateException("no backend " + (precision == null ? "" : "computing in " + precision.label() + " ") + "can run here: " + skipped);
    }

    private static String labels(List<Precision> precisions) {
        return String.join(", ", precisions.stream().map(Precision::label).toList());
    }

    /** "; bf16: gpu (unavailable: ...), onednn" — who else offers {@code precision}, for error messages. */
    private static String offeredBy(List<BackendProvider> providers, Precision precision) {
        List<String> names = new ArrayList<>();
        for (BackendProvider p : providers) {
            if (p.precisions().contains(precision)) {
                String why = p.unavailableReason();
                names.add(p.name() + (why == null ? "" : " (unavailable: " + why + ")"));
            }
        }
        return names.isEmpty() ? "; no registered backend computes in " + precision.label() : "; " + precision.label() + ": " + String.join(", ", names);
    }

    /** The scalar oracle's provider; always available. */
    static final class ScalarProvider implements BackendProvider {
        @Override
        public String name() {
            return "scalar";
        }

        @Override
        public int priority() {
            return 0;
        }

        @Override
        public String unavailableReason() {
            return null;
        }

        @Override
        public Backend create(int threads) {
            return new ScalarBackend();
        }
    }
}
