package org.untwist.onednn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;
import org.untwist.vector.VectorBackend;
import org.untwist.vector.VectorBackendProvider;

/**
 * The vector backend's bf16 operand preparation ({@code VectorBackend.toBf16Rows}, SIMD) against the scalar
 * {@link DType#floatToBf16}: bit for bit on every F16, F8_E4M3 and F8_E5M2 code and on float32 specials, ties and
 * random bit patterns (NaN: any bf16 NaN), and only the rows asked for.
 */
class Bf16RowsTest {
    /** Exposes the protected conversion. */
    static final class Rows extends VectorBackend {
        Rows() {
            super(2);
        }

        short[] convert(Tensor t, long r0, long r1) {
            int cols = t.dim(1);
            try (Arena a = Arena.ofShared()) { // the pool's threads write it
                MemorySegment dst = a.allocate((r1 - r0) * cols * 2);
                toBf16Rows(t.segment(), t.dtype(), r0, r1, cols, dst);
                return dst.toArray(ValueLayout.JAVA_SHORT);
            }
        }
    }

    private static Rows rows;

    @BeforeAll
    static void vector() {
        String why = new VectorBackendProvider().unavailableReason();
        Assumptions.assumeTrue(why == null, "the vector backend cannot run: " + why);
        rows = new Rows();
    }

    @AfterAll
    static void close() {
        if (rows != null) {
            rows.close();
        }
    }

    @Test
    void everyF16CodeRoundsAsTheScalarRounding() {
        try (Tensor t = Tensor.allocate(DType.F16, 256, 256)) {
            for (int i = 0; i < 65536; i++) {
                t.segment().setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, (short) i);
            }
            short[] got = rows.convert(t, 0, 256);
            for (int i = 0; i < 65536; i++) {
                check(Float.float16ToFloat((short) i), got[i], "f16 code 0x" + Integer.toHexString(i));
            }
        }
    }

    @Test
    void everyF8CodeWidensExactly() {
        for (DType dt : new DType[] {DType.F8_E4M3, DType.F8_E5M2}) {
            try (Tensor t = Tensor.allocate(dt, 4, 64)) {
                for (int i = 0; i < 256; i++) {
                    t.segment().set(ValueLayout.JAVA_BYTE, i, (byte) i);
                }
                short[] got = rows.convert(t, 0, 4);
                for (int i = 0; i < 256; i++) {
                    float v = dt == DType.F8_E4M3 ? DType.f8e4m3ToFloat((byte) i) : DType.f8e5m2ToFloat((byte) i);
                    check(v, got[i], dt + " code " + i);
                    if (!Float.isNaN(v)) {
                        assertEquals(v, DType.bf16ToFloat(got[i]), "exact");
                    }
                }
            }
        }
    }

    @Test
    void float32RoundsToNearestEvenLikeTheScalarRounding() {
        int n = 1 << 16;
        SplittableRandom r = new SplittableRandom(5);
        float[] specials = {0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE, -Float.MAX_VALUE,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.intBitsToFloat(0x3F808000), // a tie: to even (down)
                Float.intBitsToFloat(0x3F818000), Float.intBitsToFloat(0x3F808001), Float.intBitsToFloat(0x7F7F8000), 1f, -2.5f};
        try (Tensor t = Tensor.allocate(DType.F32, n / 64, 64)) {
            for (int i = 0; i < n; i++) {
                t.set(i, i < specials.length ? specials[i] : Float.intBitsToFloat(r.nextInt()));
            }
            short[] got = rows.convert(t, 0, n / 64);
            for (int i = 0; i < n; i++) {
                check(t.get(i), got[i], "float bits 0x" + Integer.toHexString(Float.floatToRawIntBits(t.get(i))));
            }
        }
    }

    @Test
    void onlyTheRowsAskedForInEveryType() {
        for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16, DType.F8_E4M3, DType.F8_E5M2}) {
            try (Tensor t = OnednnBackendTest.random(dt, 7, 3f, 9, 37)) { // 37 columns: SIMD body and scalar tail per row
                short[] got = rows.convert(t, 2, 7);
                assertEquals(5 * 37, got.length);
                for (int i = 0; i < got.length; i++) {
                    check(t.get(2 * 37 + i), got[i], dt + " element " + i);
                }
            }
        }
    }

    private static void check(float v, short got, String what) {
        if (Float.isNaN(v)) {
            assertTrue(Float.isNaN(DType.bf16ToFloat(got)), what + ": NaN stays NaN");
        } else {
            assertEquals(DType.floatToBf16(v), got, what);
        }
    }
}
