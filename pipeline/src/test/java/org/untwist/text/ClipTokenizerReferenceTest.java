package org.untwist.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every corpus string (testdata/text/corpus.json) and every extra edge case gives, id for id, what transformers'
 * CLIP tokenizer gave (testdata/text/clip-reference-ids.json, from pipeline/src/test/python/clip_reference_ids.py),
 * with the real vocabulary built from the open_clip_torch wheel. Skipped when the wheel is absent, unless
 * UNTWIST_REQUIRE_TEST_VOCAB=1 (CI), then it fails.
 */
class ClipTokenizerReferenceTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static ClipTokenizer tokenizer;
    private static JsonNode reference;

    @BeforeAll
    static void loadRealVocabulary(@TempDir Path temp) throws IOException {
        Optional<Path> wheel = ClipVocabFixture.wheel();
        if (wheel.isEmpty()) {
            return; // each test then skips (or fails) with the reason, which surefire shows per test
        }
        tokenizer = ClipTokenizer.load(ClipVocabFixture.buildTokenizerFolder(wheel.get(), temp.resolve("tokenizer")));
        reference = JSON.readTree(ClipVocabFixture.repoRoot().resolve("testdata/text/clip-reference-ids.json").toFile());
    }

    /** Skips the test, naming the missing wheel and how to get it; fails instead under UNTWIST_REQUIRE_TEST_VOCAB=1. */
    private static void requireVocabulary() {
        if (tokenizer != null) {
            return;
        }
        if (ClipVocabFixture.vocabRequired()) {
            fail(ClipVocabFixture.missingMessage() + " (required: " + ClipVocabFixture.REQUIRE_ENV + "=1)");
        }
        Assumptions.abort(ClipVocabFixture.missingMessage());
    }

    @Test
    void realVocabularyShape() {
        requireVocabulary();
        assertEquals(49408, tokenizer.vocabularySize());
        assertEquals(49406, tokenizer.startId());
        assertEquals(49407, tokenizer.endId());
        assertEquals(49407, tokenizer.padId());
        assertEquals(TokenLimits.CLIP, tokenizer.maxLength());
    }

    @Test
    void everyCorpusStringMatchesTransformers() throws IOException {
        requireVocabulary();
        JsonNode corpus = JSON.readTree(ClipVocabFixture.repoRoot().resolve("testdata/text/corpus.json").toFile());
        JsonNode entries = reference.get("entries");
        assertEquals(corpus.size(), entries.size(), "clip-reference-ids.json is out of step with corpus.json: "
                + "rerun pipeline/src/test/python/clip_reference_ids.py");
        for (int i = 0; i < corpus.size(); i++) {
            assertEquals(corpus.get(i).textValue(), entries.get(i).get("text").textValue(),
                    "clip-reference-ids.json entry " + i + " is for another string: rerun clip_reference_ids.py");
        }
        assertAllMatch(entries, 268);
    }

    @Test
    void everyExtraEdgeCaseMatchesTransformers() {
        requireVocabulary();
        assertAllMatch(reference.get("extra_entries"), 16);
    }

    private static void assertAllMatch(JsonNode entries, int expectedCount) {
        assertEquals(expectedCount, entries.size());
        List<String> mismatches = new ArrayList<>();
        for (int i = 0; i < entries.size(); i++) {
            JsonNode entry = entries.get(i);
            String text = entry.get("text").textValue();
            int[] expectedIds = ints(entry.get("ids"));
            int[] expectedPadded = ints(entry.get("padded"));
            int[] ids = tokenizer.tokenIds(text);
            int[] padded = tokenizer.encode(text);
            if (!Arrays.equals(expectedIds, ids)) {
                mismatches.add("[" + i + "] " + JSON.valueToTree(text) + " ids: expected " + Arrays.toString(expectedIds)
                        + ", got " + Arrays.toString(ids) + " pieces " + tokenizer.pieces(text));
            }
            if (!Arrays.equals(expectedPadded, padded)) {
                mismatches.add("[" + i + "] " + JSON.valueToTree(text) + " padded: expected "
                        + Arrays.toString(expectedPadded) + ", got " + Arrays.toString(padded));
            }
        }
        assertTrue(mismatches.isEmpty(), mismatches.size() + " mismatches:\n" + String.join("\n", mismatches));
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).intValue();
        }
        return out;
    }
}
