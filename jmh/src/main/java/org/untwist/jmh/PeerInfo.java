package org.untwist.jmh;

import java.util.LinkedHashMap;
import java.util.Map;
import org.untwist.backend.Backend;
import org.untwist.backend.Backends;

/**
 * Prints {@code key: value} lines about this JVM and the peers, for RESULTS.md: Java, the Vector API's preferred
 * float width, the vector backend, the OpenBLAS file and kernel ({@code openblas_get_corename}) and the ONNX Runtime
 * version (when the jar was built with {@code -Ppeers}). Run with the same environment as the benchmarks:
 * {@code java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp jmh/target/benchmarks.jar
 * org.untwist.jmh.PeerInfo}.
 */
public final class PeerInfo {
    private PeerInfo() {
    }

    public static void main(String[] args) {
        Map<String, String> info = new LinkedHashMap<>();
        info.put("java", System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version") + " ("
                + System.getProperty("java.vm.vendor") + ")");
        info.put("available processors", String.valueOf(Runtime.getRuntime().availableProcessors()));
        try {
            var species = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
            info.put("vector width", species.vectorBitSize() + " bits, " + species.length() + " float lanes");
        } catch (Throwable e) {
            info.put("vector width", "unavailable: " + e);
        }
        try (Backend be = Backends.create("vector", 2)) {
            info.put("vector backend", be.describe());
        } catch (RuntimeException e) {
            info.put("vector backend", "unavailable: " + e.getMessage());
        }
        try {
            OpenBlas blas = OpenBlas.load();
            info.put("openblas", blas.path());
            info.put("openblas core", blas.coreName());
            info.put("openblas config", blas.config());
            info.put("openblas threads", String.valueOf(blas.threads()));
        } catch (RuntimeException e) {
            info.put("openblas", "absent: " + e.getMessage());
        }
        try {
            Class<?> env = Class.forName("ai.onnxruntime.OrtEnvironment");
            Object e = env.getMethod("getEnvironment").invoke(null);
            info.put("onnxruntime", "ONNX Runtime " + env.getMethod("getVersion").invoke(e) + " (Java API, CPU execution provider)");
        } catch (ClassNotFoundException e) {
            info.put("onnxruntime", "absent: the benchmark jar was built without -Ppeers");
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            info.put("onnxruntime", "unavailable: " + e);
        }
        for (String v : new String[] {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"}) {
            String s = System.getenv(v);
            info.put("env " + v, s == null ? "(unset)" : s);
        }
        info.forEach((k, v) -> System.out.println(k + ": " + v));
    }
}
