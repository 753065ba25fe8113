package org.untwist.jmh;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.untwist.backend.Backend;
import org.untwist.sampling.EulerSampler;
import org.untwist.sampling.FlowMatchSchedule;
import org.untwist.flux.FluxInputs;
import org.untwist.flux.FluxModel;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.Tensor;

/**
 * End to end: a whole denoising run ({@link EulerSampler#denoise}, {@code steps} Euler steps along the shifted
 * schedule, guidance 3.5) of the golden model {@code testdata/golden/flux-tiny-f32} (a random-weight tiny FLUX:
 * 60 image tokens, hidden 128, 2+2 blocks) from its {@code inputs.safetensors}, scalar vs vector. The model folder
 * is resolved against the working directory (run from the repository root) or set with {@code -p model=DIR}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 4, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class DenoiseBenchmark {
    /** Backend and thread count ({@code scalar} always computes with 1 thread). */
    @Param({"scalar/1", "vector/1", "vector/2"})
    public String backend;

    @Param({"testdata/golden/flux-tiny-f32"})
    public String model;

    @Param({"4"})
    public int steps;

    Backend be;
    FluxModel flux;
    SafeTensors inputFile;
    FluxInputs start;
    Tensor t, g;
    float[] schedule;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        Path dir = Path.of(model);
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            throw new IllegalStateException("model folder " + dir.toAbsolutePath() + " has no config.json: run from the repository root"
                    + " or pass -p model=DIR");
        }
        be = BenchData.backend(backend);
        flux = FluxModel.load(dir, be);
        inputFile = SafeTensors.open(dir.resolve("inputs.safetensors"));
        FluxInputs in = new FluxInputs(inputFile.tensor("img"), inputFile.tensor("img_ids"), inputFile.tensor("txt"),
                inputFile.tensor("txt_ids"), inputFile.tensor("y"), null, null);
        int b = in.batch();
        t = Tensor.allocate(b);
        g = Tensor.allocate(b);
        start = in.with(in.img(), t, g);
        start.validate(flux.config());
        schedule = FlowMatchSchedule.timesteps(steps, start.imageTokens(), true);
        System.out.println("# " + be.describe() + "; " + start.imageTokens() + " image + " + start.textTokens() + " text tokens, "
                + steps + " steps");
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        BenchData.closeAll(t, g);
        inputFile.close();
        flux.close();
        be.close();
    }

    /** Returns the first element of the denoised latent (the run's result tensor is freed inside the call). */
    @Benchmark
    public float denoise() {
        try (Tensor out = EulerSampler.denoise(flux, start, schedule, 3.5f, null)) {
            return out.get(0);
        }
    }
}
