package org.untwist.backend;

import java.util.List;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * The compute operations a diffusion transformer needs, behind which the scalar oracle, the Vector API
 * backend and (later) the GPU backend sit. The FLUX model and the samplers call nothing else.
 *
 * <p>Conventions shared by every operation:
 * <ul>
 *   <li>Outputs are written into caller-provided tensors; no operation allocates its result, so that
 *       callers can reuse buffers across steps. Unless an operation says otherwise, the output may be the
 *       same tensor as an input of the same shape (in place).</li>
 *   <li>Activations and outputs are float32. Weight matrices of {@link #linear} and the tables of
 *       {@link #embedding} may be BF16, F16, F8_E4M3 or F8_E5M2, or block-quantized (Q8_0, Q4_K: dequantized block by block as
 *       GGML defines them); they are widened inside the kernel, never copied as a whole. No other operation takes a
 *       block-quantized tensor. One exception: a backend whose {@link #roundedActivationType} answers BF16 also
 *       takes BF16 activations where it would round them to bf16 anyway (listed there); the GPU backend does in its
 *       bf16 precision. The CPU backends take float32 only.</li>
 *   <li>"Rows" are all leading dimensions flattened; the last dimension is the feature dimension.</li>
 *   <li>Per-batch vectors ({@code shift}, {@code scale}, {@code gate}) have shape {@code [B, D]} and apply to
 *       every token of batch element {@code b} of an activation {@code [B, L, D]}.</li>
 *   <li>Attention tensors are head-major: {@code [B, H, L, Dh]}. RoPE pairs are adjacent elements
 *       {@code (2p, 2p+1)} as in FLUX.</li>
 *   <li>Shapes are checked before any memory is touched; a mismatch throws {@link IllegalArgumentException}
 *       that names the operation, the argument and the shapes.</li>
 * </ul>
 * CPU implementations are thread-safe for calls on disjoint outputs; a device backend is driven by one thread
 * (its operations share one stream). {@link #close()} releases the backend's threads and scratch memory.
 *
 * <p>Memory: a CPU backend computes on host tensors. A device backend (the GPU backend) computes on tensors
 * it {@link #allocate}s in its device memory; callers that care about speed keep their data there and move it
 * with {@link #copy} at the boundary. Every backend also accepts host tensors in every operation (a device
 * backend stages them through its memory), so code written for the CPU runs unchanged, only slower.
 */
public interface Backend extends AutoCloseable {

    /** Short name used for selection: {@code scalar}, {@code vector}, ... */
    String name();

    /** One line for logs and {@code untwist info}: implementation, SIMD width, threads. */
    String describe();

    /** Number of threads the backend computes with. */
    int threads();

    // ---- memory --------------------------------------------------------------------------------------

    /**
     * A zero-filled tensor in the memory this backend computes on: host memory for CPU backends, device
     * memory for a device backend. The caller closes it.
     */
    default Tensor allocate(DType dtype, int... shape) {
        return Tensor.allocate(dtype, shape);
    }

    /**
     * Copies {@code src} into {@code dst} (same shape and element type); either may be a host tensor or one of
     * this backend's tensors. Returns when the data can be read ({@code dst} on the host) or used ({@code dst}
     * in device memory: ordered before later operations of this backend).
     */
    default void copy(Tensor src, Tensor dst) {
        if (src.dtype() != dst.dtype() || !java.util.Arrays.equals(src.shape(), dst.shape())) {
            throw new IllegalArgumentException("copy: " + src + " into " + dst + ": shape and type must agree");
        }
        dst.copyFrom(src);
    }

    /**
     * {@code src} in the memory this backend computes on: {@code src} itself on a CPU backend, a new copy in
     * device memory on a device backend. Closing the result is always right: a borrowed tensor's close does
     * nothing. Used to place model weights once.
     */
    default Tensor place(Tensor src) {
        return src;
    }

    /**
     * The element type in which a caller may keep an activation that only feeds this backend's GEMMs over weights of
     * type {@code weightType}, its attention, or {@link #splitQkvNormRope}: F32 (the default, every CPU backend), or
     * BF16 where the backend rounds such operands to bf16 anyway, so that keeping them rounded loses nothing and halves
     * their memory traffic (the GPU backend in bf16 precision, for BF16, 8-bit and block-quantized weights). A backend
     * that answers BF16 for some weight type also takes BF16 tensors in these operations (all in the same call BF16,
     * or all F32, unless a line says otherwise):
     * <ul>
     *   <li>{@link #linear} and {@link #linearGeluTanh} over weights of that type: x and out, each F32 or BF16 on its
     *       own (a BF16 out is the float32 result, bias and GELU included, rounded once);</li>
     *   <li>{@link #linearConcat} over weights of that type: a and b, both BF16 or both F32;</li>
     *   <li>{@link #splitQkvNormRope}: qkv, q, k and v (the norm and rotation computed in float32 from the BF16 values,
     *       rounded once);</li>
     *   <li>{@link #layerNormModulate}: out (x stays F32);</li>
     *   <li>{@link #attention} and {@link #sharedAttention}: q, k, v, refK, refV and out (refKeyScale F32);</li>
     *   <li>{@link #copy}, {@link #concat}, {@link #split}, which take every element type anyway.</li>
     * </ul>
     * FLUX keeps its blocks' normalized inputs, projections, heads, attention outputs and MLP hidden layers in this
     * type; a bf16 reference keeps them in bf16 too.
     */
    default DType roundedActivationType(DType weightType) {
        return DType.F32;
    }

    /** Waits until every operation issued so far has finished (a no-op for CPU backends); for timing. */
    default void synchronize() {
    }

    // ---- dense algebra -------------------------------------------------------------------------------

    /**
     * {@code out = x · weightᵀ + bias}, the PyTorch {@code nn.Linear} convention.
     *
     * @param x      {@code [..., in]} float32
     * @param weight {@code [out, in]} float32, BF16, F16, F8_E4M3, F8_E5M2, Q8_0 or Q4_K
     * @param bias   {@code [out]} float32, or {@code null}
     * @param out    {@code [..., out]} float32 with the same leading dimensions as {@code x}; must not alias x
     */
    void linear(Tensor x, Tensor weight, Tensor bias, Tensor out);

    /**
     * {@code out = geluTanh(x · weightᵀ + bias)}: {@link #linear}, then {@link #geluTanh} in place, which a backend may
     * fuse (the GPU's bf16 precision applies the bias and the GELU as the GEMM writes its output). Arguments as in
     * {@link #linear}.
     */
    default void linearGeluTanh(Tensor x, Tensor weight, Tensor bias, Tensor out) {
        linear(x, weight, bias, out);
        geluTanh(out, out);
    }

    /**
     * {@code out = [a, b] · weightᵀ + bias}: {@link #linear} of {@code a} and {@code b} joined along their last
     * dimension (FLUX's single block feeds its attention and MLP outputs to linear2 this way), without a joined copy
     * where the backend can read them in place (the GPU's bf16 precision rounds both straight into its GEMM's operand).
     * The default joins them into a temporary tensor.
     *
     * @param a      {@code [..., ka]} float32
     * @param b      {@code [..., kb]} float32, the same leading dimensions
     * @param weight {@code [out, ka + kb]}, any type {@link #linear} takes
     * @param out    {@code [..., out]} float32; must not alias a or b
     */
    default void linearConcat(Tensor a, Tensor b, Tensor weight, Tensor bias, Tensor out) {
        int[] shape = a.shape();
        shape[shape.length - 1] = a.dim(-1) + b.dim(-1);
        try (Tensor joined = allocate(DType.F32, shape)) {
            concat(List.of(a, b), -1, joined);
            linear(joined, weight, bias, out);
        }
    }

    /** Elementwise {@code out = a + b}; all three of one shape. */
    void add(Tensor a, Tensor b, Tensor out);

    /** Elementwise {@code out = a · b}; all three of one shape (the gate of a gated feed-forward). */
    void multiply(Tensor a, Tensor b, Tensor out);

    /**
     * Rows of a table gathered by id (a token embedding): {@code out[n, :] = table[ids[n], :]} widened to float32.
     *
     * @param table {@code [V, D]} float32, BF16, F16, F8_E4M3, F8_E5M2, Q8_0 or Q4_K
     * @param ids   one id in {@code [0, V)} per row of {@code out}
     * @param out   {@code [..., D]} float32 with {@code ids.length} rows
     */
    void embedding(Tensor table, int[] ids, Tensor out);

    // ---- normalization and activations ---------------------------------------------------------------

    /** LayerNorm over the last dimension without affine parameters: {@code (x − mean) / sqrt(var + eps)}. */
    void layerNorm(Tensor x, float eps, Tensor out);

    /**
     * LayerNorm with affine parameters, PyTorch's {@code nn.LayerNorm}: {@code (x − mean) / sqrt(var + eps) · weight + bias}.
     *
     * @param weight {@code [last dim]} float32
     * @param bias   {@code [last dim]} float32, or {@code null}
     */
    void layerNorm(Tensor x, Tensor weight, Tensor bias, float eps, Tensor out);

    /** RMSNorm over the last dimension: {@code x / sqrt(mean(x²) + eps) · scale}, {@code scale [last dim]}. */
    void rmsNorm(Tensor x, Tensor scale, float eps, Tensor out);

    /** {@code x · sigmoid(x)}. */
    void silu(Tensor x, Tensor out);

    /** GELU with the tanh approximation: {@code 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))}. */
    void geluTanh(Tensor x, Tensor out);

    /** CLIP's quick GELU: {@code x · sigmoid(1.702·x)}. */
    void quickGelu(Tensor x, Tensor out);

    /** Elementwise {@code out = scale · x + shift} with scalar, finite {@code scale} and {@code shift} (the latent scale and shift). */
    void affine(Tensor x, float scale, float shift, Tensor out);

    // ---- images --------------------------------------------------------------------------------------

    /**
     * 2-D convolution as PyTorch's {@code F.conv2d} computes it (cross-correlation), with zero padding that may
     * differ per side (the autoencoder's downsampling pads only bottom and right).
     *
     * @param x       {@code [B, Cin, H, W]} float32
     * @param weight  {@code [Cout, Cin, kh, kw]} float32, BF16, F16, F8_E4M3 or F8_E5M2
     * @param bias    {@code [Cout]} float32, or {@code null}
     * @param stride  the step in both directions, at least 1
     * @param padding zeros added {@code {top, bottom, left, right}}
     * @param out     {@code [B, Cout, (H + top + bottom − kh)/stride + 1, (W + left + right − kw)/stride + 1]}; must not alias x
     */
    void conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int[] padding, Tensor out);

    /**
     * PyTorch's {@code nn.GroupNorm}: the channels of {@code x [B, C, ...]} in {@code groups} consecutive groups,
     * each normalized over its channels and all positions, {@code (x − mean) / sqrt(var + eps) · weight[c] + bias[c]}.
     *
     * @param weight {@code [C]} float32
     * @param bias   {@code [C]} float32
     */
    void groupNorm(Tensor x, int groups, Tensor weight, Tensor bias, float eps, Tensor out);

    /** Nearest-neighbour upsampling by 2: {@code x [B, C, H, W]} into {@code out [B, C, 2H, 2W]}, each pixel repeated 2×2. */
    void upsampleNearest2x(Tensor x, Tensor out);

    // ---- adaLN modulation ----------------------------------------------------------------------------

    /** {@code out = (1 + scale) · x + shift}; x {@code [B, L, D]}, shift and scale {@code [B, D]}. */
    void modulate(Tensor x, Tensor shift, Tensor scale, Tensor out);

    /** {@code out = residual + gate · y}; residual and y {@code [B, L, D]}, gate {@code [B, D]}. */
    void gatedResidual(Tensor residual, Tensor gate, Tensor y, Tensor out);

    /**
     * FLUX's adaLN input, {@code out = modulate(layerNorm(x, eps), shift, scale)}: {@link #layerNorm} without affine
     * parameters, then {@link #modulate} in place, which a backend may do in one pass over the rows (the GPU does).
     * Arguments as in those two; {@code out} may be {@code x}.
     */
    default void layerNormModulate(Tensor x, float eps, Tensor shift, Tensor scale, Tensor out) {
        layerNorm(x, eps, out);
        modulate(out, shift, scale, out);
    }

    // ---- positions -----------------------------------------------------------------------------------

    /**
     * The multi-axis RoPE table of FLUX's {@code EmbedND}: for axis {@code a} with {@code axesDim[a]} dimensions
     * and position {@code ids[b, l, a]}, frequencies {@code ω_j = 1 / theta^(2j / axesDim[a])} and angle
     * {@code pos · ω_j} in float32; per pair the rotation {@code [[cos, −sin], [sin, cos]]}. Axes are
     * concatenated along the pair dimension.
     *
     * @param ids {@code [B, L, A]} float32 positions
     * @param pe  {@code [B, 1, L, Σ axesDim / 2, 2, 2]} float32
     */
    void ropeTable(Tensor ids, int[] axesDim, double theta, Tensor pe);

    /**
     * Rotates adjacent pairs of {@code x} by the table: {@code y[2p] = cos·x0 − sin·x1}, {@code y[2p+1] = sin·x0 +
     * cos·x1}.
     *
     * @param x   {@code [B, H, L, Dh]}
     * @param pe  {@code [B or 1, 1, L, Dh/2, 2, 2]} from {@link #ropeTable}
     * @param out like {@code x}; may be {@code x}
     */
    void applyRope(Tensor x, Tensor pe, Tensor out);

    /**
     * FLUX's sinusoidal timestep embedding: {@code args = timeFactor · t · exp(−ln(maxPeriod) · j / half)},
     * {@code out = [cos(args), sin(args)]} (cosines first), zero-padded when the dimension is odd.
     *
     * @param t   {@code [B]}
     * @param out {@code [B, dim]}
     */
    void timestepEmbedding(Tensor t, float timeFactor, double maxPeriod, Tensor out);

    // ---- attention -----------------------------------------------------------------------------------

    /**
     * {@code softmax(q·kᵀ / √Dh) · v} per batch element and head, heads merged into the output rows.
     *
     * @param q   {@code [B, H, Lq, Dh]}
     * @param k   {@code [B, H, Lk, Dh]}
     * @param v   {@code [B, H, Lk, Dh]}
     * @param out {@code [B, Lq, H·Dh]}
     */
    void attention(Tensor q, Tensor k, Tensor v, Tensor out);

    /**
     * Attention with the logit terms of the text encoders, fused into the kernel (no score tensor is
     * materialized): {@code softmax(scale · q·kᵀ + bias) · v} where {@code bias[i, j] = positionBias[j − i + Lq − 1, h]}
     * (T5's relative position bias, which depends only on the offset of key {@code j} from query {@code i}) and,
     * when {@code causal}, keys {@code j > i} are left out (CLIP's causal mask).
     *
     * @param q            {@code [B, H, Lq, Dh]}
     * @param k            {@code [B, H, Lk, Dh]}
     * @param v            {@code [B, H, Lk, Dh]}
     * @param scale        the factor on {@code q·kᵀ}: {@code 1/√Dh} for CLIP, {@code 1} for T5; finite and positive
     * @param positionBias {@code [Lq + Lk − 1, H]} float32, shared by every batch element, or {@code null}
     * @param causal       whether query {@code i} sees only keys {@code j ≤ i} (needs {@code Lq == Lk})
     * @param out          {@code [B, Lq, H·Dh]}
     */
    void attention(Tensor q, Tensor k, Tensor v, float scale, Tensor positionBias, boolean causal, Tensor out);

    /**
     * Shared attention: each query attends to its own keys and, in the same softmax, to a reference's keys
     * whose RoPE chunks are scaled: reference key pair {@code p} enters as {@code refKeyScale[p] · k_ref[2p..2p+1]}
     * (PAPER.md §3.1: every per-chunk term of a target→reference logit is multiplied by {@code s_p}). The
     * reference keys are tokens {@code [refStart, Lr)} of {@code refK}, so a reference's image tokens can be
     * used in place, after its text tokens. No concatenated or scaled copy of the keys is materialized. With
     * an empty reference range this is {@link #attention}.
     *
     * @param q           {@code [B, H, Lq, Dh]}
     * @param k           {@code [B, H, Lk, Dh]} the queries' own keys
     * @param v           {@code [B, H, Lk, Dh]}
     * @param refK        {@code [B or 1, H, Lr, Dh]} reference keys (batch 1 is shared by every batch element)
     * @param refV        {@code [B or 1, H, Lr, Dh]}
     * @param refStart    first reference token used, {@code 0 ≤ refStart ≤ Lr}
     * @param refKeyScale {@code [Dh/2]} one scale per RoPE chunk, or {@code null} for all ones
     * @param out         {@code [B, Lq, H·Dh]}
     */
    void sharedAttention(Tensor q, Tensor k, Tensor v, Tensor refK, Tensor refV, int refStart, Tensor refKeyScale, Tensor out);

    /**
     * The attention probabilities that {@link #sharedAttention} (or, with {@code refK == null}, {@link #attention})
     * uses: row {@code (b, h, i)} is the softmax over the {@code Lk} own keys followed by the reference keys.
     * For analysis: attention maps and the aligned-attention mass.
     *
     * @param refK        as in {@link #sharedAttention}, or {@code null} for no reference
     * @param refKeyScale {@code [Dh/2]} or {@code null}
     * @param out         {@code [B, H, Lq, Lk + Lr − refStart]}
     */
    void attentionProbs(Tensor q, Tensor k, Tensor refK, int refStart, Tensor refKeyScale, Tensor out);

    /**
     * The per-chunk decomposition of attention logits (PAPER.md §3.1): logit {@code (i, j)} is
     * {@code Σ_p (q_{2p}k_{2p} + q_{2p+1}k_{2p+1}) / √Dh} over RoPE chunks {@code p} (of rotated q and k); this
     * writes each band's share, {@code out[b, h, i, j, c] = Σ_{p : chunkBand[p] = c} term_p} (overwriting {@code out}). With {@code chunkBand[p] = p}
     * and {@code bands = Dh/2} it is the per-chunk decomposition; the bands always sum to the logit.
     *
     * @param q         {@code [B, H, Lq, Dh]}
     * @param k         {@code [B, H, Lk, Dh]}
     * @param chunkBand {@code Dh/2} band indices in {@code [0, bands)}
     * @param out       {@code [B, H, Lq, Lk, bands]}
     */
    void chunkLogits(Tensor q, Tensor k, int[] chunkBand, int bands, Tensor out);

    /**
     * AdaIN of queries or keys toward a reference's statistics (StyleAligned): for tokens {@code t ≥ tokenStart}
     * of each batch element, head and channel, {@code out = σ_ref · (x − μ_x) / σ_x + μ_ref}, with mean and
     * {@code σ = sqrt(unbiased variance + eps)} taken over tokens {@code [tokenStart, L)} of {@code x} and of
     * {@code ref}; tokens before {@code tokenStart} (text) are copied unchanged.
     *
     * @param x   {@code [B, H, L, Dh]}
     * @param ref {@code [1, H, Lref, Dh]} (same number of leading text tokens as {@code x}); must not overlap {@code out}
     * @param out like {@code x}; may be {@code x}
     */
    void adaIn(Tensor x, Tensor ref, int tokenStart, float eps, Tensor out);

    // ---- layout --------------------------------------------------------------------------------------

    /**
     * Splits a fused projection {@code [B, L, 3·H·Dh]} laid out as {@code (3, H, Dh)} into head-major
     * {@code q, k, v [B, H, Ltot, Dh]}, writing tokens {@code [tokenOffset, tokenOffset + L)}. Writing text and
     * image projections at their offsets builds the joint sequence without a separate concatenation.
     */
    void splitQkv(Tensor qkv, Tensor q, Tensor k, Tensor v, int tokenOffset);

    /**
     * One stream's attention inputs: {@link #splitQkv} at {@code tokenOffset}, then {@link #rmsNorm} of every written
     * q row with {@code qScale} and every k row with {@code kScale} (FLUX's QK-norm), then, when {@code pe} is not null,
     * {@link #applyRope} on those q and k rows with the table's tokens {@code [tokenOffset, tokenOffset + L)}. Equal to
     * those calls in sequence, which a backend may do in one pass (the GPU does); the default makes them on views of
     * the written rows. Tokens outside the range are left as they are.
     *
     * @param qScale {@code [Dh]} float32; {@code kScale} likewise
     * @param pe     {@code [B or 1, 1, Ltot, Dh/2, 2, 2]} from {@link #ropeTable} for the whole sequence, or null for none
     */
    default void splitQkvNormRope(Tensor qkv, Tensor qScale, Tensor kScale, float eps, Tensor pe, Tensor q, Tensor k, Tensor v,
                                  int tokenOffset) {
        QkvNormRope.composed(this, qkv, qScale, kScale, eps, pe, q, k, v, tokenOffset);
    }

    /**
     * Head-major copy of a projection: {@code x [B, L, H·Dh]} into {@code out [B, H, L, Dh]} (the heads of a
     * separate q, k or v projection, as the text encoders have them).
     */
    void splitHeads(Tensor x, Tensor out);

    /**
     * {@code out} is {@code x} with its dimensions reordered, PyTorch's {@code x.permute(axes)} made contiguous:
     * {@code out.dim(i) == x.dim(axes[i])}. Any element type. Used for layout changes such as the latent packing
     * ({@code [B, C, h, 2, w, 2] → [B, h, w, C, 2, 2]}) and channels-first to tokens.
     */
    void permute(Tensor x, int[] axes, Tensor out);

    /** Concatenates {@code parts} along {@code axis} into {@code out}; all other dimensions must agree. */
    void concat(List<Tensor> parts, int axis, Tensor out);

    /** Splits {@code x} along {@code axis} into {@code parts}, the inverse of {@link #concat}. */
    void split(Tensor x, int axis, List<Tensor> parts);

    /** Releases threads and scratch memory. Tensors passed to the backend stay valid. */
    @Override
    void close();
}
