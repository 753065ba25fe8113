package org.untwist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.backend.Backend;
import org.untwist.sampling.FlowMatchSchedule;
import org.untwist.flux.FluxInputs;
import org.untwist.flux.FluxModel;
import org.untwist.io.SafeTensors;
import org.untwist.method.AttentionStats;
import org.untwist.method.Axis0;
import org.untwist.method.BandScale;
import org.untwist.method.BlockSelection;
import org.untwist.method.ChunkMapping;
import org.untwist.method.SharingMode;
import org.untwist.method.SharingPlan;
import org.untwist.sampling.StyleAlignedSampler;
import org.untwist.tensor.Tensor;

/**
 * The method's properties (issue "the method"), on every backend: the fused shared-attention kernel equals
 * attention over explicitly concatenated, explicitly scaled keys; s ≡ 1 is plain shared attention; a uniform
 * s is a uniformly scaled key set; an empty reference is plain attention and, through the whole model, still
 * gives the golden outputs; the band vector follows its formula; bad knobs are rejected.
 * Attention tolerance: 1e-5 absolute on O(1) inputs (float kernels vs. the double oracle, 64-wide dots).
 */
class MethodPropertiesTest {
    static final double ATTN_TOL = 1e-5;

    static List<String> backends() {
        return TestSupport.availableBackends();
    }

    private static Tensor random(Random r, int... shape) {
        Tensor t = Tensor.allocate(shape);
        for (long i = 0; i < t.numel(); i++) {
            t.set(i, (float) r.nextGaussian());
        }
        return t;
    }

    /** Keys [own ; scale ⊙ ref[refStart:]] written out explicitly, per batch element. */
    private static Tensor concatScaled(Tensor own, Tensor ref, int refStart, float[] chunkScale) {
        int b = own.dim(0), h = own.dim(1), lk = own.dim(2), d = own.dim(3), lr = ref.dim(2) - refStart;
        Tensor out = Tensor.allocate(b, h, lk + lr, d);
        for (int bi = 0; bi < b; bi++) {
            int rb = ref.dim(0) == 1 ? 0 : bi;
            for (int hi = 0; hi < h; hi++) {
                for (int t = 0; t < lk + lr; t++) {
                    for (int e = 0; e < d; e++) {
                        float v = t < lk ? own.get((((long) bi * h + hi) * lk + t) * d + e)
                                : ref.get((((long) rb * h + hi) * ref.dim(2) + refStart + t - lk) * d + e)
                                * (chunkScale == null ? 1f : chunkScale[e / 2]);
                        out.set((((long) bi * h + hi) * (lk + lr) + t) * d + e, v);
                    }
                }
            }
        }
        return out;
    }

