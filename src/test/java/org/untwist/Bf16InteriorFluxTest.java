package org.untwist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.untwist.flux.FluxInputs;
import org.untwist.flux.FluxModel;
import org.untwist.io.SafeTensors;
import org.untwist.method.AttentionSharing;
import org.untwist.method.BlockSelection;
import org.untwist.method.SharingMode;
import org.untwist.pipeline.ComponentPaths;
import org.untwist.pipeline.FluxCheckpoint;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;
import org.untwist.vector.VectorBackend;

/**
 * FLUX's blocks keep their interior activations (normalized inputs, projections, heads, attention outputs, MLP hidden
 * layers) in the backend's {@link org.untwist.backend.Backend#roundedActivationType} when it is BF16 for every block
 * weight. The GPU answers BF16 in its bf16 precision; CI has no GPU, so a CPU stand-in here answers BF16 for BF16
 * weights and computes every operation on BF16 tensors by widening them to float32 and rounding the results once (what
 * the GPU's bf16 kernels compute; {@code GpuBf16ActivationsTest} checks those against the oracle on the device). The
 * golden tiny model with BF16 weights then runs plain, with untwisted shared attention, and with the modes that need
 * float32 heads (AdaIN, statistics), and must: take BF16 tensors in each operation that admits them (counted), stay
 * within bf16 rounding of the same backend's float32-interior forward (the difference's RMS within {@code 2⁻⁶} of the
 * output's: some 20 roundings of RMS {@code 2⁻⁹/√3} through four blocks give about {@code 0.005}; its largest element
 * within {@code 2⁻⁴}), and keep float32 heads where shared attention needs them.
 */
class Bf16InteriorFluxTest {
    /** RMS of the difference over RMS of the output: about 20 roundings (five per block, four blocks) of RMS {@code 2⁻⁹/√3}. */
    private static final double RMS_BOUND = 0x1p-6;
    /** The largest single difference, over RMS of the output. */
    private static final double MAX_BOUND = 0x1p-4;

    /** A CPU backend that takes BF16 activations where the GPU's bf16 precision does: widened in, rounded once out. */
    static final class RoundingBackend extends VectorBackend {
        final Map<String, Integer> bf16Calls = new TreeMap<>();

        RoundingBackend() {
            super(2);
        }

        @Override
        public DType roundedActivationType(DType weightType) {
            return weightType == DType.BF16 ? DType.BF16 : DType.F32;
        }

        @Override
        protected boolean takesBf16Activations() {
            return true;
        }

        @Override
        protected void linearKernel(Tensor x, Tensor w, Tensor bias, Tensor out, int rows, int in, int outDim) {
            try (Temps t = new Temps(this, "linear", x, out)) {
                super.linearKernel(t.in(x), w, bias, t.out(out), rows, in, outDim);
            }
        }

        @Override
        protected void linearGeluTanhKernel(Tensor x, Tensor w, Tensor bias, Tensor out, int rows, int in, int outDim) {
            try (Temps t = new Temps(this, "linearGeluTanh", x, out)) {
                super.linearGeluTanhKernel(t.in(x), w, bias, t.out(out), rows, in, outDim);
            }
        }

        @Override
        protected void linearConcatKernel(Tensor a, Tensor b, Tensor w, Tensor bias, Tensor out, int rows, int ka, int kb, int outDim) {
            try (Temps t = new Temps(this, "linearConcat", a, b, out)) {
                super.linearConcatKernel(t.in(a), t.in(b), w, bias, t.out(out), rows, ka, kb, outDim);
            }
        }

        @Override
        protected void splitQkvNormRopeKernel(Tensor qkv, Tensor qScale, Tensor kScale, float eps, Tensor pe, Tensor q, Tensor k, Tensor v,
                                              int tokenOffset, int b, int h, int l, int lTot, int d, int peBatch) {
            try (Temps t = new Temps(this, "splitQkvNormRope", qkv, q, k, v)) {
                super.splitQkvNormRopeKernel(t.in(qkv), qScale, kScale, eps, pe, t.out(q), t.out(k), t.out(v), tokenOffset, b, h, l, lTot, d, peBatch);
            }
        }

