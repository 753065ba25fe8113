package org.untwist.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/** The profiling wrapper: results unchanged, every timed call counted by operation and shapes, errors and close passed through. */
class ProfilingBackendTest {
    private static final long SEED = 7;

    @Test
    void timesEveryCallAndChangesNoResult() {
        Random r = new Random(SEED);
        OpProfile profile = new OpProfile();
        AtomicInteger closed = new AtomicInteger();
        try (ScalarBackend plain = new ScalarBackend(); Tensor x = random(r, 3, 8); Tensor w = random(r, 5, 8); Tensor b = random(r, 5);
             Tensor got = Tensor.allocate(3, 5); Tensor want = Tensor.allocate(3, 5)) {
            Backend be = ProfilingBackend.wrap(new ScalarBackend(), profile, closed::incrementAndGet);
            be.linear(x, w, b, got);
            be.linearGeluTanh(x, w, b, got);
            be.geluTanh(got, got);
            plain.linear(x, w, b, want);
            plain.geluTanh(want, want);
            plain.geluTanh(want, want);
            assertArrayEquals(want.toFloatArray(), got.toFloatArray(), "the wrapper computes what the backend computes");
            assertEquals("scalar", be.name());
            assertEquals(0, closed.get(), "not closed yet");
            be.close();
            assertEquals(1, closed.get(), "close runs the afterClose hook once");
        }
        List<OpProfile.Entry> ops = profile.byOperation();
        assertEquals(3, ops.size(), "linear, linearGeluTanh, geluTanh: " + ops);
        for (OpProfile.Entry e : ops) {
            assertEquals(1, e.calls(), e.op());
            assertTrue(e.nanos() > 0, e.op());
        }
        assertEquals(ops.stream().mapToLong(OpProfile.Entry::nanos).sum(), profile.totalNanos());
        OpProfile.Entry linear = profile.byOperationAndShapes().stream().filter(e -> e.op().equals("linear")).findFirst().orElseThrow();
        assertEquals("3x8 · 5x8 · 5 · 3x5", linear.shapes());
        String table = profile.table("ops", 10);
        assertTrue(table.contains("| linearGeluTanh | 1 |"), table);
        assertTrue(table.startsWith("ops: "), table);
        profile.reset();
        assertEquals(0, profile.totalNanos());
    }

    @Test
    void passesErrorsThroughUnwrappedAndNamesNarrowTypes() {
        OpProfile profile = new OpProfile();
        try (Tensor x = Tensor.allocate(2, 3); Tensor w = Tensor.allocate(DType.BF16, 4, 3); Tensor bad = Tensor.allocate(2, 5)) {
            Backend be = ProfilingBackend.wrap(new ScalarBackend(), profile, null);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.linear(x, w, null, bad));
            assertTrue(e.getMessage().startsWith("linear: out"), e.getMessage());
            try (Tensor out = Tensor.allocate(2, 4)) {
                be.linear(x, w, null, out);
            }
            assertEquals("2x3 · 4x3:bf16 · 2x4", profile.byOperationAndShapes().getFirst().shapes());
            be.close();
        }
    }

    /**
     * A stand-in for a device's stream clock: mark i is at 2.5·i ms (so a call spans 2.5 ms, and the gap between calls
     * another 2.5 ms that no call is charged), or, {@code failing}, no span can be read (a clock closed too early, a
     * device error). It counts resets and closes and keeps the marks it was asked about.
     */
    private static final class FakeClock implements StreamClock {
        final boolean failing;
        final List<Integer> asked = new java.util.ArrayList<>();
        int marks, resets, closes;

        FakeClock(boolean failing) {
            this.failing = failing;
        }

        @Override
        public int mark() {
            return marks++;
        }

        @Override
        public double millisBetween(int from, int to) {
            if (failing) {
                throw new IllegalStateException("stream clock is closed");
            }
            asked.add(from);
            asked.add(to);
            return 2.5 * (to - from);
        }

        @Override
        public void reset() {
            marks = 0;
            resets++;
        }

        @Override
        public void close() {
            closes++;
        }
    }

    /** {@code inner} behind a proxy that counts its calls by method name into {@code calls}. */
    private static Backend counting(Backend inner, java.util.Map<String, Integer> calls) {
        return (Backend) java.lang.reflect.Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                (proxy, m, args) -> {
                    calls.merge(m.getName(), 1, Integer::sum);
                    try {
                        return m.invoke(inner, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    /**
     * With a {@link StreamClock} the wrapper never synchronizes the backend between calls: it brackets each call by two
     * marks and records the spans when its own {@code synchronize} is called.
     */
    @Test
    void aStreamClockTimesCallsWithoutSynchronizingBetweenThem() {
        OpProfile profile = new OpProfile();
        FakeClock clock = new FakeClock(false);
        java.util.Map<String, Integer> calls = new java.util.HashMap<>();
        Random r = new Random(SEED);
        try (Tensor x = random(r, 3, 8); Tensor w = random(r, 5, 8); Tensor got = Tensor.allocate(3, 5)) {
            Backend be = ProfilingBackend.wrap(counting(new ScalarBackend(), calls), profile, null, clock);
            be.linear(x, w, null, got);
            be.geluTanh(got, got);
            be.geluTanh(got, got);
            assertEquals(null, calls.get("synchronize"), "no synchronize between calls");
            assertEquals(0, profile.totalNanos(), "nothing recorded before the device has drained");
            be.synchronize();
            assertEquals(1, calls.get("synchronize"), "the caller's synchronize only");
            assertEquals(List.of(0, 1, 2, 3, 4, 5), clock.asked, "each call's own two marks");
            assertEquals(1, clock.resets, "the marks are forgotten once recorded");
            assertEquals(7_500_000L, profile.totalNanos(), "three calls of 2.5 ms");
            assertEquals(2, profile.byOperation().stream().filter(e -> e.op().equals("geluTanh")).findFirst().orElseThrow().calls());
            be.linear(x, w, null, got);
            be.close(); // records what is pending, then closes the backend
            assertEquals(10_000_000L, profile.totalNanos());
            assertEquals(0, clock.closes, "the clock belongs to the caller");
        }
    }

    /** A clock that fails while the spans are recorded (closed too early, a device error): the backend is closed all the same, once. */
    @Test
    void aFailingClockStillClosesTheBackend() {
        AtomicInteger closed = new AtomicInteger();
        java.util.Map<String, Integer> calls = new java.util.HashMap<>();
        FakeClock broken = new FakeClock(true);
        Backend counting = counting(new ScalarBackend(), calls);
        OpProfile profile = new OpProfile();
        try (Tensor x = Tensor.allocate(2, 3)) {
            Backend be = ProfilingBackend.wrap(counting, profile, closed::incrementAndGet, broken);
            be.geluTanh(x, x);
            IllegalStateException e = assertThrows(IllegalStateException.class, be::close);
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
            assertEquals(1, calls.get("close"), "the backend was closed");
            assertEquals(1, closed.get(), "afterClose ran");
            assertEquals(0, profile.totalNanos(), "nothing recorded");
            be.synchronize(); // the failed spans were dropped, not kept for a second attempt
            assertEquals(0, profile.totalNanos());
        }
    }

    private static Tensor random(Random r, int... shape) {
        Tensor t = Tensor.allocate(shape);
        for (long i = 0; i < t.numel(); i++) {
            t.set(i, (float) r.nextGaussian());
        }
        return t;
    }
}