    @ParameterizedTest
    @MethodSource("backends")
    void fusedSharedAttentionEqualsExplicitConcatenation(String name) {
        long seed = 20261129L;
        Random r = new Random(seed);
        int b = 2, h = 3, lq = 13, lk = 13, lrTotal = 21, refStart = 5, d = 64;
        float[] scale = BandScale.of(0.4, 1.5, 2).chunkScales(new int[] {16, 24, 24});
        float[] uniform = new float[d / 2];
        java.util.Arrays.fill(uniform, 0.7f);
        try (Backend be = TestSupport.backend(name, 2);
             Tensor q = random(r, b, h, lq, d); Tensor k = random(r, b, h, lk, d); Tensor v = random(r, b, h, lk, d);
             Tensor rk = random(r, 1, h, lrTotal, d); Tensor rv = random(r, 1, h, lrTotal, d);
             Tensor fused = Tensor.allocate(b, lq, h * d); Tensor explicit = Tensor.allocate(b, lq, h * d)) {
            for (float[] s : new float[][] {null, scale, uniform}) {
                try (Tensor st = s == null ? null : Tensor.of(s, d / 2);
                     Tensor kk = concatScaled(k, rk, refStart, s); Tensor vv = concatScaled(v, rv, refStart, null)) {
                    be.sharedAttention(q, k, v, rk, rv, refStart, st, fused);
                    be.attention(q, kk, vv, explicit);
                    double err = TestSupport.maxAbsDiff(fused, explicit);
                    assertTrue(err <= ATTN_TOL, name + " seed " + seed + " scale " + (s == null ? "1" : s[0] + ".." + s[s.length - 1])
                            + ": fused vs explicit max |diff| " + err);
                }
            }
            // s ≡ 1 given as a tensor of ones is plain shared attention (scale null).
            float[] ones = new float[d / 2];
            java.util.Arrays.fill(ones, 1f);
            try (Tensor st = Tensor.of(ones, d / 2); Tensor plain = Tensor.allocate(b, lq, h * d)) {
                be.sharedAttention(q, k, v, rk, rv, refStart, null, plain);
                be.sharedAttention(q, k, v, rk, rv, refStart, st, fused);
                assertTrue(TestSupport.maxAbsDiff(fused, plain) <= ATTN_TOL, name + ": s ≡ 1 differs from plain sharing");
            }
            // An empty reference range is plain attention.
            be.sharedAttention(q, k, v, rk, rv, lrTotal, Tensor.of(scale, d / 2), fused);
            be.attention(q, k, v, explicit);
            assertTrue(TestSupport.maxAbsDiff(fused, explicit) <= ATTN_TOL, name + ": empty reference differs from attention");
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void emptyReferenceThroughTheWholeModelStillMatchesGolden(String name) throws Exception {
        // Every attention of the golden forward pass goes through the fused shared kernel with an empty reference.
        try (Backend inner = TestSupport.backend(name, 2);
             Backend be = new EmptyReferenceBackend(inner);
             FluxModel model = FluxModel.load(TestSupport.tinyFlux(), be);
             SafeTensors in = SafeTensors.open(TestSupport.tinyFlux().resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(TestSupport.tinyFlux().resolve("outputs.safetensors"));
             Tensor pred = Tensor.allocate(1, 60, 16)) {
            model.forward(GoldenConformanceTest.inputsOf(in), pred);
            Tensor expected = out.tensor("pred");
            double err = TestSupport.maxAbsDiff(pred, expected);
            assertTrue(err <= GoldenConformanceTest.MODEL_REL_TOL * TestSupport.rms(expected), name + ": pred max |diff| " + err);
            assertTrue(((EmptyReferenceBackend) be).calls > 0, "the shared kernel was used");
        }
    }

    @Test
    void bandVectorFollowsTheFormula() {
        double sHf = 0.4, sLf = 1.5, beta = 2;
        int[] axes = {16, 56, 56};
        float[] s = BandScale.of(sHf, sLf, beta).chunkScales(axes);
        assertEquals(64, s.length);
        for (int p = 0; p < 8; p++) {
            assertEquals(sLf, s[p], 1e-6, "axis 0 held at s_lf");
        }
        for (int axis = 1; axis <= 2; axis++) {
            int base = 8 + 28 * (axis - 1);
            assertEquals(sHf, s[base], 1e-6, "d̃ = 0 gives s_hf");
            assertEquals(sLf, s[base + 27], 1e-6, "d̃ = 1 gives s_lf");
            for (int j = 0; j < 28; j++) {
                double dt = j / 27.0;
                assertEquals(sHf + (sLf - sHf) * Math.pow(dt, beta), s[base + j], 1e-6, "chunk " + (base + j));
            }
        }
        float[] one = new BandScale(sHf, sLf, beta, ChunkMapping.PER_AXIS, Axis0.ONE).chunkScales(axes);
        assertEquals(1f, one[0]);
        float[] global = new BandScale(sHf, sLf, beta, ChunkMapping.GLOBAL, Axis0.LOW).chunkScales(axes);
        assertEquals(sHf, global[0], 1e-6);
        assertEquals(sLf, global[63], 1e-6);
        assertEquals(sHf + (sLf - sHf) * Math.pow(36 / 63.0, beta), global[36], 1e-6);
        BandScale mid = BandScale.lerp(BandScale.of(0.4, 1.0, 2), BandScale.of(0.8, 1.5, 2), 0.5);
        assertEquals(0.6, mid.sHf(), 1e-12);
        assertEquals(1.25, mid.sLf(), 1e-12);
    }

    @Test
    void badKnobsAreRejected() throws Exception {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> BandScale.of(-0.1, 1, 2)).getMessage().contains("s_hf"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> BandScale.of(0.5, -1, 2)).getMessage().contains("s_lf"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> BandScale.of(0.5, 1, 0)).getMessage().contains("beta"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> BlockSelection.parse("d0-5", 2, 2)).getMessage().contains("out of range"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> BlockSelection.parse("x1", 2, 2)).getMessage().contains("x1"));
        try (Backend be = TestSupport.backend("scalar", 1);
             FluxModel model = FluxModel.load(TestSupport.tinyFlux(), be);
             SafeTensors in = SafeTensors.open(TestSupport.tinyFlux().resolve("inputs.safetensors"));
             Tensor wrongGrid = Tensor.allocate(1, 48, 16)) {
            SharedInputs pairOwner = SharedInputs.pair(in, 2, 7L);
            FluxInputs pair = pairOwner.inputs();
            float[] sched = FlowMatchSchedule.timesteps(2, 60, true);
            var e = assertThrows(IllegalArgumentException.class, () -> StyleAlignedSampler.generate(model, pair, wrongGrid, sched, 3.5f,
                    SharingPlan.defaults(SharingMode.UNTWISTED), null, null));
            assertTrue(e.getMessage().contains("grid"), e.getMessage());
            var e2 = assertThrows(IllegalArgumentException.class, () -> StyleAlignedSampler.generate(model, pair, null, sched, 3.5f,
                    new SharingPlan(SharingMode.UNTWISTED, BandScale.of(0.4, 1, 2), BandScale.of(0.8, 1.5, 2), 1, "s7", 0, -1), null, null));
            assertTrue(e2.getMessage().contains("s7"), e2.getMessage());
            pairOwner.close();
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void attenuatingHighFrequenciesBreaksPositionalAlignment(String name) {
        // The copying mechanism in isolation (PAPER.md §3): target queries and reference keys carry the same
        // content and sit on the same 6×10 grid, so plain sharing puts the reference attention on the aligned
        // token (RoPE's Δ = 0 bonus). Scaling the high-frequency chunks down must lower the aligned mass.
        int rows = 6, cols = 10, li = rows * cols, h = 2, d = 64;
        int[] axes = {16, 24, 24};
        long seed = 77L;
        Random r = new Random(seed);
        float[] content = new float[d];
        for (int e = 0; e < d; e++) {
            content[e] = (float) (6.0 * r.nextGaussian()); // large enough for a sharp softmax at head dim 64
        }
        float[] gridRows = new float[li], gridCols = new float[li];
        try (Backend be = TestSupport.backend(name, 2);
             Tensor ids = Tensor.allocate(1, li, 3); Tensor pe = Tensor.allocate(1, 1, li, d / 2, 2, 2);
             Tensor x = Tensor.allocate(1, h, li, d); Tensor probs = Tensor.allocate(1, h, li, 2 * li)) {
            for (int t = 0; t < li; t++) {
                gridRows[t] = t / cols;
                gridCols[t] = t % cols;
                ids.set(3L * t + 1, gridRows[t]);
                ids.set(3L * t + 2, gridCols[t]);
                for (int hh = 0; hh < h; hh++) {
                    for (int e = 0; e < d; e++) {
                        x.set(((long) hh * li + t) * d + e, content[e]);
                    }
                }
            }
            be.ropeTable(ids, axes, 10_000, pe);
            be.applyRope(x, pe, x); // q = own k = reference k: identical content, rotated by position
            double[] mass = new double[3];
            float[][] scales = {null, BandScale.of(0.5, 1.0, 2).chunkScales(axes), BandScale.of(0.0, 1.0, 2).chunkScales(axes)};
            for (int c = 0; c < scales.length; c++) {
                AttentionStats stats = new AttentionStats(0.0);
                try (Tensor st = scales[c] == null ? null : Tensor.of(scales[c], d / 2)) {
                    be.attentionProbs(x, x, x, 0, st, probs);
                }
                stats.record("probe", probs, 0, gridRows, gridCols);
                mass[c] = stats.entries().getFirst().meanAlignedMass();
            }
            assertTrue(mass[0] > 0.5, name + " seed " + seed + ": plain sharing should copy (aligned mass " + mass[0] + ")");
            assertTrue(mass[1] < mass[0] && mass[2] < mass[1], name + " seed " + seed + ": aligned mass full " + mass[0] + ", s_hf 0.5 "
                    + mass[1] + ", s_hf 0 " + mass[2] + " should decrease");
        }
    }

}
