package org.untwist.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Objects;

/**
 * A dense, row-major, contiguous tensor in native host memory or in a backend's device memory.
 *
 * <p>A tensor either owns its memory (created by {@link #allocate(DType, int...)}: closing it frees the
 * memory) or borrows it from an arena or a mapped file that somebody else closes ({@link #allocate(Arena,
 * DType, int...)}, {@link #wrap}). Owned memory is 64-byte aligned and zero-filled. Views made with
 * {@link #reshape} or {@link #rows} share the memory and never own it.
 *
 * <p>Elements are little-endian. Compute tensors are {@link DType#F32}; weight tensors may be BF16 or F16, or of a
 * block-quantized type ({@link DType#isBlockQuantized()}), whose last dimension must then be a whole number of blocks
 * (every row, and every view of whole rows, starts at a block). Such a tensor is read element by element
 * ({@link #get}, dequantized) but never written element by element.
 * Tensors are not thread-safe for concurrent writes to the same elements, but their memory is accessible
 * from any thread (shared arenas), which the multi-threaded backends rely on.
 *
 * <p>A <em>device</em> tensor ({@link #onDevice}) describes memory on an accelerator: shape, type and a device
 * address that only its backend uses. Its host accessors ({@link #segment()}, {@link #get}, {@link #set},
 * {@link #copyFrom}, ...) throw {@link IllegalStateException}; data moves with {@code Backend.copy}.
 */
public final class Tensor implements AutoCloseable {
    /** Alignment of every tensor this class allocates: one AVX-512 register / cache line. */
    public static final long ALIGNMENT = 64;

    static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong I64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MemorySegment data; // null for a device tensor
    private final DType dtype;
    private final int[] shape;
    private final long numel;
    private final Arena owner; // null when the memory is borrowed
    private final DeviceStorage device; // null for a host tensor
    private final long deviceOffset; // bytes from device.address()
    private final boolean ownsDevice;

    private Tensor(DeviceStorage device, long offset, DType dtype, int[] shape, boolean owns) {
        this.dtype = Objects.requireNonNull(dtype, "dtype");
        this.shape = shape.clone();
        this.numel = numel(this.shape);
        long bytes = storageBytes(dtype, this.shape, numel);
        if (offset < 0 || offset + bytes > device.byteSize()) {
            throw new IllegalArgumentException("device memory of " + device.byteSize() + " bytes does not hold a " + dtype + " tensor of shape "
                    + Arrays.toString(shape) + " at offset " + offset);
        }
        this.data = null;
        this.owner = null;
        this.device = device;
        this.deviceOffset = offset;
        this.ownsDevice = owns;
    }

    private Tensor(MemorySegment data, DType dtype, int[] shape, Arena owner) {
        this.dtype = Objects.requireNonNull(dtype, "dtype");
        this.shape = shape.clone();
        this.numel = numel(this.shape);
        long bytes = storageBytes(dtype, this.shape, numel);
        if (data.byteSize() != bytes) {
            throw new IllegalArgumentException("segment of " + data.byteSize() + " bytes does not hold a "
                    + dtype + " tensor of shape " + Arrays.toString(shape) + " (" + bytes + " bytes)");
        }
        this.data = data;
        this.owner = owner;
        this.device = null;
        this.deviceOffset = 0;
        this.ownsDevice = false;
    }

    /**
     * A tensor over device memory, for backends. With {@code owns} the tensor frees {@code storage} on
     * {@link #close()}.
     */
    public static Tensor onDevice(DeviceStorage storage, DType dtype, boolean owns, int... shape) {
        return new Tensor(Objects.requireNonNull(storage, "storage"), 0, dtype, shape, owns);
    }

    /** Whether this tensor lives in device memory (its host accessors throw). */
    public boolean isDevice() {
        return device != null;
    }

    /** The device memory behind a device tensor. */
    public DeviceStorage deviceStorage() {
        requireDevice();
        return device;
    }

