package org.untwist.jmh;

import java.util.SplittableRandom;
import org.untwist.backend.Backend;
import org.untwist.backend.Backends;
import org.untwist.tensor.Tensor;

/** Inputs shared by the benchmarks: seeded random tensors and FLUX RoPE tables, so that peers see the same data. */
public final class BenchData {
    /** FLUX.1's RoPE axes for a head dimension of 128: (index, row, column). */
    public static final int[] FLUX_AXES = {16, 56, 56};
    /** FLUX.1's RoPE theta. */
    public static final double FLUX_THETA = 10_000;
    /** FLUX.1's head dimension. */
    public static final int HEAD_DIM = 128;
    /** Latent grid width of a 1024×1024 FLUX image (64×64 tokens); positions are laid out row by row. */
    public static final int GRID_WIDTH = 64;

    private BenchData() {
    }

    /** A float32 tensor of standard normal values from {@code seed} (the same seed gives the same tensor). */
    public static Tensor gaussian(long seed, int... shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        float[] values = new float[Math.toIntExact(n)];
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < values.length; i++) {
            // Box-Muller, cheaper than java.util.Random's nextGaussian for tens of millions of values
            double u = 1.0 - r.nextDouble(), w = r.nextDouble();
            values[i] = (float) (Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * w));
        }
        return Tensor.of(values, shape);
    }

    /**
     * The FLUX RoPE table {@code [1, 1, tokens, 64, 2, 2]} of image positions {@code (0, t / 64, t % 64)}, computed
     * by {@code backend} (outside any timed region).
     */
    public static Tensor fluxRopeTable(Backend backend, int tokens) {
        try (Tensor ids = Tensor.allocate(1, tokens, 3)) {
            for (int t = 0; t < tokens; t++) {
                ids.set(t * 3L + 1, t / GRID_WIDTH);
                ids.set(t * 3L + 2, t % GRID_WIDTH);
            }
            Tensor pe = Tensor.allocate(1, 1, tokens, HEAD_DIM / 2, 2, 2);
            backend.ropeTable(ids, FLUX_AXES, FLUX_THETA, pe);
            return pe;
        }
    }

    /** Parses {@code "scalar/1"}, {@code "vector/2"}: a backend name and its thread count. */
    public static Backend backend(String nameSlashThreads) {
        int slash = nameSlashThreads.indexOf('/');
        if (slash < 0) {
            throw new IllegalArgumentException("expected NAME/THREADS, got " + nameSlashThreads);
        }
        return Backends.create(nameSlashThreads.substring(0, slash), Integer.parseInt(nameSlashThreads.substring(slash + 1)));
    }

    /** Largest absolute difference of two float32 tensors of one size. */
    public static double maxAbsDiff(Tensor a, Tensor b) {
        if (a.numel() != b.numel()) {
            throw new IllegalArgumentException("sizes differ: " + a.numel() + " vs " + b.numel());
        }
        double m = 0;
        for (long i = 0; i < a.numel(); i++) {
            m = Math.max(m, Math.abs((double) a.get(i) - b.get(i)));
        }
        return m;
    }

    /** Largest absolute value of a float32 tensor. */
    public static double maxAbs(Tensor a) {
        double m = 0;
        for (long i = 0; i < a.numel(); i++) {
            m = Math.max(m, Math.abs(a.get(i)));
        }
        return m;
    }

    /** Closes every non-null tensor. */
    public static void closeAll(Tensor... tensors) {
        for (Tensor t : tensors) {
            if (t != null) {
                t.close();
            }
        }
    }
}
