package org.untwist.autoencoder;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.untwist.backend.Backend;
import org.untwist.checkpoint.ModelParameters;
import org.untwist.io.SafeTensorsFolder;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * FLUX's autoencoder, the reference's {@code flux.modules.autoencoder.AutoEncoder} with {@code sample_z=False}:
 * {@link #encode} maps an image {@code x [B, 3, H, W]} in {@code [-1, 1]} to the scaled and shifted mean of the
 * latent distribution, {@code scale · (mean − shift)} of shape {@code [B, z, H/f, W/f]} with {@code f = 2^(levels − 1)};
 * {@link #decode} maps a latent back, {@code decoder(z / scale + shift)}.
 *
 * <p>The network: the encoder is a 3×3 {@code conv_in}; per level {@code num_res_blocks} residual blocks
 * (GroupNorm, swish, 3×3 conv, GroupNorm, swish, 3×3 conv, a 1×1 {@code nin_shortcut} when the channels change)
 * and, except at the last level, a downsampling (zeros added at the bottom and right, then a 3×3 stride-2 conv);
 * the middle (block, single-head self-attention over the pixels with 1×1 q, k, v and output projections, block);
 * GroupNorm, swish and a 3×3 {@code conv_out} to {@code 2·z} channels, of which the first {@code z} are the mean.
 * The decoder mirrors it: {@code conv_in}, the middle, the levels in reverse with {@code num_res_blocks + 1}
 * blocks and a nearest-neighbour ×2 upsampling with a 3×3 conv except at level 0, GroupNorm, swish, {@code conv_out}.
 * GroupNorms have 32 groups and epsilon 1e-6. Every step is a {@link Backend} operation; weights keep their stored
 * type. Parameters have the reference checkpoints' names ({@code encoder.down.0.block.0.norm1.weight},
 * {@code decoder.up.1.upsample.conv.weight}, {@code encoder.mid.attn_1.q.weight}, ...).
 *
 * <p>Memory: each call allocates its activations on the backend and frees them before it returns. They live in
 * three buffers of the largest activation's size, reused from block to block (a residual block needs its input
 * and two more), plus the middle attention's q, k and v and the result: {@link #workspaceBytes}. For FLUX.1 at
 * 1024 × 1024 the largest activation is the decoder's upsampled 256-channel map at full size (1 GiB in float32),
 * so a decode needs about 3.1 GiB.
 *
 * <p>Calls on a CPU backend may run concurrently (each has its own buffers).
 */
public final class AutoEncoder implements AutoCloseable {

    private record Conv(Tensor weight, Tensor bias) {
    }

    private record Norm(Tensor weight, Tensor bias) {
    }

    private record Resnet(Norm norm1, Conv conv1, Norm norm2, Conv conv2, Conv shortcut) {
    }

    /** The 1×1 convolutions as {@code [C, C]} matrices, applied to pixel tokens by {@link Backend#linear}. */
    private record Attention(Norm norm, Conv q, Conv k, Conv v, Conv proj) {
    }

    private record Middle(Resnet block1, Attention attention, Resnet block2) {
    }

    private static final int[] SAME = {1, 1, 1, 1};
    private static final int[] NONE = {0, 0, 0, 0};
    private static final int[] BOTTOM_RIGHT = {0, 1, 0, 1};
    /** Buffers of the largest activation's size that a call works in. */
    private static final int BUFFERS = 3;

    private final AutoEncoderConfig config;
    private final Backend backend;
    private final ModelParameters parameters;
    private final float eps = AutoEncoderConfig.NORM_EPS;

    private final Conv encoderIn;
    private final List<List<Resnet>> encoderBlocks = new ArrayList<>();
    private final List<Conv> downsamples = new ArrayList<>();
    private final Middle encoderMiddle;
    private final Norm encoderNormOut;
    private final Conv encoderOut;

    private final Conv decoderIn;
    private final Middle decoderMiddle;
    private final List<List<Resnet>> decoderBlocks = new ArrayList<>(); // by level index, as in the checkpoint
    private final List<Conv> upsamples = new ArrayList<>();
    private final Norm decoderNormOut;
    private final Conv decoderOut;

