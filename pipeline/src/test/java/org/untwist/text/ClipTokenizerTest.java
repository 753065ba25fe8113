package org.untwist.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ClipTokenizer on a tiny hand-written tokenizer folder: runs without the real vocabulary. */
class ClipTokenizerTest {

    // ids: 0 start, 1 end (also unknown), 2 pad; single letters, word-final letters, merge results, punctuation.
    private static final String VOCAB = """
            {"<|startoftext|>": 0, "<|endoftext|>": 1, "<pad>": 2,
             "a": 3, "b": 4, "c": 5, "a</w>": 6, "b</w>": 7, "c</w>": 8,
             "ab": 9, "bc</w>": 10, "abc</w>": 11, "!": 12, "!</w>": 13, "!!</w>": 14, "1</w>": 15, "2</w>": 16}
            """;
    /** "a b" first: abc → ab c</w> → abc</w>. */
    private static final String MERGES = "#version: 0.2\na b\nb c</w>\nab c</w>\n! !</w>\n";
    /** "b c</w>" first: abc → a bc</w>, and "a bc</w>" is no merge. */
    private static final String MERGES_BC_FIRST = "#version: 0.2\nb c</w>\na b\nab c</w>\n! !</w>\n";
    private static final String CONFIG = """
            {"bos_token": {"content": "<|startoftext|>", "__type": "AddedToken"}, "eos_token": "<|endoftext|>",
             "unk_token": "<|endoftext|>", "pad_token": "<pad>", "model_max_length": 6}
            """;

    @TempDir
    Path dir;

    private Path folder(String vocab, String merges, String config) throws IOException {
        Files.writeString(dir.resolve("vocab.json"), vocab);
        Files.writeString(dir.resolve("merges.txt"), merges);
        Files.writeString(dir.resolve("tokenizer_config.json"), config);
        return dir;
    }

    private ClipTokenizer toy() throws IOException {
        return ClipTokenizer.load(folder(VOCAB, MERGES, CONFIG));
    }

    @Test
    void mergesApplyInRankOrder() throws IOException {
        assertEquals(List.of("abc</w>"), toy().pieces("abc"));
        assertEquals(List.of("a", "bc</w>"), ClipTokenizer.load(folder(VOCAB, MERGES_BC_FIRST, CONFIG)).pieces("abc"));
    }

    @Test
    void onlyAWordsLastSymbolCarriesTheEndOfWordMark() throws IOException {
        ClipTokenizer tokenizer = toy();
        assertEquals(List.of("a", "b</w>"), tokenizer.pieces("ab")); // "a b" merges ab, not ab</w>
        assertEquals(List.of("a</w>", "b</w>"), tokenizer.pieces("a b"));
        assertArrayEquals(new int[] {0, 3, 7, 1}, tokenizer.tokenIds("ab"));
    }

    @Test
    void upperCaseAndWhitespaceRunsTokenizeLikeLowerCaseSingleSpaces() throws IOException {
        ClipTokenizer tokenizer = toy();
        assertArrayEquals(new int[] {0, 11, 11, 1}, tokenizer.tokenIds("abc abc"));
        assertArrayEquals(tokenizer.tokenIds("abc abc"), tokenizer.tokenIds("  ABC\t\n\u00a0\u3000AbC  "));
    }

    @Test
    void punctuationRunsAndDigitsSplitAsClipDoes() throws IOException {
        ClipTokenizer tokenizer = toy();
        assertEquals(List.of("abc</w>", "!!</w>", "1</w>", "2</w>"), tokenizer.pieces("abc!!12"));
    }

    @Test
    void symbolsMissingFromTheVocabularyBecomeTheUnknownToken() throws IOException {
        ClipTokenizer tokenizer = toy();
        assertEquals(1, tokenizer.unknownId());
        assertArrayEquals(new int[] {0, 9, 1, 1}, tokenizer.tokenIds("abd")); // ab, then d</w> unknown
    }

    @Test
    void specialTokenStringsInTheRawTextAreTheirIdsButOnlyInExactCase() throws IOException {
        ClipTokenizer tokenizer = toy();
        assertArrayEquals(new int[] {0, 11, 1, 11, 0, 1}, tokenizer.tokenIds("abc<|endoftext|>abc<|startoftext|>"));
        assertFalse(tokenizer.pieces("<|ENDOFTEXT|>").contains("<|endoftext|>"));
    }

    @Test
    void encodePadsWithThePadTokenToModelMaxLength() throws IOException {
        ClipTokenizer tokenizer = toy();
        assertEquals(6, tokenizer.maxLength());
        assertArrayEquals(new int[] {0, 11, 1, 2, 2, 2}, tokenizer.encode("abc"));
        assertArrayEquals(new int[] {0, 1, 2, 2, 2, 2}, tokenizer.encode(""));
    }

