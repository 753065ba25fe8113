package org.untwist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.untwist.backend.Backend;
import org.untwist.backend.ScalarBackend;
import org.untwist.flux.FluxInputs;
import org.untwist.flux.FluxModel;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.Tensor;

/** Bad models and bad inputs give errors that name the thing at fault, and leave nothing corrupted. */
class ModelInputErrorsTest {
    @TempDir
    Path tmp;

    private Path copyModel() throws IOException {
        Path dir = tmp.resolve("model");
        Files.createDirectories(dir);
        for (String f : new String[] {"config.json", "weights.safetensors"}) {
            Files.copy(TestSupport.tinyFlux().resolve(f), dir.resolve(f));
        }
        return dir;
    }

    /** Rewrites the weights without {@code drop} and with {@code replace} substituted. */
    private void rewriteWeights(Path dir, String drop, String replaceName, Tensor replacement) throws IOException {
        Map<String, Tensor> kept = new LinkedHashMap<>();
        Path src = TestSupport.tinyFlux().resolve("weights.safetensors");
        try (SafeTensors st = SafeTensors.open(src)) {
            for (String n : st.names()) {
                if (n.equals(drop)) {
                    continue;
                }
                kept.put(n, n.equals(replaceName) ? replacement : st.tensor(n));
            }
            Files.delete(dir.resolve("weights.safetensors"));
            SafeTensors.write(dir.resolve("weights.safetensors"), kept, Map.of());
        }
    }

    @Test
    void missingTensorIsNamed() throws IOException {
        Path dir = copyModel();
        rewriteWeights(dir, "single_blocks.1.linear2.weight", null, null);
        try (Backend be = new ScalarBackend()) {
            var e = assertThrows(IllegalArgumentException.class, () -> FluxModel.load(dir, be));
            assertTrue(e.getMessage().contains("single_blocks.1.linear2.weight") && e.getMessage().contains("missing"), e.getMessage());
        }
    }

    @Test
    void shapeThatDisagreesWithConfigIsNamed() throws IOException {
        Path dir = copyModel();
        try (Tensor wrong = Tensor.allocate(128, 17)) {
            rewriteWeights(dir, null, "img_in.weight", wrong);
        }
        try (Backend be = new ScalarBackend()) {
            var e = assertThrows(IllegalArgumentException.class, () -> FluxModel.load(dir, be));
            assertTrue(e.getMessage().contains("img_in.weight") && e.getMessage().contains("[128, 17]")
                    && e.getMessage().contains("[128, 16]"), e.getMessage());
        }
    }

    @Test
    void axesDimMustSumToHeadDim() throws IOException {
        Path dir = copyModel();
        String cfg = Files.readString(dir.resolve("config.json")).replaceAll("\"axes_dim\"\\s*:\\s*\\[[^]]*]", "\"axes_dim\": [16, 24, 20]");
        Files.writeString(dir.resolve("config.json"), cfg);
        try (Backend be = new ScalarBackend()) {
            var e = assertThrows(IOException.class, () -> FluxModel.load(dir, be));
            assertTrue(e.getMessage().contains("sum(axes_dim) = 60") && e.getMessage().contains("head_dim") && e.getMessage().contains("config.json"),
                    e.getMessage());
        }
    }

    @Test
    void configErrorsNameTheField() throws IOException {
        Path dir = copyModel();
        String cfg = Files.readString(dir.resolve("config.json")).replaceAll("\"num_heads\"\\s*:\\s*2", "\"num_heads\": \"two\"");
        Files.writeString(dir.resolve("config.json"), cfg);
        try (Backend be = new ScalarBackend()) {
            var e = assertThrows(IOException.class, () -> FluxModel.load(dir, be));
            assertTrue(e.getMessage().contains("num_heads"), e.getMessage());
        }
        Files.writeString(dir.resolve("config.json"), "{ not json");
        try (Backend be = new ScalarBackend()) {
            var e = assertThrows(IOException.class, () -> FluxModel.load(dir, be));
            assertTrue(e.getMessage().contains("config.json"), e.getMessage());
        }
    }

    @Test
    void missingModelFolderIsNamed() {
        try (Backend be = new ScalarBackend()) {
            var e = assertThrows(IOException.class, () -> FluxModel.load(tmp.resolve("nowhere"), be));
            assertTrue(e.getMessage().contains("nowhere"), e.getMessage());
        }
    }

    @Test
    void mismatchedInputShapesAreNamedAndOutputUntouched() throws IOException {
        try (Backend be = new ScalarBackend();
             FluxModel model = FluxModel.load(TestSupport.tinyFlux(), be);
             SafeTensors in = SafeTensors.open(TestSupport.tinyFlux().resolve("inputs.safetensors"));
             Tensor wrongIds = Tensor.allocate(1, 59, 3);
             Tensor wrongTxt = Tensor.allocate(1, 7, 47);
             Tensor wrongY = Tensor.allocate(2, 32);
             Tensor pred = Tensor.allocate(1, 60, 16)) {
            pred.set(0, 42f);
            FluxInputs good = new FluxInputs(in.tensor("img"), in.tensor("img_ids"), in.tensor("txt"), in.tensor("txt_ids"),
                    in.tensor("y"), in.tensor("timesteps"), in.tensor("guidance"));
            Map<String, FluxInputs> bad = new LinkedHashMap<>();
            bad.put("img_ids", new FluxInputs(good.img(), wrongIds, good.txt(), good.txtIds(), good.y(), good.timesteps(), good.guidance()));
            bad.put("txt", new FluxInputs(good.img(), good.imgIds(), wrongTxt, good.txtIds(), good.y(), good.timesteps(), good.guidance()));
            bad.put("y", new FluxInputs(good.img(), good.imgIds(), good.txt(), good.txtIds(), wrongY, good.timesteps(), good.guidance()));
            bad.put("guidance", new FluxInputs(good.img(), good.imgIds(), good.txt(), good.txtIds(), good.y(), good.timesteps(), null));
            for (var e : bad.entrySet()) {
                var ex = assertThrows(IllegalArgumentException.class, () -> model.forward(e.getValue(), pred), e.getKey());
                assertTrue(ex.getMessage().contains("'" + e.getKey() + "'"), ex.getMessage());
            }
            assertEquals(42f, pred.get(0), "a rejected call must not write the output");
            try (Tensor wrongOut = Tensor.allocate(1, 60, 15)) {
                var ex = assertThrows(IllegalArgumentException.class, () -> model.forward(good, wrongOut));
                assertTrue(ex.getMessage().contains("out"), ex.getMessage());
            }
            // The model still works after rejecting bad inputs.
            model.forward(good, pred);
            assertTrue(Float.isFinite(pred.get(0)) && pred.get(0) != 42f);
        }
    }
}
