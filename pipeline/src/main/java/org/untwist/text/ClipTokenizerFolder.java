package org.untwist.text;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a Hugging Face CLIP {@code tokenizer/} folder (openai/clip-vit-large-patch14 layout, as FLUX.1 ships it):
 * {@code vocab.json}, {@code merges.txt}, {@code tokenizer_config.json} and, if present,
 * {@code special_tokens_map.json}. Every problem is a {@link ClipTokenizerFileException} whose one-line message
 * starts with the file at fault.
 */
final class ClipTokenizerFolder {

    static final String VOCAB = "vocab.json";
    static final String MERGES = "merges.txt";
    static final String CONFIG = "tokenizer_config.json";
    static final String SPECIAL_TOKENS_MAP = "special_tokens_map.json";

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;

    ClipTokenizerFolder(Path dir) {
        this.dir = dir;
    }

    /** Token to id, from vocab.json (a JSON object of non-negative integer ids). */
    Map<String, Integer> vocabulary() {
        JsonNode root = readJson(VOCAB, true);
        if (!root.isObject()) {
            throw fail(VOCAB, "expected a JSON object of token to id, found " + root.getNodeType());
        }
        Map<String, Integer> vocab = new HashMap<>();
        for (Map.Entry<String, JsonNode> entry : root.properties()) {
            JsonNode id = entry.getValue();
            if (!id.canConvertToInt() || !id.isIntegralNumber() || id.intValue() < 0) {
                throw fail(VOCAB, "token " + quote(entry.getKey()) + " has id " + id + ", expected an integer >= 0");
            }
            vocab.put(entry.getKey(), id.intValue());
        }
        return vocab;
    }

    /**
     * The merge ranks from merges.txt: one merge a line, two symbols and one space, rank = order; the first
     * line may be a {@code #version} header, blank lines are skipped. Both symbols and their concatenation
     * must be vocabulary tokens (tokenizers refuses such a file too).
     */
    BpeMerges merges(Map<String, Integer> vocab) {
        List<String> lines = readLines(MERGES);
        Map<String, Integer> ranks = new HashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if ((i == 0 && line.startsWith("#version")) || line.isEmpty()) {
                continue;
            }
            int space = line.indexOf(' ');
            if (space <= 0 || space == line.length() - 1 || line.indexOf(' ', space + 1) >= 0) {
                throw failAt(MERGES, i + 1, "expected two symbols separated by one space, found " + quote(line));
            }
            String left = line.substring(0, space);
            String right = line.substring(space + 1);
            for (String token : List.of(left, right, left + right)) {
                if (!vocab.containsKey(token)) {
                    throw failAt(MERGES, i + 1, quote(token) + " is not in " + VOCAB);
                }
            }
            ranks.putIfAbsent(BpeMerges.pairKey(left, right), ranks.size());
        }
        return new BpeMerges(ranks);
    }

    /** The sequence length FLUX.1 tokenizes to: tokenizer_config.json's model_max_length. */
    int modelMaxLength() {
        JsonNode value = readJson(CONFIG, true).get("model_max_length");
        if (value == null) {
            throw fail(CONFIG, "model_max_length missing");
        }
        if (!value.isIntegralNumber() || !value.canConvertToInt() || value.intValue() < 2) {
            throw fail(CONFIG, "model_max_length is " + value + ", expected an integer >= 2 (start and end token)");
        }
        return value.intValue();
    }

    /**
     * bos, eos, unk and pad token from tokenizer_config.json, else from special_tokens_map.json; each a string or
     * an AddedToken object with a "content" string, and each a vocabulary token. The two files must not disagree.
     */
    ClipSpecialTokens specialTokens(Map<String, Integer> vocab) {
        JsonNode config = readJson(CONFIG, true);
        JsonNode map = readJson(SPECIAL_TOKENS_MAP, false);
        String[] names = {"bos_token", "eos_token", "unk_token", "pad_token"};
        String[] tokens = new String[names.length];
        int[] ids = new int[names.length];
        for (int i = 0; i < names.length; i++) {
            String fromConfig = tokenText(config, CONFIG, names[i]);
            String fromMap = map == null ? null : tokenText(map, SPECIAL_TOKENS_MAP, names[i]);
            if (fromConfig != null && fromMap != null && !fromConfig.equals(fromMap)) {
                throw fail(SPECIAL_TOKENS_MAP, names[i] + " " + quote(fromMap) + " differs from " + CONFIG + "'s "
                        + quote(fromConfig));
            }
            if (fromConfig == null && fromMap == null) {
                throw fail(CONFIG, names[i] + " missing (and not in " + SPECIAL_TOKENS_MAP + " either)");
            }
            tokens[i] = fromConfig != null ? fromConfig : fromMap;
            Integer id = vocab.get(tokens[i]);
            if (id == null) {
                throw fail(fromConfig != null ? CONFIG : SPECIAL_TOKENS_MAP,
                        names[i] + " " + quote(tokens[i]) + " is not in " + VOCAB);
            }
            ids[i] = id;
        }
        return new ClipSpecialTokens(tokens[0], ids[0], tokens[1], ids[1], tokens[2], ids[2], tokens[3], ids[3]);
    }

    private String tokenText(JsonNode root, String file, String name) {
        JsonNode value = root.get(name);
        if (value == null || value.isNull()) {
            return null;
        }
        JsonNode content = value.isObject() ? value.get("content") : value;
        if (content == null || !content.isTextual() || content.textValue().isEmpty()) {
            throw fail(file, name + " is " + value + ", expected a string or an object with a \"content\" string");
        }
        return content.textValue();
    }

    /** The file's JSON object; null when optional and absent. */
    private JsonNode readJson(String file, boolean required) {
        Path path = dir.resolve(file);
        if (!required && !Files.exists(path)) {
            return null;
        }
        JsonNode root;
        try {
            root = JSON.readTree(readBytes(file));
        } catch (JacksonException e) {
            throw fail(file, "not valid JSON (" + firstLine(e.getOriginalMessage()) + ")");
        } catch (IOException e) {
            throw fail(file, "cannot read (" + e + ")");
        }
        if (root == null || root.isMissingNode()) {
            throw fail(file, "empty");
        }
        if (!root.isObject()) {
            throw fail(file, "expected a JSON object, found " + root.getNodeType());
        }
        return root;
    }

    private List<String> readLines(String file) {
        try {
            String text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(readBytes(file))).toString();
            return text.lines().toList();
        } catch (CharacterCodingException e) {
            throw fail(file, "not valid UTF-8");
        }
    }

    private byte[] readBytes(String file) {
        Path path = dir.resolve(file);
        try {
            return Files.readAllBytes(path);
        } catch (NoSuchFileException e) {
            throw fail(file, "missing");
        } catch (IOException e) {
            throw fail(file, "cannot read (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")");
        }
    }

    private ClipTokenizerFileException fail(String file, String problem) {
        return new ClipTokenizerFileException(dir.resolve(file) + ": " + problem);
    }

    private ClipTokenizerFileException failAt(String file, int line, String problem) {
        return new ClipTokenizerFileException(dir.resolve(file) + " line " + line + ": " + problem);
    }

    private static String quote(String text) {
        return '"' + text.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n").replace("\r", "\\r")
                + '"';
    }

    private static String firstLine(String text) {
        int newline = text == null ? -1 : text.indexOf('\n');
        return newline < 0 ? String.valueOf(text) : text.substring(0, newline);
    }
}