    /** The device address of a device tensor's first element. */
    public long deviceAddress() {
        requireDevice();
        if (!device.isAlive()) {
            throw new IllegalStateException(this + ": its device memory has been freed");
        }
        return device.address() + deviceOffset;
    }

    /** Size of the elements in bytes. */
    public long byteSize() {
        return dtype.byteSize(numel);
    }

    /**
     * The bytes a tensor of {@code shape} takes; for a block-quantized type, the last dimension must be whole blocks.
     *
     * @throws IllegalArgumentException for a block-quantized shape whose rows are not whole blocks
     */
    private static long storageBytes(DType dtype, int[] shape, long numel) {
        if (dtype.isBlockQuantized() && (shape.length == 0 || shape[shape.length - 1] % dtype.blockSize() != 0)) {
            throw new IllegalArgumentException("a " + dtype + " tensor's rows must be whole blocks of " + dtype.blockSize()
                    + " elements, but its shape is " + Arrays.toString(shape));
        }
        return dtype.byteSize(numel);
    }

    /** Whether the elements of this tensor and {@code other} share any byte (same memory space only). */
    public boolean overlaps(Tensor other) {
        if (numel == 0 || other.numel == 0) {
            return false;
        }
        if (isDevice() != other.isDevice()) {
            return false;
        }
        if (!isDevice()) {
            return data.asOverlappingSlice(other.data).isPresent();
        }
        long a = device.address() + deviceOffset, b = other.device.address() + other.deviceOffset;
        return a < b + other.byteSize() && b < a + byteSize();
    }

    private void requireDevice() {
        if (device == null) {
            throw new IllegalStateException(this + " is a host tensor");
        }
    }

    /** The host memory; a clear error for a device tensor, whose memory Java must never touch. */
    private MemorySegment host() {
        if (data == null) {
            throw new IllegalStateException(this + " lives in device memory (" + device.device() + "); copy it to a host tensor with"
                    + " Backend.copy before reading or writing it from Java");
        }
        return data;
    }

