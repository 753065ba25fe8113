package org.untwist.backend;

/**
 * A way to build one kind of {@link Backend}, found through {@link java.util.ServiceLoader}. Modules that
 * add a backend (the Vector API module, the GPU module) register one in
 * {@code META-INF/services/org.untwist.backend.BackendProvider}.
 */
public interface BackendProvider {

    /** The name users select it by ({@code -Duntwist.backend=NAME}, {@code --backend NAME}). */
    String name();

    /** Higher is preferred by automatic selection. The scalar oracle is 0. */
    int priority();

    /**
     * Why this backend cannot run here, or {@code null} when it can. Must not throw and must not load
     * classes that are missing on this machine.
     */
    String unavailableReason();

    /**
     * Builds the backend.
     *
     * @param threads number of compute threads (ignored by single-threaded backends)
     */
    Backend create(int threads);
}
