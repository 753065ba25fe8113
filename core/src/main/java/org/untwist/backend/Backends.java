package org.untwist.backend;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.ServiceLoader;

/**
 * Finds and builds backends. Automatic selection takes the available backend of highest priority and logs
 * one line naming the choice and why; {@code -Duntwist.backend=NAME} (or {@link #create(String, int)} with a
 * name) forces one, and forcing one that cannot run here is an error saying why.
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

    /** The default thread count: {@code -Duntwist.threads} or the number of available processors. */
    public static int defaultThreads() {
        String s = System.getProperty(THREADS_PROPERTY);
        if (s == null || s.isBlank()) {
            return Runtime.getRuntime().availableProcessors();
        }
        try {
            int n = Integer.parseInt(s.trim());
            if (n < 1) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-D" + THREADS_PROPERTY + "=" + s + " is not a positive integer");
        }
    }

    /** The backend named by {@code -Duntwist.backend}, or the best available one, with default threads. */
    public static Backend create() {
        return create(System.getProperty(BACKEND_PROPERTY), defaultThreads());
    }

    /**
     * Builds the named backend, or the best available one when {@code name} is null, blank or {@code auto}.
     *
     * @throws IllegalStateException when a named backend is unknown or cannot run here; the message says why
     */
    public static Backend create(String name, int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        List<BackendProvider> providers = providers();
        if (name != null && !name.isBlank() && !name.trim().equalsIgnoreCase("auto")) {
            String wanted = name.trim().toLowerCase(Locale.ROOT);
            for (BackendProvider p : providers) {
                if (p.name().equals(wanted)) {
                    String why = p.unavailableReason();
                    if (why != null) {
                        throw new IllegalStateException("backend '" + wanted + "' was requested but cannot run here: " + why);
                    }
                    Backend b = p.create(threads);
                    LOG.log(System.Logger.Level.INFO, "untwist backend: " + b.describe() + " (forced)");
                    return b;
                }
            }
            throw new IllegalStateException("unknown backend '" + name + "'; known: "
                    + providers.stream().map(BackendProvider::name).toList());
        }
        StringBuilder skipped = new StringBuilder();
        for (BackendProvider p : providers) {
            String why = p.unavailableReason();
            if (why == null) {
                Backend b = p.create(threads);
                LOG.log(System.Logger.Level.INFO, "untwist backend: " + b.describe() + " (automatic: highest priority available"
                        + (skipped.isEmpty() ? "" : "; skipped " + skipped) + ")");
                return b;
            }
            if (!skipped.isEmpty()) {
                skipped.append("; ");
            }
            skipped.append(p.name()).append(": ").append(why);
        }
        throw new IllegalStateException("no backend can run here: " + skipped);
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
