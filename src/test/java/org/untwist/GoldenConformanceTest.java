package org.untwist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.backend.Backend;
import org.untwist.sampling.EulerSampler;
import org.untwist.sampling.FlowMatchSchedule;
import org.untwist.flux.FluxInputs;
import org.untwist.flux.FluxModel;
import org.untwist.io.SafeTensors;
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
}
