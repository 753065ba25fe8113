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

    /**
     * Gaussian values times {@code scale} rounded to {@code dt}; random integers for the integer types; random valid
     * blocks of about that magnitude for the block-quantized types.
     */
    static Tensor random(Random r, float scale, DType dt, int... shape) {
        Tensor t = Tensor.allocate(dt, shape);
        if (dt.isBlockQuantized()) {
            randomBlocks(r, scale, t);
            return t;
        }
        for (long i = 0; i < t.numel(); i++) {
            if (dt.isFloatingPoint()) {
                t.set(i, (float) (r.nextGaussian() * scale));
            } else {
                t.setLong(i, r.nextLong() >> (dt == DType.I32 ? 33 : 1));
            }
        }
        return t;
    }

    /**
     * Random bytes with binary16 scales that make the values about {@code scale} in magnitude: Q8_0's d at the start of
     * each 34-byte block (values d·q, |q| ≤ 128), Q4_K's d and dmin at the start of each 144-byte super-block (values
     * d·sc·q − dmin·m with sc, m < 64 and q < 16).
     */
    static void randomBlocks(Random r, float scale, Tensor t) {
        java.lang.foreign.MemorySegment s = t.segment();
        for (long i = 0; i < s.byteSize(); i++) {
            s.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) r.nextInt());
        }
        java.lang.foreign.ValueLayout.OfShort half = java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
        boolean q8 = t.dtype() == DType.Q8_0;
        for (long b = 0; b < s.byteSize(); b += t.dtype().blockBytes()) {
            float d = (float) (scale * (0.5 + r.nextDouble()) / (q8 ? 128 : 63 * 15));
            s.set(half, b, Float.floatToFloat16(r.nextBoolean() || !q8 ? d : -d));
            if (!q8) {
                s.set(half, b + 2, Float.floatToFloat16((float) (scale * (0.5 + r.nextDouble()) / 63)));
            }
        }
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