        @Override
        protected void layerNormModulateKernel(Tensor x, float eps, Tensor shift, Tensor scale, Tensor out, int batch, int tokens, int dim) {
            try (Temps t = new Temps(this, "layerNormModulate", out)) {
                super.layerNormModulateKernel(x, eps, shift, scale, t.out(out), batch, tokens, dim);
            }
        }

        @Override
        protected void attentionKernel(Tensor q, Tensor k, Tensor v, Tensor refK, Tensor refV, Tensor refKeyScale, Tensor out, int batch,
                                       int heads, int lq, int lk, int lr, int headDim, int refBatch, int refStart, int refTokens) {
            try (Temps t = new Temps(this, "attention", q, k, v, refK, refV, out)) {
                super.attentionKernel(t.in(q), t.in(k), t.in(v), t.in(refK), t.in(refV), refKeyScale, t.out(out), batch, heads, lq, lk, lr, headDim,
                        refBatch, refStart, refTokens);
            }
        }
    }

    /** Float32 copies of an operation's BF16 tensors; outputs rounded back on close (untouched values round-trip exactly). */
    private static final class Temps implements AutoCloseable {
        private final Map<Tensor, Tensor> copies = new LinkedHashMap<>();
        private final List<Tensor> outs = new ArrayList<>();

        Temps(RoundingBackend be, String op, Tensor... tensors) {
            boolean any = false;
            for (Tensor t : tensors) {
                if (t != null && t.dtype() == DType.BF16) {
                    copies.put(t, t.copy(DType.F32));
                    any = true;
                }
            }
            if (any) {
                be.bf16Calls.merge(op, 1, Integer::sum);
            }
        }

        Tensor in(Tensor t) {
            return t == null ? null : copies.getOrDefault(t, t);
        }

        Tensor out(Tensor t) {
            Tensor c = copies.get(t);
            if (c == null) {
                return t;
            }
            outs.add(t);
            return c;
        }

        @Override
        public void close() {
            for (Tensor t : outs) {
                t.copyFrom(copies.get(t));
            }
            copies.values().forEach(Tensor::close);
        }
    }

    @Test
    void blocksKeepTheirInteriorInBf16WhereTheBackendRoundsToIt(@TempDir Path tmp) throws Exception {
        Path folder = tmp.resolve("flux-tiny-bf16");
        Files.createDirectories(folder);
        Files.copy(TestSupport.tinyFlux().resolve("config.json"), folder.resolve("config.json"));
        Map<String, Tensor> converted = new LinkedHashMap<>();
        try (SafeTensors f32 = SafeTensors.open(TestSupport.tinyFlux().resolve("weights.safetensors"))) {
            for (String n : f32.names()) {
                converted.put(n, f32.tensor(n).copy(DType.BF16));
            }
            SafeTensors.write(folder.resolve("weights.safetensors"), converted, Map.of());
        } finally {
            converted.values().forEach(Tensor::close);
        }
        Path inputs = TestSupport.tinyFlux().resolve("inputs.safetensors");
        try (SafeTensors in = SafeTensors.open(inputs); SharedInputs pair = SharedInputs.pair(in, 2, 7);
             RoundingBackend rounding = new RoundingBackend(); VectorBackend plain = new VectorBackend(2);
             FluxModel compact = FluxModel.load(folder, rounding); FluxModel wide = FluxModel.load(folder, plain)) {
            FluxInputs one = GoldenConformanceTest.inputsOf(in), two = pair.inputs();
            BlockSelection all = BlockSelection.parse("all", compact.config().depth(), compact.config().depthSingleBlocks());
            assertEquals(DType.BF16, compact.interiorActivationType());
            assertEquals(DType.F32, wide.interiorActivationType());
            check("plain", compact, wide, one, null);
            for (String op : List.of("attention", "layerNormModulate", "linear", "linearConcat", "linearGeluTanh", "splitQkvNormRope")) {
                assertTrue(rounding.bf16Calls.getOrDefault(op, 0) > 0, op + " never saw a BF16 tensor: " + rounding.bf16Calls);
            }
            float[] untwisted = new float[compact.config().headDim() / 2];
            for (int p = 0; p < untwisted.length; p++) {
                untwisted[p] = 0.2f + 0.8f * p / (untwisted.length - 1f);
            }
            int before = rounding.bf16Calls.get("attention");
            check("untwisted shared attention", compact, wide, two, new AttentionSharing(SharingMode.UNTWISTED, all, untwisted, false, 0, null));
            assertTrue(rounding.bf16Calls.get("attention") > before, "shared attention ran on float32 heads");
            before = rounding.bf16Calls.get("splitQkvNormRope");
            check("StyleAligned AdaIN", compact, wide, two, new AttentionSharing(SharingMode.STYLE_ALIGNED, all, null, true, 0, null));
            assertEquals(before, rounding.bf16Calls.get("splitQkvNormRope"), "AdaIN needs float32 heads, got BF16 ones");
        }
    }

