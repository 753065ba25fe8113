package org.untwist.jmh;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.untwist.backend.Backend;
import org.untwist.backend.Backends;
import org.untwist.tensor.Tensor;

/**
 * The peer of {@link AttentionBenchmark#ropeAttention}: ONNX Runtime (CPU execution provider) running the same math
 * on the same data (same seeds, same RoPE table): RoPE on q and k as Reshape/Split/Mul/Sub/Add/Concat (FLUX's
 * interleaved pairs), Mul(1/√Dh) on q, Transpose(k), MatMul, Softmax(−1), MatMul, and Transpose/Reshape to untwist's
 * output layout {@code [1, Lq, H·Dh]}. Session: ALL_OPT, intra-op threads = {@code threads}, inter-op 1, sequential.
 * The inputs wrap untwist tensors (direct buffers, no copy) and the output is pinned to a preallocated tensor; only
 * {@code run} is timed. Setup first checks the same graph on a small shape against the scalar oracle. Built only
 * with {@code -Ppeers}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 4, time = 2)
@Fork(value = 2, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
public class OrtAttentionBenchmark {
    @Param({"1", "2"})
    public int threads;

    @Param({"24"})
    public int heads;

    @Param({"1024"})
    public int lq;

    @Param({"2048"})
    public int lk;

    OrtAttention ort;

    @Setup(Level.Trial)
    public void setUp() throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        System.out.println("# ONNX Runtime " + env.getVersion() + ", intra-op threads " + threads + ", inter-op 1, ALL_OPT");
        try (Backend scalar = Backends.create("scalar", 1); OrtAttention small = new OrtAttention(env, 2, 64, 160, threads, scalar)) {
            small.run();
            try (Tensor qr = Tensor.allocate(small.q.shape()); Tensor kr = Tensor.allocate(small.k.shape());
                 Tensor ref = Tensor.allocate(small.out.shape())) {
                scalar.applyRope(small.q, small.peQ, qr);
                scalar.applyRope(small.k, small.peK, kr);
                scalar.attention(qr, kr, small.v, ref);
                double diff = BenchData.maxAbsDiff(small.out, ref), scale = Math.max(1e-30, BenchData.maxAbs(ref));
                System.out.printf("# ORT graph vs untwist scalar oracle on H2 Lq64 Lk160: max |diff| %.3g (max |out| %.3g)%n", diff, scale);
                if (!(diff <= 1e-4 * scale)) {
                    throw new IllegalStateException("ONNX Runtime's graph differs from untwist's math: max |diff| " + diff + " of " + scale);
                }
            }
        }
        try (Backend vec = Backends.create("vector", 1)) {
            ort = new OrtAttention(env, heads, lq, lk, threads, vec);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws OrtException {
        ort.close();
    }

    @Benchmark
    public Tensor ropeAttention() throws OrtException {
        ort.run();
        return ort.out;
    }

    /** A session of the attention graph with its inputs and pinned output, on the data of {@link AttentionBenchmark}. */
    static final class OrtAttention implements AutoCloseable {
        final Tensor q, k, v, peQ, peK, cosQ, sinQ, cosK, sinK, out;
        final OrtSession session;
        final Map<String, OnnxTensor> inputs = new LinkedHashMap<>();
        final Map<String, OnnxTensor> outputs = new LinkedHashMap<>();

        OrtAttention(OrtEnvironment env, int heads, int lq, int lk, int threads, Backend tables) throws OrtException {
            int d = BenchData.HEAD_DIM;
            q = BenchData.gaussian(1, 1, heads, lq, d);
            k = BenchData.gaussian(2, 1, heads, lk, d);
            v = BenchData.gaussian(3, 1, heads, lk, d);
            out = Tensor.allocate(1, lq, heads * d);
            peQ = BenchData.fluxRopeTable(tables, lq);
            peK = BenchData.fluxRopeTable(tables, lk);
            cosQ = cosSin(peQ, 0);
            sinQ = cosSin(peQ, 2);
            cosK = cosSin(peK, 0);
            sinK = cosSin(peK, 2);
            try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
                opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
                opts.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
                opts.setIntraOpNumThreads(threads);
                opts.setInterOpNumThreads(1);
                session = env.createSession(OnnxGraph.attention(heads, lq, lk, d), opts);
            }
            inputs.put("q", wrap(env, q));
            inputs.put("k", wrap(env, k));
            inputs.put("v", wrap(env, v));
            inputs.put("cos_q", wrap(env, cosQ));
            inputs.put("sin_q", wrap(env, sinQ));
            inputs.put("cos_k", wrap(env, cosK));
            inputs.put("sin_k", wrap(env, sinK));
            outputs.put("out", wrap(env, out));
        }

        void run() throws OrtException {
            try (OrtSession.Result r = session.run(inputs, outputs)) {
                if (r.size() != 1) {
                    throw new IllegalStateException("expected one output, got " + r.size());
                }
            }
        }

        /** {@code pe [1, 1, L, D/2, 2, 2]} = {@code [[cos, −sin], [sin, cos]]} → cos (offset 0) or sin (offset 2) as {@code [1, 1, L, D/2, 1]}. */
        private static Tensor cosSin(Tensor pe, int offset) {
            int l = pe.dim(2), half = pe.dim(3);
            Tensor t = Tensor.allocate(1, 1, l, half, 1);
            for (long i = 0; i < (long) l * half; i++) {
                t.set(i, pe.get(4 * i + offset));
            }
            return t;
        }

        /** An ORT tensor backed by the untwist tensor's memory (a direct buffer: ORT neither copies nor owns it). */
        private static OnnxTensor wrap(OrtEnvironment env, Tensor t) throws OrtException {
            FloatBuffer fb = t.segment().asByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer();
            long[] shape = new long[t.rank()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = t.dim(i);
            }
            return OnnxTensor.createTensor(env, fb, shape);
        }

        @Override
        public void close() throws OrtException {
            inputs.values().forEach(OnnxTensor::close);
            outputs.values().forEach(OnnxTensor::close);
            session.close();
            BenchData.closeAll(q, k, v, peQ, peK, cosQ, sinQ, cosK, sinK, out);
        }
    }
}
