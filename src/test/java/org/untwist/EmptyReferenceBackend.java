package org.untwist;

import java.util.List;
import org.untwist.backend.Backend;
import org.untwist.tensor.Tensor;

/** Test decorator: every plain attention runs through the fused shared kernel with an empty reference. */
final class EmptyReferenceBackend implements Backend {
    private final Backend inner;
    int calls;

    EmptyReferenceBackend(Backend inner) {
        this.inner = inner;
    }

    @Override
    public void attention(Tensor q, Tensor k, Tensor v, Tensor out) {
        calls++;
        float[] scale = new float[q.dim(3) / 2];
        java.util.Arrays.fill(scale, 0.3f); // a scale that would matter if any reference key were read
        try (Tensor empty = Tensor.allocate(1, q.dim(1), 0, q.dim(3)); Tensor s = Tensor.of(scale, scale.length)) {
            inner.sharedAttention(q, k, v, empty, empty, 0, s, out);
        }
    }

    @Override public String name() { return inner.name(); }
    @Override public String describe() { return inner.describe(); }
    @Override public int threads() { return inner.threads(); }
    @Override public void linear(Tensor x, Tensor w, Tensor b, Tensor o) { inner.linear(x, w, b, o); }
    @Override public void add(Tensor a, Tensor b, Tensor o) { inner.add(a, b, o); }
    @Override public void layerNorm(Tensor x, float eps, Tensor o) { inner.layerNorm(x, eps, o); }
    @Override public void layerNorm(Tensor x, Tensor w, Tensor b, float eps, Tensor o) { inner.layerNorm(x, w, b, eps, o); }
    @Override public void multiply(Tensor a, Tensor b, Tensor o) { inner.multiply(a, b, o); }
    @Override public void embedding(Tensor t, int[] ids, Tensor o) { inner.embedding(t, ids, o); }
    @Override public void quickGelu(Tensor x, Tensor o) { inner.quickGelu(x, o); }
    @Override public void splitHeads(Tensor x, Tensor o) { inner.splitHeads(x, o); }
    @Override public void affine(Tensor x, float s, float b, Tensor o) { inner.affine(x, s, b, o); }
    @Override public void conv2d(Tensor x, Tensor w, Tensor b, int stride, int[] pad, Tensor o) { inner.conv2d(x, w, b, stride, pad, o); }
    @Override public void groupNorm(Tensor x, int g, Tensor w, Tensor b, float eps, Tensor o) { inner.groupNorm(x, g, w, b, eps, o); }
    @Override public void upsampleNearest2x(Tensor x, Tensor o) { inner.upsampleNearest2x(x, o); }
    @Override public void permute(Tensor x, int[] axes, Tensor o) { inner.permute(x, axes, o); }
    @Override public void attention(Tensor q, Tensor k, Tensor v, float s, Tensor bias, boolean causal, Tensor o) {
        inner.attention(q, k, v, s, bias, causal, o);
    }
    @Override public void rmsNorm(Tensor x, Tensor s, float eps, Tensor o) { inner.rmsNorm(x, s, eps, o); }
    @Override public void silu(Tensor x, Tensor o) { inner.silu(x, o); }
    @Override public void geluTanh(Tensor x, Tensor o) { inner.geluTanh(x, o); }
    @Override public void modulate(Tensor x, Tensor sh, Tensor sc, Tensor o) { inner.modulate(x, sh, sc, o); }
    @Override public void gatedResidual(Tensor r, Tensor g, Tensor y, Tensor o) { inner.gatedResidual(r, g, y, o); }
    @Override public void ropeTable(Tensor ids, int[] a, double t, Tensor pe) { inner.ropeTable(ids, a, t, pe); }
    @Override public void applyRope(Tensor x, Tensor pe, Tensor o) { inner.applyRope(x, pe, o); }
    @Override public void timestepEmbedding(Tensor t, float f, double p, Tensor o) { inner.timestepEmbedding(t, f, p, o); }
    @Override public void sharedAttention(Tensor q, Tensor k, Tensor v, Tensor rk, Tensor rv, int rs, Tensor s, Tensor o) {
        inner.sharedAttention(q, k, v, rk, rv, rs, s, o);
    }
    @Override public void attentionProbs(Tensor q, Tensor k, Tensor rk, int rs, Tensor s, Tensor o) { inner.attentionProbs(q, k, rk, rs, s, o); }
    @Override public void chunkLogits(Tensor q, Tensor k, int[] cb, int b, Tensor o) { inner.chunkLogits(q, k, cb, b, o); }
    @Override public void adaIn(Tensor x, Tensor r, int ts, float eps, Tensor o) { inner.adaIn(x, r, ts, eps, o); }
    @Override public void splitQkv(Tensor qkv, Tensor q, Tensor k, Tensor v, int off) { inner.splitQkv(qkv, q, k, v, off); }
    @Override public void concat(List<Tensor> parts, int axis, Tensor o) { inner.concat(parts, axis, o); }
    @Override public void split(Tensor x, int axis, List<Tensor> parts) { inner.split(x, axis, parts); }
    @Override public void close() { inner.close(); }
}
