package org.untwist.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.untwist.tensor.Tensor;

/**
 * A GGUF file (the format of llama.cpp and of ComfyUI-GGUF's FLUX.1 files), memory-mapped through FFM, as a
 * {@link TensorSource}: tensors are views of the mapping in their stored type, F32, F16, BF16, I32, I64 or the
 * block-quantized {@link org.untwist.tensor.DType#Q8_0} and {@link org.untwist.tensor.DType#Q4_K}, which the
 * {@code linear} and {@code embedding} kernels dequantize as they read them. Shapes are untwist's row-major order: a
 * linear weight GGUF lists as {@code [in, out]} is {@code [out, in]} here, as in PyTorch.
 *
 * <p>{@link #open} validates the whole header (see {@link GgufHeader} for the layout) before anything is returned:
 * the magic, the version (2 or 3; little-endian only), every metadata value of every type (arrays nested at most
 * {@value GgufHeader#MAX_ARRAY_DEPTH} deep), {@code general.alignment} (a UINT32 power of two, default 32), every tensor's
 * dimensions (at most 4, each within an {@code int}, the product within 64 bits, rows of a block-quantized type whole
 * blocks), type (a GGML type this reader reads), offset (a multiple of the alignment) and data range (inside the file,
 * overlapping no other). Every fault is a {@link GgufException} of one line naming the file and the fault. Gaps between
 * tensors are accepted.
 *
 * <p>Instances are safe to share between threads; the mapping lives in a shared arena until {@link #close()}.
 */
public final class GgufFile implements TensorSource {

    private final Path path;
    private final MappedFiles.Mapping mapping;
    private volatile boolean closed;
    private final MemorySegment data; // the data section
    private final GgufHeader header;
    private final List<String> names;

    private GgufFile(Path path, MappedFiles.Mapping mapping, MemorySegment data, GgufHeader header) {
        this.path = path;
        this.mapping = mapping;
        this.data = data;
        this.header = header;
        this.names = List.copyOf(header.tensors().keySet());
    }

    /** Whether {@code file} starts with the GGUF magic (false for a file that cannot be read or is shorter). */
    public static boolean isGguf(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            while (b.hasRemaining() && ch.read(b) >= 0) {
                // read until 4 bytes or the end
            }
            return !b.hasRemaining() && b.getInt(0) == GgufHeader.MAGIC;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Maps and validates a GGUF file. The file must not be truncated or rewritten in place while it is open.
     *
     * @throws GgufException when the file cannot be read, is malformed or holds a type this reader does not read; one
     *                       line naming the file and the fault
     */
    public static GgufFile open(Path file) {
        Objects.requireNonNull(file, "file");
        String name = file.toString();
        if (Files.isDirectory(file)) {
            throw new GgufException(name + ": is a folder, not a GGUF file");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            GgufHeader header;
            try (Arena parsing = Arena.ofConfined()) { // a shared arena is mapped only for a valid file: closing one is not free
                header = GgufHeader.parse(ch.map(FileChannel.MapMode.READ_ONLY, 0, size, parsing), name);
            }
            MappedFiles.Mapping mapping = MappedFiles.map(ch, file, size);
            try {
                long dataOffset = Math.min(size, header.dataOffset());
                return new GgufFile(file, mapping, mapping.segment().asSlice(dataOffset, size - dataOffset), header);
            } catch (RuntimeException e) {
                mapping.release();
                throw e;
            }
        } catch (IOException e) {
            throw new GgufException(name + ": cannot read: " + e, e);
        }
    }

    public Path path() {
        return path;
    }

    /** The GGUF version, 2 or 3. */
    public int version() {
        return header.version();
    }

    /** The alignment of the data section and of every tensor in it ({@code general.alignment}, default 32). */
    public int alignment() {
        return header.alignment();
    }

    /**
     * The metadata in file order, immutable. Values: UINT8, INT8, UINT16, INT16 and INT32 as {@link Integer} (the
     * unsigned ones zero-extended); UINT32 and INT64 as {@link Long}; UINT64 as a {@link Long} holding its 64 bits
     * (read it with {@link Long#toUnsignedString}); FLOAT32 as {@link Float}; FLOAT64 as {@link Double}; BOOL as
     * {@link Boolean}; STRING as {@link String} (bytes that are not UTF-8 replaced by U+FFFD); ARRAY as an immutable
     * {@link List} of such values.
     */
    public Map<String, Object> metadata() {
        return header.metadata();
    }

    /** The metadata string under {@code key}, or null when there is none or it is not a string. */
    public String metadataString(String key) {
        return header.metadata().get(key) instanceof String s ? s : null;
    }

    /** The file, for messages. */
    @Override
    public String describe() {
        return path.toString();
    }

    @Override
    public boolean contains(String name) {
        return header.tensors().containsKey(name);
    }

    /** Every tensor name, in file order. */
    @Override
    public List<String> names() {
        return names;
    }

    /**
     * The header entry of a tensor: its untwist type, row-major shape, and byte range in the data section.
     *
     * @throws GgufException when there is no such tensor
     */
    public TensorInfo info(String name) {
        TensorInfo t = header.tensors().get(name);
        if (t == null) {
            throw new GgufException(path + ": no tensor '" + GgufHeader.abbreviate(String.valueOf(name)) + "' (the file holds "
                    + names.size() + (names.size() == 1 ? " tensor)" : " tensors)"));
        }
        return t;
    }

    /**
     * A view of a tensor's bytes in the mapping, in its stored type, valid until {@link #close()}; closing the view is a
     * no-op.
     *
     * @throws IllegalStateException after {@link #close()}
     * @throws GgufException         when there is no such tensor
     */
    @Override
    public Tensor tensor(String name) {
        if (closed) {
            throw new IllegalStateException(path + " is closed (asked for tensor '" + name + "')");
        }
        TensorInfo t = info(name);
        return Tensor.wrap(data.asSlice(t.begin(), t.end() - t.begin()), t.dtype(), t.shape());
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
        return "GgufFile[" + path + ", v" + header.version() + ", " + names.size() + " tensors" + (closed ? ", closed" : "") + "]";
    }
}