    private AutoEncoder(AutoEncoderConfig c, ModelParameters p, Backend backend) {
        this.config = c;
        this.backend = backend;
        this.parameters = p;
        int levels = c.levels();
        encoderIn = conv(p, "encoder.conv_in", c.inChannels(), c.ch(), 3);
        int channels = c.ch();
        for (int i = 0; i < levels; i++) {
            List<Resnet> blocks = new ArrayList<>();
            for (int j = 0; j < c.numResBlocks(); j++) {
                blocks.add(resnet(p, "encoder.down." + i + ".block." + j, channels, c.channels(i)));
                channels = c.channels(i);
            }
            encoderBlocks.add(blocks);
            downsamples.add(i == levels - 1 ? null : conv(p, "encoder.down." + i + ".downsample.conv", channels, channels, 3));
        }
        encoderMiddle = middle(p, "encoder.mid.", channels);
        encoderNormOut = norm(p, "encoder.norm_out", channels);
        encoderOut = conv(p, "encoder.conv_out", channels, 2 * c.zChannels(), 3);

        decoderIn = conv(p, "decoder.conv_in", c.zChannels(), channels, 3);
        decoderMiddle = middle(p, "decoder.mid.", channels);
        for (int i = 0; i < levels; i++) {
            decoderBlocks.add(null);
            upsamples.add(null);
        }
        for (int i = levels - 1; i >= 0; i--) {
            List<Resnet> blocks = new ArrayList<>();
            for (int j = 0; j <= c.numResBlocks(); j++) {
                blocks.add(resnet(p, "decoder.up." + i + ".block." + j, channels, c.channels(i)));
                channels = c.channels(i);
            }
            decoderBlocks.set(i, blocks);
            upsamples.set(i, i == 0 ? null : conv(p, "decoder.up." + i + ".upsample.conv", channels, channels, 3));
        }
        decoderNormOut = norm(p, "decoder.norm_out", channels);
        decoderOut = conv(p, "decoder.conv_out", channels, c.outChannels(), 3);
    }

    private static Conv conv(ModelParameters p, String name, int in, int out, int k) {
        return new Conv(p.matrix(name + ".weight", out, in, k, k), p.vector(name + ".bias", out));
    }

    private static Norm norm(ModelParameters p, String name, int channels) {
        return new Norm(p.vector(name + ".weight", channels), p.vector(name + ".bias", channels));
    }

    private static Resnet resnet(ModelParameters p, String name, int in, int out) {
        return new Resnet(norm(p, name + ".norm1", in), conv(p, name + ".conv1", in, out, 3), norm(p, name + ".norm2", out),
                conv(p, name + ".conv2", out, out, 3), in == out ? null : conv(p, name + ".nin_shortcut", in, out, 1));
    }

    private static Middle middle(ModelParameters p, String prefix, int c) {
        String a = prefix + "attn_1.";
        Conv q = conv(p, a + "q", c, c, 1), k = conv(p, a + "k", c, c, 1), v = conv(p, a + "v", c, c, 1), o = conv(p, a + "proj_out", c, c, 1);
        Attention attention = new Attention(norm(p, a + "norm", c), asMatrix(q, c), asMatrix(k, c), asMatrix(v, c), asMatrix(o, c));
        return new Middle(resnet(p, prefix + "block_1", c, c), attention, resnet(p, prefix + "block_2", c, c));
    }

    private static Conv asMatrix(Conv conv, int c) {
        return new Conv(conv.weight().reshape(c, c), conv.bias());
    }

    /**
     * Loads {@code dir}: {@code config.json} (see {@link AutoEncoderConfig#read}) and the weights (one
     * {@code .safetensors} file, or shards with an index) under the reference's key names.
     */
    public static AutoEncoder load(Path dir, Backend backend) {
        AutoEncoderConfig config = AutoEncoderConfig.read(dir);
        return create(config, new ModelParameters(SafeTensorsFolder.open(dir), backend), backend);
    }

