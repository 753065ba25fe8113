package org.untwist.vector;

import static org.untwist.vector.Simd.F;
import static org.untwist.vector.Simd.L;
import static org.untwist.vector.Simd.LE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import org.untwist.backend.TimestepFrequencies;
import org.untwist.tensor.Tensor;

/**
 * The sinusoidal timestep embedding {@code [cos(t·f_j) | sin(t·f_j)]} (a zero last column when {@code dim} is odd):
 * one small row per batch element, on the calling thread.
 */
final class VectorTimestepEmbedding {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private VectorTimestepEmbedding() {
    }

    static void embed(Tensor t, float timeFactor, double maxPeriod, Tensor out, int batch, int dim) {
        int half = dim / 2;
        float[] freqs = TimestepFrequencies.of(half, maxPeriod);
        MemorySegment ts = t.segment(), os = out.segment();
        int bound = F.loopBound(half);
        for (int b = 0; b < batch; b++) {
            float tt = timeFactor * ts.getAtIndex(F32, b);
            long row = (long) b * dim * 4;
            int j = 0;
            for (; j < bound; j += L) {
                FloatVector arg = FloatVector.fromArray(F, freqs, j).mul(tt);
                arg.lanewise(VectorOperators.COS).intoMemorySegment(os, row + 4L * j, LE);
                arg.lanewise(VectorOperators.SIN).intoMemorySegment(os, row + 4L * (half + j), LE);
            }
            for (; j < half; j++) {
                float arg = tt * freqs[j];
                os.set(F32, row + 4L * j, (float) Math.cos(arg));
                os.set(F32, row + 4L * (half + j), (float) Math.sin(arg));
            }
            if (dim % 2 != 0) {
                os.set(F32, row + 4L * (dim - 1), 0f);
            }
        }
    }
}
