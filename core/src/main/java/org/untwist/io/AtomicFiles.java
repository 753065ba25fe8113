package org.untwist.io;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writing a file all or nothing: write a temporary file beside the target, then move it into place, so a reader
 * never sees half a file and a failure leaves the old file as it was.
 */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    /** A fresh hidden name beside {@code target} ({@code .NAME.RANDOM.tmp}): same folder, so the move is a rename. */
    public static Path temporarySibling(Path target) {
        return target.resolveSibling("." + target.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
    }

    /** Moves {@code tmp} over {@code target}: atomically where the file system can, else a plain replacing move. */
    public static void moveIntoPlace(Path tmp, Path target) throws IOException {
        try {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
