package org.untwist.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * One test per way a GGUF file can be wrong: each is refused by {@link GgufFile#open} with a {@link GgufException} whose
 * message is one line naming the file and the fault.
 */
class GgufMalformedTest {
    @TempDir
    Path dir;

    private String fileName;

    @BeforeEach
    void name(TestInfo info) {
        fileName = info.getTestMethod().orElseThrow().getName() + ".gguf";
    }

    private GgufException rejects(byte[] bytes, String... mentions) throws IOException {
        return rejectsFile(Files.write(dir.resolve(fileName), bytes), mentions);
    }

    private GgufException rejects(GgufBytes b, String... mentions) throws IOException {
        return rejects(b.build(), mentions);
    }

    private static GgufException rejectsFile(Path file, String... mentions) {
        GgufException e = assertThrows(GgufException.class, () -> GgufFile.open(file).close());
        String msg = e.getMessage();
        assertTrue(msg.startsWith(file.toString() + ": "), () -> "message starts with the file: " + msg);
        assertFalse(msg.contains("\n"), () -> "one line: " + msg);
        String rest = msg.substring(file.toString().length());
        for (String m : mentions) {
            assertTrue(rest.contains(m), () -> "message mentions '" + m + "': " + msg);
        }
        return e;
    }

    /** A valid file: one Q8_0 tensor [2, 64] (4 blocks, 136 bytes) and one F32 [3] at 160. */
    private static GgufBytes valid() {
        GgufBytes b = new GgufBytes();
        b.kv("general.architecture", GgufBytes.STRING, GgufBytes.string("flux"));
        b.tensor("w", GgufBytes.Q8_0, 0, 64, 2).tensor("b", GgufBytes.F32, 160, 3);
        b.data = new byte[172];
        return b;
    }

    @Test
    void theValidFileOpens() throws IOException {
        try (GgufFile f = GgufFile.open(valid().write(dir.resolve("ok.gguf")))) {
            assertEquals(2, f.names().size());
        }
    }

    @Test
    void badMagic() throws IOException {
        byte[] b = valid().build();
        b[0] = 'P';
        b[1] = 'K';
        rejects(b, "not a GGUF file", "50 4B 55 46", "'GGUF'");
    }

    @Test
    void aSafetensorsFileIsNotGguf() throws IOException {
        Path st = dir.resolve("x.safetensors");
        SafeTensors.write(st, java.util.Map.of(), java.util.Map.of());
        rejectsFile(st, "not a GGUF file");
    }

    @Test
    void emptyFile() throws IOException {
        rejects(new byte[0], "ends inside the header", "the magic");
    }

    @Test
    void everyTruncationIsNamed() throws IOException {
        byte[] whole = valid().build();
        GgufBytes unpadded = valid();
        unpadded.alignment = 1;
        unpadded.data = new byte[0];
        int infosEnd = unpadded.build().length;
        for (int n = 0; n < whole.length; n++) { // cut in the header, in the padding after it, or in the data
            Path p = Files.write(dir.resolve("cut" + n + ".gguf"), Arrays.copyOf(whole, n));
            rejectsFile(p, n < infosEnd ? "ends inside the header" : "runs past the end of the file");
        }
    }

    @Test
    void truncatedInsideTheInfos() throws IOException {
        byte[] whole = valid().build();
        rejects(Arrays.copyOf(whole, 120), "ends inside the header", "tensor");
    }

    @Test
    void tensorDataPastTheEndOfTheFile() throws IOException {
        GgufBytes b = valid();
        b.data = new byte[171];
        rejects(b, "tensor 'b'", "[160, 172)", "runs past the end of the file");
    }

    @Test
    void offsetPastTheEnd() throws IOException {
        GgufBytes b = new GgufBytes();
        b.tensor("far", GgufBytes.F32, 1L << 40, 4);
        rejects(b, "tensor 'far'", "runs past the end of the file");
    }

    @Test
    void unknownTypeId() throws IOException {
        GgufBytes b = new GgufBytes();
        b.tensor("w", 99, 0, 4);
        b.data = new byte[16];
        rejects(b, "tensor 'w'", "unknown GGML type id 99");
    }

    @Test
    void aTypeThisReaderDoesNotRead() throws IOException {
        GgufBytes b = new GgufBytes();
        b.tensor("w", GgufBytes.Q5_K, 0, 256);
        b.data = new byte[176];
        rejects(b, "tensor 'w'", "Q5_K", "does not read", "Q8_0", "Q4_K");
    }

    @Test
    void dimensionProductOverflows() throws IOException {
        GgufBytes b = new GgufBytes();
        b.tensor("huge", GgufBytes.F32, 0, Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE);
        rejects(b, "tensor 'huge'", "product overflows");
    }

    @Test
    void byteSizeOverflows() throws IOException {
        GgufBytes b = new GgufBytes();
        b.tensor("huge", GgufBytes.F32, 0, Integer.MAX_VALUE, Integer.MAX_VALUE, 2); // 2^63 - 2^33 + 2 elements, 4 bytes each
        rejects(b, "tensor 'huge'", "byte size overflows");
    }

    @Test
    void dimensionBeyondAnInt() throws IOException {
        GgufBytes b = new GgufBytes();
        b.tensor("long", GgufBytes.F32, 0, 1L << 40);
        rejects(b, "tensor 'long'", "1099511627776", "more than 2147483647");
        GgufBytes neg = new GgufBytes();
        neg.tensor("neg", GgufBytes.F32, 0, -1L);
        rejects(neg, "tensor 'neg'", "18446744073709551615");
    }

    @Test
    void tooManyDimensions() throws IOException {
        GgufBytes b = new GgufBytes();
        b.tensor("5d", GgufBytes.F32, 0, 1, 1, 1, 1, 1);
        rejects(b, "tensor '5d'", "5 dimensions", "at most 4");
    }

    @Test
    void misalignedOffset() throws IOException {
        GgufBytes b = new GgufBytes();
        b.tensor("a", GgufBytes.F32, 0, 3).tensor("b", GgufBytes.F32, 12, 3);
        b.data = new byte[24];
        rejects(b, "tensor 'b'", "offset 12", "not a multiple of the alignment 32");
    }

    @Test
    void misalignedUnderACustomAlignment() throws IOException {
        GgufBytes b = new GgufBytes();
        b.alignment = 64;
        b.kv("general.alignment", GgufBytes.UINT32, GgufBytes.u32(64));
        b.tensor("a", GgufBytes.F32, 0, 3).tensor("b", GgufBytes.F32, 32, 3);
        b.data = new byte[44];
        rejects(b, "tensor 'b'", "offset 32", "alignment 64");
    }

    @Test
    void rowsNotWholeBlocks() throws IOException {
        GgufBytes b = new GgufBytes();
        b.tensor("w", GgufBytes.Q8_0, 0, 40, 2);
        b.data = new byte[128];
        rejects(b, "tensor 'w'", "Q8_0", "rows of 40 elements", "whole blocks of 32");
        GgufBytes k = new GgufBytes();
        k.tensor("k", GgufBytes.Q4_K, 0, 128, 2);
        k.data = new byte[288];
        rejects(k, "tensor 'k'", "Q4_K", "rows of 128", "whole blocks of 256");
    }

    @Test
    void overlappingTensors() throws IOException {
        GgufBytes b = new GgufBytes();
        b.tensor("a", GgufBytes.F32, 0, 16).tensor("b", GgufBytes.F32, 32, 16);
        b.data = new byte[96];
        rejects(b, "overlaps", "'a'", "'b'");
    }

    @Test
    void duplicateTensorName() throws IOException {
        GgufBytes b = new GgufBytes();
        b.tensor("a", GgufBytes.F32, 0, 4).tensor("a", GgufBytes.F32, 32, 4);
        b.data = new byte[48];
        rejects(b, "tensor 'a' appears twice");
    }

    @Test
    void duplicateMetadataKey() throws IOException {
        GgufBytes b = new GgufBytes();
        b.kv("k", GgufBytes.UINT8, new byte[] {1}).kv("k", GgufBytes.UINT8, new byte[] {2});
        rejects(b, "metadata key 'k' appears twice");
    }

    @Test
    void versions() throws IOException {
        GgufBytes v1 = valid();
        v1.version = 1;
        rejects(v1, "GGUF version 1 is not supported", "2 and 3");
        GgufBytes v4 = valid();
        v4.version = 4;
        rejects(v4, "GGUF version 4 is not supported");
        GgufBytes big = valid();
        big.version = Integer.reverseBytes(3);
        rejects(big, "big-endian", "00 00 00 03");
    }

    @Test
    void alignmentMustBeAUint32PowerOfTwo() throws IOException {
        GgufBytes odd = new GgufBytes();
        odd.kv("general.alignment", GgufBytes.UINT32, GgufBytes.u32(48));
        rejects(odd, "general.alignment", "power of two", "48");
        GgufBytes zero = new GgufBytes();
        zero.kv("general.alignment", GgufBytes.UINT32, GgufBytes.u32(0));
        rejects(zero, "general.alignment", "power of two", "0");
        GgufBytes signed = new GgufBytes();
        signed.kv("general.alignment", GgufBytes.INT32, GgufBytes.u32(32));
        rejects(signed, "general.alignment must be a UINT32, not INT32");
    }

    @Test
    void unknownValueType() throws IOException {
        GgufBytes b = new GgufBytes();
        b.kv("weird", 13, new byte[8]);
        rejects(b, "'weird'", "unknown value type 13");
    }

    @Test
    void boolOtherThanZeroOrOne() throws IOException {
        GgufBytes b = new GgufBytes();
        b.kv("flag", GgufBytes.BOOL, new byte[] {2});
        rejects(b, "metadata 'flag'", "BOOL of value 2");
    }

    @Test
    void arrayLongerThanTheFile() throws IOException {
        GgufBytes b = new GgufBytes();
        b.kv("tokens", GgufBytes.ARRAY, GgufBytes.concat(GgufBytes.u32(GgufBytes.STRING), GgufBytes.u64(1L << 50)));
        rejects(b, "'tokens'", "array of 1125899906842624 STRING values", "bytes left");
    }

    @Test
    void arrayOfAnUnknownType() throws IOException {
        GgufBytes b = new GgufBytes();
        b.kv("xs", GgufBytes.ARRAY, GgufBytes.concat(GgufBytes.u32(77), GgufBytes.u64(1)));
        rejects(b, "'xs'", "array of unknown value type 77");
    }

    @Test
    void arraysNestedTooDeep() throws IOException {
        byte[] value = GgufBytes.concat(GgufBytes.u32(GgufBytes.UINT8), GgufBytes.u64(0));
        for (int depth = 0; depth < 20; depth++) {
            value = GgufBytes.concat(GgufBytes.u32(GgufBytes.ARRAY), GgufBytes.u64(1), value);
        }
        GgufBytes b = new GgufBytes();
        b.kv("deep", GgufBytes.ARRAY, value);
        rejects(b, "'deep", "nests arrays deeper than 8");
    }

    @Test
    void stringLongerThanTheFile() throws IOException {
        GgufBytes b = new GgufBytes();
        b.kv("s", GgufBytes.STRING, GgufBytes.concat(GgufBytes.u64(1000), new byte[] {'a'}));
        rejects(b, "ends inside the header", "'s'", "claims 1000 bytes");
    }

    @Test
    void countsLargerThanTheFile() throws IOException {
        GgufBytes t = valid();
        t.tensorCount = 1L << 40;
        rejects(t, "claims 1099511627776 tensors");
        GgufBytes kv = valid();
        kv.kvCount = -1L;
        rejects(kv, "claims 18446744073709551615 metadata entries");
    }

    @Test
    void tensorNameNotUtf8() throws IOException {
        GgufBytes b = new GgufBytes();
        b.tensorRaw(GgufBytes.concat(GgufBytes.u64(2), new byte[] {(byte) 0xC3, (byte) 0x28}), GgufBytes.F32, 0, 1);
        b.data = new byte[4];
        rejects(b, "the name of tensor 0 is not valid UTF-8");
    }

    @Test
    void aFolderOrAMissingFile() throws IOException {
        Path folder = Files.createDirectories(dir.resolve("folder.gguf"));
        rejectsFile(folder, "is a folder");
        rejectsFile(dir.resolve("missing.gguf"), "cannot read", "NoSuchFile");
    }
}
