package org.untwist.onednn;

/**
 * The shape of one oneDNN matmul call: {@code dst[m, n] = src[m, k] · w[n, k]ᵀ (+ bias[n])}, with dst's rows
 * {@code ldc} floats apart (a block of output columns of a wider {@code out}). A primitive is made per shape.
 */
record MatmulShape(int m, int k, int n, int ldc, boolean bias) {
}
