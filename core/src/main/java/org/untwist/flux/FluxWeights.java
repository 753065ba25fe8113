package org.untwist.flux;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.untwist.backend.Backend;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * The parameters of a FLUX transformer, looked up by the key names of FLUX.1 checkpoints and checked
 * against the config. Every tensor goes through {@link Backend#place} once: on a CPU backend weight matrices
 * stay views of the mapped file in their storage type (F32, BF16, F16), on a device backend they are copied
 * to device memory in that type. Vectors (biases, norm scales) are widened once to float32 first.
 */
final class FluxWeights {

    /** One row block of a linear layer's weight, with its bias rows (null without bias). */
    record Part(Tensor weight, Tensor bias) {
        int outDim() {
            return weight.dim(0);
        }
    }

    /**
     * {@code y = x Wᵀ + b}, with {@code W} (and {@code b}) held as one or more row blocks: a FLUX.1 file's fused
     * projection is one block; diffusers stores q, k and v (and the MLP input of a single block) apart, and the
     * output is then the blocks' outputs side by side along the last dimension, never a concatenated copy of
     * the weights.
     */
    record Linear(List<Part> parts) {
        Linear {
            parts = List.copyOf(parts);
            if (parts.isEmpty()) {
                throw new IllegalArgumentException("a linear layer needs at least one row block");
            }
        }

        Linear(Tensor weight, Tensor bias) {
            this(List.of(new Part(weight, bias)));
        }

        int outDim() {
            int n = 0;
            for (Part p : parts) {
                n += p.outDim();
            }
            return n;
        }

        /** The output features {@code [from, from + count)}: row views of the blocks that hold them. */
        Linear slice(int from, int count) {
            List<Part> out = new ArrayList<>();
            int start = 0;
            for (Part p : parts) {
                int end = start + p.outDim(), a = Math.max(from, start), b = Math.min(from + count, end);
                if (a < b) {
                    boolean whole = a == start && b == end;
                    out.add(whole ? p : new Part(p.weight().rows(a - start, b - a), p.bias() == null ? null : p.bias().rows(a - start, b - a)));
                }
                start = end;
            }
            return new Linear(out);
        }
    }

    /** {@code in_layer → SiLU → out_layer}. */
    record MlpEmbedder(Linear in, Linear out) {
    }

    /** One stream (image or text) of a double-stream block. */
    record StreamWeights(Linear mod, Linear qkv, Tensor queryNorm, Tensor keyNorm, Linear proj, Linear mlpIn, Linear mlpOut) {
    }

    record DoubleBlock(StreamWeights img, StreamWeights txt) {
    }

    /** {@code linear1} is held as its two output ranges: the fused qkv projection and the MLP input. */
    record SingleBlock(Linear mod, Linear qkv, Linear mlpIn, Linear linear2, Tensor queryNorm, Tensor keyNorm) {
    }

    final Linear imgIn;
    final Linear txtIn;
    final MlpEmbedder timeIn;
    final MlpEmbedder vectorIn;
    final MlpEmbedder guidanceIn; // null without guidance embedding
    final List<DoubleBlock> doubleBlocks = new ArrayList<>();
    final List<SingleBlock> singleBlocks = new ArrayList<>();
    final Linear finalMod;
    final Linear finalLinear;

    private final FluxWeightSource file;
    private final Arena arena;
    private final Backend backend;
    private final List<Tensor> placed = new ArrayList<>(); // closed by close(): device copies (no-op for host views)
    private final Set<String> used = new HashSet<>();

    /** Size of the sinusoidal embedding fed to {@code time_in} and {@code guidance_in}. */
    static final int TIME_EMBED_DIM = 256;

    FluxWeights(FluxWeightSource file, FluxConfig c, Arena arena, Backend backend) {
        this.file = file;
        this.arena = arena;
        this.backend = backend;
        try { // a failure half-way must not leak the device copies made so far
            int h = c.hiddenSize(), hd = c.headDim(), mlp = c.mlpHiddenDim();
            imgIn = linear("img_in", h, c.inChannels(), true);
            txtIn = linear("txt_in", h, c.contextInDim(), true);
            timeIn = embedder("time_in", TIME_EMBED_DIM, h);
            vectorIn = embedder("vector_in", c.vecInDim(), h);
            guidanceIn = c.guidanceEmbed() ? embedder("guidance_in", TIME_EMBED_DIM, h) : null;
            for (int i = 0; i < c.depth(); i++) {
                String p = "double_blocks." + i + ".";
                doubleBlocks.add(new DoubleBlock(stream(p + "img_", c, h, hd, mlp), stream(p + "txt_", c, h, hd, mlp)));
            }
            for (int i = 0; i < c.depthSingleBlocks(); i++) {
                String p = "single_blocks." + i + ".";
                Linear linear1 = linear(p + "linear1", 3 * h + mlp, h, true);
                singleBlocks.add(new SingleBlock(linear(p + "modulation.lin", 3 * h, h, true), linear1.slice(0, 3 * h),
                        linear1.slice(3 * h, mlp), linear(p + "linear2", h, h + mlp, true),
                        vector(p + "norm.query_norm.scale", hd), vector(p + "norm.key_norm.scale", hd)));
            }
            finalMod = linear("final_layer.adaLN_modulation.1", 2 * h, h, true);
            finalLinear = linear("final_layer.linear", c.outChannels(), h, true);
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    private StreamWeights stream(String p, FluxConfig c, int h, int hd, int mlp) {
        return new StreamWeights(linear(p + "mod.lin", 6 * h, h, true), linear(p + "attn.qkv", 3 * h, h, c.qkvBias()),
                vector(p + "attn.norm.query_norm.scale", hd), vector(p + "attn.norm.key_norm.scale", hd),
                linear(p + "attn.proj", h, h, true), linear(p + "mlp.0", mlp, h, true), linear(p + "mlp.2", h, mlp, true));
    }

    private MlpEmbedder embedder(String p, int in, int h) {
        return new MlpEmbedder(linear(p + ".in_layer", h, in, true), linear(p + ".out_layer", h, h, true));
    }

    private Linear linear(String name, int out, int in, boolean bias) {
        List<Tensor> weights = rowBlocks(name + ".weight", out, in);
        List<Tensor> biases = bias ? rowBlocks(name + ".bias", out) : null;
        if (biases != null && biases.size() != weights.size()) {
            throw new IllegalArgumentException(file.describe() + ": '" + name + "' has " + weights.size() + " weight blocks but "
                    + biases.size() + " bias blocks");
        }
        List<Part> parts = new ArrayList<>();
        for (int i = 0; i < weights.size(); i++) {
            Tensor w = weights.get(i);
            if (biases != null && biases.get(i).dim(0) != w.dim(0)) {
                throw new IllegalArgumentException(file.describe() + ": '" + name + "' block " + i + " has " + w.dim(0) + " weight rows but "
                        + biases.get(i).dim(0) + " bias entries");
            }
            parts.add(new Part(place(w), biases == null ? null : widen(name + ".bias", biases.get(i))));
        }
        return new Linear(parts);
    }

    /** The row blocks of {@code name}, checked: together they have {@code shape}. */
    private List<Tensor> rowBlocks(String name, int... shape) {
        if (!file.contains(name)) {
            throw new IllegalArgumentException(file.describe() + ": missing tensor '" + name + "' (expected shape " + Arrays.toString(shape)
                    + " for this config)");
        }
        List<Tensor> blocks = file.rowBlocks(name, shape);
        if (blocks.size() == 1) {
            Tensor t = blocks.getFirst();
            if (!t.hasShape(shape)) {
                throw new IllegalArgumentException(file.describe() + ": tensor '" + name + "' has shape " + Arrays.toString(t.shape())
                        + " but the config implies " + Arrays.toString(shape));
            }
        } else {
            int rows = 0;
            for (Tensor t : blocks) {
                int[] rest = Arrays.copyOfRange(shape, 1, shape.length);
                if (t.rank() != shape.length || !Arrays.equals(Arrays.copyOfRange(t.shape(), 1, t.rank()), rest)) {
                    throw new IllegalArgumentException(file.describe() + ": a block of '" + name + "' has shape " + Arrays.toString(t.shape())
                            + " but the config implies [rows" + (rest.length == 0 ? "" : ", ") + Arrays.toString(rest).replaceAll("[\\[\\]]", "") + "]");
                }
                rows += t.dim(0);
            }
            if (rows != shape[0]) {
                throw new IllegalArgumentException(file.describe() + ": the blocks of '" + name + "' have " + rows + " rows but the config implies "
                        + Arrays.toString(shape));
            }
        }
        used.add(name);
        return blocks;
    }

    /** The largest number of row blocks of any linear layer (1 for a FLUX.1 file, 3 for diffusers' q, k, v). */
    int maxParts() {
        int n = 1;
        List<Linear> all = new ArrayList<>(List.of(imgIn, txtIn, timeIn.in(), timeIn.out(), vectorIn.in(), vectorIn.out(), finalMod, finalLinear));
        if (guidanceIn != null) {
            all.add(guidanceIn.in());
            all.add(guidanceIn.out());
        }
        for (DoubleBlock d : doubleBlocks) {
            for (StreamWeights sw : List.of(d.img(), d.txt())) {
                all.addAll(List.of(sw.mod(), sw.qkv(), sw.proj(), sw.mlpIn(), sw.mlpOut()));
            }
        }
        for (SingleBlock b : singleBlocks) {
            all.addAll(List.of(b.mod(), b.qkv(), b.mlpIn(), b.linear2()));
        }
        for (Linear l : all) {
            n = Math.max(n, l.parts().size());
        }
        return n;
    }

    /** A 1-D parameter, widened to an F32 copy owned by the model. */
    private Tensor vector(String name, int n) {
        return widen(name, require(name, n));
    }

    private Tensor widen(String name, Tensor stored) {
        int n = stored.dim(0);
        if (stored.isDevice()) { // generated in device memory: must already be float32
            if (stored.dtype() != DType.F32) {
                throw new IllegalArgumentException(file.describe() + ": vector '" + name + "' in device memory must be F32, got " + stored.dtype());
            }
            return place(stored);
        }
        Tensor f32 = Tensor.allocate(arena, DType.F32, n);
        f32.copyFrom(stored);
        return place(f32);
    }

    private Tensor place(Tensor t) {
        Tensor p = backend.place(t);
        placed.add(p);
        return p;
    }

    /** Frees the device copies (host views and arena tensors are freed by their owners). */
    void close() {
        for (Tensor t : placed) {
            t.close();
        }
        placed.clear();
    }

    private Tensor require(String name, int... shape) {
        if (!file.contains(name)) {
            throw new IllegalArgumentException(file.describe() + ": missing tensor '" + name + "' (expected shape " + Arrays.toString(shape)
                    + " for this config)");
        }
        Tensor t = file.tensor(name, shape);
        if (!t.hasShape(shape)) {
            throw new IllegalArgumentException(file.describe() + ": tensor '" + name + "' has shape " + Arrays.toString(t.shape())
                    + " but the config implies " + Arrays.toString(shape));
        }
        used.add(name);
        return t;
    }

    /** Tensors in the file that the model does not use (reported, not fatal: checkpoints may carry extras). */
    List<String> unusedTensors() {
        return file.names().stream().filter(n -> !used.contains(n)).toList();
    }
}
