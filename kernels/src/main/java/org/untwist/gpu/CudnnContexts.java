package org.untwist.gpu;

import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The cuDNN contexts ({@link CudnnAttention}: a handle and the attention plans finalized on it) that closed backends
 * left behind, per device, for the next backend to take. Finalizing a fused-attention plan compiles its kernels, which
 * costs far more than a small pipeline's whole generation; PyTorch keeps its cuDNN handles in a pool and its
 * finalized plans in a process-wide cache for the same reason. A context serves one backend at a time, so nothing
 * cuDNN holds is shared between threads. At most {@link #MAX_IDLE} contexts wait per device (more are closed): what
 * they hold on the device is set up once, as the loaded libraries and compiled kernels are, and does not grow with the
 * number of backends made and closed. {@link #closeIdle} releases them.
 */
final class CudnnContexts {
    /** Idle contexts kept per device: enough for a few backends that live and close side by side. */
    static final int MAX_IDLE = 4;

    private static final Map<String, Deque<CudnnAttention>> IDLE = new HashMap<>();

    private CudnnContexts() {
    }

    /** An idle context of {@code device} moved to {@code stream}, or a new one. */
    static CudnnAttention take(String device, MemorySegment stream) {
        while (true) {
            CudnnAttention idle;
            synchronized (IDLE) {
                Deque<CudnnAttention> q = IDLE.get(device);
                idle = q == null ? null : q.pollFirst();
            }
            if (idle == null) {
                return new CudnnAttention(stream, device);
            }
            try {
                idle.attach(stream);
                return idle;
            } catch (RuntimeException e) { // a context that cannot take the stream is closed; try the next
                idle.close();
            }
        }
    }

    /** Takes back the context of a closing backend: kept for the next one, or closed where enough are kept. */
    static void giveBack(CudnnAttention context) {
        try {
            context.detach();
        } catch (RuntimeException e) {
            context.close();
            return;
        }
        synchronized (IDLE) {
            Deque<CudnnAttention> q = IDLE.computeIfAbsent(context.device(), d -> new ArrayDeque<>());
            if (q.size() < MAX_IDLE) {
                q.addFirst(context);
                return;
            }
        }
        context.close();
    }

    /** How many contexts wait for {@code device}. */
    static int idle(String device) {
        synchronized (IDLE) {
            Deque<CudnnAttention> q = IDLE.get(device);
            return q == null ? 0 : q.size();
        }
    }

    /** Closes every idle context: their handles, plans and what cuDNN holds for them on the device. */
    static void closeIdle() {
        List<CudnnAttention> all = new ArrayList<>();
        synchronized (IDLE) {
            IDLE.values().forEach(all::addAll);
            IDLE.clear();
        }
        all.forEach(CudnnAttention::close);
    }
}
