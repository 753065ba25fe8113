package org.untwist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.cli.Main;
import org.untwist.io.SafeTensors;

/** The CLI commands give the golden numbers on every backend, and bad input gets one clear line and exit code 1. */
class CliTest {
    @TempDir
    Path tmp;

    record Result(int code, String out, String err) {
    }

    static Result run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Result(code, out.toString(), err.toString());
    }

    static List<String> backends() {
        return TestSupport.availableBackends();
    }

    private static String golden(String file) {
        return TestSupport.tinyFlux().resolve(file).toString();
    }

    private static void assertMatches(Path produced, String name, double tol, boolean relativeToRms) {
        try (SafeTensors got = SafeTensors.open(produced); SafeTensors ref = SafeTensors.open(Path.of(golden("outputs.safetensors")))) {
            double bound = relativeToRms ? tol * TestSupport.rms(ref.tensor(name)) : tol;
            double err = TestSupport.maxAbsDiff(got.tensor(name), ref.tensor(name));
            assertTrue(err <= bound, name + ": max |diff| " + err + " > " + bound);
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void forwardWritesPredAndPe(String backend) {
        Path out = tmp.resolve("fwd.safetensors");
        Result r = run("forward", "--backend", backend, "--threads", "2", "--model", TestSupport.tinyFlux().toString(),
                "--inputs", golden("inputs.safetensors"), "--out", out.toString(), "--compare", golden("outputs.safetensors"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("compare pred"), r.out());
        assertMatches(out, "pred", GoldenConformanceTest.MODEL_REL_TOL, true);
        assertMatches(out, "pe", GoldenConformanceTest.PE_TOL, false);
    }

    /** {@code --repeat} prints each call and the warm median; {@code --profile-ops} prints the per-operation tables of the warm calls. */
    @Test
    void forwardRepeatsAndProfiles() {
        Path out = tmp.resolve("fwd-repeat.safetensors");
        Result r = run("forward", "--backend", "vector", "--threads", "2", "--model", TestSupport.tinyFlux().toString(),
                "--inputs", golden("inputs.safetensors"), "--out", out.toString(), "--repeat", "3", "--profile-ops");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("forward 3 of 3 on vector") && r.out().contains("first call") && r.out().contains("calls 2-3 median"), r.out());
        assertTrue(r.err().contains("operations on vector"), r.err());
        // the tiny model: 2 double blocks (an image and a text MLP each) and 2 single blocks, 6 fused MLP inputs a call; calls 2 and 3 profiled
        assertTrue(r.err().contains("| linearGeluTanh | 12 |"), r.err());
        assertMatches(out, "pred", GoldenConformanceTest.MODEL_REL_TOL, true);
        Result bad = run("forward", "--model", TestSupport.tinyFlux().toString(), "--inputs", golden("inputs.safetensors"), "--out",
                out.toString(), "--repeat", "0");
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("--repeat must be 1 to 1000, got 0"), bad.err());
    }

    /** pred of the golden model in bf16 against the float32 golden: measured 1.3e-2 of its RMS (max |diff|). */
    static final double BF16_MODEL_REL_TOL = 5e-2;

    @Test
    void forwardInBf16OnTheCpu() {
        String why = org.untwist.backend.Backends.providers().stream().filter(p -> p.name().equals("onednn")).findFirst()
                .orElseThrow().unavailableReason();
        org.junit.jupiter.api.Assumptions.assumeTrue(why == null, "the onednn backend cannot run here: " + why);
        Path out = tmp.resolve("fwd-bf16.safetensors");
        Result r = run("forward", "--backend", "onednn", "--precision", "bf16", "--threads", "2", "--model", TestSupport.tinyFlux().toString(),
                "--inputs", golden("inputs.safetensors"), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("forward on onednn"), r.out());
        assertMatches(out, "pred", BF16_MODEL_REL_TOL, true);
        assertMatches(out, "pe", GoldenConformanceTest.PE_TOL, false);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void denoiseWritesDenoised(String backend) {
        Path out = tmp.resolve("den.safetensors");
        Result r = run("denoise", "--backend", backend, "--model", TestSupport.tinyFlux().toString(), "--inputs", golden("inputs.safetensors"),
                "--steps", "4", "--guidance", "3.5", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("step 4/4"), r.out());
        assertMatches(out, "denoised", GoldenConformanceTest.MODEL_REL_TOL, true);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void ropeWritesProbeOutputs(String backend) {
        Path out = tmp.resolve("rope.safetensors");
        Result r = run("rope", "--backend", backend, "--inputs", golden("inputs.safetensors"), "--model", TestSupport.tinyFlux().toString(),
                "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertMatches(out, "pe", GoldenConformanceTest.PE_TOL, false);
        for (String name : new String[] {"q_rope", "k_rope", "attention"}) {
            assertMatches(out, name, GoldenConformanceTest.PROBE_TOL, false);
        }
    }

    @Test
    void infoNamesTheBackends() {
        Result r = run("info");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("scalar") && r.out().contains("selected:"), r.out());
    }

    @Test
    void bandsReproducesThePaperTable() throws IOException {
        // PAPER.md §3.2, Δ = 0, 2, 5, 10, 20, 30, 40, 50, 60, 65: All, High, Mid, Low.
        int[] shifts = {0, 2, 5, 10, 20, 30, 40, 50, 60, 65};
        double[][] paper = {
                {1, .897, .737, .669, .608, .566, .509, .546, .469, .494},
                {1, .686, .205, .014, -.107, -.138, -.194, .044, -.073, .056},
                {1, .999, .994, .978, .914, .817, .699, .574, .457, .404},
                {1, 1, 1, 1, 1, 1, .999, .999, .998, .998}};
        Path csv = tmp.resolve("bands.csv");
        Result r = run("bands", "--dim", "128", "--theta", "10000", "--bands", "3", "--max-shift", "65", "--out", csv.toString());
        assertEquals(0, r.code(), r.err());
        List<String> lines = Files.readAllLines(csv);
        assertEquals("shift,all,band0_chunks0-20,band1_chunks21-41,band2_chunks42-63", lines.get(0));
        assertEquals(67, lines.size());
        for (int i = 0; i < shifts.length; i++) {
            String[] cells = lines.get(1 + shifts[i]).split(",");
            assertEquals(shifts[i], Integer.parseInt(cells[0]));
            for (int c = 0; c < 4; c++) {
                double v = Double.parseDouble(cells[1 + c]);
                assertTrue(Math.abs(v - paper[c][i]) <= 0.005, "shift " + shifts[i] + " column " + c + ": " + v + " vs paper " + paper[c][i]);
            }
        }
    }

    @Test
    void generateWritesLatentsAndStatistics() throws IOException {
        Path out = tmp.resolve("gen.safetensors"), stats = tmp.resolve("stats.csv");
        Result r = run("generate", "--model", TestSupport.tinyFlux().toString(), "--inputs", golden("inputs.safetensors"), "--mode", "untwisted",
                "--targets", "2", "--steps", "2", "--out", out.toString(), "--stats", stats.toString());
        assertEquals(0, r.code(), r.err());
        try (SafeTensors f = SafeTensors.open(out)) {
            var latents = f.tensor("latents");
            assertTrue(latents.hasShape(3, 60, 16), java.util.Arrays.toString(latents.shape()));
            for (long i = 0; i < latents.numel(); i++) {
                assertTrue(Float.isFinite(latents.get(i)), "finite latents");
            }
        }
        List<String> lines = Files.readAllLines(stats);
        assertEquals("step,block,aligned_mass,reference_share", lines.get(0));
        assertEquals(1 + 2 * 4, lines.size(), "2 steps × 4 shared blocks (d0, d1, s0, s1)");
        // The reference is generated from its own seed whatever the mode: its latent must not depend on sharing.
        Path none = tmp.resolve("none.safetensors");
        assertEquals(0, run("generate", "--model", TestSupport.tinyFlux().toString(), "--inputs", golden("inputs.safetensors"), "--mode", "none",
                "--targets", "2", "--steps", "2", "--out", none.toString()).code());
        try (SafeTensors a = SafeTensors.open(out); SafeTensors b = SafeTensors.open(none)) {
            assertTrue(TestSupport.maxAbsDiff(a.tensor("latents").rows(0, 1), b.tensor("latents").rows(0, 1)) <= 1e-6,
                    "the reference is unaffected by sharing");
            assertTrue(TestSupport.maxAbsDiff(a.tensor("latents").rows(1, 2), b.tensor("latents").rows(1, 2)) > 1e-4,
                    "sharing changes the targets");
        }
    }

    @Test
    void analyzeWritesTablesAndPlots() throws IOException {
        Path dir = tmp.resolve("analysis");
        Result r = run("analyze", "--model", TestSupport.tinyFlux().toString(), "--inputs", golden("inputs.safetensors"), "--out-dir", dir.toString(),
                "--steps", "2");
        assertEquals(0, r.code(), r.err());
        for (String f : new String[] {"band_curves.csv", "band_energy.csv", "aligned_mass.csv", "analysis.json"}) {
            assertTrue(Files.size(dir.resolve(f)) > 0, f);
        }
        String[] charts = {"band_curves.png", "aligned_mass.png", "attention_maps.png"};
        if (!TestSupport.fontsAvailable()) { // the tables above are complete; each chart is named as skipped
            for (String f : charts) {
                assertTrue(r.err().contains("untwist: " + f + " not written"), f + ":\n" + r.err());
            }
            return;
        }
        for (String f : charts) {
            assertTrue(Files.size(dir.resolve(f)) > 0, f);
        }
        List<String> mass = Files.readAllLines(dir.resolve("aligned_mass.csv"));
        assertEquals(1 + 4 * 4, mass.size(), "4 modes × 4 blocks");
        for (String line : mass.subList(1, mass.size())) {
            double v = Double.parseDouble(line.split(",")[2]);
            assertTrue(v >= 0 && v <= 1, line);
        }
        byte[] png = Files.readAllBytes(dir.resolve("attention_maps.png"));
        assertEquals((byte) 0x89, png[0]);
        assertEquals('P', png[1]);
    }

    @Test
    void badInputsGiveOneClearLine() throws IOException {
        Path garbage = tmp.resolve("garbage.safetensors");
        Files.write(garbage, new byte[] {1, 2, 3});
        String model = TestSupport.tinyFlux().toString();
        Object[][] cases = {
                {new String[] {"forward", "--model", model, "--inputs", garbage.toString(), "--out", tmp.resolve("o").toString()}, "garbage.safetensors"},
                {new String[] {"forward", "--model", tmp.resolve("nope").toString(), "--inputs", golden("inputs.safetensors"), "--out",
                        tmp.resolve("o").toString()}, "nope"},
                {new String[] {"forward", "--model", model, "--inputs", golden("outputs.safetensors"), "--out", tmp.resolve("o").toString()},
                        "missing input tensor 'img'"},
                {new String[] {"denoise", "--model", model, "--inputs", golden("inputs.safetensors"), "--steps", "0", "--out",
                        tmp.resolve("o").toString()}, "--steps"},
                {new String[] {"forward", "--backend", "nonesuch", "--model", model, "--inputs", golden("inputs.safetensors"), "--out",
                        tmp.resolve("o").toString()}, "unknown backend 'nonesuch'"},
                {new String[] {"forward", "--backend", "vector", "--precision", "bf16", "--model", model, "--inputs", golden("inputs.safetensors"),
                        "--out", tmp.resolve("o").toString()}, "backend 'vector' cannot compute in bf16"},
                {new String[] {"forward", "--precision", "fp8", "--model", model, "--inputs", golden("inputs.safetensors"), "--out",
                        tmp.resolve("o").toString()}, "--precision=fp8: expected f32 or bf16"},
                {new String[] {"rope", "--inputs", golden("inputs.safetensors"), "--axes-dim", "16,24,20", "--out", tmp.resolve("o").toString()},
                        "sum(axes_dim)"},
                {new String[] {"bands", "--dim", "127"}, "--dim"},
                {new String[] {"bands", "--bands", "0"}, "--bands"},
                {new String[] {"generate", "--model", model, "--inputs", golden("inputs.safetensors"), "--s-hf", "-0.5", "--out",
                        tmp.resolve("o").toString()}, "s_hf"},
                {new String[] {"generate", "--model", model, "--inputs", golden("inputs.safetensors"), "--beta", "0", "--out",
                        tmp.resolve("o").toString()}, "--beta"},
                {new String[] {"generate", "--model", model, "--inputs", golden("inputs.safetensors"), "--blocks", "s2", "--out",
                        tmp.resolve("o").toString()}, "out of range"},
                {new String[] {"generate", "--model", model, "--inputs", golden("inputs.safetensors"), "--mode", "copy", "--out",
                        tmp.resolve("o").toString()}, "unknown mode"},
        };
        for (Object[] c : cases) {
            String[] args = (String[]) c[0];
            Result r = run(args);
            assertEquals(1, r.code(), String.join(" ", args) + "\n" + r.err());
            assertTrue(r.err().startsWith("untwist: error: ") && r.err().contains((String) c[1]),
                    String.join(" ", args) + " -> " + r.err());
            assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        }
        Result usage = run("forward", "--model");
        assertEquals(2, usage.code(), "usage errors exit with 2");
    }
}
