package org.untwist.pipeline;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.untwist.autoencoder.AutoEncoder;
import org.untwist.autoencoder.LatentPacking;
import org.untwist.backend.Backend;
import org.untwist.flux.FluxConfig;
import org.untwist.flux.FluxInputs;
import org.untwist.flux.FluxModel;
import org.untwist.image.ImageFit;
import org.untwist.image.ImageTensors;
import org.untwist.method.SharingMode;
import org.untwist.method.SharingPlan;
import org.untwist.sampling.EulerSampler;
import org.untwist.sampling.GaussianNoise;
import org.untwist.sampling.StyleAlignedSampler;
import org.untwist.tensor.Tensor;
import org.untwist.text.PromptTokenizer;
import org.untwist.text.TextEncoder;
import org.untwist.text.TextEncoding;
import org.untwist.text.TokenLimits;

/**
 * Prompts (and a reference image) to images with a FLUX.1 checkpoint: the prompts through CLIP ({@code y}) and
 * T5 ({@code txt}), the reference through the autoencoder into packed latent tokens, style-aligned sampling with
 * the reference as batch element 0 noised along the schedule (or plain text-to-image without a reference), and
 * the targets decoded to images. Components are loaded one after the other and the text encoders closed before
 * the transformer is loaded, so that their weights and the transformer's are never resident on a device together.
 */
public final class PromptToImage {
    private PromptToImage() {
    }

    /** Pixels per latent token side for FLUX.1: the autoencoder's ×8 times the 2×2 packing. */
    public static final int SIZE_MULTIPLE = 16;

    /**
     * What to generate.
     *
     * @param prompts         one target per prompt
     * @param reference       the style reference image (any size: scaled to cover and centre-cropped), or null
     * @param referencePrompt the reference's own prompt (its text tokens take part in the shared attention)
     * @param width           output width, a multiple of the autoencoder's factor × 2 ({@value #SIZE_MULTIPLE} for FLUX.1)
     * @param height          output height, likewise
     * @param steps           sampling steps
     * @param guidance        the distilled guidance value (ignored by a model without guidance embedding)
     * @param seed            target {@code i} starts from noise of seed {@code seed + i}
     * @param referenceSeed   the noise the reference is noised with along the schedule
     * @param plan            how the reference's attention is shared; mode none without a reference
     */
    public record Request(List<String> prompts, BufferedImage reference, String referencePrompt, int width, int height, int steps,
                          float guidance, long seed, long referenceSeed, SharingPlan plan) {
        public Request {
            prompts = List.copyOf(prompts);
            if (prompts.isEmpty()) {
                throw new IllegalArgumentException("no prompt given");
            }
            if (width < 1 || height < 1) {
                throw new IllegalArgumentException("image size " + width + "×" + height + ": width and height must be positive");
            }
            if (reference == null && plan.mode() != SharingMode.NONE) {
                throw new IllegalArgumentException("mode " + plan.mode().name().toLowerCase(java.util.Locale.ROOT).replace('_', '-')
                        + " shares a reference's attention: give a reference image, or use mode none");
            }
        }
    }

    /** The decoded targets, one image per prompt, in order. */
    public static List<BufferedImage> generate(FluxCheckpoint checkpoint, Backend backend, Request request, EulerSampler.StepListener listener)
            throws IOException {
        return generate(checkpoint, backend, request, listener, new PhaseTimes());
    }

    /** As {@link #generate(FluxCheckpoint, Backend, Request, EulerSampler.StepListener)}, adding each phase's wall time to {@code times}. */
    public static List<BufferedImage> generate(FluxCheckpoint checkpoint, Backend backend, Request request, EulerSampler.StepListener listener,
                                               PhaseTimes times) throws IOException {
        try (Tensor decoded = generateDecoded(checkpoint, backend, request, listener, times)) {
            return ImageTensors.toImages(decoded);
        }
    }

    /**
     * The decoded targets as the autoencoder gives them, before clamping and 8-bit conversion: a host tensor
     * {@code [prompts, 3, height, width]} with values around [-1, 1], owned by the caller.
     */
    public static Tensor generateDecoded(FluxCheckpoint checkpoint, Backend backend, Request request, EulerSampler.StepListener listener)
            throws IOException {
        return generateDecoded(checkpoint, backend, request, listener, new PhaseTimes());
    }

