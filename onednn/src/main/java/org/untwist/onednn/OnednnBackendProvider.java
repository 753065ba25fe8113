package org.untwist.onednn;

import java.util.List;
import org.untwist.backend.Backend;
import org.untwist.backend.BackendProvider;
import org.untwist.backend.Precision;

/**
 * Registers the {@code onednn} backend, the CPU's bf16 precision ({@link OnednnBackend}): available when the vector
 * backend runs, {@code libdnnl.so.2} (Debian's {@code libdnnl2}) and its OpenMP runtime load and oneDNN finds bf16
 * instructions; otherwise one line says why ({@link OnednnProbe}, probed once, never throws). It computes in bf16 only,
 * so automatic selection takes it only when bf16 is asked for ({@code --precision bf16}) and no GPU offers it.
 */
public final class OnednnBackendProvider implements BackendProvider {
    @Override
    public String name() {
        return "onednn";
    }

    /** Below the vector backend (100), above the scalar oracle. */
    @Override
    public int priority() {
        return 50;
    }

    @Override
    public String unavailableReason() {
        try {
            return OnednnProbe.result().reason();
        } catch (Throwable t) { // LinkageError, ExceptionInInitializerError (bindings or library missing): never throw
            return "the oneDNN probe failed: " + t;
        }
    }

    @Override
    public List<Precision> precisions() {
        return List.of(Precision.BF16);
    }

    @Override
    public Backend create(int threads) {
        org.untwist.backend.Backends.requireThreads("threads", threads);
        String why = unavailableReason();
        if (why != null) {
            throw new IllegalStateException("backend 'onednn' cannot run here: " + why);
        }
        return new OnednnBackend(threads);
    }
}
