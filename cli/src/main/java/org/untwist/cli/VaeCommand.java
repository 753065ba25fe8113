package org.untwist.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import org.untwist.autoencoder.AutoEncoder;
import org.untwist.autoencoder.AutoEncoderConfig;
import org.untwist.autoencoder.LatentPacking;
import org.untwist.backend.Backend;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code untwist vae}: FLUX's autoencoder on images and latents, and the 2×2 packing of latents into tokens. */
@Command(name = "vae", mixinStandardHelpOptions = true,
        description = {"Runs FLUX's autoencoder (the reference's flux.modules.autoencoder.AutoEncoder): encodes images x [B, 3, H, W] in "
                + "[-1, 1] to the scaled and shifted latent mean (writes 'encoded'), decodes latents z [B, z_channels, h, w] (writes "
                + "'decoded') and packs z into transformer tokens [B, h/2·w/2, 4·C] (writes 'packed').",
                "Input: --inputs, a safetensors file with x, z or both (any floating-point type; computed in float32)."})
final class VaeCommand implements Callable<Integer> {

    @Mixin
    BackendOptions options;

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "Autoencoder folder: config.json (the reference's AutoEncoderParams names, or a diffusers AutoencoderKL config) "
                    + "and weights (.safetensors, or shards with an index) under the reference's key names (ae.safetensors) or diffusers' "
                    + "(a pipeline's vae/ folder).")
    Path model;

    @Option(names = "--inputs", required = true, paramLabel = "FILE", description = "safetensors with x [B, 3, H, W] and/or z [B, C, h, w].")
    Path inputs;

    @Mixin
    OutputOptions output;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter log = spec.commandLine().getOut();
        options.validate();
        try (Outputs files = output.check(); SafeTensors in = TensorFiles.open(inputs, "inputs")) {
            if (!in.contains("x") && !in.contains("z")) {
                throw new IllegalArgumentException(inputs + ": holds neither 'x' (images to encode) nor 'z' (latents to decode); it holds " + in.names());
            }
            AutoEncoderConfig c = AutoEncoderConfig.read(model);
            int f = c.downsamplingFactor();
            Tensor x = in.contains("x") ? checked(in.tensor("x"), "x", c.inChannels(), f, "image channels") : null;
            Tensor z = in.contains("z") ? checked(in.tensor("z"), "z", c.zChannels(), 1, "latent channels") : null;
            long need = 0;
            if (x != null) {
                need = AutoEncoder.workspaceBytes(c, x.dim(0), x.dim(2), x.dim(3));
            }
            if (z != null) {
                need = Math.max(need, AutoEncoder.workspaceBytes(c, z.dim(0), (long) z.dim(2) * f, (long) z.dim(3) * f));
            }
            MemoryBudget.require("vae", need, "for its activations");
            run(files, c, x, z, log);
        }
        return 0;
    }

    /** {@code t} as {@code [B, channels, H, W]} with H and W multiples of {@code factor}, or a one-line error naming the file. */
    private Tensor checked(Tensor t, String name, int channels, int factor, String what) {
        if (!t.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException(inputs + ": " + name + " is " + t.dtype() + ", expected a floating-point tensor");
        }
        if (t.rank() != 4 || t.dim(0) < 1 || t.dim(1) != channels || t.dim(2) < 1 || t.dim(3) < 1) {
            throw new IllegalArgumentException(inputs + ": " + name + " has shape " + Arrays.toString(t.shape()) + ", expected [B, " + channels
                    + ", H, W] (" + channels + " " + what + " in " + model.resolve("config.json") + ")");
        }
        if (t.dim(2) % factor != 0 || t.dim(3) % factor != 0) {
            throw new IllegalArgumentException(inputs + ": " + name + " is " + t.dim(2) + " × " + t.dim(3) + " pixels, not a multiple of the "
                    + "autoencoder's downsampling factor " + factor + " in both directions");
        }
        return t;
    }

    private void run(Outputs files, AutoEncoderConfig c, Tensor x, Tensor z, PrintWriter log) throws Exception {
        Map<String, Tensor> outs = new LinkedHashMap<>();
        try (Backend be = options.create(); AutoEncoder ae = AutoEncoder.create(c, checkpoint(be), be);
             Tensor x32 = x == null ? null : x.copy(DType.F32); Tensor z32 = z == null ? null : z.copy(DType.F32)) {
            log.println(ae.describe());
            if (!ae.unusedParameters().isEmpty()) {
                log.println("note: " + ae.unusedParameters().size() + " tensors of the checkpoint are not used, e.g. " + ae.unusedParameters().get(0));
            }
            try {
                if (x32 != null) {
                    long t0 = System.nanoTime();
                    outs.put("encoded", toHost(be, ae.encode(x32)));
                    log.printf("encoded %s on %s: %.1f ms%n", Arrays.toString(x32.shape()), be.name(), (System.nanoTime() - t0) / 1e6);
                }
                if (z32 != null) {
                    long t0 = System.nanoTime();
                    outs.put("decoded", toHost(be, ae.decode(z32)));
                    log.printf("decoded %s on %s: %.1f ms%n", Arrays.toString(z32.shape()), be.name(), (System.nanoTime() - t0) / 1e6);
                    if (z32.dim(2) % 2 == 0 && z32.dim(3) % 2 == 0) {
                        outs.put("packed", toHost(be, LatentPacking.pack(be, z32)));
                    } else {
                        log.println("packed: not written, the latent's " + z32.dim(2) + " × " + z32.dim(3) + " is not even (2×2 patches)");
                    }
                }
                output.write(files, outs, log);
            } finally {
                outs.values().forEach(Tensor::close);
            }
        }
    }

    /** The weights under {@code ae.safetensors} names: as stored, or renamed from a diffusers {@code vae/} folder's AutoencoderKL keys. */
    private org.untwist.checkpoint.ModelParameters checkpoint(Backend be) {
        org.untwist.io.SafeTensorsFolder files = org.untwist.io.SafeTensorsFolder.open(model);
        org.untwist.io.TensorSource source = org.untwist.checkpoint.DiffusersKeys.count(files, "encoder.down_blocks.") > 0
                ? org.untwist.checkpoint.DiffusersKeys.autoencoder(files) : files;
        return new org.untwist.checkpoint.ModelParameters(source, be);
    }

    /** A host copy of a backend result; the backend's tensor is closed. */
    private static Tensor toHost(Backend be, Tensor result) {
        try (result) {
            Tensor host = Tensor.allocate(result.shape());
            be.copy(result, host);
            return host;
        }
    }
}