    /**
     * An autoencoder from parameters under the reference's key names (e.g. renamed from a diffusers or ComfyUI
     * checkpoint). Every parameter is checked against the shape the config implies, with a one-line error naming
     * the key. The autoencoder owns {@code parameters} from here on: {@link #close} closes them, and so does a
     * failure here.
     */
    public static AutoEncoder create(AutoEncoderConfig config, ModelParameters parameters, Backend backend) {
        try {
            return new AutoEncoder(config, parameters, backend);
        } catch (RuntimeException | Error e) {
            parameters.close();
            throw e;
        }
    }

    public AutoEncoderConfig config() {
        return config;
    }

    /** Parameters in the checkpoint that the network does not use. */
    public List<String> unusedParameters() {
        return parameters.unused();
    }

    public String describe() {
        AutoEncoderConfig c = config;
        return "FLUX autoencoder: " + c.levels() + " levels of " + c.chMult().stream().map(m -> String.valueOf(c.ch() * m)).toList()
                + " channels, " + c.numResBlocks() + " residual blocks per level, " + c.zChannels() + " latent channels, factor "
                + c.downsamplingFactor() + ", scale " + c.scaleFactor() + ", shift " + c.shiftFactor() + ", " + encoderIn.weight().dtype()
                + " weights from " + parameters.describe();
    }

    // ---- memory --------------------------------------------------------------------------------------

    /**
     * Elements of the largest activation of an encode or decode of a {@code batch × height × width} image: per level
     * {@code i} (size {@code (H/2^i) × (W/2^i)}), the most channels a map of that size has, i.e. the largest of
     * {@code ch·ch_mult[i]}, its neighbours {@code ch·ch_mult[i ± 1]} (the encoder's downsampled input, the
     * decoder's input and upsampled map) and, at level 0, {@code ch}; at the last level also {@code 2·z}.
     */
    static long largestActivation(AutoEncoderConfig c, long batch, long height, long width) {
        long most = 0;
        for (int i = 0; i < c.levels(); i++) {
            long area = (height >> i) * (width >> i);
            long channels = c.channels(i);
            if (i > 0) {
                channels = Math.max(channels, c.channels(i - 1));
            } else {
                channels = Math.max(channels, c.ch());
            }
            if (i < c.levels() - 1) {
                channels = Math.max(channels, c.channels(i + 1));
            } else {
                channels = Math.max(channels, 2L * c.zChannels());
            }
            most = Math.max(most, saturatingProduct(batch, channels, area));
        }
        return most;
    }

    /**
     * Bytes of backend memory one {@link #encode} or {@link #decode} of a {@code batch × height × width} image
     * allocates (the larger of the two), its result included: {@value #BUFFERS} buffers of the
     * {@linkplain #largestActivation largest activation}, the middle attention's q, k and v
     * ({@code 3·B·C_last·(H/f)·(W/f)}) and the result ({@code B·max(z·(H/f)·(W/f), out_ch·H·W)}), all float32.
     * The weights are not counted.
     */
    public static long workspaceBytes(AutoEncoderConfig c, long batch, long height, long width) {
        int f = c.downsamplingFactor();
        long latentArea = (height / f) * (width / f);
        long attention = saturatingProduct(3 * batch, c.channels(c.levels() - 1), latentArea);
        long result = Math.max(saturatingProduct(batch, c.zChannels(), latentArea), saturatingProduct(batch, c.outChannels(), height * width));
        long elements = saturatingSum(saturatingProduct(BUFFERS, largestActivation(c, batch, height, width), 1), saturatingSum(attention, result));
        return elements > Long.MAX_VALUE / 4 ? Long.MAX_VALUE : elements * 4;
    }

    private static long saturatingProduct(long a, long b, long c) {
        if (a == 0 || b == 0 || c == 0) {
            return 0;
        }
        if (a > Long.MAX_VALUE / b || a * b > Long.MAX_VALUE / c) {
            return Long.MAX_VALUE;
        }
        return a * b * c;
    }

    private static long saturatingSum(long a, long b) {
        return a > Long.MAX_VALUE - b ? Long.MAX_VALUE : a + b;
    }

