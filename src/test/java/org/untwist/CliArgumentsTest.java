package org.untwist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.untwist.backend.Backends;
import org.untwist.sampling.FlowMatchSchedule;

/**
 * Requests that cannot work are refused before any work, with exit code 1, one line on stderr naming the option
 * (or file) at fault and the reason, no progress output, and nothing written; a run that fails later leaves no
 * output behind either.
 */
class CliArgumentsTest {
    @TempDir
    Path tmp;

    private static final String MODEL = TestSupport.tinyFlux().toString();
    private static final String INPUTS = TestSupport.tinyFlux().resolve("inputs.safetensors").toString();
    private static final String GLYPHS = GlyphDemoTest.modelDir().toString();

    private static CliTest.Result run(String... args) {
        return CliTest.run(args);
    }

    /** Refused before any work: exit 1, one line naming every part, nothing on stdout (no progress, nothing written). */
    private static void assertRefused(String[] args, String... parts) {
        CliTest.Result r = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> run(args), String.join(" ", args));
        String cmd = String.join(" ", args);
        assertEquals(1, r.code(), cmd + "\n" + r.out() + r.err());
        assertTrue(r.err().startsWith("untwist: error: "), cmd + " -> " + r.err());
        assertEquals(1, r.err().strip().lines().count(), cmd + ": one line: " + r.err());
        for (String p : parts) {
            assertTrue(r.err().contains(p), cmd + ": '" + p + "' in " + r.err());
        }
        assertEquals("", r.out(), cmd + ": nothing may happen before the check: " + r.out());
    }

    private static String[] args(String command, String... rest) {
        return Stream.concat(Stream.of(command), Stream.of(rest)).toArray(String[]::new);
    }

    /** The command line of each computing command with valid arguments, writing into {@code dir}. */
    private List<String[]> commands(Path dir) {
        return List.of(
                args("generate", "--model", MODEL, "--inputs", INPUTS, "--out", dir.resolve("g.safetensors").toString()),
                args("denoise", "--model", MODEL, "--inputs", INPUTS, "--steps", "2", "--out", dir.resolve("d.safetensors").toString()),
                args("forward", "--model", MODEL, "--inputs", INPUTS, "--out", dir.resolve("f.safetensors").toString()),
                args("rope", "--model", MODEL, "--inputs", INPUTS, "--out", dir.resolve("r.safetensors").toString()),
                args("analyze", "--model", MODEL, "--inputs", INPUTS, "--steps", "1", "--out-dir", dir.resolve("analysis").toString()),
                args("demo", "--model", GLYPHS, "--steps", "1", "--prompts", "A", "--out", dir.resolve("demo.png").toString()),
                args("experiment", "--model", GLYPHS, "--steps", "1", "--references", "1", "--prompts-per-reference", "1", "--quick",
                        "--out-dir", dir.resolve("experiment").toString()));
    }

    /** {@code base} with {@code option value}: replacing the option's value when base has it (picocli refuses an option twice). */
    private static String[] plus(String[] base, String option, String value) {
        List<String> a = new ArrayList<>(List.of(base));
        int i = a.indexOf(option);
        if (i >= 0) {
            a.set(i + 1, value);
        } else {
            a.add(option);
            a.add(value);
        }
        return a.toArray(String[]::new);
    }

    private static void assertEmpty(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            List<Path> left = s.filter(p -> !p.equals(dir)).toList();
            assertTrue(left.isEmpty(), "left behind: " + left);
        }
    }

    @Test
    void hugeTargetCountsAreRefusedWithTheEstimate() throws IOException {
        Path out = tmp.resolve("g.safetensors");
        for (String n : new String[] {"1000000", "2147483647"}) {
            assertRefused(args("generate", "--model", MODEL, "--inputs", INPUTS, "--targets", n, "--out", out.toString()),
                    "generate needs ~", "GiB", "for " + n + " targets", "available");
        }
        for (String n : new String[] {"0", "-1"}) {
            assertRefused(args("generate", "--model", MODEL, "--inputs", INPUTS, "--targets", n, "--out", out.toString()), "--targets", n);
        }
        // A documented cap applies to every request, a small one too.
        System.setProperty("untwist.maxMemory", "1m");
        try {
            assertRefused(args("generate", "--model", MODEL, "--inputs", INPUTS, "--targets", "2", "--out", out.toString()),
                    "for 2 targets", "0.001 GiB available (-Duntwist.maxMemory");
            System.setProperty("untwist.maxMemory", "256k"); // below a batch of 1 of the tiny model (about 0.8 MiB of workspace)
            assertRefused(args("denoise", "--model", MODEL, "--inputs", INPUTS, "--steps", "2", "--out", out.toString()), "denoise needs ~");
            assertRefused(args("forward", "--model", MODEL, "--inputs", INPUTS, "--out", out.toString()), "forward needs ~");
            assertRefused(args("demo", "--model", GLYPHS, "--prompts", "A,B", "--out", tmp.resolve("d.png").toString()), "for 2 prompts");
        } finally {
            System.clearProperty("untwist.maxMemory");
        }
        assertEmpty(tmp);
    }

    @Test
    void threadCountsAreBounded() throws IOException {
        String max = String.valueOf(Backends.maxThreads());
        for (String[] cmd : commands(tmp)) {
            for (String n : new String[] {"0", "-1", "100000", String.valueOf(Backends.maxThreads() + 1)}) {
                assertRefused(plus(cmd, "--threads", n), "--threads must be between 1 and " + max, "got " + n);
            }
        }
        assertRefused(args("info", "--threads", "100000"), "--threads");
        assertEmpty(tmp);
    }

    @Test
    void stepCountsAreBounded() throws IOException {
        String max = String.valueOf(FlowMatchSchedule.MAX_STEPS);
        for (String[] cmd : commands(tmp)) {
            if (cmd[0].equals("forward") || cmd[0].equals("rope")) {
                continue;
            }
            for (String n : new String[] {"0", "-3", String.valueOf(FlowMatchSchedule.MAX_STEPS + 1), "100000000"}) {
                assertRefused(plus(cmd, "--steps", n), "--steps must be between 1 and " + max, "got " + n);
            }
        }
        assertEmpty(tmp);
    }

    @Test
    void nonFiniteOrOutOfRangeGuidanceIsRefused() throws IOException {
        for (String[] cmd : commands(tmp)) {
            if (!List.of("generate", "denoise", "analyze").contains(cmd[0])) {
                continue;
            }
            for (String g : new String[] {"NaN", "Infinity", "-Infinity", "-1", "1000"}) {
                assertRefused(plus(cmd, "--guidance", g), "--guidance must be a finite number between 0 and 100");
            }
        }
        assertEmpty(tmp);
    }

    /** Every other numeric knob, in every command that takes it. */
    @Test
    void everyOtherKnobIsChecked() throws IOException {
        List<Object[]> cases = new ArrayList<>();
        for (String[] cmd : commands(tmp)) {
            String c = cmd[0];
            if (List.of("generate", "analyze", "demo").contains(c)) { // the method's knobs
                cases.add(new Object[] {plus(cmd, "--s-hf", "NaN"), "--s-hf"});
                cases.add(new Object[] {plus(cmd, "--s-hf", "-0.5:1"), "--s-hf"});
                cases.add(new Object[] {plus(cmd, "--s-lf", "1:Infinity"), "--s-lf"});
                cases.add(new Object[] {plus(cmd, "--beta", "NaN"), "--beta"});
                cases.add(new Object[] {plus(cmd, "--beta", "0"), "--beta"});
                cases.add(new Object[] {plus(cmd, "--uniform-scale", "NaN"), "--uniform-scale"});
                cases.add(new Object[] {plus(cmd, "--uniform-scale", "-1"), "--uniform-scale"});
                cases.add(new Object[] {plus(cmd, "--share-steps", "0-99"), "--share-steps 0-99 is outside the"});
                cases.add(new Object[] {plus(cmd, "--share-steps", "3-1"), "--share-steps"});
            }
            if (List.of("generate", "analyze").contains(c)) {
                cases.add(new Object[] {plus(cmd, "--radius", "NaN"), "--radius"});
                cases.add(new Object[] {plus(cmd, "--radius", "-1"), "--radius must be a finite number >= 0, got -1.0"});
            }
        }
        String csv = tmp.resolve("b.csv").toString();
        cases.add(new Object[] {args("analyze", "--model", MODEL, "--inputs", INPUTS, "--bands", "0", "--out-dir", tmp.resolve("a").toString()), "--bands"});
        cases.add(new Object[] {args("analyze", "--model", MODEL, "--inputs", INPUTS, "--bands", "99", "--out-dir", tmp.resolve("a").toString()), "--bands"});
        cases.add(new Object[] {args("bands", "--theta", "NaN", "--out", csv), "--theta"});
        cases.add(new Object[] {args("bands", "--theta", "Infinity", "--out", csv), "--theta"});
        cases.add(new Object[] {args("bands", "--dim", "0", "--out", csv), "--dim"});
        cases.add(new Object[] {args("bands", "--dim", "1000000", "--out", csv), "--dim"});
        cases.add(new Object[] {args("bands", "--bands", "0", "--out", csv), "--bands"});
        cases.add(new Object[] {args("bands", "--max-shift", "-1", "--out", csv), "--max-shift"});
        cases.add(new Object[] {args("bands", "--max-shift", "2000000000", "--out", csv), "--max-shift"});
        String r = tmp.resolve("r.safetensors").toString();
        cases.add(new Object[] {args("rope", "--inputs", INPUTS, "--model", MODEL, "--theta", "NaN", "--out", r), "--theta"});
        cases.add(new Object[] {args("rope", "--inputs", INPUTS, "--model", MODEL, "--theta", "-1", "--out", r), "--theta"});
        cases.add(new Object[] {args("rope", "--inputs", INPUTS, "--axes-dim", "16,-24,72", "--out", r), "--axes-dim"});
        String g = tmp.resolve("glyphs.safetensors").toString();
        cases.add(new Object[] {args("glyphs", "--size", "0", "--out", g), "--size"});
        cases.add(new Object[] {args("glyphs", "--size", "100000", "--out", g), "--size"});
        cases.add(new Object[] {args("glyphs", "--box", "100", "--out", g), "--box"});
        cases.add(new Object[] {args("glyphs", "--fonts", "0", "--out", g), "--fonts"});
        cases.add(new Object[] {args("glyphs", "--fonts", "1000000", "--out", g), "--fonts"});
        String png = tmp.resolve("demo.png").toString();
        cases.add(new Object[] {args("demo", "--model", GLYPHS, "--reference", "-1", "--out", png), "--reference"});
        cases.add(new Object[] {args("demo", "--model", GLYPHS, "--reference", "100000", "--out", png), "--reference"});
        cases.add(new Object[] {args("demo", "--model", GLYPHS, "--prompts", "A,?", "--out", png), "prompt \"?\""});
        String exp = tmp.resolve("exp").toString();
        cases.add(new Object[] {args("experiment", "--model", GLYPHS, "--references", "0", "--out-dir", exp), "--references"});
        cases.add(new Object[] {args("experiment", "--model", GLYPHS, "--references", "100000", "--out-dir", exp), "--references"});
        cases.add(new Object[] {args("experiment", "--model", GLYPHS, "--prompts-per-reference", "0", "--out-dir", exp), "--prompts-per-reference"});
        cases.add(new Object[] {args("experiment", "--model", GLYPHS, "--prompts-per-reference", "1000", "--out-dir", exp), "--prompts-per-reference"});
        for (Object[] c : cases) {
            assertRefused((String[]) c[0], (String) c[1]);
        }
        assertEmpty(tmp);
    }

    /** An output that cannot be written is named with the reason before any work: a folder, a file where a folder must be. */
    @Test
    void unwritableOutputsAreRefusedBeforeWork() throws IOException {
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        Path folder = Files.createDirectories(tmp.resolve("a-folder"));
        for (String[] cmd : commands(tmp.resolve("unused"))) {
            String option = cmd[cmd.length - 2];
            String name = Path.of(cmd[cmd.length - 1]).getFileName().toString();
            if (option.equals("--out")) {
                assertRefused(plus(cmd, option, folder.toString()), "--out " + folder, "is a folder");
            } else {
                assertRefused(plus(cmd, option, file.toString()), option + " " + file, "is a file, not a folder");
            }
            assertRefused(plus(cmd, option, file.resolve("sub").resolve(name).toString()), option, file + " is a file, not a folder");
        }
        String gen = tmp.resolve("g.safetensors").toString();
        assertRefused(args("generate", "--model", MODEL, "--inputs", INPUTS, "--out", gen, "--stats", file.resolve("s.csv").toString()),
                "--stats", "is a file, not a folder");
        assertRefused(args("generate", "--model", MODEL, "--inputs", INPUTS, "--out", gen, "--stats", folder.toString()), "--stats", "is a folder");
        assertRefused(args("generate", "--model", MODEL, "--inputs", INPUTS, "--out", gen, "--stats", gen), "--stats and --out name the same file");
        assertRefused(args("bands", "--out", folder.toString()), "--out", "is a folder");
        assertRefused(args("glyphs", "--out", file.resolve("g.safetensors").toString()), "--out", "is a file, not a folder");
        assertRefused(args("forward", "--model", MODEL, "--inputs", INPUTS, "--out", gen, "--compare", tmp.resolve("none").toString()),
                "--compare", "not found");
        assertFalse(Files.exists(Path.of(gen)));
        assertEquals(List.of("a-file", "a-folder"), Files.list(tmp).map(p -> p.getFileName().toString()).sorted().toList());
    }

    /** A read-only folder; root writes anywhere, so this runs only where permissions apply. */
    @Test
    void readOnlyFolderIsRefusedBeforeWork() throws IOException {
        Path ro = Files.createDirectories(tmp.resolve("ro"));
        Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("r-xr-xr-x"));
        try {
            assumeFalse(Files.isWritable(ro), "running as root: permissions do not stop writes");
            for (String[] cmd : commands(ro)) {
                assertRefused(cmd, cmd[cmd.length - 2], "cannot write in " + ro, "permission denied");
            }
        } finally {
            Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
    }

    /** Missing folders are created, for --stats as for --out (the --stats of the issue failed after the latents were written). */
    @Test
    void outputsInMissingFoldersAreWritten() throws IOException {
        Path out = tmp.resolve("new/a/g.safetensors"), stats = tmp.resolve("other/b/stats.csv");
        CliTest.Result r = run("generate", "--model", MODEL, "--inputs", INPUTS, "--steps", "1", "--out", out.toString(), "--stats", stats.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.size(out) > 0 && Files.readAllLines(stats).size() == 1 + 4, r.out());
        // mode none has no shared attention to measure: the header alone, not a silently missing file
        Path none = tmp.resolve("none.csv");
        r = run("generate", "--model", MODEL, "--inputs", INPUTS, "--steps", "1", "--mode", "none", "--out", out.toString(), "--stats", none.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of("step,block,aligned_mass,reference_share"), Files.readAllLines(none));
    }

    /** A run that fails after computing leaves nothing: no file, no temporary file, no folder it created, the old file intact. */
    @Test
    void failedRunLeavesNoOutputBehind() throws IOException {
        Path garbage = Files.write(tmp.resolve("garbage.safetensors"), new byte[] {1, 2, 3});
        Path out = tmp.resolve("new/sub/f.safetensors");
        CliTest.Result r = run("forward", "--model", MODEL, "--inputs", INPUTS, "--out", out.toString(), "--compare", garbage.toString());
        assertEquals(1, r.code(), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("garbage.safetensors"), r.err());
        assertFalse(Files.exists(tmp.resolve("new")), "the folders this run created are gone");
        Path old = Files.writeString(tmp.resolve("old.safetensors"), "previous result");
        r = run("forward", "--model", MODEL, "--inputs", INPUTS, "--out", old.toString(), "--compare", garbage.toString());
        assertEquals(1, r.code(), r.err());
        assertEquals("previous result", Files.readString(old));
        assertEquals(List.of("garbage.safetensors", "old.safetensors"), Files.list(tmp).map(p -> p.getFileName().toString()).sorted().toList());
    }

    /** Usage errors (an option's value of the wrong type, a missing value or option, an unknown option): one line, exit code 2. */
    @Test
    void usageErrorsAreOneLine() {
        String out = tmp.resolve("o.safetensors").toString();
        String[][] cases = {
                {"generate", "--model", MODEL, "--inputs", INPUTS, "--steps", "many", "--out", out},
                {"generate", "--model", MODEL, "--inputs", INPUTS, "--threads", "99999999999", "--out", out},
                {"generate", "--model", MODEL, "--inputs", INPUTS, "--targets", "1e9", "--out", out},
                {"generate", "--model", MODEL, "--inputs", INPUTS},
                {"forward", "--model"},
                {"denoise", "--model", MODEL, "--inputs", INPUTS, "--stepz", "4", "--out", out},
                {"nonesuch"},
                {},
        };
        for (String[] a : cases) {
            CliTest.Result r = run(a);
            String cmd = String.join(" ", a);
            assertEquals(2, r.code(), cmd + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), cmd + ": one line: " + r.err());
            assertTrue(r.err().startsWith("untwist: usage error: ") && r.err().contains("--help"), cmd + ": " + r.err());
        }
        assertFalse(Files.exists(Path.of(out)));
    }

    /** An unreadable or malformed config.json: one line naming the file and the reason, for every command that reads one. */
    @Test
    void badConfigIsOneLine() throws IOException {
        Path folderConfig = tmp.resolve("m1");
        Files.createDirectories(folderConfig.resolve("config.json")); // root reads any file; nobody reads a folder
        Files.copy(TestSupport.tinyFlux().resolve("weights.safetensors"), folderConfig.resolve("weights.safetensors"));
        Path malformed = tmp.resolve("m2");
        Files.createDirectories(malformed);
        Files.copy(TestSupport.tinyFlux().resolve("weights.safetensors"), malformed.resolve("weights.safetensors"));
        Files.writeString(malformed.resolve("config.json"), "{\n  \"in_channels\": 16,\n  \"out_channels\": \n}\n");
        Path out = tmp.resolve("o.safetensors");
        for (String command : new String[] {"forward", "generate", "rope", "analyze", "denoise"}) {
            for (Path m : new Path[] {folderConfig, malformed}) {
                List<String> a = new ArrayList<>(List.of(command, "--model", m.toString(), "--inputs", INPUTS));
                a.addAll(command.equals("analyze") ? List.of("--out-dir", tmp.resolve("a").toString()) : List.of("--out", out.toString()));
                if (command.equals("denoise")) {
                    a.addAll(List.of("--steps", "1"));
                }
                if (m == folderConfig) {
                    assertRefused(a.toArray(String[]::new), "config.json", "is a folder, not a config file");
                } else {
                    assertRefused(a.toArray(String[]::new), "config.json", "not valid JSON at line 4");
                }
            }
        }
        assertFalse(Files.exists(out));
        assertFalse(Files.exists(tmp.resolve("a")));
    }
}
