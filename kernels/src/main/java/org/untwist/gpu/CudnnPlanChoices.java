package org.untwist.gpu;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which cuDNN engine configuration won the timing for an attention shape on a device, remembered for the whole
 * process and, through {@link CudnnPlanChoiceFile}, for later processes. Finalizing a plan compiles its kernels, and
 * {@link CudnnAttention} used to finalize and time up to a dozen candidates per shape in every backend it served; a
 * backend that finds a winner here finalizes only that one. The heuristics' list for a graph depends on the graph,
 * the device and the cuDNN library, so a device is named here by its label and the cuDNN version, and the winner's
 * place in that list names the same configuration again; its global engine index is kept too, and a configuration
 * whose engine differs is not taken ({@link CudnnAttention} times again). Host memory and a text file only: nothing
 * here holds a cuDNN or device object.
 */
final class CudnnPlanChoices {
    /**
     * A configuration by its heuristics mode ("A" or "B"), its index in that mode's results and its engine's global
     * index (-1 where cuDNN did not say).
     */
    record Choice(String mode, int index, long engine) {
        Choice {
            if (index < 0) {
                throw new IllegalArgumentException("engine configuration index " + index);
            }
            if (engine < -1) {
                throw new IllegalArgumentException("engine index " + engine);
            }
        }

        /** Whether a configuration whose engine is {@code found} (-1: unknown) is this one's. */
        boolean sameEngine(long found) {
            return engine == -1 || found == -1 || engine == found;
        }
    }

    private static final Map<List<Object>, Choice> WINNERS = new ConcurrentHashMap<>();
    /** Devices whose file this process has read (each once, on its first recall). */
    private static final Set<String> READ = ConcurrentHashMap.newKeySet();
    /** False after {@link #forgetAll}: the files are still written but no longer read. */
    private static volatile boolean readFiles = true;

    private CudnnPlanChoices() {
    }

    /** The configuration that won for {@code shape} (the plan's key) on {@code device}, if a backend timed one. */
    static Optional<Choice> recall(String device, List<Integer> shape) {
        if (readFiles && READ.add(device)) {
            CudnnPlanChoiceFile.of(device).ifPresent(f -> f.read().forEach((s, c) -> WINNERS.putIfAbsent(List.of(device, s), c)));
        }
        return Optional.ofNullable(WINNERS.get(List.of(device, shape)));
    }

    /** Remembers the winner of a timing, in memory and in the device's file; a later timing of the same shape replaces it. */
    static void remember(String device, List<Integer> shape, Choice winner) {
        List<Integer> key = List.copyOf(shape);
        WINNERS.put(List.of(device, key), winner);
        CudnnPlanChoiceFile.of(device).ifPresent(f -> f.put(key, winner));
    }

    /**
     * Forgets every winner, and reads no file again in this process, so that the next backend times every candidate
     * again (benchmarks and tests); new winners are still written.
     */
    static void forgetAll() {
        readFiles = false;
        WINNERS.clear();
    }

    /** As a new process starts: nothing in memory, and each device's file read again on its first recall (tests). */
    static void startAfresh() {
        WINNERS.clear();
        READ.clear();
        readFiles = true;
    }
}
