package org.untwist.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.untwist.flux.FluxInputs;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.Tensor;

/** Reading inputs and writing outputs as safetensors, and comparing outputs with a reference file. */
final class TensorFiles {
    private TensorFiles() {
    }

    static SafeTensors open(Path file, String role) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(role + " file not found: " + file);
        }
        return SafeTensors.open(file);
    }

    /**
     * {@code {batch, text tokens, image tokens}} from the shapes of 'img' and 'txt', for a memory estimate before
     * anything is allocated; null when they are missing or of the wrong rank (validation names that later).
     */
    static long[] geometry(SafeTensors f) {
        if (!f.contains("img") || !f.contains("txt") || f.tensor("img").rank() != 3 || f.tensor("txt").rank() != 3) {
            return null;
        }
        return new long[] {f.tensor("img").dim(0), f.tensor("txt").dim(1), f.tensor("img").dim(1)};
    }

    static Tensor require(SafeTensors f, String name) {
        if (!f.contains(name)) {
            throw new IllegalArgumentException(f.path() + ": missing input tensor '" + name + "' (it holds " + f.names() + ")");
        }
        return f.tensor(name);
    }

    /** The model inputs named as in the reference ({@code img, img_ids, txt, txt_ids, y, timesteps, guidance}). */
    static FluxInputs modelInputs(SafeTensors f, boolean needGuidance, boolean needTimesteps) {
        return new FluxInputs(require(f, "img"), require(f, "img_ids"), require(f, "txt"), require(f, "txt_ids"), require(f, "y"),
                needTimesteps ? require(f, "timesteps") : null,
                needGuidance && f.contains("guidance") ? f.tensor("guidance") : null);
    }

    static String describe(Map<String, Tensor> tensors) {
        StringBuilder sb = new StringBuilder();
        tensors.forEach((k, v) -> sb.append(sb.isEmpty() ? "" : ", ").append(k).append(Arrays.toString(v.shape())));
        return sb.toString();
    }

    /**
     * Prints, for each output tensor that the reference file also holds, the largest absolute difference and
     * that difference relative to the reference tensor's RMS.
     */
    static void compare(Path referenceFile, Map<String, Tensor> outputs, PrintWriter log) {
        try (SafeTensors ref = open(referenceFile, "reference")) {
            Map<String, String> rows = new LinkedHashMap<>();
            for (Map.Entry<String, Tensor> e : outputs.entrySet()) {
                if (!ref.contains(e.getKey())) {
                    continue;
                }
                Tensor expected = ref.tensor(e.getKey());
                Tensor actual = e.getValue();
                if (!actual.hasShape(expected.shape())) {
                    rows.put(e.getKey(), "shape " + Arrays.toString(actual.shape()) + " vs reference " + Arrays.toString(expected.shape()));
                    continue;
                }
                double max = 0, ss = 0;
                for (long i = 0; i < expected.numel(); i++) {
                    max = Math.max(max, Math.abs((double) actual.get(i) - expected.get(i)));
                    ss += (double) expected.get(i) * expected.get(i);
                }
                double rms = Math.sqrt(ss / Math.max(1, expected.numel()));
                rows.put(e.getKey(), String.format("max |diff| %.3e   (%.3e of the reference RMS %.4f)", max, rms == 0 ? 0 : max / rms, rms));
            }
            if (rows.isEmpty()) {
                log.println("compare: " + referenceFile + " holds none of " + outputs.keySet());
            }
            rows.forEach((k, v) -> log.printf("compare %-10s %s%n", k, v));
        }
    }
}
