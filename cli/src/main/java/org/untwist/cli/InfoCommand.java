package org.untwist.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.untwist.backend.Backend;
import org.untwist.backend.BackendProvider;
import org.untwist.backend.Backends;
import org.untwist.backend.Precision;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code untwist info}: the machine, the backends, which one would be chosen and why. */
@Command(name = "info", mixinStandardHelpOptions = true, description = "Show the backends, SIMD width, threads and GPU.")
final class InfoCommand implements Callable<Integer> {
    @Mixin
    BackendOptions options;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        var out = spec.commandLine().getOut();
        int threads = options.threads();
        out.println("java:     " + System.getProperty("java.vm.name") + " " + Runtime.version());
        out.println("cpu:      " + cpuModel() + ", " + Runtime.getRuntime().availableProcessors() + " available processors");
        out.println("threads:  " + threads + " (at most " + Backends.maxThreads() + ")");
        out.println("backends (best first):");
        for (BackendProvider p : Backends.providers()) {
            String why = p.unavailableReason();
            String precisions = "[" + String.join(", ", p.precisions().stream().map(Precision::label).toList()) + "]";
            if (why != null) {
                out.printf("  %-8s %-11s unavailable: %s%n", p.name(), precisions, why);
            } else {
                try (Backend b = p.create(threads)) {
                    out.printf("  %-8s %-11s available: %s%n", p.name(), precisions, b.describe());
                }
            }
        }
        boolean gpu = Backends.providers().stream().anyMatch(p -> p.name().equals("gpu"));
        out.println("gpu:      " + (gpu ? "see the gpu backend above" : "none: this build has no GPU backend"));
        try (Backend chosen = options.create()) {
            out.println("selected: " + chosen.name());
        }
        return 0;
    }

    private static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or not readable: fall through
        }
        return System.getProperty("os.arch");
    }
}
