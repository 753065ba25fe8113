package org.untwist.text;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the T5 tokenizer tests find {@code testdata/text}: searched upward from the working directory. */
final class T5TestFiles {

    private T5TestFiles() {
    }

    static Path textDir() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path candidate = p.resolve("testdata/text");
            if (Files.isRegularFile(candidate.resolve("corpus.json"))) {
                return candidate;
            }
        }
        throw new IllegalStateException("testdata/text/corpus.json not found above " + Path.of("").toAbsolutePath());
    }
}
