package org.untwist.cli;

import org.untwist.backend.Backend;
import org.untwist.backend.Backends;
import picocli.CommandLine.Option;

/** The options every computing command shares: which backend and how many threads. */
final class BackendOptions {
    @Option(names = "--backend", paramLabel = "NAME",
            description = "Backend: auto (default: best available), scalar, vector. Also -Duntwist.backend.")
    String backend;

    @Option(names = "--threads", paramLabel = "N", description = "Compute threads (default: -Duntwist.threads or all cores).")
    Integer threads;

    Backend create() {
        String name = backend != null ? backend : System.getProperty(Backends.BACKEND_PROPERTY);
        int n = threads != null ? threads : Backends.defaultThreads();
        return Backends.create(name, n);
    }
}
