/**
 * The thin hand-written layer over the jextract bindings of oneDNN 2 and OpenMP ({@code org.untwist.ffm.gen.dnnl},
 * {@code .omp}): the calls the onednn backend makes, each status checked ({@link org.untwist.onednn.dnnl.DnnlException}).
 * Nothing else calls the generated code. Call only after {@code org.untwist.ffm.DnnlLibraries} has loaded the libraries.
 */
package org.untwist.onednn.dnnl;
