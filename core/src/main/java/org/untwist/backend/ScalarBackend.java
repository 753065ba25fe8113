package org.untwist.backend;

import org.untwist.tensor.Tensor;

/**
 * Plain Java, single-threaded, accumulating in double: the oracle every other backend is tested against.
 * Written for obviousness, not speed; each kernel is the textbook formula.
 */
public final class ScalarBackend extends AbstractBackend {

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public String describe() {
        return "scalar: plain Java reference kernels, double accumulation, 1 thread";
    }

    @Override
    public int threads() {
        return 1;
    }

    @Override
    protected void linearKernel(Tensor x, Tensor w, Tensor bias, Tensor out, int rows, int in, int outDim) {
        for (int r = 0; r < rows; r++) {
            long xRow = (long) r * in;
            for (int o = 0; o < outDim; o++) {
                long wRow = (long) o * in;
                double acc = bias == null ? 0 : bias.get(o);
                for (int i = 0; i < in; i++) {
                    acc += (double) x.get(xRow + i) * w.get(wRow + i);
                }
                out.set((long) r * outDim + o, (float) acc);
            }
        }
    }

    @Override
    protected void addKernel(Tensor a, Tensor b, Tensor out, long n) {
        for (long i = 0; i < n; i++) {
            out.set(i, a.get(i) + b.get(i));
        }
    }

    @Override
    protected void multiplyKernel(Tensor a, Tensor b, Tensor out, long n) {
        for (long i = 0; i < n; i++) {
            out.set(i, a.get(i) * b.get(i));
        }
    }

