package org.untwist.ffm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How {@link DnnlLibraries} loads oneDNN and OpenMP, and reports them missing. */
class DnnlLibrariesTest {

    @Test
    void aMissingLibraryIsOneLineNamingItAndWhereItWasLookedFor(@TempDir Path empty) {
        assertEquals("libdnnl.so.2 (oneDNN 2) not found in " + empty, DnnlLibraries.load(List.of(empty), false));
    }

    @Test
    void aBrokenLibraryFileIsReportedWithTheLoadersMessage(@TempDir Path dir) throws IOException {
        Path fake = Files.writeString(dir.resolve("libdnnl.so.2"), "not an ELF file");
        String reason = DnnlLibraries.load(List.of(dir), false);
        assertTrue(reason.startsWith("libdnnl.so.2 at " + fake + " could not be loaded: "), reason);
    }

    @Test
    void theSystemsOneDnnAndItsOpenMpRuntimeLoad() {
        Assumptions.assumeTrue(Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/libdnnl.so.2")),
                "Debian's libdnnl2 is not installed (apt-get install libdnnl2)");
        assertNull(DnnlLibraries.load());
        assertTrue(org.untwist.ffm.gen.omp.Omp.omp_get_max_threads() >= 1, "OpenMP's symbols resolve through the class loader");
        assertEquals(2, org.untwist.ffm.gen.dnnl.Dnnl.DNNL_VERSION_MAJOR());
    }
}
