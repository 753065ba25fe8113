package org.untwist.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A model's {@code config.json} with transformers' field names, read with one-line errors that name the file
 * and the field at fault.
 */
final class ConfigJson {

    private final Path file;
    private final JsonNode root;

    private ConfigJson(Path file, JsonNode root) {
        this.file = file;
        this.root = root;
    }

    /** {@code dir/config.json}, which must be a JSON object. */
    static ConfigJson read(Path dir) {
        Path file = dir.resolve("config.json");
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(file + ": missing (a text encoder folder holds config.json and its weights)");
        }
        try {
            JsonNode root = new ObjectMapper().readTree(file.toFile());
            if (root == null || !root.isObject()) {
                throw new IllegalArgumentException(file + ": not a JSON object");
            }
            return new ConfigJson(file, root);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + e.getMessage().lines().findFirst().orElse(""), e);
        }
    }

    /** The same file seen through a nested object (CLIP's full config keeps the text tower under {@code text_config}). */
    ConfigJson nested(String field) {
        JsonNode n = root.get(field);
        if (n == null || !n.isObject()) {
            throw new IllegalArgumentException(file + ": '" + field + "' is missing or not an object");
        }
        return new ConfigJson(file, n);
    }

    Path file() {
        return file;
    }

    boolean has(String field) {
        return root.hasNonNull(field);
    }

    /** A required positive integer. */
    int positiveInt(String field) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            throw new IllegalArgumentException(file + ": missing '" + field + "'");
        }
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() < 1) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be a positive integer, got " + n);
        }
        return n.intValue();
    }

    /** An optional integer. */
    int intOr(String field, int fallback) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return fallback;
        }
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be an integer, got " + n);
        }
        return n.intValue();
    }

    /** An optional small positive number (a norm's epsilon). */
    float epsilonOr(String field, float fallback) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return fallback;
        }
        if (!n.isNumber() || !(n.doubleValue() > 0) || n.doubleValue() > 1) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be a number in (0, 1], got " + n);
        }
        return n.floatValue();
    }

    /** An optional string. */
    String stringOr(String field, String fallback) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return fallback;
        }
        if (!n.isTextual()) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be a string, got " + n);
        }
        return n.textValue();
    }

    /** An optional boolean. */
    boolean booleanOr(String field, boolean fallback) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return fallback;
        }
        if (!n.isBoolean()) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be true or false, got " + n);
        }
        return n.booleanValue();
    }

    IllegalArgumentException unsupported(String field, Object value, String supported) {
        return new IllegalArgumentException(file + ": " + field + " '" + value + "' is not supported (supported: " + supported + ")");
    }
}
