package org.untwist.vector;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Per-thread scratch, grown on demand and reused across calls. */
final class Scratch {
    private Arena arena;
    private MemorySegment panel = MemorySegment.NULL;
    /** Which (call, column block) the panel holds, so consecutive tasks on one block widen it once. */
    long panelCall = -1;
    int panelBlock = -1;
    float[] qOwn = new float[0], qRef = new float[0], acc = new float[0], logits = new float[0];
    float[] max = new float[0], sum = new float[0];
    /** applyRope: the diagonal and cross coefficients of one block of tokens. */
    float[] rope = new float[0];

    float[] rope(int n) {
        if (rope.length < n) {
            rope = new float[n];
        }
        return rope;
    }
    /** adaIn: per-channel statistics and partial sums; chunkLogits: band accumulators and band-masked queries. */
    float[] mean = new float[0], std = new float[0], part = new float[0], band = new float[0], masked = new float[0];

    MemorySegment panel(long bytes) {
        if (panel.byteSize() < bytes) {
            free();
            arena = Arena.ofShared();
            panel = arena.allocate(bytes, 64);
        }
        return panel;
    }

    void attention(int headDim) {
        int n = VectorBackend.ATT_QUERIES * headDim;
        if (qOwn.length < n) {
            qOwn = new float[n];
            qRef = new float[n];
            acc = new float[n];
        }
        if (logits.length < VectorBackend.ATT_QUERIES * VectorBackend.ATT_KEYS) {
            logits = new float[VectorBackend.ATT_QUERIES * VectorBackend.ATT_KEYS];
            max = new float[VectorBackend.ATT_QUERIES];
            sum = new float[VectorBackend.ATT_QUERIES];
        }
    }

    void stats(int headDim) {
        if (mean.length < headDim) {
            mean = new float[headDim];
            std = new float[headDim];
            part = new float[headDim];
        }
    }

    float[] maskedQuery(int n) {
        if (masked.length < n) {
            masked = new float[n];
        }
        return masked;
    }

    float[] bands(int bands) {
        if (band.length < bands) {
            band = new float[bands];
        }
        return band;
    }

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
