package org.untwist.tensor;

import java.util.Locale;

/**
 * Element types a {@link Tensor} can hold. Compute is always float32; {@link #BF16} and {@link #F16}
 * exist so that weights can stay in their storage type and be widened inside the kernels.
 */
public enum DType {
    /** IEEE-754 binary32. */
    F32(4),
    /** bfloat16: the upper 16 bits of a binary32. */
    BF16(2),
    /** IEEE-754 binary16. */
    F16(2);

    private final int byteSize;

    DType(int byteSize) {
        this.byteSize = byteSize;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** Widens one stored element (given as its raw 16 bits for BF16/F16) to float. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** Rounds a float to bfloat16 (round to nearest even), NaN stays NaN. */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /**
     * The type named by a safetensors dtype string ({@code F32}, {@code BF16}, {@code F16}).
     *
     * @throws IllegalArgumentException for any other name
     */
    public static DType fromSafetensorsName(String name) {
        return switch (name.toUpperCase(Locale.ROOT)) {
            case "F32" -> F32;
            case "BF16" -> BF16;
            case "F16" -> F16;
            default -> throw new IllegalArgumentException("unsupported dtype '" + name + "' (supported: F32, BF16, F16)");
        };
    }

    /** The safetensors name of this type. */
    public String safetensorsName() {
        return name();
    }
}
