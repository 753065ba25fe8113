/**
 * untwist's API: tensors, the {@link org.untwist.backend.Backend} interface with the scalar oracle and backend
 * selection, safetensors files, the method (sharing spec, band scale, statistics), the FLUX transformer and its
 * samplers. Packages depend downwards only: tensor ← backend, io ← method ← flux ← sampling.
 *
 * <p>Backends other than the scalar oracle come from modules that provide
 * {@link org.untwist.backend.BackendProvider} ({@code org.untwist.vector}, {@code org.untwist.kernels}).
 */
module org.untwist.core {
    requires com.fasterxml.jackson.databind;

    exports org.untwist.tensor;
    exports org.untwist.backend;
    exports org.untwist.io;
    exports org.untwist.method;
    exports org.untwist.flux;
    exports org.untwist.sampling;

    uses org.untwist.backend.BackendProvider;
}
