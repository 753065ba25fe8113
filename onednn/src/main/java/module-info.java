/**
 * The {@code onednn} backend: the CPU's bf16 precision. {@code linear} runs on oneDNN's bf16 matmul through the
 * generated bindings, everything else on the vector backend it extends; found through {@code Backends}, nothing
 * exported.
 */
module org.untwist.onednn {
    requires org.untwist.core;
    requires org.untwist.vector;
    requires org.untwist.ffm;

    provides org.untwist.backend.BackendProvider with org.untwist.onednn.OnednnBackendProvider;
}
