import java.nio.file.Path;
import org.untwist.backend.Backend;
import org.untwist.backend.Backends;
import org.untwist.flux.FluxInputs;
import org.untwist.flux.FluxModel;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.Tensor;

/**
 * The warm reference for docs/aot-warmup.md: loads a FLUX model once and times N forward passes in one JVM, on
 * BACKEND (default {@code vector}; {@code onednn} for the CPU's bf16 precision).
 * $JAVA_HOME/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *     -cp cli/target/untwist.jar jmh/warmup/WarmForward.java MODEL_DIR INPUTS THREADS [N [BACKEND]]
 */
public class WarmForward {
    public static void main(String[] a) throws Exception {
        Path dir = Path.of(a[0]);
        int threads = Integer.parseInt(a[2]);
        int n = a.length > 3 ? Integer.parseInt(a[3]) : 5;
        String backend = a.length > 4 ? a[4] : "vector";
        try (SafeTensors in = SafeTensors.open(Path.of(a[1]));
             Backend be = Backends.create(backend, threads);
             FluxModel m = FluxModel.load(dir, be)) {
            FluxInputs fi = new FluxInputs(in.tensor("img"), in.tensor("img_ids"), in.tensor("txt"), in.tensor("txt_ids"),
                    in.tensor("y"), in.tensor("timesteps"), in.contains("guidance") ? in.tensor("guidance") : null);
            fi.validate(m.config());
            try (Tensor pred = Tensor.allocate(fi.batch(), fi.imageTokens(), m.config().outChannels())) {
                double[] ms = new double[n];
                for (int i = 0; i < n; i++) {
                    long t0 = System.nanoTime();
                    m.forward(fi, pred);
                    ms[i] = (System.nanoTime() - t0) / 1e6;
                    System.out.printf("call %d: %.1f ms%n", i + 1, ms[i]);
                }
                double[] warm = java.util.Arrays.copyOfRange(ms, 1, n);
                java.util.Arrays.sort(warm);
                System.out.printf("warm median (calls 2-%d): %.1f ms, min %.1f, max %.1f%n", n,
                        warm.length % 2 == 1 ? warm[warm.length / 2] : (warm[warm.length / 2 - 1] + warm[warm.length / 2]) / 2,
                        warm[0], warm[warm.length - 1]);
            }
        }
    }
}
