package org.untwist.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;
import org.untwist.tensor.DType;

/** One test per way a header can be wrong; each checks the exception type and what its message names. */
class SafeTensorsMalformedTest {
    @TempDir
    Path dir;

    private String fileName;

    @org.junit.jupiter.api.BeforeEach
    void name(TestInfo info) {
        fileName = info.getTestMethod().orElseThrow().getName() + ".safetensors";
    }

    /** A well-formed entry for a tensor of {@code n} F32 elements at {@code begin}. */
    private static String f32(String name, int n, int begin) {
        return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[" + n + "],\"data_offsets\":[" + begin + "," + (begin + 4 * n) + "]}";
    }

    private SafeTensorsException rejects(byte[] bytes, String... mentions) {
        Path file = StFiles.write(dir.resolve(fileName), bytes);
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> SafeTensors.open(file).close());
        String msg = e.getMessage();
        assertTrue(msg.contains(fileName), () -> "message names the file: " + msg);
        String rest = msg.replace(file.toString(), ""); // the file is named after the test: don't let it satisfy the checks
        for (String m : mentions) {
            assertTrue(rest.contains(m), () -> "message mentions '" + m + "': " + msg);
        }
        return e;
    }

    private SafeTensorsException rejects(String header, int dataBytes, String... mentions) {
        return rejects(StFiles.build(header, dataBytes), mentions);
    }

    private SafeTensors accepts(String header, int dataBytes) {
        return SafeTensors.open(StFiles.write(dir.resolve(fileName), StFiles.build(header, dataBytes)));
    }

    // --- the length prefix ---------------------------------------------------------------------------------

    @Test
    void emptyFile() {
        rejects(new byte[0], "0 bytes", "too short");
    }

    @Test
    void fileShorterThan8Bytes() {
        rejects(new byte[] {2, 0, 0, 0, 0, 0, 0}, "7 bytes", "too short");
    }

    @Test
    void headerLengthZero() {
        rejects(StFiles.build(0, new byte[0], new byte[16]), "header length is 0");
    }

    @Test
    void headerLengthNegativeAsSigned() {
        rejects(StFiles.build(-1, "{}".getBytes(StandardCharsets.UTF_8), new byte[0]), "18446744073709551615");
        rejects(StFiles.build(Long.MIN_VALUE, "{}".getBytes(StandardCharsets.UTF_8), new byte[0]), "9223372036854775808");
    }

    @Test
    void headerLengthBeyondTheFile() {
        rejects(StFiles.build(3, "{}".getBytes(StandardCharsets.UTF_8), new byte[0]), "header length 3", "10 bytes");
    }

    @Test
    void headerLengthOverTheMaximum() {
        // checked before the file size, so no 100 MB file is needed and nothing of that size is allocated
        rejects(StFiles.build(SafeTensors.MAX_HEADER_BYTES + 1, "{}".getBytes(StandardCharsets.UTF_8), new byte[0]),
                "100000001", "limit");
        rejects(StFiles.build(1L << 40, "{}".getBytes(StandardCharsets.UTF_8), new byte[0]), "limit");
    }

    // --- the header as a whole -----------------------------------------------------------------------------

    @Test
    void headerNotUtf8() {
        byte[] header = "{\"ab\":{}}".getBytes(StandardCharsets.UTF_8);
        header[3] = (byte) 0xC3; // a lead byte followed by an ASCII byte
        rejects(StFiles.build(header.length, header, new byte[0]), "UTF-8");
    }

    @Test
    void headerIsUtf8WithAnEncodedSurrogate() {
        byte[] header = {'{', '"', (byte) 0xED, (byte) 0xA0, (byte) 0x80, '"', ':', '1', '}'}; // CESU-8 U+D800
        rejects(StFiles.build(header.length, header, new byte[0]), "UTF-8");
    }

    @Test
    void headerNotJson() {
        rejects("{\"a\":{\"dtype\":\"F32\",", 0, "not valid JSON", "tensor 'a'");
    }

    @Test
    void headerIsNotAnObject() {
        rejects("[1,2]", 0, "not a JSON object", "array");
    }

    @Test
    void headerIsAString() {
        rejects("\"x\"", 0, "not a JSON object");
    }

    @Test
    void headerIsOnlyWhitespace() {
        rejects("        ", 0, "not a JSON object", "empty");
    }

    @Test
    void duplicateTensorKeys() {
        rejects("{" + f32("w", 1, 0) + "," + f32("w", 1, 4) + "}", 8, "tensor 'w'", "Duplicate");
    }

    @Test
    void duplicateFieldInsideAnEntry() {
        rejects("{\"blk.0\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                "tensor 'blk.0'", "Duplicate", "dtype");
    }

    @Test
    void duplicateMetadataKey() {
        rejects("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0, "__metadata__", "Duplicate");
    }

    @Test
    void trailingGarbageAfterTheObject() {
        rejects("{" + f32("a", 1, 0) + "} x", 4, "trailing");
    }

    @Test
    void secondObjectAfterTheFirst() {
        rejects("{}{}", 0, "trailing");
    }

    @Test
    void nulPaddingIsNotWhitespace() {
        rejects("{}\0\0\0\0\0\0", 0, "JSON");
    }

    // --- a tensor entry ------------------------------------------------------------------------------------

    @Test
    void entryIsNotAnObject() {
        rejects("{\"w\":[1,2]}", 0, "tensor 'w'", "not a JSON object");
    }

    @Test
    void missingDtype() {
        rejects("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'w'", "missing dtype");
    }

    @Test
    void missingShape() {
        rejects("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "tensor 'w'", "missing shape");
    }

    @Test
    void missingDataOffsets() {
        rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor 'w'", "missing data_offsets");
    }

    @Test
    void unknownExtraField() {
        rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"stride\":[1]}}", 4,
                "tensor 'w'", "unknown field 'stride'");
    }

    @Test
    void dtypeNotAString() {
        rejects("{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'w'", "dtype is not a string");
    }

    @Test
    void unsupportedDtypeI16() { // I64 and I32 (token ids) are read; other integer types are not
        rejects("{\"ids\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2,
                "tensor 'ids'", "'I16'", "F32, BF16, F16, F8_E4M3, F8_E5M2, I64, I32");
    }

    @Test
    void unsupportedDtypeF64() {
        rejects("{\"x\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "tensor 'x'", "'F64'", "F32, BF16, F16");
    }

    @Test
    void unsupportedDtypeU8() {
        rejects("{\"mask\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4, "tensor 'mask'", "'U8'", "F32, BF16, F16");
    }

    @Test
    void dtypeInLowerCase() {
        rejects("{\"w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'w'", "'f32'", "F32, BF16, F16");
    }

    @Test
    void shapeNotAnArray() {
        rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 16, "tensor 'w'", "shape is not an array");
    }

    @Test
    void shapeWithNegativeDimension() {
        rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-2],\"data_offsets\":[0,16]}}", 16, "tensor 'w'", "shape entry 1 (-2)");
    }

    @Test
    void shapeWithFractionalDimension() {
        rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "tensor 'w'", "shape entry 0 (1.5)");
    }

    @Test
    void shapeWithStringDimension() {
        rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "tensor 'w'", "shape entry 0");
    }

    @Test
    void shapeDimensionBeyondInt() {
        rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483648],\"data_offsets\":[0,8589934592]}}", 0,
                "tensor 'w'", "2147483648", "32 bits");
        // 2^32 truncated to an int is 0, which would make an empty tensor of an empty range
        rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296],\"data_offsets\":[0,0]}}", 0, "tensor 'w'", "4294967296");
    }

    @Test
    void shapeElementCountOverflows() {
        rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,4]}}", 4,
                "tensor 'w'", "too many elements");
    }

    @Test
    void shapeByteCountOverflows() {
        // 2^62 elements fit a long, 2^64 bytes do not
        rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[1073741824,1073741824,4],\"data_offsets\":[0,4]}}", 4,
                "tensor 'w'", "overflows");
    }

    @Test
    void dataOffsetsWithOneEntry() {
        rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4, "tensor 'w'", "exactly two");
    }

    @Test
    void dataOffsetsWithThreeEntries() {
        rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "tensor 'w'", "exactly two");
    }

    @Test
    void dataOffsetsNotAnArray() {
        rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"0\":4}}}", 4, "tensor 'w'", "exactly two");
    }

    @Test
    void dataOffsetsNegative() {
        rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, "tensor 'w'", "entry 0 (-4)");
    }

    @Test
    void dataOffsetsNotIntegers() {
        rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", 4, "tensor 'w'", "entry 1 (4.0)");
    }

    @Test
    void dataOffsetsBeyondLong() {
        // 2^64 and 2^64 + 4: truncated to 64 bits they would read as the valid range [0,4]
        rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[18446744073709551616,18446744073709551620]}}", 4,
                "tensor 'w'", "entry 0 (18446744073709551616)");
    }

    @Test
    void dataOffsetsEndBeforeBegin() {
        rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, "tensor 'w'", "[8,4]", "end before");
    }

    @Test
    void shapeByteSizeDiffersFromOffsetSpan() {
        rejects("{\"img_in.weight\":{\"dtype\":\"F32\",\"shape\":[128,16],\"data_offsets\":[0,4096]}}", 4096,
                "tensor 'img_in.weight'", "shape [128,16] (F32) needs 8192 bytes but its data_offsets span 4096");
    }

    @Test
    void halfPrecisionByteSizeMismatch() {
        rejects("{\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,12]}}", 12, "tensor 'w'", "needs 6 bytes");
    }

    @Test
    void dataOffsetsBeyondTheDataArea() {
        rejects("{" + f32("a", 2, 0) + "," + f32("tail", 2, 8) + "}", 12, "tensor 'tail'", "[8,16]", "12 bytes");
    }

    @Test
    void emptyTensorBeyondTheDataArea() {
        rejects("{\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[100,100]}}", 4, "tensor 'e'", "data area");
    }

    @Test
    void overlappingTensors() {
        rejects("{" + f32("first", 4, 0) + "," + f32("second", 4, 8) + "}", 24, "tensor 'second'", "tensor 'first'", "overlap");
    }

    @Test
    void tensorNestedInsideAnother() {
        rejects("{" + f32("outer", 8, 0) + "," + f32("a", 1, 0) + "," + f32("inner", 1, 12) + "}", 32, "overlap", "tensor 'outer'");
    }

    @Test
    void aliasedTensors() {
        rejects("{" + f32("x", 2, 0) + "," + f32("y", 2, 0) + "}", 8, "overlap", "tensor 'x'", "tensor 'y'");
    }

    // --- metadata ------------------------------------------------------------------------------------------

    @Test
    void metadataNotAnObject() {
        rejects("{\"__metadata__\":[\"a\"]}", 0, "__metadata__", "object of strings");
    }

    @Test
    void metadataValueNotAString() {
        rejects("{\"__metadata__\":{\"epoch\":3}}", 0, "__metadata__", "'epoch'", "not a string");
    }

    @Test
    void metadataValueNull() {
        rejects("{\"__metadata__\":{\"k\":null}}", 0, "__metadata__", "'k'");
    }

    // --- missing files and tensors -------------------------------------------------------------------------

    @Test
    void missingFile() {
        Path file = dir.resolve(fileName);
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> SafeTensors.open(file));
        assertTrue(e.getMessage().contains(fileName), e.getMessage());
    }

    @Test
    void directoryInsteadOfAFile() {
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> SafeTensors.open(dir));
        assertTrue(e.getMessage().contains(dir.getFileName().toString()), e.getMessage());
    }

    @Test
    void missingTensorNamesFileTensorAndCount() {
        try (SafeTensors st = accepts("{" + f32("a", 1, 0) + "," + f32("b", 1, 4) + "," + f32("c", 1, 8) + "}", 12)) {
            for (var lookup : List.<java.util.function.Consumer<String>>of(st::tensor, st::info)) {
                SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> lookup.accept("double_blocks.0.img_mod.lin.weight"));
                assertTrue(e.getMessage().contains(fileName), e.getMessage());
                assertTrue(e.getMessage().contains("'double_blocks.0.img_mod.lin.weight'"), e.getMessage());
                assertTrue(e.getMessage().contains("3 tensors"), e.getMessage());
            }
        }
    }

    // --- accepted oddities ---------------------------------------------------------------------------------

    @Test
    void gapsBetweenAndAroundTensorsAreAccepted() {
        // data area of 40 bytes: [0,4) unused, b at [4,12), [12,20) unused, a at [20,24), [24,40) unused;
        // header order differs from file order
        try (SafeTensors st = accepts("{" + f32("a", 1, 20) + "," + f32("b", 2, 4) + "}", 40)) {
            assertEquals(List.of("b", "a"), st.names());
            byte[] data = StFiles.pattern(40);
            assertEquals(Float.intBitsToFloat((data[20] & 0xFF) | (data[21] & 0xFF) << 8 | (data[22] & 0xFF) << 16 | (data[23] & 0xFF) << 24),
                    st.tensor("a").get(0));
            assertEquals(8, st.tensor("b").segment().byteSize());
        }
    }

    @Test
    void emptyTensorsMayShareAnyOffsetInsideTheDataArea() {
        String empty = "{\"dtype\":\"F16\",\"shape\":[4,0],\"data_offsets\":[4,4]}";
        try (SafeTensors st = accepts("{" + f32("w", 2, 0) + ",\"e1\":" + empty + ",\"e2\":" + empty
                + ",\"e3\":{\"dtype\":\"BF16\",\"shape\":[0],\"data_offsets\":[8,8]}}", 8)) {
            assertEquals(List.of("w", "e1", "e2", "e3"), st.names());
            assertEquals(0, st.tensor("e1").numel());
            assertArrayEquals(new int[] {4, 0}, st.tensor("e2").shape());
            assertEquals(DType.BF16, st.tensor("e3").dtype());
        }
    }

    @Test
    void leadingWhitespaceAndEmptyHeaderObjectAreAccepted() {
        try (SafeTensors st = accepts(" \n{ } ", 0)) {
            assertTrue(st.names().isEmpty());
            assertTrue(st.metadata().isEmpty());
        }
    }
}
