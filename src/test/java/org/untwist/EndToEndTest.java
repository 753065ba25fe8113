package org.untwist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.untwist.backend.Backend;
import org.untwist.image.ImageFiles;
import org.untwist.io.SafeTensors;
import org.untwist.method.SharingMode;
import org.untwist.method.SharingPlan;
import org.untwist.pipeline.ComponentPaths;
import org.untwist.pipeline.FluxCheckpoint;
import org.untwist.pipeline.PromptToImage;
import org.untwist.sampling.GaussianNoise;
import org.untwist.tensor.Tensor;

/**
 * Prompt to image end to end against a PyTorch reference (pipeline/src/test/python/reference_pipeline.py, which
 * writes testdata/e2e/expected.safetensors): the tiny random pipeline testdata/flux-pipeline-tiny, one target and
 * the reference image testdata/e2e/reference.png, tokenized, encoded, sampled with the reference re-noised along
 * the schedule (modes none and full) and decoded. The reference computation reads the starting noise that
 * {@link GaussianNoise} makes for the seeds below from testdata/e2e/noise.safetensors; this test checks that file
 * against the Java noise bit for bit ({@code -Duntwist.e2e.writeNoise=true} rewrites it).
 */
class EndToEndTest {
    static final Path ROOT = TestSupport.tinyFlux().getParent().getParent();
    static final Path DIFFUSERS = ROOT.resolve("flux-pipeline-tiny"), SINGLE = ROOT.resolve("flux-pipeline-tiny-single");
    static final Path CASE = ROOT.resolve("e2e");

    // The case; reference_pipeline.py has the same values and stores them in expected.safetensors' metadata.
    static final String PROMPT = "a watercolor painting of a mountain lake at sunrise";
    static final String REFERENCE_PROMPT = "a photo of a cat sitting on a red chair";
    static final int WIDTH = 64, HEIGHT = 48, STEPS = 2;
    static final float GUIDANCE = 3.5f;
    static final long SEED = 7, REFERENCE_SEED = 11;
    /** The bar: max |difference| within this fraction of the expected output's RMS. */
    static final double TOLERANCE = 1e-3;

    @Test
    void noiseFileIsTheJavaNoise() throws IOException {
        FluxCheckpoint c = FluxCheckpoint.open(DIFFUSERS, ComponentPaths.NONE);
        int multiple = PromptToImage.sizeMultiple(c), tokens = (WIDTH / multiple) * (HEIGHT / multiple);
        int channels = c.transformerConfig().inChannels();
        try (Tensor noise = Tensor.allocate(2, tokens, channels)) {
            long per = (long) tokens * channels;
            GaussianNoise.fill(noise, 0, per, REFERENCE_SEED); // row 0: the reference
            GaussianNoise.fill(noise, per, per, SEED); // row 1: the target
            Path file = CASE.resolve("noise.safetensors");
            if (Boolean.getBoolean("untwist.e2e.writeNoise")) {
                Files.createDirectories(CASE);
                SafeTensors.write(file, Map.of("noise", noise), Map.of("seeds", REFERENCE_SEED + "," + SEED));
            }
            try (SafeTensors st = SafeTensors.open(file)) {
                Tensor stored = st.tensor("noise");
                assertArrayEquals(noise.shape(), stored.shape());
                for (long i = 0; i < noise.numel(); i++) {
                    if (Float.floatToRawIntBits(noise.get(i)) != Float.floatToRawIntBits(stored.get(i))) {
                        throw new AssertionError("noise element " + i + ": Java " + noise.get(i) + ", file " + stored.get(i));
                    }
                }
            }
        }
    }

