package org.untwist.gpu;

import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.untwist.backend.Backend;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/** What the device tests share: skipping without a GPU, seeded host data, host copies and error measures. */
final class DeviceTestTensors {
    private DeviceTestTensors() {
    }

    /** Skips the calling test class, with the provider's reason, when no GPU can run here; prints the seed otherwise. */
    static void needsADevice(String test, long seed) {
        String why = new GpuBackendProvider().unavailableReason();
        Assumptions.assumeTrue(why == null, "no GPU here: " + why);
        System.out.println(test + " seed " + seed);
    }

    /** Gaussian values times {@code scale} rounded to {@code dt}; random integers for the integer types. */
    static Tensor random(Random r, float scale, DType dt, int... shape) {
        Tensor t = Tensor.allocate(dt, shape);
        for (long i = 0; i < t.numel(); i++) {
            if (dt.isFloatingPoint()) {
                t.set(i, (float) (r.nextGaussian() * scale));
            } else {
                t.setLong(i, r.nextLong() >> (dt == DType.I32 ? 33 : 1));
            }
        }
        return t;
    }

    static double maxAbs(Tensor t) {
        double m = 0;
        for (long i = 0; i < t.numel(); i++) {
            m = Math.max(m, Math.abs(t.get(i)));
        }
        return m;
    }

    /** Largest elementwise |a − b|; infinite where either is NaN. */
    static double maxDiff(Tensor a, Tensor b) {
        double m = 0;
        for (long i = 0; i < a.numel(); i++) {
            double d = Math.abs((double) a.get(i) - b.get(i));
            m = Double.isNaN(d) ? Double.POSITIVE_INFINITY : Math.max(m, d);
        }
        return m;
    }

    /** The host copy of a device tensor. */
    static Tensor back(Backend be, Tensor d) {
        Tensor h = Tensor.allocate(d.dtype(), d.shape());
        be.copy(d, h);
        return h;
    }
}
