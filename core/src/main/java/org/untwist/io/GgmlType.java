package org.untwist.io;

import org.untwist.tensor.DType;

/**
 * The tensor types a GGUF file names by GGML type id ({@code ggml_type}). Each known id has its name, so that a type
 * this reader cannot dequantize is named in the message; those it reads map to a {@link DType}.
 */
enum GgmlType {
    F32(0, DType.F32), F16(1, DType.F16), Q4_0(2, null), Q4_1(3, null), Q5_0(6, null), Q5_1(7, null), Q8_0(8, DType.Q8_0),
    Q8_1(9, null), Q2_K(10, null), Q3_K(11, null), Q4_K(12, DType.Q4_K), Q5_K(13, null), Q6_K(14, null), Q8_K(15, null),
    IQ2_XXS(16, null), IQ2_XS(17, null), IQ3_XXS(18, null), IQ1_S(19, null), IQ4_NL(20, null), IQ3_S(21, null), IQ2_S(22, null),
    IQ4_XS(23, null), I8(24, null), I16(25, null), I32(26, DType.I32), I64(27, DType.I64), F64(28, null), IQ1_M(29, null),
    BF16(30, DType.BF16), TQ1_0(34, null), TQ2_0(35, null), MXFP4(39, null), NVFP4(40, null), Q1_0(41, null);

    /** The names of the types this reader maps to a {@link DType}, for messages. */
    static final String SUPPORTED = "F32, F16, BF16, Q8_0, Q4_K, I32, I64";

    final int id;
    /** The untwist type, or null when this reader does not read the type. */
    final DType dtype;

    GgmlType(int id, DType dtype) {
        this.id = id;
        this.dtype = dtype;
    }

    /** The type with GGML id {@code id}, or null for an id no GGML version has used. */
    static GgmlType byId(long id) {
        for (GgmlType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        return null;
    }
}
