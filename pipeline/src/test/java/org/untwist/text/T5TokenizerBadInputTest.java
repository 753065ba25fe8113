package org.untwist.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad tokenizer folders and files fail with one line that names the culprit, never with a stray exception. */
class T5TokenizerBadInputTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path MODEL = T5TestFiles.textDir().resolve("t5-unigram");

    @TempDir
    Path tmp;

    @Test
    void missingFolderIsNamed() {
        Path nowhere = tmp.resolve("no-such-tokenizer_2");
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> T5Tokenizer.load(nowhere));
        assertTrue(e.getMessage().contains("no-such-tokenizer_2"), e.getMessage());
    }

    @Test
    void folderWithoutEitherFileSaysWhatIsMissing() {
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> T5Tokenizer.load(tmp));
        assertTrue(e.getMessage().contains("neither tokenizer.json nor spiece.model"), e.getMessage());
        NoSuchFileException model = assertThrows(NoSuchFileException.class, () -> T5Tokenizer.loadSentencePiece(tmp));
        assertTrue(model.getMessage().contains("spiece.model"), model.getMessage());
        NoSuchFileException json = assertThrows(NoSuchFileException.class, () -> T5Tokenizer.loadTokenizerJson(tmp));
        assertTrue(json.getMessage().contains("tokenizer.json"), json.getMessage());
    }

    @Test
    void loadPrefersTokenizerJsonAndFallsBackToSpieceModel() throws IOException {
        assertTrue(T5Tokenizer.load(MODEL).toString().contains("tokenizer.json"));
        Files.copy(MODEL.resolve("spiece.model"), tmp.resolve("spiece.model"));
        assertTrue(T5Tokenizer.load(tmp).toString().contains("spiece.model"));
    }

    @Test
    void truncatedSpieceModelSaysWhereItEnds() throws IOException {
        byte[] whole = Files.readAllBytes(MODEL.resolve("spiece.model"));
        // Inside the first piece, and inside the precompiled charsmap (the bulk of the file, near its end).
        for (int cut : new int[] {3, whole.length / 2, whole.length - 1000}) {
            IOException e = assertThrows(IOException.class, () -> SentencePieceModelFile.parse(
                    Arrays.copyOf(whole, cut), "spiece.model"));
            assertEquals("spiece.model: truncated at byte " + cut, e.getMessage());
        }
    }

    @Test
    void everyTruncationFailsCleanlyOrStillTokenizes() throws IOException {
        byte[] whole = Files.readAllBytes(MODEL.resolve("spiece.model"));
        java.util.Random random = new java.util.Random(15);
        for (int trial = 0; trial < 300; trial++) {
            int cut = random.nextInt(whole.length);
            try {
                T5Tokenizer tokenizer = SentencePieceModelFile.parse(Arrays.copyOf(whole, cut), "spiece.model");
                tokenizer.ids("a photo of a cat"); // a cut between fields can leave a smaller, valid model
            } catch (IOException e) {
                assertTrue(e.getMessage().startsWith("spiece.model: "), e.getMessage());
                assertTrue(!e.getMessage().contains("\n"), e.getMessage());
            }
        }
    }

    @Test
    void corruptProtobufSaysWhatAndWhere() {
        byte[] badKey = {(byte) 0x0F, 0x00}; // field 1 with wire type 7, which does not exist
        IOException e = assertThrows(IOException.class, () -> SentencePieceModelFile.parse(badKey, "spiece.model"));
        assertEquals("spiece.model: corrupt protobuf at byte 0: bad field key 15 (field 1, wire type 7)",
                e.getMessage());
        IOException notAModel = assertThrows(IOException.class, () -> SentencePieceModelFile.parse(
                "{\"model\": {}}".getBytes(StandardCharsets.UTF_8), "spiece.model"));
        assertTrue(notAModel.getMessage().startsWith("spiece.model: "), notAModel.getMessage());
    }

    @Test
    void spieceModelOfAnotherAlgorithmIsRefused() {
        ProtoWriter piece = new ProtoWriter().string(1, "▁a").fixed32(2, -1f).varint(3, 1);
        ProtoWriter trainer = new ProtoWriter().varint(3, 2); // model_type BPE
        byte[] model = new ProtoWriter().message(1, piece).message(2, trainer).message(3, new ProtoWriter())
                .bytes();
        IOException e = assertThrows(IOException.class, () -> SentencePieceModelFile.parse(model, "spiece.model"));
        assertEquals("spiece.model: model type is BPE, but T5 tokenizers are Unigram", e.getMessage());
    }

    @Test
    void tokenizerJsonOfAnotherModelTypeIsRefused() throws IOException {
        for (String type : new String[] {"BPE", "WordPiece"}) {
            ObjectNode root = tokenizerJson();
            ((ObjectNode) root.get("model")).put("type", type);
            IOException e = assertThrows(IOException.class, () -> loadJson(root));
            assertEquals("tokenizer.json: model type is " + type + ", but T5 tokenizers are Unigram", e.getMessage());
        }
    }

    @Test
    void unknownNormalizerTypeIsNamed() throws IOException {
        ObjectNode root = tokenizerJson();
        root.putObject("normalizer").put("type", "NFKC");
        IOException e = assertThrows(IOException.class, () -> loadJson(root));
        assertTrue(e.getMessage().startsWith("tokenizer.json: normalizer type NFKC is not supported"),
                e.getMessage());
    }

    @Test
    void brokenJsonIsNamed() throws IOException {
        Files.writeString(tmp.resolve("tokenizer.json"), "{\"model\": ");
        IOException e = assertThrows(IOException.class, () -> T5Tokenizer.loadTokenizerJson(tmp));
        assertTrue(e.getMessage().startsWith("tokenizer.json: not valid JSON"), e.getMessage());
    }

    @Test
    void maxLengthBelowOneIsRefused() throws IOException {
        T5Tokenizer tokenizer = T5Tokenizer.loadSentencePiece(MODEL);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> tokenizer.encode("a cat", 0));
        assertEquals("maxLength must be at least 1 (room for </s>), got 0", e.getMessage());
        assertEquals(1, tokenizer.encode("a cat", 1)[0], "at length 1 only </s> is left");
    }

    private ObjectNode tokenizerJson() throws IOException {
        return (ObjectNode) JSON.readTree(MODEL.resolve("tokenizer.json").toFile());
    }

    private T5Tokenizer loadJson(ObjectNode root) throws IOException {
        Path file = tmp.resolve("tokenizer.json");
        JSON.writeValue(file.toFile(), root);
        return T5Tokenizer.loadTokenizerJson(file);
    }

    /** Just enough protobuf writing to build small ModelProto messages by hand. */
    private static final class ProtoWriter {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        ProtoWriter varint(int field, long value) {
            key(field, 0);
            raw(value);
            return this;
        }

        ProtoWriter fixed32(int field, float value) {
            key(field, 5);
            int bits = Float.floatToIntBits(value);
            for (int i = 0; i < 4; i++) {
                out.write(bits >>> (8 * i));
            }
            return this;
        }

        ProtoWriter string(int field, String value) {
            return lengthDelimited(field, value.getBytes(StandardCharsets.UTF_8));
        }

        ProtoWriter message(int field, ProtoWriter inner) {
            return lengthDelimited(field, inner.bytes());
        }

        byte[] bytes() {
            return out.toByteArray();
        }

        private ProtoWriter lengthDelimited(int field, byte[] value) {
            key(field, 2);
            raw(value.length);
            out.writeBytes(value);
            return this;
        }

        private void key(int field, int wireType) {
            raw((long) field << 3 | wireType);
        }

        private void raw(long value) {
            while ((value & ~0x7FL) != 0) {
                out.write((int) (value & 0x7F) | 0x80);
                value >>>= 7;
            }
            out.write((int) value);
        }
    }
}
