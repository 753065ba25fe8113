package org.untwist.sampling;

import java.util.SplittableRandom;
import org.untwist.tensor.Tensor;

/**
 * Standard-normal starting noise from a seed, the same on every JDK and platform (Box–Muller over
 * {@link SplittableRandom}, unlike {@code Random.nextGaussian}, whose algorithm a JDK may change).
 */
public final class GaussianNoise {
    private GaussianNoise() {
    }

    /** One standard-normal draw. */
    public static double next(SplittableRandom r) {
        double u1 = r.nextDouble(), u2 = r.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    }

    /** Fills elements {@code [offset, offset + count)} of {@code t} with noise from {@code seed}. */
    public static void fill(Tensor t, long offset, long count, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (long i = 0; i < count; i++) {
            t.set(offset + i, (float) next(r));
        }
    }
}
