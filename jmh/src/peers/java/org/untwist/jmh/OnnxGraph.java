package org.untwist.jmh;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A minimal writer of ONNX models (protobuf wire format of onnx.proto, written by hand so that no protobuf or onnx
 * library is needed), and the attention graph that {@link OrtAttentionBenchmark} runs.
 */
final class OnnxGraph {
    private static final int FLOAT = 1, INT64 = 7; // TensorProto.DataType
    private static final int ATTR_INT = 2, ATTR_INTS = 7; // AttributeProto.AttributeType

    private final List<byte[]> nodes = new ArrayList<>(), initializers = new ArrayList<>(), inputs = new ArrayList<>(),
            outputs = new ArrayList<>();
    private int counter;

    /** The same math as untwist's RoPE + attention; see {@link #attention}. */
    static byte[] attention(int heads, int lq, int lk, int d) {
        OnnxGraph g = new OnnxGraph();
        g.input("q", 1, heads, lq, d);
        g.input("k", 1, heads, lk, d);
        g.input("v", 1, heads, lk, d);
        g.input("cos_q", 1, 1, lq, d / 2, 1);
        g.input("sin_q", 1, 1, lq, d / 2, 1);
        g.input("cos_k", 1, 1, lk, d / 2, 1);
        g.input("sin_k", 1, 1, lk, d / 2, 1);
        String qr = g.rope("q", "cos_q", "sin_q", heads, lq, d);
        String kr = g.rope("k", "cos_k", "sin_k", heads, lk, d);
        String qs = g.node("Mul", List.of(qr, g.scalar((float) (1 / Math.sqrt(d)))));
        String kt = g.node("Transpose", List.of(kr), ints("perm", 0, 1, 3, 2));
        String logits = g.node("MatMul", List.of(qs, kt));
        String p = g.node("Softmax", List.of(logits), intAttr("axis", -1));
        String o = g.node("MatMul", List.of(p, "v"));                               // [1, H, Lq, D]
        String ot = g.node("Transpose", List.of(o), ints("perm", 0, 2, 1, 3));      // [1, Lq, H, D]
        g.nodeTo("Reshape", List.of(ot, g.shape(1, lq, (long) heads * d)), "out", null); // [1, Lq, H·D], untwist's layout
        g.output("out", 1, lq, (long) heads * d);
        return g.model("untwist-attention");
    }

    /**
     * FLUX RoPE on interleaved pairs: {@code y0 = cos·x0 − sin·x1, y1 = sin·x0 + cos·x1} with Reshape, Split, Mul,
     * Sub, Add, Concat; {@code cos, sin [1, 1, L, D/2, 1]}.
     */
    private String rope(String x, String cos, String sin, int heads, int l, int d) {
        String pairs = node("Reshape", List.of(x, shape(1, heads, l, d / 2, 2)));
        String x0 = x + "_x0", x1 = x + "_x1";
        nodeOut("Split", List.of(pairs), List.of(x0, x1), intAttr("axis", -1));
        String y0 = node("Sub", List.of(node("Mul", List.of(cos, x0)), node("Mul", List.of(sin, x1))));
        String y1 = node("Add", List.of(node("Mul", List.of(sin, x0)), node("Mul", List.of(cos, x1))));
        String y = node("Concat", List.of(y0, y1), intAttr("axis", -1));
        return node("Reshape", List.of(y, shape(1, heads, l, d)));
    }

    // ---- graph building ------------------------------------------------------------------------------

    private String node(String op, List<String> in, byte[]... attrs) {
        String out = op.toLowerCase() + "_" + counter++;
        nodeTo(op, in, out, attrs);
        return out;
    }

    private void nodeTo(String op, List<String> in, String out, byte[][] attrs) {
        nodeOut(op, in, List.of(out), attrs);
    }

    private void nodeOut(String op, List<String> in, List<String> out, byte[]... attrs) {
        Proto n = new Proto();
        for (String s : in) {
            n.string(1, s);
        }
        for (String s : out) {
            n.string(2, s);
        }
        n.string(3, op + "_" + counter++);
        n.string(4, op);
        if (attrs != null) {
            for (byte[] a : attrs) {
                n.bytes(5, a);
            }
        }
        nodes.add(n.toBytes());
    }

    private String scalar(float value) {
        String name = "const_" + counter++;
        Proto t = new Proto();
        t.int32(2, FLOAT);
        t.string(8, name);
        t.bytes(9, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(value).array());
        initializers.add(t.toBytes());
        return name;
    }

    private String shape(long... dims) {
        String name = "shape_" + counter++;
        Proto t = new Proto();
        t.int64(1, dims.length);
        t.int32(2, INT64);
        t.string(8, name);
        ByteBuffer raw = ByteBuffer.allocate(8 * dims.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : dims) {
            raw.putLong(v);
        }
        t.bytes(9, raw.array());
        initializers.add(t.toBytes());
        return name;
    }

    private static byte[] intAttr(String name, long value) {
        Proto a = new Proto();
        a.string(1, name);
        a.int64(3, value);
        a.int32(20, ATTR_INT);
        return a.toBytes();
    }

    private static byte[] ints(String name, long... values) {
        Proto a = new Proto();
        a.string(1, name);
        for (long v : values) {
            a.int64(8, v);
        }
        a.int32(20, ATTR_INTS);
        return a.toBytes();
    }

    private void input(String name, long... dims) {
        inputs.add(valueInfo(name, dims));
    }

    private void output(String name, long... dims) {
        outputs.add(valueInfo(name, dims));
    }

    private static byte[] valueInfo(String name, long... dims) {
        Proto shape = new Proto();
        for (long d : dims) {
            shape.bytes(1, new Proto().int64(1, d).toBytes()); // Dimension.dim_value
        }
        Proto tensorType = new Proto().int32(1, FLOAT).bytes(2, shape.toBytes());
        Proto type = new Proto().bytes(1, tensorType.toBytes());
        return new Proto().string(1, name).bytes(2, type.toBytes()).toBytes();
    }

    private byte[] model(String name) {
        Proto graph = new Proto();
        nodes.forEach(n -> graph.bytes(1, n));
        graph.string(2, name);
        initializers.forEach(t -> graph.bytes(5, t));
        inputs.forEach(v -> graph.bytes(11, v));
        outputs.forEach(v -> graph.bytes(12, v));
        Proto opset = new Proto().string(1, "").int64(2, 17);
        return new Proto()
                .int64(1, 8)                      // ir_version 8 (ONNX 1.10+)
                .string(2, "untwist-jmh")          // producer_name
                .bytes(7, graph.toBytes())
                .bytes(8, opset.toBytes())        // opset_import: ai.onnx 17
                .toBytes();
    }

    /** Protobuf wire format: tags, varints, length-delimited fields. */
    private static final class Proto {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Proto int64(int field, long v) {
            tag(field, 0);
            varint(v);
            return this;
        }

        Proto int32(int field, int v) {
            return int64(field, v);
        }

        Proto string(int field, String s) {
            return bytes(field, s.getBytes(StandardCharsets.UTF_8));
        }

        Proto bytes(int field, byte[] b) {
            tag(field, 2);
            varint(b.length);
            out.writeBytes(b);
            return this;
        }

        private void tag(int field, int wireType) {
            varint(((long) field << 3) | wireType);
        }

        private void varint(long v) {
            while ((v & ~0x7FL) != 0) {
                out.write((int) ((v & 0x7F) | 0x80));
                v >>>= 7;
            }
            out.write((int) v);
        }

        byte[] toBytes() {
            return out.toByteArray();
        }
    }
}
