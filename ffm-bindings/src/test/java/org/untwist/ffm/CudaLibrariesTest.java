package org.untwist.ffm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How {@link CudaLibraries} reports libraries it cannot load; needs no CUDA. */
class CudaLibrariesTest {

    @Test
    void aBrokenLibraryFileIsReportedWithTheLoadersMessage(@TempDir Path dir) throws IOException {
        // A file by the soname that is no shared object: found, but dlopen refuses it. NVRTC is never loaded
        // on a machine without CUDA, so the LOADED cache cannot short-circuit this.
        Path fake = Files.writeString(dir.resolve("libnvrtc.so.13"), "not an ELF file");
        CudaLibraries.Result r = CudaLibraries.load(CudaLibraries.Search.only(dir), EnumSet.of(CudaLibrary.NVRTC));
        if (r.ok()) {
            return; // a real NVRTC was loaded earlier in this JVM (GPU machine)
        }
        String reason = r.reason();
        assertTrue(reason.startsWith("libnvrtc.so.13 at " + fake + " could not be loaded: "), reason);
        assertFalse(r.loaded().containsKey(CudaLibrary.NVRTC));
    }

    @Test
    void cublasPullsInCublasLtAndMissingOnesAreListedInLoadOrder(@TempDir Path empty) {
        CudaLibraries.Result r = CudaLibraries.load(CudaLibraries.Search.only(empty), EnumSet.of(CudaLibrary.CUBLAS));
        if (r.ok()) {
            return;
        }
        assertEquals("libcublasLt.so.13, libcublas.so.13 not found in " + empty, r.reason());
    }

    @Test
    void resultWithoutFailuresHasNoReason() {
        CudaLibraries.Result r = CudaLibraries.load(CudaLibraries.Search.only(), EnumSet.noneOf(CudaLibrary.class));
        assertTrue(r.ok());
        assertNull(r.reason());
    }

    @Test
    void cudaExceptionMessageNamesCallStatusAndLibraryMessage() {
        CudaException e = new CudaException(CudaLibrary.CUBLAS, "cublasGemmEx", 7, "CUBLAS_STATUS_INVALID_VALUE",
                "an invalid numeric value was used as an argument");
        assertEquals("cublasGemmEx failed: CUBLAS_STATUS_INVALID_VALUE (cuBLAS status 7): an invalid numeric value "
                + "was used as an argument", e.getMessage());
        assertEquals(7, e.status());
        assertEquals(CudaLibrary.CUBLAS, e.library());
    }
}
