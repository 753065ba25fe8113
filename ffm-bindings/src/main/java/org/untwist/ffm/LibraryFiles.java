package org.untwist.ffm;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** File-system helpers shared by the library loaders ({@link CudaLibraries}, {@link DnnlLibraries}). */
final class LibraryFiles {
    private LibraryFiles() {
    }

    /**
     * The file mapped at {@code address} in this process ({@code /proc/self/maps}), i.e. the library that
     * holds a symbol; the system loader may have opened it through a link ({@code libcuda.so.1 ->
     * libcuda.so.580.159.04}), so the soname alone does not identify it. {@code null} when not found.
     */
    static Path mappedFile(long address) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
                int slash = line.indexOf('/');
                int dash = line.indexOf('-');
                int space = line.indexOf(' ');
                if (slash < 0 || dash < 0 || space < dash) {
                    continue;
                }
                long start = Long.parseUnsignedLong(line.substring(0, dash), 16);
                long end = Long.parseUnsignedLong(line.substring(dash + 1, space), 16);
                if (Long.compareUnsigned(address, start) >= 0 && Long.compareUnsigned(address, end) < 0) {
                    return Path.of(line.substring(slash).trim());
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux or not readable
        }
        return null;
    }

    /** The non-blank entries of a {@link File#pathSeparator}-separated list ({@code null}: none). */
    static List<Path> split(String pathList) {
        List<Path> out = new ArrayList<>();
        if (pathList != null) {
            for (String s : pathList.split(File.pathSeparator)) {
                if (!s.isBlank()) {
                    out.add(Path.of(s.trim()));
                }
            }
        }
        return out;
    }
}
