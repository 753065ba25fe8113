package org.untwist;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.untwist.backend.Backend;
import org.untwist.backend.BackendProvider;
import org.untwist.backend.Backends;
import org.untwist.backend.Precision;
import org.untwist.gpu.CudnnSetupTotals;
import org.untwist.gpu.cuda.CudaRuntime;
import org.untwist.io.SafeTensors;
import org.untwist.pipeline.ComponentPaths;
import org.untwist.pipeline.FluxCheckpoint;
import org.untwist.pipeline.PromptToImage;
import org.untwist.tensor.Tensor;

/**
 * Issue 18's bar for the GPU backend: no device-memory growth over 1,000 pipeline create/run/close cycles. Each
 * cycle opens the tiny pipeline of {@link EndToEndTest} (testdata/flux-pipeline-tiny), creates a {@code gpu}
 * backend, generates its case (tokenize, T5, CLIP, reference encoding, 2 steps of shared attention in mode full at
 * batch 2, decoding) and closes the backend with everything it made; the precision cycles through f32, bf16 and bf16
 * with the blocks' activations in bf16, so that every path's buffers take part. The device's free memory ({@code cudaMemGetInfo}) is read after three warm-up
 * cycles, one of each kind (what a process sets up once: the libraries, cuDNN's among them, and the compiled kernels),
 * and after the last cycle, and may drop by at most
 * {@value #TOLERANCE_MIB} MiB: a leak of 64 KiB a cycle would cross it. The outputs are checked too, so the cycles
 * did the work: f32 against the PyTorch reference as {@link EndToEndTest} does, bf16 within a quarter of its RMS
 * (a sanity bound: bf16 activations through every model, not an accuracy claim).
 *
 * <p>Skipped without a GPU. {@code -Duntwist.test.pipelineCycles=N} changes the 1,000 (e.g. for a quick look).
 */
class GpuPipelineCyclesTest {
    static final long TOLERANCE_MIB = 64;
    static final double BF16_BOUND = 0.25;

    @Test
    void noDeviceMemoryGrowthOverPipelineCycles() throws IOException {
        BackendProvider gpu = Backends.providers().stream().filter(p -> p.name().equals("gpu")).findFirst().orElse(null);
        String why = gpu == null ? "no gpu backend on the class path" : gpu.unavailableReason();
        Assumptions.assumeTrue(why == null, "no GPU here: " + why);
        int cycles = Integer.getInteger("untwist.test.pipelineCycles", 1000);
        PromptToImage.Request request = EndToEndTest.request("full");
        try (SafeTensors st = SafeTensors.open(EndToEndTest.CASE.resolve("expected.safetensors"))) {
            Tensor want = st.tensor("full");
            double rms = TestSupport.rms(want);
            List<String> wrong = new ArrayList<>(); // outputs out of bounds: asserted after the memory, which matters more
            for (int kind = 0; kind < 3; kind++) { // warm-up: what a process sets up once, for each kind
                cycle(kind - 3, cycles, request, want, rms, wrong);
            }
            long[] before = CudaRuntime.memoryInfo();
            assertTrue(before != null, "cudaMemGetInfo failed");
            System.out.println("after the warm-up cycles: " + CudnnSetupTotals.sinceStart());
            long t0 = System.nanoTime();
            for (int c = 0; c < cycles; c++) {
                cycle(c, cycles, request, want, rms, wrong);
                if (c == 0 || c == 9 || (c + 1) % 100 == 0) { // progress, so that a run stopped by a time limit still says how far it got
                    System.out.printf(Locale.ROOT, "after %d cycles: device free %d MiB (before: %d MiB of %d), %.1f ms a cycle%s%n", c + 1,
                            CudaRuntime.memoryInfo()[0] >> 20, before[0] >> 20, before[1] >> 20, (System.nanoTime() - t0) / 1e6 / (c + 1), phases() + "; " + CudnnSetupTotals.sinceStart());
                }
            }
            long[] after = CudaRuntime.memoryInfo();
            long dropMib = (before[0] - after[0]) >> 20;
            System.out.printf(Locale.ROOT, "%d pipeline cycles in %.1f s: device free %d MiB before, %d MiB after, drop %d MiB (bound %d MiB)%n", cycles,
                    (System.nanoTime() - t0) / 1e9, before[0] >> 20, after[0] >> 20, dropMib, TOLERANCE_MIB);
            assertTrue(before[0] - after[0] < (TOLERANCE_MIB << 20), "device free memory dropped by " + dropMib + " MiB over " + cycles + " cycles");
            assertTrue(wrong.isEmpty(), "outputs out of bounds: " + wrong);
        }
    }

