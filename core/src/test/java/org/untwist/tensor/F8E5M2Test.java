package org.untwist.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * {@link DType#F8_E5M2} against PyTorch 2.13.0+cpu ({@code torch.float8_e5m2}). The expected values below were
 * produced on the development machine with
 * <pre>
 * torch.arange(256, dtype=torch.uint8).view(torch.float8_e5m2).float().tolist()          # DECODED
 * torch.tensor(xs, dtype=torch.float32).to(torch.float8_e5m2).view(torch.uint8).tolist()  # ROUNDING
 * </pre>
 * and pasted here (xs: the ties between consecutive codes at several exponents and the floats just above and below
 * them, the subnormal range and the rounding to zero at and below half the smallest subnormal, the tie 61440 between
 * the largest finite value 57344 and 2^16, which PyTorch rounds to infinity (its cast does not saturate: large
 * magnitudes and infinities become ±infinity), and a few random values).
 */
class F8E5M2Test {
    /** {@code float8_e5m2} code {@code i} widened by PyTorch (0x7C/0xFC are ±infinity, 0x7D-0x7F and 0xFD-0xFF NaN). */
    private static final float[] DECODED = {
            0.0f, 1.52587890625e-05f, 3.0517578125e-05f, 4.57763671875e-05f, 6.103515625e-05f, 7.62939453125e-05f, 9.1552734375e-05f, 0.0001068115234375f,
            0.0001220703125f, 0.000152587890625f, 0.00018310546875f, 0.000213623046875f, 0.000244140625f, 0.00030517578125f, 0.0003662109375f, 0.00042724609375f,
            0.00048828125f, 0.0006103515625f, 0.000732421875f, 0.0008544921875f, 0.0009765625f, 0.001220703125f, 0.00146484375f, 0.001708984375f,
            0.001953125f, 0.00244140625f, 0.0029296875f, 0.00341796875f, 0.00390625f, 0.0048828125f, 0.005859375f, 0.0068359375f,
            0.0078125f, 0.009765625f, 0.01171875f, 0.013671875f, 0.015625f, 0.01953125f, 0.0234375f, 0.02734375f,
            0.03125f, 0.0390625f, 0.046875f, 0.0546875f, 0.0625f, 0.078125f, 0.09375f, 0.109375f,
            0.125f, 0.15625f, 0.1875f, 0.21875f, 0.25f, 0.3125f, 0.375f, 0.4375f,
            0.5f, 0.625f, 0.75f, 0.875f, 1.0f, 1.25f, 1.5f, 1.75f,
            2.0f, 2.5f, 3.0f, 3.5f, 4.0f, 5.0f, 6.0f, 7.0f,
            8.0f, 10.0f, 12.0f, 14.0f, 16.0f, 20.0f, 24.0f, 28.0f,
            32.0f, 40.0f, 48.0f, 56.0f, 64.0f, 80.0f, 96.0f, 112.0f,
            128.0f, 160.0f, 192.0f, 224.0f, 256.0f, 320.0f, 384.0f, 448.0f,
            512.0f, 640.0f, 768.0f, 896.0f, 1024.0f, 1280.0f, 1536.0f, 1792.0f,
            2048.0f, 2560.0f, 3072.0f, 3584.0f, 4096.0f, 5120.0f, 6144.0f, 7168.0f,
            8192.0f, 10240.0f, 12288.0f, 14336.0f, 16384.0f, 20480.0f, 24576.0f, 28672.0f,
            32768.0f, 40960.0f, 49152.0f, 57344.0f, Float.POSITIVE_INFINITY, Float.NaN, Float.NaN, Float.NaN,
            -0f, -1.52587890625e-05f, -3.0517578125e-05f, -4.57763671875e-05f, -6.103515625e-05f, -7.62939453125e-05f, -9.1552734375e-05f, -0.0001068115234375f,
            -0.0001220703125f, -0.000152587890625f, -0.00018310546875f, -0.000213623046875f, -0.000244140625f, -0.00030517578125f, -0.0003662109375f, -0.00042724609375f,
            -0.00048828125f, -0.0006103515625f, -0.000732421875f, -0.0008544921875f, -0.0009765625f, -0.001220703125f, -0.00146484375f, -0.001708984375f,
            -0.001953125f, -0.00244140625f, -0.0029296875f, -0.00341796875f, -0.00390625f, -0.0048828125f, -0.005859375f, -0.0068359375f,
            -0.0078125f, -0.009765625f, -0.01171875f, -0.013671875f, -0.015625f, -0.01953125f, -0.0234375f, -0.02734375f,
            -0.03125f, -0.0390625f, -0.046875f, -0.0546875f, -0.0625f, -0.078125f, -0.09375f, -0.109375f,
            -0.125f, -0.15625f, -0.1875f, -0.21875f, -0.25f, -0.3125f, -0.375f, -0.4375f,
            -0.5f, -0.625f, -0.75f, -0.875f, -1.0f, -1.25f, -1.5f, -1.75f,
            -2.0f, -2.5f, -3.0f, -3.5f, -4.0f, -5.0f, -6.0f, -7.0f,
            -8.0f, -10.0f, -12.0f, -14.0f, -16.0f, -20.0f, -24.0f, -28.0f,
            -32.0f, -40.0f, -48.0f, -56.0f, -64.0f, -80.0f, -96.0f, -112.0f,
            -128.0f, -160.0f, -192.0f, -224.0f, -256.0f, -320.0f, -384.0f, -448.0f,
            -512.0f, -640.0f, -768.0f, -896.0f, -1024.0f, -1280.0f, -1536.0f, -1792.0f,
            -2048.0f, -2560.0f, -3072.0f, -3584.0f, -4096.0f, -5120.0f, -6144.0f, -7168.0f,
            -8192.0f, -10240.0f, -12288.0f, -14336.0f, -16384.0f, -20480.0f, -24576.0f, -28672.0f,
            -32768.0f, -40960.0f, -49152.0f, -57344.0f, Float.NEGATIVE_INFINITY, Float.NaN, Float.NaN, Float.NaN,
    };

    /** {input, PyTorch's code for it}; the comment is the input in decimal. */
    private static final Object[][] ROUNDING = {
            {Float.intBitsToFloat(0x00000000), 0x00}, // 0.0
            {Float.intBitsToFloat(0x80000000), 0x80}, // -0.0
            {Float.intBitsToFloat(0x3F800000), 0x3C}, // 1.0
            {Float.intBitsToFloat(0x37000000), 0x00}, // 7.62939453125e-06
            {Float.intBitsToFloat(0x37000001), 0x01}, // 7.629395440744702e-06
            {Float.intBitsToFloat(0x36FFFFFF), 0x00}, // 7.629394076502649e-06
            {Float.intBitsToFloat(0xB7000000), 0x80}, // -7.62939453125e-06
            {Float.intBitsToFloat(0x37C00000), 0x02}, // 2.288818359375e-05
            {Float.intBitsToFloat(0x37C00001), 0x02}, // 2.2888185412739404e-05
            {Float.intBitsToFloat(0x37BFFFFF), 0x01}, // 2.2888181774760596e-05
            {Float.intBitsToFloat(0xB7C00000), 0x82}, // -2.288818359375e-05
            {Float.intBitsToFloat(0x38200000), 0x02}, // 3.814697265625e-05
            {Float.intBitsToFloat(0x38200001), 0x03}, // 3.814697629422881e-05
            {Float.intBitsToFloat(0x381FFFFF), 0x02}, // 3.814696901827119e-05
            {Float.intBitsToFloat(0xB8200000), 0x82}, // -3.814697265625e-05
            {Float.intBitsToFloat(0x38600000), 0x04}, // 5.340576171875e-05
            {Float.intBitsToFloat(0x38600001), 0x04}, // 5.340576535672881e-05
            {Float.intBitsToFloat(0x385FFFFF), 0x03}, // 5.340575808077119e-05
            {Float.intBitsToFloat(0xB8600000), 0x84}, // -5.340576171875e-05
            {Float.intBitsToFloat(0x38900000), 0x04}, // 6.866455078125e-05
            {Float.intBitsToFloat(0x38900001), 0x05}, // 6.866455805720761e-05
            {Float.intBitsToFloat(0x388FFFFF), 0x04}, // 6.866454350529239e-05
            {Float.intBitsToFloat(0xB8900000), 0x84}, // -6.866455078125e-05
            {Float.intBitsToFloat(0x38B00000), 0x06}, // 8.392333984375e-05
            {Float.intBitsToFloat(0x38B00001), 0x06}, // 8.392334711970761e-05
            {Float.intBitsToFloat(0x38AFFFFF), 0x05}, // 8.392333256779239e-05
            {Float.intBitsToFloat(0xB8B00000), 0x86}, // -8.392333984375e-05
            {Float.intBitsToFloat(0x39500000), 0x0A}, // 0.0001983642578125
            {Float.intBitsToFloat(0x39500001), 0x0B}, // 0.00019836427236441523
            {Float.intBitsToFloat(0x394FFFFF), 0x0A}, // 0.00019836424326058477
            {Float.intBitsToFloat(0xB9500000), 0x8A}, // -0.0001983642578125
            {Float.intBitsToFloat(0x39F00000), 0x10}, // 0.000457763671875
            {Float.intBitsToFloat(0x39F00001), 0x10}, // 0.00045776370097883046
            {Float.intBitsToFloat(0x39EFFFFF), 0x0F}, // 0.00045776364277116954
            {Float.intBitsToFloat(0xB9F00000), 0x90}, // -0.000457763671875
            {Float.intBitsToFloat(0x3A900000), 0x14}, // 0.0010986328125
            {Float.intBitsToFloat(0x3A900001), 0x15}, // 0.0010986329289153218
            {Float.intBitsToFloat(0x3A8FFFFF), 0x14}, // 0.0010986326960846782
            {Float.intBitsToFloat(0xBA900000), 0x94}, // -0.0010986328125
            {Float.intBitsToFloat(0x3B300000), 0x1A}, // 0.002685546875
            {Float.intBitsToFloat(0x3B300001), 0x1A}, // 0.0026855471078306437
            {Float.intBitsToFloat(0x3B2FFFFF), 0x19}, // 0.0026855466421693563
            {Float.intBitsToFloat(0xBB300000), 0x9A}, // -0.002685546875
            {Float.intBitsToFloat(0x3BD00000), 0x1E}, // 0.00634765625
            {Float.intBitsToFloat(0x3BD00001), 0x1F}, // 0.006347656715661287
            {Float.intBitsToFloat(0x3BCFFFFF), 0x1E}, // 0.006347655784338713
            {Float.intBitsToFloat(0xBBD00000), 0x9E}, // -0.00634765625
            {Float.intBitsToFloat(0x3C700000), 0x24}, // 0.0146484375
            {Float.intBitsToFloat(0x3C700001), 0x24}, // 0.014648438431322575
            {Float.intBitsToFloat(0x3C6FFFFF), 0x23}, // 0.014648436568677425
            {Float.intBitsToFloat(0xBC700000), 0xA4}, // -0.0146484375
            {Float.intBitsToFloat(0x3D100000), 0x28}, // 0.03515625
            {Float.intBitsToFloat(0x3D100001), 0x29}, // 0.0351562537252903
            {Float.intBitsToFloat(0x3D0FFFFF), 0x28}, // 0.0351562462747097
            {Float.intBitsToFloat(0xBD100000), 0xA8}, // -0.03515625
            {Float.intBitsToFloat(0x3DB00000), 0x2E}, // 0.0859375
            {Float.intBitsToFloat(0x3DB00001), 0x2E}, // 0.0859375074505806
            {Float.intBitsToFloat(0x3DAFFFFF), 0x2D}, // 0.0859374925494194
            {Float.intBitsToFloat(0xBDB00000), 0xAE}, // -0.0859375
            {Float.intBitsToFloat(0x3E500000), 0x32}, // 0.203125
            {Float.intBitsToFloat(0x3E500001), 0x33}, // 0.2031250149011612
            {Float.intBitsToFloat(0x3E4FFFFF), 0x32}, // 0.2031249850988388
            {Float.intBitsToFloat(0xBE500000), 0xB2}, // -0.203125
            {Float.intBitsToFloat(0x3EF00000), 0x38}, // 0.46875
            {Float.intBitsToFloat(0x3EF00001), 0x38}, // 0.4687500298023224
            {Float.intBitsToFloat(0x3EEFFFFF), 0x37}, // 0.4687499701976776
            {Float.intBitsToFloat(0xBEF00000), 0xB8}, // -0.46875
            {Float.intBitsToFloat(0x3F700000), 0x3C}, // 0.9375
            {Float.intBitsToFloat(0x3F700001), 0x3C}, // 0.9375000596046448
            {Float.intBitsToFloat(0x3F6FFFFF), 0x3B}, // 0.9374999403953552
            {Float.intBitsToFloat(0xBF700000), 0xBC}, // -0.9375
            {Float.intBitsToFloat(0x3F900000), 0x3C}, // 1.125
            {Float.intBitsToFloat(0x3F900001), 0x3D}, // 1.1250001192092896
            {Float.intBitsToFloat(0x3F8FFFFF), 0x3C}, // 1.1249998807907104
            {Float.intBitsToFloat(0xBF900000), 0xBC}, // -1.125
            {Float.intBitsToFloat(0x3FB00000), 0x3E}, // 1.375
            {Float.intBitsToFloat(0x3FB00001), 0x3E}, // 1.3750001192092896
            {Float.intBitsToFloat(0x3FAFFFFF), 0x3D}, // 1.3749998807907104
            {Float.intBitsToFloat(0xBFB00000), 0xBE}, // -1.375
            {Float.intBitsToFloat(0x3FD00000), 0x3E}, // 1.625
            {Float.intBitsToFloat(0x3FD00001), 0x3F}, // 1.6250001192092896
            {Float.intBitsToFloat(0x3FCFFFFF), 0x3E}, // 1.6249998807907104
            {Float.intBitsToFloat(0xBFD00000), 0xBE}, // -1.625
            {Float.intBitsToFloat(0x3FF00000), 0x40}, // 1.875
            {Float.intBitsToFloat(0x3FF00001), 0x40}, // 1.8750001192092896
            {Float.intBitsToFloat(0x3FEFFFFF), 0x3F}, // 1.8749998807907104
            {Float.intBitsToFloat(0xBFF00000), 0xC0}, // -1.875
            {Float.intBitsToFloat(0x40300000), 0x42}, // 2.75
            {Float.intBitsToFloat(0x40300001), 0x42}, // 2.750000238418579
            {Float.intBitsToFloat(0x402FFFFF), 0x41}, // 2.749999761581421
            {Float.intBitsToFloat(0xC0300000), 0xC2}, // -2.75
            {Float.intBitsToFloat(0x40D00000), 0x46}, // 6.5
            {Float.intBitsToFloat(0x40D00001), 0x47}, // 6.500000476837158
            {Float.intBitsToFloat(0x40CFFFFF), 0x46}, // 6.499999523162842
            {Float.intBitsToFloat(0xC0D00000), 0xC6}, // -6.5
            {Float.intBitsToFloat(0x41700000), 0x4C}, // 15.0
            {Float.intBitsToFloat(0x41700001), 0x4C}, // 15.000000953674316
            {Float.intBitsToFloat(0x416FFFFF), 0x4B}, // 14.999999046325684
            {Float.intBitsToFloat(0xC1700000), 0xCC}, // -15.0
            {Float.intBitsToFloat(0x42100000), 0x50}, // 36.0
            {Float.intBitsToFloat(0x42100001), 0x51}, // 36.000003814697266
            {Float.intBitsToFloat(0x420FFFFF), 0x50}, // 35.999996185302734
            {Float.intBitsToFloat(0xC2100000), 0xD0}, // -36.0
            {Float.intBitsToFloat(0x42B00000), 0x56}, // 88.0
            {Float.intBitsToFloat(0x42B00001), 0x56}, // 88.00000762939453
            {Float.intBitsToFloat(0x42AFFFFF), 0x55}, // 87.99999237060547
            {Float.intBitsToFloat(0xC2B00000), 0xD6}, // -88.0
            {Float.intBitsToFloat(0x43500000), 0x5A}, // 208.0
            {Float.intBitsToFloat(0x43500001), 0x5B}, // 208.00001525878906
            {Float.intBitsToFloat(0x434FFFFF), 0x5A}, // 207.99998474121094
            {Float.intBitsToFloat(0xC3500000), 0xDA}, // -208.0
            {Float.intBitsToFloat(0x43F00000), 0x60}, // 480.0
            {Float.intBitsToFloat(0x43F00001), 0x60}, // 480.0000305175781
            {Float.intBitsToFloat(0x43EFFFFF), 0x5F}, // 479.9999694824219
            {Float.intBitsToFloat(0xC3F00000), 0xE0}, // -480.0
            {Float.intBitsToFloat(0x44900000), 0x64}, // 1152.0
            {Float.intBitsToFloat(0x44900001), 0x65}, // 1152.0001220703125
            {Float.intBitsToFloat(0x448FFFFF), 0x64}, // 1151.9998779296875
            {Float.intBitsToFloat(0xC4900000), 0xE4}, // -1152.0
            {Float.intBitsToFloat(0x45300000), 0x6A}, // 2816.0
            {Float.intBitsToFloat(0x45300001), 0x6A}, // 2816.000244140625
            {Float.intBitsToFloat(0x452FFFFF), 0x69}, // 2815.999755859375
            {Float.intBitsToFloat(0xC5300000), 0xEA}, // -2816.0
            {Float.intBitsToFloat(0x45D00000), 0x6E}, // 6656.0
            {Float.intBitsToFloat(0x45D00001), 0x6F}, // 6656.00048828125
            {Float.intBitsToFloat(0x45CFFFFF), 0x6E}, // 6655.99951171875
            {Float.intBitsToFloat(0xC5D00000), 0xEE}, // -6656.0
            {Float.intBitsToFloat(0x46700000), 0x74}, // 15360.0
            {Float.intBitsToFloat(0x46700001), 0x74}, // 15360.0009765625
            {Float.intBitsToFloat(0x466FFFFF), 0x73}, // 15359.9990234375
            {Float.intBitsToFloat(0xC6700000), 0xF4}, // -15360.0
            {Float.intBitsToFloat(0x47100000), 0x78}, // 36864.0
            {Float.intBitsToFloat(0x47100001), 0x79}, // 36864.00390625
            {Float.intBitsToFloat(0x470FFFFF), 0x78}, // 36863.99609375
            {Float.intBitsToFloat(0xC7100000), 0xF8}, // -36864.0
            {Float.intBitsToFloat(0x47300000), 0x7A}, // 45056.0
            {Float.intBitsToFloat(0x47300001), 0x7A}, // 45056.00390625
            {Float.intBitsToFloat(0x472FFFFF), 0x79}, // 45055.99609375
            {Float.intBitsToFloat(0xC7300000), 0xFA}, // -45056.0
            {Float.intBitsToFloat(0x47500000), 0x7A}, // 53248.0
            {Float.intBitsToFloat(0x47500001), 0x7B}, // 53248.00390625
            {Float.intBitsToFloat(0x474FFFFF), 0x7A}, // 53247.99609375
            {Float.intBitsToFloat(0xC7500000), 0xFA}, // -53248.0
            {Float.intBitsToFloat(0x47600000), 0x7B}, // 57344.0
            {Float.intBitsToFloat(0x476FFFFF), 0x7B}, // 61439.99609375
            {Float.intBitsToFloat(0x47700000), 0x7C}, // 61440.0
            {Float.intBitsToFloat(0x47700001), 0x7C}, // 61440.00390625
            {Float.intBitsToFloat(0x477FE000), 0x7C}, // 65504.0
            {Float.intBitsToFloat(0x47800000), 0x7C}, // 65536.0
            {Float.intBitsToFloat(0x49742400), 0x7C}, // 1000000.0
            {Float.intBitsToFloat(0x7F7FC99E), 0x7C}, // 3.3999999521443642e+38
            {Float.intBitsToFloat(0x7F800000), 0x7C}, // inf
            {Float.intBitsToFloat(0xFF800000), 0xFC}, // -inf
            {Float.intBitsToFloat(0xC7700000), 0xFC}, // -61440.0
            {Float.intBitsToFloat(0xC76FFFFF), 0xFB}, // -61439.99609375
            {Float.intBitsToFloat(0x37800000), 0x01}, // 1.52587890625e-05
            {Float.intBitsToFloat(0x37000000), 0x00}, // 7.62939453125e-06
            {Float.intBitsToFloat(0x37000001), 0x01}, // 7.629395440744702e-06
            {Float.intBitsToFloat(0x36FFFFFF), 0x00}, // 7.629394076502649e-06
            {Float.intBitsToFloat(0x37C00000), 0x02}, // 2.288818359375e-05
            {Float.intBitsToFloat(0x36800000), 0x00}, // 3.814697265625e-06
            {Float.intBitsToFloat(0x2EDBE6FF), 0x00}, // 1.000000013351432e-10
            {Float.intBitsToFloat(0xAEDBE6FF), 0x80}, // -1.000000013351432e-10
            {Float.intBitsToFloat(0x00000001), 0x00}, // 1.401298464324817e-45
            {Float.intBitsToFloat(0xB7000000), 0x80}, // -7.62939453125e-06
            {Float.intBitsToFloat(0xB7C00000), 0x82}, // -2.288818359375e-05
            {Float.intBitsToFloat(0x38200000), 0x02}, // 3.814697265625e-05
            {Float.intBitsToFloat(0x38600000), 0x04}, // 5.340576171875e-05
            {Float.intBitsToFloat(0xBF44841D), 0xBA}, // -0.7676408886909485
            {Float.intBitsToFloat(0x3FC463C3), 0x3E}, // 1.5342944860458374
            {Float.intBitsToFloat(0xBF2DA451), 0xB9}, // -0.6782885193824768
            {Float.intBitsToFloat(0xBF71F8F9), 0xBC}, // -0.9452052712440491
            {Float.intBitsToFloat(0xC0329041), 0xC2}, // -2.7900545597076416
            {Float.intBitsToFloat(0xBF23D0DF), 0xB9}, // -0.6399058699607849
            {Float.intBitsToFloat(0x40557CF7), 0x43}, // 3.335752248764038
            {Float.intBitsToFloat(0x3FA2DF51), 0x3D}, // 1.2724400758743286
            {Float.intBitsToFloat(0x404714AE), 0x42}, // 3.1106371879577637
            {Float.intBitsToFloat(0x3F3F2844), 0x3A}, // 0.7467081546783447
            {Float.intBitsToFloat(0x3F97976F), 0x3D}, // 1.1843088865280151
            {Float.intBitsToFloat(0x3F0E54B4), 0x38}, // 0.5559799671173096
            {Float.intBitsToFloat(0xB91E4B74), 0x89}, // -0.00015096162678673863
            {Float.intBitsToFloat(0x3A6A97AF), 0x13}, // 0.0008948994218371809
            {Float.intBitsToFloat(0x44C0C1E3), 0x66}, // 1542.0589599609375
            {Float.intBitsToFloat(0xB8BCEA7B), 0x86}, // -9.008213964989409e-05
    };

    @Test
    void allCodesDecodeLikePyTorch() {
        F8Reference.checkDecode(DECODED, code -> DType.f8e5m2ToFloat((byte) code));
    }

    @Test
    void roundingMatchesPyTorch() {
        F8Reference.checkRounding(ROUNDING, "floatToF8e5m2", x -> DType.floatToF8e5m2((float) x));
    }

    @Test
    void nanInfinityAndEveryCodeRoundTrip() {
        // PyTorch: NaN (any sign or payload) -> 0x7f / 0xff, ±inf -> 0x7c / 0xfc.
        assertEquals(0x7F, DType.floatToF8e5m2(Float.NaN) & 0xFF);
        assertEquals(0xFF, DType.floatToF8e5m2(Float.intBitsToFloat(0xFFC00000)) & 0xFF);
        assertEquals(0x7C, DType.floatToF8e5m2(Float.POSITIVE_INFINITY) & 0xFF);
        assertEquals(0xFC, DType.floatToF8e5m2(Float.NEGATIVE_INFINITY) & 0xFF);
        for (int code = 0; code < 256; code++) {
            float v = DType.f8e5m2ToFloat((byte) code);
            if (Float.isNaN(v)) {
                continue;
            }
            assertEquals(code, DType.floatToF8e5m2(v) & 0xFF, "code 0x" + Integer.toHexString(code) + " (" + v + ") must round-trip");
        }
        assertEquals(DType.F8_E5M2, DType.fromSafetensorsName("F8_E5M2"));
        assertEquals("F8_E5M2", DType.F8_E5M2.safetensorsName());
        assertEquals(1, DType.F8_E5M2.byteSize());
        assertTrue(DType.F8_E5M2.isFloatingPoint());
        assertTrue(DType.SUPPORTED_NAMES.contains("F8_E5M2"));
    }

    @Test
    void tensorGetAndSetGoThroughTheCodes() {
        try (Tensor t = Tensor.allocate(DType.F8_E5M2, 4)) {
            t.set(0, 1.125f);    // tie -> even: 1.0
            t.set(1, -0.3f);     // -0.3125
            t.set(2, 61440f);    // the tie above 57344 -> +inf
            t.set(3, 1e-10f);    // -> +0
            assertEquals(1.0f, t.get(0));
            assertEquals(-0.3125f, t.get(1));
            assertEquals(Float.POSITIVE_INFINITY, t.get(2));
            assertEquals(0f, t.get(3));
            assertEquals(0x3C, t.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0) & 0xFF);
        }
    }
}
