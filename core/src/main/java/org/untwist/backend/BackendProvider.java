package org.untwist.backend;

import java.util.List;
import java.util.stream.Collectors;

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

    /**
     * The precisions it computes in, its default first (what {@link #create(int)} builds unless the provider
     * documents a property that changes it). Providers without {@link Precision#F32} are left out of automatic
     * selection unless a precision is asked for. Must not throw.
     */
    default List<Precision> precisions() {
        return List.of(Precision.F32);
    }

    /**
     * Builds the backend computing in {@code precision}.
     *
     * @throws IllegalArgumentException when {@code precision} is not among {@link #precisions()}
     */
    default Backend create(int threads, Precision precision) {
        if (precision == precisions().get(0)) {
            return create(threads);
        }
        throw new IllegalArgumentException("backend '" + name() + "' computes in " + precisions().stream().map(Precision::label)
                .collect(Collectors.joining(" or ")) + " only, not " + precision.label());
    }
}