    @Test
    void encodeTruncatesButKeepsTheEndToken() throws IOException {
        ClipTokenizer tokenizer = toy();
        assertArrayEquals(new int[] {0, 11, 6, 7, 8, 11, 1}, tokenizer.tokenIds("abc a b c abc"));
        assertArrayEquals(new int[] {0, 11, 6, 7, 8, 1}, tokenizer.encode("abc a b c abc"));
        assertArrayEquals(new int[] {0, 11, 6, 7, 8, 1}, tokenizer.encode("abc a b c"));
    }

    @Test
    void unpairedSurrogateIsRefused() throws IOException {
        ClipTokenizer tokenizer = toy();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> tokenizer.encode("a\ud800b"));
        assertTrue(e.getMessage().contains("U+D800"), e.getMessage());
    }

    // ---- bad folders: one line, naming the file

    private String failure(String vocab, String merges, String config) throws IOException {
        Path folder = folder(vocab, merges, config);
        String message = assertThrows(ClipTokenizerFileException.class, () -> ClipTokenizer.load(folder)).getMessage();
        assertFalse(message.contains("\n"), "one line: " + message);
        return message;
    }

    @Test
    void missingVocabularyIsNamed() throws IOException {
        Files.delete(folder(VOCAB, MERGES, CONFIG).resolve("vocab.json"));
        String message = assertThrows(ClipTokenizerFileException.class, () -> ClipTokenizer.load(dir)).getMessage();
        assertEquals(dir.resolve("vocab.json") + ": missing", message);
    }

    @Test
    void missingConfigIsNamed() throws IOException {
        Files.delete(folder(VOCAB, MERGES, CONFIG).resolve("tokenizer_config.json"));
        String message = assertThrows(ClipTokenizerFileException.class, () -> ClipTokenizer.load(dir)).getMessage();
        assertEquals(dir.resolve("tokenizer_config.json") + ": missing", message);
    }

    @Test
    void badMergesLineIsNamedWithItsNumber() throws IOException {
        assertEquals(dir.resolve("merges.txt") + " line 3: expected two symbols separated by one space, found \"a b c\"",
                failure(VOCAB, "#version: 0.2\na b\na b c\n", CONFIG));
        assertEquals(dir.resolve("merges.txt") + " line 2: \"ca\" is not in vocab.json",
                failure(VOCAB, "#version: 0.2\nc a\n", CONFIG));
    }

    @Test
    void specialTokenMissingFromTheVocabularyIsNamed() throws IOException {
        String config = CONFIG.replace("\"pad_token\": \"<pad>\"", "\"pad_token\": \"<|nope|>\"");
        assertEquals(dir.resolve("tokenizer_config.json") + ": pad_token \"<|nope|>\" is not in vocab.json",
                failure(VOCAB, MERGES, config));
    }

    @Test
    void specialTokensMayComeFromTheSpecialTokensMapButMustNotContradictTheConfig() throws IOException {
        String config = CONFIG.replace("\"pad_token\": \"<pad>\",", "");
        Path folder = folder(VOCAB, MERGES, config);
        Files.writeString(folder.resolve("special_tokens_map.json"), "{\"pad_token\": \"<pad>\"}");
        assertEquals(2, ClipTokenizer.load(folder).padId());
        Files.writeString(folder.resolve("special_tokens_map.json"), "{\"pad_token\": \"<pad>\", \"eos_token\": \"!\"}");
        String message = assertThrows(ClipTokenizerFileException.class, () -> ClipTokenizer.load(folder)).getMessage();
        assertEquals(folder.resolve("special_tokens_map.json")
                + ": eos_token \"!\" differs from tokenizer_config.json's \"<|endoftext|>\"", message);
        Files.delete(folder.resolve("special_tokens_map.json"));
        assertEquals(folder.resolve("tokenizer_config.json")
                + ": pad_token missing (and not in special_tokens_map.json either)",
                assertThrows(ClipTokenizerFileException.class, () -> ClipTokenizer.load(folder)).getMessage());
    }

    @Test
    void malformedJsonAndValuesAreNamed() throws IOException {
        assertTrue(failure("{\"a\": 1,", MERGES, CONFIG).startsWith(dir.resolve("vocab.json") + ": not valid JSON ("));
        assertEquals(dir.resolve("vocab.json") + ": token \"a\" has id \"x\", expected an integer >= 0",
                failure("{\"a\": \"x\"}", MERGES, CONFIG));
        assertEquals(dir.resolve("vocab.json") + ": expected a JSON object, found ARRAY",
                failure("[1, 2]", MERGES, CONFIG));
        assertEquals(dir.resolve("tokenizer_config.json") + ": model_max_length missing",
                failure(VOCAB, MERGES, CONFIG.replace(", \"model_max_length\": 6", "")));
        assertEquals(dir.resolve("tokenizer_config.json")
                + ": model_max_length is 1.0E30, expected an integer >= 2 (start and end token)",
                failure(VOCAB, MERGES, CONFIG.replace("\"model_max_length\": 6", "\"model_max_length\": 1e30")));
    }
}
