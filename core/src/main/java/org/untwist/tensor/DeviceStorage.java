package org.untwist.tensor;

/**
 * Memory that lives on an accelerator, owned by the backend that allocated it. Java never dereferences a
 * device address (that would crash the JVM); it only passes addresses to the backend's native calls.
 * Closing frees the memory; implementations make it idempotent.
 */
public interface DeviceStorage extends AutoCloseable {

    /** The device address of the first byte. */
    long address();

    /** Size in bytes. */
    long byteSize();

    /** Who owns this memory, for messages: e.g. {@code "gpu:0 (NVIDIA H200)"}. */
    String device();

    /** Whether the memory is still allocated. */
    boolean isAlive();

    @Override
    void close();
}
