import java.nio.file.Files;
import java.nio.file.Path;
import org.untwist.autoencoder.AutoEncoder;
import org.untwist.autoencoder.AutoEncoderConfig;
import org.untwist.flux.FluxConfig;
import org.untwist.flux.FluxModel;

/**
 * The working memory (on top of the mapped weights) that FLUX.1-dev's transformer and autoencoder allocate, from the
 * models' workspaceBytes formulas (which the tests hold equal to what a forward pass and a decode allocate).
 * Run from the repository root after a build, with core's and pipeline's classes and the Jackson 2.21 jars
 * (core, databind, annotations) on the class path: see README.md, "Your own FLUX.1 checkpoint".
 */
public class Workspace {
    public static void main(String[] args) throws Exception {
        Path cfg = Files.createTempFile("flux1-dev", ".json"); // FLUX.1 [dev]'s FluxParams (BFL's flux/util.py)
        Files.writeString(cfg, """
                {"in_channels": 64, "out_channels": 64, "vec_in_dim": 768, "context_in_dim": 4096, "hidden_size": 3072, "mlp_ratio": 4.0,
                 "num_heads": 24, "depth": 19, "depth_single_blocks": 38, "axes_dim": [16, 56, 56], "theta": 10000, "qkv_bias": true,
                 "guidance_embed": true}""");
        FluxConfig dev = FluxConfig.read(cfg);
        Files.delete(cfg);
        double gib = 1024.0 * 1024 * 1024;
        for (int side : new int[] {512, 1024}) {
            long tokens = (long) (side / 16) * (side / 16);
            for (int batch : new int[] {1, 2}) {
                System.out.printf("transformer %d² batch %d, 512 text tokens: %.2f GiB (diffusers split projections: %.2f GiB)%n", side, batch,
                        FluxModel.workspaceBytes(dev, batch, 512, tokens) / gib, FluxModel.workspaceBytes(dev, batch, 512, tokens, 3) / gib);
            }
            System.out.printf("autoencoder %d² batch 1: %.2f GiB%n", side, AutoEncoder.workspaceBytes(AutoEncoderConfig.flux1(), 1, side, side) / gib);
        }
    }
}
