package org.untwist.pipeline;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Function;
import org.untwist.autoencoder.AutoEncoder;
import org.untwist.autoencoder.AutoEncoderConfig;
import org.untwist.backend.Backend;
import org.untwist.checkpoint.ConfigFile;
import org.untwist.checkpoint.DiffusersKeys;
import org.untwist.checkpoint.ModelParameters;
import org.untwist.checkpoint.TensorViews;
import org.untwist.flux.FluxConfig;
import org.untwist.flux.FluxModel;
import org.untwist.flux.FluxWeightSource;
import org.untwist.io.GgufFile;
import org.untwist.io.SafeTensorsFolder;
import org.untwist.io.TensorFileException;
import org.untwist.io.TensorSource;
import org.untwist.text.ClipTextConfig;
import org.untwist.text.ClipTextEncoder;
import org.untwist.text.PromptTokenizer;
import org.untwist.text.T5Config;
import org.untwist.text.T5Encoder;
import org.untwist.text.TextEncoder;

/**
 * A FLUX.1 checkpoint as users have it, recognized by {@link #open}: a diffusers {@code FluxPipeline} folder, a
 * single file with Black Forest Labs' keys (bare or under ComfyUI's {@code model.diffusion_model.}, maybe fp8, maybe a
 * full checkpoint with the text encoders and the autoencoder inside; safetensors, or GGUF as ComfyUI-GGUF stores FLUX.1,
 * its Q8_0 and Q4_K weights dequantized by the kernels as they read them), or untwist's model folder ({@code config.json}
 * with {@code FluxParams} names and {@code weights.safetensors}). It gives the transformer, the text encoders and
 * tokenizers, the autoencoder's parameters under {@code ae.safetensors} names with its config, and the sampling
 * defaults; parts a single file lacks come from {@link ComponentPaths}. Everything is a view of the mapped files.
 *
 * <p>Every problem is an {@link IllegalArgumentException} with a one-line message naming the path and what is
 * wrong: another architecture (SD 1.5, SDXL, SD3, FLUX.2, ...), a missing subfolder or file, a wrong key set,
 * an unsupported type. Nothing is half-loaded.
 */
public final class FluxCheckpoint {

    /** How the checkpoint is laid out. */
    public enum Layout {
        /** A diffusers {@code FluxPipeline} folder ({@code model_index.json}, {@code transformer/}, ...). */
        DIFFUSERS,
        /** One safetensors or GGUF file with FLUX.1 keys (BFL's, or ComfyUI's with {@code model.diffusion_model.}). */
        SINGLE_FILE,
        /** untwist's folder: {@code config.json} ({@code FluxParams} names) and {@code weights.safetensors}. */
        MODEL_FOLDER
    }

    private static final List<String> DIFFUSERS_PARTS = List.of("transformer", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "vae",
            "scheduler");

    private final Path path;
    private final Layout layout;
    private final ComponentPaths parts;
    private final FluxConfig config;
    private final String prefix; // a single file's transformer prefix ("" or model.diffusion_model.)
    private final SamplingDefaults defaults;
    private AutoEncoderConfig autoencoderConfig; // read on first use (it may map ae.safetensors)

    private FluxCheckpoint(Path path, Layout layout, ComponentPaths parts, FluxConfig config, String prefix, SamplingDefaults defaults) {
        this.path = path;
        this.layout = layout;
        this.parts = parts;
        this.config = config;
        this.prefix = prefix;
        this.defaults = defaults;
    }

