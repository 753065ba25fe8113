package org.untwist.vector;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The scratch memory of one {@link ComputePool} thread, grown on demand and reused across calls. A thread runs one
 * task at a time, so each buffer has one user at a time. The float arrays are left to the garbage collector; the
 * native panel is freed by {@link #free} once the pool's threads are gone.
 */
final class Scratch {
    // linear with few rows (VectorGemv): one column block of BF16/F16/F8_E4M3/F8_E5M2/Q8_0/Q4_K weights widened to float
    private Arena arena;
    private MemorySegment panel = MemorySegment.NULL;
    /** Which (call, column block) the panel holds, so consecutive tasks on one block widen it once. */
    long panelCall = -1;
    int panelBlock = -1;

    /** applyRope: the diagonal and cross coefficients of one token. */
    private float[] rope = new float[0];
    /** adaIn: per-channel mean, standard deviation and partial sums (see {@link #stats}). */
    float[] mean = new float[0], std = new float[0], part = new float[0];
    /** attentionProbs: packed queries, packed key tiles and one score tile (see {@link AttentionScores}). */
    private float[] queryTiles = new float[0], keyTiles = new float[0], scoreTile = new float[0];
    /** chunkLogits: the task's scaled queries, one (query, key)'s chunk terms, band sums, band-masked query copies. */
    private float[] chunkQueries = new float[0], chunkTerms = new float[0], bandSums = new float[0], maskedQueries = new float[0];

    /** A native panel of at least {@code bytes}, 64-byte aligned; its content is kept while it is large enough. */
    MemorySegment panel(long bytes) {
        if (panel.byteSize() < bytes) {
            free();
            arena = Arena.ofShared();
            panel = arena.allocate(bytes, 64);
        }
        return panel;
    }

    float[] rope(int n) {
        return rope = atLeast(rope, n);
    }

    /** Makes {@link #mean}, {@link #std} and {@link #part} hold at least {@code headDim} floats. */
    void stats(int headDim) {
        if (mean.length < headDim) {
            mean = new float[headDim];
            std = new float[headDim];
            part = new float[headDim];
        }
    }

    float[] queryTiles(int n) {
        return queryTiles = atLeast(queryTiles, n);
    }

    float[] keyTiles(int n) {
        return keyTiles = atLeast(keyTiles, n);
    }

    float[] scoreTile(int n) {
        return scoreTile = atLeast(scoreTile, n);
    }

    float[] chunkQueries(int n) {
        return chunkQueries = atLeast(chunkQueries, n);
    }

    float[] chunkTerms(int n) {
        return chunkTerms = atLeast(chunkTerms, n);
    }

    float[] bandSums(int n) {
        return bandSums = atLeast(bandSums, n);
    }

    float[] maskedQueries(int n) {
        return maskedQueries = atLeast(maskedQueries, n);
    }

    /** {@code a} if it holds {@code n} floats, else a new zeroed array of {@code n} (the old content is not kept). */
    private static float[] atLeast(float[] a, int n) {
        return a.length >= n ? a : new float[n];
    }

    /** Frees the native panel: by its thread before growing it, by the pool once its threads are gone. */
    void free() {
        if (arena != null) {
            arena.close();
            arena = null;
        }
        panel = MemorySegment.NULL;
        panelCall = -1;
        panelBlock = -1;
    }
}
