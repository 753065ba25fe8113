package org.untwist.vector;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The fixed pool of compute threads of one {@link VectorBackend}, each thread with its own {@link Scratch}.
 *
 * <p>Callers cut their work into tasks whose size does not depend on the thread count; the threads take tasks in
 * index order until none is left. A kernel that writes each output element from one task, in an order fixed by
 * the task layout, therefore gives the same result for any number of threads.
 */
final class ComputePool {
    /** Elements per task of elementwise operations; smaller operations run on the calling thread. */
    private static final int ELEMENT_GRAIN = 1 << 15;

    /** One task: its index and the scratch of the thread running it. */
    @FunctionalInterface
    interface Task {
        void run(int index, Scratch scratch);
    }

    /** A chunk {@code [from, to)} of a range. */
    @FunctionalInterface
    interface Range {
        void run(long from, long to);
    }

    private final int threads;
    private final ExecutorService pool;
    private final List<Scratch> scratches = new ArrayList<>();
    private volatile boolean closed;

    ComputePool(int threads) {
        this.threads = threads;
        AtomicInteger counter = new AtomicInteger();
        this.pool = Executors.newFixedThreadPool(threads, r -> {
            Scratch s = new Scratch();
            synchronized (scratches) {
                scratches.add(s);
            }
            Worker w = new Worker(r, "untwist-vector-" + counter.incrementAndGet(), s);
            w.setDaemon(true);
            return w;
        });
    }

    int threads() {
        return threads;
    }

    /** A pool thread with its scratch memory. */
    private static final class Worker extends Thread {
        final Scratch scratch;

        Worker(Runnable r, String name, Scratch scratch) {
            super(r, name);
            this.scratch = scratch;
        }
    }

    /** Stops the threads; frees their scratch once they are gone (idempotent). */
    void close() {
        if (closed) {
            return;
        }
        closed = true;
        pool.shutdown();
        boolean done;
        try {
            done = pool.awaitTermination(1, TimeUnit.MINUTES);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            done = false;
        }
        if (done) { // the workers are gone: nobody else touches the scratch memory
            synchronized (scratches) {
                for (Scratch s : scratches) {
                    s.free();
                }
                scratches.clear();
            }
        }
    }

    /** Runs tasks {@code 0..n-1} on the pool threads and waits; rethrows the first failure. */
    void parallelFor(int n, Task body) {
        if (n <= 0) {
            return;
        }
        if (closed) {
            throw new IllegalStateException("vector backend is closed");
        }
        int workers = Math.min(threads, n);
        AtomicInteger next = new AtomicInteger();
        Future<?>[] futures = new Future<?>[workers];
        try {
            for (int w = 0; w < workers; w++) {
                futures[w] = pool.submit(() -> {
                    Scratch s = ((Worker) Thread.currentThread()).scratch;
                    try {
                        for (int i; (i = next.getAndIncrement()) < n; ) {
                            body.run(i, s);
                        }
                    } catch (Throwable t) {
                        next.set(n); // the other workers stop at their next task
                        throw t;
                    }
                });
            }
        } catch (RejectedExecutionException e) {
            next.set(n);
            awaitAll(futures);
            throw new IllegalStateException("vector backend is closed", e);
        }
        Throwable failure = awaitAll(futures);
        if (failure instanceof RuntimeException re) {
            throw re;
        }
        if (failure instanceof Error err) {
            throw err;
        }
        if (failure != null) {
            throw new IllegalStateException(failure);
        }
    }

    /** Waits for every future, even when interrupted (the workers write into the caller's tensors); the first failure. */
    private static Throwable awaitAll(Future<?>[] futures) {
        Throwable failure = null;
        boolean interrupted = false;
        for (Future<?> f : futures) {
            if (f == null) {
                continue;
            }
            while (true) {
                try {
                    f.get();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (ExecutionException e) {
                    if (failure == null) {
                        failure = e.getCause();
                    }
                    break;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return failure;
    }

    /** Splits {@code [0, n)} into chunks of {@code grain} (a multiple of the lanes); small ranges run inline. */
    void parallelRange(long n, long grain, Range body) {
        if (n <= grain || threads == 1) {
            body.run(0, n);
            return;
        }
        long chunks = (n + grain - 1) / grain;
        if (chunks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("too many elements: " + n);
        }
        parallelFor((int) chunks, (c, s) -> body.run(c * grain, Math.min(n, (c + 1) * grain)));
    }

    /** {@link #parallelRange} over {@code n} independent elements, {@link #ELEMENT_GRAIN} per chunk. */
    void parallelElements(long n, Range body) {
        parallelRange(n, ELEMENT_GRAIN, body);
    }

    /** {@link #parallelRange} over {@code rows} rows of {@code rowElements} elements: about {@link #ELEMENT_GRAIN} per chunk. */
    void parallelRows(long rows, int rowElements, Range body) {
        parallelRange(rows, Math.max(1, ELEMENT_GRAIN / Math.max(1, rowElements)), body);
    }
}
