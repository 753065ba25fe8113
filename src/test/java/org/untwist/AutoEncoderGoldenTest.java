package org.untwist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.untwist.autoencoder.AutoEncoder;
import org.untwist.autoencoder.AutoEncoderConfig;
import org.untwist.autoencoder.LatentPacking;
import org.untwist.backend.Backend;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.Tensor;

/**
 * FLUX's autoencoder and the latent packing on every backend: the golden case {@code testdata/golden/ae-tiny-f32}
 * (the reference {@code flux.modules.autoencoder.AutoEncoder} run as-is) and the project's own cases in
 * {@code testdata/autoencoder-cases} (made by {@code pipeline/src/test/python/make_autoencoder_cases.py}: three and
 * four levels, two residual blocks, batch 2, non-square images, BF16 and F16 weights, other scale and shift).
 * Tolerance: 1e-4 of each output's RMS (max abs error), as the golden README states for float32.
 */
class AutoEncoderGoldenTest {
    static final double REL_TOL = 1e-4;

    @TempDir
    Path tmp;

    static Path cases() {
        return TestSupport.goldenRoot().getParent().resolve("autoencoder-cases");
    }

    static List<Arguments> folders() {
        List<Path> folders = List.of(TestSupport.goldenRoot().resolve("ae-tiny-f32"), cases().resolve("ae-3level-bf16"),
                cases().resolve("ae-4level-f16"));
        List<Arguments> args = new ArrayList<>();
        for (String backend : TestSupport.availableBackends()) {
            for (Path f : folders) {
                args.add(Arguments.of(backend, f.getFileName().toString(), f));
            }
        }
        return args;
    }

    @ParameterizedTest(name = "{1} on {0}")
    @MethodSource("folders")
    void matchesTheReference(String backend, String name, Path folder) {
        try (Backend be = TestSupport.backend(backend, 2);
             AutoEncoder ae = AutoEncoder.load(folder, be);
             SafeTensors in = SafeTensors.open(folder.resolve("inputs.safetensors"));
             SafeTensors expected = SafeTensors.open(folder.resolve("outputs.safetensors"));
             Tensor encoded = ae.encode(in.tensor("x"));
             Tensor decoded = ae.decode(in.tensor("z"));
             Tensor packed = LatentPacking.pack(be, in.tensor("z"));
             Tensor unpacked = LatentPacking.unpack(be, packed, in.tensor("z").dim(2), in.tensor("z").dim(3))) {
            assertEquals(List.of(), ae.unusedParameters(), name + ": parameters the network does not use");
            check(name + " encoded on " + backend, be, encoded, expected.tensor("encoded"));
            check(name + " decoded on " + backend, be, decoded, expected.tensor("decoded"));
            check(name + " packed on " + backend, be, packed, expected.tensor("packed"));
            try (Tensor host = Tensor.allocate(unpacked.shape())) {
                be.copy(unpacked, host);
                assertArrayEquals(in.tensor("z").toFloatArray(), host.toFloatArray(), name + ": unpack(pack(z)) is not z");
            }
        }
    }

    private static void check(String what, Backend be, Tensor actual, Tensor expected) {
        try (Tensor host = Tensor.allocate(actual.shape())) {
            assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
            be.copy(actual, host);
            double rms = TestSupport.rms(expected);
            double err = TestSupport.maxAbsDiff(host, expected);
            assertTrue(rms > 0.05, what + ": reference RMS " + rms + " is too small to compare against");
            assertTrue(err <= REL_TOL * rms, what + ": max |diff| = " + err + " > " + REL_TOL + " × RMS " + rms);
            System.out.printf("%s: max |diff| %.2e = %.2e of the RMS%n", what, err, err / rms);
        }
    }

    /** Packing is the index map of the reference's rearrange, bit for bit, on odd channel counts and batch 3. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("org.untwist.TestSupport#availableBackends")
    void packingIsTheReferenceRearrange(String backend) {
        int b = 3, c = 5, h = 6, w = 10;
        SplittableRandom r = new SplittableRandom(7);
        float[] values = new float[b * c * h * w];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) r.nextGaussian();
        }
        try (Backend be = TestSupport.backend(backend, 2); Tensor z = Tensor.of(values, b, c, h, w); Tensor tokens = LatentPacking.pack(be, z);
             Tensor host = Tensor.allocate(tokens.shape())) {
            be.copy(tokens, host);
            assertArrayEquals(new int[] {b, (h / 2) * (w / 2), 4 * c}, host.shape());
            for (int bi = 0; bi < b; bi++) {
                for (int ci = 0; ci < c; ci++) {
                    for (int y = 0; y < h; y++) {
                        for (int x = 0; x < w; x++) {
                            long token = (long) (y / 2) * (w / 2) + x / 2, feature = ci * 4L + (y % 2) * 2 + x % 2;
                            float expected = values[((bi * c + ci) * h + y) * w + x];
                            assertEquals(expected, host.get((bi * host.dim(1) + token) * host.dim(2) + feature), "b" + bi + " c" + ci + " y" + y + " x" + x);
                        }
                    }
                }
            }
        }
        try (Backend be = TestSupport.backend(backend, 1); Tensor odd = Tensor.allocate(1, 4, 3, 4)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LatentPacking.pack(be, odd));
            assertTrue(e.getMessage().contains("even"), e.getMessage());
        }
    }

    @Test
    void rejectsSizesThatAreNotMultiplesOfTheFactor() {
        try (Backend be = TestSupport.backend("scalar", 1); AutoEncoder ae = AutoEncoder.load(cases().resolve("ae-4level-f16"), be);
             Tensor x = Tensor.allocate(1, 3, 32, 44); Tensor x4 = Tensor.allocate(1, 4, 32, 48); Tensor z = Tensor.allocate(1, 4, 4, 6)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ae.encode(x));
            assertTrue(e.getMessage().contains("32 × 44 is not a multiple of the downsampling factor 8"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ae.encode(x4));
            assertTrue(e.getMessage().contains("[1, 4, 32, 48], expected F32 [B, 3, H, W]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ae.decode(z));
            assertTrue(e.getMessage().contains("8 latent channels"), e.getMessage());
        }
    }

    /** FLUX.1's autoencoder at 1024 × 1024: three 1 GiB buffers (256 channels at full size) and the rest. */
    @Test
    void workspaceOfFlux1At1024() {
        AutoEncoderConfig c = AutoEncoderConfig.flux1();
        long full = 1024L * 1024;
        long expected = 4 * (3 * 256 * full + 3 * 512 * (128L * 128) + 3 * full);
        assertEquals(expected, AutoEncoder.workspaceBytes(c, 1, 1024, 1024));
        System.out.printf("FLUX.1 autoencoder workspace at 1024 x 1024, batch 1: %.3f GiB%n", expected / (1024.0 * 1024 * 1024));
        assertEquals(Long.MAX_VALUE, AutoEncoder.workspaceBytes(c, Integer.MAX_VALUE, 1 << 30, 1 << 30));
    }

