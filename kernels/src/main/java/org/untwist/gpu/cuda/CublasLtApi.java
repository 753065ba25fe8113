package org.untwist.gpu.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.untwist.ffm.CudaCheck;
import org.untwist.ffm.gen.cublaslt.CublasLt;
import org.untwist.ffm.gen.cublaslt.cublasLtMatmulHeuristicResult_t;
import org.untwist.gpu.cuda.CublasApi.ComputeType;
import org.untwist.gpu.cuda.CublasApi.DataType;
import org.untwist.gpu.cuda.CublasApi.Operation;

/**
 * The cuBLASLt calls the GPU backend makes: a column-major {@code D = op(A) · op(B)} with an epilogue (bias, GELU)
 * applied as the tile is written, so that a linear layer's bias and activation cost no pass of their own. A
 * {@link Plan} holds the descriptors and the algorithm the heuristic chose for one shape, types, epilogue and set
 * of pointer alignments; it is made once and reused. Statuses are checked by {@link CudaCheck} (cuBLASLt returns
 * {@code cublasStatus_t}). Call only after {@link org.untwist.ffm.CudaLibraries} has loaded cuBLASLt.
 */
public final class CublasLtApi {
    private CublasLtApi() {
    }

    /** {@code cublasLtEpilogue_t}: what is applied to each output element as it is written. */
    public enum Epilogue {
        NONE(CublasLt.CUBLASLT_EPILOGUE_DEFAULT(), false),
        BIAS(CublasLt.CUBLASLT_EPILOGUE_BIAS(), true),
        /** GELU, tanh approximation (what cuBLASLt implements; checked against our kernel on the device). */
        GELU(CublasLt.CUBLASLT_EPILOGUE_GELU(), false),
        GELU_BIAS(CublasLt.CUBLASLT_EPILOGUE_GELU_BIAS(), true);

        final int code;
        /** Whether the epilogue reads a bias vector (one value per row of D). */
        public final boolean bias;

        Epilogue(int code, boolean bias) {
            this.code = code;
            this.bias = bias;
        }

        /** The epilogue for a layer with or without a bias, with or without GELU. */
        public static Epilogue of(boolean bias, boolean gelu) {
            return gelu ? (bias ? GELU_BIAS : GELU) : (bias ? BIAS : NONE);
        }
    }

