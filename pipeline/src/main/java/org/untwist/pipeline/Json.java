package org.untwist.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A pipeline's JSON files read with one-line errors naming the file and the field. */
final class Json {

    private Json() {
    }

    static JsonNode read(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(file + ": missing");
        }
        try {
            JsonNode n = new ObjectMapper().readTree(file.toFile());
            if (n == null || !n.isObject()) {
                throw new IllegalArgumentException(file + ": not a JSON object");
            }
            return n;
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + String.valueOf(e.getMessage()).lines().findFirst().orElse(""), e);
        }
    }

    static String text(Path file, JsonNode root, String field, String fallback) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            if (fallback == null) {
                throw new IllegalArgumentException(file + ": missing '" + field + "'");
            }
            return fallback;
        }
        if (!n.isTextual()) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be a string, got " + n);
        }
        return n.textValue();
    }

    static double number(Path file, JsonNode root, String field, Double fallback) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            if (fallback == null) {
                throw new IllegalArgumentException(file + ": missing '" + field + "'");
            }
            return fallback;
        }
        if (!n.isNumber()) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be a number, got " + n);
        }
        return n.doubleValue();
    }

    static int positiveInt(Path file, JsonNode root, String field, Integer fallback) {
        JsonNode n = root.get(field);
        if ((n == null || n.isNull()) && fallback != null) {
            return fallback;
        }
        if (n == null || n.isNull() || !n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() < 1) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be a positive integer, got " + n);
        }
        return n.intValue();
    }

    static boolean bool(Path file, JsonNode root, String field, boolean fallback) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return fallback;
        }
        if (!n.isBoolean()) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be true or false, got " + n);
        }
        return n.booleanValue();
    }

    static int[] ints(Path file, JsonNode root, String field) {
        JsonNode n = root.get(field);
        if (n == null || !n.isArray() || n.isEmpty()) {
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
}
