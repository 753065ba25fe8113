package org.untwist.text;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * The real CLIP vocabulary for tests, which git does not hold: builds an openai/clip-vit-large-patch14 style
 * {@code tokenizer/} folder from open_clip's {@code bpe_simple_vocab_16e6.txt.gz} inside the open_clip_torch wheel
 * ({@code bin/fetch-test-vocab} downloads it), the same way pipeline/src/test/python/clip_reference_ids.py does:
 * vocabulary = the 256 byte characters, the same with {@code </w>}, the joined merges, {@code <|startoftext|>},
 * {@code <|endoftext|>} (49408); merges = the gz file's lines 1 to 48894 (its line 0 is a header).
 */
final class ClipVocabFixture {

    static final String WHEEL_NAME = "open_clip_torch-3.3.0-py3-none-any.whl";
    static final String WHEEL_PROPERTY = "untwist.clipWheel";
    static final String WHEEL_ENV = "UNTWIST_CLIP_WHEEL";
    static final String REQUIRE_ENV = "UNTWIST_REQUIRE_TEST_VOCAB";
    private static final String BPE_ENTRY = "open_clip/bpe_simple_vocab_16e6.txt.gz";
    private static final int MERGE_COUNT = 49152 - 256 - 2;

    private ClipVocabFixture() {
    }

    /** The folder holding testdata/ (tests run with the module folder as working directory). */
    static Path repoRoot() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("testdata"))) {
                return p;
            }
        }
        throw new IllegalStateException("no testdata/ folder above " + Path.of("").toAbsolutePath());
    }

    /** Where the wheel is looked for: -Duntwist.clipWheel, $UNTWIST_CLIP_WHEEL, else .cache/test-vocab/ at the root. */
    static Path wheelLocation() {
        String configured = System.getProperty(WHEEL_PROPERTY, System.getenv(WHEEL_ENV));
        if (configured != null && !configured.isBlank()) {
            return Path.of(configured);
        }
        return repoRoot().resolve(".cache").resolve("test-vocab").resolve(WHEEL_NAME); // outside target/: survives mvn clean
    }

    static Optional<Path> wheel() {
        Path wheel = wheelLocation();
        return Files.isRegularFile(wheel) ? Optional.of(wheel) : Optional.empty();
    }

    static boolean vocabRequired() {
        return "1".equals(System.getenv(REQUIRE_ENV));
    }

    static String missingMessage() {
        return wheelLocation() + " missing: run bin/fetch-test-vocab (python3 -m pip download --no-deps "
                + "open_clip_torch==3.3.0 -d .cache/test-vocab at the repository root), or point -D"
                + WHEEL_PROPERTY + " or $" + WHEEL_ENV + " at the wheel";
    }

    /** Writes vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json into dir. */
    static Path buildTokenizerFolder(Path wheel, Path dir) throws IOException {
        List<String> lines;
        try (ZipFile zip = new ZipFile(wheel.toFile())) {
            ZipEntry entry = zip.getEntry(BPE_ENTRY);
            if (entry == null) {
                throw new IOException(wheel + ": no " + BPE_ENTRY + " in it");
            }
            try (InputStream in = new GZIPInputStream(zip.getInputStream(entry))) {
                lines = Arrays.asList(new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n", -1));
            }
        }
        List<String> merges = lines.subList(1, 1 + MERGE_COUNT);
        List<String> tokens = new ArrayList<>(ByteLevelAlphabet.vocabularyOrder());
        for (String symbol : ByteLevelAlphabet.vocabularyOrder()) {
            tokens.add(symbol + "</w>");
        }
        for (String merge : merges) {
            tokens.add(merge.replace(" ", ""));
        }
        tokens.add("<|startoftext|>");
        tokens.add("<|endoftext|>");
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (String token : tokens) {
            vocab.put(token, vocab.size());
        }
        if (vocab.size() != 49408) {
            throw new IOException(wheel + ": built " + vocab.size() + " distinct tokens, expected 49408");
        }
        ObjectMapper json = new ObjectMapper();
        Files.createDirectories(dir);
        json.writeValue(dir.resolve("vocab.json").toFile(), vocab);
        Files.writeString(dir.resolve("merges.txt"), "#version: 0.2\n" + String.join("\n", merges) + "\n");
        ObjectNode config = json.createObjectNode();
        config.set("unk_token", addedToken(json, "<|endoftext|>"));
        config.set("bos_token", addedToken(json, "<|startoftext|>"));
        config.set("eos_token", addedToken(json, "<|endoftext|>"));
        config.put("pad_token", "<|endoftext|>");
        config.put("add_prefix_space", false);
        config.put("errors", "replace");
        config.put("do_lower_case", true);
        config.put("model_max_length", 77);
        config.put("tokenizer_class", "CLIPTokenizer");
        json.writeValue(dir.resolve("tokenizer_config.json").toFile(), config);
        json.writeValue(dir.resolve("special_tokens_map.json").toFile(), Map.of("bos_token", "<|startoftext|>",
                "eos_token", "<|endoftext|>", "unk_token", "<|endoftext|>", "pad_token", "<|endoftext|>"));
        return dir;
    }

    private static ObjectNode addedToken(ObjectMapper json, String content) {
        ObjectNode token = json.createObjectNode();
        token.put("content", content);
        token.put("single_word", false);
        token.put("lstrip", false);
        token.put("rstrip", false);
        token.put("normalized", true);
        token.put("__type", "AddedToken");
        return token;
    }
}
