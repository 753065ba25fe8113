package org.untwist.backend;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * Flat float32 tensors in a backend's memory (device memory on a GPU backend) that its operations borrow for
 * intermediate results and give back, so a call made once per block of a model does not allocate (and, on the
 * CPU, page-fault in) tens of megabytes each time. Each borrower has its tensor to itself: concurrent callers get
 * different ones. The backend's {@code close} frees them all.
 */
public final class ScratchTensors implements AutoCloseable {
    private final Backend backend;
    private final ConcurrentLinkedDeque<Tensor> idle = new ConcurrentLinkedDeque<>();
    private final Set<Tensor> all = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    ScratchTensors(Backend backend) {
        this.backend = backend;
    }

    /** A 1-D tensor of at least {@code floats} elements, for the caller alone until {@link #give}. */
    public Tensor take(int floats) {
        if (closed) {
            throw new IllegalStateException("backend is closed");
        }
        Tensor t = idle.pollFirst();
        if (t != null && t.numel() >= floats) {
            return t;
        }
        if (t != null) { // too small for this caller: replaced by a larger one
            all.remove(t);
            t.close();
        }
        Tensor fresh = backend.allocate(DType.F32, Math.max(1, floats));
        all.add(fresh);
        return fresh;
    }

    /** Gives back a tensor from {@link #take}; freed at once if the backend closed meanwhile. */
    public void give(Tensor t) {
        if (closed) {
            all.remove(t);
            t.close();
            return;
        }
        idle.addFirst(t);
    }

    /** Frees every tensor; later borrowers are refused. */
    @Override
    public void close() {
        closed = true;
        for (Tensor t : all) {
            t.close();
        }
        all.clear();
        idle.clear();
    }
}
