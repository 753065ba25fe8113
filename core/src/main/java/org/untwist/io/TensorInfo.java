package org.untwist.io;

import java.util.Arrays;
import java.util.Objects;
import org.untwist.tensor.DType;

/**
 * One entry of a safetensors header. The shape array is copied on the way in and out, and equality compares
 * it by content.
 *
 * @param name  the tensor's key
 * @param dtype element type
 * @param shape dimensions
 * @param begin first byte, relative to the start of the data area
 * @param end   one past the last byte, relative to the start of the data area
 */
public record TensorInfo(String name, DType dtype, int[] shape, long begin, long end) {
    public TensorInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        shape = shape.clone();
    }

    @Override
    public int[] shape() {
        return shape.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype && Arrays.equals(shape, t.shape)
                && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape), begin, end);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " @[" + begin + ", " + end + ")";
    }
}
