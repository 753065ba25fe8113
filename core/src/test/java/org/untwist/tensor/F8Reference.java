package org.untwist.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.DoubleToIntFunction;
import java.util.function.IntToDoubleFunction;

/** The checks both fp8 formats run against their PyTorch tables: every code's value, and rounding cases. */
final class F8Reference {
    private F8Reference() {
    }

    /** {@code decode(code)} equals {@code table[code]} bit for bit for all 256 codes (NaN: any NaN). */
    static void checkDecode(float[] table, IntToDoubleFunction decode) {
        assertEquals(256, table.length);
        for (int code = 0; code < 256; code++) {
            float got = (float) decode.applyAsDouble(code);
            float want = table[code];
            if (Float.isNaN(want)) {
                assertTrue(Float.isNaN(got), "code 0x" + Integer.toHexString(code) + " must be NaN, got " + got);
            } else {
                assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got),
                        "code 0x" + Integer.toHexString(code) + ": got " + got + ", PyTorch " + want);
            }
        }
    }

    /** {@code encode(x) & 0xFF} equals the code PyTorch gave, for every {@code {Float x, Integer code}} row. */
    static void checkRounding(Object[][] cases, String encoder, DoubleToIntFunction encode) {
        for (Object[] c : cases) {
            float x = (Float) c[0];
            int want = (Integer) c[1];
            int got = encode.applyAsInt(x) & 0xFF;
            assertEquals(want, got, encoder + "(" + x + " = 0x" + Integer.toHexString(Float.floatToRawIntBits(x)) + "): got 0x"
                    + Integer.toHexString(got) + ", PyTorch 0x" + Integer.toHexString(want));
        }
    }
}
