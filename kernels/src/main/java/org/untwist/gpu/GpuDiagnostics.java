package org.untwist.gpu;

import java.lang.foreign.MemorySegment;
import java.util.List;
import org.untwist.backend.StreamClock;

/**
 * A {@link GpuBackend}'s knobs and read-outs for benchmarks, profiles and tests, apart from the {@code Backend}
 * operations: which attention implementation ran and which cuDNN and cuBLASLt plans were chosen, shared attention's
 * pass count and GEMM autotuning set per backend (their properties set every backend's default), the last cuDNN
 * attention replayed, cuDNN's engines surveyed, and a {@link StreamClock} on the backend's stream.
 */
public final class GpuDiagnostics {
    private final GpuAttention attention;
    private final CublasGemm gemm;
    private final MemorySegment stream;
    private final String device;

    GpuDiagnostics(GpuAttention attention, CublasGemm gemm, MemorySegment stream, String device) {
        this.attention = attention;
        this.gemm = gemm;
        this.stream = stream;
        this.device = device;
    }

    /** Which attention implementation the last attention call used. */
    public String lastAttentionPath() {
        return attention.lastAttentionPath();
    }

    /** The cuDNN engine configurations the last cuDNN attention call used, with the first-use timings. */
    public String lastCudnnChoice() {
        return attention.lastCudnnChoice();
    }

    /** The backend's {@link GpuBackend#SHARED_PASSES_PROPERTY} from now on: 1 or 2 (0: the default). */
    public void sharedPasses(int passes) {
        attention.sharedPasses(passes);
    }

    /** The last bf16 attention's cuDNN SDPA call(s) again on the operands it left (bf16 in and out). */
    public void rerunLastCudnn() {
        attention.rerunLastCudnn();
    }

    /**
     * Every cuDNN engine configuration for one SDPA shape ({@code b × h} heads, {@code lq} queries, {@code skv} keys of
     * dimension {@code d}) in two layouts, with and without statistics, timed on the operands the last one-pass cuDNN
     * attention left on the device; one line each.
     */
    public List<String> cudnnSurvey(int b, int h, int lq, int skv, int d, int warm, int runs) {
        return attention.cudnnSurvey(b, h, lq, skv, d, warm, runs);
    }

    /** A {@link StreamClock} on the backend's stream (CUDA events): operations timed without synchronizing. Close it before the backend. */
    public StreamClock streamClock() {
        return new GpuStreamClock(stream, device);
    }

    /**
     * cuBLASLt algorithms chosen by timing ({@code -Duntwist.gpu.gemmAutotune}) on or off for this backend from now on;
     * between operations, on the thread that uses the backend (the plans made so far are dropped).
     */
    public void gemmAutotune(boolean on) {
        gemm.autotune(on);
    }

    /** How many cuBLASLt plans were tuned by timing their candidates. */
    public long autotunedGemms() {
        return gemm.autotuned();
    }

    /** How many linearConcat calls ran as two GEMMs over the weights' column blocks, joining nothing (tests check the path ran). */
    long unjoinedConcats() {
        return gemm.unjoinedConcats();
    }

    /** How many linear layers ran with cuBLASLt's fused bias/GELU epilogue (tests check the path ran). */
    long epilogueGemms() {
        return gemm.epilogueGemms();
    }
}
