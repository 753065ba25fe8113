package org.untwist.vector;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import org.untwist.backend.TimestepFrequencies;
import org.untwist.tensor.Tensor;

/**
 * The sinusoidal timestep embedding {@code [cos(t·f_j) | sin(t·f_j)]} (a zero last column when {@code dim} is odd):
 * one small row per batch element, on the calling thread, with scalar {@code Math.cos}/{@code Math.sin} as the scalar
 * oracle (the Vector API's {@code COS}/{@code SIN} give other last bits once C2 compiles them).
 */
final class VectorTimestepEmbedding {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private VectorTimestepEmbedding() {
    }

    static void embed(Tensor t, float timeFactor, double maxPeriod, Tensor out, int batch, int dim) {
        int half = dim / 2;
        float[] freqs = TimestepFrequencies.of(half, maxPeriod);
        MemorySegment ts = t.segment(), os = out.segment();
        for (int b = 0; b < batch; b++) {
            float tt = timeFactor * ts.getAtIndex(F32, b);
            long row = (long) b * dim * 4;
            for (int j = 0; j < half; j++) {
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
