package org.untwist.backend;

import java.util.Arrays;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/** The argument checks every {@link AbstractBackend} operation shares: each failure names the operation, argument and shape. */
final class ArgumentChecks {
    private ArgumentChecks() {
    }

    /** Throws unless {@code t} is float32. */
    static void requireF32(String op, String arg, Tensor t) {
        if (t == null) {
            throw new IllegalArgumentException(op + ": " + arg + " is null");
        }
        if (t.dtype() != DType.F32) {
            throw new IllegalArgumentException(op + ": " + arg + " must be F32, got " + t.dtype() + " " + Arrays.toString(t.shape()));
        }
    }

    /**
     * An activation: F32, or BF16 where {@code bf16} (the backend takes BF16 activations here: {@link
     * Backend#roundedActivationType}).
     */
    static void requireActivation(String op, String arg, Tensor t, boolean bf16) {
        if (!(bf16 && t != null && t.dtype() == DType.BF16)) {
            requireF32(op, arg, t);
        }
    }

    /** An activation of {@code like}'s element type (both F32 or both BF16). */
    static void requireLike(String op, String arg, Tensor t, Tensor like) {
        if (t == null || t.dtype() != like.dtype()) {
            throw new IllegalArgumentException(op + ": " + arg + " must be " + like.dtype() + " like the other activations, got "
                    + (t == null ? "null" : t.dtype() + " " + Arrays.toString(t.shape())));
        }
    }

    static void requireFloatingPoint(String op, String arg, Tensor t) {
        if (!t.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException(op + ": " + arg + " must be F32, BF16, F16, F8_E4M3 or F8_E5M2, got " + t.dtype() + " "
                    + Arrays.toString(t.shape()) + (t.dtype().isBlockQuantized() ? BLOCK_QUANTIZED_OPS : ""));
        }
    }

    /** What a refusal of a block-quantized tensor adds: where such tensors are taken. */
    static final String BLOCK_QUANTIZED_OPS = " (block-quantized tensors are taken only as the weight of linear and the table of embedding)";

    /** Throws unless {@code t} is a weight type: floating point, or block-quantized ({@link DType#isBlockQuantized()}). */
    static void requireWeight(String op, String arg, Tensor t) {
        if (!t.dtype().isFloatingPoint() && !t.dtype().isBlockQuantized()) {
            throw new IllegalArgumentException(op + ": " + arg + " must be F32, BF16, F16, F8_E4M3, F8_E5M2, Q8_0 or Q4_K, got " + t.dtype() + " "
                    + Arrays.toString(t.shape()));
        }
    }

    /** Throws for a block-quantized tensor, which the layout operations cannot cut or move element by element. */
    static void requireElementwise(String op, String arg, Tensor t) {
        if (t.dtype().isBlockQuantized()) {
            throw new IllegalArgumentException(op + ": " + arg + " is " + t.dtype() + " " + Arrays.toString(t.shape()) + BLOCK_QUANTIZED_OPS);
        }
    }

    static void requireRank(String op, String arg, Tensor t, int rank) {
        if (t == null) {
            throw new IllegalArgumentException(op + ": " + arg + " is null");
        }
        if (t.rank() != rank) {
            throw shapeError(op, arg, t, "rank " + rank);
        }
    }

    static void requireShape(String op, String arg, Tensor t, int... shape) {
        if (t == null) {
            throw new IllegalArgumentException(op + ": " + arg + " is null");
        }
        if (!t.hasShape(shape)) {
            throw shapeError(op, arg, t, Arrays.toString(shape));
        }
    }

    static void requireSameShape(String op, String arg, Tensor t, Tensor like) {
        requireShape(op, arg, t, like.shape());
    }

    static void requireRows(String op, Tensor x, Tensor out) {
        requireF32(op, "x", x);
        if (x.rank() < 1) {
            throw shapeError(op, "x", x, "rank >= 1");
        }
        requireSameShape(op, "out", out, x);
        requireF32(op, "out", out);
    }

    static void requirePerBatch(String op, String arg, Tensor t, Tensor x) {
        requireF32(op, arg, t);
        requireShape(op, arg, t, x.dim(0), x.dim(2));
    }

    static void requireEps(String op, float eps) {
        if (!(eps >= 0) || Float.isInfinite(eps)) {
            throw new IllegalArgumentException(op + ": eps must be finite and non-negative, got " + eps);
        }
    }

    static void requireDistinct(String op, Tensor in, Tensor out) {
        if (in.overlaps(out)) {
            throw new IllegalArgumentException(op + ": out must not overlap the input");
        }
    }

    static int toInt(String op, long n) {
        if (n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(op + ": " + n + " rows exceed the supported maximum");
        }
        return (int) n;
    }

    static IllegalArgumentException shapeError(String op, String arg, Tensor t, String expected) {
        return new IllegalArgumentException(op + ": " + arg + " has shape " + Arrays.toString(t.shape()) + ", expected " + expected);
    }