    /**
     * {@value #BUFFERS} buffers of the largest activation's size, each {@code [n, unit]} with {@code unit} the latent
     * area: every activation's size is a multiple of it, so an activation is the view of a buffer's first rows.
     */
    private final class Workspace implements AutoCloseable {
        private final Tensor[] buffers = new Tensor[BUFFERS];
        private final int unit;

        Workspace(int batch, int height, int width) {
            int f = config.downsamplingFactor();
            unit = (height / f) * (width / f);
            long rows = largestActivation(config, batch, height, width) / unit;
            if (rows > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("autoencoder: " + batch + " × " + height + " × " + width + " is too large for one call");
            }
            try {
                for (int i = 0; i < BUFFERS; i++) {
                    buffers[i] = backend.allocate(DType.F32, (int) rows, unit);
                }
            } catch (RuntimeException | Error e) {
                close();
                throw e;
            }
        }

        /** An activation of {@code shape} in buffer {@code i}. */
        Tensor view(int i, int... shape) {
            long n = 1;
            for (int d : shape) {
                n *= d;
            }
            if (n % unit != 0 || n / unit > buffers[i].dim(0)) {
                throw new IllegalStateException("autoencoder workspace: " + Arrays.toString(shape) + " does not fit " + buffers[i]);
            }
            return buffers[i].rows(0, (int) (n / unit)).reshape(shape);
        }

        @Override
        public void close() {
            for (Tensor t : buffers) {
                if (t != null) {
                    t.close();
                }
            }
        }
    }

    /** An activation {@code [b, c, h, w]} living in buffer {@code slot} of a workspace. */
    private record Map2d(int slot, int b, int c, int h, int w) {
        int[] shape() {
            return new int[] {b, c, h, w};
        }

        Map2d with(int newSlot, int channels, int height, int width) {
            return new Map2d(newSlot, b, channels, height, width);
        }
    }

    private static int other(int a) {
        return (a + 1) % BUFFERS;
    }

    private static int other(int a, int b) {
        for (int i = 0; i < BUFFERS; i++) {
            if (i != a && i != b) {
                return i;
            }
        }
        throw new IllegalStateException();
    }

    // ---- encode and decode ---------------------------------------------------------------------------

    /**
     * The latent of images {@code x [B, in_channels, H, W]} (float32, in {@code [-1, 1]}), {@code H} and {@code W}
     * multiples of the {@linkplain AutoEncoderConfig#downsamplingFactor() downsampling factor}: the distribution's
     * mean, scaled and shifted, {@code [B, z, H/f, W/f]} float32 in the backend's memory; the caller closes it.
     */
    public Tensor encode(Tensor x) {
        int f = config.downsamplingFactor();
        if (x.dtype() != DType.F32 || x.rank() != 4 || x.dim(0) < 1 || x.dim(1) != config.inChannels() || x.dim(2) < 1 || x.dim(3) < 1) {
            throw new IllegalArgumentException("autoencoder encode: x is " + x.dtype() + " " + Arrays.toString(x.shape()) + ", expected F32 [B, "
                    + config.inChannels() + ", H, W] (" + config.inChannels() + " image channels)");
        }
        int b = x.dim(0), height = x.dim(2), width = x.dim(3);
        if (height % f != 0 || width % f != 0) {
            throw new IllegalArgumentException("autoencoder encode: image size " + height + " × " + width + " is not a multiple of the downsampling "
                    + "factor " + f + " (2^(levels − 1)) in both directions");
        }
        Tensor mean = backend.allocate(DType.F32, b, config.zChannels(), height / f, width / f);
        try (Workspace ws = new Workspace(b, height, width)) {
            Map2d h = new Map2d(0, b, config.ch(), height, width);
            backend.conv2d(x, encoderIn.weight(), encoderIn.bias(), 1, SAME, ws.view(h.slot(), h.shape()));
            for (int i = 0; i < config.levels(); i++) {
                for (Resnet block : encoderBlocks.get(i)) {
                    h = resnet(ws, block, h, config.channels(i));
                }
                Conv down = downsamples.get(i);
                if (down != null) {
                    Map2d next = h.with(other(h.slot()), h.c(), h.h() / 2, h.w() / 2);
                    backend.conv2d(ws.view(h.slot(), h.shape()), down.weight(), down.bias(), 2, BOTTOM_RIGHT, ws.view(next.slot(), next.shape()));
                    h = next;
                }
            }
            h = middle(ws, encoderMiddle, h);
            int scratch = other(h.slot()); // output()'s normalized map, free afterwards
            Map2d moments = h.with(other(h.slot(), scratch), 2 * config.zChannels(), h.h(), h.w());
            output(ws, encoderNormOut, encoderOut, h, ws.view(moments.slot(), moments.shape()));
            Tensor logVariance = ws.view(scratch, b, config.zChannels(), h.h(), h.w());
            backend.split(ws.view(moments.slot(), moments.shape()), 1, List.of(mean, logVariance));
            backend.affine(mean, config.scaleFactor(), -config.scaleFactor() * config.shiftFactor(), mean);
            return mean;
        } catch (RuntimeException | Error e) {
            mean.close();
            throw e;
        }
    }

