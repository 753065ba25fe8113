package org.untwist.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every string of {@code testdata/text/corpus.json}, tokenized by each committed model read from each file form,
 * against what transformers gave ({@code testdata/text/t5-reference-ids.json}, written by
 * {@code pipeline/src/test/python/t5_reference_ids.py}): {@code spiece.model} against transformers' slow
 * (sentencepiece) tokenizer, {@code tokenizer.json} against its fast (tokenizers) one. Unpadded ids, FLUX.1's
 * padded call at 256 (which truncates the over-length prompts), and truncation at 512.
 */
class T5TokenizerReferenceTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    static Stream<Arguments> modelsAndForms() {
        return Stream.of("t5-unigram", "t5-unigram-bytes")
                .flatMap(model -> Stream.of(Arguments.of(model, "spiece.model", "slow"),
                        Arguments.of(model, "tokenizer.json", "fast")));
    }

    @ParameterizedTest(name = "{0} from {1} matches transformers'' {2} tokenizer")
    @MethodSource("modelsAndForms")
    void everyCorpusStringMatchesTransformers(String model, String form, String reference) throws IOException {
        Path text = T5TestFiles.textDir();
        JsonNode corpus = JSON.readTree(text.resolve("corpus.json").toFile());
        JsonNode references = JSON.readTree(text.resolve("t5-reference-ids.json").toFile());
        int maxLength = references.get("max_length").asInt();
        assertEquals(TokenLimits.T5_SCHNELL, maxLength, "reference ids were made for FLUX.1 [schnell]'s length");
        JsonNode entries = references.path("models").path(model).path("entries");
        assertEquals(corpus.size(), entries.size(), "reference ids for " + model + " do not cover the corpus");
        assertTrue(corpus.size() >= 268, "the corpus shrank to " + corpus.size());

        Path dir = text.resolve(model);
        T5Tokenizer tokenizer = form.equals("spiece.model") ? T5Tokenizer.loadSentencePiece(dir)
                : T5Tokenizer.loadTokenizerJson(dir);

        List<String> mismatches = new ArrayList<>();
        int truncated = 0;
        for (int i = 0; i < corpus.size(); i++) {
            String prompt = corpus.get(i).asText();
            JsonNode expected = entries.get(i).get(reference);
            int[] expectedIds = ints(expected.get("ids"));
            int[] expectedPadded = Arrays.copyOf(ints(expected.get("padded")), maxLength); // stored without its pads

            int[] ids = tokenizer.ids(prompt);
            if (!Arrays.equals(expectedIds, ids)) {
                mismatches.add(describe(i, prompt, "unpadded", expectedIds, ids, tokenizer));
                continue;
            }
            int[] padded = tokenizer.encode(prompt, maxLength);
            if (!Arrays.equals(expectedPadded, padded)) {
                mismatches.add(describe(i, prompt, "padded to " + maxLength, expectedPadded, padded, tokenizer));
                continue;
            }
            if (expectedIds.length > maxLength) {
                truncated++;
            }
            int[] dev = tokenizer.encode(prompt, TokenLimits.T5_DEV);
            int[] expectedDev = new int[TokenLimits.T5_DEV]; // <pad> is 0
            int kept = Math.min(expectedIds.length - 1, TokenLimits.T5_DEV - 1);
            System.arraycopy(expectedIds, 0, expectedDev, 0, kept);
            expectedDev[kept] = tokenizer.eosId();
            if (!Arrays.equals(expectedDev, dev)) {
                mismatches.add(describe(i, prompt, "padded to 512", expectedDev, dev, tokenizer));
            }
        }
        System.out.printf("%s from %s vs transformers %s: %d/%d corpus strings match (%d truncated at %d)%n",
                model, form, reference, corpus.size() - mismatches.size(), corpus.size(), truncated, maxLength);
        assertTrue(truncated >= 3, "the corpus should exercise truncation, only " + truncated + " strings did");
        assertTrue(mismatches.isEmpty(), mismatches.size() + " of " + corpus.size() + " corpus strings differ:\n"
                + String.join("\n", mismatches.subList(0, Math.min(12, mismatches.size()))));
    }

    /**
     * The older tokenizer.json layout (Precompiled, Strip, Replace(" {2,}") normalizers; a lone Metaspace with
     * add_prefix_space), made from the committed file exactly as {@code t5_reference_ids.py} makes it, against the
     * ids the tokenizers library gave for that layout.
     */
    @ParameterizedTest(name = "{0} in the older tokenizer.json layout matches tokenizers")
    @ValueSource(strings = {"t5-unigram", "t5-unigram-bytes"})
    void olderTokenizerJsonLayoutMatchesTokenizers(String model, @TempDir Path tmp) throws IOException {
        Path text = T5TestFiles.textDir();
        JsonNode corpus = JSON.readTree(text.resolve("corpus.json").toFile());
        JsonNode entries = JSON.readTree(text.resolve("t5-reference-ids.json").toFile())
                .path("models").path(model).path("entries");
        ObjectNode layout = (ObjectNode) JSON.readTree(text.resolve(model).resolve("tokenizer.json").toFile());
        ObjectNode normalizer = JSON.createObjectNode().put("type", "Sequence");
        ArrayNode steps = normalizer.putArray("normalizers");
        steps.add(layout.get("normalizer"));
        steps.addObject().put("type", "Strip").put("strip_left", false).put("strip_right", true);
        ObjectNode replace = steps.addObject().put("type", "Replace").put("content", "\u2581");
        replace.putObject("pattern").put("Regex", " {2,}");
        layout.set("normalizer", normalizer);
        layout.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "\u2581")
                .put("add_prefix_space", true);
        Path file = tmp.resolve("tokenizer.json");
        JSON.writeValue(file.toFile(), layout);
        T5Tokenizer tokenizer = T5Tokenizer.loadTokenizerJson(file);

        List<String> mismatches = new ArrayList<>();
        for (int i = 0; i < corpus.size(); i++) {
            String prompt = corpus.get(i).asText();
            int[] expected = ints(entries.get(i).path("fast_legacy_layout").path("ids"));
            int[] ids = tokenizer.ids(prompt);
            if (expected.length == 0 || !Arrays.equals(expected, ids)) {
                mismatches.add(describe(i, prompt, "unpadded", expected, ids, tokenizer));
            }
        }
        System.out.printf("%s in the older tokenizer.json layout vs tokenizers: %d/%d corpus strings match%n",
                model, corpus.size() - mismatches.size(), corpus.size());
        assertTrue(mismatches.isEmpty(), mismatches.size() + " of " + corpus.size() + " corpus strings differ:\n"
                + String.join("\n", mismatches.subList(0, Math.min(12, mismatches.size()))));
    }

    private static String describe(int index, String prompt, String what, int[] expected, int[] actual,
            T5Tokenizer tokenizer) {
        return "#" + index + " " + "'" + prompt.replace("\n", "\\n")
                + "' " + what + ": expected " + head(expected) + " got " + head(actual)
                + " pieces " + tokenizer.pieces(prompt).subList(0, Math.min(16, tokenizer.pieces(prompt).size()));
    }

    private static String head(int[] ids) {
        int[] shown = Arrays.copyOf(ids, Math.min(ids.length, 24));
        return Arrays.toString(shown) + (ids.length > 24 ? "... (" + ids.length + ")" : "");
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }
}
