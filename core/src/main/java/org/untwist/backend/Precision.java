package org.untwist.backend;

import java.util.Locale;

/**
 * What a backend rounds to while it computes. Every backend computes in {@link #F32} unless asked otherwise, and
 * the conformance suite holds that precision to the scalar oracle; a provider lists the others it offers in
 * {@link BackendProvider#precisions()}.
 */
public enum Precision {
    /** float32 everywhere: the contract the scalar oracle defines. */
    F32,
    /**
     * The GEMMs take their operands rounded to bfloat16 and accumulate and write float32, as PyTorch's bf16 model
     * does on a bf16 GEMM unit; what else rounds to bf16 is the backend's to say ({@link Backend#describe()}).
     */
    BF16;

    /** The name users type: {@code f32}, {@code bf16}. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * The precision named by {@code text} ({@code f32}, {@code fp32}, {@code float32}, {@code bf16},
     * {@code bfloat16}; any case).
     *
     * @param what how the value was given, for the message (e.g. {@code "--precision"})
     * @throws IllegalArgumentException for any other text
     */
    public static Precision parse(String what, String text) {
        String p = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
        return switch (p) {
            case "f32", "fp32", "float32" -> F32;
            case "bf16", "bfloat16" -> BF16;
            default -> throw new IllegalArgumentException(what + "=" + text + ": expected f32 or bf16");
        };
    }
}
