package org.untwist.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.untwist.backend.Backend;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;
import org.untwist.text.PromptTokenizer;
import org.untwist.text.TextEncoder;
import org.untwist.text.TextEncoding;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code untwist encode-text}: a FLUX.1 text encoder (T5 or CLIP) on token ids or prompts. */
@Command(name = "encode-text", mixinStandardHelpOptions = true,
        description = {"Runs a FLUX.1 text encoder: T5 (writes last_hidden_state, FLUX.1's txt) or CLIP's text tower (also "
                + "pooler_output, FLUX.1's y), chosen by the folder's config.json.",
                "Input: --inputs (a safetensors file with input_ids [B, L], int64 or int32) or --prompt (tokenized first; "
                        + "input_ids is written too)."})
final class EncodeTextCommand implements Callable<Integer> {

    @Mixin
    BackendOptions options;

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "Text encoder folder: config.json and weights (model.safetensors, or shards with model.safetensors.index.json), "
                    + "e.g. a pipeline's text_encoder/ or text_encoder_2/.")
    Path model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    static final class Input {
        @Option(names = "--inputs", required = true, paramLabel = "FILE", description = "safetensors with input_ids [B, L].")
        Path inputs;

        @Option(names = "--prompt", required = true, arity = "1..*", paramLabel = "TEXT", description = "One or more prompts (a batch).")
        List<String> prompts;
    }

    @Option(names = "--tokenizer", paramLabel = "DIR",
            description = "Tokenizer folder for --prompt (default: the model folder if it holds one, else the pipeline's tokenizer/ "
                    + "beside text_encoder/ or tokenizer_2/ beside text_encoder_2/).")
    Path tokenizer;

    @Option(names = "--length", paramLabel = "N",
            description = "Tokens per prompt for --prompt: truncate and pad to N (default: CLIP 77, T5 512 as FLUX.1 [dev]; [schnell] uses 256).")
    Integer length;

    @Mixin
    OutputOptions output;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter log = spec.commandLine().getOut();
        options.validate();
        if (length != null && length < 2) {
            throw new IllegalArgumentException("--length must be at least 2 (start and end tokens), got " + length);
        }
        if (input.inputs != null && (tokenizer != null || length != null)) {
            throw new IllegalArgumentException("--tokenizer and --length apply to --prompt, not to --inputs");
        }
        try (Outputs files = output.check()) {
            int[][] ids = input.inputs != null ? readIds(input.inputs) : tokenize();
            try (Backend be = options.create(); TextEncoder encoder = TextEncoder.load(model, be)) {
                log.println(encoder.describe());
                long t0 = System.nanoTime();
                try (TextEncoding encoding = encoder.encode(ids)) {
                    be.synchronize();
                    log.printf("encoded %d × %d tokens on %s: %.1f ms%n", ids.length, ids[0].length, be.name(), (System.nanoTime() - t0) / 1e6);
                    write(files, be, encoding, ids, log);
                }
            }
        }
        return 0;
    }

    private int[][] tokenize() throws Exception {
        PromptTokenizer tok = TokenizerFolders.load(tokenizer != null ? tokenizer : model);
        int n = length != null ? length : tok.defaultLength();
        int[][] ids = new int[input.prompts.size()][];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = tok.encode(input.prompts.get(i), n);
        }
        return ids;
    }

    /** {@code input_ids [B, L]} stored as I64 or I32. */
    static int[][] readIds(Path file) {
        try (SafeTensors in = TensorFiles.open(file, "inputs")) {
            Tensor t = TensorFiles.require(in, "input_ids");
            if (t.dtype() != DType.I64 && t.dtype() != DType.I32) {
                throw new IllegalArgumentException(file + ": input_ids is " + t.dtype() + ", expected integer ids (I64 or I32)");
            }
            if (t.rank() != 2 || t.dim(0) == 0 || t.dim(1) == 0) {
                throw new IllegalArgumentException(file + ": input_ids has shape " + java.util.Arrays.toString(t.shape()) + ", expected [B, L]");
            }
            int[][] ids = new int[t.dim(0)][t.dim(1)];
            for (int b = 0; b < ids.length; b++) {
                for (int l = 0; l < ids[b].length; l++) {
                    long v = t.getLong((long) b * ids[b].length + l);
                    if (v < 0 || v > Integer.MAX_VALUE) {
                        throw new IllegalArgumentException(file + ": input_ids[" + b + "][" + l + "] = " + v + " is not a token id");
                    }
                    ids[b][l] = (int) v;
                }
            }
            return ids;
        }
    }

    private void write(Outputs files, Backend be, TextEncoding encoding, int[][] ids, PrintWriter log) throws Exception {
        Map<String, Tensor> outs = new LinkedHashMap<>();
        try (Tensor hidden = Tensor.allocate(encoding.lastHiddenState().shape());
             Tensor pooled = encoding.pooled() == null ? null : Tensor.allocate(encoding.pooled().shape());
             Tensor idTensor = Tensor.allocate(DType.I64, ids.length, ids[0].length)) {
            be.copy(encoding.lastHiddenState(), hidden);
            outs.put("last_hidden_state", hidden);
            if (pooled != null) {
                be.copy(encoding.pooled(), pooled);
                outs.put("pooler_output", pooled);
            }
            if (input.prompts != null) {
                for (int b = 0; b < ids.length; b++) {
                    for (int l = 0; l < ids[b].length; l++) {
                        idTensor.setLong((long) b * ids[b].length + l, ids[b][l]);
                    }
                }
                outs.put("input_ids", idTensor);
            }
            output.write(files, outs, log);
        }
    }
}
