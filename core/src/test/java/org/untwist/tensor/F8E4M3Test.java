package org.untwist.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * {@link DType#F8_E4M3} against PyTorch 2.13.0+cpu ({@code torch.float8_e4m3fn}). The expected values below were
 * produced on the development machine with
 * <pre>
 * torch.arange(256, dtype=torch.uint8).view(torch.float8_e4m3fn).float().tolist()          # DECODED
 * torch.tensor(xs, dtype=torch.float32).to(torch.float8_e4m3fn).view(torch.uint8).tolist()  # ROUNDING
 * </pre>
 * and pasted here (xs: ties at every exponent, values just off the ties, the subnormal range and the rounding to
 * zero below half the smallest subnormal, the saturation of large magnitudes and infinities to ±448 that PyTorch's
 * cast does, and a few random normals).
 */
class F8E4M3Test {
    /** {@code float8_e4m3fn} code {@code i} widened by PyTorch (codes 0x7F and 0xFF are NaN). */
    private static final float[] DECODED = {
            0.0f, 0.001953125f, 0.00390625f, 0.005859375f, 0.0078125f, 0.009765625f, 0.01171875f, 0.013671875f,
            0.015625f, 0.017578125f, 0.01953125f, 0.021484375f, 0.0234375f, 0.025390625f, 0.02734375f, 0.029296875f,
            0.03125f, 0.03515625f, 0.0390625f, 0.04296875f, 0.046875f, 0.05078125f, 0.0546875f, 0.05859375f,
            0.0625f, 0.0703125f, 0.078125f, 0.0859375f, 0.09375f, 0.1015625f, 0.109375f, 0.1171875f,
            0.125f, 0.140625f, 0.15625f, 0.171875f, 0.1875f, 0.203125f, 0.21875f, 0.234375f,
            0.25f, 0.28125f, 0.3125f, 0.34375f, 0.375f, 0.40625f, 0.4375f, 0.46875f,
            0.5f, 0.5625f, 0.625f, 0.6875f, 0.75f, 0.8125f, 0.875f, 0.9375f,
            1.0f, 1.125f, 1.25f, 1.375f, 1.5f, 1.625f, 1.75f, 1.875f,
            2.0f, 2.25f, 2.5f, 2.75f, 3.0f, 3.25f, 3.5f, 3.75f,
            4.0f, 4.5f, 5.0f, 5.5f, 6.0f, 6.5f, 7.0f, 7.5f,
            8.0f, 9.0f, 10.0f, 11.0f, 12.0f, 13.0f, 14.0f, 15.0f,
            16.0f, 18.0f, 20.0f, 22.0f, 24.0f, 26.0f, 28.0f, 30.0f,
            32.0f, 36.0f, 40.0f, 44.0f, 48.0f, 52.0f, 56.0f, 60.0f,
            64.0f, 72.0f, 80.0f, 88.0f, 96.0f, 104.0f, 112.0f, 120.0f,
            128.0f, 144.0f, 160.0f, 176.0f, 192.0f, 208.0f, 224.0f, 240.0f,
            256.0f, 288.0f, 320.0f, 352.0f, 384.0f, 416.0f, 448.0f, Float.NaN,
            -0f, -0.001953125f, -0.00390625f, -0.005859375f, -0.0078125f, -0.009765625f, -0.01171875f, -0.013671875f,
            -0.015625f, -0.017578125f, -0.01953125f, -0.021484375f, -0.0234375f, -0.025390625f, -0.02734375f, -0.029296875f,
            -0.03125f, -0.03515625f, -0.0390625f, -0.04296875f, -0.046875f, -0.05078125f, -0.0546875f, -0.05859375f,
            -0.0625f, -0.0703125f, -0.078125f, -0.0859375f, -0.09375f, -0.1015625f, -0.109375f, -0.1171875f,
            -0.125f, -0.140625f, -0.15625f, -0.171875f, -0.1875f, -0.203125f, -0.21875f, -0.234375f,
            -0.25f, -0.28125f, -0.3125f, -0.34375f, -0.375f, -0.40625f, -0.4375f, -0.46875f,
            -0.5f, -0.5625f, -0.625f, -0.6875f, -0.75f, -0.8125f, -0.875f, -0.9375f,
            -1.0f, -1.125f, -1.25f, -1.375f, -1.5f, -1.625f, -1.75f, -1.875f,
            -2.0f, -2.25f, -2.5f, -2.75f, -3.0f, -3.25f, -3.5f, -3.75f,
            -4.0f, -4.5f, -5.0f, -5.5f, -6.0f, -6.5f, -7.0f, -7.5f,
            -8.0f, -9.0f, -10.0f, -11.0f, -12.0f, -13.0f, -14.0f, -15.0f,
            -16.0f, -18.0f, -20.0f, -22.0f, -24.0f, -26.0f, -28.0f, -30.0f,
            -32.0f, -36.0f, -40.0f, -44.0f, -48.0f, -52.0f, -56.0f, -60.0f,
            -64.0f, -72.0f, -80.0f, -88.0f, -96.0f, -104.0f, -112.0f, -120.0f,
            -128.0f, -144.0f, -160.0f, -176.0f, -192.0f, -208.0f, -224.0f, -240.0f,
            -256.0f, -288.0f, -320.0f, -352.0f, -384.0f, -416.0f, -448.0f, Float.NaN,
    };

    /** {input, PyTorch's code for it}; the comment is the input in decimal. */
    private static final Object[][] ROUNDING = {
            {Float.intBitsToFloat(0x00000000), 0x00}, // 0.0
            {Float.intBitsToFloat(0x80000000), 0x80}, // -0.0
            {Float.intBitsToFloat(0x3F800000), 0x38}, // 1.0
            {Float.intBitsToFloat(0x3F880000), 0x38}, // 1.0625
            {Float.intBitsToFloat(0x3F87FFFF), 0x38}, // 1.0624998807907104
            {Float.intBitsToFloat(0x3F980000), 0x3A}, // 1.1875
            {Float.intBitsToFloat(0x3FA80000), 0x3A}, // 1.3125
            {Float.intBitsToFloat(0x40400000), 0x44}, // 3.0
            {Float.intBitsToFloat(0x40100000), 0x41}, // 2.25
            {Float.intBitsToFloat(0x40300000), 0x43}, // 2.75
            {Float.intBitsToFloat(0xC0100000), 0xC1}, // -2.25
            {Float.intBitsToFloat(0x3F080000), 0x30}, // 0.53125
            {Float.intBitsToFloat(0x43700000), 0x77}, // 240.0
            {Float.intBitsToFloat(0x43780000), 0x78}, // 248.0
            {Float.intBitsToFloat(0x43800000), 0x78}, // 256.0
            {Float.intBitsToFloat(0x43880000), 0x78}, // 272.0
            {Float.intBitsToFloat(0x43900000), 0x79}, // 288.0
            {Float.intBitsToFloat(0x43D00000), 0x7D}, // 416.0
            {Float.intBitsToFloat(0x43D80000), 0x7E}, // 432.0
            {Float.intBitsToFloat(0x43DC0000), 0x7E}, // 440.0
            {Float.intBitsToFloat(0x43DF8000), 0x7E}, // 447.0
            {Float.intBitsToFloat(0x43E00000), 0x7E}, // 448.0
            {Float.intBitsToFloat(0x43E08000), 0x7E}, // 449.0
            {Float.intBitsToFloat(0x43E80000), 0x7E}, // 464.0
            {Float.intBitsToFloat(0x43E88000), 0x7E}, // 465.0
            {Float.intBitsToFloat(0x43F00000), 0x7E}, // 480.0
            {Float.intBitsToFloat(0x43FA0000), 0x7E}, // 500.0
            {Float.intBitsToFloat(0x4E6E6B28), 0x7E}, // 1000000000.0
            {Float.POSITIVE_INFINITY, 0x7E}, // inf
            {Float.NEGATIVE_INFINITY, 0xFE}, // -inf
            {Float.intBitsToFloat(0xC3E80000), 0xFE}, // -464.0
            {Float.intBitsToFloat(0xF149F2CA), 0xFE}, // -1.0000000150474662e+30
            {Float.intBitsToFloat(0x3B000000), 0x01}, // 0.001953125
            {Float.intBitsToFloat(0x3A800000), 0x00}, // 0.0009765625
            {Float.intBitsToFloat(0x3A800347), 0x01}, // 0.0009766601724550128
            {Float.intBitsToFloat(0x3A7FF972), 0x00}, // 0.0009764648275449872
            {Float.intBitsToFloat(0x3B400000), 0x02}, // 0.0029296875
            {Float.intBitsToFloat(0x3BA00000), 0x02}, // 0.0048828125
            {Float.intBitsToFloat(0x3BE00000), 0x04}, // 0.0068359375
            {Float.intBitsToFloat(0x3C700000), 0x08}, // 0.0146484375
            {Float.intBitsToFloat(0x3C780000), 0x08}, // 0.01513671875
            {Float.intBitsToFloat(0x3C800000), 0x08}, // 0.015625
            {Float.intBitsToFloat(0x3C880000), 0x08}, // 0.0166015625
            {Float.intBitsToFloat(0xBA800000), 0x80}, // -0.0009765625
            {Float.intBitsToFloat(0xBB400000), 0x82}, // -0.0029296875
            {Float.intBitsToFloat(0x1E3CE508), 0x00}, // 9.999999682655225e-21
            {Float.intBitsToFloat(0x9E3CE508), 0x80}, // -9.999999682655225e-21
            {Float.intBitsToFloat(0x3DCCCCCD), 0x1D}, // 0.10000000149011612
            {Float.intBitsToFloat(0xBDCCCCCD), 0x9D}, // -0.10000000149011612
            {Float.intBitsToFloat(0x3E99999A), 0x2A}, // 0.30000001192092896
            {Float.intBitsToFloat(0x40490FDB), 0x45}, // 3.1415927410125732
            {Float.intBitsToFloat(0xC02DF854), 0xC3}, // -2.7182817459106445
            {Float.intBitsToFloat(0x41880000), 0x58}, // 17.0
            {Float.intBitsToFloat(0x41980000), 0x5A}, // 19.0
            {Float.intBitsToFloat(0x41B80000), 0x5C}, // 23.0
            {Float.intBitsToFloat(0x42C80000), 0x6C}, // 100.0
            {Float.intBitsToFloat(0xC2C80000), 0xEC}, // -100.0
            {Float.intBitsToFloat(0x3A83126F), 0x01}, // 0.0010000000474974513
            {Float.intBitsToFloat(0x3BE56042), 0x04}, // 0.007000000216066837
            {Float.intBitsToFloat(0xBF8302BE), 0xB8}, // -1.0235211849212646
            {Float.intBitsToFloat(0x4002ED2D), 0x40}, // 2.0457260608673096
            {Float.intBitsToFloat(0xBF6785C1), 0xB6}, // -0.9043846726417542
            {Float.intBitsToFloat(0xBFA150A6), 0xBA}, // -1.2602736949920654
            {Float.intBitsToFloat(0xC06E15AC), 0xC7}, // -3.7200727462768555
            {Float.intBitsToFloat(0xBF5A6BD3), 0xB6}, // -0.8532077670097351
            {Float.intBitsToFloat(0x408E534F), 0x49}, // 4.447669506072998
            {Float.intBitsToFloat(0x3FD929C1), 0x3E}, // 1.6965867280960083
            {Float.intBitsToFloat(0x4084B874), 0x48}, // 4.147516250610352
            {Float.intBitsToFloat(0x3F7EE05B), 0x38}, // 0.9956108927726746
            {Float.intBitsToFloat(0x3FCA1F3F), 0x3D}, // 1.5790785551071167
            {Float.intBitsToFloat(0x3F3DC646), 0x34}, // 0.7413066625595093
    };

    @Test
    void allCodesDecodeLikePyTorch() {
        F8Reference.checkDecode(DECODED, code -> DType.f8e4m3ToFloat((byte) code));
    }

    @Test
    void roundingMatchesPyTorch() {
        F8Reference.checkRounding(ROUNDING, "floatToF8e4m3", x -> DType.floatToF8e4m3((float) x));
    }

    @Test
    void nanStaysNanAndEveryFiniteCodeRoundTrips() {
        assertEquals(0x7F, DType.floatToF8e4m3(Float.NaN) & 0x7F, "NaN must encode as S.1111.111 (PyTorch: 0x7f / 0xff)");
        for (int code = 0; code < 256; code++) {
            if ((code & 0x7F) == 0x7F) {
                continue;
            }
            float v = DType.f8e4m3ToFloat((byte) code);
            assertEquals(code, DType.floatToF8e4m3(v) & 0xFF, "code 0x" + Integer.toHexString(code) + " (" + v + ") must round-trip");
        }
        assertEquals(DType.F8_E4M3, DType.fromSafetensorsName("F8_E4M3"));
        assertEquals(1, DType.F8_E4M3.byteSize());
    }
}