    /** Allocates a zero-filled tensor that owns its memory; {@link #close()} frees it. */
    public static Tensor allocate(DType dtype, int... shape) {
        long bytes = storageBytes(dtype, shape, numel(shape));
        Arena arena = Arena.ofShared();
        try {
            MemorySegment mem = HugePageMemory.allocate(bytes, arena); // large tensors: zero pages from the kernel, 2 MiB at a time
            return new Tensor(mem != null ? mem : arena.allocate(Math.max(bytes, 1), ALIGNMENT).asSlice(0, bytes), dtype, shape, arena);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** Allocates a zero-filled float32 tensor that owns its memory. */
    public static Tensor allocate(int... shape) {
        return allocate(DType.F32, shape);
    }

    /** Allocates a zero-filled tensor in {@code arena}; it lives until the arena is closed. */
    public static Tensor allocate(Arena arena, DType dtype, int... shape) {
        long bytes = storageBytes(dtype, shape, numel(shape));
        return new Tensor(arena.allocate(Math.max(bytes, 1), ALIGNMENT).asSlice(0, bytes), dtype, shape, null);
    }

    /** Views existing memory (for example a memory-mapped file) as a tensor; the caller keeps ownership. */
    public static Tensor wrap(MemorySegment data, DType dtype, int... shape) {
        return new Tensor(data, dtype, shape, null);
    }

    /** Copies a float array into a new owned float32 tensor of the given shape. */
    public static Tensor of(float[] values, int... shape) {
        if (values.length != numel(shape)) {
            throw new IllegalArgumentException(values.length + " values do not fill shape " + Arrays.toString(shape));
        }
        Tensor t = allocate(DType.F32, shape);
        MemorySegment.copy(values, 0, t.data, F32_LE, 0, values.length);
        return t;
    }

    private static long numel(int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /** The memory behind this tensor, exactly {@link #byteSize()} bytes. */
    public MemorySegment segment() {
        return host();
    }

    public DType dtype() {
        return dtype;
    }

    /** A copy of the shape. */
    public int[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    /** Size of dimension {@code i}; negative {@code i} counts from the end. */
    public int dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    /** Number of elements. */
    public long numel() {
        return numel;
    }

    /** Product of all dimensions but the last: the number of rows when the tensor is seen as a matrix. */
    public long rows() {
        return shape.length == 0 ? 1 : (shape[shape.length - 1] == 0 ? 0 : numel / shape[shape.length - 1]);
    }

    /** Element at flat index {@code i}, widened to float. */
    public float get(long i) {
        return switch (dtype) {
            case F32 -> host().getAtIndex(F32_LE, i);
            case BF16 -> DType.bf16ToFloat(host().getAtIndex(I16_LE, i));
            case F16 -> Float.float16ToFloat(host().getAtIndex(I16_LE, i));
            case F8_E4M3 -> DType.f8e4m3ToFloat(host().get(ValueLayout.JAVA_BYTE, i));
            case F8_E5M2 -> DType.f8e5m2ToFloat(host().get(ValueLayout.JAVA_BYTE, i));
            case I64 -> host().getAtIndex(I64_LE, i);
            case I32 -> host().getAtIndex(I32_LE, i);
            case Q8_0, Q4_K -> BlockQuantization.element(dtype, host(), i);
        };
    }

    /**
     * Element at flat index {@code i} of an integer tensor ({@link DType#I64}, {@link DType#I32}), exactly.
     *
     * @throws IllegalStateException for a floating-point tensor
     */
    public long getLong(long i) {
        return switch (dtype) {
            case I64 -> host().getAtIndex(I64_LE, i);
            case I32 -> host().getAtIndex(I32_LE, i);
            default -> throw new IllegalStateException("getLong on a " + dtype + " tensor " + Arrays.toString(shape));
        };
    }

    /**
     * Stores {@code v} at flat index {@code i} of an integer tensor, exactly.
     *
     * @throws IllegalStateException for a floating-point tensor, or an I32 tensor and a value outside int
     */
    public void setLong(long i, long v) {
        switch (dtype) {
            case I64 -> host().setAtIndex(I64_LE, i, v);
            case I32 -> host().setAtIndex(I32_LE, i, Math.toIntExact(v));
            default -> throw new IllegalStateException("setLong on a " + dtype + " tensor " + Arrays.toString(shape));
        }
    }

    /**
     * Stores {@code v} at flat index {@code i}, rounding to the storage type.
     *
     * @throws IllegalStateException for a block-quantized tensor (an element cannot be quantized alone)
     */
    public void set(long i, float v) {
        switch (dtype) {
            case F32 -> host().setAtIndex(F32_LE, i, v);
            case BF16 -> host().setAtIndex(I16_LE, i, DType.floatToBf16(v));
            case F16 -> host().setAtIndex(I16_LE, i, Float.floatToFloat16(v));
            case F8_E4M3 -> host().set(ValueLayout.JAVA_BYTE, i, DType.floatToF8e4m3(v));
            case F8_E5M2 -> host().set(ValueLayout.JAVA_BYTE, i, DType.floatToF8e5m2(v));
            case I64 -> host().setAtIndex(I64_LE, i, (long) v);
            case I32 -> host().setAtIndex(I32_LE, i, (int) v);
            case Q8_0, Q4_K -> throw new IllegalStateException("cannot store single elements into a " + dtype + " tensor "
                    + Arrays.toString(shape) + ": it is block-quantized (read-only element by element)");
        }
    }

    /** All elements widened to a new float array. */
    public float[] toFloatArray() {
        if (numel > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("tensor of " + numel + " elements does not fit a Java array");
        }
        float[] out = new float[(int) numel];
        if (dtype == DType.F32) {
            MemorySegment.copy(host(), F32_LE, 0, out, 0, out.length);
        } else if (dtype.isBlockQuantized()) {
            BlockQuantization.dequantize(dtype, host(), 0, out.length, out, 0);
        } else {
            for (int i = 0; i < out.length; i++) {
                out[i] = get(i);
            }
        }
        return out;
    }

    /** Overwrites all elements from {@code values} (length must equal {@link #numel()}). */
    public void copyFrom(float[] values) {
        if (values.length != numel) {
            throw new IllegalArgumentException(values.length + " values for a tensor of " + numel + " elements");
        }
        if (dtype == DType.F32) {
            MemorySegment.copy(values, 0, host(), F32_LE, 0, values.length);
        } else {
            for (int i = 0; i < values.length; i++) {
                set(i, values[i]);
            }
        }
    }

    /** Sets every element to {@code value} (rounded to the storage type). */
    public void fill(float value) {
        for (long i = 0; i < numel; i++) {
            set(i, value);
        }
    }

    /** Copies all elements of {@code src}, which must have the same shape, converting the element type. */
    public void copyFrom(Tensor src) {
        if (!Arrays.equals(shape, src.shape)) {
            throw new IllegalArgumentException("copy from shape " + Arrays.toString(src.shape) + " into " + Arrays.toString(shape));
        }
        if (dtype == src.dtype) {
            MemorySegment.copy(src.host(), 0, host(), 0, host().byteSize());
        } else {
            for (long i = 0; i < numel; i++) {
                set(i, src.get(i));
            }
        }
    }

    /** A new owned tensor with the same shape and type of element as this one, converted to {@code type}. */
    public Tensor copy(DType type) {
        Tensor t = allocate(type, shape);
        t.copyFrom(this);
        return t;
    }

    /** A view of the same memory with another shape of the same element count. */
    public Tensor reshape(int... newShape) {
        if (numel(newShape) != numel) {
            throw new IllegalArgumentException("cannot reshape " + Arrays.toString(shape) + " to " + Arrays.toString(newShape));
        }
        return device != null ? new Tensor(device, deviceOffset, dtype, newShape, false) : new Tensor(data, dtype, newShape, null);
    }

    /**
     * A view of rows {@code [from, from + count)} along the first dimension; the other dimensions are kept.
     * Used to take a slice of a weight matrix (e.g. the q/k/v rows of a fused projection) without a copy.
     */
    public Tensor rows(int from, int count) {
        if (shape.length == 0 || from < 0 || count < 0 || from + count > shape[0]) {
            throw new IndexOutOfBoundsException("rows [" + from + ", " + (from + count) + ") of shape " + Arrays.toString(shape));
        }
        int[] s = shape.clone();
        s[0] = count;
        if (dtype.isBlockQuantized() && shape.length == 1) {
            throw new IllegalArgumentException("rows [" + from + ", " + (from + count) + ") of a 1-D " + dtype + " tensor " + Arrays.toString(shape)
                    + " would cut its blocks");
        }
        long rowBytes = shape[0] == 0 ? 0 : dtype.byteSize(numel / shape[0]);
        if (device != null) {
            return new Tensor(device, deviceOffset + from * rowBytes, dtype, s, false);
        }
        return new Tensor(data.asSlice(from * rowBytes, count * rowBytes), dtype, s, null);
    }

    /** True when this tensor's shape equals {@code expected}. */
    public boolean hasShape(int... expected) {
        return Arrays.equals(shape, expected);
    }

    /** Whether this tensor owns (and will free) its memory. */
    public boolean ownsMemory() {
        return owner != null || ownsDevice;
    }

    /** Frees owned memory; a no-op for views and borrowed tensors. Idempotent. */
    @Override
    public void close() {
        if (owner != null && owner.scope().isAlive()) {
            owner.close();
        }
        if (ownsDevice) {
            device.close();
        }
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape) + " " + dtype + (device != null ? " on " + device.device() : "");
    }
}
