package org.untwist.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import org.untwist.tensor.ByteSize;

/**
 * The read-only memory mappings of weight files. By default each open file gets its own mapping, unmapped when the file
 * is closed. With {@code -Duntwist.keepMappedFiles=SIZE} (e.g. {@code 64g}; the CLI's background JVM sets it) up to
 * that many bytes of mappings stay after their files close and serve the next open of the same file (same file key,
 * size and modification time): on this project's VM the first pass over a fresh 1 GB mapping costs about 0.5 s even
 * with its pages in the page cache (measured: 0.55–0.62 s to touch every page of a new mapping, 0.02 s of one already
 * touched), which a process running one command after another would otherwise pay per command. The kept pages are the
 * page cache's, which the kernel may still reclaim; a mapping whose file changed is never handed out again and is
 * unmapped once unused.
 */
final class MappedFiles {
    private record Key(Object fileKey, Path path, long size, long modified) {
    }

    private static final class Entry {
        final Arena arena;
        final MemorySegment segment;
        int users;

        Entry(Arena arena, MemorySegment segment) {
            this.arena = arena;
            this.segment = segment;
        }
    }

    /** Kept and in-use mappings, least recently released first. */
    private static final Map<Key, Entry> MAPPINGS = new LinkedHashMap<>(16, 0.75f, true);

    /** One file's mapping, held until {@link #release}. */
    static final class Mapping {
        private final Key key; // null: not shared, unmapped on release
        private final Entry entry;
        private boolean released;

        private Mapping(Key key, Entry entry) {
            this.key = key;
            this.entry = entry;
        }

        MemorySegment segment() {
            return entry.segment;
        }

        /** Unmaps the file, or keeps the mapping for the next open of it; idempotent. */
        void release() {
            synchronized (MAPPINGS) {
                if (released) {
                    return;
                }
                released = true;
                entry.users--;
                if (key == null) {
                    entry.arena.close();
                    return;
                }
                trim(keepLimit());
            }
        }
    }

    private MappedFiles() {
    }

    /** The whole file of {@code ch} ({@code size} bytes) mapped read-only: a kept mapping of the same file, or a new one. */
    static Mapping map(FileChannel ch, Path file, long size) throws IOException {
        long keep = keepLimit();
        if (keep <= 0) {
            Arena arena = Arena.ofShared();
            try {
                Entry own = new Entry(arena, ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena));
                own.users = 1;
                return new Mapping(null, own);
            } catch (IOException | RuntimeException e) {
                arena.close();
                throw e;
            }
        }
        BasicFileAttributes attrs = Files.readAttributes(file, BasicFileAttributes.class);
        Key key = new Key(attrs.fileKey(), file.toAbsolutePath().normalize(), size, attrs.lastModifiedTime().toMillis());
        synchronized (MAPPINGS) {
            Entry e = MAPPINGS.get(key);
            if (e == null) {
                Arena arena = Arena.ofShared();
                try {
                    e = new Entry(arena, ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena));
                } catch (IOException | RuntimeException ex) {
                    arena.close();
                    throw ex;
                }
                forgetOtherVersions(key);
                MAPPINGS.put(key, e);
            }
            e.users++;
            return new Mapping(key, e);
        }
    }

    /** Another version of this file (changed since it was mapped) is never handed out again: unmapped once unused. */
    private static void forgetOtherVersions(Key key) {
        for (Iterator<Map.Entry<Key, Entry>> it = MAPPINGS.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Key, Entry> m = it.next();
            if (m.getKey().path().equals(key.path()) && !Objects.equals(m.getKey(), key) && m.getValue().users == 0) {
                m.getValue().arena.close();
                it.remove();
            }
        }
    }

    /** Unmaps unused mappings, least recently used first, until the kept ones fit in {@code limit} bytes. */
    private static void trim(long limit) {
        long kept = heldBytes();
        for (Iterator<Entry> it = MAPPINGS.values().iterator(); it.hasNext() && kept > limit; ) {
            Entry e = it.next();
            if (e.users == 0) {
                kept -= e.segment.byteSize();
                e.arena.close();
                it.remove();
            }
        }
    }

    /** Unmaps unused mappings beyond the current limit now (tests, after changing the property). */
    static void trimToLimit() {
        synchronized (MAPPINGS) {
            trim(keepLimit());
        }
    }

    /** The bytes of mappings held now, in use or kept (tests). */
    static long mappedBytes() {
        synchronized (MAPPINGS) {
            return heldBytes();
        }
    }

    /** The bytes of all mappings in the table; the caller holds its lock. */
    private static long heldBytes() {
        long sum = 0;
        for (Entry e : MAPPINGS.values()) {
            sum += e.segment.byteSize();
        }
        return sum;
    }

    private static long keepLimit() {
        return ByteSize.propertyOrZero("untwist.keepMappedFiles");
    }
}
