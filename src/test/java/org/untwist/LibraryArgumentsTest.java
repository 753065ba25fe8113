package org.untwist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.backend.Backend;
import org.untwist.backend.Backends;
import org.untwist.flux.FluxConfig;
import org.untwist.flux.FluxInputs;
import org.untwist.flux.FluxModel;
import org.untwist.io.SafeTensors;
import org.untwist.sampling.EulerSampler;
import org.untwist.method.AttentionStats;
import org.untwist.method.SharingMode;
import org.untwist.method.SharingPlan;
import org.untwist.sampling.FlowMatchSchedule;
import org.untwist.sampling.StyleAlignedSampler;
import org.untwist.tensor.Tensor;

/**
 * The library API refuses requests that cannot work (absurd thread and step counts, non-finite guidance and times, an
 * unreadable config) with one clear line, and a model used from several threads at once gives the sequential results.
 */
class LibraryArgumentsTest {
    @TempDir
    Path tmp;

    static List<String> backends() {
        return TestSupport.availableBackends();
    }

    private static void assertOneLine(Throwable e, String... parts) {
        String m = e.getMessage();
        assertTrue(m != null && m.lines().count() == 1, "one line: " + m);
        for (String p : parts) {
            assertTrue(m.contains(p), "'" + p + "' in: " + m);
        }
    }

    @Test
    void absurdThreadCountsAreRefused() {
        int max = Backends.maxThreads();
        assertTrue(max >= 64 && max >= 4 * Runtime.getRuntime().availableProcessors(), "max " + max);
        for (String name : new String[] {null, "scalar", "vector"}) {
            for (int n : new int[] {0, -1, max + 1, 100_000, Integer.MAX_VALUE}) {
                var e = assertThrows(IllegalArgumentException.class, () -> Backends.create(name, n), name + " " + n);
                assertOneLine(e, "threads", String.valueOf(n), String.valueOf(max));
            }
        }
        try (Backend be = Backends.create("scalar", max)) { // the bound itself is allowed
            assertEquals("scalar", be.name());
        }
    }

    @Test
    void threadsPropertyIsBounded() {
        String old = System.getProperty(Backends.THREADS_PROPERTY);
        try {
            for (String v : new String[] {"100000", "0", "-3", "many"}) {
                System.setProperty(Backends.THREADS_PROPERTY, v);
                var e = assertThrows(IllegalArgumentException.class, Backends::defaultThreads, v);
                assertOneLine(e, "-Duntwist.threads=" + v);
            }
            System.setProperty(Backends.THREADS_PROPERTY, "3");
            assertEquals(3, Backends.defaultThreads());
        } finally {
            if (old == null) {
                System.clearProperty(Backends.THREADS_PROPERTY);
            } else {
                System.setProperty(Backends.THREADS_PROPERTY, old);
            }
        }
    }

    @Test
    void stepCountsAreBounded() {
        for (int n : new int[] {0, -1, FlowMatchSchedule.MAX_STEPS + 1, 100_000_000, Integer.MAX_VALUE}) {
            var e = assertThrows(IllegalArgumentException.class, () -> FlowMatchSchedule.timesteps(n, 60, true), "steps " + n);
            assertOneLine(e, "steps", String.valueOf(n), String.valueOf(FlowMatchSchedule.MAX_STEPS));
        }
        assertEquals(FlowMatchSchedule.MAX_STEPS + 1, FlowMatchSchedule.timesteps(FlowMatchSchedule.MAX_STEPS, 60, true).length);
        var e = assertThrows(IllegalArgumentException.class, () -> FlowMatchSchedule.timesteps(4, 60, Double.NaN, 1.15, true));
        assertOneLine(e, "shift");
    }

