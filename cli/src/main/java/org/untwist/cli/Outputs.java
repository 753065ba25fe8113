package org.untwist.cli;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.untwist.io.AtomicFiles;

/**
 * The files a command writes, checked before any work and written all or nothing.
 *
 * <p>{@link #file} and {@link #folder} check, when a command starts, that each output can be written: the path
 * is not a folder (for a file), the nearest existing folder above it really is a folder, and a file can be
 * created there (tried, then removed). Missing folders are allowed: they are created when the results are
 * written. {@link #write} writes a result to a temporary file beside its target; {@link #commit} moves every
 * one into place at the end. Closing without a commit (a failure) deletes the temporary files and the folders
 * this run created, so a failed run leaves nothing behind and existing files untouched. Errors are one line
 * with the option, the path and the reason.
 */
final class Outputs implements AutoCloseable {
    /** Writes one result into the file it is given. */
    @FunctionalInterface
    interface Writer {
        void write(Path file) throws IOException;
    }

    private final Map<Path, String> options = new LinkedHashMap<>(); // target -> option that named it
    private final Map<Path, Path> staged = new LinkedHashMap<>(); // target -> temporary file
    private final List<Path> createdFolders = new ArrayList<>();
    private boolean committed;

    /** Checks that {@code option} (a file path) can be written; null is allowed (an option not given). */
    Outputs file(String option, Path path) {
        if (path == null) {
            return this;
        }
        Path abs = path.toAbsolutePath().normalize();
        if (Files.isDirectory(abs)) {
            throw new IllegalArgumentException(option + " " + path + ": is a folder; give a file name");
        }
        if (Files.exists(abs) && !Files.isRegularFile(abs)) {
            throw new IllegalArgumentException(option + " " + path + ": exists and is not a regular file");
        }
        String other = options.get(abs);
        if (other != null) {
            throw new IllegalArgumentException(option + " and " + other + " name the same file " + path);
        }
        requireWritableFolder(option, path, abs.getParent());
        options.put(abs, option);
        return this;
    }

    /** Checks that files can be written into {@code option} (a folder path, created if missing). */
    Outputs folder(String option, Path dir) {
        Path abs = dir.toAbsolutePath().normalize();
        if (Files.exists(abs) && !Files.isDirectory(abs)) {
            throw new IllegalArgumentException(option + " " + dir + ": is a file, not a folder");
        }
        requireWritableFolder(option, dir, abs);
        options.put(abs, option);
        return this;
    }

    private static void requireWritableFolder(String option, Path shown, Path dir) {
        Path existing = dir;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            throw new IllegalArgumentException(option + " " + shown + ": no existing folder above it");
        }
        if (!Files.isDirectory(existing)) {
            throw new IllegalArgumentException(option + " " + shown + ": " + existing + " is a file, not a folder");
        }
        try { // the only reliable test (permissions, read-only file systems, ACLs, root): try it
            Files.delete(Files.createTempFile(existing, ".untwist-", ".probe"));
        } catch (IOException e) {
            throw new IllegalArgumentException(option + " " + shown + ": cannot write in " + existing + ": " + reason(e));
        }
    }

    /**
     * Writes the result for {@code target} into a temporary file beside it (creating missing folders), to be
     * moved into place by {@link #commit}. Returns {@code target}, for messages.
     */
    Path write(Path target, Writer writer) throws IOException {
        Path abs = target.toAbsolutePath().normalize();
        String option = options.getOrDefault(abs, options.getOrDefault(abs.getParent(), "output"));
        try {
            createFolders(abs.getParent());
            Path tmp = AtomicFiles.temporarySibling(abs);
            Path old = staged.put(abs, tmp);
            if (old != null) {
                Files.deleteIfExists(old);
            }
            writer.write(tmp);
        } catch (IOException e) {
            throw new IOException(option + " " + target + ": cannot write: " + reason(e), e);
        }
        return target;
    }

    /** Drops a result written by {@link #write} (e.g. a chart that could not be drawn). */
    void discard(Path target) throws IOException {
        Path tmp = staged.remove(target.toAbsolutePath().normalize());
        if (tmp != null) {
            Files.deleteIfExists(tmp);
        }
    }

    private void createFolders(Path dir) throws IOException {
        if (dir == null || Files.isDirectory(dir)) {
            return;
        }
        createFolders(dir.getParent());
        Files.createDirectory(dir);
        createdFolders.add(dir);
    }

    /** Moves every written result into place. */
    void commit() throws IOException {
        for (Map.Entry<Path, Path> e : staged.entrySet()) {
            try {
                AtomicFiles.moveIntoPlace(e.getValue(), e.getKey());
            } catch (IOException ex) {
                throw new IOException(options.getOrDefault(e.getKey(), "output") + " " + e.getKey() + ": cannot write: " + reason(ex), ex);
            }
        }
        staged.clear();
        committed = true;
    }

    /** Without a commit: deletes the temporary files and the folders this run created. */
    @Override
    public void close() {
        for (Path tmp : staged.values()) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // best effort: the failure being reported matters more
            }
        }
        staged.clear();
        if (!committed) {
            for (int i = createdFolders.size() - 1; i >= 0; i--) {
                try {
                    Files.deleteIfExists(createdFolders.get(i));
                } catch (DirectoryNotEmptyException someoneElses) {
                    // another process wrote there meanwhile: leave it
                } catch (IOException ignored) {
                    // best effort
                }
            }
        }
        createdFolders.clear();
    }

    /** Why a file operation failed, in words, rather than the bare path most {@link FileSystemException}s carry. */
    static String reason(IOException e) {
        if (!(e instanceof FileSystemException) && e.getCause() instanceof IOException cause) {
            return reason(cause); // a wrapper (e.g. from SafeTensors.write) whose message names the temporary file
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof NoSuchFileException) {
            return "no such file or folder";
        }
        if (e instanceof NotDirectoryException) {
            return "not a folder";
        }
        if (e instanceof FileSystemException fse && fse.getReason() != null) {
            return fse.getReason();
        }
        String m = e.getMessage();
        return m == null ? e.getClass().getSimpleName() : m.strip().replaceAll("\\s*\\R\\s*", " ");
    }
}
