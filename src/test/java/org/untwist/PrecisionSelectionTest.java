package org.untwist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.untwist.backend.Backend;
import org.untwist.backend.BackendProvider;
import org.untwist.backend.Backends;
import org.untwist.backend.Precision;

/**
 * Choosing a backend by precision: float32 stays the default everywhere, bf16 is asked for ({@code --precision bf16}),
 * and a backend that cannot compute in the precision asked for is an error naming who can.
 */
class PrecisionSelectionTest {

    @Test
    void precisionNamesParseAndOthersAreRefusedNamingTheOption() {
        assertEquals(Precision.BF16, Precision.parse("--precision", " BFloat16 "));
        assertEquals(Precision.F32, Precision.parse("--precision", "fp32"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Precision.parse("--precision", "fp8"));
        assertEquals("--precision=fp8: expected f32 or bf16", e.getMessage());
    }

    @Test
    void automaticSelectionWithoutAPrecisionTakesAFloat32Backend() {
        try (Backend b = Backends.create(null, 1)) {
            BackendProvider p = Backends.providers().stream().filter(q -> q.name().equals(b.name())).findFirst().orElseThrow();
            assertTrue(p.precisions().contains(Precision.F32), b.name() + " computes in " + p.precisions());
        }
        for (BackendProvider p : Backends.providers()) {
            assertFalse(p.precisions().isEmpty(), p.name());
        }
    }

    @Test
    void aFloat32OnlyBackendAskedForBf16NamesWhoOffersIt() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Backends.create("scalar", 1, Precision.BF16));
        assertTrue(e.getMessage().startsWith("backend 'scalar' cannot compute in bf16 (it offers f32); bf16: "), e.getMessage());
        assertTrue(e.getMessage().contains("onednn"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void bf16IsTheGpuOrTheOnednnBackendOrAReason() {
        BackendProvider onednn = Backends.providers().stream().filter(p -> p.name().equals("onednn")).findFirst().orElseThrow();
        boolean gpu = Backends.providers().stream().anyMatch(p -> p.name().equals("gpu") && p.unavailableReason() == null);
        if (onednn.unavailableReason() == null || gpu) {
            try (Backend b = Backends.create(null, 2, Precision.BF16)) {
                assertEquals(gpu ? "gpu" : "onednn", b.name());
            }
        } else {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> Backends.create(null, 2, Precision.BF16));
            assertTrue(e.getMessage().contains("onednn: " + onednn.unavailableReason()), e.getMessage());
        }
        try (Backend f32 = Backends.create("vector", 2, Precision.F32)) {
            assertEquals("vector", f32.name(), "float32 runs whether or not oneDNN is there");
        }
    }
}
