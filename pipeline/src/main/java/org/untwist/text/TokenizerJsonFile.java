package org.untwist.text;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Reads a fast T5 tokenizer's {@code tokenizer.json} (the tokenizers library's serialization): the Unigram model,
 * the added (special) tokens, and the normalizer, pre-tokenizer and post-processor, of which the kinds T5 files use
 * are understood: the Precompiled charsmap, Replace and Strip normalizers; Metaspace and WhitespaceSplit
 * pre-tokenizers, alone or in a Sequence; a TemplateProcessing that appends {@code </s>}. Both what transformers 4
 * wrote (Precompiled + Replace(" {2,}"), Metaspace) and what transformers 5 writes (Precompiled, WhitespaceSplit +
 * Metaspace) read; any other kind is refused by name.
 */
final class TokenizerJsonFile {

    private static final ObjectMapper JSON = new ObjectMapper();

    private TokenizerJsonFile() {
    }

    static T5Tokenizer read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no tokenizer.json here");
        }
        String name = file.getFileName().toString();
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (JacksonException e) {
            throw new IOException(name + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
        try {
            return parse(root, name);
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /** Throws IllegalArgumentException with a one-line message that starts with {@code name}. */
    static T5Tokenizer parse(JsonNode root, String name) {
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException(name + ": not a JSON object");
        }
        JsonNode model = root.path("model");
        String modelType = model.path("type").asText("");
        if (!modelType.equals("Unigram")) {
            throw new IllegalArgumentException(name + ": model type is "
                    + (modelType.isEmpty() ? "missing" : modelType) + ", but T5 tokenizers are Unigram");
        }
        JsonNode vocab = model.path("vocab");
        if (!vocab.isArray() || vocab.isEmpty()) {
            throw new IllegalArgumentException(name + ": Unigram model has no vocab");
        }
        List<UnigramPiece> pieces = new ArrayList<>(vocab.size());
        for (JsonNode entry : vocab) {
            if (!entry.isArray() || entry.size() != 2 || !entry.get(0).isTextual() || !entry.get(1).isNumber()) {
                throw new IllegalArgumentException(name + ": vocab entry " + pieces.size()
                        + " is not [piece, score]: " + entry);
            }
            pieces.add(new UnigramPiece(entry.get(0).asText(), entry.get(1).asDouble(), UnigramPiece.Kind.NORMAL));
        }
        if (!model.path("unk_id").isInt()) {
            throw new IllegalArgumentException(name + ": Unigram model has no unk_id");
        }
        UnigramModel unigram = new UnigramModel(pieces, model.get("unk_id").asInt(),
                model.path("byte_fallback").asBoolean(false), UnigramModel.Rules.TOKENIZERS);

        Map<String, Integer> specials = new LinkedHashMap<>();
        for (JsonNode added : root.path("added_tokens")) {
            specials.putIfAbsent(added.path("content").asText(), added.path("id").asInt());
        }

        List<UnaryOperator<String>> normalizers = new ArrayList<>();
        addNormalizer(root.path("normalizer"), normalizers, name);
        WordSplitter splitter = pipeline(root.path("pre_tokenizer"), normalizers, name);

        int eosId = appendedToken(root.path("post_processor"), name);
        int padId = padId(root, specials, pieces, name);
        int size = pieces.size();
        for (int id : specials.values()) {
            size = Math.max(size, id + 1);
        }
        return new T5Tokenizer(name, unigram, splitter, specials, eosId, padId, size);
    }

    private static void addNormalizer(JsonNode node, List<UnaryOperator<String>> out, String name) {
        if (node.isMissingNode() || node.isNull()) {
            return;
        }
        String type = node.path("type").asText("");
        switch (type) {
            case "Sequence" -> {
                for (JsonNode inner : node.path("normalizers")) {
                    addNormalizer(inner, out, name);
                }
            }
            case "Precompiled" -> {
                JsonNode blob = node.path("precompiled_charsmap");
                if (blob.isTextual() && !blob.asText().isEmpty()) {
                    byte[] bytes;
                    try {
                        bytes = Base64.getDecoder().decode(blob.asText());
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException(name + ": precompiled_charsmap is not base64: "
                                + e.getMessage());
                    }
                    out.add(TokenizerJsonPipeline.precompiled(PrecompiledCharsmap.parse(bytes, name)));
                }
            }
            case "Replace" -> {
                JsonNode pattern = node.path("pattern");
                String content = node.path("content").asText();
                if (pattern.has("String")) {
                    out.add(TokenizerJsonPipeline.replaceLiteral(pattern.get("String").asText(), content));
                } else if (pattern.has("Regex")) {
                    out.add(TokenizerJsonPipeline.replaceRegex(pattern.get("Regex").asText(), content));
                } else {
                    throw new IllegalArgumentException(name + ": Replace normalizer has no String or Regex pattern");
                }
            }
            case "Strip" -> out.add(TokenizerJsonPipeline.strip(node.path("strip_left").asBoolean(false),
                    node.path("strip_right").asBoolean(false)));
            default -> throw new IllegalArgumentException(name + ": normalizer type "
                    + (type.isEmpty() ? "(missing)" : type) + " is not supported for T5 (Precompiled, Replace, Strip"
                    + " or a Sequence of them)");
        }
    }

    private static WordSplitter pipeline(JsonNode node, List<UnaryOperator<String>> normalizers, String name) {
        List<JsonNode> steps = new ArrayList<>();
        if ("Sequence".equals(node.path("type").asText())) {
            node.path("pretokenizers").forEach(steps::add);
        } else if (!node.isMissingNode() && !node.isNull()) {
            steps.add(node);
        }
        boolean whitespaceSplit = false;
        JsonNode metaspace = null;
        for (JsonNode step : steps) {
            String type = step.path("type").asText("");
            if (type.equals("WhitespaceSplit") && metaspace == null) {
                whitespaceSplit = true;
            } else if (type.equals("Metaspace") && metaspace == null) {
                metaspace = step;
            } else {
                throw new IllegalArgumentException(name + ": pre-tokenizer " + (type.isEmpty() ? "(missing)" : type)
                        + " is not supported for T5 (Metaspace, optionally after WhitespaceSplit)");
            }
        }
        if (metaspace == null) {
            throw new IllegalArgumentException(name + ": no Metaspace pre-tokenizer, which T5 tokenizers have");
        }
        String replacement = metaspace.path("replacement").asText(WordSplitter.METASPACE);
        TokenizerJsonPipeline.PrependScheme scheme;
        if (metaspace.has("prepend_scheme")) {
            String value = metaspace.get("prepend_scheme").asText();
            scheme = switch (value) {
                case "always" -> TokenizerJsonPipeline.PrependScheme.ALWAYS;
                case "first" -> TokenizerJsonPipeline.PrependScheme.FIRST;
                case "never" -> TokenizerJsonPipeline.PrependScheme.NEVER;
                default -> throw new IllegalArgumentException(name + ": Metaspace prepend_scheme '" + value
                        + "' is not always, first or never");
            };
        } else { // files from before prepend_scheme said add_prefix_space
            scheme = metaspace.path("add_prefix_space").asBoolean(true) ? TokenizerJsonPipeline.PrependScheme.ALWAYS
                    : TokenizerJsonPipeline.PrependScheme.NEVER;
        }
        return new TokenizerJsonPipeline(normalizers, whitespaceSplit, replacement, scheme,
                metaspace.path("split").asBoolean(true));
    }

    /** The id T5's TemplateProcessing appends after the text ({@code </s>}). */
    private static int appendedToken(JsonNode post, String name) {
        if (!"TemplateProcessing".equals(post.path("type").asText())) {
            throw new IllegalArgumentException(name + ": post_processor is "
                    + (post.isMissingNode() || post.isNull() ? "missing" : post.path("type").asText())
                    + ", expected T5's TemplateProcessing that appends </s>");
        }
        JsonNode single = post.path("single");
        if (single.size() != 2 || !single.get(0).has("Sequence") || !single.get(1).has("SpecialToken")) {
            throw new IllegalArgumentException(name + ": post_processor template " + single
                    + " is not T5's [$A, </s>]");
        }
        String token = single.get(1).path("SpecialToken").path("id").asText();
        JsonNode ids = post.path("special_tokens").path(token).path("ids");
        if (ids.size() != 1 || !ids.get(0).isInt()) {
            throw new IllegalArgumentException(name + ": post_processor gives no single id for " + token);
        }
        return ids.get(0).asInt();
    }

    private static int padId(JsonNode root, Map<String, Integer> specials, List<UnigramPiece> pieces, String name) {
        if (root.path("padding").path("pad_id").isInt()) {
            return root.path("padding").get("pad_id").asInt();
        }
        Integer pad = specials.get("<pad>");
        if (pad != null) {
            return pad;
        }
        for (int id = 0; id < pieces.size(); id++) {
            if (pieces.get(id).text().equals("<pad>")) {
                return id;
            }
        }
        throw new IllegalArgumentException(name + ": no <pad> token to pad with");
    }
}
