package org.untwist.io;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.untwist.tensor.DType;

/**
 * The front of a GGUF file, parsed and validated: everything before the tensor data. Layout (all little-endian):
 * the magic {@code GGUF}, a {@code uint32} version (2 or 3: version 1 had 32-bit counts), a {@code uint64} tensor count,
 * a {@code uint64} metadata count, the metadata entries (a string key, a {@code uint32} value type, the value), the
 * tensor infos (a string name, a {@code uint32} number of dimensions, that many {@code uint64} dimensions innermost
 * first, a {@code uint32} GGML type, a {@code uint64} offset into the data section), then padding up to the alignment
 * ({@code general.alignment}, default 32), where the data section starts. A string is a {@code uint64} byte length and
 * UTF-8 bytes.
 *
 * @param version    2 or 3
 * @param alignment  the alignment of the data section and of every tensor's offset in it
 * @param metadata   the metadata in file order (see {@link GgufFile#metadata()} for the Java type of each value)
 * @param tensors    tensor infos in file order: shape in untwist's row-major order (GGUF's dimensions reversed),
 *                   byte ranges relative to the data section
 * @param dataOffset where the data section starts in the file
 */
record GgufHeader(int version, int alignment, Map<String, Object> metadata, Map<String, TensorInfo> tensors, long dataOffset) {

    /** {@code GGUF} read as a little-endian uint32. */
    static final int MAGIC = 0x46554747;
    static final int DEFAULT_ALIGNMENT = 32;
    static final String ALIGNMENT_KEY = "general.alignment";
    /** GGML's {@code GGML_MAX_DIMS}. */
    static final int MAX_DIMS = 4;
    /** Deepest nesting of arrays in metadata accepted (the format allows arrays of arrays; a file is not a stack bomb). */
    static final int MAX_ARRAY_DEPTH = 8;

    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final String[] VALUE_TYPES = {"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING",
            "ARRAY", "UINT64", "INT64", "FLOAT64"};
    private static final int UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7, STRING = 8,
            ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12;
    private static final int MAX_SHOWN = 120; // characters of a name quoted in a message

    /** Reads and checks the header of {@code file}, whose bytes are {@code bytes}; every fault names {@code file}. */
    static GgufHeader parse(MemorySegment bytes, String file) {
        return new Parser(bytes, file).parse();
    }

    /** The GGUF name of a metadata value type, for messages. */
    static String valueTypeName(int type) {
        return type >= 0 && type < VALUE_TYPES.length ? VALUE_TYPES[type] : "unknown type " + Integer.toUnsignedString(type);
    }

    static String abbreviate(String s) {
        return s.length() <= MAX_SHOWN ? s : s.substring(0, MAX_SHOWN) + "...";
    }

    /** A cursor over the header bytes: every read checks that the bytes are there and says what it was reading. */
    private static final class Parser {
        private final MemorySegment bytes;
        private final String file;
        private final long size;
        private long pos;

        Parser(MemorySegment bytes, String file) {
            this.bytes = bytes;
            this.file = file;
            this.size = bytes.byteSize();
        }

        GgufHeader parse() {
            int magic = u32("the magic");
            if (magic != MAGIC) {
                throw fault("not a GGUF file (it starts with bytes " + hex(0, 4) + ", not the magic 'GGUF')");
            }
            int version = u32("the version");
            if (version != 2 && version != 3) {
                if (Integer.reverseBytes(version) == 2 || Integer.reverseBytes(version) == 3) {
                    throw fault("a big-endian GGUF file (version bytes " + hex(4, 4) + "): only little-endian GGUF files are supported");
                }
                throw fault("GGUF version " + Integer.toUnsignedString(version) + " is not supported (versions 2 and 3 are)");
            }
            long tensorCount = u64("the tensor count");
            long kvCount = u64("the metadata count");
            // Lower bounds of an entry's size: key or name length, type and value or dimension count, type and offset.
            requireCount(kvCount, 13, "metadata entries");
            requireCount(tensorCount, 24, "tensors");

            Map<String, Object> metadata = new LinkedHashMap<>();
            for (long i = 0; i < kvCount; i++) {
                String key = string(true, "the key of metadata entry " + i);
                if (metadata.containsKey(key)) {
                    throw fault("metadata key '" + abbreviate(key) + "' appears twice");
                }
                int type = u32("the value type of '" + abbreviate(key) + "'");
                if (key.equals(ALIGNMENT_KEY) && type != UINT32) {
                    throw fault(ALIGNMENT_KEY + " must be a UINT32, not " + valueTypeName(type));
                }
                metadata.put(key, value(type, "metadata '" + abbreviate(key) + "'", 0));
            }
            int alignment = alignment(metadata);

            List<TensorInfo> infos = new ArrayList<>();
            Map<String, TensorInfo> byName = new LinkedHashMap<>();
            for (long i = 0; i < tensorCount; i++) {
                TensorInfo t = tensorInfo(i, alignment);
                if (byName.putIfAbsent(t.name(), t) != null) {
                    throw fault("tensor '" + abbreviate(t.name()) + "' appears twice");
                }
                infos.add(t);
            }
            long dataOffset = align(pos, alignment);
            checkRanges(infos, dataOffset);
            return new GgufHeader(version, alignment, Collections.unmodifiableMap(metadata), Collections.unmodifiableMap(byName), dataOffset);
        }