    @Test
    void caseMatchesTheReferenceScript() throws IOException {
        FluxCheckpoint c = FluxCheckpoint.open(DIFFUSERS, ComponentPaths.NONE);
        int multiple = PromptToImage.sizeMultiple(c), tokens = (WIDTH / multiple) * (HEIGHT / multiple);
        try (SafeTensors st = SafeTensors.open(CASE.resolve("expected.safetensors"))) {
            Map<String, String> m = st.metadata();
            assertEquals(PROMPT, m.get("prompt"));
            assertEquals(REFERENCE_PROMPT, m.get("reference_prompt"));
            assertEquals(WIDTH + "x" + HEIGHT, m.get("size"));
            assertEquals(Integer.toString(STEPS), m.get("steps"));
            assertEquals(Float.toString(GUIDANCE), m.get("guidance"));
            float[] java = c.defaults().schedule().timesteps(STEPS, tokens);
            Tensor py = st.tensor("timesteps");
            assertEquals(java.length, py.numel());
            for (int i = 0; i < java.length; i++) {
                assertEquals(py.get(i), java[i], 1e-6, "timestep " + i);
            }
        }
    }

    /** Every backend that runs here (the GPU machine restricts it with -Duntwist.test.backends=gpu) in both modes. */
    static List<Arguments> backendsAndModes() {
        List<Arguments> args = new ArrayList<>();
        for (String backend : TestSupport.availableBackends()) {
            args.add(Arguments.of(backend, "none"));
            args.add(Arguments.of(backend, "full"));
        }
        return args;
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("backendsAndModes")
    void decodedImageMatchesThePyTorchReference(String backend, String mode) throws IOException {
        FluxCheckpoint c = FluxCheckpoint.open(DIFFUSERS, ComponentPaths.NONE);
        try (Backend be = TestSupport.backend(backend, 2); Tensor got = PromptToImage.generateDecoded(c, be, request(mode), null);
             SafeTensors st = SafeTensors.open(CASE.resolve("expected.safetensors"))) {
            Tensor want = st.tensor(mode);
            double err = TestSupport.maxAbsDiff(got, want), rms = TestSupport.rms(want);
            System.out.printf("end to end %s %s: max |diff| = %.3e, RMS %.4f, relative %.3e (bar %.0e)%n", backend, mode, err, rms, err / rms,
                    TOLERANCE);
            assertTrue(err <= TOLERANCE * rms, backend + " " + mode + ": max |diff| " + err + " > " + TOLERANCE + " x RMS " + rms);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "full"})
    void singleFilesGiveTheSameImageAsTheDiffusersFolder(String mode) throws IOException {
        FluxCheckpoint d = FluxCheckpoint.open(DIFFUSERS, ComponentPaths.NONE);
        FluxCheckpoint s = FluxCheckpoint.open(SINGLE.resolve("flux1-tiny.safetensors"), new ComponentPaths(SINGLE.resolve("clip_l.safetensors"),
                SINGLE.resolve("t5xxl.safetensors"), SINGLE.resolve("ae.safetensors"), DIFFUSERS.resolve("tokenizer"), DIFFUSERS.resolve("tokenizer_2")));
        try (Backend be = TestSupport.backend("vector", 2); Tensor a = PromptToImage.generateDecoded(d, be, request(mode), null);
             Tensor b = PromptToImage.generateDecoded(s, be, request(mode), null)) {
            assertArrayEquals(a.shape(), b.shape());
            for (long i = 0; i < a.numel(); i++) {
                if (Float.floatToRawIntBits(a.get(i)) != Float.floatToRawIntBits(b.get(i))) {
                    throw new AssertionError(mode + ": element " + i + ": diffusers folder " + a.get(i) + ", single files " + b.get(i));
                }
            }
        }
    }

    static PromptToImage.Request request(String mode) throws IOException {
        BufferedImage reference = ImageFiles.readRgb(CASE.resolve("reference.png"));
        assertEquals(WIDTH, reference.getWidth());
        assertEquals(HEIGHT, reference.getHeight());
        SharingPlan plan = SharingPlan.defaults(SharingMode.valueOf(mode.toUpperCase(java.util.Locale.ROOT)));
        return new PromptToImage.Request(List.of(PROMPT), reference, REFERENCE_PROMPT, WIDTH, HEIGHT, STEPS, GUIDANCE, SEED, REFERENCE_SEED, plan);
    }
}
