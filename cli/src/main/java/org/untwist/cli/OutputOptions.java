package org.untwist.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.Tensor;
import picocli.CommandLine.Option;

/** {@code --out} and {@code --compare}, shared by the commands that reproduce reference tensors. */
final class OutputOptions {
    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Output safetensors file.")
    Path out;

    @Option(names = "--compare", paramLabel = "FILE", description = "Reference safetensors: print the error of each output it also holds.")
    Path compare;

    /** Checks, before any work, that {@code --out} can be written and that {@code --compare} is a file. */
    Outputs check() {
        if (compare != null && !Files.isRegularFile(compare)) {
            throw new IllegalArgumentException("--compare " + compare + ": " + (Files.isDirectory(compare) ? "is a folder" : "file not found"));
        }
        return new Outputs().file("--out", out);
    }

    /** Writes the outputs and, when asked, compares them with the reference file; the file appears only when both succeed. */
    void write(Outputs files, Map<String, Tensor> outputs, PrintWriter log) throws IOException {
        files.write(out, f -> SafeTensors.write(f, outputs, Map.of("producer", "untwist")));
        if (compare != null) {
            TensorFiles.compare(compare, outputs, log);
        }
        files.commit();
        log.println("wrote " + out + ": " + TensorFiles.describe(outputs));
    }
}
