package org.untwist.cli;

import org.untwist.backend.Backend;
import org.untwist.backend.Backends;
import picocli.CommandLine.Option;

/** The options every computing command shares: which backend and how many threads. */
final class BackendOptions {
    @Option(names = "--backend", paramLabel = "NAME",
            description = "Backend: auto (default: best available), scalar, vector. Also -Duntwist.backend.")
    String backend;

    @Option(names = "--threads", paramLabel = "N", description = "Compute threads, 1 to max(64, 4 x cores) (default: -Duntwist.threads or all cores).")
    Integer threads;

    /** Checks {@code --threads} (and {@code -Duntwist.threads}) against {@link Backends#maxThreads()}, before any work. */
    int threads() {
        return threads != null ? Backends.requireThreads("--threads", threads) : Backends.defaultThreads();
    }

    /** Checks the options without building the backend. */
    void validate() {
        threads();
    }

    Backend create() {
        String name = backend != null ? backend : System.getProperty(Backends.BACKEND_PROPERTY);
        return Backends.create(name, threads());
    }
}