    /** {@code cublasLtCreate}: a new handle. */
    public static MemorySegment create() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            CudaCheck.cublas(CublasLt.cublasLtCreate(p), "cublasLtCreate");
            return p.get(ADDRESS, 0);
        }
    }

    /** {@code cublasLtDestroy}, status ignored (close and clean-up paths). */
    public static void destroy(MemorySegment handle) {
        CublasLt.cublasLtDestroy(handle);
    }

    /**
     * Descriptors and the candidate algorithms of one matmul: {@code D[m, n] = op(A) · op(B)} (+ epilogue), A and B of
     * type {@code ab}, C = D of type {@code cd}, float32 compute and scalars. The heuristic's candidates in its order;
     * {@link #matmul} runs the chosen one, the heuristic's first until {@link #choose} picks another (a caller that
     * times them). Closing destroys the descriptors.
     */
    public static final class Plan implements AutoCloseable {
        private final Arena arena = Arena.ofShared();
        private final MemorySegment desc, aLayout, bLayout, dLayout;
        private final java.util.List<MemorySegment> algos = new java.util.ArrayList<>(); // cublasLtMatmulAlgo_t each
        private final long[] workspaces;
        private final MemorySegment biasSlot; // the bias pointer attribute's value, rewritten per call
        private final Epilogue epilogue;
        private int chosen;
        private boolean tuned;
        private boolean closed;

        private Plan(MemorySegment desc, MemorySegment aLayout, MemorySegment bLayout, MemorySegment dLayout, Epilogue epilogue,
                     MemorySegment heuristicResults, int count) {
            this.desc = desc;
            this.aLayout = aLayout;
            this.bLayout = bLayout;
            this.dLayout = dLayout;
            this.epilogue = epilogue;
            this.workspaces = new long[count];
            for (int i = 0; i < count; i++) {
                MemorySegment r = cublasLtMatmulHeuristicResult_t.asSlice(heuristicResults, i);
                algos.add(arena.allocate(cublasLtMatmulHeuristicResult_t.algo$layout()).copyFrom(cublasLtMatmulHeuristicResult_t.algo(r)));
                workspaces[i] = cublasLtMatmulHeuristicResult_t.workspaceSize(r);
            }
            this.biasSlot = arena.allocate(ADDRESS);
        }

        /** Workspace the chosen algorithm needs: at most the limit the plan was made with. */
        public long workspaceBytes() {
            return workspaces[chosen];
        }

        /** How many algorithms the heuristic offered (at least 1). */
        public int candidates() {
            return algos.size();
        }

        /** Runs candidate {@code i} from now on, and marks the plan tuned. */
        public void choose(int i) {
            if (i < 0 || i >= algos.size()) {
                throw new IndexOutOfBoundsException("candidate " + i + " of " + algos.size());
            }
            chosen = i;
            tuned = true;
        }

        /** The candidate that runs. */
        public int chosen() {
            return chosen;
        }

        /** Whether {@link #choose} was called (a caller timed the candidates). */
        public boolean tuned() {
            return tuned;
        }

        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            CublasLt.cublasLtMatrixLayoutDestroy(aLayout);
            CublasLt.cublasLtMatrixLayoutDestroy(bLayout);
            CublasLt.cublasLtMatrixLayoutDestroy(dLayout);
            CublasLt.cublasLtMatmulDescDestroy(desc);
            arena.close();
        }
    }

    /**
     * A plan for {@code D[m, n] = op(A)[m, k] · op(B)[k, n]} with the epilogue, or {@code null} when the heuristic
     * offers no algorithm for it (the caller then takes another path). {@code align*} are the byte alignments of
     * the pointers the plan will be used with (the heuristic assumes 256 unless told: an algorithm chosen for
     * aligned pointers may not run on others); the bias pointer given is used for its alignment only.
     */
    public static Plan plan(MemorySegment handle, Operation transA, Operation transB, int m, int n, int k, DataType ab, int lda, int ldb,
                            DataType cd, int ldd, Epilogue epilogue, long biasAddress, int alignA, int alignB, int alignD,
                            long maxWorkspaceBytes) {
        return plan(handle, transA, transB, m, n, k, ab, lda, ldb, cd, ldd, epilogue, biasAddress, alignA, alignB, alignD, maxWorkspaceBytes, 1);
    }

    /** As above, keeping up to {@code maxAlgorithms} of the heuristic's algorithms as the plan's candidates. */
    public static Plan plan(MemorySegment handle, Operation transA, Operation transB, int m, int n, int k, DataType ab, int lda, int ldb,
                            DataType cd, int ldd, Epilogue epilogue, long biasAddress, int alignA, int alignB, int alignD,
                            long maxWorkspaceBytes, int maxAlgorithms) {
        int want = Math.max(1, maxAlgorithms);
        MemorySegment desc = MemorySegment.NULL, aL = MemorySegment.NULL, bL = MemorySegment.NULL, dL = MemorySegment.NULL;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            CudaCheck.cublas(CublasLt.cublasLtMatmulDescCreate(p, ComputeType.F32.code, DataType.F32.code), "cublasLtMatmulDescCreate");
            desc = p.get(ADDRESS, 0);
            setInt(desc, CublasLt.CUBLASLT_MATMUL_DESC_TRANSA(), transA.code, a);
            setInt(desc, CublasLt.CUBLASLT_MATMUL_DESC_TRANSB(), transB.code, a);
            setInt(desc, CublasLt.CUBLASLT_MATMUL_DESC_EPILOGUE(), epilogue.code, a);
            if (epilogue.bias) { // the bias has D's type (float32) by default
                setBias(desc, biasAddress, a.allocate(ADDRESS));
            }
            // Column-major layouts as stored: A is (transA ? k : m) rows, B (transB ? n : k) rows.
            aL = layout(ab, transA == Operation.N ? m : k, transA == Operation.N ? k : m, lda, a);
            bL = layout(ab, transB == Operation.N ? k : n, transB == Operation.N ? n : k, ldb, a);
            dL = layout(cd, m, n, ldd, a);
            CudaCheck.cublas(CublasLt.cublasLtMatmulPreferenceCreate(p), "cublasLtMatmulPreferenceCreate");
            MemorySegment pref = p.get(ADDRESS, 0);
            MemorySegment result = a.allocate(cublasLtMatmulHeuristicResult_t.layout(), want);
            MemorySegment count = a.allocate(JAVA_INT);
            int status;
            try {
                setPref(pref, CublasLt.CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES(), JAVA_LONG, maxWorkspaceBytes, a);
                setPref(pref, CublasLt.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES(), JAVA_INT, alignA, a);
                setPref(pref, CublasLt.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES(), JAVA_INT, alignB, a);
                setPref(pref, CublasLt.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES(), JAVA_INT, alignD, a);
                setPref(pref, CublasLt.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES(), JAVA_INT, alignD, a);
                status = CublasLt.cublasLtMatmulAlgoGetHeuristic(handle, desc, aL, bL, dL, dL, pref, want, result, count);
            } finally {
                CublasLt.cublasLtMatmulPreferenceDestroy(pref);
            }
            int usable = 0; // the results are in the heuristic's order; keep the leading ones it marked usable
            while (status == 0 && usable < Math.min(want, count.get(JAVA_INT, 0))
                    && cublasLtMatmulHeuristicResult_t.state(cublasLtMatmulHeuristicResult_t.asSlice(result, usable)) == 0) {
                usable++;
            }
            if (usable == 0) {
                destroyAll(desc, aL, bL, dL);
                return null; // no algorithm for this combination: not an error, the caller falls back
            }
            return new Plan(desc, aL, bL, dL, epilogue, result, usable);
        } catch (RuntimeException e) {
            destroyAll(desc, aL, bL, dL);
            throw e;
        }
    }

    /**
     * {@code cublasLtMatmul} with the plan: {@code D = alpha · op(A) · op(B) (+ bias, GELU)} with beta 0 (C is D,
     * not read). {@code alpha}, {@code beta}: host float32 scalars; the workspace at least the plan's.
     */
    public static void matmul(MemorySegment handle, Plan plan, MemorySegment alpha, MemorySegment beta, long a, long b, long d, long bias,
                              long workspace, long workspaceBytes, MemorySegment stream, String what) {
        if (plan.epilogue.bias) {
            setBias(plan.desc, bias, plan.biasSlot);
        }
        MemorySegment dp = MemorySegment.ofAddress(d);
        CudaCheck.cublas(CublasLt.cublasLtMatmul(handle, plan.desc, alpha, MemorySegment.ofAddress(a), plan.aLayout, MemorySegment.ofAddress(b),
                plan.bLayout, beta, dp, plan.dLayout, dp, plan.dLayout, plan.algos.get(plan.chosen), MemorySegment.ofAddress(workspace), workspaceBytes,
                stream),
                "cublasLtMatmul(" + what + ")");
    }

    private static MemorySegment layout(DataType type, long rows, long cols, long ld, Arena a) {
        MemorySegment p = a.allocate(ADDRESS);
        CudaCheck.cublas(CublasLt.cublasLtMatrixLayoutCreate(p, type.code, rows, cols, ld), "cublasLtMatrixLayoutCreate");
        return p.get(ADDRESS, 0);
    }

    private static void setInt(MemorySegment desc, int attr, int value, Arena a) {
        MemorySegment v = a.allocateFrom(JAVA_INT, value);
        CudaCheck.cublas(CublasLt.cublasLtMatmulDescSetAttribute(desc, attr, v, 4), "cublasLtMatmulDescSetAttribute(" + attr + ")");
    }

    private static void setBias(MemorySegment desc, long bias, MemorySegment slot) {
        slot.set(ADDRESS, 0, MemorySegment.ofAddress(bias));
        CudaCheck.cublas(CublasLt.cublasLtMatmulDescSetAttribute(desc, CublasLt.CUBLASLT_MATMUL_DESC_BIAS_POINTER(), slot, ADDRESS.byteSize()),
                "cublasLtMatmulDescSetAttribute(bias pointer)");
    }

    private static <L extends java.lang.foreign.ValueLayout> void setPref(MemorySegment pref, int attr, L layout, long value, Arena a) {
        MemorySegment v = a.allocate(layout);
        if (layout.byteSize() == 8) {
            v.set(JAVA_LONG, 0, value);
        } else {
            v.set(JAVA_INT, 0, (int) value);
        }
        CudaCheck.cublas(CublasLt.cublasLtMatmulPreferenceSetAttribute(pref, attr, v, layout.byteSize()),
                "cublasLtMatmulPreferenceSetAttribute(" + attr + ")");
    }

    private static void destroyAll(MemorySegment desc, MemorySegment aL, MemorySegment bL, MemorySegment dL) {
        for (MemorySegment l : new MemorySegment[] {aL, bL, dL}) {
            if (l.address() != 0) {
                CublasLt.cublasLtMatrixLayoutDestroy(l);
            }
        }
        if (desc.address() != 0) {
            CublasLt.cublasLtMatmulDescDestroy(desc);
        }
    }
}