    @Test
    void samplersRefuseNonFiniteGuidanceAndTimes() throws IOException {
        try (Backend be = Backends.create("scalar", 1);
             FluxModel model = FluxModel.load(TestSupport.tinyFlux(), be);
             SafeTensors in = SafeTensors.open(TestSupport.tinyFlux().resolve("inputs.safetensors"))) {
            FluxInputs start = GoldenConformanceTest.inputsOf(in);
            float[] schedule = FlowMatchSchedule.timesteps(2, 60, true);
            for (float g : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                var e = assertThrows(IllegalArgumentException.class, () -> EulerSampler.denoise(model, start, schedule, g, null), "guidance " + g);
                assertOneLine(e, "guidance", String.valueOf(g));
            }
            float[] bad = schedule.clone();
            bad[1] = Float.NaN;
            var e = assertThrows(IllegalArgumentException.class, () -> EulerSampler.denoise(model, start, bad, 3.5f, null));
            assertOneLine(e, "timesteps[1]", "NaN");
            // The model itself: a NaN time or guidance in the inputs is named, not turned into NaN outputs.
            try (Tensor t = Tensor.of(new float[] {Float.NaN}, 1); Tensor g = Tensor.of(new float[] {Float.POSITIVE_INFINITY}, 1);
                 Tensor pred = Tensor.allocate(1, 60, 16)) {
                var et = assertThrows(IllegalArgumentException.class, () -> model.forward(start.with(start.img(), t, start.guidance()), pred));
                assertOneLine(et, "timesteps", "NaN");
                var eg = assertThrows(IllegalArgumentException.class, () -> model.forward(start.with(start.img(), start.timesteps(), g), pred));
                assertOneLine(eg, "guidance", "Infinity");
            }
        }
    }

    @Test
    void unreadableOrMalformedConfigIsOneLine() throws IOException {
        Path folder = tmp.resolve("cfg-folder");
        Files.createDirectories(folder.resolve("config.json")); // root can read any file: a folder cannot be read by anyone
        var e = assertThrows(IOException.class, () -> FluxConfig.read(folder.resolve("config.json")));
        assertOneLine(e, "config.json", "folder");
        Path bad = tmp.resolve("bad.json");
        Files.writeString(bad, "{\n  \"in_channels\": 16,\n  \"out_channels\": }\n");
        e = assertThrows(IOException.class, () -> FluxConfig.read(bad));
        assertOneLine(e, "bad.json", "line 3");
        Path missing = tmp.resolve("none.json");
        e = assertThrows(IOException.class, () -> FluxConfig.read(missing));
        assertOneLine(e, "none.json", "not found");
    }

    /** A safetensors file that cannot be written is named with the reason, not the temporary file written first. */
    @Test
    void unwritableSafetensorsNameTheFileAndTheReason() throws IOException {
        try (Tensor t = Tensor.of(new float[] {1, 2}, 2)) {
            Path missing = tmp.resolve("missing").resolve("x.safetensors");
            var e = assertThrows(IOException.class, () -> SafeTensors.write(missing, java.util.Map.of("t", t), null));
            assertOneLine(e, missing.toString(), "cannot write", "does not exist");
            assertTrue(!e.getMessage().contains(".tmp"), e.getMessage());
            Path folder = Files.createDirectories(tmp.resolve("folder.safetensors"));
            e = assertThrows(IOException.class, () -> SafeTensors.write(folder, java.util.Map.of("t", t), null));
            assertOneLine(e, folder.toString(), "is a folder");
        }
    }

    /**
     * Two threads (and then four) share one model and call it at once, with different batch sizes so that each call
     * needs its own workspace geometry: every result equals the same call made alone.
     */
    @ParameterizedTest
    @MethodSource("backends")
    void modelUsedFromSeveralThreadsGivesTheSequentialResults(String name) throws Exception {
        try (Backend be = TestSupport.backend(name, 2);
             FluxModel model = FluxModel.load(TestSupport.tinyFlux(), be);
             SafeTensors in = SafeTensors.open(TestSupport.tinyFlux().resolve("inputs.safetensors"))) {
            FluxInputs one = GoldenConformanceTest.inputsOf(in);
            List<Tensor> owned = new ArrayList<>();
            try {
                FluxInputs two = batchOf(one, 2, owned);
                float[] schedule = FlowMatchSchedule.timesteps(2, 60, true);
                float[] alone1, alone2;
                try (Tensor a = EulerSampler.denoise(model, one, schedule, 3.5f, null); Tensor b = EulerSampler.denoise(model, two, schedule, 3.5f, null)) {
                    alone1 = a.toFloatArray();
                    alone2 = b.toFloatArray();
                }
                for (int threads : new int[] {2, 4}) {
                    ExecutorService pool = Executors.newFixedThreadPool(threads);
                    try {
                        CountDownLatch start = new CountDownLatch(1);
                        List<Future<float[]>> results = new ArrayList<>();
                        for (int t = 0; t < threads; t++) {
                            FluxInputs mine = t % 2 == 0 ? one : two;
                            results.add(pool.submit(() -> {
                                start.await();
                                float[] expected = mine == one ? alone1 : alone2;
                                for (int rep = 0; rep < 2; rep++) {
                                    try (Tensor r = EulerSampler.denoise(model, mine, schedule, 3.5f, null)) {
                                        assertSame(name, expected, r.toFloatArray(), "repeat " + rep);
                                    }
                                }
                                return expected;
                            }));
                        }
                        start.countDown();
                        for (Future<float[]> f : results) {
                            f.get(); // rethrows a thread's assertion failure or exception
                        }
                    } finally {
                        pool.shutdownNow();
                    }
                }
            } finally {
                owned.forEach(Tensor::close);
            }
        }
    }

