package org.untwist.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * A safetensors file, memory-mapped through FFM. {@link #open} validates the whole header before anything
 * is returned: the header length lies within the file, the header is well-formed UTF-8 JSON without
 * duplicate keys, every entry has exactly {@code dtype}, {@code shape} and {@code data_offsets}, every dtype
 * is F32, BF16 or F16, every shape's byte size equals its offset range, every range lies inside the data
 * area, and no two ranges overlap. Gaps between ranges are accepted (they are harmless and some writers
 * leave them). Any violation is a {@link SafeTensorsException} naming the file and the tensor.
 *
 * <p>Tensors returned by {@link #tensor} are views of the mapping, valid until {@link #close()}.
 */
public final class SafeTensors implements AutoCloseable {
    /** Headers larger than this are rejected before any allocation (the reference library uses 100 MB). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION)
            .build();

    private final Path path;
    private final Arena arena;
    private final MemorySegment data; // the data area only
    private final Map<String, TensorInfo> infos; // in file order
    private final Map<String, String> metadata;

    private SafeTensors(Path path, Arena arena, MemorySegment data, Map<String, TensorInfo> infos, Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.data = data;
        this.infos = infos;
        this.metadata = metadata;
    }

    /**
     * Maps and validates a safetensors file.
     *
     * @throws SafeTensorsException when the file cannot be read or is malformed; the message names the file
     *                              and the tensor at fault
     */
    public static SafeTensors open(Path file) {
        String name = file.toString();
        Arena arena = Arena.ofShared();
        boolean ok = false;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new SafeTensorsException(name + ": file of " + size + " bytes is too short for a safetensors header length");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0, name);
            long headerLen = lenBuf.getLong(0);
            if (headerLen <= 0 || headerLen > size - 8) {
                throw new SafeTensorsException(name + ": header length " + Long.toUnsignedString(headerLen) + " does not fit in a file of "
                        + size + " bytes");
            }
            if (headerLen > MAX_HEADER_BYTES) {
                throw new SafeTensorsException(name + ": header length " + headerLen + " exceeds the limit of " + MAX_HEADER_BYTES + " bytes");
            }
            ByteBuffer headerBuf = ByteBuffer.allocate((int) headerLen);
            readFully(ch, headerBuf, 8, name);
            String header = decodeUtf8(headerBuf.array(), name);
            long dataSize = size - 8 - headerLen;
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, TensorInfo> infos = parseHeader(header, dataSize, name, metadata);
            MemorySegment mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            SafeTensors st = new SafeTensors(file, arena, mapped.asSlice(8 + headerLen, dataSize), infos,
                    Collections.unmodifiableMap(metadata));
            ok = true;
            return st;
        } catch (IOException e) {
            throw new SafeTensorsException(name + ": cannot read: " + e, e);
        } finally {
            if (!ok) {
                arena.close();
            }
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos, String name) throws IOException {
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos + buf.position());
            if (n < 0) {
                throw new SafeTensorsException(name + ": file ended inside the header");
            }
        }
    }

    private static String decodeUtf8(byte[] bytes, String name) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new SafeTensorsException(name + ": header is not valid UTF-8", e);
        }
    }

    private static Map<String, TensorInfo> parseHeader(String header, long dataSize, String name, Map<String, String> metadata) {
        JsonNode root;
        try {
            root = JSON.readTree(header);
        } catch (JsonProcessingException e) {
            throw new SafeTensorsException(name + ": header is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new SafeTensorsException(name + ": header is not a JSON object");
        }
        List<TensorInfo> list = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equals("__metadata__")) {
                parseMetadata(e.getValue(), name, metadata);
            } else {
                list.add(parseEntry(e.getKey(), e.getValue(), dataSize, name));
            }
        }
        list.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        TensorInfo prev = null;
        for (TensorInfo t : list) {
            if (t.end() == t.begin()) {
                continue; // empty tensors occupy no bytes and cannot overlap
            }
            if (prev != null && t.begin() < prev.end()) {
                throw new SafeTensorsException(name + ": tensor '" + t.name() + "' bytes [" + t.begin() + ", " + t.end()
                        + ") overlap tensor '" + prev.name() + "' bytes [" + prev.begin() + ", " + prev.end() + ")");
            }
            prev = t;
        }
        Map<String, TensorInfo> infos = new LinkedHashMap<>();
        for (TensorInfo t : list) {
            infos.put(t.name(), t);
        }
        return Collections.unmodifiableMap(infos);
    }

    private static void parseMetadata(JsonNode node, String name, Map<String, String> metadata) {
        if (!node.isObject()) {
            throw new SafeTensorsException(name + ": __metadata__ must be an object of strings");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> m = it.next();
            if (!m.getValue().isTextual()) {
                throw new SafeTensorsException(name + ": __metadata__ entry '" + m.getKey() + "' is not a string");
            }
            metadata.put(m.getKey(), m.getValue().textValue());
        }
    }

    private static TensorInfo parseEntry(String tensor, JsonNode node, long dataSize, String name) {
        String where = name + ": tensor '" + tensor + "'";
        if (!node.isObject()) {
            throw new SafeTensorsException(where + ": entry is not a JSON object");
        }
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!f.equals("dtype") && !f.equals("shape") && !f.equals("data_offsets")) {
                throw new SafeTensorsException(where + ": unknown field '" + f + "'");
            }
        }
        JsonNode dt = node.get("dtype"), sh = node.get("shape"), off = node.get("data_offsets");
        if (dt == null || !dt.isTextual()) {
            throw new SafeTensorsException(where + ": missing or non-string dtype");
        }
        DType dtype;
        try {
            dtype = DType.fromSafetensorsName(dt.textValue());
        } catch (IllegalArgumentException e) {
            throw new SafeTensorsException(where + ": " + e.getMessage());
        }
        if (sh == null || !sh.isArray()) {
            throw new SafeTensorsException(where + ": missing or non-array shape");
        }
        int[] shape = new int[sh.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToInt() || d.intValue() < 0) {
                throw new SafeTensorsException(where + ": shape entry " + i + " (" + d + ") is not a non-negative 32-bit integer");
            }
            shape[i] = d.intValue();
            try {
                numel = Math.multiplyExact(numel, shape[i]);
            } catch (ArithmeticException e) {
                throw new SafeTensorsException(where + ": shape " + sh + " has too many elements");
            }
        }
        if (off == null || !off.isArray() || off.size() != 2) {
            throw new SafeTensorsException(where + ": data_offsets must be an array of two integers");
        }
        long[] be = new long[2];
        for (int i = 0; i < 2; i++) {
            JsonNode o = off.get(i);
            if (!o.isIntegralNumber() || !o.canConvertToLong() || o.longValue() < 0) {
                throw new SafeTensorsException(where + ": data_offsets entry " + i + " (" + o + ") is not a non-negative integer");
            }
            be[i] = o.longValue();
        }
        if (be[0] > be[1]) {
            throw new SafeTensorsException(where + ": data_offsets [" + be[0] + ", " + be[1] + "] end before they begin");
        }
        long bytes;
        try {
            bytes = Math.multiplyExact(numel, dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new SafeTensorsException(where + ": shape " + sh + " is too large");
        }
        if (be[1] - be[0] != bytes) {
            throw new SafeTensorsException(where + ": shape " + Arrays.toString(shape) + " " + dtype + " needs " + bytes
                    + " bytes but its data_offsets span " + (be[1] - be[0]));
        }
        if (be[1] > dataSize) {
            throw new SafeTensorsException(where + ": data_offsets [" + be[0] + ", " + be[1] + "] run past the data area of "
                    + dataSize + " bytes");
        }
        return new TensorInfo(tensor, dtype, shape, be[0], be[1]);
    }

    /** The file this was opened from. */
    public Path path() {
        return path;
    }

    /** Tensor names in file order (by data offset). */
    public List<String> names() {
        return List.copyOf(infos.keySet());
    }

    public boolean contains(String name) {
        return infos.containsKey(name);
    }

    /** The header entry of a tensor. */
    public TensorInfo info(String name) {
        TensorInfo t = infos.get(name);
        if (t == null) {
            throw new SafeTensorsException(path + ": no tensor '" + name + "' (the file holds " + infos.size() + " tensors)");
        }
        return t;
    }

    /** A view of a tensor's bytes in the mapping, valid until {@link #close()}. */
    public Tensor tensor(String name) {
        TensorInfo t = info(name);
        if (!arena.scope().isAlive()) {
            throw new IllegalStateException(path + " is closed");
        }
        return Tensor.wrap(data.asSlice(t.begin(), t.end() - t.begin()), t.dtype(), t.shape());
    }

    /** The {@code __metadata__} entries; empty when the file has none. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Unmaps the file. Tensors obtained from it must not be used afterwards. Idempotent. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    /**
     * Writes tensors in the map's iteration order, the header padded with spaces to a multiple of 8 bytes as
     * the reference library does. The file is written beside the target and moved into place.
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        if (metadata != null && !metadata.isEmpty()) {
            header.put("__metadata__", new LinkedHashMap<>(metadata));
        }
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            if (e.getKey().equals("__metadata__")) {
                throw new IllegalArgumentException("'__metadata__' is reserved and cannot name a tensor");
            }
            Tensor t = e.getValue();
            long bytes = t.segment().byteSize();
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("dtype", t.dtype().safetensorsName());
            entry.put("shape", t.shape());
            entry.put("data_offsets", new long[] {offset, offset + bytes});
            header.put(e.getKey(), entry);
            offset += bytes;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;
        byte[] headerBytes = Arrays.copyOf(json, padded);
        Arrays.fill(headerBytes, json.length, padded, (byte) ' ');
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
        try {
            try (OutputStream out = Files.newOutputStream(tmp)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
                out.write(len.array());
                out.write(headerBytes);
                byte[] chunk = new byte[1 << 16];
                for (Tensor t : tensors.values()) {
                    MemorySegment seg = t.segment();
                    for (long pos = 0; pos < seg.byteSize(); pos += chunk.length) {
                        int n = (int) Math.min(chunk.length, seg.byteSize() - pos);
                        MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, pos, chunk, 0, n);
                        out.write(chunk, 0, n);
                    }
                }
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