        private void requireCount(long count, int minBytes, String what) {
            if (count < 0 || count > (size - pos) / minBytes) {
                throw fault("the header claims " + Long.toUnsignedString(count) + " " + what + " but only " + (size - pos)
                        + " bytes follow: the file ends inside the header, or the count is wrong");
            }
        }

        private int alignment(Map<String, Object> metadata) {
            Object a = metadata.get(ALIGNMENT_KEY);
            if (a == null) {
                return DEFAULT_ALIGNMENT;
            }
            long l = (Long) a; // a UINT32, checked when read
            if (l == 0 || l > 1 << 30 || Long.bitCount(l) != 1) {
                throw fault(ALIGNMENT_KEY + " must be a power of two, got " + l);
            }
            return (int) l;
        }

        private TensorInfo tensorInfo(long index, int alignment) {
            String name = string(true, "the name of tensor " + index);
            String where = "tensor '" + abbreviate(name) + "'";
            int nDims = u32("the dimension count of " + where);
            if (nDims < 0 || nDims > MAX_DIMS) {
                throw fault(where + " has " + Integer.toUnsignedString(nDims) + " dimensions (GGML allows at most " + MAX_DIMS + ")");
            }
            long[] ne = new long[nDims];
            for (int d = 0; d < nDims; d++) {
                ne[d] = u64("dimension " + d + " of " + where);
            }
            int typeId = u32("the type of " + where);
            long offset = u64("the data offset of " + where);

            int[] shape = new int[nDims]; // GGUF lists dimensions innermost first; untwist's shapes are row-major
            long numel = 1;
            for (int d = 0; d < nDims; d++) {
                if (ne[d] < 0 || ne[d] > Integer.MAX_VALUE) {
                    throw fault(where + " has dimension " + Long.toUnsignedString(ne[d]) + " (GGUF dimensions " + dims(ne)
                            + "), more than " + Integer.MAX_VALUE);
                }
                shape[nDims - 1 - d] = (int) ne[d];
                try {
                    numel = Math.multiplyExact(numel, ne[d]);
                } catch (ArithmeticException e) {
                    throw fault(where + " has dimensions " + dims(ne) + " whose product overflows 64 bits");
                }
            }
            GgmlType type = GgmlType.byId(Integer.toUnsignedLong(typeId));
            if (type == null) {
                throw fault(where + " has unknown GGML type id " + Integer.toUnsignedString(typeId));
            }
            if (type.dtype == null) {
                throw fault(where + " has type " + type + " (GGML id " + type.id + "), which untwist does not read (it reads "
                        + GgmlType.SUPPORTED + ")");
            }
            DType dtype = type.dtype;
            if (nDims > 0 && ne[0] % dtype.blockSize() != 0 || nDims == 0 && dtype.isBlockQuantized()) {
                throw fault(where + " of type " + type + " has rows of " + (nDims == 0 ? 1 : ne[0]) + " elements, not whole blocks of "
                        + dtype.blockSize());
            }
            long bytes;
            try {
                bytes = dtype.byteSize(numel);
            } catch (ArithmeticException e) {
                throw fault(where + " has dimensions " + dims(ne) + " whose byte size overflows 64 bits");
            }
            if (offset < 0 || offset % alignment != 0) {
                throw fault(where + " has data offset " + Long.toUnsignedString(offset) + ", not a multiple of the alignment " + alignment);
            }
            if (bytes > Long.MAX_VALUE - offset) {
                throw fault(where + " ends past 2^63 bytes (offset " + offset + ", " + bytes + " bytes)");
            }
            return new TensorInfo(name, dtype, shape, offset, offset + bytes);
        }

        private void checkRanges(List<TensorInfo> infos, long dataOffset) {
            long dataSize = size - Math.min(size, dataOffset);
            for (TensorInfo t : infos) {
                if (t.end() > dataSize) {
                    throw fault("tensor '" + abbreviate(t.name()) + "' data [" + t.begin() + ", " + t.end() + ") runs past the end of the file"
                            + " (its data section starts at byte " + dataOffset + " and holds " + dataSize + " bytes)");
                }
            }
            List<TensorInfo> sorted = new ArrayList<>(infos);
            sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
            TensorInfo prev = null; // the non-empty range with the largest end so far
            for (TensorInfo t : sorted) {
                if (t.end() == t.begin()) {
                    continue;
                }
                if (prev != null && t.begin() < prev.end()) {
                    throw fault("tensor '" + abbreviate(t.name()) + "' data [" + t.begin() + ", " + t.end() + ") overlaps that of tensor '"
                            + abbreviate(prev.name()) + "' [" + prev.begin() + ", " + prev.end() + ")");
                }
                prev = t;
            }
        }

