package org.untwist.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import org.untwist.tensor.Tensor;
import picocli.CommandLine.Option;

/** {@code --out} and {@code --compare}, shared by the commands that reproduce reference tensors. */
final class OutputOptions {
    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Output safetensors file.")
    Path out;

    @Option(names = "--compare", paramLabel = "FILE", description = "Reference safetensors: print the error of each output it also holds.")
    Path compare;

    /** Writes the outputs and, when asked, compares them with the reference file. */
    void write(Map<String, Tensor> outputs, PrintWriter log) throws IOException {
        TensorFiles.write(out, outputs, log);
        if (compare != null) {
            TensorFiles.compare(compare, outputs, log);
        }
    }
}
