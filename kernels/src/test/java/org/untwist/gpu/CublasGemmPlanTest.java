package org.untwist.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.untwist.tensor.DType;

/**
 * The host-side blocking of {@link CublasGemm}, without a device: weights that are widened to bf16 before their GEMM
 * (8-bit and block-quantized) go a block of output rows at a time through a scratch of {@code WIDEN_CHUNK_BYTES / 2}
 * bf16 values. Each block but the last must be a multiple of 8 rows, so that the next block's bias and output columns
 * start 16-byte aligned for a bf16 output (2 bytes a value) as for a float32 one; the blocks must fit the scratch and
 * cover every row. FLUX's shapes and awkward ones.
 */
class CublasGemmPlanTest {

    @Test
    void widenedWeightBlocksAreWholeMultiplesOfEightRowsThatFitTheScratch() {
        int[][] shapes = {{12288, 3072}, {21504, 3072}, {3072, 15360}, {18432, 3072}, {3072, 12288}, {7, 5}, {1, 1}, {100_003, 1001},
                {9, 4_000_000}, {40, 16_777_216}};
        long budget = CublasGemm.WIDEN_CHUNK_BYTES / 2; // bf16 values
        for (DType t : new DType[] {DType.F8_E4M3, DType.F8_E5M2, DType.Q8_0, DType.Q4_K}) {
            for (int[] s : shapes) {
                int outDim = s[0], in = s[1];
                int block = CublasGemm.blockRows(t, outDim, in);
                String what = t + " weights [" + outDim + ", " + in + "]: blocks of " + block + " rows";
                assertTrue(block >= 1 && block <= outDim, what);
                if (block < outDim) {
                    assertTrue((long) block * in <= budget || block == 1, what + " exceed the scratch of " + budget + " values");
                    if (budget / in >= 8) {
                        assertEquals(0, block % 8, what + ": not a multiple of 8 rows, so the next block's bf16 output starts misaligned");
                        assertEquals(0, (long) block * 2 % 16, what);
                    }
                }
            }
        }
        assertEquals(12288, CublasGemm.blockRows(DType.BF16, 12288, 3072), "bf16 weights are read where they are: one GEMM");
        assertEquals(10920, CublasGemm.blockRows(DType.F8_E4M3, 12288, 3072), "FLUX's mlpIn: 32 Mi values / 3072 = 10922, down to 10920");
    }
}
