package org.untwist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.management.ObjectName;
import org.junit.jupiter.api.Test;
import org.untwist.backend.Backend;
import org.untwist.backend.Backends;
import org.untwist.flux.FluxInputs;
import org.untwist.flux.FluxModel;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.Tensor;

/**
 * Loading, running and closing the golden model 200 times leaves no native memory, mapping or file
 * descriptor behind. Arena allocations are malloc'ed memory that HotSpot's Native Memory Tracking books
 * under "Other" (the tests module runs with {@code -XX:NativeMemoryTracking=summary}); mappings of the
 * weights file are counted in /proc/self/maps.
 */
class NativeMemoryTest {
    static final int CYCLES = 200;
    static final long NATIVE_JITTER_KB = 512;

    @Test
    void loadRunCloseDoesNotGrowNativeMemory() throws IOException {
        Path weights = TestSupport.tinyFlux().resolve("weights.safetensors").toRealPath();
        try (SafeTensors in = SafeTensors.open(TestSupport.tinyFlux().resolve("inputs.safetensors"));
             Backend be = Backends.create(null, 2)) {
            FluxInputs inputs = new FluxInputs(in.tensor("img"), in.tensor("img_ids"), in.tensor("txt"), in.tensor("txt_ids"),
                    in.tensor("y"), in.tensor("timesteps"), in.tensor("guidance"));
            cycle(be, inputs); // warm up class loading and lazily created pools
            long native0 = otherNativeKb(), fds0 = openFds(), maps0 = mappingsOf(weights);
            for (int i = 0; i < CYCLES; i++) {
                cycle(be, inputs);
            }
            long native1 = otherNativeKb(), fds1 = openFds(), maps1 = mappingsOf(weights);
            // One leaked workspace alone is about 1 MB; 200 of them would be 200 MB. Allow JDK-internal jitter only.
            assertTrue(native1 - native0 <= NATIVE_JITTER_KB, "native memory (NMT Other) grew from " + native0 + " KB to " + native1
                    + " KB over " + CYCLES + " load/run/close cycles");
            assertEquals(maps0, maps1, "mappings of " + weights.getFileName() + " before and after");
            assertEquals(0, maps1, "no mapping of the weights file survives close()");
            assertTrue(fds1 <= fds0 + 2, "open file descriptors grew from " + fds0 + " to " + fds1);
        }
    }

    @Test
    void arenaAllocationsAreCounted() {
        // Guards the test above: if NMT stopped seeing arena memory, that test would pass vacuously.
        long before = otherNativeKb();
        try (Tensor t = Tensor.allocate(1 << 20)) {
            assertTrue(otherNativeKb() - before >= 4096, "a 4 MiB tensor is visible to native memory tracking");
        }
        assertTrue(otherNativeKb() - before < 4096, "closing the tensor returns its memory");
    }

    private static void cycle(Backend be, FluxInputs inputs) throws IOException {
        try (FluxModel model = FluxModel.load(TestSupport.tinyFlux(), be);
             Tensor pred = Tensor.allocate(1, 60, 16)) {
            model.forward(inputs, pred);
            assertTrue(Float.isFinite(pred.get(0)));
        }
    }

    /** Committed KB of NMT's "Other" category, where malloc'ed arena memory is booked. */
    static long otherNativeKb() {
        String summary;
        try {
            summary = (String) ManagementFactory.getPlatformMBeanServer().invoke(
                    new ObjectName("com.sun.management:type=DiagnosticCommand"), "vmNativeMemory",
                    new Object[] {new String[] {"summary"}}, new String[] {String[].class.getName()});
        } catch (Exception e) {
            throw new AssertionError("cannot query native memory tracking", e);
        }
        Matcher m = Pattern.compile("Other \\(reserved=\\d+KB, committed=(\\d+)KB\\)").matcher(summary);
        if (!m.find()) {
            throw new AssertionError("native memory tracking is off or changed format; run with -XX:NativeMemoryTracking=summary:\n" + summary);
        }
        return Long.parseLong(m.group(1));
    }

    private static long openFds() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        }
    }

    private static long mappingsOf(Path file) throws IOException {
        return Files.readAllLines(Path.of("/proc/self/maps")).stream().filter(l -> l.endsWith(file.toString())).count();
    }
}