    /** As {@link #generateDecoded(FluxCheckpoint, Backend, Request, EulerSampler.StepListener)}, adding each phase's wall time to {@code times}. */
    public static Tensor generateDecoded(FluxCheckpoint checkpoint, Backend backend, Request request, EulerSampler.StepListener listener,
                                         PhaseTimes times) throws IOException {
        FluxConfig fc = checkpoint.transformerConfig();
        boolean withReference = request.reference() != null;
        List<String> rowPrompts = new ArrayList<>();
        if (withReference) {
            rowPrompts.add(request.referencePrompt() == null ? "" : request.referencePrompt());
        }
        rowPrompts.addAll(request.prompts());
        int batch = rowPrompts.size();
        int multiple = sizeMultiple(checkpoint);
        if (request.width() % multiple != 0 || request.height() % multiple != 0) {
            throw new IllegalArgumentException("image size " + request.width() + "×" + request.height() + ": width and height must be multiples of "
                    + multiple + " (the autoencoder's ×" + multiple / 2 + " times the 2×2 latent packing)");
        }
        int gridH = request.height() / multiple, gridW = request.width() / multiple;
        int tokens = gridH * gridW;
        int factor = multiple / 2;

        int textLength = fc.guidanceEmbed() ? TokenLimits.T5_DEV : TokenLimits.T5_SCHNELL;
        try (Tensor txt = times.time("T5", () -> encodeT5(checkpoint, backend, rowPrompts, textLength));
             Tensor y = times.time("CLIP", () -> encodeClip(checkpoint, backend, rowPrompts));
             AutoEncoder ae = checkpoint.loadAutoencoder(backend);
             Tensor referenceTokens = withReference ? times.time("reference encoding", () -> referenceTokens(ae, backend, request)) : null;
             Tensor img = Tensor.allocate(batch, tokens, fc.inChannels());
             Tensor imgIds = Tensor.allocate(batch, tokens, 3);
             Tensor txtIds = Tensor.allocate(batch, txt.dim(1), 3);
             Tensor t = Tensor.allocate(batch);
             Tensor g = Tensor.allocate(batch)) {
            long per = (long) tokens * fc.inChannels();
            for (int e = 0; e < batch; e++) {
                long seed = withReference ? (e == 0 ? request.referenceSeed() : request.seed() + e - 1) : request.seed() + e;
                GaussianNoise.fill(img, e * per, per, seed);
                for (int r = 0; r < gridH; r++) { // FLUX's image positions (0, row, col); text tokens sit at 0
                    for (int c = 0; c < gridW; c++) {
                        long at = ((long) e * tokens + (long) r * gridW + c) * 3;
                        imgIds.set(at + 1, r);
                        imgIds.set(at + 2, c);
                    }
                }
            }
            FluxInputs inputs = new FluxInputs(img, imgIds, txt, txtIds, y, t, g);
            float[] schedule = checkpoint.defaults().schedule().timesteps(request.steps(), tokens);
            Tensor latents;
            try (FluxModel model = times.time("transformer loading", () -> checkpoint.loadTransformer(backend))) {
                inputs.validate(model.config());
                latents = times.time("sampling", () -> StyleAlignedSampler.generate(model, inputs, referenceTokens, schedule, request.guidance(),
                        request.plan(), null, listener));
            }
            try (latents) {
                int first = withReference ? 1 : 0;
                return times.time("decoding", () -> decode(ae, backend, latents.rows(first, batch - first), request.height() / factor,
                        request.width() / factor));
            }
        }
    }

    /** Pixels per latent token side: the autoencoder's downsampling factor times the 2×2 packing (16 for FLUX.1). */
    public static int sizeMultiple(FluxCheckpoint checkpoint) {
        return 2 * checkpoint.autoencoderConfig().downsamplingFactor();
    }

    /** T5's last hidden state for every row, as a host tensor {@code [B, L, d]}; the encoder is closed afterwards. */
    private static Tensor encodeT5(FluxCheckpoint checkpoint, Backend backend, List<String> prompts, int length) throws IOException {
        PromptTokenizer tokenizer = checkpoint.t5Tokenizer();
        int[][] ids = new int[prompts.size()][];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = tokenizer.encode(prompts.get(i), length);
        }
        try (TextEncoder t5 = checkpoint.loadT5(backend); TextEncoding e = t5.encode(ids)) {
            return toHost(backend, e.lastHiddenState());
        }
    }

    /** CLIP's pooled output for every row, as a host tensor {@code [B, width]}. */
    private static Tensor encodeClip(FluxCheckpoint checkpoint, Backend backend, List<String> prompts) throws IOException {
        PromptTokenizer tokenizer = checkpoint.clipTokenizer();
        try (TextEncoder clip = checkpoint.loadClip(backend)) {
            int length = Math.min(tokenizer.defaultLength(), clip.maxTokens());
            int[][] ids = new int[prompts.size()][];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = tokenizer.encode(prompts.get(i), length);
            }
            try (TextEncoding e = clip.encode(ids)) {
                return toHost(backend, e.pooled());
            }
        }
    }

    /** The reference image fitted to the output size, encoded and packed: {@code [1, tokens, 4·z]} on the host. */
    private static Tensor referenceTokens(AutoEncoder ae, Backend backend, Request request) {
        BufferedImage fitted = ImageFit.coverAndCrop(request.reference(), request.width(), request.height());
        try (Tensor x = ImageTensors.toTensor(fitted); Tensor z = ae.encode(x); Tensor packed = LatentPacking.pack(backend, z)) {
            return toHost(backend, packed);
        }
    }

    private static Tensor decode(AutoEncoder ae, Backend backend, Tensor tokens, int latentH, int latentW) {
        try (Tensor z = LatentPacking.unpack(backend, tokens, latentH, latentW); Tensor x = ae.decode(z)) {
            return toHost(backend, x);
        }
    }

    private static Tensor toHost(Backend backend, Tensor t) {
        Tensor host = Tensor.allocate(t.shape());
        backend.copy(t, host);
        return host;
    }
}
