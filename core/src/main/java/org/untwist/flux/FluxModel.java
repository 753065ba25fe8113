package org.untwist.flux;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;
import org.untwist.backend.Backend;
import org.untwist.io.SafeTensors;
import org.untwist.method.AttentionSharing;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * A FLUX-architecture transformer (double-stream and single-stream blocks, QKNorm, adaLN modulation,
 * optional guidance embedding and qkv bias) whose forward pass is written only in {@link Backend}
 * operations, following the reference {@code flux.model.Flux}.
 *
 * <p>Weights are memory-mapped from a FLUX.1-format safetensors file (or come from another
 * {@link FluxWeightSource}) and placed once in the backend's memory ({@link Backend#place}: the mapped views
 * themselves on a CPU backend, device copies in their storage type on the GPU). Activations live in a
 * workspace of {@link Backend#allocate}d tensors, allocated once per input geometry and reused across calls
 * (sampling calls the model many times with the same shapes). Inputs and outputs are host tensors; on a
 * device backend they are copied at the boundary. {@link #close()} releases the source and every buffer.
 *
 * <p>A model may be shared between threads: forward passes take a lock and run one at a time, because they
 * share the workspace (two at once would overwrite each other's activations). Concurrent callers therefore
 * get exactly the results of sequential calls, and wait for each other; for passes in parallel, load one
 * model per thread (the mapped weights file is shared by the operating system's page cache). The samplers
 * keep their state per call and only meet in {@link #forward}.
 */
public final class FluxModel implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("org.untwist.flux");
    private static final float NORM_EPS = 1e-6f;
    private static final float TIME_FACTOR = 1000f;
    private static final double MAX_PERIOD = 10_000;

    private final FluxConfig config;
    private final Backend backend;
    private final FluxWeightSource file;
    private final Arena paramArena = Arena.ofShared();
    private final FluxWeights w;
    private final int parts; // row blocks of the most split linear layer: 1 for a FLUX.1 file, 3 for diffusers
    private final DType roundedInterior; // F32, or BF16 where the backend rounds every block GEMM's operands to bf16
    private final ReentrantLock lock = new ReentrantLock(); // guards ws and closed: one forward pass at a time
    private FluxWorkspace ws;
    private boolean closed;

    private FluxModel(FluxConfig config, FluxWeightSource file, Backend backend) {
        this.config = config;
        this.backend = backend;
        this.file = file;
        try {
            this.w = new FluxWeights(file, config, paramArena, backend);
            this.parts = w.maxParts();
            this.roundedInterior = roundedInterior(w, backend);
        } catch (RuntimeException e) {
            paramArena.close();
            throw e;
        }
        List<String> unused = w.unusedTensors();
        if (!unused.isEmpty()) {
            LOG.log(System.Logger.Level.WARNING, file.describe() + ": " + unused.size() + " tensors not used by the model, e.g. " + unused.getFirst());
        }
    }

    /**
     * Loads {@code config.json} and {@code weights.safetensors} from a model folder.
     *
     * @throws IOException              when a file is missing or unreadable
     * @throws IllegalArgumentException when the config is invalid or a weight is missing or has the wrong shape
     */
    public static FluxModel load(Path modelDir, Backend backend) throws IOException {
        if (!Files.isDirectory(modelDir)) {
            throw new IOException(modelDir + ": not a model folder (expected config.json and weights.safetensors inside)");
        }
        return load(modelDir.resolve("config.json"), modelDir.resolve("weights.safetensors"), backend);
    }

    /** Loads a model from an explicit config file and weights file. */
    public static FluxModel load(Path configFile, Path weightsFile, Backend backend) throws IOException {
        FluxConfig config = FluxConfig.read(configFile); // names a missing, unreadable or malformed file in one line
        if (Files.isDirectory(weightsFile)) {
            throw new IOException(weightsFile + ": is a folder, not a weights file");
        }
        if (!Files.isRegularFile(weightsFile)) {
            throw new IOException(weightsFile + ": weights file not found");
        }
        return create(config, FluxWeightSource.of(SafeTensors.open(weightsFile)), backend);
    }

    /**
     * A model over the weights of {@code source}, which the model owns from now on (closing the model closes
     * it, and so does a failure here).
     *
     * @throws IllegalArgumentException when a weight is missing or has the wrong shape
     */
    public static FluxModel create(FluxConfig config, FluxWeightSource source, Backend backend) {
        try {
            return new FluxModel(config, source, backend);
        } catch (RuntimeException e) {
            source.close();
            throw e;
        }
    }

    public FluxConfig config() {
        return config;
    }

    public Backend backend() {
        return backend;
    }

    /**
     * The RoPE table {@code pe [B, 1, Lt + Li, headDim/2, 2, 2]} for text then image positions, as the model
     * builds it internally (the reference's {@code EmbedND(cat(txt_ids, img_ids))}). The caller owns it.
     */
    public Tensor positionTable(Tensor txtIds, Tensor imgIds) {
        lock.lock();
        try {
            requireOpen();
            int b = imgIds.dim(0), l = txtIds.dim(1) + imgIds.dim(1), axes = imgIds.dim(2);
            try (Tensor ids = Tensor.allocate(DType.F32, b, l, axes)) {
                backend.concat(List.of(txtIds, imgIds), 1, ids);
                Tensor pe = Tensor.allocate(DType.F32, b, 1, l, config.headDim() / 2, 2, 2);
                backend.ropeTable(ids, config.axesDim(), config.theta(), pe);
                return pe;
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * One forward pass: the velocity prediction for {@code in.img()} at {@code in.timesteps()}.
     *
     * @param out {@code [B, Li, out_channels]}
     */
    public void forward(FluxInputs in, Tensor out) {
        forward(in, out, null);
    }

    /**
     * One forward pass with shared attention: batch element 0 is the reference, the others are targets
     * (see {@link AttentionSharing}). With {@code sharing == null} this is the plain forward pass. Calls from
     * several threads run one at a time (see the class comment).
     *
     * @param out {@code [B, Li, out_channels]}
     */
    public void forward(FluxInputs in, Tensor out, AttentionSharing sharing) {
        lock.lock();
        try {
            forwardLocked(in, out, sharing);
        } finally {
            lock.unlock();
        }
    }

    private void forwardLocked(FluxInputs in, Tensor out, AttentionSharing sharing) {
        requireOpen();
        in.validate(config);
        int b = in.batch(), li = in.imageTokens(), lt = in.textTokens();
        if (sharing != null) {
            checkSharing(in, sharing);
        }
        if (!out.hasShape(b, li, config.outChannels()) || out.dtype() != DType.F32) {
            throw new IllegalArgumentException("forward: out has shape " + java.util.Arrays.toString(out.shape()) + " " + out.dtype()
                    + ", expected [" + b + ", " + li + ", " + config.outChannels() + "] F32");
        }
        FluxWorkspace s = workspace(b, lt, li, interiorType(sharing));
        s.sharing = sharing;
        Backend be = backend;
        FluxInputs host = in;
        in = s.stage(in, be); // device backend: the inputs copied into device memory; CPU: unchanged
        Tensor result = s.device && !out.isDevice() ? s.out : out;

        // Conditioning vector: time, guidance and pooled text embeddings summed.
        be.timestepEmbedding(in.timesteps(), TIME_FACTOR, MAX_PERIOD, s.tEmb);
        embed(w.timeIn, s.tEmb, s.vec, s);
        if (w.guidanceIn != null) {
            be.timestepEmbedding(in.guidance(), TIME_FACTOR, MAX_PERIOD, s.tEmb);
            embed(w.guidanceIn, s.tEmb, s.vecTmp, s);
            be.add(s.vec, s.vecTmp, s.vec);
        }
        embed(w.vectorIn, in.y(), s.vecTmp, s);
        be.add(s.vec, s.vecTmp, s.vec);
        be.silu(s.vec, s.vecSilu); // every modulation layer starts with SiLU(vec)

        linear(in.img(), w.imgIn, s.img);
        linear(in.txt(), w.txtIn, s.txt);
        be.concat(List.of(in.txtIds(), in.imgIds()), 1, s.ids);
        be.ropeTable(s.ids, config.axesDim(), config.theta(), s.pe);
        if (sharing != null) {
            prepareSharing(host, sharing, s);
        }

        for (int i = 0; i < w.doubleBlocks.size(); i++) {
            doubleBlock(w.doubleBlocks.get(i), s, sharing != null && sharing.blocks().doubleBlock(i) ? "d" + i : null);
        }
        s.join(List.of(s.txt, s.img), s.x);
        for (int i = 0; i < w.singleBlocks.size(); i++) {
            singleBlock(w.singleBlocks.get(i), s, sharing != null && sharing.blocks().singleBlock(i) ? "s" + i : null);
        }
        s.split(s.x, List.of(s.txt, s.img));

        // Final layer: adaLN with (shift, scale) in that order, then the projection to output channels.
        linear(s.vecSilu, w.finalMod, s.mod2);
        s.split(s.mod2, List.of(s.shift, s.scale));
        be.layerNormModulate(s.img, NORM_EPS, s.shift, s.scale, s.imgNorm);
        linear(s.imgNorm, w.finalLinear, result);
        if (result != out) {
            be.copy(result, out);
        }
    }

    /**
     * {@code out = x Wᵀ + b}: one GEMM when the layer is one row block (a FLUX.1 file), else one GEMM per block
     * into the workspace's part buffers and a concatenation along the last dimension (diffusers' split q, k, v).
     */
    private void linear(Tensor x, FluxWeights.Linear l, Tensor out) {
        byParts(l, out, (w, bias, o) -> backend.linear(x, w, bias, o));
    }

    /** {@code out = [a, b] Wᵀ + bias} (the inputs joined along their last dimension) by row blocks like {@link #linear}. */
    private void linearConcat(Tensor a, Tensor b, FluxWeights.Linear l, Tensor out) {
        byParts(l, out, (w, bias, o) -> backend.linearConcat(a, b, w, bias, o));
    }

    /** One linear layer's GEMM(s), {@code gemm} called with a row block's weights, bias and output. */
    @FunctionalInterface
    private interface PartGemm {
        void run(Tensor weight, Tensor bias, Tensor out);
    }

    private void byParts(FluxWeights.Linear l, Tensor out, PartGemm gemm) {
        List<FluxWeights.Part> parts = l.parts();
        if (parts.size() == 1) {
            gemm.run(parts.getFirst().weight(), parts.getFirst().bias(), out);
            return;
        }
        List<Tensor> outs = new java.util.ArrayList<>(parts.size());
        int[] shape = out.shape();
        for (int i = 0; i < parts.size(); i++) {
            FluxWeights.Part p = parts.get(i);
            shape[shape.length - 1] = p.outDim();
            Tensor o = ws.partBuffer(i, shape, out.dtype());
            gemm.run(p.weight(), p.bias(), o);
            outs.add(o);
        }
        backend.concat(outs, shape.length - 1, out);
    }

    /** {@code out = geluTanh(x Wᵀ + b)}: one call the backend may fuse when the layer is one row block, else linear and GELU. */
    private void linearGelu(Tensor x, FluxWeights.Linear l, Tensor out) {
        List<FluxWeights.Part> parts = l.parts();
        if (parts.size() == 1) {
            backend.linearGeluTanh(x, parts.getFirst().weight(), parts.getFirst().bias(), out);
        } else {
            linear(x, l, out);
            backend.geluTanh(out, out);
        }
    }

    private void embed(FluxWeights.MlpEmbedder e, Tensor x, Tensor out, FluxWorkspace s) {
        linear(x, e.in(), s.vecHidden);
        backend.silu(s.vecHidden, s.vecHidden);
        linear(s.vecHidden, e.out(), out);
    }

    private void doubleBlock(FluxWeights.DoubleBlock blk, FluxWorkspace s, String sharedName) {
        Backend be = backend;
        // Modulation (shift, scale, gate) × 2 for each stream.
        linear(s.vecSilu, blk.img().mod(), s.mod6Img);
        s.split(s.mod6Img, s.imgMods);
        linear(s.vecSilu, blk.txt().mod(), s.mod6Txt);
        s.split(s.mod6Txt, s.txtMods);

        // Attention inputs: norm → modulate → qkv → heads → QKNorm (→ RoPE), each stream written at its tokens of the
        // joint sequence, text first.
        Tensor pe = ropeWithSplit(s, sharedName) ? s.pe : null;
        streamQkv(blk.img(), s.img, s.imgNorm, s.imgQkv, s.imgMods, pe, s, s.textTokens);
        streamQkv(blk.txt(), s.txt, s.txtNorm, s.txtQkv, s.txtMods, pe, s, 0);
        attend(s, sharedName, pe != null);
        s.split(s.attn, List.of(s.txtAttn, s.imgAttn));

        streamUpdate(blk.img(), s.img, s.imgAttn, s.imgNorm, s.imgProj, s.imgMlp, s.imgMods);
        streamUpdate(blk.txt(), s.txt, s.txtAttn, s.txtNorm, s.txtProj, s.txtMlp, s.txtMods);
    }

    private void streamQkv(FluxWeights.StreamWeights sw, Tensor x, Tensor norm, Tensor qkv, List<Tensor> mods, Tensor pe, FluxWorkspace s,
                           int tokenOffset) {
        backend.layerNormModulate(x, NORM_EPS, mods.get(0), mods.get(1), norm);
        linear(norm, sw.qkv(), qkv);
        backend.splitQkvNormRope(qkv, sw.queryNorm(), sw.keyNorm(), NORM_EPS, pe, s.q, s.k, s.v, tokenOffset);
    }

    /**
     * Whether RoPE can be applied as the heads are split ({@link Backend#splitQkvNormRope}): always, except where shared
     * attention needs the keys before rotation (StyleAligned's AdaIN of the pre-RoPE statistics, ShiftPE's keys rotated
     * at other positions).
     */
    private static boolean ropeWithSplit(FluxWorkspace s, String sharedName) {
        return sharedName == null || (!s.sharing.adaIn() && s.sharing.shiftColumns() == 0);
    }

    private void streamUpdate(FluxWeights.StreamWeights sw, Tensor x, Tensor attn, Tensor norm, Tensor proj, Tensor mlpHidden,
                              List<Tensor> mods) {
        Backend be = backend;
        linear(attn, sw.proj(), proj);
        be.gatedResidual(x, mods.get(2), proj, x);
        be.layerNormModulate(x, NORM_EPS, mods.get(3), mods.get(4), norm);
        linearGelu(norm, sw.mlpIn(), mlpHidden);
        linear(mlpHidden, sw.mlpOut(), proj);
        be.gatedResidual(x, mods.get(5), proj, x);
    }

    private void singleBlock(FluxWeights.SingleBlock blk, FluxWorkspace s, String sharedName) {
        Backend be = backend;
        linear(s.vecSilu, blk.mod(), s.mod3);
        s.split(s.mod3, s.singleMods);
        be.layerNormModulate(s.x, NORM_EPS, s.singleMods.get(0), s.singleMods.get(1), s.xNorm);
        // linear1's output rows [0, 3h) are the fused qkv projection and [3h, 3h + mlp) the MLP input: two GEMMs over
        // row slices of the weight write them where they are needed, instead of one GEMM and a split copy.
        linear(s.xNorm, blk.qkv(), s.xQkv);
        linearGelu(s.xNorm, blk.mlpIn(), s.xMlp); // the MLP's GELU too: fused into the GEMM where the backend can
        boolean roped = ropeWithSplit(s, sharedName);
        be.splitQkvNormRope(s.xQkv, blk.queryNorm(), blk.keyNorm(), NORM_EPS, roped ? s.pe : null, s.q, s.k, s.v, 0);
        attend(s, sharedName, roped);
        linearConcat(s.attn, s.xMlp, blk.linear2(), s.xOut);
        be.gatedResidual(s.x, s.singleMods.get(2), s.xOut, s.x);
    }

    /**
     * RoPE on the joint q and k unless {@code roped} (done as the heads were split), then attention into
     * {@code s.attn}. In a shared block ({@code sharedName} not null) the reference (batch 0) attends to itself and
     * the targets attend to themselves plus the reference's image keys, scaled per chunk inside the kernel.
     */
    private void attend(FluxWorkspace s, String sharedName, boolean roped) {
        Backend be = backend;
        if (sharedName == null) {
            be.attention(s.q, s.k, s.v, s.attn);
            return;
        }
        AttentionSharing sh = s.sharing;
        int b = s.batch, lt = s.textTokens;
        Tensor q0 = s.q.rows(0, 1), k0 = s.k.rows(0, 1), v0 = s.v.rows(0, 1);
        Tensor qt = s.q.rows(1, b - 1), kt = s.k.rows(1, b - 1), vt = s.v.rows(1, b - 1);
        if (sh.adaIn()) { // StyleAligned normalizes pre-RoPE image-token statistics; text tokens are left alone
            be.adaIn(qt, q0, lt, AttentionSharing.ADAIN_EPS, qt);
            be.adaIn(kt, k0, lt, AttentionSharing.ADAIN_EPS, kt);
        }
        Tensor refK = k0;
        if (sh.shiftColumns() > 0) { // ShiftPE: the targets see the reference's keys rotated at shifted positions
            s.kShifted = s.kShifted == null ? s.f32(1, config.numHeads(), s.textTokens + s.imageTokens, config.headDim()) : s.kShifted;
            be.copy(k0, s.kShifted);
            be.applyRope(s.kShifted, s.peShifted(), s.kShifted);
            refK = s.kShifted;
        }
        if (!roped) {
            be.applyRope(s.q, s.pe, s.q);
            be.applyRope(s.k, s.pe, s.k);
        }
        be.attention(q0, k0, v0, s.attn.rows(0, 1));
        be.sharedAttention(qt, kt, vt, refK, v0, lt, s.chunkScale, s.attn.rows(1, b - 1));
        if (sh.stats() != null) { // [targets, H, L, L + Li]: analysis only, allocated on first use
            int l = s.textTokens + s.imageTokens;
            s.probs = s.probs == null ? s.f32(b - 1, config.numHeads(), l, l + s.imageTokens) : s.probs;
            be.attentionProbs(qt, kt, refK, lt, s.chunkScale, s.probs);
            sh.stats().record(sharedName, s.onHost(s.probs), lt, s.gridRows, s.gridCols);
            int[] chunkBand = sh.stats().chunkBand();
            if (chunkBand != null) { // raw per-band RoPE logit terms: first target's queries × reference keys
                if (s.bandTerms == null || s.bandTerms.dim(4) != sh.stats().bands()) {
                    s.bandTerms = s.f32(1, config.numHeads(), l, l, sh.stats().bands());
                }
                be.chunkLogits(s.q.rows(1, 1), refK, chunkBand, sh.stats().bands(), s.bandTerms);
                sh.stats().recordBands(sharedName, s.onHost(s.bandTerms), lt);
            }
        }
    }

    private void checkSharing(FluxInputs in, AttentionSharing sharing) {
        if (in.batch() < 2) {
            throw new IllegalArgumentException("shared attention needs a batch of at least 2 (reference first, then targets), got " + in.batch());
        }
        float[] scale = sharing.chunkScale();
        if (scale != null && scale.length != config.headDim() / 2) {
            throw new IllegalArgumentException("chunk scale has " + scale.length + " entries, the model's heads have " + config.headDim() / 2
                    + " RoPE chunks");
        }
        if (config.axesDim().length < 3 && sharing.shiftColumns() > 0) {
            throw new IllegalArgumentException("ShiftPE needs (index, row, column) position axes");
        }
        // Targets and the reference must share one image grid: the method relies on aligned positions.
        Tensor ids = in.imgIds();
        int li = in.imageTokens(), axes = ids.dim(2);
        for (int bi = 1; bi < in.batch(); bi++) {
            for (long e = 0; e < (long) li * axes; e++) {
                if (ids.get((long) bi * li * axes + e) != ids.get(e)) {
                    throw new IllegalArgumentException("target " + bi + " has image positions that differ from the reference's"
                            + " (at token " + e / axes + "); shared attention needs the reference on the same grid");
                }
            }
        }
    }

    /** Per-call sharing state: chunk scale, the shifted RoPE table, the grid positions for statistics. */
    private void prepareSharing(FluxInputs in, AttentionSharing sharing, FluxWorkspace s) {
        int li = in.imageTokens(), lt = in.textTokens(), axes = in.imgIds().dim(2);
        float[] scale = sharing.chunkScale();
        s.chunkScale = scale == null ? null : s.chunkScaleBuffer();
        if (scale != null) {
            s.chunkScale.copyFrom(scale);
        }
        Tensor ids = in.imgIds();
        s.gridRows = new float[li];
        s.gridCols = new float[li];
        for (int t = 0; t < li; t++) {
            s.gridRows[t] = axes >= 2 ? ids.get((long) t * axes + axes - 2) : 0;
            s.gridCols[t] = ids.get((long) t * axes + axes - 1);
        }
        if (sharing.shiftColumns() > 0) {
            try (Tensor shifted = Tensor.allocate(DType.F32, 1, lt + li, axes)) {
                backend.concat(List.of(in.txtIds().rows(0, 1), in.imgIds().rows(0, 1)), 1, shifted);
                for (int t = lt; t < lt + li; t++) {
                    long c = (long) t * axes + axes - 1;
                    shifted.set(c, shifted.get(c) + sharing.shiftColumns());
                }
                backend.ropeTable(shifted, config.axesDim(), config.theta(), s.peShifted());
            }
        }
    }

    /**
     * The bytes of the float32 activation workspace a forward pass of this geometry allocates (the buffers of
     * the workspace below), without the extras of shared attention ({@link #sharingBytes}) and, on a device
     * backend, the device copies of inputs and output. Long arithmetic: an absurd batch gives a large number,
     * never an overflow. Per batch element: {@code 256 + 38·h + L·(17·h + 2·mlp + 2·headDim + axes)} floats; a batch of
     * one takes {@code 256 + 21·h + L·(15·h + 2·mlp + 2·headDim + axes)}, its streams and modulation chunks being views
     * of the joint buffers. An upper
     * bound where the blocks' interior activations are BF16 ({@link #interiorActivationType}): those take half, which more
     * than pays for the second set of part buffers (BF16, for the q, k, v row blocks) a layout with row blocks then adds.
     */
    public static long workspaceBytes(FluxConfig c, long batch, long textTokens, long imageTokens) {
        return workspaceBytes(c, batch, textTokens, imageTokens, 1);
    }

    /**
     * {@link #workspaceBytes(FluxConfig, long, long, long)} for a model whose fused projections are stored in
     * {@code projectionParts} row blocks of {@code hidden_size} rows ({@link #projectionParts()}: 3 for diffusers'
     * q, k, v): each block, when there are several, adds a part buffer of
     * {@code L·h} floats per batch element, into which its GEMM writes before the outputs are joined.
     */
    public static long workspaceBytes(FluxConfig c, long batch, long textTokens, long imageTokens, int projectionParts) {
        long h = c.hiddenSize(), mlp = c.mlpHiddenDim(), hd = c.headDim(), axes = c.axesDim().length, l = textTokens + imageTokens;
        boolean views = batch == 1; // see FluxWorkspace.views
        long perElement = FluxWeights.TIME_EMBED_DIM + (views ? 21 : 38) * h + l * ((views ? 15 : 17) * h + 2 * mlp + 2 * hd + axes);
        if (projectionParts > 1) {
            perElement += projectionParts * l * h;
        }
        return saturatingFloats(batch, perElement);
    }

    /**
     * The activation memory a forward pass of this geometry takes: {@link #workspaceBytes} plus the scratch a CPU backend
     * joins each single block's attention and MLP outputs into for linear2 ({@link Backend#linearConcat}: {@code L·(h +
     * mlp)} floats per batch element, held by the backend and reused). What the commands check against the memory
     * available.
     */
    public static long activationBytes(FluxConfig c, long batch, long textTokens, long imageTokens) {
        long join = saturatingFloats(batch, (textTokens + imageTokens) * (c.hiddenSize() + (long) c.mlpHiddenDim()));
        long ws = workspaceBytes(c, batch, textTokens, imageTokens);
        return ws > Long.MAX_VALUE - join ? Long.MAX_VALUE : ws + join;
    }

    /** The row blocks of this model's most split linear layer: 1 when loaded from a FLUX.1 file, 3 from diffusers' layout. */
    public int projectionParts() {
        return parts;
    }

    /**
     * The bytes shared attention adds to {@link #workspaceBytes}: the targets' attention probabilities when
     * statistics are collected ({@code [B − 1, H, L, L + Li]}), the per-band logit terms when band energies are
     * ({@code [1, H, L, L, bands]}), and ShiftPE's shifted keys and RoPE table.
     */
    public static long sharingBytes(FluxConfig c, long batch, long textTokens, long imageTokens, boolean stats, int bandTerms, boolean shiftPe) {
        long nh = c.numHeads(), l = textTokens + imageTokens;
        long bytes = 0;
        if (stats) {
            bytes += saturatingFloats(Math.max(0, batch - 1), nh * l * (l + imageTokens));
        }
        if (bandTerms > 0) {
            bytes += saturatingFloats(nh * l, l * bandTerms);
        }
        if (shiftPe) {
            bytes += saturatingFloats(l, c.hiddenSize() + 2L * c.headDim());
        }
        return bytes;
    }

    private static long saturatingFloats(long a, long b) {
        return b != 0 && a > Long.MAX_VALUE / 4 / b ? Long.MAX_VALUE : a * b * 4;
    }

    /** The bytes of activation memory this model holds now (its workspace, zero before the first forward pass). */
    public long allocatedBytes() {
        lock.lock();
        try {
            long sum = 0;
            if (ws != null) {
                for (Tensor t : ws.owned) {
                    sum += t.byteSize();
                }
            }
            return sum;
        } finally {
            lock.unlock();
        }
    }

    private FluxWorkspace workspace(int b, int lt, int li, DType interior) {
        if (ws == null || ws.batch != b || ws.textTokens != lt || ws.imageTokens != li || ws.interior != interior) {
            if (ws != null) {
                ws.close();
                ws = null;
            }
            ws = new FluxWorkspace(config, b, lt, li, parts, interior, backend);
        }
        return ws;
    }

    /**
     * BF16 where the backend answers BF16 ({@link Backend#roundedActivationType}) for the weights of every linear layer
     * inside the blocks, which the blocks' interior activations feed; else F32.
     */
    private static DType roundedInterior(FluxWeights w, Backend backend) {
        List<FluxWeights.Linear> layers = new java.util.ArrayList<>();
        for (FluxWeights.DoubleBlock d : w.doubleBlocks) {
            for (FluxWeights.StreamWeights sw : List.of(d.img(), d.txt())) {
                layers.addAll(List.of(sw.qkv(), sw.proj(), sw.mlpIn(), sw.mlpOut()));
            }
        }
        for (FluxWeights.SingleBlock sb : w.singleBlocks) {
            layers.addAll(List.of(sb.qkv(), sb.mlpIn(), sb.linear2()));
        }
        layers.add(w.finalLinear); // reads the final norm's output, a workspace buffer shared with the blocks
        for (FluxWeights.Linear l : layers) {
            for (FluxWeights.Part p : l.parts()) {
                if (backend.roundedActivationType(p.weight().dtype()) != DType.BF16) {
                    return DType.F32;
                }
            }
        }
        return layers.isEmpty() ? DType.F32 : DType.BF16;
    }

    /**
     * The type of the blocks' interior activations for a call: {@link #roundedInterior}, except F32 where shared attention
     * works on the heads between the split and the attention (AdaIN, ShiftPE, statistics), which take float32 only.
     */
    private DType interiorType(AttentionSharing sharing) {
        if (sharing != null && (sharing.adaIn() || sharing.shiftColumns() > 0 || sharing.stats() != null)) {
            return DType.F32;
        }
        return roundedInterior;
    }

    /** The element type this model keeps its blocks' interior activations in on its backend, outside shared attention's analysis modes. */
    public DType interiorActivationType() {
        return roundedInterior;
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("model is closed");
        }
    }

    /** Releases the workspace, the parameters and the mapped weights file, after a forward pass in progress. Idempotent. */
    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            if (ws != null) {
                ws.close();
                ws = null;
            }
            w.close();
            paramArena.close();
            file.close();
        } finally {
            lock.unlock();
        }
    }
}
