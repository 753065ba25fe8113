package org.untwist.tensor;

import java.util.Locale;

/**
 * Element types a {@link Tensor} can hold. Compute is always float32; {@link #BF16} and {@link #F16}
 * exist so that weights can stay in their storage type and be widened inside the kernels.
 *
 * <p>Most types store each element in {@link #byteSize()} bytes. The block-quantized types of GGUF files
 * ({@link #Q8_0}, {@link #Q4_K}) store {@link #blockSize()} elements together in {@link #blockBytes()} bytes
 * (a scale shared by the block and small integers); a tensor of such a type has rows (its last dimension) that
 * are whole blocks, and {@link BlockQuantization} dequantizes them.
 */
public enum DType {
    /** IEEE-754 binary32. */
    F32(4),
    /** bfloat16: the upper 16 bits of a binary32. */
    BF16(2),
    /** IEEE-754 binary16. */
    F16(2),
    /**
     * 8-bit float {@code e4m3fn} (1 sign, 4 exponent bits with bias 7, 3 mantissa bits; no infinities, NaN is
     * {@code S.1111.111}, largest finite 448): the type of FLUX.1's and T5's fp8 checkpoints.
     */
    F8_E4M3(1),
    /**
     * 8-bit float {@code e5m2} (1 sign, 5 exponent bits with bias 15, 2 mantissa bits; IEEE-like with infinities
     * ({@code S.11111.00}) and NaNs ({@code S.11111.xx}), largest finite 57344): exactly the upper byte of an IEEE
     * binary16. The type of some FLUX.1 fp8 checkpoints ({@code flux1-dev-fp8-e5m2}).
     */
    F8_E5M2(1),
    /** 64-bit signed integer: token ids as tokenizers and PyTorch store them ({@code input_ids}). Not a compute type. */
    I64(8),
    /** 32-bit signed integer. Not a compute type. */
    I32(4),
    /**
     * GGML's {@code Q8_0}: blocks of 32 elements in 34 bytes, a binary16 scale {@code d} then 32 signed bytes
     * {@code q}; element {@code i} is {@code d·q[i]}. A weight type of GGUF files, for {@code linear} and {@code embedding}.
     */
    Q8_0(34, 32),
    /**
     * GGML's {@code Q4_K}: super-blocks of 256 elements in 144 bytes, a binary16 {@code d} and {@code dmin}, 12 bytes
     * of eight 6-bit scales and eight 6-bit mins, then 128 bytes of 4-bit quants; element {@code i} of sub-block
     * {@code j} (32 elements) is {@code (d·scale[j])·q[i] − dmin·min[j]} (see {@link BlockQuantization}). A weight
     * type of GGUF files, for {@code linear} and {@code embedding}.
     */
    Q4_K(144, 256);

    /** The names accepted by {@link #fromSafetensorsName}, for messages. */
    public static final String SUPPORTED_NAMES = "F32, BF16, F16, F8_E4M3, F8_E5M2, I64, I32";

    /** Every {@link #F8_E4M3} code widened to float, indexed by the unsigned byte. */
    private static final float[] F8_E4M3_VALUES = new float[256];

    static {
        for (int code = 0; code < 256; code++) {
            int exponent = (code >>> 3) & 0xF;
            int mantissa = code & 0x7;
            float magnitude;
            if (exponent == 0xF && mantissa == 0x7) {
                magnitude = Float.NaN;
            } else if (exponent == 0) {
                magnitude = Math.scalb(mantissa / 8f, -6); // subnormal
            } else {
                magnitude = Math.scalb(1 + mantissa / 8f, exponent - 7);
            }
            F8_E4M3_VALUES[code] = (code & 0x80) != 0 ? -magnitude : magnitude;
        }
    }

    private final int blockBytes;
    private final int blockSize;

    DType(int byteSize) {
        this(byteSize, 1);
    }

    DType(int blockBytes, int blockSize) {
        this.blockBytes = blockBytes;
        this.blockSize = blockSize;
    }

    /**
     * Whether elements are floating-point numbers stored one by one (weights and activations); false for the integer
     * types and for the block-quantized types ({@link #isBlockQuantized()}).
     */
    public boolean isFloatingPoint() {
        return this != I64 && this != I32 && !isBlockQuantized();
    }

    /** Whether elements are stored in blocks that share a scale ({@link #Q8_0}, {@link #Q4_K}). */
    public boolean isBlockQuantized() {
        return blockSize > 1;
    }

    /**
     * Bytes per element.
     *
     * @throws IllegalStateException for a block-quantized type, whose elements have no size of their own (see
     *                               {@link #byteSize(long)})
     */
    public int byteSize() {
        if (isBlockQuantized()) {
            throw new IllegalStateException(this + " is block-quantized (" + blockBytes + " bytes per block of " + blockSize
                    + " elements): it has no size per element");
        }
        return blockBytes;
    }

