package org.untwist.example.consumer;

import java.util.SplittableRandom;
import org.untwist.backend.Backend;
import org.untwist.backend.Backends;
import org.untwist.tensor.Tensor;

/**
 * The README's library example on a small grid: RoPE positions for a 16×16 image, rotary embedding of q and k,
 * then attention, on the best backend {@link Backends#create()} finds on the module path; the result is compared
 * with the scalar oracle. Exits with 1 if untwist was not loaded as named modules or the results disagree.
 */
public final class AttentionExample {
    private AttentionExample() {
    }

    public static void main(String[] args) {
        int side = 16, tokens = side * side, heads = 4, headDim = 128;
        long seed = 42;
        Module core = Backends.class.getModule();
        System.out.println("untwist core: " + (core.isNamed() ? "named module " + core.getName() : "class path (unnamed module)")
                + "; this program: " + AttentionExample.class.getModule());
        float[] out;
        float[] oracle;
        String backendModule;
        try (Backend best = Backends.create(); Backend scalar = Backends.create("scalar", 1)) {
            backendModule = best.getClass().getModule().getName();
            System.out.println("backend: " + best.describe() + " (from module " + backendModule + ")");
            out = ropeAttention(best, side, tokens, heads, headDim, seed);
            oracle = ropeAttention(scalar, side, tokens, heads, headDim, seed);
        }
        double worst = 0;
        for (int i = 0; i < out.length; i++) {
            worst = Math.max(worst, Math.abs(out[i] - oracle[i]));
        }
        // softmax-weighted means of values in [-1, 1]: float32 against the double-accumulating oracle
        double tolerance = 1e-5;
        System.out.printf("attention [1, %d, %d·%d], seed %d: max |backend - scalar oracle| = %.3g (tolerance %.0e)%n",
                tokens, heads, headDim, seed, worst, tolerance);
        boolean ok = core.isNamed() && !backendModule.equals(core.getName()) && worst <= tolerance;
        System.out.println(ok ? "ok: untwist ran from the module path" : "FAILED");
        System.exit(ok ? 0 : 1);
    }

    /** RoPE table of a side×side grid, q and k rotated in place, then attention; returns the output. */
    static float[] ropeAttention(Backend be, int side, int tokens, int heads, int headDim, long seed) {
        try (Tensor ids = Tensor.allocate(1, tokens, 3);                 // (0, row, col) per image token
             Tensor pe = Tensor.allocate(1, 1, tokens, headDim / 2, 2, 2);
             Tensor q = random(seed, 1, heads, tokens, headDim);
             Tensor k = random(seed + 1, 1, heads, tokens, headDim);
             Tensor v = random(seed + 2, 1, heads, tokens, headDim);
             Tensor out = Tensor.allocate(1, tokens, heads * headDim)) {
            for (int t = 0; t < tokens; t++) {
                ids.set(3L * t + 1, t / side);
                ids.set(3L * t + 2, t % side);
            }
            be.ropeTable(ids, new int[] {16, 56, 56}, 10_000, pe);       // FLUX's axes
            be.applyRope(q, pe, q);
            be.applyRope(k, pe, k);
            be.attention(q, k, v, out);                                  // softmax(q kᵀ/√d) v, heads merged
            return out.toFloatArray();
        }
    }

    private static Tensor random(long seed, int... shape) {
        Tensor t = Tensor.allocate(shape);
        SplittableRandom r = new SplittableRandom(seed);
        float[] values = new float[(int) t.numel()];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (2 * r.nextDouble() - 1);
        }
        t.copyFrom(values);
        return t;
    }
}
