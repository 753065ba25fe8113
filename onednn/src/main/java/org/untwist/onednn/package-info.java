/**
 * The {@code onednn} backend: bf16 {@code linear} through oneDNN's matmul ({@link org.untwist.onednn.Bf16Matmul},
 * {@link org.untwist.onednn.MatmulPrimitive}), the rest inherited from the vector backend. oneDNN is reached only
 * through {@code org.untwist.onednn.dnnl}.
 */
package org.untwist.onednn;
