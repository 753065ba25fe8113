package org.untwist.gpu;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import org.untwist.gpu.cuda.NvrtcApi;

/**
 * Compiles {@code untwist_kernels.cu} (kernels/src/main/cuda, packaged as a resource) with NVRTC for the
 * device's architecture and caches the CUBIN on disk, keyed by a hash of the source, the options and the
 * NVRTC version: the first run on a machine compiles (about a second), later runs load the cached image.
 * {@code -Duntwist.gpu.kernelCache=DIR} moves the cache ({@code none} disables it, and the cuDNN choices of
 * {@link CudnnPlanChoiceFile} kept beside it); the default is {@code ~/.cache/untwist/kernels}. A cache that cannot be
 * written is skipped silently.
 */
final class KernelModule {
    static final String SOURCE = "untwist_kernels.cu";
    static final String CACHE_PROPERTY = "untwist.gpu.kernelCache";
    private static final System.Logger LOG = System.getLogger("org.untwist.gpu");

    private KernelModule() {
    }

    /** The CUDA C source of every kernel. */
    static String source() {
        try (InputStream in = KernelModule.class.getResourceAsStream(SOURCE)) {
            if (in == null) {
                throw new IllegalStateException(SOURCE + " is missing from the kernels jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + SOURCE + ": " + e.getMessage(), e);
        }
    }

    static List<String> options(int major, int minor) {
        // No fast-math: the f32 kernels must agree with the scalar oracle; -default-device is not needed
        // because every kernel is __global__.
        return List.of("--gpu-architecture=sm_" + major + minor, "--std=c++17");
    }

    /** The compiled image for compute capability {@code major.minor}, from the cache or NVRTC. */
    static byte[] cubin(int major, int minor) {
        String src = source();
        List<String> opts = options(major, minor);
        String version = nvrtcVersion();
        Path cached = cacheFile(src, opts, version, major, minor);
        if (cached != null && Files.isRegularFile(cached)) {
            try {
                return Files.readAllBytes(cached);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "kernel cache unreadable: " + e);
            }
        }
        long t0 = System.nanoTime();
        byte[] image = compile(src, opts);
        LOG.log(System.Logger.Level.DEBUG, "NVRTC " + version + " compiled " + SOURCE + " for sm_" + major + minor + " in "
                + (System.nanoTime() - t0) / 1_000_000 + " ms");
        if (cached != null) {
            try {
                Files.createDirectories(cached.getParent());
                Path tmp = Files.createTempFile(cached.getParent(), "cubin", ".tmp");
                Files.write(tmp, image);
                Files.move(tmp, cached, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException | RuntimeException e) {
                LOG.log(System.Logger.Level.DEBUG, "kernel cache not written: " + e);
            }
        }
        return image;
    }

    /**
     * The folder of the GPU backend's on-disk caches (the compiled kernels, {@link CudnnPlanChoiceFile}):
     * {@code -Duntwist.gpu.kernelCache=DIR}, else {@code ~/.cache/untwist/kernels}; empty where the property is {@code none},
     * or where it is not set and {@code user.home} is not an absolute path.
     */
    static Optional<Path> cacheRoot() {
        String dir = System.getProperty(CACHE_PROPERTY);
        if ("none".equals(dir)) {
            return Optional.empty();
        }
        if (dir != null && !dir.isBlank()) {
            return Optional.of(Path.of(dir));
        }
        // no home (a service account's "?", or none): no default cache, rather than one relative to the working directory
        String home = System.getProperty("user.home", "");
        return home.isBlank() || !Path.of(home).isAbsolute() ? Optional.empty() : Optional.of(Path.of(home, ".cache", "untwist", "kernels"));
    }

    private static Path cacheFile(String src, List<String> opts, String version, int major, int minor) {
        Path root = cacheRoot().orElse(null);
        if (root == null) {
            return null;
        }
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(src.getBytes(StandardCharsets.UTF_8));
            md.update(String.join(" ", opts).getBytes(StandardCharsets.UTF_8));
            md.update(version.getBytes(StandardCharsets.UTF_8));
            String key = HexFormat.of().formatHex(md.digest()).substring(0, 20);
            return root.resolve("untwist_kernels-sm_" + major + minor + "-" + key + ".cubin");
        } catch (NoSuchAlgorithmException | RuntimeException e) {
            return null;
        }
    }

    static String nvrtcVersion() {
        return NvrtcApi.version();
    }

    /** Compiles with NVRTC; a compile error carries NVRTC's log. */
    static byte[] compile(String src, List<String> opts) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = NvrtcApi.createProgram(a, src, SOURCE);
            try {
                if (!NvrtcApi.compileProgram(p, opts)) {
                    throw new IllegalStateException("NVRTC could not compile " + SOURCE + " with " + opts + ":\n" + NvrtcApi.programLog(p));
                }
                return NvrtcApi.cubin(p);
            } finally {
                NvrtcApi.destroyProgram(p);
            }
        }
    }
}