    /** Checks a linear layer's arguments (x float32, weight a weight type, out and bias matching, out not x); returns {rows, in, outDim}. */
    static int[] checkLinear(String op, Tensor x, Tensor weight, Tensor bias, Tensor out, boolean bf16) {
        requireActivation(op, "x", x, bf16);
        requireActivation(op, "out", out, bf16);
        requireRank(op, "weight", weight, 2);
        requireWeight(op, "weight", weight);
        int in = weight.dim(0) == 0 && weight.dim(1) == 0 ? 0 : weight.dim(1);
        int outDim = weight.dim(0);
        if (x.rank() < 1 || x.dim(-1) != in) {
            throw shapeError(op, "x", x, "[..., " + in + "] to match weight " + Arrays.toString(weight.shape()));
        }
        requireLinearOutput(op, x, outDim, bias, out);
        return new int[] {toInt(op, x.rows()), in, outDim};
    }

    /** A linear layer's output {@code [x's leading dimensions..., outDim]} and bias {@code [outDim]} (or null); out not x. */
    private static void requireLinearOutput(String op, Tensor x, int outDim, Tensor bias, Tensor out) {
        int[] expectedOut = x.shape();
        expectedOut[expectedOut.length - 1] = outDim;
        requireShape(op, "out", out, expectedOut);
        if (bias != null) {
            requireF32(op, "bias", bias);
            requireShape(op, "bias", bias, outDim);
        }
        requireDistinct(op, x, out);
    }

    /**
     * Checks {@code linearConcat}'s arguments: a {@code [..., ka]} and b {@code [..., kb]} float32 with the same leading
     * dimensions, weight {@code [out, ka + kb]} of a weight type, out and bias as for a linear layer, out neither a nor
     * b. Returns {@code {rows, ka, kb, outDim}}.
     */
    static int[] checkLinearConcat(String op, Tensor a, Tensor b, Tensor weight, Tensor bias, Tensor out, boolean bf16) {
        requireActivation(op, "a", a, bf16);
        requireLike(op, "b", b, a);
        if (a.rank() < 1 || b.rank() != a.rank()) {
            throw shapeError(op, "b", b, "rank " + a.rank() + " like a " + Arrays.toString(a.shape()));
        }
        for (int i = 0; i < a.rank() - 1; i++) {
            if (a.dim(i) != b.dim(i)) {
                throw shapeError(op, "b", b, "the leading dimensions of a " + Arrays.toString(a.shape()));
            }
        }
        requireActivation(op, "out", out, bf16);
        requireRank(op, "weight", weight, 2);
        requireWeight(op, "weight", weight);
        int ka = a.dim(-1), kb = b.dim(-1), outDim = weight.dim(0);
        if (weight.dim(1) != ka + kb) {
            throw shapeError(op, "weight", weight, "[out, " + (ka + kb) + "] for a's " + ka + " and b's " + kb + " features");
        }
        requireLinearOutput(op, a, outDim, bias, out);
        requireDistinct(op, b, out);
        long rows = 1; // from the leading dimensions: a's rows() is 0 when ka is
        for (int i = 0; i < a.rank() - 1; i++) {
            rows *= a.dim(i);
        }
        return new int[] {toInt(op, rows), ka, kb, outDim};
    }

    /**
     * The checks of {@code splitQkv}: {@code qkv [b, l, 3·h·d]} and q, k, v {@code [b, h, lTot, d]} float32, tokens
     * {@code [tokenOffset, tokenOffset + l)} inside {@code lTot}. Returns {@code {b, h, l, lTot, d}}.
     */
    static int[] checkSplitQkv(String op, Tensor qkv, Tensor q, Tensor k, Tensor v, int tokenOffset, boolean bf16) {
        requireActivation(op, "qkv", qkv, bf16);
        requireRank(op, "qkv", qkv, 3);
        requireLike(op, "q", q, qkv);
        requireRank(op, "q", q, 4);
        requireSameShape(op, "k", k, q);
        requireSameShape(op, "v", v, q);
        requireLike(op, "k", k, qkv);
        requireLike(op, "v", v, qkv);
        int b = q.dim(0), h = q.dim(1), lTot = q.dim(2), d = q.dim(3);
        int l = qkv.dim(1);
        if (qkv.dim(0) != b || qkv.dim(2) != 3 * h * d) {
            throw shapeError(op, "qkv", qkv, "[" + b + ", L, " + 3 * h * d + "] for q " + Arrays.toString(q.shape()));
        }
        if (tokenOffset < 0 || tokenOffset + l > lTot) {
            throw new IllegalArgumentException(op + ": tokens [" + tokenOffset + ", " + (tokenOffset + l) + ") do not fit in " + lTot);
        }
        return new int[] {b, h, l, lTot, d};
    }

    /**
     * A RoPE table for {@code x} ({@code b} batches of {@code l} tokens with head dimension {@code d}, which must be
     * even): float32 {@code [1 or b, 1, l, d/2, 2, 2]}. Returns its batch dimension.
     */
    static int checkRopeTable(String op, Tensor pe, int b, int l, int d, String arg, Tensor x) {
        if (d % 2 != 0) {
            throw shapeError(op, arg, x, "an even head dimension");
        }
        requireF32(op, "pe", pe);
        requireRank(op, "pe", pe, 6);
        int peBatch = pe.dim(0);
        if ((peBatch != 1 && peBatch != b) || !pe.hasShape(peBatch, 1, l, d / 2, 2, 2)) {
            throw shapeError(op, "pe", pe, "[1 or " + b + ", 1, " + l + ", " + d / 2 + ", 2, 2] to match " + arg + " " + Arrays.toString(x.shape()));
        }
        return peBatch;
    }
}