    /**
     * What a decode and an encode really allocate on the backend (counted through a proxy): the decode exactly
     * {@link AutoEncoder#workspaceBytes}, the encode no more.
     */
    @Test
    void allocatesWhatWorkspaceBytesSays() {
        long[] allocated = new long[1];
        try (Backend scalar = TestSupport.backend("scalar", 2)) {
            Backend counting = (Backend) java.lang.reflect.Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                    (proxy, method, args) -> {
                        try {
                            Object result = method.invoke(scalar, args);
                            if (method.getName().equals("allocate")) {
                                allocated[0] += ((Tensor) result).byteSize();
                            }
                            return result;
                        } catch (java.lang.reflect.InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
            Path folder = cases().resolve("ae-3level-bf16");
            try (AutoEncoder ae = AutoEncoder.load(folder, counting); SafeTensors in = SafeTensors.open(folder.resolve("inputs.safetensors"))) {
                Tensor x = in.tensor("x");
                long expected = AutoEncoder.workspaceBytes(ae.config(), x.dim(0), x.dim(2), x.dim(3));
                allocated[0] = 0;
                ae.decode(in.tensor("z")).close();
                assertEquals(expected, allocated[0], "decode");
                allocated[0] = 0;
                ae.encode(x).close();
                assertTrue(allocated[0] <= expected, "encode allocated " + allocated[0] + " > " + expected);
            }
        }
    }

    /** A pipeline's vae/config.json (diffusers AutoencoderKL, FLUX.1 [dev]'s values) reads as the reference's ae_params. */
    @Test
    void readsDiffusersConfig() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("vae"));
        Files.writeString(dir.resolve("config.json"), """
                {"_class_name": "AutoencoderKL", "_diffusers_version": "0.30.0.dev0", "act_fn": "silu",
                 "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D",
                 "DownEncoderBlock2D", "DownEncoderBlock2D"], "force_upcast": true, "in_channels": 3, "latent_channels": 16,
                 "latents_mean": null, "latents_std": null, "layers_per_block": 2, "mid_block_add_attention": true,
                 "norm_num_groups": 32, "out_channels": 3, "sample_size": 1024, "scaling_factor": 0.3611, "shift_factor": 0.1159,
                 "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
                 "use_post_quant_conv": false, "use_quant_conv": false}
                """);
        assertEquals(AutoEncoderConfig.flux1(), AutoEncoderConfig.read(dir));
        Files.writeString(dir.resolve("config.json"), """
                {"_class_name": "AutoencoderKL", "block_out_channels": [128, 256, 512, 512], "latent_channels": 4, "layers_per_block": 2,
                 "scaling_factor": 0.18215, "use_quant_conv": true}
                """);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AutoEncoderConfig.read(dir));
        assertTrue(e.getMessage().startsWith(dir.resolve("config.json") + ": use_quant_conv"), e.getMessage());
        Files.writeString(dir.resolve("config.json"), """
                {"ch": 48, "ch_mult": [1, 2], "num_res_blocks": 1, "z_channels": 4, "scale_factor": 1, "shift_factor": 0}
                """);
        e = assertThrows(IllegalArgumentException.class, () -> AutoEncoderConfig.read(dir));
        assertTrue(e.getMessage().contains("config.json: autoencoder config: level channels ch × ch_mult = 48 must be a multiple of the 32"),
                e.getMessage());
        Files.writeString(dir.resolve("config.json"), """
                {"ch": 32, "ch_mult": [1, "2"], "num_res_blocks": 1, "z_channels": 4, "scale_factor": 1, "shift_factor": 0}
                """);
        e = assertThrows(IllegalArgumentException.class, () -> AutoEncoderConfig.read(dir));
        assertTrue(e.getMessage().contains("config.json: 'ch_mult' must be a non-empty list of positive integers"), e.getMessage());
    }
}
