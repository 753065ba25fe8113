package org.untwist.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A model's JSON config ({@code config.json}, {@code model_index.json}, {@code scheduler_config.json}), a JSON
 * object read field by field with one-line errors that name the file and the field at fault. A field that is
 * absent or JSON {@code null} counts as missing: the {@code ...Or} readers return their fallback, the others throw.
 */
public final class ConfigFile {

    private final Path file;
    private final JsonNode root;

    private ConfigFile(Path file, JsonNode root) {
        this.file = file;
        this.root = root;
    }

    /** {@code file}, which must hold a JSON object. */
    public static ConfigFile read(Path file) {
        return read(file, null);
    }

    /**
     * {@code dir/config.json} of a model folder; a missing file is reported as
     * {@code dir/config.json: missing (<folderKind> folder holds config.json and its weights)}, e.g. with
     * {@code folderKind} "a text encoder".
     */
    public static ConfigFile inFolder(Path dir, String folderKind) {
        return read(dir.resolve("config.json"), folderKind + " folder holds config.json and its weights");
    }

    private static ConfigFile read(Path file, String missingHint) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(file + ": missing" + (missingHint == null ? "" : " (" + missingHint + ")"));
        }
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + String.valueOf(e.getMessage()).lines().findFirst().orElse(""), e);
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException(file + ": not a JSON object");
        }
        return new ConfigFile(file, root);
    }

    /** The same file seen through a nested object (CLIP's full config keeps the text tower under {@code text_config}). */
    public ConfigFile nested(String field) {
        JsonNode n = root.get(field);
        if (n == null || !n.isObject()) {
            throw new IllegalArgumentException(file + ": '" + field + "' is missing or not an object");
        }
        return new ConfigFile(file, n);
    }

    /** The file, for messages. */
    public Path file() {
        return file;
    }

    /** Whether {@code field} is present, even as JSON {@code null}. */
    public boolean has(String field) {
        return root.has(field);
    }

    /** A required positive integer. */
    public int positiveInt(String field) {
        return positiveInt(required(field), field);
    }

    /** An optional positive integer. */
    public int positiveIntOr(String field, int fallback) {
        JsonNode n = optional(field);
        return n == null ? fallback : positiveInt(n, field);
    }

    /** An optional integer. */
    public int intOr(String field, int fallback) {
        JsonNode n = optional(field);
        if (n == null) {
            return fallback;
        }
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be an integer, got " + n);
        }
        return n.intValue();
    }

    /** A required non-empty array of integers. */
    public int[] ints(String field) {
        JsonNode n = required(field);
        if (!n.isArray() || n.isEmpty()) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be a non-empty array of integers, got " + n);
        }
        int[] out = new int[n.size()];
        for (int i = 0; i < out.length; i++) {
            if (!n.get(i).isIntegralNumber()) {
                throw new IllegalArgumentException(file + ": '" + field + "[" + i + "]' must be an integer, got " + n.get(i));
            }
            out[i] = n.get(i).intValue();
        }
        return out;
    }

    /** A required non-empty list of positive integers. */
    public List<Integer> positiveInts(String field) {
        JsonNode n = required(field);
        List<Integer> values = new ArrayList<>();
        if (n.isArray()) {
            for (JsonNode e : n) {
                if (!e.isIntegralNumber() || !e.canConvertToInt() || e.intValue() < 1) {
                    values = null;
                    break;
                }
                values.add(e.intValue());
            }
        }
        if (!n.isArray() || values == null || values.isEmpty()) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be a non-empty list of positive integers, got " + n);
        }
        return values;
    }

    /** A required finite number. */
    public double number(String field) {
        return number(required(field), field);
    }

    /** An optional finite number. */
    public double numberOr(String field, double fallback) {
        JsonNode n = optional(field);
        return n == null ? fallback : number(n, field);
    }

    /** An optional small positive number (a norm's epsilon). */
    public float epsilonOr(String field, float fallback) {
        JsonNode n = optional(field);
        if (n == null) {
            return fallback;
        }
        if (!n.isNumber() || !(n.doubleValue() > 0) || n.doubleValue() > 1) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be a number in (0, 1], got " + n);
        }
        return n.floatValue();
    }

    /** An optional string. */
    public String stringOr(String field, String fallback) {
        JsonNode n = optional(field);
        if (n == null) {
            return fallback;
        }
        if (!n.isTextual()) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be a string, got " + n);
        }
        return n.textValue();
    }

    /** An optional boolean. */
    public boolean booleanOr(String field, boolean fallback) {
        JsonNode n = optional(field);
        if (n == null) {
            return fallback;
        }
        if (!n.isBoolean()) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be true or false, got " + n);
        }
        return n.booleanValue();
    }

    /** The error for a value this library does not support: {@code file: field 'value' is not supported (supported: ...)}. */
    public IllegalArgumentException unsupported(String field, Object value, String supported) {
        return new IllegalArgumentException(file + ": " + field + " '" + value + "' is not supported (supported: " + supported + ")");
    }

    private JsonNode optional(String field) {
        JsonNode n = root.get(field);
        return n == null || n.isNull() ? null : n;
    }

    private JsonNode required(String field) {
        JsonNode n = optional(field);
        if (n == null) {
            throw new IllegalArgumentException(file + ": missing '" + field + "'");
        }
        return n;
    }

    private int positiveInt(JsonNode n, String field) {
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() < 1) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be a positive integer, got " + n);
        }
        return n.intValue();
    }

    private double number(JsonNode n, String field) {
        if (!n.isNumber() || !Double.isFinite(n.doubleValue())) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be a finite number, got " + n);
        }
        return n.doubleValue();
    }
}
