package org.untwist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.backend.Backend;
import org.untwist.sampling.EulerSampler;
import org.untwist.sampling.FlowMatchSchedule;
import org.untwist.flux.FluxInputs;
import org.untwist.flux.FluxModel;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * Every backend reproduces the reference FLUX implementation's outputs for the golden tiny model
 * ({@code testdata/golden/flux-tiny-f32}, computed by black-forest-labs/flux on CPU in float32).
 * Tolerances are those the golden README states: {@code pe} 1e-6 absolute; {@code q_rope}, {@code k_rope},
 * {@code attention} 1e-5 absolute; {@code pred} and {@code denoised} 1e-4 of the tensor's RMS (max abs error).
 */
class GoldenConformanceTest {
    static final double PE_TOL = 1e-6, PROBE_TOL = 1e-5, MODEL_REL_TOL = 1e-4;

    static SafeTensors inputs, outputs;

    static List<String> backends() {
        return TestSupport.availableBackends();
    }

    @BeforeAll
    static void open() {
        inputs = SafeTensors.open(TestSupport.tinyFlux().resolve("inputs.safetensors"));
        outputs = SafeTensors.open(TestSupport.tinyFlux().resolve("outputs.safetensors"));
    }

    @AfterAll
    static void close() {
        inputs.close();
        outputs.close();
    }

    static FluxInputs modelInputs() {
        return inputsOf(inputs);
    }

    /** The golden model inputs of an opened {@code inputs.safetensors}. */
    static FluxInputs inputsOf(SafeTensors f) {
        return new FluxInputs(f.tensor("img"), f.tensor("img_ids"), f.tensor("txt"), f.tensor("txt_ids"),
                f.tensor("y"), f.tensor("timesteps"), f.tensor("guidance"));
    }

