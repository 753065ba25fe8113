package org.untwist.checkpoint;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import org.untwist.backend.Backend;
import org.untwist.io.TensorSource;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * A model's parameters looked up by checkpoint key and checked against the shapes its config implies. Matrices
 * and tables stay in their stored type (F32, BF16, F16, F8_E4M3, F8_E5M2, or GGUF's Q8_0 and Q4_K, which only linear
 * and embedding take): views of the mapped files on a CPU backend,
 * copies in device memory on a device backend ({@link Backend#place}). Vectors (biases, norm weights) are
 * small and widened once to float32, since the ops take them in float32.
 */
public final class ModelParameters implements AutoCloseable {

    private final TensorSource files;
    private final Backend backend;
    private final Arena arena = Arena.ofShared();
    private final List<Tensor> placed = new ArrayList<>();
    private final Set<String> used = new HashSet<>();

    /** The parameters of {@code files} (a folder, a file, or a renaming or prefix view), which this object owns. */
    public ModelParameters(TensorSource files, Backend backend) {
        this.files = files;
        this.backend = backend;
    }

    /**
     * The model that {@code build} makes over the parameters of {@code files}, which it owns from then on; if
     * {@code build} fails, the parameters (and {@code files}) are closed before the exception propagates.
     */
    public static <T> T buildOrClose(TensorSource files, Backend backend, Function<ModelParameters, T> build) {
        ModelParameters parameters = new ModelParameters(files, backend);
        try {
            return build.apply(parameters);
        } catch (RuntimeException e) {
            parameters.close();
            throw e;
        }
    }

    /** Where the parameters come from, for messages. */
    public String describe() {
        return files.describe();
    }

    public boolean contains(String name) {
        return files.contains(name);
    }

    /** Every name the source holds. */
    public List<String> names() {
        return files.names();
    }

    /** The stored tensor itself (a view, not placed on the backend): for shapes and for checks. */
    public Tensor stored(String name) {
        return files.tensor(name);
    }

    /** A matrix or table in its stored floating-point type, placed on the backend. */
    public Tensor matrix(String name, int... shape) {
        return place(require(name, shape));
    }

    /** A 1-D parameter widened to float32, placed on the backend. */
    public Tensor vector(String name, int n) {
        Tensor stored = require(name, n);
        Tensor f32 = Tensor.allocate(arena, DType.F32, n);
        f32.copyFrom(stored);
        return place(f32);
    }

    /** A whole matrix widened to float32 (for small tables only, such as positions), placed on the backend. */
    public Tensor widenedMatrix(String name, int... shape) {
        Tensor stored = require(name, shape);
        Tensor f32 = Tensor.allocate(arena, DType.F32, shape);
        f32.copyFrom(stored);
        return place(f32);
    }

    private Tensor place(Tensor t) {
        Tensor p = backend.place(t);
        placed.add(p);
        return p;
    }

    private Tensor require(String name, int... shape) {
        if (!files.contains(name)) {
            throw new IllegalArgumentException(files.describe() + ": missing tensor '" + name + "' (expected shape " + Arrays.toString(shape)
                    + " for this config)");
        }
        Tensor t = files.tensor(name);
        if (!t.dtype().isFloatingPoint() && !t.dtype().isBlockQuantized()) {
            throw new IllegalArgumentException(files.describe() + ": tensor '" + name + "' is " + t.dtype()
                    + ", expected a weight type (F32, BF16, F16, F8_E4M3, F8_E5M2, Q8_0, Q4_K)");
        }
        if (!t.hasShape(shape)) {
            throw new IllegalArgumentException(files.describe() + ": tensor '" + name + "' has shape " + Arrays.toString(t.shape())
                    + " but the config implies " + Arrays.toString(shape));
        }
        used.add(name);
        return t;
    }

    /** Tensors the model did not use (reported, not fatal: checkpoints may carry extras). */
    public List<String> unused() {
        return files.names().stream().filter(n -> !used.contains(n)).toList();
    }

    /** Frees device copies and the float32 vectors, and unmaps the files. */
    @Override
    public void close() {
        for (Tensor t : placed) {
            t.close();
        }
        placed.clear();
        arena.close();
        files.close();
    }
}
