package org.untwist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.backend.Backend;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.Tensor;
import org.untwist.text.TextEncoder;
import org.untwist.text.TextEncoding;

/**
 * The text encoders against transformers' {@code T5EncoderModel} and {@code CLIPTextModel} on every backend:
 * the golden cases ({@code testdata/golden/t5-tiny-f32}, {@code clip-tiny-f32}, made by the reference code's
 * owners) and the project's own cases in {@code testdata/text-encoders} (made by
 * {@code pipeline/src/test/python/make_encoder_cases.py}: BF16, F16 and F8_E4M3 weights, batch 2 and 3, other
 * widths, depths, head counts and vocabularies, sharded checkpoints, CLIP's non-legacy end token). Tolerance:
 * 1e-4 of each output's RMS (max abs error), as the golden README states for float32.
 */
class TextEncoderGoldenTest {
    static final double REL_TOL = 1e-4;

    static List<Arguments> cases() {
        List<Path> folders = List.of(TestSupport.goldenRoot().resolve("t5-tiny-f32"), TestSupport.goldenRoot().resolve("clip-tiny-f32"),
                encoderCases().resolve("t5-wide-bf16"), encoderCases().resolve("t5-fp8-sharded"), encoderCases().resolve("clip-wide-bf16"),
                encoderCases().resolve("clip-eos-f16-sharded"));
        List<Arguments> args = new ArrayList<>();
        for (String backend : TestSupport.availableBackends()) {
            for (Path f : folders) {
                args.add(Arguments.of(backend, f.getFileName().toString(), f));
            }
        }
        return args;
    }

    static Path encoderCases() {
        return TestSupport.goldenRoot().getParent().resolve("text-encoders");
    }

    /** input_ids [B, L] of a case, as int rows. */
    static int[][] inputIds(Path folder) {
        try (SafeTensors in = SafeTensors.open(folder.resolve("inputs.safetensors"))) {
            Tensor t = in.tensor("input_ids");
            int[][] ids = new int[t.dim(0)][t.dim(1)];
            for (int b = 0; b < ids.length; b++) {
                for (int l = 0; l < ids[b].length; l++) {
                    ids[b][l] = Math.toIntExact(t.getLong((long) b * ids[b].length + l));
                }
            }
            return ids;
        }
    }

    @ParameterizedTest(name = "{1} on {0}")
    @MethodSource("cases")
    void matchesTransformers(String backend, String name, Path folder) {
        int[][] ids = inputIds(folder);
        try (Backend be = TestSupport.backend(backend, 2);
             TextEncoder encoder = TextEncoder.load(folder, be);
             SafeTensors expected = SafeTensors.open(folder.resolve("outputs.safetensors"));
             TextEncoding out = encoder.encode(ids)) {
            check(name + " last_hidden_state on " + backend, be, out.lastHiddenState(), expected.tensor("last_hidden_state"));
            if (expected.contains("pooler_output")) {
                assertNotNull(out.pooled(), name + ": no pooled output");
                check(name + " pooler_output on " + backend, be, out.pooled(), expected.tensor("pooler_output"));
            } else {
                assertNull(out.pooled(), name + ": T5 has no pooled output");
            }
        }
    }

    private static void check(String what, Backend be, Tensor actual, Tensor expected) {
        try (Tensor host = Tensor.allocate(actual.shape())) {
            be.copy(actual, host);
            double rms = TestSupport.rms(expected);
            double err = TestSupport.maxAbsDiff(host, expected);
            assertTrue(rms > 0.1, what + ": reference RMS " + rms + " is too small to compare against");
            assertTrue(err <= REL_TOL * rms, what + ": max |diff| = " + err + " > " + REL_TOL + " × RMS " + rms);
            assertEquals(expected.numel(), host.numel());
        }
    }
}
