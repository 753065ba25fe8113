package org.untwist.checkpoint;

import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.untwist.io.SafeTensorsException;
import org.untwist.io.TensorSource;
import org.untwist.tensor.Tensor;

/**
 * A {@link TensorSource} under canonical names (FLUX.1's) over a source that stores the same parameters under
 * other names and splits (diffusers): every canonical tensor is a view of stored ones, never a copy. Stored
 * tensors that no canonical name uses keep their own names, so that they show up as unused.
 */
public final class RenamedTensors implements TensorSource {

    /** How a canonical tensor is made of stored ones. */
    public sealed interface Mapping {
        /** The stored tensors it reads. */
        List<String> sources();
    }

    /** Stored whole under another name. */
    public record Whole(String source) implements Mapping {
        @Override
        public List<String> sources() {
            return List.of(source);
        }
    }

    /** The concatenation along rows of several stored tensors (diffusers' q, k, v for a fused qkv). */
    public record Blocks(List<String> sources) implements Mapping {
        public Blocks {
            sources = List.copyOf(sources);
        }
    }

    /** A stored tensor whose two row halves are in the other order (diffusers' final norm: scale then shift). */
    public record SwappedHalves(String source) implements Mapping {
        @Override
        public List<String> sources() {
            return List.of(source);
        }
    }

    /** A stored matrix {@code [out, in]} seen as a 1×1 convolution kernel {@code [out, in, 1, 1]} (same memory). */
    public record AsConv1x1(String source) implements Mapping {
        @Override
        public List<String> sources() {
            return List.of(source);
        }
    }

    private final TensorSource source;
    private final String what;
    private final Map<String, Mapping> mappings = new LinkedHashMap<>(); // present canonical names only
    private final Set<String> names = new java.util.LinkedHashSet<>();

    /** A view of {@code source} under the canonical names of {@code mappings}; {@code what} names the layout in messages. */
    public RenamedTensors(TensorSource source, String what, Map<String, Mapping> mappings) {
        this.source = source;
        this.what = what;
        Set<String> referenced = new HashSet<>();
        for (Map.Entry<String, Mapping> e : mappings.entrySet()) {
            referenced.addAll(e.getValue().sources());
            if (e.getValue().sources().stream().allMatch(source::contains)) {
                this.mappings.put(e.getKey(), e.getValue());
                names.add(e.getKey());
            }
        }
        for (String n : source.names()) {
            if (!referenced.contains(n) && !this.mappings.containsKey(n)) {
                names.add(n);
            }
        }
    }

    @Override
    public String describe() {
        return source.describe() + " (" + what + ")";
    }

    @Override
    public boolean contains(String name) {
        return mappings.containsKey(name) || names.contains(name);
    }

    @Override
    public Tensor tensor(String name) {
        Mapping m = mappings.get(name);
        if (m == null) {
            if (!names.contains(name)) {
                throw new SafeTensorsException(describe() + ": no tensor '" + name + "'");
            }
            return source.tensor(name);
        }
        return switch (m) {
            case Whole w -> source.tensor(w.source());
            case AsConv1x1 c -> {
                Tensor t = source.tensor(c.source());
                if (t.rank() != 2) {
                    throw new SafeTensorsException(describe() + ": '" + c.source() + "' has rank " + t.rank() + ", expected a matrix [out, in]");
                }
                yield t.reshape(t.dim(0), t.dim(1), 1, 1);
            }
            case Blocks b when b.sources().size() == 1 -> source.tensor(b.sources().getFirst());
            default -> throw new SafeTensorsException(describe() + ": '" + name + "' is stored in parts (" + m.sources()
                    + "); read it as row blocks");
        };
    }

    @Override
    public List<Tensor> rowBlocks(String name) {
        Mapping m = mappings.get(name);
        if (m instanceof Blocks b) {
            return b.sources().stream().map(source::tensor).toList();
        }
        if (m instanceof SwappedHalves s) {
            Tensor t = source.tensor(s.source());
            if (t.rank() == 0 || t.dim(0) % 2 != 0) {
                throw new SafeTensorsException(describe() + ": '" + s.source() + "' has an odd number of rows, expected two halves");
            }
            int half = t.dim(0) / 2;
            return List.of(t.rows(half, half), t.rows(0, half));
        }
        return List.of(tensor(name));
    }

    @Override
    public List<String> names() {
        return List.copyOf(names);
    }

    @Override
    public void close() {
        source.close();
    }
}
