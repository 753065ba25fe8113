package org.untwist.flux;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import org.untwist.backend.Backend;
import org.untwist.method.AttentionSharing;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/** Every activation buffer of one input geometry, allocated by the backend (device memory on the GPU). */
final class FluxWorkspace implements AutoCloseable {
    final int batch, textTokens, imageTokens;
    final DType interior; // the interior activations' type: the norms' outputs, projections, heads, attention, MLP hidden
    final Backend backend;
    final boolean device; // the backend computes in device memory: inputs and outputs are copied
    /**
     * One batch element: the streams' tokens are runs of the joint sequence's rows and the modulation chunks runs of
     * the modulation vector, so txt/img, txtAttn/imgAttn and every modulation chunk are views of the joint buffers and
     * {@link #split}/{@link #join} have nothing to copy. With more batch elements they are buffers of their own.
     */
    final boolean views;
    final List<Tensor> owned = new java.util.ArrayList<>();
    final Arena hostArena = Arena.ofShared(); // host-side scratch: the chunk scale, host copies for statistics
    final Tensor tEmb, vec, vecTmp, vecHidden, vecSilu;
    final Tensor img, txt, x, ids, pe;
    final Tensor mod6Img, mod6Txt, mod3, mod2, shift, scale;
    final List<Tensor> imgMods, txtMods, singleMods;
    final Tensor imgNorm, txtNorm, imgQkv, txtQkv, q, k, v, attn, txtAttn, imgAttn;
    final Tensor imgProj, txtProj, imgMlp, txtMlp;
    final Tensor xNorm, xQkv, xMlp, xOut;
    // [B·L·h] each, when linear layers come in row blocks: a set per output type (the interior's q, k, v projections and
    // float32 layers), made on first use
    final Map<DType, List<Tensor>> partBuffers = new java.util.EnumMap<>(DType.class);
    private final int parts;
    // Shared attention (allocated on first use): per-call state set by prepareSharing.
    AttentionSharing sharing;
    Tensor chunkScale, kShifted, peShiftedTable, probs, chunkScaleTensor, bandTerms, probsHost, bandTermsHost;
    float[] gridRows, gridCols;
    // Device copies of the inputs and the output (device backends only, allocated on first use).
    Tensor inImg, inImgIds, inTxt, inTxtIds, inY, inT, inGuidance, out;
    private final FluxConfig config;

