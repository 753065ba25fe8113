package org.untwist.flux;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Hyper-parameters of a FLUX-architecture transformer, named as the reference's {@code FluxParams}
 * ({@code config.json}). {@code weightDtype} is informational: the loader reads whatever type each
 * tensor is stored in.
 *
 * @param inChannels       channels of a packed latent token ({@code img_in} input)
 * @param outChannels      channels of the prediction
 * @param vecInDim         size of the pooled text vector {@code y}
 * @param contextInDim     size of a text token ({@code txt_in} input)
 * @param hiddenSize       model width
 * @param mlpRatio         MLP width / model width
 * @param numHeads         attention heads; {@code hiddenSize / numHeads} is the head dimension
 * @param depth            number of double-stream blocks
 * @param depthSingleBlocks number of single-stream blocks
 * @param axesDim          RoPE dimensions per position axis; they must sum to the head dimension
 * @param theta            RoPE base
 * @param qkvBias          whether the double-stream qkv projections have a bias
 * @param guidanceEmbed    whether the model embeds a guidance value (FLUX.1-dev) or not (schnell)
 * @param weightDtype      the storage type named by the config, or null
 */
public record FluxConfig(int inChannels, int outChannels, int vecInDim, int contextInDim, int hiddenSize, double mlpRatio,
                         int numHeads, int depth, int depthSingleBlocks, int[] axesDim, double theta, boolean qkvBias,
                         boolean guidanceEmbed, String weightDtype) {

    private static final Set<String> KNOWN = Set.of("in_channels", "out_channels", "vec_in_dim", "context_in_dim",
            "hidden_size", "mlp_ratio", "num_heads", "depth", "depth_single_blocks", "axes_dim", "theta", "qkv_bias",
            "guidance_embed", "weight_dtype");

    /** Checks the invariants the forward pass relies on; the message names the field at fault. */
    public FluxConfig {
        axesDim = axesDim.clone();
        requirePositive("in_channels", inChannels);
        requirePositive("out_channels", outChannels);
        requirePositive("vec_in_dim", vecInDim);
        requirePositive("context_in_dim", contextInDim);
        requirePositive("hidden_size", hiddenSize);
        requirePositive("num_heads", numHeads);
        if (depth < 0 || depthSingleBlocks < 0) {
            throw new IllegalArgumentException("depth and depth_single_blocks must be >= 0, got " + depth + ", " + depthSingleBlocks);
        }
        if (!(mlpRatio > 0) || Double.isInfinite(mlpRatio)) {
            throw new IllegalArgumentException("mlp_ratio must be a positive number, got " + mlpRatio);
        }
        if (!(theta > 0) || Double.isInfinite(theta)) {
            throw new IllegalArgumentException("theta must be a positive number, got " + theta);
        }
        if (hiddenSize % numHeads != 0) {
            throw new IllegalArgumentException("hidden_size " + hiddenSize + " is not divisible by num_heads " + numHeads);
        }
        int headDim = hiddenSize / numHeads;
        if (axesDim.length == 0) {
            throw new IllegalArgumentException("axes_dim is empty");
        }
        int sum = 0;
        for (int d : axesDim) {
            if (d <= 0 || d % 2 != 0) {
                throw new IllegalArgumentException("axes_dim entries must be positive and even, got " + Arrays.toString(axesDim));
            }
            sum += d;
        }
        if (sum != headDim) {
            throw new IllegalArgumentException("sum(axes_dim) = " + sum + " " + Arrays.toString(axesDim)
                    + " != head_dim = hidden_size / num_heads = " + headDim);
        }
    }

    private static void requirePositive(String name, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException(name + " must be positive, got " + v);
        }
    }

    /** Head dimension {@code hiddenSize / numHeads}. */
    public int headDim() {
        return hiddenSize / numHeads;
    }

    /** MLP width, truncated as the reference does ({@code int(hidden_size * mlp_ratio)}). */
    public int mlpHiddenDim() {
        return (int) (hiddenSize * mlpRatio);
    }

    @Override
    public int[] axesDim() {
        return axesDim.clone();
    }

    /**
     * Reads {@code config.json}.
     *
     * @throws IOException when the file cannot be read, is not JSON, lacks a field or has an invalid value;
     *                     the message names the file and the field
     */
    public static FluxConfig read(Path file) throws IOException {
        if (Files.isDirectory(file)) {
            throw new IOException(file + ": is a folder, not a config file");
        }
        if (!Files.exists(file)) {
            throw new IOException(file + ": config file not found");
        }
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new IOException(file + ": not readable: " + reason(e), e);
        }
        JsonNode root;
        try {
            ObjectMapper mapper = new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
            root = mapper.readTree(bytes);
        } catch (JsonProcessingException e) { // one line: the parser's own message without its source dump, and where
            JsonLocation at = e.getLocation();
            String where = at == null ? "" : " at line " + at.getLineNr() + ", column " + at.getColumnNr();
            throw new IOException(file + ": not valid JSON" + where + ": " + oneLine(e.getOriginalMessage()), e);
        }
        if (root == null || !root.isObject()) {
            throw new IOException(file + ": expected a JSON object");
        }
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!KNOWN.contains(f)) {
                throw new IOException(file + ": unknown field '" + f + "' (known: " + KNOWN + ")");
            }
        }
        try {
            JsonNode axes = root.get("axes_dim");
            if (axes == null || !axes.isArray()) {
                throw new IllegalArgumentException("axes_dim must be an array of integers");
            }
            int[] axesDim = new int[axes.size()];
            for (int i = 0; i < axesDim.length; i++) {
                if (!axes.get(i).canConvertToInt() || !axes.get(i).isIntegralNumber()) {
                    throw new IllegalArgumentException("axes_dim[" + i + "] is not an integer");
                }
                axesDim[i] = axes.get(i).intValue();
            }
            return new FluxConfig(intField(root, "in_channels"), intField(root, "out_channels"), intField(root, "vec_in_dim"),
                    intField(root, "context_in_dim"), intField(root, "hidden_size"), numberField(root, "mlp_ratio"),
                    intField(root, "num_heads"), intField(root, "depth"), intField(root, "depth_single_blocks"), axesDim,
                    numberField(root, "theta"), boolField(root, "qkv_bias"), boolField(root, "guidance_embed"),
                    root.has("weight_dtype") ? root.get("weight_dtype").asText() : null);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    /** Why a file operation failed, in words: the OS reason where there is one, not just the path. */
    private static String reason(IOException e) {
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof java.nio.file.FileSystemException fse && fse.getReason() != null) {
            return fse.getReason();
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : oneLine(e.getMessage());
    }

    private static String oneLine(String s) {
        return s == null ? "" : s.strip().replaceAll("\\s*\\R\\s*", " ");
    }

    private static JsonNode field(JsonNode root, String name) {
        JsonNode n = root.get(name);
        if (n == null || n.isNull()) {
            throw new IllegalArgumentException("missing field '" + name + "'");
        }
        return n;
    }

    private static int intField(JsonNode root, String name) {
        JsonNode n = field(root, name);
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw new IllegalArgumentException("field '" + name + "' must be an integer, got " + n);
        }
        return n.intValue();
    }

    private static double numberField(JsonNode root, String name) {
        JsonNode n = field(root, name);
        if (!n.isNumber()) {
            throw new IllegalArgumentException("field '" + name + "' must be a number, got " + n);
        }
        return n.doubleValue();
    }

    private static boolean boolField(JsonNode root, String name) {
        JsonNode n = field(root, name);
        if (!n.isBoolean()) {
            throw new IllegalArgumentException("field '" + name + "' must be true or false, got " + n);
        }
        return n.booleanValue();
    }

    /** The config as {@code FluxParams}-named JSON fields, for writing a {@code config.json}. */
    public Map<String, Object> toJsonMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("in_channels", inChannels);
        m.put("out_channels", outChannels);
        m.put("vec_in_dim", vecInDim);
        m.put("context_in_dim", contextInDim);
        m.put("hidden_size", hiddenSize);
        m.put("mlp_ratio", mlpRatio);
        m.put("num_heads", numHeads);
        m.put("depth", depth);
        m.put("depth_single_blocks", depthSingleBlocks);
        m.put("axes_dim", axesDim.clone());
        m.put("theta", theta);
        m.put("qkv_bias", qkvBias);
        m.put("guidance_embed", guidanceEmbed);
        if (weightDtype != null) {
            m.put("weight_dtype", weightDtype);
        }
        return m;
    }
}
