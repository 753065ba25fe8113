package org.untwist.onednn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.untwist.backend.Backend;
import org.untwist.backend.Precision;
import org.untwist.vector.VectorBackend;

/** The provider: bf16 only, one line when it cannot run (a missing libdnnl among the causes), float32 unaffected. */
class OnednnProviderTest {
    private final OnednnBackendProvider provider = new OnednnBackendProvider();

    @Test
    void computesInBf16OnlyBelowTheVectorBackend() {
        assertEquals(List.of(Precision.BF16), provider.precisions());
        assertEquals("onednn", provider.name());
        assertTrue(provider.priority() > 0 && provider.priority() < 100, "between the scalar oracle and the vector backend");
    }

    @Test
    void aMissingLibraryIsTheReasonInOneLineAndFloat32StillRuns() {
        String missing = "libdnnl.so.2 (oneDNN 2, Debian package libdnnl2) not found in -Duntwist.dnnl.libDir (not set), "
                + "LD_LIBRARY_PATH (not set) or the system library cache";
        OnednnProbe p = OnednnProbe.probe(() -> missing);
        Assumptions.assumeTrue(p.reason() == null || p.reason().equals(missing), "the vector backend cannot run: " + p.reason());
        assertEquals(missing, p.reason(), "the loader's line is the provider's reason, unchanged");
        assertNull(p.impl());
        try (Backend f32 = new VectorBackend(1)) { // the float32 path needs no oneDNN
            assertEquals("vector", f32.name());
        }
    }

    @Test
    void theReasonIsOneLineAndCreateRefusesWithIt() {
        String why = provider.unavailableReason();
        if (why == null) {
            try (Backend b = provider.create(1, Precision.BF16)) {
                assertEquals("onednn", b.name());
                assertTrue(b.describe().startsWith("onednn: precision bf16, linear on oneDNN 2."), b.describe());
            }
            assertThrows(IllegalArgumentException.class, () -> provider.create(1, Precision.F32), "bf16 only");
            return;
        }
        assertFalse(why.contains("\n"), why);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> provider.create(1));
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }
}
