package org.untwist.onednn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.untwist.onednn.dnnl.DnnlApi;
import org.untwist.onednn.dnnl.DnnlApi.Arg;
import org.untwist.onednn.dnnl.DnnlApi.DataType;

/**
 * One oneDNN matmul primitive for a {@link MatmulShape}: {@code src} bf16 {@code [m, k]} row-major, the weights bf16
 * {@code [n, k]} row-major as {@code nn.Linear} stores them (given to oneDNN as {@code [k, n]} with strides
 * {@code {1, k}}, no copy), {@code dst} float32 {@code [m, n]} with rows {@code ldc} apart, an optional float32 bias,
 * float32 accumulation. Its scratchpad is passed per call, so several threads may run it at once.
 */
final class MatmulPrimitive implements AutoCloseable {
    final MatmulShape shape;
    /** Bytes of scratchpad each execution needs. */
    final long scratchpadBytes;
    /** The implementation oneDNN chose, e.g. {@code brg:avx512_core_bf16}. */
    final String impl;

    private final Arena arena = Arena.ofShared(); // the memory descriptors
    private final MemorySegment srcMd, weightsMd, biasMd, dstMd, scratchpadMd;
    private final MemorySegment pd, primitive;

    MatmulPrimitive(MemorySegment engine, MatmulShape s) {
        this.shape = s;
        MemorySegment madePd = MemorySegment.NULL;
        try {
            srcMd = DnnlApi.memoryDesc(arena, s.m(), s.k(), s.k(), 1, DataType.BF16);
            weightsMd = DnnlApi.memoryDesc(arena, s.k(), s.n(), 1, s.k(), DataType.BF16);
            biasMd = s.bias() ? DnnlApi.memoryDesc(arena, 1, s.n(), s.n(), 1, DataType.F32) : MemorySegment.NULL;
            dstMd = DnnlApi.memoryDesc(arena, s.m(), s.n(), s.ldc(), 1, DataType.F32);
            madePd = DnnlApi.matmulPrimitiveDesc(engine, srcMd, weightsMd, biasMd, dstMd);
            impl = DnnlApi.implInfo(madePd);
            scratchpadMd = DnnlApi.scratchpadDesc(madePd);
            scratchpadBytes = DnnlApi.memoryDescSize(scratchpadMd);
            primitive = DnnlApi.primitiveCreate(madePd);
        } catch (RuntimeException e) {
            if (madePd.address() != 0) {
                DnnlApi.primitiveDescDestroy(madePd);
            }
            arena.close();
            throw e;
        }
        this.pd = madePd;
    }

    /**
     * Runs the matmul on caller memory: {@code src} and {@code weights} bf16, {@code bias} float32 or {@code null},
     * {@code dst} float32, {@code scratchpad} at least {@link #scratchpadBytes}.
     */
    void run(MemorySegment engine, MemorySegment stream, MemorySegment src, MemorySegment weights, MemorySegment bias, MemorySegment dst,
             MemorySegment scratchpad) {
        Arg[] args = shape.bias() ? new Arg[] {Arg.SRC, Arg.WEIGHTS, Arg.DST, Arg.SCRATCHPAD, Arg.BIAS}
                : new Arg[] {Arg.SRC, Arg.WEIGHTS, Arg.DST, Arg.SCRATCHPAD};
        MemorySegment[] mds = {srcMd, weightsMd, dstMd, scratchpadMd, biasMd};
        MemorySegment[] handles = {src, weights, dst, scratchpad, bias};
        MemorySegment[] memories = new MemorySegment[args.length];
        try {
            for (int i = 0; i < args.length; i++) {
                memories[i] = DnnlApi.memoryCreate(mds[i], engine, handles[i]);
            }
            DnnlApi.execute(primitive, stream, args, memories);
        } finally {
            for (MemorySegment m : memories) {
                if (m != null) {
                    DnnlApi.memoryDestroy(m);
                }
            }
        }
    }

    @Override
    public void close() {
        DnnlApi.primitiveDestroy(primitive);
        DnnlApi.primitiveDescDestroy(pd);
        arena.close();
    }
}
