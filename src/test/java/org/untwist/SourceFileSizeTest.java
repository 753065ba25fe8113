package org.untwist;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * No hand-written main source file is over {@value #MAX_LINES} lines: a file that long holds several concepts
 * and should be split. The bindings jextract generated ({@code org/untwist/ffm/gen}) are exempt.
 */
class SourceFileSizeTest {
    static final int MAX_LINES = 800;

    @Test
    void noHandWrittenMainSourceIsOverTheLimit() throws IOException {
        Path root = TestSupport.goldenRoot().getParent().getParent(); // testdata/golden -> repository root
        List<Path> sources;
        try (Stream<Path> files = Files.walk(root)) {
            sources = files.filter(p -> p.toString().endsWith(".java"))
                    .filter(p -> root.relativize(p).toString().replace('\\', '/').matches("[^/]+/src/main/java/.*"))
                    .filter(p -> !p.toString().replace('\\', '/').contains("/org/untwist/ffm/gen/"))
                    .toList();
        }
        assertTrue(sources.size() > 50, "found only " + sources.size() + " main sources under " + root + ": wrong root?");
        List<String> tooLong = sources.stream()
                .filter(p -> lines(p) > MAX_LINES)
                .map(p -> root.relativize(p) + " (" + lines(p) + " lines)")
                .toList();
        assertTrue(tooLong.isEmpty(), "hand-written main sources over " + MAX_LINES + " lines: " + tooLong);
    }

    private static long lines(Path p) {
        try (Stream<String> l = Files.lines(p)) {
            return l.count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
