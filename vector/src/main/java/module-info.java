/**
 * The {@code vector} backend: Java Vector API kernels on the CPU, found through {@code Backends}. Exported only to the
 * onednn backend, which extends it.
 */
module org.untwist.vector {
    requires org.untwist.core;
    requires jdk.incubator.vector;

    exports org.untwist.vector to org.untwist.onednn;

    provides org.untwist.backend.BackendProvider with org.untwist.vector.VectorBackendProvider;
}