    /**
     * diffusers' layout: q, k and v come as three row blocks, each GEMM writing into a part buffer that is then joined; the
     * part buffers take the interior type too. The two layouts give the same bits in BF16 as they do in float32.
     */
    @Test
    void diffusersRowBlocksWriteBf16PartBuffers() {
        FluxCheckpoint d = FluxCheckpoint.open(EndToEndTest.DIFFUSERS, ComponentPaths.NONE);
        FluxCheckpoint s = FluxCheckpoint.open(FluxCheckpointTest.FLUX_FILE, ComponentPaths.NONE);
        try (RoundingBackend rounding = new RoundingBackend(); VectorBackend plain = new VectorBackend(2);
             FluxModel md = d.loadTransformer(rounding); FluxModel ms = s.loadTransformer(rounding); FluxModel wide = d.loadTransformer(plain)) {
            assertEquals(3, md.projectionParts());
            assertEquals(DType.BF16, md.interiorActivationType());
            float[] parts = FluxCheckpointTest.predict(md), single = FluxCheckpointTest.predict(ms), f32 = FluxCheckpointTest.predict(wide);
            assertTrue(java.util.Arrays.equals(parts, single), "diffusers' row blocks and the single file differ with BF16 interiors");
            assertWithinRounding("diffusers layout", Tensor.of(parts, parts.length), Tensor.of(f32, f32.length));
        }
    }

    private static void check(String what, FluxModel compact, FluxModel wide, FluxInputs in, AttentionSharing sharing) {
        int b = in.batch(), li = in.imageTokens(), c = compact.config().outChannels();
        try (Tensor got = Tensor.allocate(b, li, c); Tensor want = Tensor.allocate(b, li, c)) {
            compact.forward(in, got, sharing);
            wide.forward(in, want, sharing);
            assertWithinRounding(what, got, want);
        }
    }

    private static void assertWithinRounding(String what, Tensor got, Tensor want) {
        double rms = TestSupport.rms(want), max = TestSupport.maxAbsDiff(got, want), ss = 0;
        for (long i = 0; i < want.numel(); i++) {
            double d = got.get(i) - want.get(i);
            ss += d * d;
        }
        double rmsDiff = Math.sqrt(ss / Math.max(1, want.numel()));
        System.out.printf(Locale.ROOT, "%s: BF16 interior vs float32 interior, RMS of the difference %.3e, max |diff| %.3e (relative to the output's RMS"
                + " %.4f: %.3e and %.3e; bounds %.3e and %.3e)%n", what, rmsDiff, max, rms, rmsDiff / rms, max / rms, RMS_BOUND, MAX_BOUND);
        assertTrue(rmsDiff <= RMS_BOUND * rms && max <= MAX_BOUND * rms, what + ": BF16 interior differs from float32 interior: RMS " + rmsDiff
                + ", max " + max + " (output RMS " + rms + ")");
    }
}
