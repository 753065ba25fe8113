package org.untwist.jmh;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * OpenBLAS through FFM downcalls ({@code cblas_sgemm} and the {@code openblas_*} queries), for the GEMM peer benchmark.
 * No build-time dependency: the library is looked up at run time in {@code $UNTWIST_OPENBLAS} (a path), then
 * {@code libopenblas.so.0} on the loader's path, then Debian's {@code openblas-pthread} folder. Which kernel OpenBLAS
 * runs depends on {@code OPENBLAS_CORETYPE} (unset it to let OpenBLAS detect the CPU); {@link #coreName()} says.
 */
@SuppressWarnings("restricted") // native access is the point; forks run with --enable-native-access=ALL-UNNAMED
public final class OpenBlas {
    /** Environment variable that names the library file to load. */
    public static final String ENV = "UNTWIST_OPENBLAS";

    private static final int ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;
    private static final List<String> CANDIDATES = List.of(
            "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
            "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
            "/usr/lib64/libopenblas.so.0",
            "/usr/lib/libopenblas.so.0");

    private static OpenBlas instance;

    private final String path;
    private final MethodHandle sgemm, setNumThreads, getNumThreads, getCorename, getConfig;

    private OpenBlas(String path, SymbolLookup lib) {
        this.path = path;
        Linker linker = Linker.nativeLinker();
        sgemm = linker.downcallHandle(find(lib, "cblas_sgemm"), FunctionDescriptor.ofVoid(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT));
        setNumThreads = linker.downcallHandle(find(lib, "openblas_set_num_threads"), FunctionDescriptor.ofVoid(JAVA_INT));
        getNumThreads = linker.downcallHandle(find(lib, "openblas_get_num_threads"), FunctionDescriptor.of(JAVA_INT));
        getCorename = linker.downcallHandle(find(lib, "openblas_get_corename"), FunctionDescriptor.of(ADDRESS));
        getConfig = linker.downcallHandle(find(lib, "openblas_get_config"), FunctionDescriptor.of(ADDRESS));
    }

    private static MemorySegment find(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new IllegalStateException("OpenBLAS library has no symbol " + name));
    }

    /**
     * Loads OpenBLAS once per JVM.
     *
     * @throws IllegalStateException with a message naming what was tried and how to install it, when it is absent
     */
    public static synchronized OpenBlas load() {
        if (instance != null) {
            return instance;
        }
        List<String> tried = new ArrayList<>();
        String env = System.getenv(ENV);
        if (env != null && !env.isBlank()) {
            tried.add("$" + ENV + "=" + env);
            if (Files.isRegularFile(Path.of(env))) {
                return instance = new OpenBlas(env, SymbolLookup.libraryLookup(Path.of(env), Arena.global()));
            }
        }
        for (String c : CANDIDATES) {
            tried.add(c);
            if (Files.isRegularFile(Path.of(c))) {
                return instance = new OpenBlas(c, SymbolLookup.libraryLookup(Path.of(c), Arena.global()));
            }
        }
        try {
            tried.add("libopenblas.so.0 on the loader path");
            SymbolLookup lib = SymbolLookup.libraryLookup("libopenblas.so.0", Arena.global());
            return instance = new OpenBlas("libopenblas.so.0", lib);
        } catch (IllegalArgumentException notFound) {
            throw new IllegalStateException("OpenBLAS not found, skipping the OpenBLAS benchmark (tried " + String.join(", ", tried)
                    + "); install it with 'apt-get install -y libopenblas0-pthread' or set " + ENV + " to libopenblas.so.0");
        }
    }

    /** True when {@link #load()} would succeed; never throws. */
    public static boolean available() {
        try {
            load();
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** The file that was loaded, resolved through symbolic links where possible (from /proc/self/maps). */
    public String path() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
                int slash = line.indexOf('/');
                if (slash >= 0 && line.contains("openblas")) {
                    return line.substring(slash);
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // fall through to the name we loaded
        }
        return path;
    }

    /** The kernel family OpenBLAS selected, e.g. {@code SkylakeX} (AVX-512) or {@code Haswell} (AVX2). */
    public String coreName() {
        return string(getCorename);
    }

    /** OpenBLAS's build configuration line. */
    public String config() {
        return string(getConfig);
    }

    public void setThreads(int n) {
        try {
            setNumThreads.invokeExact(n);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    public int threads() {
        try {
            return (int) getNumThreads.invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Row-major {@code c[m, n] = a[m, k] · b[n, k]ᵀ}: the layout of {@code Backend.linear} ({@code x · weightᵀ}).
     */
    public void sgemmABt(int m, int n, int k, MemorySegment a, MemorySegment b, MemorySegment c) {
        try {
            sgemm.invokeExact(ROW_MAJOR, NO_TRANS, TRANS, m, n, k, 1f, a, k, b, k, 0f, c, n);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static String string(MethodHandle h) {
        try {
            MemorySegment s = (MemorySegment) h.invokeExact();
            return s.equals(MemorySegment.NULL) ? "" : s.reinterpret(Integer.MAX_VALUE).getString(0).trim();
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
