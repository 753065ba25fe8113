package org.untwist.gpu;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The cuDNN attention winners of one device identity (its label and the cuDNN version) on disk, so that a later
 * process finalizes only the configuration an earlier one timed fastest instead of every candidate: finalizing compiles
 * kernels, a few hundred milliseconds per candidate. A text file in the kernel cache folder ({@link KernelModule#cacheRoot}),
 * one line per attention shape: the shape's key (b, h, sq, skv, d, stats, bshd, oBshd, kvRows), the heuristics mode,
 * the index in that mode's results and cuDNN's global engine index, tab-separated, under a header naming the identity.
 * Written whole to a temporary file and moved over the old one, so a reader never sees half a file; a file that
 * cannot be written is skipped (the choice is timed again next time). Deleting the file forgets its winners.
 */
record CudnnPlanChoiceFile(Path path, String identity) {
    private static final System.Logger LOG = System.getLogger("org.untwist.gpu");
    private static final String HEADER = "# untwist cuDNN attention winners: ";

    /** The file of {@code identity} under the kernel cache folder, or empty where that cache is off. */
    static Optional<CudnnPlanChoiceFile> of(String identity) {
        return KernelModule.cacheRoot().map(root -> new CudnnPlanChoiceFile(root.resolve("cudnn-attention-" + digest(identity) + ".tsv"), identity));
    }

    /**
     * The winners written so far; none where there is no file. A line that cannot be read, or a file of another
     * identity, is reported in one warning naming the file and is otherwise ignored: those shapes are timed again.
     */
    Map<List<Integer>, CudnnPlanChoices.Choice> read() {
        return read(true);
    }

    /** As {@link #read()}; {@code warn} false for the read before a write, which reports nothing the write does not. */
    private Map<List<Integer>, CudnnPlanChoices.Choice> read(boolean warn) {
        Map<List<Integer>, CudnnPlanChoices.Choice> out = new LinkedHashMap<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(path, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return out;
        } catch (CharacterCodingException e) {
            warn(warn, "cuDNN plan cache " + path + " is not UTF-8 text; its shapes are timed again");
            return out;
        } catch (IOException | RuntimeException e) {
            warn(warn, "cuDNN plan cache " + path + " unreadable (" + e + "); its shapes are timed again");
            return out;
        }
        if (lines.isEmpty() || !lines.get(0).equals(HEADER + identity)) {
            warn(warn, "cuDNN plan cache " + path + " does not start with the header of " + identity + "; its shapes are timed again");
            return out;
        }
        int bad = 0, firstBad = 0;
        for (int n = 1; n < lines.size(); n++) {
            String line = lines.get(n);
            if (line.isBlank()) {
                continue;
            }
            try {
                String[] f = line.split("\t");
                if (f.length != 4) {
                    throw new IllegalArgumentException("4 fields expected");
                }
                List<Integer> shape = new ArrayList<>();
                for (String s : f[0].split(",")) {
                    shape.add(Integer.parseInt(s.strip()));
                }
                if (shape.size() != 9) {
                    throw new IllegalArgumentException("9 shape numbers expected");
                }
                if (!f[1].equals("A") && !f[1].equals("B")) {
                    throw new IllegalArgumentException("heuristics mode " + f[1]);
                }
                out.put(List.copyOf(shape), new CudnnPlanChoices.Choice(f[1], Integer.parseInt(f[2]), Long.parseLong(f[3])));
            } catch (RuntimeException e) {
                if (bad++ == 0) {
                    firstBad = n + 1;
                }
            }
        }
        if (bad > 0) {
            warn(warn, "cuDNN plan cache " + path + ": " + bad + " unreadable line(s), the first line " + firstBad + "; those shapes are timed again");
        }
        return out;
    }

    private static void warn(boolean warn, String message) {
        LOG.log(warn ? System.Logger.Level.WARNING : System.Logger.Level.DEBUG, message);
    }

    /**
     * Adds or replaces the winner of {@code shape}, keeping what the file holds (another process may have added shapes
     * since this one read it). False where the file could not be written.
     */
    boolean put(List<Integer> shape, CudnnPlanChoices.Choice winner) {
        Map<List<Integer>, CudnnPlanChoices.Choice> all = read(false); // bad lines are dropped: the write repairs the file
        all.put(List.copyOf(shape), winner);
        StringBuilder text = new StringBuilder(HEADER).append(identity).append('\n');
        all.entrySet().stream().sorted(Comparator.comparing(e -> e.getKey().toString())).forEach(e -> {
            StringBuilder key = new StringBuilder();
            for (int v : e.getKey()) {
                key.append(key.isEmpty() ? "" : ",").append(v);
            }
            CudnnPlanChoices.Choice c = e.getValue();
            text.append(key).append('\t').append(c.mode()).append('\t').append(c.index()).append('\t').append(c.engine()).append('\n');
        });
        Path tmp = null;
        try {
            Files.createDirectories(path.getParent());
            tmp = Files.createTempFile(path.getParent(), "cudnn-attention", ".tmp");
            Files.writeString(tmp, text, StandardCharsets.UTF_8);
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            return true;
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "cuDNN plan cache not written: " + e);
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the move failed and so did the clean-up: a stray .tmp file in a cache folder, nothing reads it
                }
            }
            return false;
        }
    }

    private static String digest(String identity) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            return HexFormat.of().formatHex(md.digest(identity.getBytes(StandardCharsets.UTF_8))).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }
}