    private static void assertClose(String what, String backend, Tensor actual, Tensor expected, double tol) {
        double err = TestSupport.maxAbsDiff(actual, expected);
        assertTrue(err <= tol, what + " on backend " + backend + ": max |diff| = " + err + " > tolerance " + tol);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void ropeTableAndProbeAttention(String name) {
        Tensor ids = inputs.tensor("ids"), q = inputs.tensor("q"), k = inputs.tensor("k"), v = inputs.tensor("v");
        int b = q.dim(0), h = q.dim(1), l = q.dim(2), d = q.dim(3);
        try (Backend be = TestSupport.backend(name, 2);
             Tensor pe = Tensor.allocate(b, 1, l, d / 2, 2, 2);
             Tensor qr = Tensor.allocate(b, h, l, d);
             Tensor kr = Tensor.allocate(b, h, l, d);
             Tensor attn = Tensor.allocate(b, l, h * d)) {
            be.ropeTable(ids, new int[] {16, 24, 24}, 10_000, pe);
            assertClose("pe", name, pe, outputs.tensor("pe"), PE_TOL);
            be.applyRope(q, pe, qr);
            be.applyRope(k, pe, kr);
            assertClose("q_rope", name, qr, outputs.tensor("q_rope"), PROBE_TOL);
            assertClose("k_rope", name, kr, outputs.tensor("k_rope"), PROBE_TOL);
            be.attention(qr, kr, v, attn);
            assertClose("attention", name, attn, outputs.tensor("attention"), PROBE_TOL);
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void forwardPass(String name) throws Exception {
        try (Backend be = TestSupport.backend(name, 2);
             FluxModel model = FluxModel.load(TestSupport.tinyFlux(), be);
             Tensor pred = Tensor.allocate(1, 60, 16)) {
            model.forward(modelInputs(), pred);
            Tensor expected = outputs.tensor("pred");
            assertClose("pred", name, pred, expected, MODEL_REL_TOL * TestSupport.rms(expected));
            try (Tensor pe = model.positionTable(inputs.tensor("txt_ids"), inputs.tensor("img_ids"))) {
                assertClose("model pe", name, pe, outputs.tensor("pe"), PE_TOL);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void denoise(String name) throws Exception {
        JsonNode ref = new ObjectMapper().readTree(TestSupport.tinyFlux().resolve("schedule.json").toFile());
        JsonNode times = ref.get("timesteps");
        float[] expectedSchedule = new float[times.size()];
        for (int i = 0; i < expectedSchedule.length; i++) {
            expectedSchedule[i] = (float) times.get(i).asDouble();
        }
        float[] schedule = FlowMatchSchedule.timesteps(ref.get("num_steps").asInt(), ref.get("image_seq_len").asInt(), true);
        assertEquals(expectedSchedule.length, schedule.length, "schedule length");
        for (int i = 0; i < schedule.length; i++) {
            assertTrue(Math.abs(schedule[i] - expectedSchedule[i]) <= 1e-6,
                    "schedule[" + i + "] = " + schedule[i] + ", reference " + expectedSchedule[i]);
        }
        try (Backend be = TestSupport.backend(name, 2);
             FluxModel model = FluxModel.load(TestSupport.tinyFlux(), be);
             Tensor out = EulerSampler.denoise(model, modelInputs(), schedule, (float) ref.get("guidance").asDouble(), null)) {
            Tensor expected = outputs.tensor("denoised");
            assertClose("denoised", name, out, expected, MODEL_REL_TOL * TestSupport.rms(expected));
        }
    }

    /**
     * An fp8 {@code e5m2} FLUX checkpoint ({@code flux1-dev-fp8-e5m2} style): the golden tiny model with every weight
     * rounded to F8_E5M2 and written to a safetensors file loads through {@link SafeTensors#open} as F8_E5M2 (the
     * bytes PyTorch's rounding gives), and each backend's prediction with those weights matches the scalar oracle's
     * on the same e5m2 weights within the golden tolerance. The e5m2 prediction is finite and near the float32 one
     * (2 mantissa bits move it, so not within the golden tolerance).
     */
    @ParameterizedTest
    @MethodSource("backends")
    void e5m2WeightsLoadAndRun(String name, @TempDir Path tmp) throws Exception {
        Path folder = tmp.resolve("flux-tiny-e5m2");
        Files.createDirectories(folder);
        Files.copy(TestSupport.tinyFlux().resolve("config.json"), folder.resolve("config.json"));
        Map<String, Tensor> converted = new LinkedHashMap<>();
        try (SafeTensors f32 = SafeTensors.open(TestSupport.tinyFlux().resolve("weights.safetensors"))) {
            for (String n : f32.names()) {
                converted.put(n, f32.tensor(n).copy(DType.F8_E5M2));
            }
            SafeTensors.write(folder.resolve("weights.safetensors"), converted, Map.of());
            try (SafeTensors e5m2 = SafeTensors.open(folder.resolve("weights.safetensors"))) {
                assertEquals(f32.names(), e5m2.names());
                for (String n : f32.names()) {
                    Tensor w = e5m2.tensor(n), src = f32.tensor(n);
                    assertEquals(DType.F8_E5M2, w.dtype(), n);
                    for (long i = 0; i < src.numel(); i++) {
                        assertEquals(DType.floatToF8e5m2(src.get(i)), w.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, i), n + "[" + i + "]");
                    }
                }
            }
        } finally {
            converted.values().forEach(Tensor::close);
        }
        try (Backend oracle = TestSupport.backend("scalar", 1); Backend be = TestSupport.backend(name, 2);
             FluxModel ref = FluxModel.load(folder, oracle); FluxModel model = FluxModel.load(folder, be);
             Tensor want = Tensor.allocate(1, 60, 16); Tensor pred = Tensor.allocate(1, 60, 16)) {
            ref.forward(modelInputs(), want);
            model.forward(modelInputs(), pred);
            assertClose("e5m2 pred", name, pred, want, MODEL_REL_TOL * TestSupport.rms(want));
            Tensor golden = outputs.tensor("pred");
            double rel = TestSupport.maxAbsDiff(want, golden) / TestSupport.rms(golden);
            System.out.println(name + ": e5m2 weights move pred by " + rel + " of its RMS (max abs)");
            assertTrue(rel > MODEL_REL_TOL && rel < 0.5, "e5m2 pred vs float32 pred: max |diff| / RMS = " + rel);
        }
    }
}
