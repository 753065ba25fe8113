package org.untwist.gpu;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.untwist.backend.BackendProvider;
import org.untwist.backend.Backends;
import org.untwist.ffm.CudaLibraries;
import org.untwist.ffm.CudaLibrary;
import org.untwist.ffm.gen.cublas.Cublas;
import org.untwist.ffm.gen.cuda.CudaDriver;
import org.untwist.ffm.gen.cudart.Cudart;
import org.untwist.ffm.gen.cudnn.Cudnn;
import org.untwist.ffm.gen.nvrtc.Nvrtc;

/**
 * The GPU provider on machines with and without CUDA. Ordered: the first tests run before anything in this
 * JVM has loaded a CUDA library (a loaded library stays loaded).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class GpuBackendProviderTest {

    /** Whether this machine has an NVIDIA kernel driver (CI machines do not). */
    private static boolean hasNvidiaDriver() {
        return Files.exists(Path.of("/proc/driver/nvidia/version"));
    }

    @Test
    @Order(1)
    void loadingTheGpuAndBindingClassesDoesNotThrow() {
        List<String> names = List.of(
                "org.untwist.gpu.GpuBackendProvider", "org.untwist.gpu.GpuProbe",
                "org.untwist.ffm.CudaLibraries", "org.untwist.ffm.CudaLibrary", "org.untwist.ffm.CudaCheck",
                "org.untwist.ffm.CudaException",
                "org.untwist.ffm.gen.cudart.Cudart", "org.untwist.ffm.gen.cudart.Cudart$shared",
                "org.untwist.ffm.gen.cuda.CudaDriver", "org.untwist.ffm.gen.cuda.CudaDriver$shared",
                "org.untwist.ffm.gen.cublas.Cublas", "org.untwist.ffm.gen.cublas.Cublas$shared",
                "org.untwist.ffm.gen.cudnn.Cudnn", "org.untwist.ffm.gen.cudnn.Cudnn$shared",
                "org.untwist.ffm.gen.nvrtc.Nvrtc", "org.untwist.ffm.gen.nvrtc.Nvrtc$shared",
                // the hand-written layer over them, its enums made of the bindings' constants
                "org.untwist.gpu.cuda.CudaRuntime", "org.untwist.gpu.cuda.CudaRuntime$MemcpyKind",
                "org.untwist.gpu.cuda.CudaRuntime$DeviceAttribute", "org.untwist.gpu.cuda.CudaDriverApi",
                "org.untwist.gpu.cuda.CublasApi", "org.untwist.gpu.cuda.CublasApi$Operation", "org.untwist.gpu.cuda.CublasApi$DataType",
                "org.untwist.gpu.cuda.CublasApi$MathMode", "org.untwist.gpu.cuda.CublasApi$ComputeType", "org.untwist.gpu.cuda.CudnnApi",
                "org.untwist.gpu.cuda.CudnnApi$DescriptorType", "org.untwist.gpu.cuda.CudnnApi$Attribute",
                "org.untwist.gpu.cuda.CudnnApi$AttributeType", "org.untwist.gpu.cuda.CudnnApi$DataType",
                "org.untwist.gpu.cuda.CudnnApi$HeurMode", "org.untwist.gpu.cuda.NvrtcApi");
        ClassLoader loader = getClass().getClassLoader();
        for (String name : names) {
            assertDoesNotThrow(() -> Class.forName(name, true, loader), name);
        }
        // Constants need no library; functions resolve their symbols only when first called.
        assertEquals(0, Cudart.cudaSuccess());
        assertEquals(1, Cudart.cudaMemcpyHostToDevice());
        assertEquals(0, CudaDriver.CUDA_SUCCESS());
        assertEquals(0, Cublas.CUBLAS_STATUS_SUCCESS());
        assertEquals(0, Cudnn.CUDNN_STATUS_SUCCESS());
        assertEquals(0, Nvrtc.NVRTC_SUCCESS());
        assertEquals(13000, Cudart.CUDART_VERSION());
        assertEquals(9, Cudnn.CUDNN_MAJOR());
    }

    @Test
    @Order(2)
    void anEmptyLibraryFolderNamesTheMissingLibraries(@TempDir Path empty) {
        // A library stays loaded for the life of the JVM: when another test class ran first, there is nothing to miss.
        org.junit.jupiter.api.Assumptions.assumeTrue(CudaLibraries.loadedFrom(CudaLibrary.CUDART).isEmpty(),
                "the CUDA libraries were loaded earlier in this JVM");
        CudaLibraries.Result r = CudaLibraries.load(CudaLibraries.Search.only(empty), GpuProbe.REQUIRED);
        assertFalse(r.ok());
        String reason = GpuBackendProvider.probe(CudaLibraries.Search.only(empty));
        assertNotNull(reason);
        assertTrue(reason.contains("not found in " + empty), reason);
        if (!hasNvidiaDriver()) {
            // Nothing has been loaded in this JVM yet: every library is reported, runtime first.
            assertEquals("libcudart.so.13, libcuda.so.1, libnvrtc.so.13, libcublasLt.so.13, libcublas.so.13 not found in " + empty, reason);
            assertTrue(r.failures().containsKey(CudaLibrary.CUDART));
        }
    }

    @Test
    @Order(3)
    void theProviderIsRegisteredAndSaysWhyItCannotRun() {
        BackendProvider gpu = Backends.providers().stream().filter(p -> p.name().equals("gpu")).findFirst().orElseThrow();
        String reason = assertDoesNotThrow(gpu::unavailableReason);
        assertEquals(reason, gpu.unavailableReason(), "probed once");
        if (reason == null) { // a machine with a device: the backend builds
            assertTrue(hasNvidiaDriver(), "available without an NVIDIA driver?");
            try (var b = gpu.create(1)) {
                System.out.println("gpu: " + b.describe());
                assertEquals("gpu", b.name());
            }
            return;
        }
        assertFalse(reason.isBlank());
        if (hasNvidiaDriver()) {
            System.out.println("gpu unavailable: " + reason);
        } else {
            // No driver: the driver library or a device is what is missing (the runtime may be installed).
            assertTrue(reason.contains("libcuda.so.1") || reason.startsWith("no CUDA device"), reason);
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> gpu.create(1));
        assertTrue(e.getMessage().contains(reason), e.getMessage());
    }

    @Test
    @Order(4)
    void automaticSelectionTakesTheGpuOnlyWhereItCanRun() {
        boolean available = new GpuBackendProvider().unavailableReason() == null;
        try (var b = Backends.create(null, 1)) {
            assertEquals(available, b.name().equals("gpu"), b.describe());
        }
        if (!available) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> Backends.create("gpu", 1));
            assertTrue(e.getMessage().contains("backend 'gpu' was requested but cannot run here"), e.getMessage());
        }
    }

    @Test
    @Order(5)
    void versionsAreFormatted() {
        assertEquals("13.0", GpuProbe.version(13000));
        assertEquals("12.8", GpuProbe.version(12080));
    }
}
