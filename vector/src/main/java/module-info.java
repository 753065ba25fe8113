/** The {@code vector} backend: Java Vector API kernels on the CPU, found through {@code Backends}; nothing exported. */
module org.untwist.vector {
    requires org.untwist.core;
    requires jdk.incubator.vector;

    provides org.untwist.backend.BackendProvider with org.untwist.vector.VectorBackendProvider;
}
