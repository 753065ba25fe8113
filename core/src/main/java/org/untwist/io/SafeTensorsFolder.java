package org.untwist.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.untwist.tensor.Tensor;

/**
 * A model's weights as a folder holds them: one safetensors file, or shards listed by a Hugging Face index
 * ({@code model.safetensors.index.json}: {@code "weight_map": {tensor name: shard file}}). Every shard is
 * memory-mapped and validated when the folder is opened; tensors are views of the mappings in their stored
 * type until {@link #close()}.
 */
public final class SafeTensorsFolder implements TensorSource {

    /** The index file name a sharded Hugging Face checkpoint carries. */
    public static final String INDEX = "model.safetensors.index.json";

    /** Names of a single weights file, preferred when a folder holds other safetensors files too. */
    private static final List<String> USUAL_NAMES = List.of("model.safetensors", "weights.safetensors");

    private final Path folder;
    private final Map<String, SafeTensors> byTensor; // tensor name → its shard, in the order found
    private final List<SafeTensors> shards;

    private SafeTensorsFolder(Path folder, Map<String, SafeTensors> byTensor, List<SafeTensors> shards) {
        this.folder = folder;
        this.byTensor = byTensor;
        this.shards = shards;
    }

    /**
     * Opens the weights in {@code folder}: the shards of {@value #INDEX} (or of the folder's only
     * {@code *.safetensors.index.json}, as diffusers names it) when present, else
     * {@code model.safetensors} or {@code weights.safetensors}, else the folder's only {@code .safetensors} file.
     * A safetensors file given directly is opened alone.
     *
     * @throws SafeTensorsException naming the folder or file at fault: no weights, several files and no index,
     *                              a malformed index, a shard that is missing, malformed or lacks a tensor the
     *                              index assigns to it, or a tensor stored in two files
     */
    public static SafeTensorsFolder open(Path folder) {
        if (Files.isRegularFile(folder)) {
            return ofFiles(folder.getParent(), null, List.of(folder), null);
        }
        if (!Files.isDirectory(folder)) {
            throw new SafeTensorsException(folder + ": no such folder");
        }
        Path index = folder.resolve(INDEX);
        if (Files.isRegularFile(index)) {
            return fromIndex(folder, index);
        }
        List<Path> files, indexes;
        try (Stream<Path> s = Files.list(folder)) {
            List<Path> all = s.filter(Files::isRegularFile).sorted().toList();
            files = all.stream().filter(p -> p.getFileName().toString().endsWith(".safetensors")).toList();
            indexes = all.stream().filter(p -> p.getFileName().toString().endsWith(".safetensors.index.json")).toList();
        } catch (IOException e) {
            throw new SafeTensorsException(folder + ": cannot list the folder: " + e.getMessage(), e);
        }
        if (indexes.size() == 1) { // diffusers names its index diffusion_pytorch_model.safetensors.index.json
            return fromIndex(folder, indexes.getFirst());
        }
        if (files.isEmpty()) {
            throw new SafeTensorsException(folder + ": no .safetensors file and no " + INDEX);
        }
        for (String usual : USUAL_NAMES) { // beside inputs or outputs of a test case, the weights have a usual name
            Path p = folder.resolve(usual);
            if (files.size() > 1 && files.contains(p)) {
                return ofFiles(folder, null, List.of(p), null);
            }
        }
        if (files.size() > 1) {
            throw new SafeTensorsException(folder + ": " + files.size() + " .safetensors files but no " + INDEX
                    + " saying which tensors each holds (" + files.stream().map(p -> p.getFileName().toString()).toList() + ")");
        }
        return ofFiles(folder, null, files, null);
    }

    private static SafeTensorsFolder fromIndex(Path folder, Path index) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(index.toFile());
        } catch (IOException e) {
            throw new SafeTensorsException(index + ": not valid JSON: " + firstLine(e.getMessage()), e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new SafeTensorsException(index + ": no \"weight_map\" object");
        }
        Map<String, String> shardOf = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : map.properties()) {
            String file = e.getValue().isTextual() ? e.getValue().textValue() : null;
            if (file == null || file.isEmpty() || file.contains("/") || file.contains("\\") || file.equals("..")) {
                throw new SafeTensorsException(index + ": tensor '" + e.getKey() + "' maps to " + e.getValue()
                        + ", expected a file name in the same folder");
            }
            shardOf.put(e.getKey(), file);
        }
        List<Path> files = shardOf.values().stream().distinct().map(folder::resolve).toList();
        for (Path f : files) {
            if (!Files.isRegularFile(f)) {
                throw new SafeTensorsException(index + ": shard " + f.getFileName() + " is missing");
            }
        }
        return ofFiles(folder, index, files, shardOf);
    }

    private static SafeTensorsFolder ofFiles(Path folder, Path index, List<Path> files, Map<String, String> shardOf) {
        List<SafeTensors> opened = new ArrayList<>();
        try {
            Map<String, SafeTensors> byTensor = new LinkedHashMap<>();
            for (Path f : files) {
                SafeTensors st = SafeTensors.open(f);
                opened.add(st);
                for (String name : st.names()) {
                    SafeTensors before = byTensor.putIfAbsent(name, st);
                    if (before != null) {
                        throw new SafeTensorsException(f + ": tensor '" + name + "' is also stored in " + before.path().getFileName());
                    }
                }
            }
            if (shardOf != null) {
                for (Map.Entry<String, String> e : shardOf.entrySet()) {
                    SafeTensors holder = byTensor.get(e.getKey());
                    if (holder == null || !holder.path().getFileName().toString().equals(e.getValue())) {
                        throw new SafeTensorsException(index + ": tensor '" + e.getKey() + "' is not in " + e.getValue()
                                + (holder == null ? "" : " but in " + holder.path().getFileName()));
                    }
                }
            }
            return new SafeTensorsFolder(folder, byTensor, opened);
        } catch (RuntimeException e) {
            opened.forEach(SafeTensors::close);
            throw e;
        }
    }

    private static String firstLine(String s) {
        return s == null ? "" : s.lines().findFirst().orElse("");
    }

    /** The folder (or, for a file given directly, its folder). */
    public Path folder() {
        return folder;
    }

    /** Names this source in messages: the folder and how many files it spans. */
    @Override
    public String describe() {
        return shards.size() == 1 ? shards.get(0).path().toString() : folder + " (" + shards.size() + " shards)";
    }

    @Override
    public boolean contains(String name) {
        return byTensor.containsKey(name);
    }

    /** Every tensor name, shard by shard. */
    @Override
    public List<String> names() {
        return List.copyOf(byTensor.keySet());
    }

    /** The header entry of a tensor. */
    public TensorInfo info(String name) {
        SafeTensors st = byTensor.get(name);
        if (st == null) {
            throw new SafeTensorsException(describe() + ": no tensor '" + name + "'");
        }
        return st.info(name);
    }

    /** A view of the stored tensor (see {@link SafeTensors#tensor}). */
    @Override
    public Tensor tensor(String name) {
        SafeTensors st = byTensor.get(name);
        if (st == null) {
            throw new SafeTensorsException(describe() + ": no tensor '" + name + "'");
        }
        return st.tensor(name);
    }

    /** Unmaps every shard. */
    @Override
    public void close() {
        shards.forEach(SafeTensors::close);
    }
}
