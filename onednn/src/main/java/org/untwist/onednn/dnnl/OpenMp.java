package org.untwist.onednn.dnnl;

import org.untwist.ffm.gen.omp.Omp;

/**
 * The OpenMP runtime oneDNN runs on. oneDNN (built with OpenMP) runs a primitive on {@code omp_get_max_threads()}
 * threads, an OpenMP setting of the calling thread; the backend sets it to its own thread count before each call.
 */
public final class OpenMp {
    private OpenMp() {
    }

    /** {@code omp_set_num_threads}: the team size of the calling thread's next parallel regions. */
    public static void setThreads(int threads) {
        Omp.omp_set_num_threads(threads);
    }

    /** {@code omp_get_max_threads} of the calling thread. */
    public static int maxThreads() {
        return Omp.omp_get_max_threads();
    }
}