    FluxWorkspace(FluxConfig c, int b, int lt, int li, int parts, DType interior, Backend backend) {
        this.batch = b;
        this.interior = interior;
        this.parts = parts;
        this.textTokens = lt;
        this.imageTokens = li;
        this.config = c;
        this.backend = backend;
        this.views = b == 1;
        try { // out of device memory half-way: free what was allocated
            int h = c.hiddenSize(), nh = c.numHeads(), hd = c.headDim(), mlp = c.mlpHiddenDim(), l = lt + li;
            tEmb = f32(b, FluxWeights.TIME_EMBED_DIM);
            vec = f32(b, h);
            vecTmp = f32(b, h);
            vecHidden = f32(b, h);
            vecSilu = f32(b, h);
            x = f32(b, l, h);
            txt = views ? tokens(x, 0, lt) : f32(b, lt, h);
            img = views ? tokens(x, lt, li) : f32(b, li, h);
            ids = f32(b, l, c.axesDim().length);
            pe = f32(b, 1, l, hd / 2, 2, 2);
            mod6Img = f32(b, 6 * h);
            mod6Txt = f32(b, 6 * h);
            mod3 = f32(b, 3 * h);
            mod2 = f32(b, 2 * h);
            List<Tensor> finalMods = chunks(mod2, 2, b, h);
            shift = finalMods.get(0);
            scale = finalMods.get(1);
            imgMods = chunks(mod6Img, 6, b, h);
            txtMods = chunks(mod6Txt, 6, b, h);
            singleMods = chunks(mod3, 3, b, h);
            imgNorm = interior(b, li, h);
            txtNorm = interior(b, lt, h);
            imgQkv = interior(b, li, 3 * h);
            txtQkv = interior(b, lt, 3 * h);
            q = interior(b, nh, l, hd);
            k = interior(b, nh, l, hd);
            v = interior(b, nh, l, hd);
            attn = interior(b, l, h);
            txtAttn = views ? tokens(attn, 0, lt) : interior(b, lt, h);
            imgAttn = views ? tokens(attn, lt, li) : interior(b, li, h);
            imgProj = f32(b, li, h);
            txtProj = f32(b, lt, h);
            imgMlp = interior(b, li, mlp);
            txtMlp = interior(b, lt, mlp);
            xNorm = interior(b, l, h);
            xQkv = interior(b, l, 3 * h);
            xMlp = interior(b, l, mlp);
            xOut = f32(b, l, h);
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
        device = x.isDevice();
        if (device) {
            out = f32(b, li, c.outChannels());
        }
    }

    /** Part buffer {@code i} of type {@code dtype} viewed as {@code shape} (its leading elements). */
    Tensor partBuffer(int i, int[] shape, DType dtype) {
        List<Tensor> set = partBuffers.get(dtype);
        if (set == null) {
            set = new java.util.ArrayList<>();
            for (int p = 0; p < parts; p++) {
                Tensor t = backend.allocate(dtype, batch * (textTokens + imageTokens) * config.hiddenSize());
                owned.add(t);
                set.add(t);
            }
            partBuffers.put(dtype, set);
        }
        Tensor flat = set.get(i);
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        if (n > flat.numel()) {
            throw new IllegalStateException("a row block's output " + java.util.Arrays.toString(shape) + " exceeds its part buffer of "
                    + flat.numel() + " floats (row blocks wider than hidden_size are not supported)");
        }
        return flat.rows(0, (int) n).reshape(shape);
    }

    /** The inputs in the backend's memory: copied into device buffers on a device backend, as they are otherwise. */
    FluxInputs stage(FluxInputs in, Backend be) {
        if (!device) {
            return in;
        }
        inImg = copyIn(in.img(), inImg, be);
        inImgIds = copyIn(in.imgIds(), inImgIds, be);
        inTxt = copyIn(in.txt(), inTxt, be);
        inTxtIds = copyIn(in.txtIds(), inTxtIds, be);
        inY = copyIn(in.y(), inY, be);
        inT = copyIn(in.timesteps(), inT, be);
        inGuidance = in.guidance() == null ? inGuidance : copyIn(in.guidance(), inGuidance, be);
        return new FluxInputs(inImg, inImgIds, inTxt, inTxtIds, inY, inT, in.guidance() == null ? null : inGuidance);
    }

    private Tensor copyIn(Tensor src, Tensor buffer, Backend be) {
        Tensor d = buffer != null ? buffer : f32(src.shape());
        be.copy(src, d);
        return d;
    }

    /** {@code t} readable from Java: itself on a CPU backend, a host copy (reused) of a device tensor. */
    Tensor onHost(Tensor t) {
        if (!t.isDevice()) {
            return t;
        }
        Tensor h = t == probs ? probsHost : t == bandTerms ? bandTermsHost : null;
        if (h == null || !h.hasShape(t.shape())) {
            h = Tensor.allocate(hostArena, DType.F32, t.shape());
            if (t == probs) {
                probsHost = h;
            } else if (t == bandTerms) {
                bandTermsHost = h;
            }
        }
        backend.copy(t, h);
        return h;
    }

    Tensor chunkScaleBuffer() {
        if (chunkScaleTensor == null) { // host: backends validate and read the scale values
            chunkScaleTensor = Tensor.allocate(hostArena, DType.F32, config.headDim() / 2);
        }
        return chunkScaleTensor;
    }

    Tensor peShifted() {
        if (peShiftedTable == null) {
            peShiftedTable = f32(1, 1, textTokens + imageTokens, config.headDim() / 2, 2, 2);
        }
        return peShiftedTable;
    }

    Tensor f32(int... shape) {
        Tensor t = backend.allocate(DType.F32, shape);
        owned.add(t);
        return t;
    }

    /** A buffer of the interior type ({@link #interior}). */
    Tensor interior(int... shape) {
        Tensor t = backend.allocate(interior, shape);
        owned.add(t);
        return t;
    }

    /** {@code whole}'s parts along dimension 1 into {@code parts}, unless they are views of it ({@link #views}). */
    void split(Tensor whole, List<Tensor> parts) {
        if (!views) {
            backend.split(whole, 1, parts);
        }
    }

    /** {@code parts} joined along dimension 1 into {@code whole}, unless they are views of it ({@link #views}). */
    void join(List<Tensor> parts, Tensor whole) {
        if (!views) {
            backend.concat(parts, 1, whole);
        }
    }

    /** Tokens {@code [from, from + count)} of a one-element batch {@code [1, L, C]}: a view of its rows. */
    private static Tensor tokens(Tensor t, int from, int count) {
        int c = t.dim(2);
        return t.reshape(t.dim(1), c).rows(from, count).reshape(1, count, c);
    }

    /** {@code n} chunks {@code [b, h]} of a modulation vector {@code [b, n·h]}: views of it for one batch element, else buffers. */
    private List<Tensor> chunks(Tensor mod, int n, int b, int h) {
        Tensor[] t = new Tensor[n];
        for (int i = 0; i < n; i++) {
            t[i] = views ? mod.reshape(n, h).rows(i, 1) : f32(b, h);
        }
        return List.of(t);
    }

    @Override
    public void close() {
        for (Tensor t : owned) {
            t.close();
        }
        owned.clear();
        hostArena.close();
    }
}
