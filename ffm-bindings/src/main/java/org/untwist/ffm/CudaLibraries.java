package org.untwist.ffm;

import java.io.File;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Loads the CUDA libraries by their versioned sonames so that the jextract-generated bindings in
 * {@code org.untwist.ffm.gen} can find their symbols.
 *
 * <p>The generated header classes resolve every function lazily, on its first call, through
 * {@link SymbolLookup#loaderLookup()}: the libraries that {@link System#load} loaded from this class
 * loader. Loading a generated class is therefore harmless on a machine without CUDA; calling a function
 * before {@link #load} has loaded its library fails with an {@link UnsatisfiedLinkError}. {@link #load}
 * never throws for a missing or broken library: it returns a {@link Result} whose {@link Result#reason()}
 * names each library that is missing, where it was looked for, or the loader's own message ({@code dlerror}).
 *
 * <p>Where libraries are looked for, in order:
 * <ol>
 *   <li>the folders of {@code -Duntwist.cuda.libDir=DIR[:DIR...]} (e.g. the NVIDIA wheels'
 *       {@code site-packages/nvidia/cu13/lib} and {@code .../nvidia/cudnn/lib});</li>
 *   <li>the folders of {@code LD_LIBRARY_PATH};</li>
 *   <li>the system loader by soname ({@code dlopen("libcudart.so.13")}: the {@code ld.so} cache and default
 *       folders), after which the file it opened is loaded into the class loader by its absolute path.</li>
 * </ol>
 * Libraries are loaded in dependency order ({@link CudaLibrary} declaration order; cuBLAS pulls in
 * cuBLASLt). A library stays loaded for the life of the JVM, so later calls return at once.
 */
public final class CudaLibraries {
    /** System property naming the folders to search first, separated by {@link File#pathSeparator}. */
    public static final String LIB_DIR_PROPERTY = "untwist.cuda.libDir";

    private static final System.Logger LOG = System.getLogger("org.untwist.ffm");

    /** What is loaded so far, shared by every search. Guarded by the class lock. */
    private static final Map<CudaLibrary, Path> LOADED = new EnumMap<>(CudaLibrary.class);

    private CudaLibraries() {
    }

    /**
     * Where to look for libraries.
     *
     * @param folders        searched first, in order
     * @param systemFallback whether to go on to {@code LD_LIBRARY_PATH} and the system loader
     */
    public record Search(List<Path> folders, boolean systemFallback) {
        public Search {
            folders = List.copyOf(folders);
        }

        /** {@code -Duntwist.cuda.libDir} (if set), then {@code LD_LIBRARY_PATH} and the system loader. */
        public static Search fromSystem() {
            return new Search(LibraryFiles.split(System.getProperty(LIB_DIR_PROPERTY)), true);
        }

        /** Only the given folders: no fallback (for tests and explicit configurations). */
        public static Search only(Path... folders) {
            return new Search(List.of(folders), false);
        }

        /** Where this search looks, for messages. */
        public String describe() {
            List<String> parts = new ArrayList<>();
            String list = folders.stream().map(Path::toString).collect(Collectors.joining(File.pathSeparator));
            if (!folders.isEmpty()) {
                parts.add(systemFallback ? "-D" + LIB_DIR_PROPERTY + " (" + list + ")" : list);
            } else if (systemFallback) {
                parts.add("-D" + LIB_DIR_PROPERTY + " (not set)");
            }
            if (systemFallback) {
                String ld = System.getenv("LD_LIBRARY_PATH");
                parts.add("LD_LIBRARY_PATH (" + (ld == null || ld.isBlank() ? "not set" : ld) + ")");
                parts.add("the system library cache");
            }
            if (parts.isEmpty()) {
                return "no folder";
            }
            if (parts.size() == 1) {
                return parts.get(0);
            }
            return String.join(", ", parts.subList(0, parts.size() - 1)) + " or " + parts.get(parts.size() - 1);
        }
    }

    /**
     * The outcome of {@link #load}.
     *
     * @param loaded   each requested library that is loaded, with the file it was loaded from
     * @param failures each requested library that could not be loaded, with why
     * @param search   where it looked
     */
    public record Result(Map<CudaLibrary, Path> loaded, Map<CudaLibrary, String> failures, Search search) {
        public Result {
            loaded = Collections.unmodifiableMap(new LinkedHashMap<>(loaded));
            failures = Collections.unmodifiableMap(new LinkedHashMap<>(failures));
        }

        /** Whether every requested library is loaded. */
        public boolean ok() {
            return failures.isEmpty();
        }

        /**
         * One line saying what is missing and where it was looked for, e.g. {@code "libcudart.so.13,
         * libcuda.so.1 not found in LD_LIBRARY_PATH (not set) or the system library cache"}; {@code null} when
         * {@link #ok()}.
         */
        public String reason() {
            if (ok()) {
                return null;
            }
            List<String> notFound = new ArrayList<>();
            List<String> other = new ArrayList<>();
            for (Map.Entry<CudaLibrary, String> e : failures.entrySet()) {
                if (e.getValue() == null) {
                    notFound.add(e.getKey().soname());
                } else {
                    other.add(e.getValue());
                }
            }
            List<String> parts = new ArrayList<>();
            if (!notFound.isEmpty()) {
                parts.add(String.join(", ", notFound) + " not found in " + search.describe());
            }
            parts.addAll(other);
            return String.join("; ", parts);
        }
    }

    /** Loads {@code wanted} (and what they depend on) with {@link Search#fromSystem()}. */
    public static Result load(Set<CudaLibrary> wanted) {
        return load(Search.fromSystem(), wanted);
    }

    /** Loads {@code wanted} (and what they depend on), looking where {@code search} says. Never throws. */
    public static synchronized Result load(Search search, Set<CudaLibrary> wanted) {
        EnumSet<CudaLibrary> all = EnumSet.noneOf(CudaLibrary.class);
        all.addAll(wanted);
        if (all.contains(CudaLibrary.CUBLAS)) {
            all.add(CudaLibrary.CUBLAS_LT);
        }
        Map<CudaLibrary, Path> loaded = new EnumMap<>(CudaLibrary.class);
        Map<CudaLibrary, String> failures = new EnumMap<>(CudaLibrary.class);
        for (CudaLibrary lib : all) { // EnumSet iterates in declaration order: dependencies first
            try {
                Path from = loadOne(search, lib);
                loaded.put(lib, from);
            } catch (NotFound e) {
                failures.put(lib, null);
            } catch (LoadFailure e) {
                failures.put(lib, e.getMessage());
            } catch (Throwable t) { // e.g. IllegalCallerException without --enable-native-access
                failures.put(lib, lib.soname() + " could not be loaded: " + t);
            }
        }
        return new Result(loaded, failures, search);
    }

    /** The file a library was loaded from, if it is loaded. */
    public static synchronized Optional<Path> loadedFrom(CudaLibrary lib) {
        return Optional.ofNullable(LOADED.get(lib));
    }

    private static Path loadOne(Search search, CudaLibrary lib) throws NotFound, LoadFailure {
        Path done = LOADED.get(lib);
        if (done != null) {
            return done;
        }
        List<Path> folders = new ArrayList<>(search.folders());
        if (search.systemFallback()) {
            folders.addAll(LibraryFiles.split(System.getenv("LD_LIBRARY_PATH")));
        }
        for (Path folder : folders) {
            Path file = folder.resolve(lib.soname());
            if (Files.isRegularFile(file)) {
                Path abs = file.toAbsolutePath();
                for (String part : lib.parts()) {
                    Path p = folder.resolve(part);
                    if (Files.isRegularFile(p)) {
                        systemLoad(lib, p.toAbsolutePath());
                    }
                }
                systemLoad(lib, abs);
                return remember(lib, abs);
            }
        }
        if (!search.systemFallback()) {
            throw new NotFound();
        }
        // By soname through the system loader (ld.so cache, default folders, RUNPATH rules), then by the
        // absolute path it resolved to, so that the class loader's lookup sees the library too.
        SymbolLookup opened;
        try {
            opened = SymbolLookup.libraryLookup(lib.soname(), Arena.global());
        } catch (IllegalArgumentException e) {
            throw new NotFound();
        }
        Path resolved = opened.find(lib.symbol()).map(s -> LibraryFiles.mappedFile(s.address())).orElse(null);
        if (resolved == null) {
            throw new LoadFailure(lib.soname() + " was opened by the system loader but the file holding its "
                    + lib.symbol() + " could not be found in /proc/self/maps; set -D" + LIB_DIR_PROPERTY + " to its folder");
        }
        systemLoad(lib, resolved);
        return remember(lib, resolved);
    }

    private static Path remember(CudaLibrary lib, Path from) {
        LOADED.put(lib, from);
        LOG.log(System.Logger.Level.DEBUG, "loaded " + lib.displayName() + " from " + from);
        return from;
    }

    private static void systemLoad(CudaLibrary lib, Path file) throws LoadFailure {
        try {
            System.load(file.toString());
        } catch (UnsatisfiedLinkError e) {
            throw new LoadFailure(file.getFileName() + " at " + file + " could not be loaded: " + e.getMessage()
                    + (lib == CudaLibrary.CUBLAS ? " (libcublasLt.so.13 must be loadable too)" : ""));
        }
    }

    private static final class NotFound extends Exception {
        private static final long serialVersionUID = 1L;

        NotFound() {
            super(null, null, false, false);
        }
    }

    private static final class LoadFailure extends Exception {
        private static final long serialVersionUID = 1L;

        LoadFailure(String message) {
            super(message, null, false, false);
        }
    }
}
