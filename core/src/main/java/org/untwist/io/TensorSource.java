package org.untwist.io;

import java.util.List;
import org.untwist.tensor.Tensor;

/**
 * Named tensors as a model reads them: a safetensors file or folder ({@link SafeTensorsFolder}), a GGUF file
 * ({@link GgufFile}), or a view of one that renames keys or strips a prefix. Tensors are views of memory the source
 * owns; closing the source releases them.
 */
public interface TensorSource extends AutoCloseable {

    /** Names this source in error messages (a file, a folder, a view of one). */
    String describe();

    /** Whether {@link #tensor} or {@link #rowBlocks} finds {@code name}. */
    boolean contains(String name);

    /**
     * The tensor stored under {@code name}, in its stored type.
     *
     * @throws TensorFileException naming the source when there is no such tensor, or when the source holds it
     *                             only as {@link #rowBlocks row blocks}
     */
    Tensor tensor(String name);

    /**
     * The tensor under {@code name} as consecutive blocks of rows (first dimension) whose concatenation is the
     * tensor: one block when the source stores it whole; several when a checkpoint layout splits what another
     * fuses (diffusers' separate q, k and v projections for FLUX's fused {@code qkv}), or reorders it. The
     * blocks are views, never copies.
     */
    default List<Tensor> rowBlocks(String name) {
        return List.of(tensor(name));
    }

    /** Every name the source holds, in a stable order. */
    List<String> names();

    @Override
    void close();
}