    @Override
    protected void embeddingKernel(Tensor table, int[] ids, Tensor out, int rows, int dim) {
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < dim; i++) {
                out.set((long) r * dim + i, table.get((long) ids[r] * dim + i));
            }
        }
    }

    @Override
    protected void layerNormKernel(Tensor x, Tensor weight, Tensor bias, float eps, Tensor out, int rows, int dim) {
        for (int r = 0; r < rows; r++) {
            long base = (long) r * dim;
            double mean = 0;
            for (int i = 0; i < dim; i++) {
                mean += x.get(base + i);
            }
            mean /= dim;
            double var = 0;
            for (int i = 0; i < dim; i++) {
                double c = x.get(base + i) - mean;
                var += c * c;
            }
            var /= dim;
            double inv = 1.0 / Math.sqrt(var + eps);
            for (int i = 0; i < dim; i++) {
                double y = (x.get(base + i) - mean) * inv;
                if (weight != null) {
                    y = y * weight.get(i) + (bias == null ? 0 : bias.get(i));
                }
                out.set(base + i, (float) y);
            }
        }
    }

    @Override
    protected void rmsNormKernel(Tensor x, Tensor scale, float eps, Tensor out, int rows, int dim) {
        for (int r = 0; r < rows; r++) {
            long base = (long) r * dim;
            double ss = 0;
            for (int i = 0; i < dim; i++) {
                double v = x.get(base + i);
                ss += v * v;
            }
            double inv = 1.0 / Math.sqrt(ss / dim + eps);
            for (int i = 0; i < dim; i++) {
                out.set(base + i, (float) (x.get(base + i) * inv * scale.get(i)));
            }
        }
    }

    @Override
    protected void siluKernel(Tensor x, Tensor out, long n) {
        for (long i = 0; i < n; i++) {
            double v = x.get(i);
            out.set(i, (float) (v / (1.0 + Math.exp(-v))));
        }
    }

    @Override
    protected void geluTanhKernel(Tensor x, Tensor out, long n) {
        final double k = Math.sqrt(2.0 / Math.PI);
        for (long i = 0; i < n; i++) {
            double v = x.get(i);
            out.set(i, (float) (0.5 * v * (1.0 + Math.tanh(k * (v + 0.044715 * v * v * v)))));
        }
    }

    @Override
    protected void quickGeluKernel(Tensor x, Tensor out, long n) {
        for (long i = 0; i < n; i++) {
            double v = x.get(i);
            out.set(i, (float) (v / (1.0 + Math.exp(-1.702 * v))));
        }
    }

    @Override
    protected void affineKernel(Tensor x, float scale, float shift, Tensor out, long n) {
        for (long i = 0; i < n; i++) {
            out.set(i, (float) ((double) scale * x.get(i) + shift));
        }
    }

    @Override
    protected void conv2dKernel(Tensor x, Tensor w, Tensor bias, Tensor out, int b, int cin, int h, int wIn, int cout, int kh, int kw,
                                int stride, int[] pad, int ho, int wo) {
        for (int bi = 0; bi < b; bi++) {
            for (int co = 0; co < cout; co++) {
                for (int oy = 0; oy < ho; oy++) {
                    for (int ox = 0; ox < wo; ox++) {
                        double acc = bias == null ? 0 : bias.get(co);
                        for (int ci = 0; ci < cin; ci++) {
                            for (int ky = 0; ky < kh; ky++) {
                                int iy = oy * stride + ky - pad[0];
                                if (iy < 0 || iy >= h) {
                                    continue;
                                }
                                for (int kx = 0; kx < kw; kx++) {
                                    int ix = ox * stride + kx - pad[2];
                                    if (ix < 0 || ix >= wIn) {
                                        continue;
                                    }
                                    acc += (double) x.get((((long) bi * cin + ci) * h + iy) * wIn + ix)
                                            * w.get((((long) co * cin + ci) * kh + ky) * kw + kx);
                                }
                            }
                        }
                        out.set((((long) bi * cout + co) * ho + oy) * wo + ox, (float) acc);
                    }
                }
            }
        }
    }

    @Override
    protected void groupNormKernel(Tensor x, int groups, Tensor weight, Tensor bias, float eps, Tensor out, int b, int c, long spatial) {
        int per = c / groups;
        for (int bi = 0; bi < b; bi++) {
            for (int g = 0; g < groups; g++) {
                long base = ((long) bi * c + (long) g * per) * spatial;
                long n = per * spatial;
                double mean = 0;
                for (long i = 0; i < n; i++) {
                    mean += x.get(base + i);
                }
                mean /= Math.max(1, n);
                double var = 0;
                for (long i = 0; i < n; i++) {
                    double d = x.get(base + i) - mean;
                    var += d * d;
                }
                var /= Math.max(1, n);
                double inv = 1.0 / Math.sqrt(var + eps);
                for (int ch = 0; ch < per; ch++) {
                    int channel = g * per + ch;
                    for (long s = 0; s < spatial; s++) {
                        long i = base + ch * spatial + s;
                        out.set(i, (float) ((x.get(i) - mean) * inv * weight.get(channel) + bias.get(channel)));
                    }
                }
            }
        }
    }

    @Override
    protected void upsampleNearest2xKernel(Tensor x, Tensor out, long planes, int h, int w) {
        for (long p = 0; p < planes; p++) {
            for (int y = 0; y < 2 * h; y++) {
                for (int xo = 0; xo < 2 * w; xo++) {
                    out.set((p * 2 * h + y) * 2 * w + xo, x.get((p * h + y / 2) * w + xo / 2));
                }
            }
        }
    }

    @Override
    protected void modulateKernel(Tensor x, Tensor shift, Tensor scale, Tensor out, int batch, int tokens, int dim) {
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < tokens; t++) {
                long base = ((long) b * tokens + t) * dim;
                for (int i = 0; i < dim; i++) {
                    long c = (long) b * dim + i;
                    out.set(base + i, (float) ((1.0 + scale.get(c)) * x.get(base + i) + shift.get(c)));
                }
            }
        }
    }

    @Override
    protected void gatedResidualKernel(Tensor residual, Tensor gate, Tensor y, Tensor out, int batch, int tokens, int dim) {
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < tokens; t++) {
                long base = ((long) b * tokens + t) * dim;
                for (int i = 0; i < dim; i++) {
                    out.set(base + i, (float) (residual.get(base + i) + (double) gate.get((long) b * dim + i) * y.get(base + i)));
                }
            }
        }
    }

    @Override
    protected void ropeTableKernel(Tensor ids, int[] axesDim, double theta, Tensor pe, int batch, int tokens) {
        int axes = axesDim.length;
        int pairs = pe.dim(3);
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < tokens; t++) {
                int p = 0;
                for (int a = 0; a < axes; a++) {
                    float pos = ids.get(((long) b * tokens + t) * axes + a);
                    for (int j = 0; j < axesDim[a] / 2; j++, p++) {
                        float angle = pos * RopeFrequencies.omega(j, axesDim[a], theta);
                        double c = Math.cos(angle), s = Math.sin(angle);
                        long o = (((long) b * tokens + t) * pairs + p) * 4;
                        pe.set(o, (float) c);
                        pe.set(o + 1, (float) -s);
                        pe.set(o + 2, (float) s);
                        pe.set(o + 3, (float) c);
                    }
                }
            }
        }
    }

    @Override
    protected void applyRopeKernel(Tensor x, Tensor pe, Tensor out, int batch, int heads, int tokens, int headDim, int peBatch) {
        int pairs = headDim / 2;
        for (int b = 0; b < batch; b++) {
            int pb = peBatch == 1 ? 0 : b;
            for (int h = 0; h < heads; h++) {
                for (int t = 0; t < tokens; t++) {
                    long row = (((long) b * heads + h) * tokens + t) * headDim;
                    long peRow = ((long) pb * tokens + t) * pairs * 4;
                    for (int p = 0; p < pairs; p++) {
                        double x0 = x.get(row + 2L * p), x1 = x.get(row + 2L * p + 1);
                        long m = peRow + 4L * p;
                        out.set(row + 2L * p, (float) (pe.get(m) * x0 + pe.get(m + 1) * x1));
                        out.set(row + 2L * p + 1, (float) (pe.get(m + 2) * x0 + pe.get(m + 3) * x1));
                    }
                }
            }
        }
    }

    @Override
    protected void timestepEmbeddingKernel(Tensor t, float timeFactor, double maxPeriod, Tensor out, int batch, int dim) {
        int half = dim / 2;
        float[] freqs = TimestepFrequencies.of(half, maxPeriod);
        for (int b = 0; b < batch; b++) {
            float tt = timeFactor * t.get(b);
            long row = (long) b * dim;
            for (int j = 0; j < half; j++) {
                float arg = tt * freqs[j];
                out.set(row + j, (float) Math.cos(arg));
                out.set(row + half + j, (float) Math.sin(arg));
            }
            if (dim % 2 != 0) {
                out.set(row + dim - 1, 0f);
            }
        }
    }

    @Override
    protected void attentionKernel(Tensor q, Tensor k, Tensor v, Tensor refK, Tensor refV, Tensor refKeyScale,
                                   Tensor out, int batch, int heads, int lq, int lk, int lr, int headDim, int refBatch,
                                   int refStart, int refTokens) {
        double[] probs = new double[lk + lr];
        double[] acc = new double[headDim];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < lq; i++) {
                    softmaxRow(q, k, refK, refKeyScale, b, h, i, lq, lk, lr, headDim, refBatch, refStart, refTokens, probs);
                    java.util.Arrays.fill(acc, 0);
                    long kBase = ((long) b * heads + h) * lk * headDim;
                    long rBase = refRowBase(b, h, heads, refBatch, refStart, refTokens, headDim);
                    for (int j = 0; j < lk + lr; j++) {
                        Tensor vs = j < lk ? v : refV;
                        long vRow = j < lk ? kBase + (long) j * headDim : rBase + (long) (j - lk) * headDim;
                        for (int d = 0; d < headDim; d++) {
                            acc[d] += probs[j] * vs.get(vRow + d);
                        }
                    }
                    long oRow = ((long) b * lq + i) * heads * headDim + (long) h * headDim;
                    for (int d = 0; d < headDim; d++) {
                        out.set(oRow + d, (float) acc[d]);
                    }
                }
            }
        }
    }

    @Override
    protected void maskedAttentionKernel(Tensor q, Tensor k, Tensor v, float scale, Tensor positionBias, boolean causal,
                                         Tensor out, int batch, int heads, int lq, int lk, int headDim) {
        double[] probs = new double[lk];
        double[] acc = new double[headDim];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                long qBase = ((long) b * heads + h) * lq * headDim;
                long kBase = ((long) b * heads + h) * lk * headDim;
                for (int i = 0; i < lq; i++) {
                    int visible = causal ? i + 1 : lk;
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < visible; j++) {
                        double dot = 0;
                        for (int d = 0; d < headDim; d++) {
                            dot += (double) q.get(qBase + (long) i * headDim + d) * k.get(kBase + (long) j * headDim + d);
                        }
                        double logit = scale * dot;
                        if (positionBias != null) {
                            logit += positionBias.get((long) (j - i + lq - 1) * heads + h);
                        }
                        probs[j] = logit;
                        max = Math.max(max, logit);
                    }
                    double sum = 0;
                    for (int j = 0; j < visible; j++) {
                        probs[j] = Math.exp(probs[j] - max);
                        sum += probs[j];
                    }
                    java.util.Arrays.fill(acc, 0);
                    for (int j = 0; j < visible; j++) {
                        for (int d = 0; d < headDim; d++) {
                            acc[d] += probs[j] / sum * v.get(kBase + (long) j * headDim + d);
                        }
                    }
                    long oRow = ((long) b * lq + i) * heads * headDim + (long) h * headDim;
                    for (int d = 0; d < headDim; d++) {
                        out.set(oRow + d, (float) acc[d]);
                    }
                }
            }
        }
    }

    @Override
    protected void attentionProbsKernel(Tensor q, Tensor k, Tensor refK, Tensor refKeyScale, Tensor out, int batch, int heads,
                                        int lq, int lk, int lr, int headDim, int refBatch, int refStart, int refTokens) {
        double[] probs = new double[lk + lr];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < lq; i++) {
                    softmaxRow(q, k, refK, refKeyScale, b, h, i, lq, lk, lr, headDim, refBatch, refStart, refTokens, probs);
                    long o = (((long) b * heads + h) * lq + i) * (lk + lr);
                    for (int j = 0; j < lk + lr; j++) {
                        out.set(o + j, (float) probs[j]);
                    }
                }
            }
        }
    }

    /** First element of the reference rows used by batch {@code b}, head {@code h}. */
    private static long refRowBase(int b, int h, int heads, int refBatch, int refStart, int refTokens, int headDim) {
        int rb = refBatch == 1 ? 0 : b;
        return (((long) rb * heads + h) * refTokens + refStart) * headDim;
    }

    /** Softmax over own keys then (scaled) reference keys for query {@code i}, in double. */
    private static void softmaxRow(Tensor q, Tensor k, Tensor refK, Tensor refKeyScale, int b, int h, int i, int lq, int lk, int lr,
                                   int headDim, int refBatch, int refStart, int refTokens, double[] probs) {
        double scale = 1.0 / Math.sqrt(headDim);
        int heads = q.dim(1);
        long qRow = (((long) b * heads + h) * lq + i) * headDim;
        long kBase = ((long) b * heads + h) * lk * headDim;
        long rBase = refRowBase(b, h, heads, refBatch, refStart, refTokens, headDim);
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < lk + lr; j++) {
            double dot = 0;
            if (j < lk) {
                long kRow = kBase + (long) j * headDim;
                for (int d = 0; d < headDim; d++) {
                    dot += (double) q.get(qRow + d) * k.get(kRow + d);
                }
            } else {
                long kRow = rBase + (long) (j - lk) * headDim;
                for (int d = 0; d < headDim; d++) {
                    double s = refKeyScale == null ? 1.0 : refKeyScale.get(d / 2);
                    dot += (double) q.get(qRow + d) * refK.get(kRow + d) * s;
                }
            }
            probs[j] = dot * scale;
            max = Math.max(max, probs[j]);
        }
        double sum = 0;
        for (int j = 0; j < lk + lr; j++) {
            probs[j] = Math.exp(probs[j] - max);
            sum += probs[j];
        }
        for (int j = 0; j < lk + lr; j++) {
            probs[j] /= sum;
        }
    }

    @Override
    protected void chunkLogitsKernel(Tensor q, Tensor k, int[] chunkBand, int bands, Tensor out, int batch, int heads,
                                     int lq, int lk, int headDim) {
        double scale = 1.0 / Math.sqrt(headDim);
        double[] acc = new double[bands];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < lq; i++) {
                    long qRow = (((long) b * heads + h) * lq + i) * headDim;
                    for (int j = 0; j < lk; j++) {
                        long kRow = (((long) b * heads + h) * lk + j) * headDim;
                        java.util.Arrays.fill(acc, 0);
                        for (int p = 0; p < headDim / 2; p++) {
                            acc[chunkBand[p]] += (double) q.get(qRow + 2L * p) * k.get(kRow + 2L * p)
                                    + (double) q.get(qRow + 2L * p + 1) * k.get(kRow + 2L * p + 1);
                        }
                        long o = ((((long) b * heads + h) * lq + i) * lk + j) * bands;
                        for (int c = 0; c < bands; c++) {
                            out.set(o + c, (float) (acc[c] * scale));
                        }
                    }
                }
            }
        }
    }

    @Override
    protected void adaInKernel(Tensor x, Tensor ref, float eps, Tensor out, int batch, int heads, int tokens, int headDim,
                               int refTokens, int tokenStart) {
        for (int h = 0; h < heads; h++) {
            for (int d = 0; d < headDim; d++) {
                double[] refStats = stats(ref, 0, h, heads, refTokens, headDim, d, tokenStart, eps);
                for (int b = 0; b < batch; b++) {
                    double[] xs = stats(x, b, h, heads, tokens, headDim, d, tokenStart, eps);
                    long base = ((long) b * heads + h) * tokens * headDim + d;
                    for (int t = 0; t < tokens; t++) {
                        long idx = base + (long) t * headDim;
                        double v = x.get(idx);
                        out.set(idx, t < tokenStart ? (float) v : (float) (refStats[1] * (v - xs[0]) / xs[1] + refStats[0]));
                    }
                }
            }
        }
    }

    /** Mean and sqrt(unbiased variance + eps) of channel {@code d} over tokens {@code [from, tokens)}. */
    private static double[] stats(Tensor x, int b, int h, int heads, int tokens, int headDim, int d, int from, float eps) {
        long base = ((long) b * heads + h) * tokens * headDim + d;
        int n = tokens - from;
        double mean = 0;
        for (int t = from; t < tokens; t++) {
            mean += x.get(base + (long) t * headDim);
        }
        mean /= n;
        double var = 0;
        for (int t = from; t < tokens; t++) {
            double c = x.get(base + (long) t * headDim) - mean;
            var += c * c;
        }
        var /= (n - 1);
        return new double[] {mean, Math.sqrt(var + eps)};
    }

    @Override
    public void close() {
        scratchTensors.close();
    }
}
