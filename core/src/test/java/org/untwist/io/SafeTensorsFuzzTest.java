package org.untwist.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import net.jqwik.api.statistics.Statistics;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * Property-based fuzzing of {@link SafeTensors#open}: files made by mutating a small valid file must either be
 * rejected with a {@link SafeTensorsException} or, when accepted, be fully readable; any other exception fails.
 * The seeds are fixed so that runs are reproducible; jqwik prints the seed and the failing sample on failure.
 */
class SafeTensorsFuzzTest {
    private static final String FUZZ_FILE_NAME = "fuzz.safetensors";
    private static Path tmpDir;
    private static Path fuzzFile;

    @BeforeContainer
    static void createTempDir() throws IOException {
        tmpDir = Files.createTempDirectory("untwist-safetensors-fuzz");
        fuzzFile = tmpDir.resolve(FUZZ_FILE_NAME);
    }

    @AfterContainer
    static void deleteTempDir() throws IOException {
        if (tmpDir != null) {
            try (Stream<Path> files = Files.list(tmpDir)) {
                for (Path p : files.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(tmpDir);
        }
    }

    // ---- the valid seed file -------------------------------------------------------------------------------

    /** One header entry as raw JSON fragments, so that mutations can splice anything into any field. */
    record Entry(String key, List<String[]> fields, String raw) {
        /** A deep copy, so that mutations do not touch the template. */
        Entry copy() {
            if (fields == null) {
                return this;
            }
            List<String[]> f = new ArrayList<>();
            for (String[] kv : fields) {
                f.add(kv.clone());
            }
            return new Entry(key, f, raw);
        }

        Entry renamed(String newKey) {
            return new Entry(newKey, fields, raw);
        }
    }

    private static Entry entry(String key, String dtype, String shape, String offsets) {
        List<String[]> f = new ArrayList<>();
        f.add(new String[] {"dtype", "\"" + dtype + "\""});
        f.add(new String[] {"shape", shape});
        f.add(new String[] {"data_offsets", offsets});
        return new Entry(key, f, null);
    }

    /** A valid header: five tensors of all three types, a scalar, an empty tensor, and metadata. 42 data bytes. */
    private static List<Entry> validEntries() {
        return new ArrayList<>(List.of(
                entry("a", "F32", "[2,3]", "[0,24]"),
                entry("b.weight", "BF16", "[5]", "[24,34]"),
                entry("c", "F16", "[]", "[34,36]"),
                entry("d", "F32", "[0,4]", "[36,36]"),
                entry("e", "F16", "[3,1]", "[36,42]")));
    }

    private static final int VALID_DATA = 42;
    private static final String VALID_METADATA = "{\"format\":\"pt\",\"k\":\"v\"}";

    private static String render(String metadata, List<Entry> entries, String trailing) {
        StringBuilder sb = new StringBuilder("{");
        if (metadata != null) {
            sb.append("\"__metadata__\":").append(metadata);
        }
        for (Entry e : entries) {
            if (sb.length() > 1) {
                sb.append(',');
            }
            sb.append('"').append(e.key()).append("\":");
            if (e.raw() != null) {
                sb.append(e.raw());
                continue;
            }
            sb.append('{');
            boolean first = true;
            for (String[] kv : e.fields()) {
                if (!first) {
                    sb.append(',');
                }
                first = false;
                sb.append('"').append(kv[0]).append("\":").append(kv[1]);
            }
            sb.append('}');
        }
        return sb.append('}').append(trailing).toString();
    }

    private static byte[] fileOf(String header, int dataBytes, boolean padTo8) {
        String h = header;
        if (padTo8) {
            int len = h.getBytes(StandardCharsets.UTF_8).length;
            h = h + " ".repeat((8 - len % 8) % 8);
        }
        return StFiles.build(h, dataBytes);
    }

    private static final byte[] VALID = fileOf(render(VALID_METADATA, validEntries(), ""), VALID_DATA, true);
    private static final int VALID_HEADER_END = 8 + (int) StFiles.headerLength(VALID);

    /** A generated file and how it was made (shown by jqwik when a sample fails). */
    record Mutant(String kind, String how, byte[] bytes) {
        @Override
        public String toString() {
            String header = bytes.length >= 8 ? new String(bytes, 8, Math.min(bytes.length - 8, 400), StandardCharsets.UTF_8) : "";
            return kind + ": " + how + " (" + bytes.length + " bytes; after the prefix: " + header + ")";
        }
    }

    // ---- the property ------------------------------------------------------------------------------------

    @Example
    void theUnmutatedSeedFileIsValid() throws IOException {
        Files.write(fuzzFile, VALID);
        try (SafeTensors st = SafeTensors.open(fuzzFile)) {
            assertEquals(List.of("a", "b.weight", "c", "d", "e"), st.names());
            assertEquals(Map.of("format", "pt", "k", "v"), st.metadata());
            assertEquals(0, StFiles.headerLength(VALID) % 8);
            checkAccepted(st, VALID);
        }
    }

    @Property(tries = 5000, seed = "7355608", shrinking = ShrinkingMode.BOUNDED)
    void mutatedFilesAreRejectedCleanlyOrReadFully(@ForAll("mutants") Mutant m) throws IOException {
        Files.write(fuzzFile, m.bytes());
        String outcome;
        try (SafeTensors st = SafeTensors.open(fuzzFile)) {
            checkAccepted(st, m.bytes());
            outcome = "accepted";
        } catch (SafeTensorsException e) {
            assertTrue(e.getMessage() != null && e.getMessage().contains(FUZZ_FILE_NAME), () -> "message names the file: " + e.getMessage());
            outcome = "rejected";
        }
        Statistics.label("kind").collect(m.kind());
        Statistics.label("outcome").collect(outcome);
        Statistics.label("outcome").coverage(c -> {
            c.check("accepted").percentage(p -> p >= 2.0);
            c.check("rejected").percentage(p -> p >= 50.0);
        });
    }

    private static double sink; // keeps the sums observable

    /** An accepted file must be fully readable, and every tensor must be exactly its bytes of the file. */
    private static void checkAccepted(SafeTensors st, byte[] file) {
        long hlen = StFiles.headerLength(file);
        long dataStart = 8 + hlen;
        List<TensorInfo> infos = new ArrayList<>();
        for (String name : st.names()) {
            TensorInfo info = st.info(name);
            infos.add(info);
            Tensor t = st.tensor(name);
            assertEquals(info.dtype(), t.dtype());
            assertArrayEquals(info.shape(), t.shape());
            assertEquals(info.end() - info.begin(), t.segment().byteSize());
            assertTrue(dataStart + info.end() <= file.length, "inside the file");
            double sum = 0;
            for (long i = 0; i < t.numel(); i++) {
                sum += t.get(i);
            }
            sink += sum;
            MemorySegment expected = MemorySegment.ofArray(file).asSlice(dataStart + info.begin(), info.end() - info.begin());
            assertEquals(-1, t.segment().mismatch(expected), () -> name + " is not its own bytes of the file");
        }
        infos.sort(Comparator.comparingLong(TensorInfo::begin));
        long end = 0;
        for (TensorInfo i : infos) {
            if (i.begin() != i.end()) {
                assertTrue(i.begin() >= end, "no overlap at " + i);
                end = i.end();
            }
        }
        assertTrue(st.metadata().values().stream().allMatch(v -> v != null));
    }

    // ---- the mutations -----------------------------------------------------------------------------------

    @Provide
    Arbitrary<Mutant> mutants() {
        return Arbitraries.frequencyOf(
                Tuple.of(2, truncations()),
                Tuple.of(4, byteFlips()),
                Tuple.of(3, lengthPrefixes()),
                Tuple.of(12, jsonSplices()),
                Tuple.of(3, textEdits()),
                Tuple.of(2, randomFiles()));
    }

    private static Arbitrary<Mutant> truncations() {
        return Arbitraries.integers().between(0, VALID.length - 1)
                .map(n -> new Mutant("truncate", "to " + n + " bytes", Arrays.copyOf(VALID, n)));
    }

    private static Arbitrary<Mutant> byteFlips() {
        Arbitrary<Integer> position = Arbitraries.frequencyOf(
                Tuple.of(2, Arbitraries.integers().between(0, 7)),                     // the length prefix
                Tuple.of(6, Arbitraries.integers().between(8, VALID_HEADER_END - 1)),  // the header
                Tuple.of(1, Arbitraries.integers().between(0, VALID.length - 1)));     // anywhere
        Arbitrary<int[]> flip = Combinators.combine(position, Arbitraries.integers().between(1, 255)).as((p, x) -> new int[] {p, x});
        return flip.list().ofMinSize(1).ofMaxSize(6).map(flips -> {
            byte[] b = VALID.clone();
            StringBuilder how = new StringBuilder();
            for (int[] f : flips) {
                b[f[0]] ^= (byte) f[1];
                how.append(String.format("[%d]^=0x%02x ", f[0], f[1]));
            }
            return new Mutant("flip", how.toString().trim(), b);
        });
    }

    private static Arbitrary<Mutant> lengthPrefixes() {
        long h = VALID_HEADER_END - 8;
        Arbitrary<Long> special = Arbitraries.of(0L, 1L, 2L, 7L, h - 8, h - 1, h + 1, h + 8, (long) VALID.length - 8,
                (long) VALID.length - 7, (long) VALID.length, SafeTensors.MAX_HEADER_BYTES, SafeTensors.MAX_HEADER_BYTES + 1,
                (long) Integer.MAX_VALUE, Integer.MAX_VALUE + 1L, 0xFFFF_FFFFL, 1L << 32, (1L << 32) + h, Long.MAX_VALUE,
                Long.MIN_VALUE, -1L, -h, Long.MIN_VALUE + h);
        Arbitrary<Long> prefix = Arbitraries.frequencyOf(
                Tuple.of(3, special),
                Tuple.of(3, Arbitraries.longs().between(0, VALID.length)),
                Tuple.of(2, Arbitraries.longs()));
        return prefix.map(p -> {
            byte[] b = VALID.clone();
            MemorySegment.ofArray(b).set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0, p);
            return new Mutant("prefix", "length " + Long.toUnsignedString(p), b);
        });
    }

    /** JSON (and not-quite-JSON) values to splice in place of a field, an entry or the metadata. */
    private static Arbitrary<String> fragments() {
        Arbitrary<String> fixed = Arbitraries.of(
                "\"F32\"", "\"BF16\"", "\"F16\"", "\"I64\"", "\"F64\"", "\"U8\"", "\"BOOL\"", "\"f32\"", "\"bf16\"", "\"\"", "\"F32 \"",
                "null", "true", "false", "0", "1", "-1", "1.5", "1e3", "-0", "1E400", "2147483647", "2147483648", "-2147483649",
                "9223372036854775807", "9223372036854775808", "18446744073709551615", "99999999999999999999999999",
                "[]", "[0]", "[1]", "[-1]", "[0,0]", "[0,24]", "[24,0]", "[0,24,48]", "[2,3]", "[6]", "[3,2]", "[1,1,1,1,1,6]",
                "[0,42]", "[36,42]", "[34,36]", "[42,42]", "[43,43]", "[0,-4]", "[-0,0]", "[1.0,2.0]", "[\"0\",\"4\"]", "[null,4]",
                "[2147483647,2147483647,2147483647]", "[65536,65536]", "[1073741824,1073741824,4]", "[2305843009213693952,4]",
                "[0,9223372036854775807]", "[9223372036854775807,9223372036854775807]", "[9223372036854775806,9223372036854775807]",
                "[0,18446744073709551615]", "[-1,0]", "[0,-5]", "[0,2147483648]", "[4294967296,0]", "[4294967296]",
                "[65536,65536,65536,65536]", "[1024,1024,1024,1024,1024,1024,1024]", "[2147483647,2147483647,2147483647,0]",
                "[0,2147483647,2147483647,2147483647]", "[0.0]", "[0,1e2]", "[[1]]", "[{}]", "{}", "{\"a\":1}", "{\"a\":\"b\"}", "{\"a\":null}", "\"\\u0000\"",
                "\"\\ud800\"", "\"\\uZZZZ\"", "[", "]", "{", "}", ",", ":", "\"", "[0,24", "{\"dtype\":\"F32\"}", "NaN", "Infinity",
                "'F32'", "01", "0x10", "[0,,4]", "[0 4]", "/*c*/1", "[0,24] ");
        Arbitrary<String> number = Arbitraries.frequencyOf(
                Tuple.of(4, Arbitraries.longs().between(-2, 64)),
                Tuple.of(1, Arbitraries.longs()),
                Tuple.of(1, Arbitraries.of(Integer.MAX_VALUE + 0L, Integer.MIN_VALUE + 0L, Long.MAX_VALUE, Long.MIN_VALUE,
                        Long.MAX_VALUE / 2, Long.MAX_VALUE / 4, 1L << 31, 1L << 32, 1L << 62)))
                .map(String::valueOf);
        Arbitrary<String> numberArray = number.list().ofMaxSize(5).map(l -> "[" + String.join(",", l) + "]");
        Arbitrary<String> junk = Arbitraries.strings().withChars("{}[],:\"\\0123456789-+.eEtrufalsn FB \u00e9\u0000").ofMaxLength(12);
        Arbitrary<String> string = Arbitraries.strings().ofMaxLength(6).map(s -> "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"");
        return Arbitraries.frequencyOf(
                Tuple.of(6, fixed), Tuple.of(3, number), Tuple.of(5, numberArray), Tuple.of(2, junk), Tuple.of(1, string));
    }

    private static final String[] FIELD_NAMES = {"dtype", "shape", "data_offsets"};

    private static Arbitrary<Mutant> jsonSplices() {
        Arbitrary<Integer> op = Arbitraries.integers().between(0, 15);
        Arbitrary<Integer> which = Arbitraries.integers().between(0, 99);
        Arbitrary<Integer> dataSize = Arbitraries.frequencyOf(
                Tuple.of(6, Arbitraries.just(VALID_DATA)),
                Tuple.of(2, Arbitraries.integers().between(0, 80)),
                Tuple.of(1, Arbitraries.of(0, 36, 41, 43, 48, 64)));
        Arbitrary<Integer> edits = Arbitraries.integers().between(1, 3);
        Arbitrary<BigInteger> position = Arbitraries.frequencyOf(
                Tuple.of(12, Arbitraries.bigIntegers().between(BigInteger.ZERO, BigInteger.valueOf(50))),
                Tuple.of(1, Arbitraries.bigIntegers().between(BigInteger.valueOf(-8), BigInteger.valueOf(-1))),
                Tuple.of(1, Arbitraries.of(BigInteger.ONE.shiftLeft(63).subtract(BigInteger.valueOf(4)),
                        BigInteger.ONE.shiftLeft(64).subtract(BigInteger.valueOf(4)), BigInteger.ONE.shiftLeft(63),
                        BigInteger.ONE.shiftLeft(31), BigInteger.ONE.shiftLeft(32))));
        return Combinators.combine(op.list().ofSize(3), which.list().ofSize(3), fragments().list().ofSize(3), edits, dataSize,
                Arbitraries.of(true, false), position.list().ofSize(3)).as((ops, whiches, frags, n, data, pad, positions) -> {
            List<Entry> entries = new ArrayList<>();
            for (Entry e : validEntries()) {
                entries.add(e.copy());
            }
            String metadata = VALID_METADATA;
            String trailing = "";
            List<String> how = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int w = whiches.get(i);
                String frag = frags.get(i);
                Entry target = entries.isEmpty() ? null : entries.get(w % entries.size());
                switch (ops.get(i)) {
                    case 0, 1, 2, 3 -> { // replace a field's value (the most useful mutation: weighted)
                        if (target == null || target.fields() == null || target.fields().isEmpty()) {
                            continue;
                        }
                        String[] kv = target.fields().get(w % target.fields().size());
                        kv[1] = frag;
                        how.add(target.key() + "." + kv[0] + "=" + frag);
                    }
                    case 4 -> { // drop a field
                        if (target == null || target.fields() == null || target.fields().isEmpty()) {
                            continue;
                        }
                        String[] kv = target.fields().remove(w % target.fields().size());
                        how.add("drop " + target.key() + "." + kv[0]);
                    }
                    case 5 -> { // add a field: a duplicate of a known one or an unknown one
                        if (target == null || target.fields() == null) {
                            continue;
                        }
                        String field = w % 4 == 3 ? "extra" : FIELD_NAMES[w % 3];
                        target.fields().add(new String[] {field, frag});
                        how.add("add " + target.key() + "." + field + "=" + frag);
                    }
                    case 6 -> { // replace a whole entry
                        if (target == null) {
                            continue;
                        }
                        entries.set(entries.indexOf(target), new Entry(target.key(), null, frag));
                        how.add(target.key() + "=" + frag);
                    }
                    case 7 -> { // rename a key, possibly onto another one (a duplicate) or onto __metadata__
                        if (target == null) {
                            continue;
                        }
                        String key = switch (w % 4) {
                            case 0 -> entries.get((w / 4) % entries.size()).key();
                            case 1 -> "__metadata__";
                            case 2 -> "";
                            default -> "k\\u00e9y" + w;
                        };
                        entries.set(entries.indexOf(target), target.renamed(key));
                        how.add("rename " + target.key() + "->" + key);
                    }
                    case 8 -> { // remove a tensor (its bytes become a gap)
                        if (target == null) {
                            continue;
                        }
                        entries.remove(target);
                        how.add("remove " + target.key());
                    }
                    case 9 -> { // replace or drop the metadata
                        metadata = w % 5 == 0 ? null : frag;
                        how.add("__metadata__=" + metadata);
                    }
                    case 10 -> { // metadata entry with an arbitrary value
                        metadata = "{\"k\":" + frag + "}";
                        how.add("__metadata__.k=" + frag);
                    }
                    case 12, 13 -> { // a consistent dtype/shape/offsets triple placed anywhere: overlaps, gaps, overruns
                        if (target == null) {
                            continue;
                        }
                        DType dt = DType.values()[w % 3];
                        int count = (w / 3) % 9;
                        String shape = w % 2 == 0 ? "[" + count + "]" : "[1," + count + "]";
                        BigInteger begin = positions.get(i);
                        BigInteger end = begin.add(BigInteger.valueOf((long) count * dt.byteSize()));
                        Entry moved = entry(target.key(), dt.safetensorsName(), shape, "[" + begin + "," + end + "]");
                        entries.set(entries.indexOf(target), moved);
                        how.add(target.key() + "=" + dt + shape + "@[" + begin + "," + end + "]");
                    }
                    case 14, 15 -> { // any shape with an empty byte range: only a zero element count may pass
                        if (target == null) {
                            continue;
                        }
                        BigInteger at = positions.get(i);
                        Entry empty = entry(target.key(), DType.values()[w % 3].safetensorsName(), frag, "[" + at + "," + at + "]");
                        entries.set(entries.indexOf(target), empty);
                        how.add(target.key() + ".shape=" + frag + " @[" + at + "," + at + "]");
                    }
                    default -> { // trailing data
                        trailing = frag;
                        how.add("trailing " + frag);
                    }
                }
            }
            byte[] bytes = fileOf(render(metadata, entries, trailing), data, pad);
            return new Mutant("splice", String.join("; ", how) + "; data " + data + (pad ? "; padded" : ""), bytes);
        });
    }

    private static Arbitrary<Mutant> textEdits() {
        String valid = new String(VALID, 8, VALID_HEADER_END - 8, StandardCharsets.UTF_8).stripTrailing();
        Arbitrary<Integer> pos = Arbitraries.integers().between(0, valid.length());
        Arbitrary<Integer> del = Arbitraries.integers().between(0, 6);
        Arbitrary<String> ins = Arbitraries.strings().withChars("{}[],:\"0123456789- .e\u00ff").ofMaxLength(4);
        return Combinators.combine(pos, del, ins, Arbitraries.of(true, false)).as((p, d, s, fixPrefix) -> {
            String h = valid.substring(0, p) + s + valid.substring(Math.min(valid.length(), p + d));
            byte[] hb = h.getBytes(StandardCharsets.UTF_8);
            // with fixPrefix the length prefix follows the edit; otherwise the old prefix stays and the header shifts
            byte[] b = StFiles.build(fixPrefix ? hb.length : valid.length(), hb, StFiles.pattern(VALID_DATA));
            return new Mutant("edit", "at " + p + " delete " + d + " insert '" + s + "'" + (fixPrefix ? "" : " (stale prefix)"), b);
        });
    }

    private static Arbitrary<Mutant> randomFiles() {
        Arbitrary<byte[]> noise = Arbitraries.bytes().array(byte[].class).ofMaxSize(300);
        Arbitrary<Long> plausible = Arbitraries.longs().between(0, 300);
        return Arbitraries.oneOf(
                noise.map(b -> new Mutant("noise", "random bytes", b)),
                Combinators.combine(plausible, noise).as((p, b) ->
                        new Mutant("noise", "prefix " + p + " + random bytes", StFiles.build(p, b, new byte[0]))));
    }

    // ---- a round-trip property ---------------------------------------------------------------------------

    /** What to write: a name, a type, a shape and the seed of its random bytes. */
    record Spec(String name, DType dtype, int[] shape, long seed) {
        Tensor create() {
            Tensor t = Tensor.allocate(dtype, shape);
            java.util.SplittableRandom rnd = new java.util.SplittableRandom(seed);
            for (long i = 0; i < t.segment().byteSize(); i++) {
                t.segment().set(ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt());
            }
            return t;
        }

        @Override
        public String toString() {
            return name + ":" + dtype + Arrays.toString(shape);
        }
    }

    @Property(tries = 150, seed = "424242")
    void writtenFilesReadBackBitForBit(@ForAll("specs") List<Spec> specs) throws IOException {
        Path file = tmpDir.resolve("roundtrip.safetensors");
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try {
            for (Spec s : specs) {
                tensors.put(s.name(), s.create());
            }
            SafeTensors.write(file, tensors, Map.of("n", String.valueOf(tensors.size())));
            long hlen = StFiles.headerLength(Files.readAllBytes(file));
            assertEquals(0, hlen % 8);
            try (SafeTensors st = SafeTensors.open(file)) {
                assertEquals(List.copyOf(tensors.keySet()), st.names());
                assertEquals(Map.of("n", String.valueOf(tensors.size())), st.metadata());
                for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                    Tensor got = st.tensor(e.getKey());
                    assertEquals(e.getValue().dtype(), got.dtype());
                    assertArrayEquals(e.getValue().shape(), got.shape());
                    assertEquals(-1, got.segment().mismatch(e.getValue().segment()));
                }
            }
        } finally {
            tensors.values().forEach(Tensor::close);
        }
    }

    @Provide
    Arbitrary<List<Spec>> specs() {
        Arbitrary<int[]> shape = Arbitraries.integers().between(0, 6).array(int[].class).ofMaxSize(4);
        Arbitrary<String> name = Arbitraries.strings().alpha().numeric().withChars("._-\u00e9\"\\/ ").ofMinLength(0).ofMaxLength(12)
                .filter(s -> !s.equals("__metadata__"));
        // safetensors holds the types stored element by element, not GGUF's block-quantized ones
        Arbitrary<DType> dtype = Arbitraries.of(DType.class).filter(d -> !d.isBlockQuantized());
        return Combinators.combine(name, dtype, shape, Arbitraries.longs()).as(Spec::new)
                .list().ofMaxSize(8).uniqueElements(Spec::name);
    }
}
