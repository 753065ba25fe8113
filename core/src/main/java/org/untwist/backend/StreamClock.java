package org.untwist.backend;

/**
 * Timestamps recorded in a device's stream of work, read once it has drained: times device work per operation
 * without synchronizing between operations (what {@link ProfilingBackend} does otherwise, which serializes the
 * device and charges a launch latency to every call). The span between two marks is device time, gaps included where
 * the device waited for the host to issue work.
 */
public interface StreamClock extends AutoCloseable {
    /** Records a timestamp after the work issued so far; returns its index (0, 1, 2, ... since the last {@link #reset}). */
    int mark();

    /** Milliseconds from mark {@code from} to mark {@code to}; waits until the device has reached {@code to}. */
    double millisBetween(int from, int to);

    /** Forgets every mark; their resources are kept for the next ones. */
    void reset();

    /** Releases the clock's resources. */
    @Override
    void close();
}
