package org.untwist.text;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Normalization and word splitting, against what tokenizers does for transformers' CLIPTokenizer. */
class ClipPreTokenizerTest {

    @Test
    void wordsAreLetterRunsSingleDigitsPunctuationRunsAndContractions() {
        assertEquals(List.of("hello", ",", "world", "!!", "it", "'s", "1", "2", "3", "don", "'t"),
                ClipPreTokenizer.words("Hello,  World!! it's 123 DON'T"));
    }

    @Test
    void clipsLiteralSpecialTokenMatchIsCutAgainByGpt2sPattern() {
        // CLIP's pattern takes "<|endoftext|>" whole (so "!!" stays apart); the byte-level split cuts it again.
        assertEquals(List.of("<|", "endoftext", "|>", "!!"), ClipPreTokenizer.words("<|ENDOFTEXT|>!!"));
        assertEquals(List.of("!!<|", "endoftext"), ClipPreTokenizer.words("!!<|endoftext"));
    }

    @Test
    void lowerCaseIsPerCodePointWithFullMappings() {
        assertEquals("σασ", ClipPreTokenizer.normalize("ΣΑΣ")); // no final ς
        assertEquals("i\u0307stanbul", ClipPreTokenizer.normalize("İstanbul"));
    }

    @Test
    void normalizationComposesAndCollapsesUnicodeWhitespace() {
        assertEquals("café x y", ClipPreTokenizer.normalize("cafe\u0301\u2028x\u00a0\u3000\u0085y"));
        assertEquals("ﬁ ａ", ClipPreTokenizer.normalize("ﬁ Ａ")); // NFC, not NFKC
    }

    @Test
    void emojiSequencesAndSupplementaryCharactersStayWhole() {
        assertEquals(List.of("👨\u200d👩\u200d👧", "family"), ClipPreTokenizer.words("👨\u200d👩\u200d👧 family"));
        assertEquals(List.of("𝟘", "𝟙", "x", "𝐀𝐁"), ClipPreTokenizer.words("𝟘𝟙 x 𝐀𝐁"));
    }

    @Test
    void byteAlphabetIsGpt2s() {
        assertEquals(256, ByteLevelAlphabet.vocabularyOrder().stream().distinct().count());
        assertEquals("!", ByteLevelAlphabet.vocabularyOrder().get(0));
        assertEquals("\u0100", ByteLevelAlphabet.vocabularyOrder().get(188)); // byte 0, first remapped
        assertEquals("\u0120", ByteLevelAlphabet.encode(" ")); // Ġ
        assertEquals("\u010a", ByteLevelAlphabet.encode("\n")); // Ċ
        assertEquals("\u00c3\u00a9", ByteLevelAlphabet.encode("é")); // C3 A9
        assertEquals("\u0143", ByteLevelAlphabet.encode("\u00ad").substring(1)); // soft hyphen's A D byte → Ń
    }
}