        /** A metadata value of type {@code type}; {@code what} names it in messages. */
        private Object value(int type, String what, int depth) {
            String of = "the value of " + what;
            return switch (type) {
                case UINT8 -> u8(of);
                case INT8 -> (int) i8(of);
                case UINT16 -> u16(of) & 0xFFFF;
                case INT16 -> (int) u16(of);
                case UINT32 -> Integer.toUnsignedLong(u32(of));
                case INT32 -> u32(of);
                case FLOAT32 -> Float.intBitsToFloat(u32(of));
                case BOOL -> {
                    int b = u8(of);
                    if (b > 1) {
                        throw fault(what + " is a BOOL of value " + b + " (0 or 1 expected)");
                    }
                    yield b == 1;
                }
                case STRING -> string(false, of);
                case ARRAY -> array(what, depth);
                case UINT64, INT64 -> u64(of); // UINT64: the raw 64 bits
                case FLOAT64 -> Double.longBitsToDouble(u64(of));
                default -> throw fault(what + " has unknown value type " + Integer.toUnsignedString(type));
            };
        }

        private List<Object> array(String what, int depth) {
            if (depth >= MAX_ARRAY_DEPTH) {
                throw fault(what + " nests arrays deeper than " + MAX_ARRAY_DEPTH);
            }
            int type = u32("the element type of " + what);
            long count = u64("the length of " + what);
            int min = switch (type) {
                case UINT8, INT8, BOOL -> 1;
                case UINT16, INT16 -> 2;
                case UINT32, INT32, FLOAT32 -> 4;
                case UINT64, INT64, FLOAT64, STRING -> 8;
                case ARRAY -> 12;
                default -> throw fault(what + " is an array of unknown value type " + Integer.toUnsignedString(type));
            };
            if (count < 0 || count > (size - pos) / min) {
                throw fault(what + " is an array of " + Long.toUnsignedString(count) + " " + valueTypeName(type) + " values, more than the "
                        + (size - pos) + " bytes left in the file can hold");
            }
            List<Object> values = new ArrayList<>((int) count);
            for (long i = 0; i < count; i++) {
                values.add(value(type, what + "[" + i + "]", depth + 1));
            }
            return Collections.unmodifiableList(values);
        }

        /**
         * A string; {@code strict} (keys, tensor names) refuses bytes that are not UTF-8, otherwise (metadata values,
         * never used to find anything) they become U+FFFD.
         */
        private String string(boolean strict, String what) {
            long n = u64("the length of " + what);
            if (n < 0 || n > size - pos) {
                throw fault("the file ends inside the header: " + what + " claims " + Long.toUnsignedString(n) + " bytes at byte " + pos
                        + ", the file has " + (size - pos) + " left");
            }
            if (n > Integer.MAX_VALUE - 8) {
                throw fault(what + " is a string of " + n + " bytes, too long");
            }
            byte[] b = bytes.asSlice(pos, n).toArray(ValueLayout.JAVA_BYTE);
            pos += n;
            CodingErrorAction onError = strict ? CodingErrorAction.REPORT : CodingErrorAction.REPLACE;
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(onError).onUnmappableCharacter(onError)
                        .decode(java.nio.ByteBuffer.wrap(b)).toString();
            } catch (CharacterCodingException e) {
                throw fault(what + " is not valid UTF-8");
            }
        }

        private void need(int n, String what) {
            if (pos + n > size) {
                throw fault("the file ends inside the header (" + size + " bytes; reading " + what + " at byte " + pos + ")");
            }
        }

        private int u8(String what) {
            need(1, what);
            return bytes.get(ValueLayout.JAVA_BYTE, pos++) & 0xFF;
        }

        private byte i8(String what) {
            need(1, what);
            return bytes.get(ValueLayout.JAVA_BYTE, pos++);
        }

        private short u16(String what) {
            need(2, what);
            short v = bytes.get(U16, pos);
            pos += 2;
            return v;
        }

        private int u32(String what) {
            need(4, what);
            int v = bytes.get(U32, pos);
            pos += 4;
            return v;
        }

        private long u64(String what) {
            need(8, what);
            long v = bytes.get(U64, pos);
            pos += 8;
            return v;
        }

        private String hex(long from, int n) {
            StringBuilder sb = new StringBuilder();
            for (long i = from; i < Math.min(size, from + n); i++) {
                sb.append(sb.isEmpty() ? "" : " ").append(String.format("%02X", bytes.get(ValueLayout.JAVA_BYTE, i)));
            }
            return sb.toString();
        }

        private static String dims(long[] ne) {
            return Arrays.stream(ne).mapToObj(Long::toUnsignedString).toList().toString();
        }

        private static long align(long p, int alignment) {
            return (p + alignment - 1) / alignment * alignment;
        }

        private GgufException fault(String what) {
            return new GgufException(file + ": " + what);
        }
    }
}
