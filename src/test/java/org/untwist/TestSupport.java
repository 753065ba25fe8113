package org.untwist;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.untwist.backend.Backend;
import org.untwist.backend.BackendProvider;
import org.untwist.backend.Backends;
import org.untwist.tensor.Tensor;

/** Shared helpers of the cross-backend suite: where the golden data is, which backends to test, comparisons. */
public final class TestSupport {
    private TestSupport() {
    }

    /** The element types a weight or an embedding table may have: every floating-point {@link org.untwist.tensor.DType}. */
    public static final org.untwist.tensor.DType[] WEIGHT_TYPES = java.util.Arrays.stream(org.untwist.tensor.DType.values())
            .filter(org.untwist.tensor.DType::isFloatingPoint).toArray(org.untwist.tensor.DType[]::new);

    /** The golden folder: {@code -Duntwist.golden}, else {@code testdata/golden} found upward from the working dir. */
    public static Path goldenRoot() {
        String prop = System.getProperty("untwist.golden");
        if (prop != null && Files.isDirectory(Path.of(prop))) {
            return Path.of(prop);
        }
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path candidate = p.resolve("testdata/golden");
            if (Files.isDirectory(candidate)) {
                return candidate;
            }
        }
        throw new IllegalStateException("golden data not found: set -Duntwist.golden or run inside the repository");
    }

    /**
     * Whether AWT can draw text here. Charts and grid labels need fontconfig fonts, which a headless server may lack
     * (AWT then throws "Fontconfig head is null"); the CLI writes its tables anyway and says which PNG it skipped.
     */
    public static boolean fontsAvailable() {
        System.setProperty("java.awt.headless", "true");
        try {
            java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(8, 8, java.awt.image.BufferedImage.TYPE_INT_RGB);
            java.awt.Graphics2D g = img.createGraphics();
            try {
                g.setFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.PLAIN, 12));
                g.drawString("x", 0, 8);
                return g.getFontMetrics().stringWidth("x") > 0;
            } finally {
                g.dispose();
            }
        } catch (RuntimeException | Error noFonts) {
            return false;
        }
    }

    /** The golden FLUX model folder. */
    public static Path tinyFlux() {
        return goldenRoot().resolve("flux-tiny-f32");
    }

    /**
     * Names of every backend that can run here and compute in float32, the precision the suite holds to the oracle
     * (the scalar oracle first; the bf16-only {@code onednn} has its own tests in its module);
     * {@code -Duntwist.test.backends=a,b} restricts the suite to those (e.g. {@code gpu} on the GPU machine), failing
     * when one cannot run.
     */
    public static List<String> availableBackends() {
        String only = System.getProperty("untwist.test.backends");
        if (only != null && !only.isBlank()) {
            List<String> wanted = List.of(only.trim().split("\\s*,\\s*"));
            for (String w : wanted) {
                Backends.providers().stream().filter(p -> p.name().equals(w)).findFirst()
                        .filter(p -> p.unavailableReason() == null)
                        .orElseThrow(() -> new IllegalStateException("-Duntwist.test.backends names '" + w + "', which cannot run here"));
            }
            return wanted;
        }
        List<String> names = new ArrayList<>();
        for (BackendProvider p : Backends.providers()) {
            if (p.unavailableReason() == null && p.precisions().contains(org.untwist.backend.Precision.F32)) {
                names.add(p.name());
            }
        }
        names.sort((a, b) -> a.equals("scalar") ? -1 : b.equals("scalar") ? 1 : a.compareTo(b));
        return names;
    }

    /** Builds a backend by name with the given threads. */
    public static Backend backend(String name, int threads) {
        return Backends.create(name, threads);
    }

    /** Largest absolute elementwise difference; shapes must agree. */
    public static double maxAbsDiff(Tensor actual, Tensor expected) {
        if (!actual.hasShape(expected.shape())) {
            throw new AssertionError("shape " + java.util.Arrays.toString(actual.shape()) + " != expected " + java.util.Arrays.toString(expected.shape()));
        }
        double m = 0;
        for (long i = 0; i < expected.numel(); i++) {
            double d = Math.abs((double) actual.get(i) - expected.get(i));
            if (Double.isNaN(d)) {
                return Double.POSITIVE_INFINITY;
            }
            m = Math.max(m, d);
        }
        return m;
    }

    /** Root mean square of a tensor's elements. */
    public static double rms(Tensor t) {
        double s = 0;
        for (long i = 0; i < t.numel(); i++) {
            s += (double) t.get(i) * t.get(i);
        }
        return Math.sqrt(s / Math.max(1, t.numel()));
    }
}