    /**
     * One create/run/close cycle: cycles 0, 3, 6, ... (and the warm-up) f32; 1, 4, ... bf16 with float32 activations
     * ({@code -Duntwist.gpu.bf16Activations=false}); 2, 5, ... bf16 with the blocks' activations in bf16 (the default; the
     * property is read as the backend is made). Outputs checked on
     * the warm-up, the first three and the last two, misses added to {@code wrong}.
     */
    private static void cycle(int c, int cycles, PromptToImage.Request request, Tensor want, double rms, List<String> wrong) throws IOException {
        int kind = Math.floorMod(c, 3); // warm-up cycles -3, -2, -1 are f32, bf16, bf16 activations
        boolean bf16 = kind != 0;
        String name = KINDS[kind];
        FluxCheckpoint checkpoint = FluxCheckpoint.open(EndToEndTest.DIFFUSERS, ComponentPaths.NONE);
        String before = System.setProperty(BF16_ACTIVATIONS, kind == 2 ? "true" : "false"); // bf16 activations are the default
        Backend made;
        long t0 = System.nanoTime();
        try {
            made = Backends.create("gpu", 2, bf16 ? Precision.BF16 : Precision.F32);
        } finally {
            if (before == null) {
                System.clearProperty(BF16_ACTIVATIONS);
            } else {
                System.setProperty(BF16_ACTIVATIONS, before);
            }
        }
        long t1 = System.nanoTime(), t2, t3;
        try (Backend be = made) {
            try (Tensor got = PromptToImage.generateDecoded(checkpoint, be, request, null)) {
                t2 = System.nanoTime();
                check(c, cycles, got, want, rms, bf16, name, wrong);
            }
            t3 = System.nanoTime();
        }
        if (c >= 0) {
            long[] k = NANOS[kind];
            k[0] += t1 - t0;
            k[1] += t2 - t1;
            k[2] += System.nanoTime() - t3;
            k[3]++;
        }
    }

    /** The cycles' kinds by {@code kind}: f32, bf16 with float32 activations, bf16 with the blocks' activations in bf16. */
    private static final String[] KINDS = {"f32", "bf16", "bf16 activations"};

    /** Per kind (f32, bf16, bf16 activations): nanoseconds creating, generating and closing, and the cycles counted. */
    private static final long[][] NANOS = new long[3][4];

    /** The mean milliseconds of creating, generating and closing per kind so far: where a cycle's time goes. */
    private static String phases() {
        StringBuilder sb = new StringBuilder("; create / generate / close ms:");
        for (int k = 0; k < 3; k++) {
            long n = Math.max(1, NANOS[k][3]);
            sb.append(String.format(Locale.ROOT, " %s %.1f / %.1f / %.1f", KINDS[k], NANOS[k][0] / 1e6 / n, NANOS[k][1] / 1e6 / n, NANOS[k][2] / 1e6 / n));
            sb.append(k < 2 ? "," : "");
        }
        return sb.toString();
    }

    /** Checks the output of the warm-up, the first three and the last two cycles against the PyTorch reference. */
    private static void check(int c, int cycles, Tensor got, Tensor want, double rms, boolean bf16, String name, List<String> wrong) {
        if (c > 2 && c < cycles - 2) {
            return;
        }
        double err = TestSupport.maxAbsDiff(got, want);
        double bound = bf16 ? BF16_BOUND * rms : EndToEndTest.TOLERANCE * rms;
        System.out.printf(Locale.ROOT, "cycle %d (%s): max |diff| to the PyTorch reference %.3e, RMS %.4f, relative %.3e (bound %.2g)%n", c, name,
                err, rms, err / rms, bound / rms);
        if (!(err <= bound)) {
            wrong.add("cycle " + c + " (" + name + "): max |diff| " + err + " > " + bound);
        }
    }

    /** GpuBackend.BF16_ACTIVATIONS_PROPERTY (this suite uses no gpu module class beyond CudaRuntime and the CudnnSetupTotals read-out). */
    private static final String BF16_ACTIVATIONS = "untwist.gpu.bf16Activations";
}
