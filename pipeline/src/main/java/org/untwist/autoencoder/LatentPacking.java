package org.untwist.autoencoder;

import java.util.Arrays;
import org.untwist.backend.Backend;
import org.untwist.tensor.Tensor;

/**
 * FLUX's 2×2 latent packing, the reference's {@code flux.sampling.prepare} and {@code unpack}: a latent
 * {@code [B, C, H, W]} becomes transformer tokens {@code [B, (H/2)·(W/2), 4·C]} by
 * {@code b c (h ph) (w pw) -> b (h w) (c ph pw)} (tokens row by row; within a token the channel first, then the
 * row and the column inside the 2×2 patch), and back. Both are one {@link Backend#permute} on reshaped views.
 */
public final class LatentPacking {
    private LatentPacking() {
    }

    /** Tokens {@code [B, (H/2)·(W/2), 4·C]} of {@code latent [B, C, H, W]} (H, W even), allocated on the backend. */
    public static Tensor pack(Backend backend, Tensor latent) {
        int[] s = latentShape("pack", latent);
        Tensor tokens = backend.allocate(latent.dtype(), s[0], (s[2] / 2) * (s[3] / 2), 4 * s[1]);
        try {
            pack(backend, latent, tokens);
            return tokens;
        } catch (RuntimeException | Error e) {
            tokens.close();
            throw e;
        }
    }

    /** {@code tokens [B, (H/2)·(W/2), 4·C]} from {@code latent [B, C, H, W]}. */
    public static void pack(Backend backend, Tensor latent, Tensor tokens) {
        int[] s = latentShape("pack", latent);
        int b = s[0], c = s[1], h = s[2] / 2, w = s[3] / 2;
        if (!tokens.hasShape(b, h * w, 4 * c)) {
            throw new IllegalArgumentException("latent packing: tokens have shape " + Arrays.toString(tokens.shape()) + ", expected "
                    + Arrays.toString(new int[] {b, h * w, 4 * c}) + " for a latent " + Arrays.toString(latent.shape()));
        }
        backend.permute(latent.reshape(b, c, h, 2, w, 2), new int[] {0, 2, 4, 1, 3, 5}, tokens.reshape(b, h, w, c, 2, 2));
    }

    /** The latent {@code [B, C, height, width]} of {@code tokens [B, (height/2)·(width/2), 4·C]}, allocated on the backend. */
    public static Tensor unpack(Backend backend, Tensor tokens, int height, int width) {
        int[] s = tokenShape(tokens, height, width);
        Tensor latent = backend.allocate(tokens.dtype(), s[0], s[2] / 4, height, width);
        try {
            unpack(backend, tokens, latent);
            return latent;
        } catch (RuntimeException | Error e) {
            latent.close();
            throw e;
        }
    }

    /** {@code latent [B, C, H, W]} from {@code tokens [B, (H/2)·(W/2), 4·C]}: the inverse of {@link #pack}. */
    public static void unpack(Backend backend, Tensor tokens, Tensor latent) {
        int[] s = latentShape("unpack", latent);
        int b = s[0], c = s[1], h = s[2] / 2, w = s[3] / 2;
        tokenShape(tokens, s[2], s[3]);
        if (!tokens.hasShape(b, h * w, 4 * c)) {
            throw new IllegalArgumentException("latent packing: tokens have shape " + Arrays.toString(tokens.shape()) + ", expected "
                    + Arrays.toString(new int[] {b, h * w, 4 * c}) + " for a latent " + Arrays.toString(latent.shape()));
        }
        backend.permute(tokens.reshape(b, h, w, c, 2, 2), new int[] {0, 3, 1, 4, 2, 5}, latent.reshape(b, c, h, 2, w, 2));
    }

    private static int[] latentShape(String what, Tensor latent) {
        if (latent.rank() != 4 || latent.dim(2) % 2 != 0 || latent.dim(3) % 2 != 0) {
            throw new IllegalArgumentException("latent packing (" + what + "): the latent has shape " + Arrays.toString(latent.shape())
                    + ", expected [B, C, H, W] with H and W even (2×2 patches)");
        }
        return latent.shape();
    }

    private static int[] tokenShape(Tensor tokens, int height, int width) {
        if (tokens.rank() != 3 || height < 0 || width < 0 || height % 2 != 0 || width % 2 != 0
                || (long) (height / 2) * (width / 2) != tokens.dim(1) || tokens.dim(2) % 4 != 0) {
            throw new IllegalArgumentException("latent packing (unpack): tokens " + Arrays.toString(tokens.shape()) + " are not [B, (" + height
                    + "/2)·(" + width + "/2), 4·C] for a latent of " + height + " × " + width + " (both even)");
        }
        return tokens.shape();
    }
}
