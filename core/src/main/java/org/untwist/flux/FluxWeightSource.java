package org.untwist.flux;

import java.util.List;
import org.untwist.io.SafeTensors;
import org.untwist.io.TensorSource;
import org.untwist.tensor.Tensor;

/**
 * Where a model's parameters come from, by FLUX.1 checkpoint key: a safetensors file, or tensors generated
 * elsewhere (for example random weights made in device memory for a benchmark). The source owns the tensors
 * it returns; closing the source releases them.
 */
public interface FluxWeightSource extends AutoCloseable {

    /** Names this source in error messages (a file path, "random bf16 weights", ...). */
    String describe();

    boolean contains(String name);

    /**
     * The tensor stored under {@code name}; host or device memory, any supported type. {@code expectedShape} is
     * what the model needs: a file returns what it stores (the model checks it), a generator makes that shape.
     */
    Tensor tensor(String name, int... expectedShape);

    /**
     * The tensor under {@code name} as consecutive row blocks (see {@link TensorSource#rowBlocks}): one block
     * unless the source stores a fused projection in parts. {@code expectedShape} is the whole tensor's shape.
     */
    default List<Tensor> rowBlocks(String name, int... expectedShape) {
        return List.of(tensor(name, expectedShape));
    }

    /** Every name the source holds. */
    List<String> names();

    @Override
    void close();

    /** Tensors under FLUX.1 key names from any source (a folder, a renaming view); closing this closes it. */
    static FluxWeightSource of(TensorSource source) {
        return new FluxWeightSource() {
            @Override
            public String describe() {
                return source.describe();
            }

            @Override
            public boolean contains(String name) {
                return source.contains(name);
            }

            @Override
            public Tensor tensor(String name, int... expectedShape) {
                return source.tensor(name);
            }

            @Override
            public List<Tensor> rowBlocks(String name, int... expectedShape) {
                return source.rowBlocks(name);
            }

            @Override
            public List<String> names() {
                return source.names();
            }

            @Override
            public void close() {
                source.close();
            }
        };
    }

    /** A memory-mapped safetensors file as a source; closing it unmaps the file. */
    static FluxWeightSource of(SafeTensors file) {
        return new FluxWeightSource() {
            @Override
            public String describe() {
                return file.path().toString();
            }

            @Override
            public boolean contains(String name) {
                return file.contains(name);
            }

            @Override
            public Tensor tensor(String name, int... expectedShape) {
                return file.tensor(name);
            }

            @Override
            public List<String> names() {
                return List.copyOf(file.names());
            }

            @Override
            public void close() {
                file.close();
            }
        };
    }
}
