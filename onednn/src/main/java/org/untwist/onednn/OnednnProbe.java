package org.untwist.onednn;

import java.lang.foreign.MemorySegment;
import java.util.function.Supplier;
import org.untwist.ffm.DnnlLibraries;
import org.untwist.onednn.dnnl.DnnlApi;
import org.untwist.vector.VectorBackendProvider;

/**
 * Whether the onednn backend can run here, found once per JVM: the vector backend it extends runs, oneDNN 2 and its
 * OpenMP runtime load, oneDNN runs on OpenMP (so the backend's thread count reaches it), oneDNN finds bf16
 * instructions on this CPU, and its bf16 matmul is a JIT kernel rather than the reference code.
 *
 * @param reason  why not, one line; {@code null} when it can
 * @param version oneDNN's version, when it loaded
 * @param isa     the instruction set oneDNN's kernels use, when it loaded
 * @param impl    the implementation of a probe bf16 matmul (e.g. {@code brg:avx512_core_bf16}), when made
 */
record OnednnProbe(String reason, String version, String isa, String impl) {
    /** The probe matmul: one register block's worth of rows and columns, a few of them deep. */
    private static final MatmulShape PROBE = new MatmulShape(64, 256, 64, 64, true);

    private static final class Once { // lazy holder: probed on first use
        static final OnednnProbe RESULT = probe(DnnlLibraries::load);
    }

    /** The outcome, probed on the first call. */
    static OnednnProbe result() {
        return Once.RESULT;
    }

    /**
     * Probes with {@code loadLibraries} as the library loader (it returns why the libraries cannot load, or
     * {@code null}); tests pass one that reports them missing.
     */
    static OnednnProbe probe(Supplier<String> loadLibraries) {
        String why = new VectorBackendProvider().unavailableReason();
        if (why != null) {
            return new OnednnProbe("the vector backend it extends cannot run: " + why, null, null, null);
        }
        why = loadLibraries.get();
        if (why != null) {
            return new OnednnProbe(why, null, null, null);
        }
        String version = DnnlApi.version();
        String isa = DnnlApi.effectiveIsa();
        if (!DnnlApi.usesOpenMp()) {
            return new OnednnProbe("oneDNN " + version + " is not built with OpenMP, so the backend's thread count cannot reach it", version, isa, null);
        }
        if (!DnnlApi.hasBf16Instructions()) {
            return new OnednnProbe("oneDNN " + version + " finds no bf16 instructions on this CPU (its ISA here: " + isa
                    + "; needs avx512_core_bf16 or AMX): its bf16 matmul would be emulated, slower than float32", version, isa, null);
        }
        String impl;
        MemorySegment engine = DnnlApi.engineCreate();
        try (MatmulPrimitive p = new MatmulPrimitive(engine, PROBE)) {
            impl = p.impl;
        } finally {
            DnnlApi.engineDestroy(engine);
        }
        if (impl.startsWith("ref")) {
            return new OnednnProbe("oneDNN " + version + " has only its reference bf16 matmul here (" + impl + ")", version, isa, impl);
        }
        return new OnednnProbe(null, version, isa, impl);
    }
}
