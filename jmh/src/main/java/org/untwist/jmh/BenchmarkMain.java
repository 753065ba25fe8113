package org.untwist.jmh;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

/**
 * The benchmark jar's entry point: JMH's own {@code Main}, with the JVM flags the parent pom defines
 * ({@code untwist.jvmFlags}: the Vector API module, native access) put in front of every fork's arguments. The
 * benchmarks' {@code @Fork} annotations then name only what differs between them (heap sizes), and running the
 * jar without flags still gives forks that can run the vector backend.
 */
public final class BenchmarkMain {
    private static final String PREPEND = "-jvmArgsPrepend";

    private BenchmarkMain() {
    }

    public static void main(String[] args) throws Exception {
        org.openjdk.jmh.Main.main(withProjectFlags(args, projectFlags()));
    }

    /** The pom's flags, as Maven filtered them into the jar. */
    static String projectFlags() throws IOException {
        Properties p = new Properties();
        try (InputStream in = BenchmarkMain.class.getResourceAsStream("/untwist-jvm-flags.properties")) {
            if (in == null) {
                throw new IOException("untwist-jvm-flags.properties is missing from the benchmark jar (build it with Maven)");
            }
            p.load(in);
        }
        return p.getProperty("jvmFlags").trim();
    }

    /** {@code args} with the flags prepended to the forks' arguments, merged into a {@code -jvmArgsPrepend} given by the user. */
    static String[] withProjectFlags(String[] args, String flags) {
        List<String> out = new ArrayList<>();
        boolean merged = false;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals(PREPEND) && i + 1 < args.length) { // JMH takes one -jvmArgsPrepend string, split at spaces
                out.add(PREPEND);
                out.add(flags + " " + args[++i]);
                merged = true;
            } else {
                out.add(args[i]);
            }
        }
        if (!merged) {
            out.add(0, PREPEND);
            out.add(1, flags);
        }
        return out.toArray(String[]::new);
    }
}
