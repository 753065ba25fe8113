package org.untwist.ffm;

import java.io.File;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Loads oneDNN ({@code libdnnl.so.2}) and the OpenMP runtime it runs on ({@code libgomp.so.1}) by their versioned
 * sonames, so that the jextract-generated {@code org.untwist.ffm.gen.dnnl} and {@code org.untwist.ffm.gen.omp} find
 * their symbols through {@link SymbolLookup#loaderLookup()}, as {@link CudaLibraries} does for CUDA. Never throws
 * for a missing or broken library: {@link #load()} returns one line naming what is missing and where it looked.
 *
 * <p>Where {@code libdnnl.so.2} is looked for, in order: the folders of {@code -Duntwist.dnnl.libDir=DIR[:DIR...]},
 * the folders of {@code LD_LIBRARY_PATH}, then the system loader by soname (Debian's {@code libdnnl2} package puts it
 * in the library cache). {@code libgomp.so.1} is the one the dynamic loader linked oneDNN against: opened by soname
 * once oneDNN is loaded, then loaded into the class loader by the path it resolved to.
 */
public final class DnnlLibraries {
    /** System property naming the folders to search first, separated by {@link File#pathSeparator}. */
    public static final String LIB_DIR_PROPERTY = "untwist.dnnl.libDir";
    /** oneDNN 2.x, whose C API the bindings were generated from (Debian's {@code libdnnl2}). */
    public static final String DNNL_SONAME = "libdnnl.so.2";
    /** GCC's OpenMP runtime, which Debian's oneDNN is built with. */
    public static final String OPENMP_SONAME = "libgomp.so.1";

    private static boolean tried; // guarded by the class lock
    private static String reason;

    private DnnlLibraries() {
    }

    /**
     * Loads both libraries, searching {@code -Duntwist.dnnl.libDir}, {@code LD_LIBRARY_PATH} and the system loader;
     * the outcome of the first call is kept.
     *
     * @return {@code null} when both are loaded, else one line saying what is missing and where it was looked for
     */
    public static synchronized String load() {
        if (!tried) {
            reason = load(LibraryFiles.split(System.getProperty(LIB_DIR_PROPERTY)), true);
            tried = true;
        }
        return reason;
    }

    /**
     * Loads both libraries, looking for {@code libdnnl.so.2} in {@code folders} and, when {@code systemFallback}, in
     * {@code LD_LIBRARY_PATH} and through the system loader. Not cached (for tests and diagnostics). Never throws.
     *
     * @return {@code null} when both are loaded, else one line saying what is missing and where it was looked for
     */
    public static synchronized String load(List<Path> folders, boolean systemFallback) {
        try {
            String why = loadDnnl(folders, systemFallback);
            return why != null ? why : loadOpenMp();
        } catch (Throwable t) { // e.g. IllegalCallerException without --enable-native-access
            return DNNL_SONAME + " could not be loaded: " + t;
        }
    }

    private static String loadDnnl(List<Path> folders, boolean systemFallback) {
        List<Path> all = new ArrayList<>(folders);
        if (systemFallback) {
            all.addAll(LibraryFiles.split(System.getenv("LD_LIBRARY_PATH")));
        }
        for (Path folder : all) {
            Path file = folder.resolve(DNNL_SONAME);
            if (Files.isRegularFile(file)) {
                return systemLoad(file.toAbsolutePath());
            }
        }
        String where = describe(folders, systemFallback);
        if (!systemFallback) {
            return DNNL_SONAME + " (oneDNN 2) not found in " + where;
        }
        return loadBySoname(DNNL_SONAME, "dnnl_version", DNNL_SONAME + " (oneDNN 2, Debian package libdnnl2) not found in " + where);
    }

    private static String loadOpenMp() {
        return loadBySoname(OPENMP_SONAME, "omp_set_num_threads", OPENMP_SONAME + " (the OpenMP runtime oneDNN runs on) could not be opened");
    }

    /** By soname through the system loader, then by the absolute path it resolved to, so that the class loader sees it. */
    private static String loadBySoname(String soname, String symbol, String notFound) {
        SymbolLookup opened;
        try {
            opened = SymbolLookup.libraryLookup(soname, Arena.global());
        } catch (IllegalArgumentException e) {
            return notFound;
        }
        Path resolved = opened.find(symbol).map(s -> LibraryFiles.mappedFile(s.address())).orElse(null);
        if (resolved == null) {
            return soname + " was opened by the system loader but the file holding its " + symbol
                    + " could not be found in /proc/self/maps; set -D" + LIB_DIR_PROPERTY + " to its folder";
        }
        return systemLoad(resolved);
    }

    private static String systemLoad(Path file) {
        try {
            System.load(file.toString());
            return null;
        } catch (UnsatisfiedLinkError e) {
            return file.getFileName() + " at " + file + " could not be loaded: " + e.getMessage();
        }
    }

    private static String describe(List<Path> folders, boolean systemFallback) {
        List<String> parts = new ArrayList<>();
        String list = folders.stream().map(Path::toString).collect(Collectors.joining(File.pathSeparator));
        if (!systemFallback) {
            return folders.isEmpty() ? "no folder" : list;
        }
        parts.add("-D" + LIB_DIR_PROPERTY + " (" + (folders.isEmpty() ? "not set" : list) + ")");
        String ld = System.getenv("LD_LIBRARY_PATH");
        parts.add("LD_LIBRARY_PATH (" + (ld == null || ld.isBlank() ? "not set" : ld) + ")");
        return String.join(", ", parts) + " or the system library cache";
    }
}
