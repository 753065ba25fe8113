package org.untwist.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * A safetensors file, memory-mapped through FFM.
 *
 * <p>Layout: an unsigned 64-bit little-endian header length {@code n}, {@code n} bytes of UTF-8 JSON, then the
 * data area. The JSON is an object mapping each tensor name to {@code {"dtype", "shape", "data_offsets"}}
 * (offsets relative to the data area), plus an optional {@code "__metadata__"} object of strings.
 *
 * <p>{@link #open} validates the <em>whole</em> header before anything is returned:
 * <ul>
 *   <li>the header length is positive, at most {@link #MAX_HEADER_BYTES}, and lies within the file;</li>
 *   <li>the header is valid UTF-8 and exactly one JSON object (trailing non-whitespace is an error), with no
 *       duplicate keys at any level;</li>
 *   <li>every entry is an object with exactly {@code dtype} (a string naming one of {@link DType#SUPPORTED_NAMES}),
 *       {@code shape} (an array of non-negative integers that fit an {@code int}, whose product does not
 *       overflow) and {@code data_offsets} (two non-negative integers, begin &le; end); any other field is an
 *       error;</li>
 *   <li>every shape's byte size equals {@code end - begin}, every range ends inside the data area, and no two
 *       non-empty ranges overlap;</li>
 *   <li>{@code __metadata__}, when present, is an object whose values are all strings.</li>
 * </ul>
 * <b>Gaps are accepted:</b> unlike the reference Python/Rust library, which insists that the ranges tile
 * the data area exactly, this reader accepts unused bytes between, before or after tensors (they are harmless
 * and never read). Overlapping and out-of-range ranges are rejected. Every violation is a
 * {@link SafeTensorsException} naming the file and, where one is at fault, the tensor.
 *
 * <p>Tensors returned by {@link #tensor} are views of the mapping, valid until {@link #close()}; a view never
 * reaches outside its own {@code [begin, end)} range of the data area. Instances are safe to share between
 * threads; the mapping lives in a shared arena.
 */
public final class SafeTensors implements AutoCloseable {
    /** Headers larger than this are rejected before any allocation (the reference library uses 100 MB). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    /** The key of the string-to-string metadata object in the header. */
    public static final String METADATA_KEY = "__metadata__";

    private static final int MAX_SHOWN = 200; // characters of a name or JSON value quoted in a message

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .disable(StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION)
            .build();

    private final Path path;
    private final String fileName; // what messages call the file
    private final MappedFiles.Mapping mapping;
    private volatile boolean closed;
    private final MemorySegment data; // the data area only
    private final Map<String, TensorInfo> infos; // in file order
    private final List<String> names;
    private final Map<String, String> metadata;

    private SafeTensors(Path path, String fileName, MappedFiles.Mapping mapping, MemorySegment data, Map<String, TensorInfo> infos,
                        Map<String, String> metadata) {
        this.path = path;
        this.fileName = fileName;
        this.mapping = mapping;
        this.data = data;
        this.infos = infos;
        this.names = List.copyOf(infos.keySet());
        this.metadata = metadata;
    }

    /**
     * Maps and validates a safetensors file. The file must not be truncated or rewritten in place while it is
     * open (replacing it with a move, as {@link #write} does, is fine).
     *
     * @throws SafeTensorsException when the file cannot be read or is malformed; the message names the file
     *                              and the tensor or field at fault
     */
    public static SafeTensors open(Path file) throws SafeTensorsException {
        Objects.requireNonNull(file, "file");
        String name = file.toString();
        MappedFiles.Mapping mapping = null; // made only once the header is valid: closing a shared arena is not free
        boolean ok = false;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new SafeTensorsException(name + ": file of " + size
                        + " bytes is too short to hold the 8-byte header length");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0, name);
            long headerLen = lenBuf.getLong(0);
            if (headerLen == 0) {
                throw new SafeTensorsException(name + ": header length is 0 (a header is at least '{}')");
            }
            if (headerLen < 0 || headerLen > MAX_HEADER_BYTES) {
                throw new SafeTensorsException(name + ": header length " + Long.toUnsignedString(headerLen)
                        + " exceeds the limit of " + MAX_HEADER_BYTES + " bytes");
            }
            if (headerLen > size - 8) {
                throw new SafeTensorsException(name + ": header length " + headerLen + " runs past the end of the file ("
                        + size + " bytes, so at most " + (size - 8) + " header bytes)");
            }
            ByteBuffer headerBuf = ByteBuffer.allocate((int) headerLen);
            readFully(ch, headerBuf, 8, name);
            String header = decodeUtf8(headerBuf.array(), name);
            long dataSize = size - 8 - headerLen;
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, TensorInfo> infos = parseHeader(header, dataSize, name, metadata);
            mapping = MappedFiles.map(ch, file, size);
            SafeTensors st = new SafeTensors(file, name, mapping, mapping.segment().asSlice(8 + headerLen, dataSize), infos,
                    Collections.unmodifiableMap(metadata));
            ok = true;
            return st;
        } catch (IOException e) {
            throw new SafeTensorsException(name + ": cannot read: " + e, e);
        } finally {
            if (!ok && mapping != null) {
                mapping.release();
            }
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos, String name) throws IOException {
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos + buf.position());
            if (n < 0) {
                throw new SafeTensorsException(name + ": file ended inside the header (was it truncated while being read?)");
            }
        }
    }

    private static String decodeUtf8(byte[] bytes, String name) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new SafeTensorsException(name + ": header is not valid UTF-8 (" + e.getMessage() + ")", e);
        }
    }

    private static Map<String, TensorInfo> parseHeader(String header, long dataSize, String name, Map<String, String> metadata) {
        JsonNode root = null;
        JsonParser parser = null;
        try {
            parser = JSON.createParser(header);
            root = JSON.readTree(parser);
            if (root != null) {
                JsonToken extra = parser.nextToken();
                if (extra != null) {
                    throw new SafeTensorsException(name + ": header has trailing data after the JSON value (" + extra
                            + " at character " + parser.currentTokenLocation().getCharOffset() + ")");
                }
            }
        } catch (JsonProcessingException e) {
            String what = root != null ? "header has trailing data after the JSON value: " : "header is not valid JSON: ";
            throw new SafeTensorsException(name + ": " + (root != null ? "" : jsonContext(parser)) + what
                    + abbreviate(e.getOriginalMessage()) + location(e), e);
        } catch (IOException e) { // cannot happen when reading from a String, but the API declares it
            throw new SafeTensorsException(name + ": header cannot be parsed: " + e, e);
        } finally {
            if (parser != null) {
                try {
                    parser.close();
                } catch (IOException ignored) {
                    // a String source has nothing to release
                }
            }
        }
        if (root == null || !root.isObject()) {
            throw new SafeTensorsException(name + ": header is not a JSON object but "
                    + (root == null || root.isMissingNode() ? "empty" : root.getNodeType().toString().toLowerCase(java.util.Locale.ROOT)));
        }
        List<TensorInfo> list = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            if (e.getKey().equals(METADATA_KEY)) {
                parseMetadata(e.getValue(), name, metadata);
            } else {
                list.add(parseEntry(e.getKey(), e.getValue(), dataSize, name));
            }
        }
        list.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        TensorInfo prev = null; // the non-empty range with the largest end so far
        for (TensorInfo t : list) {
            if (t.end() == t.begin()) {
                continue; // empty tensors occupy no bytes and cannot overlap anything
            }
            if (prev != null && t.begin() < prev.end()) {
                throw new SafeTensorsException(name + ": tensor '" + abbreviate(t.name()) + "' data_offsets [" + t.begin() + ","
                        + t.end() + "] overlap those of tensor '" + abbreviate(prev.name()) + "' [" + prev.begin() + ","
                        + prev.end() + "]");
            }
            prev = t;
        }
        Map<String, TensorInfo> infos = new LinkedHashMap<>();
        for (TensorInfo t : list) {
            infos.put(t.name(), t);
        }
        return Collections.unmodifiableMap(infos);
    }

    /** "tensor 'x': " when the parser stopped inside a tensor's entry, "__metadata__: " inside the metadata. */
    private static String jsonContext(JsonParser parser) {
        if (parser == null) {
            return "";
        }
        JsonStreamContext ctx = parser.getParsingContext();
        while (ctx != null && ctx.getParent() != null && !ctx.getParent().inRoot()) {
            ctx = ctx.getParent();
        }
        if (ctx == null || !ctx.inObject() || ctx.getCurrentName() == null) {
            return "";
        }
        String key = ctx.getCurrentName();
        return key.equals(METADATA_KEY) ? METADATA_KEY + ": " : "tensor '" + abbreviate(key) + "': ";
    }

    private static String location(JsonProcessingException e) {
        return e.getLocation() == null || e.getLocation().getCharOffset() < 0 ? ""
                : " (at character " + e.getLocation().getCharOffset() + ")";
    }

    private static void parseMetadata(JsonNode node, String name, Map<String, String> metadata) {
        if (!node.isObject()) {
            throw new SafeTensorsException(name + ": " + METADATA_KEY + " must be an object of strings, not "
                    + abbreviate(node.toString()));
        }
        for (Map.Entry<String, JsonNode> m : node.properties()) {
            if (!m.getValue().isTextual()) {
                throw new SafeTensorsException(name + ": " + METADATA_KEY + " entry '" + abbreviate(m.getKey())
                        + "' is not a string but " + abbreviate(m.getValue().toString()));
            }
            metadata.put(m.getKey(), m.getValue().textValue());
        }
    }

    private static TensorInfo parseEntry(String tensor, JsonNode node, long dataSize, String name) {
        String where = name + ": tensor '" + abbreviate(tensor) + "'";
        if (!node.isObject()) {
            throw new SafeTensorsException(where + ": entry is not a JSON object but " + abbreviate(node.toString()));
        }
        for (Map.Entry<String, JsonNode> f : node.properties()) {
            String field = f.getKey();
            if (!field.equals("dtype") && !field.equals("shape") && !field.equals("data_offsets")) {
                throw new SafeTensorsException(where + ": unknown field '" + abbreviate(field)
                        + "' (an entry has exactly dtype, shape and data_offsets)");
            }
        }
        JsonNode dt = node.get("dtype");
        JsonNode sh = node.get("shape");
        JsonNode off = node.get("data_offsets");

        if (dt == null) {
            throw new SafeTensorsException(where + ": missing dtype");
        }
        if (!dt.isTextual()) {
            throw new SafeTensorsException(where + ": dtype is not a string but " + abbreviate(dt.toString()));
        }
        DType dtype;
        try {
            dtype = DType.fromSafetensorsName(dt.textValue());
        } catch (IllegalArgumentException e) {
            throw new SafeTensorsException(where + ": unsupported dtype '" + abbreviate(dt.textValue())
                    + "' (supported: " + DType.SUPPORTED_NAMES + ")");
        }
        if (!dt.textValue().equals(dtype.safetensorsName())) { // DType accepts any case; the format does not
            throw new SafeTensorsException(where + ": unsupported dtype '" + abbreviate(dt.textValue())
                    + "' (supported: " + DType.SUPPORTED_NAMES + "; names are upper case)");
        }

        if (sh == null) {
            throw new SafeTensorsException(where + ": missing shape");
        }
        if (!sh.isArray()) {
            throw new SafeTensorsException(where + ": shape is not an array but " + abbreviate(sh.toString()));
        }
        int[] shape = new int[sh.size()];
        long numel = 1;
        boolean overflow = false;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToInt() || d.intValue() < 0) {
                throw new SafeTensorsException(where + ": shape entry " + i + " (" + abbreviate(d.toString())
                        + ") is not a non-negative integer that fits 32 bits");
            }
            shape[i] = d.intValue();
            if (!overflow) {
                try {
                    numel = Math.multiplyExact(numel, shape[i]);
                } catch (ArithmeticException e) {
                    overflow = true; // reported after the remaining entries are checked
                }
            }
        }
        long bytes = -1;
        if (!overflow) {
            try {
                bytes = Math.multiplyExact(numel, dtype.byteSize());
            } catch (ArithmeticException e) {
                overflow = true;
            }
        }
        if (overflow) {
            throw new SafeTensorsException(where + ": shape " + shapeString(shape) + " has too many elements (the "
                    + dtype + " byte count overflows 64 bits)");
        }

        if (off == null) {
            throw new SafeTensorsException(where + ": missing data_offsets");
        }
        if (!off.isArray() || off.size() != 2) {
            throw new SafeTensorsException(where + ": data_offsets must be an array of exactly two integers, not "
                    + abbreviate(off.toString()));
        }
        long[] be = new long[2];
        for (int i = 0; i < 2; i++) {
            JsonNode o = off.get(i);
            if (!o.isIntegralNumber() || !o.canConvertToLong() || o.longValue() < 0) {
                throw new SafeTensorsException(where + ": data_offsets entry " + i + " (" + abbreviate(o.toString())
                        + ") is not a non-negative 64-bit integer");
            }
            be[i] = o.longValue();
        }
        if (be[0] > be[1]) {
            throw new SafeTensorsException(where + ": data_offsets [" + be[0] + "," + be[1] + "] end before they begin");
        }
        if (be[1] - be[0] != bytes) {
            throw new SafeTensorsException(where + ": shape " + shapeString(shape) + " (" + dtype + ") needs " + bytes
                    + " bytes but its data_offsets span " + (be[1] - be[0]));
        }
        if (be[1] > dataSize) {
            throw new SafeTensorsException(where + ": data_offsets [" + be[0] + "," + be[1] + "] run past the end of the "
                    + "data area (" + dataSize + " bytes)");
        }
        return new TensorInfo(tensor, dtype, shape, be[0], be[1]);
    }

    private static String shapeString(int[] shape) {
        return Arrays.toString(shape).replace(" ", "");
    }

    private static String abbreviate(String s) {
        if (s == null) {
            return "null";
        }
        return s.length() <= MAX_SHOWN ? s : s.substring(0, MAX_SHOWN) + "... (" + s.length() + " characters)";
    }

    /** The file this was opened from. */
    public Path path() {
        return path;
    }

    /** Tensor names in file order (by data offset; ties keep header order). Immutable. */
    public List<String> names() {
        return names;
    }

    /** Whether the file holds a tensor of this name. */
    public boolean contains(String name) {
        return infos.containsKey(name);
    }

    /**
     * The header entry of a tensor. Works after {@link #close()} too.
     *
     * @throws SafeTensorsException naming the file, the tensor and how many tensors the file holds when there
     *                              is no such tensor
     */
    public TensorInfo info(String name) {
        TensorInfo t = infos.get(name);
        if (t == null) {
            throw new SafeTensorsException(fileName + ": no tensor '" + abbreviate(name) + "' (the file holds "
                    + infos.size() + (infos.size() == 1 ? " tensor)" : " tensors)"));
        }
        return t;
    }

    /**
     * A view of a tensor's bytes in the mapping (exactly its {@code data_offsets} range), valid until
     * {@link #close()}. The view does not own memory; closing it is a no-op.
     *
     * @throws IllegalStateException after {@link #close()}
     * @throws SafeTensorsException  when there is no such tensor (see {@link #info})
     */
    public Tensor tensor(String name) {
        if (closed) {
            throw new IllegalStateException(fileName + " is closed (asked for tensor '" + abbreviate(name) + "')");
        }
        TensorInfo t = info(name);
        return Tensor.wrap(data.asSlice(t.begin(), t.end() - t.begin()), t.dtype(), t.shape());
    }

    /** The {@code __metadata__} entries in header order; empty when the file has none. Immutable. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Unmaps the file. Tensors obtained from it must not be used afterwards. Idempotent. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            mapping.release();
        }
    }

    @Override
    public String toString() {
        return "SafeTensors[" + fileName + ", " + infos.size() + " tensors" + (closed ? ", closed" : "") + "]";
    }

    /**
     * Writes tensors in the map's iteration order (use a {@link LinkedHashMap} to control it), back to back
     * from offset 0 of the data area. The header is compact JSON ({@code "__metadata__"} first when
     * {@code metadata} is non-empty; entries with {@code dtype}, {@code shape}, {@code data_offsets}) padded
     * with spaces to a multiple of 8 bytes, as the reference library does, so the data area starts 8-byte
     * aligned. The file is written to a temporary file beside the target, forced to disk and moved into place
     * (atomically where the file system allows), so readers never see a partial file and a file that is open
     * (mapped) may be replaced safely.
     *
     * @param metadata string metadata; {@code null} or empty writes none
     * @throws IllegalArgumentException when a tensor is named {@code "__metadata__"} or is block-quantized
     * @throws NullPointerException     for a null name, tensor, metadata key or value
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(tensors, "tensors");
        Map<String, Object> header = new LinkedHashMap<>();
        if (metadata != null && !metadata.isEmpty()) {
            Map<String, String> meta = new LinkedHashMap<>();
            metadata.forEach((k, v) -> meta.put(Objects.requireNonNull(k, "metadata key"),
                    Objects.requireNonNull(v, () -> "metadata value of '" + k + "'")));
            header.put(METADATA_KEY, meta);
        }
        List<Tensor> order = new ArrayList<>(tensors.size());
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            String tensorName = Objects.requireNonNull(e.getKey(), "tensor name");
            if (tensorName.equals(METADATA_KEY)) {
                throw new IllegalArgumentException("'" + METADATA_KEY + "' is reserved and cannot name a tensor (writing " + file + ")");
            }
            Tensor t = Objects.requireNonNull(e.getValue(), () -> "tensor '" + tensorName + "'");
            if (t.dtype().isBlockQuantized()) {
                throw new IllegalArgumentException("tensor '" + tensorName + "' is " + t.dtype() + ", which safetensors cannot hold (writing "
                        + file + ")");
            }
            long bytes = t.segment().byteSize();
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("dtype", t.dtype().safetensorsName());
            entry.put("shape", t.shape());
            entry.put("data_offsets", new long[] {offset, offset + bytes});
            header.put(tensorName, entry);
            order.add(t);
            offset += bytes;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();

        Path target = file.toAbsolutePath();
        if (Files.isDirectory(target)) {
            throw new IOException(file + ": cannot write: is a folder");
        }
        Path tmp = AtomicFiles.temporarySibling(target);
        try {
            writeVia(tmp, target, head, order);
        } catch (IOException e) { // name the file asked for and the reason, not the temporary file
            throw new IOException(file + ": cannot write: " + reason(e, target), e);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Why writing {@code target} failed, in words. */
    private static String reason(IOException e, Path target) {
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof NoSuchFileException) {
            return "folder " + target.getParent() + " does not exist";
        }
        if (e instanceof FileSystemException fse && fse.getReason() != null) {
            return fse.getReason();
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    private static void writeVia(Path tmp, Path target, ByteBuffer head, List<Tensor> order) throws IOException {
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            writeFully(ch, head);
            for (Tensor t : order) {
                MemorySegment seg = t.segment();
                final long chunk = 1L << 30; // a ByteBuffer holds at most 2 GiB
                for (long pos = 0; pos < seg.byteSize(); pos += chunk) {
                    writeFully(ch, seg.asSlice(pos, Math.min(chunk, seg.byteSize() - pos)).asByteBuffer());
                }
            }
            ch.force(true);
        }
        AtomicFiles.moveIntoPlace(tmp, target);
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }
}
