package org.untwist.text;

import org.untwist.tensor.Tensor;

/**
 * What a text encoder returns, in the memory of the backend that computed it; the caller closes it.
 *
 * @param lastHiddenState {@code [B, L, width]} float32: T5's output is FLUX.1's {@code txt}
 * @param pooled          {@code [B, width]} float32, CLIP's {@code pooler_output} (FLUX.1's {@code y}); null for T5
 */
public record TextEncoding(Tensor lastHiddenState, Tensor pooled) implements AutoCloseable {

    @Override
    public void close() {
        lastHiddenState.close();
        if (pooled != null) {
            pooled.close();
        }
    }
}
