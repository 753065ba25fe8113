/**
 * The one hand-written layer over the jextract-generated bindings ({@code org.untwist.ffm.gen.*}): a class per
 * CUDA library with a method per call the GPU backend makes, its status checked into a
 * {@link org.untwist.ffm.CudaException}, out-parameters returned, and the C enums the backend passes as Java
 * enums. Nothing else in {@code org.untwist.gpu} touches the generated code, so a regeneration of the bindings
 * is checked against this package alone. Deliberately thin: no state, no policy.
 */
package org.untwist.gpu.cuda;
