package org.untwist.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Large tensors from huge-page mappings: zero-filled, usable, unmapped on close; used exactly where the conditions hold. */
class HugePageMemoryTest {
    private static final long SEED = 11;

    @Test
    void largeTensorsAreZeroFilledUsableAndFreedOnClose() {
        Random r = new Random(SEED);
        Tensor t = Tensor.allocate(DType.F32, 3, 1_000_003); // 12 MB: above the mapping threshold, not a whole number of pages
        try {
            for (int i = 0; i < 1000; i++) {
                long at = (long) (r.nextDouble() * t.numel());
                assertEquals(0f, t.get(at), "element " + at + " of a new tensor (seed " + SEED + ")");
            }
            t.set(t.numel() - 1, 3.5f);
            t.set(0, -1f);
            assertEquals(3.5f, t.get(t.numel() - 1));
            assertEquals(-1f, t.get(0));
            assertEquals(12_000_036L, t.segment().byteSize(), "the tensor's bytes, not the mapping's rounded length");
        } finally {
            t.close();
        }
        assertThrows(IllegalStateException.class, () -> t.get(0), "memory of a closed tensor");
    }

    @Test
    void mapsExactlyWhereItCan() throws Exception {
        Path thp = Path.of("/sys/kernel/mm/transparent_hugepage/enabled");
        boolean can = System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).startsWith("linux")
                && HugePageMemory.class.getModule().isNativeAccessEnabled() && !Boolean.getBoolean("untwist.noHugePages")
                && Files.isReadable(thp) && !Files.readString(thp).contains("[never]");
        System.out.println("HugePageMemoryTest: huge-page mappings " + (can ? "available" : "not available") + " here");
        assertEquals(can, HugePageMemory.available());
        try (Arena arena = Arena.ofConfined()) {
            assertNull(HugePageMemory.allocate(HugePageMemory.MIN_BYTES - 1, arena), "small allocations are left to the arena");
            MemorySegment s = HugePageMemory.allocate(HugePageMemory.MIN_BYTES + 5, arena);
            if (can) {
                assertNotNull(s);
                assertEquals(HugePageMemory.MIN_BYTES + 5, s.byteSize());
                assertTrue(s.address() % 4096 == 0, "page-aligned");
                s.set(ValueLayout.JAVA_BYTE, s.byteSize() - 1, (byte) 7);
                assertEquals(7, s.get(ValueLayout.JAVA_BYTE, s.byteSize() - 1));
            } else {
                assertNull(s);
            }
        }
    }

    /** untwist.keepFreedMemory: a freed mapping serves the next allocation of its length, zeroed again; beyond the limit, none is kept. */
    @Test
    void keptMappingsAreReusedZeroedAndBounded() {
        org.junit.jupiter.api.Assumptions.assumeTrue(HugePageMemory.available(), "no huge-page mappings here");
        long bytes = HugePageMemory.MIN_BYTES + 12_345;
        System.setProperty("untwist.keepFreedMemory", "64m");
        try {
            long first;
            try (Arena a = Arena.ofShared()) {
                MemorySegment s = HugePageMemory.allocate(bytes, a);
                assertNotNull(s);
                first = s.address();
                s.fill((byte) 9);
            }
            try (Arena a = Arena.ofShared()) {
                MemorySegment s = HugePageMemory.allocate(bytes, a);
                assertEquals(first, s.address(), "the kept mapping serves the same length again");
                for (long i = 0; i < s.byteSize(); i += 4099) {
                    assertEquals(0, s.get(ValueLayout.JAVA_BYTE, i), "byte " + i + " of a reused mapping");
                }
                assertEquals(0, s.get(ValueLayout.JAVA_BYTE, s.byteSize() - 1));
            }
            assertTrue(HugePageMemory.keptBytes() >= bytes, "freed within the limit: kept");
            System.setProperty("untwist.keepFreedMemory", "1m"); // below one mapping: freed ones are unmapped
            long before = HugePageMemory.keptBytes();
            try (Arena a = Arena.ofShared()) {
                assertNotNull(HugePageMemory.allocate(bytes, a)); // takes the kept one
            }
            assertTrue(HugePageMemory.keptBytes() < before, "freed beyond the limit: unmapped, not kept");
        } finally {
            System.clearProperty("untwist.keepFreedMemory");
        }
    }
}