    /** The memory estimate the CLI refuses requests by is the model's actual allocation, plain and with shared attention. */
    @Test
    void workspaceEstimateIsTheAllocation() throws IOException {
        try (Backend be = Backends.create("scalar", 1);
             FluxModel model = FluxModel.load(TestSupport.tinyFlux(), be);
             SafeTensors in = SafeTensors.open(TestSupport.tinyFlux().resolve("inputs.safetensors"))) {
            FluxConfig c = model.config();
            List<Tensor> owned = new ArrayList<>();
            try (Tensor pred = Tensor.allocate(3, 60, 16)) {
                FluxInputs three = batchOf(GoldenConformanceTest.inputsOf(in), 3, owned);
                assertEquals(0, model.allocatedBytes());
                model.forward(three, pred);
                long plain = FluxModel.workspaceBytes(c, 3, 7, 60);
                assertEquals(plain, model.allocatedBytes());
                try (Tensor ignored = StyleAlignedSampler.generate(model, three, null, FlowMatchSchedule.timesteps(1, 60, true), 3.5f,
                        SharingPlan.defaults(SharingMode.SHIFT_PE), new AttentionStats(1), null)) {
                    assertEquals(plain + FluxModel.sharingBytes(c, 3, 7, 60, true, 0, true), model.allocatedBytes());
                }
                assertEquals(Long.MAX_VALUE, FluxModel.workspaceBytes(c, Long.MAX_VALUE / 2, 7, 60), "saturates, never overflows");
                // What the commands budget: the workspace plus a CPU backend's join of linear2's inputs, L·(h + mlp) floats a batch element.
                assertEquals(plain + 3L * 67 * (c.hiddenSize() + c.mlpHiddenDim()) * Float.BYTES, FluxModel.activationBytes(c, 3, 7, 60));
                assertEquals(Long.MAX_VALUE, FluxModel.activationBytes(c, Long.MAX_VALUE / 2, 7, 60), "saturates, never overflows");
            } finally {
                owned.forEach(Tensor::close);
            }
        }
    }

    /** Bit for bit: every backend gives the same output for the same inputs and thread count (DeterminismTest). */
    private static void assertSame(String backend, float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, backend + " " + what + ": length");
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                throw new AssertionError(backend + " " + what + ": element " + i + " is " + actual[i] + ", " + expected[i] + " run alone");
            }
        }
    }

    /** The batch-1 inputs repeated {@code b} times. */
    private static FluxInputs batchOf(FluxInputs one, int b, List<Tensor> owned) {
        Tensor[] src = {one.img(), one.imgIds(), one.txt(), one.txtIds(), one.y(), one.timesteps(), one.guidance()};
        Tensor[] dst = new Tensor[src.length];
        for (int i = 0; i < src.length; i++) {
            int[] shape = src[i].shape();
            shape[0] = b;
            dst[i] = Tensor.allocate(shape);
            owned.add(dst[i]);
            for (int e = 0; e < b; e++) {
                dst[i].rows(e, 1).copyFrom(src[i]);
            }
        }
        return new FluxInputs(dst[0], dst[1], dst[2], dst[3], dst[4], dst[5], dst[6]);
    }
}
