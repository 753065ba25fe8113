package org.untwist.gpu;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which cuDNN engine configuration won the timing for an attention shape on a device, remembered for the whole
 * process. Finalizing a plan compiles its kernels, and {@link CudnnAttention} used to finalize and time up to a dozen
 * candidates per shape in every backend it served; a second backend on the same device now finalizes only the
 * winner. The heuristics' list for a graph depends on the graph, the device and the cuDNN library, which a process
 * does not change, so the winner's place in that list names the same configuration again. Host memory only: nothing
 * here holds a cuDNN or device object.
 */
final class CudnnPlanChoices {
    /** A configuration by its heuristics mode ("A" or "B") and its index in that mode's results. */
    record Choice(String mode, int index) {
        Choice {
            if (index < 0) {
                throw new IllegalArgumentException("engine configuration index " + index);
            }
        }
    }

    private static final Map<List<Object>, Choice> WINNERS = new ConcurrentHashMap<>();

    private CudnnPlanChoices() {
    }

    /** The configuration that won for {@code shape} (the plan's key) on {@code device}, if a backend timed one. */
    static Optional<Choice> recall(String device, List<Integer> shape) {
        return Optional.ofNullable(WINNERS.get(List.of(device, shape)));
    }

    /** Remembers the winner of a timing; a later timing of the same shape on the same device replaces it. */
    static void remember(String device, List<Integer> shape, Choice winner) {
        WINNERS.put(List.of(device, List.copyOf(shape)), winner);
    }

    /** Forgets every winner, so that the next backend times every candidate again (benchmarks and tests). */
    static void forgetAll() {
        WINNERS.clear();
    }
}