    /**
     * Recognizes {@code path} (reading only headers and configs) and checks that it is a FLUX.1 checkpoint.
     *
     * @param parts the files or folders of parts the path lacks or that replace its own ({@link ComponentPaths#NONE})
     * @throws IllegalArgumentException in one line, naming the path and what is wrong
     */
    public static FluxCheckpoint open(Path path, ComponentPaths parts) {
        if (Files.isDirectory(path)) {
            if (Files.isRegularFile(path.resolve("model_index.json"))) {
                return diffusers(path, parts);
            }
            if (Files.isRegularFile(path.resolve("config.json")) && Files.isRegularFile(path.resolve("weights.safetensors"))) {
                try {
                    FluxConfig c = FluxConfig.read(path.resolve("config.json"));
                    return new FluxCheckpoint(path, Layout.MODEL_FOLDER, parts, c, "", defaultsOf(c, null));
                } catch (IOException e) {
                    throw new IllegalArgumentException(e.getMessage(), e);
                }
            }
            throw new IllegalArgumentException(path + ": not a FLUX.1 checkpoint folder (neither a diffusers pipeline with model_index.json nor"
                    + " config.json + weights.safetensors)");
        }
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException(path + ": no such file or folder");
        }
        try (TensorSource file = open(path)) {
            if (file instanceof GgufFile gguf) {
                String arch = gguf.metadataString("general.architecture");
                if (arch != null && !arch.equals("flux")) {
                    throw new IllegalArgumentException(path + ": a GGUF file of architecture '" + arch + "', not FLUX.1 ('flux'): not supported");
                }
            }
            List<String> names = file.names();
            String prefix = names.stream().anyMatch(n -> n.startsWith(CheckpointKeys.DIFFUSION_PREFIX)) ? CheckpointKeys.DIFFUSION_PREFIX : "";
            String foreign = CheckpointKeys.foreignArchitecture(names);
            if (foreign != null) {
                throw new IllegalArgumentException(path + ": a " + foreign + " checkpoint, not FLUX.1: not supported");
            }
            if (!file.contains(prefix + CheckpointKeys.FLUX_KEY)) {
                throw new IllegalArgumentException(path + ": not a FLUX.1 transformer (no '" + CheckpointKeys.FLUX_KEY + "'; " + whatItIs(names) + ")");
            }
            try (TensorSource t = TensorViews.withoutPrefix(file, prefix, false)) {
                CheckpointKeys.rejectScaledFp8(t);
                FluxConfig c = CheckpointKeys.inferFlux(t);
                if (c.inChannels() != 64) {
                    throw new IllegalArgumentException(path + ": img_in takes " + c.inChannels() + " channels (FLUX.1 Fill takes 384, Depth and"
                            + " Canny 128): only text-to-image FLUX.1 (64) is supported");
                }
                return new FluxCheckpoint(path, Layout.SINGLE_FILE, parts, c, prefix, defaultsOf(c, null));
            }
        }
    }

    private static FluxCheckpoint diffusers(Path root, ComponentPaths parts) {
        String cls = ConfigFile.read(root.resolve("model_index.json")).stringOr("_class_name", "");
        if (!cls.equals("FluxPipeline")) {
            throw new IllegalArgumentException(root.resolve("model_index.json") + ": pipeline '" + cls + "' is not supported (supported: FluxPipeline)");
        }
        for (String part : DIFFUSERS_PARTS) {
            if (!Files.isDirectory(root.resolve(part))) {
                throw new IllegalArgumentException(root + ": missing subfolder " + part + "/ of a diffusers FluxPipeline");
            }
        }
        FluxConfig c;
        try (TensorSource t = open(root.resolve("transformer"))) {
            c = CheckpointKeys.diffusersFlux(root.resolve("transformer").resolve("config.json"), t);
        }
        ScheduleSettings s = ScheduleSettings.read(root.resolve("scheduler").resolve("scheduler_config.json"));
        return new FluxCheckpoint(root, Layout.DIFFUSERS, parts, c, "", defaultsOf(c, s));
    }

    private static SamplingDefaults defaultsOf(FluxConfig c, ScheduleSettings s) {
        return c.guidanceEmbed() ? SamplingDefaults.dev(s == null ? ScheduleSettings.DEV : s) : SamplingDefaults.schnell(s == null ? ScheduleSettings.SCHNELL : s);
    }

    /** A folder's or a file's tensors: a GGUF file (by its magic), else safetensors (a file, or a folder's files). */
    private static TensorSource open(Path p) {
        try {
            return Files.isRegularFile(p) && GgufFile.isGguf(p) ? GgufFile.open(p) : SafeTensorsFolder.open(p);
        } catch (TensorFileException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    private static String whatItIs(List<String> names) {
        if (names.stream().anyMatch(n -> n.contains("encoder.down.") || n.contains("encoder.down_blocks."))) {
            return "it holds an autoencoder";
        }
        if (names.stream().anyMatch(n -> n.contains("embeddings.token_embedding.") || n.contains("encoder.block.0.layer.0.SelfAttention."))) {
            return "it holds a text encoder";
        }
        return names.size() + " tensors, e.g. '" + (names.isEmpty() ? "" : names.getFirst()) + "'";
    }

    public Path path() {
        return path;
    }

    public Layout layout() {
        return layout;
    }

    /** The transformer's config (read, or inferred from a single file's keys and shapes). */
    public FluxConfig transformerConfig() {
        return config;
    }

    /** Steps, guidance and schedule: the scheduler config of a diffusers folder, else FLUX.1 [dev]'s or [schnell]'s. */
    public SamplingDefaults defaults() {
        return defaults;
    }

    /** One line: the layout, the variant and the path. */
    public String describe() {
        return (config.guidanceEmbed() ? "FLUX.1 [dev]-like" : "FLUX.1 [schnell]-like") + " " + layout.name().toLowerCase().replace('_', ' ') + " "
                + path + " (" + config.depth() + " double + " + config.depthSingleBlocks() + " single blocks, width " + config.hiddenSize() + ")";
    }

    /** The transformer's tensors under FLUX.1 names (diffusers' split projections as row blocks); the caller owns them. */
    public TensorSource transformerTensors() {
        return switch (layout) {
            case DIFFUSERS -> DiffusersKeys.fluxTransformer(open(path.resolve("transformer")));
            case SINGLE_FILE -> TensorViews.withoutPrefix(open(path), prefix, true);
            case MODEL_FOLDER -> open(path.resolve("weights.safetensors"));
        };
    }

    /** The transformer loaded on {@code backend}. */
    public FluxModel loadTransformer(Backend backend) {
        return FluxModel.create(config, FluxWeightSource.of(transformerTensors()), backend);
    }

    /** The CLIP text encoder ({@code y}): {@code --clip}, the pipeline's {@code text_encoder/}, or a full checkpoint's own. */
    public TextEncoder loadClip(Backend backend) {
        return encoder(parts.clip(), "text_encoder", CheckpointKeys.CLIP_PREFIXES, "--clip", backend,
                s -> ClipTextEncoder.create(ClipTextConfig.infer(s), s, backend));
    }

    /** The T5 encoder ({@code txt}): {@code --t5}, the pipeline's {@code text_encoder_2/}, or a full checkpoint's own. */
    public TextEncoder loadT5(Backend backend) {
        return encoder(parts.t5(), "text_encoder_2", CheckpointKeys.T5_PREFIXES, "--t5", backend, s -> T5Encoder.create(T5Config.infer(s), s, backend));
    }

    private TextEncoder encoder(Path given, String sub, List<String> prefixes, String option, Backend backend, Function<TensorSource, TextEncoder> fromFile) {
        if (given == null && layout == Layout.DIFFUSERS) {
            given = path.resolve(sub);
        }
        if (given != null) {
            if (Files.isDirectory(given)) {
                return TextEncoder.load(given, backend);
            }
            if (!Files.isRegularFile(given)) {
                throw new IllegalArgumentException(given + ": no such file or folder (" + option + ")");
            }
            return fromSingleFile(open(given), prefixes, fromFile);
        }
        if (layout == Layout.SINGLE_FILE) {
            TensorSource file = open(path);
            if (prefixes.stream().anyMatch(p -> TensorViews.hasPrefix(file, p))) {
                return fromSingleFile(file, prefixes, fromFile);
            }
            file.close();
        }
        throw new IllegalArgumentException(path + ": holds no " + (option.equals("--clip") ? "CLIP" : "T5") + " text encoder; give one with " + option
                + " FILE|DIR");
    }

    private static TextEncoder fromSingleFile(TensorSource file, List<String> prefixes, Function<TensorSource, TextEncoder> fromFile) {
        TensorSource s = file;
        for (String p : prefixes) {
            if (TensorViews.hasPrefix(file, p)) {
                s = TensorViews.withoutPrefix(file, p, true);
                break;
            }
        }
        try {
            CheckpointKeys.rejectScaledFp8(s);
            return fromFile.apply(s);
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /** The CLIP tokenizer: {@code --clip-tokenizer}, else the pipeline's {@code tokenizer/}. */
    public PromptTokenizer clipTokenizer() throws IOException {
        return tokenizer(parts.clipTokenizer(), "tokenizer", "--clip-tokenizer");
    }

    /** The T5 tokenizer: {@code --t5-tokenizer}, else the pipeline's {@code tokenizer_2/}. */
    public PromptTokenizer t5Tokenizer() throws IOException {
        return tokenizer(parts.t5Tokenizer(), "tokenizer_2", "--t5-tokenizer");
    }

    private PromptTokenizer tokenizer(Path given, String sub, String option) throws IOException {
        if (given == null && layout == Layout.DIFFUSERS) {
            given = path.resolve(sub);
        }
        if (given == null) {
            throw new IllegalArgumentException(path + ": holds no tokenizer; give one with " + option + " DIR");
        }
        return PromptTokenizer.load(given);
    }

    /**
     * The autoencoder's tensors under FLUX.1 {@code ae.safetensors} names: {@code --vae} (an {@code ae.safetensors},
     * maybe under {@code first_stage_model.} or {@code vae.}, or a diffusers {@code vae/} folder or file), the
     * pipeline's {@code vae/}, or a full checkpoint's own. The caller owns the source.
     */
    public TensorSource autoencoderTensors() {
        Path given = parts.vae() != null ? parts.vae() : layout == Layout.DIFFUSERS ? path.resolve("vae") : null;
        TensorSource file;
        if (given != null) {
            file = open(given);
        } else if (layout == Layout.SINGLE_FILE) {
            file = open(path);
        } else {
            throw new IllegalArgumentException(path + ": holds no autoencoder; give one with --vae FILE|DIR");
        }
        TensorSource s = file;
        for (String p : CheckpointKeys.VAE_PREFIXES) {
            if (TensorViews.hasPrefix(file, p)) {
                s = TensorViews.withoutPrefix(file, p, true);
                break;
            }
        }
        if (s.contains("encoder.conv_in.weight") && DiffusersKeys.count(s, "encoder.down_blocks.") > 0) {
            return DiffusersKeys.autoencoder(s);
        }
        if (s.contains("encoder.conv_in.weight") && DiffusersKeys.count(s, "encoder.down.") > 0) {
            return s;
        }
        s.close();
        throw new IllegalArgumentException((given != null ? given : path) + ": holds no autoencoder (no 'encoder.conv_in.weight' with"
                + " 'encoder.down.N' or 'encoder.down_blocks.N' blocks)" + (given == null ? "; give one with --vae FILE|DIR" : ""));
    }

    /** The autoencoder's parameters under {@code ae.safetensors} names, placed on {@code backend} as they are used. */
    public ModelParameters autoencoderParameters(Backend backend) {
        return new ModelParameters(autoencoderTensors(), backend);
    }

    /**
     * The autoencoder's config: a diffusers {@code vae/config.json}, else inferred from {@code ae.safetensors}' shapes.
     * Read on first use and kept: generation asks for it several times (size multiple, memory estimate, loading).
     */
    public synchronized AutoEncoderConfig autoencoderConfig() {
        if (autoencoderConfig == null) {
            Path given = vaeFolder();
            if (given != null) {
                autoencoderConfig = AutoEncoderConfig.read(given);
            } else {
                try (TensorSource s = autoencoderTensors()) {
                    autoencoderConfig = CheckpointKeys.inferVae(s);
                }
            }
        }
        return autoencoderConfig;
    }

    /** The autoencoder on {@code backend}: its tensors under {@code ae.safetensors} names (renamed views, no copy) and its config. */
    public AutoEncoder loadAutoencoder(Backend backend) {
        return AutoEncoder.create(autoencoderConfig(), autoencoderParameters(backend), backend);
    }

    /** The side of a square image when none is asked for: a diffusers VAE's {@code sample_size} (1024 for FLUX.1), else 1024. */
    public int defaultImageSize() {
        Path given = vaeFolder();
        return given == null ? 1024 : ConfigFile.read(given.resolve("config.json")).positiveIntOr("sample_size", 1024);
    }

    /** The diffusers {@code vae/} folder with a config.json (given or the pipeline's), or null. */
    private Path vaeFolder() {
        Path given = parts.vae() != null ? parts.vae() : layout == Layout.DIFFUSERS ? path.resolve("vae") : null;
        return given != null && Files.isDirectory(given) && Files.isRegularFile(given.resolve("config.json")) ? given : null;
    }
}