    /** Elements per block: 1 for the types stored element by element. */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes per block ({@link #byteSize()} for the types stored element by element). */
    public int blockBytes() {
        return blockBytes;
    }

    /**
     * Bytes that {@code elements} elements take.
     *
     * @throws IllegalArgumentException when {@code elements} is negative or not a whole number of blocks
     * @throws ArithmeticException      when the size overflows a long
     */
    public long byteSize(long elements) {
        if (elements < 0 || elements % blockSize != 0) {
            throw new IllegalArgumentException(elements + " elements are not a whole number of " + this + " blocks of " + blockSize);
        }
        return Math.multiplyExact(elements / blockSize, (long) blockBytes);
    }

    /** Widens one stored element (given as its raw 16 bits for BF16/F16) to float. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** Widens one {@link #F8_E4M3} element (its raw byte) to float. */
    public static float f8e4m3ToFloat(byte bits) {
        return F8_E4M3_VALUES[bits & 0xFF];
    }

    /**
     * Rounds a float to {@link #F8_E4M3} (nearest, ties to even) as PyTorch 2.13's {@code .to(float8_e4m3fn)}
     * does: magnitudes beyond the largest finite value, infinities included, saturate to ±448; NaN stays NaN.
     */
    public static byte floatToF8e4m3(float f) {
        int sign = Float.floatToRawIntBits(f) < 0 ? 0x80 : 0;
        float a = Math.abs(f);
        if (Float.isNaN(a)) {
            return (byte) (sign | 0x7F);
        }
        if (a >= 448f) {
            return (byte) (sign | 0x7E);
        }
        // Largest code whose value is <= a, then choose between it and the next code up.
        int lo = 0;
        for (int code = 1; code < 0x7F; code++) {
            if (F8_E4M3_VALUES[code] <= a) {
                lo = code;
            }
        }
        int hi = Math.min(lo + 1, 0x7E);
        float dLo = a - F8_E4M3_VALUES[lo];
        float dHi = F8_E4M3_VALUES[hi] - a;
        int code = dLo < dHi || (dLo == dHi && (lo & 1) == 0) || hi == lo ? lo : hi;
        return (byte) (sign | code);
    }

    /** Widens one {@link #F8_E5M2} element (its raw byte) to float: exact, it is the binary16 {@code bits << 8}. */
    public static float f8e5m2ToFloat(byte bits) {
        return Float.float16ToFloat((short) ((bits & 0xFF) << 8));
    }

    /**
     * Rounds a float to {@link #F8_E5M2} (nearest, ties to even, straight from the float, no double rounding through
     * binary16) as PyTorch 2.13's {@code .to(float8_e5m2)} does: it does <em>not</em> saturate, magnitudes from
     * 61440 (the tie between the largest finite value 57344 and 2^16, which goes to the even code, infinity) up
     * become ±infinity, infinities stay infinities; NaN becomes {@code S.11111.11} ({@code 0x7F}/{@code 0xFF});
     * magnitudes up to half the smallest subnormal 2^-16 (2^-17, a tie, goes to even: zero) become ±0.
     */
    public static byte floatToF8e5m2(float f) {
        int sign = Float.floatToRawIntBits(f) < 0 ? 0x80 : 0;
        float a = Math.abs(f);
        if (Float.isNaN(a)) {
            return (byte) (sign | 0x7F);
        }
        if (a >= 61440f) {
            return (byte) (sign | 0x7C);
        }
        // The spacing of e5m2 values at a's binade (2 mantissa bits; subnormals below 2^-14 are spaced 2^-16):
        // a / ulp is exact, rint rounds it to the nearest integer with ties to even (an even integer is an even
        // mantissa), and the product, a multiple of ulp below 2^16, is exact in binary16, whose upper byte is the code.
        int exponent = Math.max(Math.getExponent(a), -14);
        double ulp = Math.scalb(1.0, exponent - 2);
        float rounded = (float) (Math.rint(a / ulp) * ulp);
        return (byte) (sign | ((Float.floatToFloat16(rounded) & 0x7FFF) >>> 8));
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
     * The type named by a safetensors dtype string ({@code F32}, {@code BF16}, {@code F16}, {@code F8_E4M3},
     * {@code F8_E5M2}, {@code I64}, {@code I32}).
     *
     * @throws IllegalArgumentException for any other name
     */
    public static DType fromSafetensorsName(String name) {
        return switch (name.toUpperCase(Locale.ROOT)) {
            case "F32" -> F32;
            case "BF16" -> BF16;
            case "F16" -> F16;
            case "F8_E4M3" -> F8_E4M3;
            case "F8_E5M2" -> F8_E5M2;
            case "I64" -> I64;
            case "I32" -> I32;
            default -> throw new IllegalArgumentException("unsupported dtype '" + name + "' (supported: " + SUPPORTED_NAMES + ")");
        };
    }

    /**
     * The safetensors name of this type.
     *
     * @throws IllegalStateException for a block-quantized type, which safetensors cannot hold
     */
    public String safetensorsName() {
        if (isBlockQuantized()) {
            throw new IllegalStateException("safetensors has no " + this + " type (block-quantized tensors come from GGUF files)");
        }
        return name();
    }
}
