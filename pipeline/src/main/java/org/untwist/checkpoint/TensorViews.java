package org.untwist.checkpoint;

import java.util.List;
import org.untwist.io.SafeTensorsException;
import org.untwist.io.TensorSource;
import org.untwist.tensor.Tensor;

/** Views of a {@link TensorSource}: a part of a single-file checkpoint under a key prefix, seen without it. */
public final class TensorViews {

    private TensorViews() {
    }

    /**
     * The tensors of {@code source} whose names start with {@code prefix}, named without it (ComfyUI's
     * {@code model.diffusion_model.}, {@code first_stage_model.}, {@code text_encoders.clip_l.transformer.}, ...).
     * Closing the view does not close {@code source} when {@code closes} is false (several views of one file).
     */
    public static TensorSource withoutPrefix(TensorSource source, String prefix, boolean closes) {
        List<String> names = source.names().stream().filter(n -> n.startsWith(prefix)).map(n -> n.substring(prefix.length())).toList();
        return new TensorSource() {
            @Override
            public String describe() {
                return source.describe() + " [" + prefix + "*]";
            }

            @Override
            public boolean contains(String name) {
                return source.contains(prefix + name);
            }

            @Override
            public Tensor tensor(String name) {
                if (!contains(name)) {
                    throw new SafeTensorsException(describe() + ": no tensor '" + name + "'");
                }
                return source.tensor(prefix + name);
            }

            @Override
            public List<Tensor> rowBlocks(String name) {
                return source.rowBlocks(prefix + name);
            }

            @Override
            public List<String> names() {
                return names;
            }

            @Override
            public void close() {
                if (closes) {
                    source.close();
                }
            }
        };
    }

    /** Whether any name of {@code source} starts with {@code prefix}. */
    public static boolean hasPrefix(TensorSource source, String prefix) {
        return source.names().stream().anyMatch(n -> n.startsWith(prefix));
    }
}
