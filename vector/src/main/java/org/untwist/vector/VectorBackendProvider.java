package org.untwist.vector;

import org.untwist.backend.Backend;
import org.untwist.backend.BackendProvider;

/**
 * Registers the {@code vector} backend. This class links no incubator class: it first checks that the module
 * {@code jdk.incubator.vector} is in the boot layer and only then asks {@link VectorSupport} (which does link the
 * Vector API) about the vector size, so that a JVM started without {@code --add-modules jdk.incubator.vector}
 * gets a reason instead of a {@link LinkageError}.
 */
public final class VectorBackendProvider implements BackendProvider {
    /** Name of the incubator module the backend needs. */
    static final String MODULE = "jdk.incubator.vector";

    @Override
    public String name() {
        return "vector";
    }

    @Override
    public int priority() {
        return 100;
    }

    @Override
    public String unavailableReason() {
        try {
            if (ModuleLayer.boot().findModule(MODULE).isEmpty()) {
                return "the module " + MODULE + " is not in the boot layer (start the JVM with --add-modules " + MODULE + ")";
            }
            return VectorSupport.unavailableReason();
        } catch (Throwable t) { // LinkageError, ExceptionInInitializerError, SecurityException, ...: never throw from here
            return "the Java Vector API cannot be used: " + t;
        }
    }

    @Override
    public Backend create(int threads) {
        String why = unavailableReason();
        if (why != null) {
            throw new IllegalStateException("backend 'vector' cannot run here: " + why);
        }
        return new VectorBackend(threads);
    }
}
