package org.untwist.onednn;

import org.untwist.tensor.Tensor;
import org.untwist.vector.VectorBackend;

/**
 * The CPU's bf16 precision: the vector backend with {@code linear} on oneDNN's bf16 matmul ({@link Bf16Matmul}).
 * {@code linear} rounds its activations to bf16 (round to nearest even) where PyTorch's bf16 model holds bf16
 * activations at a Linear, takes the weights as bf16 (BF16 in place, other types rounded: F32 and F16 to nearest even,
 * F8 exactly), accumulates in float32 and writes float32 (PyTorch's bf16 Linear would round its output to bf16 as
 * well; the next operation here takes float32, so the output is kept). Everything else, attention and {@code conv2d}
 * included, is the vector backend's float32 code. Thread-safe for calls on disjoint outputs, like the vector backend.
 */
final class OnednnBackend extends VectorBackend {
    private final Bf16Matmul matmul;
    private final String impl;

    OnednnBackend(int threads) {
        this(threads, Bf16Matmul.X_CHUNK_BYTES, Bf16Matmul.W_PANEL_BYTES);
    }

    /** With other chunk and panel sizes for {@link Bf16Matmul} (tests). */
    OnednnBackend(int threads, long xChunkBytes, long wPanelBytes) {
        super(threads);
        try {
            this.matmul = new Bf16Matmul(threads, this::toBf16Rows, xChunkBytes, wPanelBytes);
        } catch (RuntimeException | Error e) {
            super.close();
            throw e;
        }
        this.impl = OnednnProbe.result().impl();
    }

    @Override
    public String name() {
        return "onednn";
    }

    @Override
    public String describe() {
        OnednnProbe p = OnednnProbe.result();
        String vector = super.describe();
        return "onednn: precision bf16, linear on oneDNN " + p.version() + " bf16 matmul (" + impl + ", ISA " + p.isa()
                + "; activations rounded to bf16, weights bf16 in place or converted per call), the rest on the "
                + vector.substring(vector.indexOf(':') + 2);
    }

    @Override
    protected void linearKernel(Tensor x, Tensor w, Tensor bias, Tensor out, int rows, int in, int outDim) {
        if (rows == 0 || outDim == 0 || in == 0) { // (x with K = 0 has no rows either: AbstractBackend passes rows 0)
            return;
        }
        matmul.multiply(x.segment(), w.segment(), w.dtype(), bias == null ? null : bias.segment(), out.segment(), rows, in, outDim);
    }

    /** For tests: how many matmul shapes have a kept primitive. */
    int cachedShapes() {
        return matmul.cachedShapes();
    }

    @Override
    public void close() {
        matmul.close();
        super.close();
    }
}
