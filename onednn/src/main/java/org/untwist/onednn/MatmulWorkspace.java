package org.untwist.onednn;

import java.lang.foreign.MemorySegment;
import org.untwist.onednn.dnnl.DnnlApi;

/**
 * What one linear call needs besides the primitives, taken by one calling thread at a time from {@link Bf16Matmul}'s
 * pool: a oneDNN stream, the activations rounded to bf16, a panel of weights converted to bf16, and the scratchpad.
 */
final class MatmulWorkspace implements AutoCloseable {
    final MemorySegment stream;
    final NativeBuffer activations = new NativeBuffer();
    final NativeBuffer weights = new NativeBuffer();
    final NativeBuffer scratchpad = new NativeBuffer();

    MatmulWorkspace(MemorySegment engine) {
        this.stream = DnnlApi.streamCreate(engine);
    }

    @Override
    public void close() {
        DnnlApi.streamDestroy(stream);
        activations.close();
        weights.close();
        scratchpad.close();
    }
}