    /**
     * Images {@code [B, out_ch, f·h, f·w]} float32 from latents {@code z [B, z_channels, h, w]} (scaled and
     * shifted, as {@link #encode} returns them), in the backend's memory; the caller closes it.
     */
    public Tensor decode(Tensor z) {
        int f = config.downsamplingFactor();
        if (z.dtype() != DType.F32 || z.rank() != 4 || z.dim(0) < 1 || z.dim(1) != config.zChannels() || z.dim(2) < 1 || z.dim(3) < 1) {
            throw new IllegalArgumentException("autoencoder decode: z is " + z.dtype() + " " + Arrays.toString(z.shape()) + ", expected F32 [B, "
                    + config.zChannels() + ", h, w] (" + config.zChannels() + " latent channels)");
        }
        int b = z.dim(0);
        long height = (long) z.dim(2) * f, width = (long) z.dim(3) * f;
        if (height * width > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("autoencoder decode: a latent of " + z.dim(2) + " × " + z.dim(3) + " decodes to more than 2^31 pixels");
        }
        Tensor image = backend.allocate(DType.F32, b, config.outChannels(), (int) height, (int) width);
        try (Workspace ws = new Workspace(b, (int) height, (int) width)) {
            Map2d latent = new Map2d(0, b, config.zChannels(), z.dim(2), z.dim(3));
            Tensor unscaled = ws.view(latent.slot(), latent.shape());
            backend.affine(z, 1f / config.scaleFactor(), config.shiftFactor(), unscaled);
            Map2d h = latent.with(1, config.channels(config.levels() - 1), z.dim(2), z.dim(3));
            backend.conv2d(unscaled, decoderIn.weight(), decoderIn.bias(), 1, SAME, ws.view(h.slot(), h.shape()));
            h = middle(ws, decoderMiddle, h);
            for (int i = config.levels() - 1; i >= 0; i--) {
                for (Resnet block : decoderBlocks.get(i)) {
                    h = resnet(ws, block, h, config.channels(i));
                }
                Conv up = upsamples.get(i);
                if (up != null) {
                    Map2d big = h.with(other(h.slot()), h.c(), 2 * h.h(), 2 * h.w());
                    Map2d next = big.with(other(h.slot(), big.slot()), h.c(), big.h(), big.w());
                    backend.upsampleNearest2x(ws.view(h.slot(), h.shape()), ws.view(big.slot(), big.shape()));
                    backend.conv2d(ws.view(big.slot(), big.shape()), up.weight(), up.bias(), 1, SAME, ws.view(next.slot(), next.shape()));
                    h = next;
                }
            }
            output(ws, decoderNormOut, decoderOut, h, image);
            return image;
        } catch (RuntimeException | Error e) {
            image.close();
            throw e;
        }
    }

