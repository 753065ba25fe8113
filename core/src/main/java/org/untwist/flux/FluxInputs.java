package org.untwist.flux;

import java.util.Arrays;
import org.untwist.tensor.Tensor;

/**
 * The inputs of one FLUX forward pass, named as in the reference's {@code Flux.forward}.
 *
 * @param img       {@code [B, Li, in_channels]} packed latent tokens
 * @param imgIds    {@code [B, Li, A]} positions, {@code (0, row, col)} for FLUX.1
 * @param txt       {@code [B, Lt, context_in_dim]} text tokens
 * @param txtIds    {@code [B, Lt, A]} positions (zeros for FLUX.1)
 * @param y         {@code [B, vec_in_dim]} pooled text vector
 * @param timesteps {@code [B]} flow time in [0, 1]
 * @param guidance  {@code [B]} guidance values; required when the model embeds guidance, else ignored
 */
public record FluxInputs(Tensor img, Tensor imgIds, Tensor txt, Tensor txtIds, Tensor y, Tensor timesteps, Tensor guidance) {

    /** Batch size. */
    public int batch() {
        return img.dim(0);
    }

    /** Number of image tokens. */
    public int imageTokens() {
        return img.dim(1);
    }

    /** Number of text tokens. */
    public int textTokens() {
        return txt.dim(1);
    }

    /** Columns of the image grid: one more than the largest column id (the last position axis). */
    public int gridColumns() {
        return gridExtent(1);
    }

    /** Rows of the image grid: one more than the largest row id (the second-to-last position axis); 1 with one axis. */
    public int gridRows() {
        return gridExtent(2);
    }

    private int gridExtent(int axisFromEnd) {
        int axes = imgIds.dim(2), li = imageTokens();
        if (axes < axisFromEnd) {
            return 1;
        }
        float max = 0;
        for (int t = 0; t < li; t++) {
            max = Math.max(max, imgIds.get((long) t * axes + axes - axisFromEnd));
        }
        return (int) max + 1;
    }

    /** A copy of these inputs with another image and time (the sampler's step). */
    public FluxInputs with(Tensor newImg, Tensor newTimesteps, Tensor newGuidance) {
        return new FluxInputs(newImg, imgIds, txt, txtIds, y, newTimesteps, newGuidance);
    }

    /**
     * Checks every shape against the config and against each other.
     *
     * @throws IllegalArgumentException naming the input at fault, its shape and the expected shape
     */
    public void validate(FluxConfig c) {
        require("img", img, 3);
        int b = img.dim(0), li = img.dim(1);
        expect("img", img, b, li, c.inChannels());
        require("txt", txt, 3);
        int lt = txt.dim(1);
        int axes = c.axesDim().length;
        expect("img_ids", imgIds, b, li, axes);
        expect("txt", txt, b, lt, c.contextInDim());
        expect("txt_ids", txtIds, b, lt, axes);
        expect("y", y, b, c.vecInDim());
        expect("timesteps", timesteps, b);
        if (c.guidanceEmbed()) {
            if (guidance == null) {
                throw new IllegalArgumentException("input 'guidance' is required: the model embeds guidance (guidance_embed = true)");
            }
            expect("guidance", guidance, b);
        }
        if (li == 0) {
            throw new IllegalArgumentException("input 'img' has no tokens");
        }
        requireFinite("timesteps", timesteps);
        if (c.guidanceEmbed()) {
            requireFinite("guidance", guidance);
        }
    }

    /** A NaN or infinite time or guidance would silently make every output NaN: refused (host tensors; a device tensor is not read). */
    private static void requireFinite(String name, Tensor t) {
        if (t.isDevice()) {
            return;
        }
        for (long i = 0; i < t.numel(); i++) {
            float v = t.get(i);
            if (!Float.isFinite(v)) {
                throw new IllegalArgumentException("input '" + name + "'[" + i + "] is " + v + ": must be finite");
            }
        }
    }

    private static void require(String name, Tensor t, int rank) {
        if (t == null) {
            throw new IllegalArgumentException("input '" + name + "' is missing");
        }
        if (t.rank() != rank) {
            throw new IllegalArgumentException("input '" + name + "' has shape " + Arrays.toString(t.shape()) + ", expected rank " + rank);
        }
    }

    private static void expect(String name, Tensor t, int... shape) {
        if (t == null) {
            throw new IllegalArgumentException("input '" + name + "' is missing");
        }
        if (!t.hasShape(shape)) {
            throw new IllegalArgumentException("input '" + name + "' has shape " + Arrays.toString(t.shape()) + ", expected "
                    + Arrays.toString(shape) + " (from the config and the other inputs)");
        }
        if (t.dtype() != org.untwist.tensor.DType.F32) {
            throw new IllegalArgumentException("input '" + name + "' must be F32, got " + t.dtype());
        }
    }
}