    /** A residual block on {@code x}; the result is in another buffer, {@code x}'s is free afterwards. */
    private Map2d resnet(Workspace ws, Resnet r, Map2d x, int outChannels) {
        int s1 = other(x.slot()), s2 = other(x.slot(), s1);
        Tensor in = ws.view(x.slot(), x.shape());
        Tensor t = ws.view(s1, x.shape());
        backend.groupNorm(in, config.normGroups(), r.norm1().weight(), r.norm1().bias(), eps, t);
        backend.silu(t, t);
        Map2d y = x.with(s2, outChannels, x.h(), x.w());
        Tensor u = ws.view(s2, y.shape());
        backend.conv2d(t, r.conv1().weight(), r.conv1().bias(), 1, SAME, u);
        backend.groupNorm(u, config.normGroups(), r.norm2().weight(), r.norm2().bias(), eps, u);
        backend.silu(u, u);
        Map2d out = y.with(s1, outChannels, x.h(), x.w());
        Tensor o = ws.view(s1, out.shape());
        backend.conv2d(u, r.conv2().weight(), r.conv2().bias(), 1, SAME, o);
        if (r.shortcut() != null) {
            backend.conv2d(in, r.shortcut().weight(), r.shortcut().bias(), 1, NONE, u);
            backend.add(u, o, o);
        } else {
            backend.add(in, o, o);
        }
        return out;
    }

    /** block_1, attn_1, block_2. */
    private Map2d middle(Workspace ws, Middle m, Map2d x) {
        Map2d h = resnet(ws, m.block1(), x, x.c());
        h = attention(ws, m.attention(), h);
        return resnet(ws, m.block2(), h, h.c());
    }

    /**
     * {@code x + proj_out(attention(q, k, v))} over the {@code h·w} pixels as tokens (one head of {@code C}
     * channels, scale {@code 1/√C}), q, k and v the 1×1 convolutions of {@code GroupNorm(x)}; the result replaces x.
     */
    private Map2d attention(Workspace ws, Attention a, Map2d x) {
        int b = x.b(), c = x.c(), tokens = x.h() * x.w();
        int s1 = other(x.slot()), s2 = other(x.slot(), s1);
        Tensor in = ws.view(x.slot(), x.shape());
        Tensor normed = ws.view(s1, x.shape());
        backend.groupNorm(in, config.normGroups(), a.norm().weight(), a.norm().bias(), eps, normed);
        Tensor seq = ws.view(s2, b, tokens, c);
        backend.permute(normed.reshape(b, c, tokens), new int[] {0, 2, 1}, seq);
        try (Tensor q = backend.allocate(DType.F32, b, 1, tokens, c);
             Tensor k = backend.allocate(DType.F32, b, 1, tokens, c);
             Tensor v = backend.allocate(DType.F32, b, 1, tokens, c)) {
            backend.linear(seq, a.q().weight(), a.q().bias(), q.reshape(b, tokens, c));
            backend.linear(seq, a.k().weight(), a.k().bias(), k.reshape(b, tokens, c));
            backend.linear(seq, a.v().weight(), a.v().bias(), v.reshape(b, tokens, c));
            Tensor attended = ws.view(s1, b, tokens, c);
            backend.attention(q, k, v, attended);
            backend.linear(attended, a.proj().weight(), a.proj().bias(), seq);
        }
        Tensor update = ws.view(s1, x.shape());
        backend.permute(seq, new int[] {0, 2, 1}, update.reshape(b, c, tokens));
        backend.add(in, update, in);
        return x;
    }

    /** norm_out, swish, conv_out of {@code h} into {@code out}. */
    private void output(Workspace ws, Norm norm, Conv conv, Map2d h, Tensor out) {
        int s = other(h.slot());
        Tensor in = ws.view(h.slot(), h.shape());
        Tensor t = ws.view(s, h.shape());
        backend.groupNorm(in, config.normGroups(), norm.weight(), norm.bias(), eps, t);
        backend.silu(t, t);
        backend.conv2d(t, conv.weight(), conv.bias(), 1, SAME, out);
    }

    /** Frees the parameters (device copies, widened vectors) and unmaps the files. */
    @Override
    public void close() {
        parameters.close();
    }
}
