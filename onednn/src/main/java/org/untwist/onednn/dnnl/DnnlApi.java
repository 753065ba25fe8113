package org.untwist.onednn.dnnl;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.untwist.ffm.gen.dnnl.Dnnl;
import org.untwist.ffm.gen.dnnl.dnnl_exec_arg_t;
import org.untwist.ffm.gen.dnnl.dnnl_matmul_desc_t;
import org.untwist.ffm.gen.dnnl.dnnl_memory_desc_t;
import org.untwist.ffm.gen.dnnl.dnnl_version_t;

/**
 * The oneDNN 2 calls the onednn backend makes: the CPU engine and streams, plain 2-D memory descriptors, matmul
 * primitives with a user-provided scratchpad, memory objects over caller memory, and execution. Every status is
 * checked; {@code destroy} calls ignore theirs (close and clean-up paths). Handles are {@link MemorySegment}s as the
 * bindings return them.
 */
public final class DnnlApi {
    private DnnlApi() {
    }

    /** {@code dnnl_data_type_t}: the two element types the backend passes. */
    public enum DataType {
        F32(Dnnl.dnnl_f32()),
        BF16(Dnnl.dnnl_bf16());

        final int code;

        DataType(int code) {
            this.code = code;
        }
    }

    /** {@code DNNL_ARG_*}: the execution arguments of a matmul. */
    public enum Arg {
        SRC(Dnnl.DNNL_ARG_SRC()),
        WEIGHTS(Dnnl.DNNL_ARG_WEIGHTS()),
        BIAS(Dnnl.DNNL_ARG_BIAS()),
        DST(Dnnl.DNNL_ARG_DST()),
        SCRATCHPAD(Dnnl.DNNL_ARG_SCRATCHPAD());

        final int code;

        Arg(int code) {
            this.code = code;
        }
    }

    /** The library's version, e.g. {@code 2.6.3}. */
    public static String version() {
        MemorySegment v = Dnnl.dnnl_version().reinterpret(dnnl_version_t.sizeof());
        return dnnl_version_t.major(v) + "." + dnnl_version_t.minor(v) + "." + dnnl_version_t.patch(v);
    }

    /** Whether the library runs its CPU primitives on OpenMP (the only runtime whose thread count can be set per caller). */
    public static boolean usesOpenMp() {
        MemorySegment v = Dnnl.dnnl_version().reinterpret(dnnl_version_t.sizeof());
        return dnnl_version_t.cpu_runtime(v) == Dnnl.DNNL_RUNTIME_OMP();
    }

    /** The instruction set oneDNN's JIT kernels use on this CPU, by its {@code dnnl_cpu_isa_t} name. */
    public static String effectiveIsa() {
        int isa = Dnnl.dnnl_get_effective_cpu_isa();
        if (isa == Dnnl.dnnl_cpu_isa_avx512_core_amx()) {
            return "avx512_core_amx";
        } else if (isa == Dnnl.dnnl_cpu_isa_avx512_core_bf16()) {
            return "avx512_core_bf16";
        } else if (isa == Dnnl.dnnl_cpu_isa_avx512_core_vnni()) {
            return "avx512_core_vnni";
        } else if (isa == Dnnl.dnnl_cpu_isa_avx512_core()) {
            return "avx512_core";
        } else if (isa == Dnnl.dnnl_cpu_isa_avx512_mic_4ops()) {
            return "avx512_mic_4ops";
        } else if (isa == Dnnl.dnnl_cpu_isa_avx512_mic()) {
            return "avx512_mic";
        } else if (isa == Dnnl.dnnl_cpu_isa_avx2_vnni()) {
            return "avx2_vnni";
        } else if (isa == Dnnl.dnnl_cpu_isa_avx2()) {
            return "avx2";
        } else if (isa == Dnnl.dnnl_cpu_isa_avx()) {
            return "avx";
        } else if (isa == Dnnl.dnnl_cpu_isa_sse41()) {
            return "sse41";
        }
        return "isa 0x" + Integer.toHexString(isa);
    }

    /** Whether {@link #effectiveIsa()} has bf16 dot-product instructions ({@code avx512_core_bf16} or AMX). */
    public static boolean hasBf16Instructions() {
        int isa = Dnnl.dnnl_get_effective_cpu_isa();
        return isa == Dnnl.dnnl_cpu_isa_avx512_core_bf16() || isa == Dnnl.dnnl_cpu_isa_avx512_core_amx();
    }

    /** {@code dnnl_engine_create}: the CPU engine. */
    public static MemorySegment engineCreate() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check(Dnnl.dnnl_engine_create(p, Dnnl.dnnl_cpu(), 0), "dnnl_engine_create");
            return p.get(ADDRESS, 0);
        }
    }

    public static void engineDestroy(MemorySegment engine) {
        Dnnl.dnnl_engine_destroy(engine);
    }

    /** {@code dnnl_stream_create} with the default (in-order) flags. */
    public static MemorySegment streamCreate(MemorySegment engine) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check(Dnnl.dnnl_stream_create(p, engine, Dnnl.dnnl_stream_default_flags()), "dnnl_stream_create");
            return p.get(ADDRESS, 0);
        }
    }

    public static void streamDestroy(MemorySegment stream) {
        Dnnl.dnnl_stream_destroy(stream);
    }

    /**
     * A 2-D memory descriptor, allocated in {@code arena}: {@code rows × cols} elements of {@code type}, element
     * {@code (r, c)} at {@code r·rowStride + c·colStride} elements.
     */
    public static MemorySegment memoryDesc(Arena arena, long rows, long cols, long rowStride, long colStride, DataType type) {
        MemorySegment md = dnnl_memory_desc_t.allocate(arena);
        MemorySegment dims = arena.allocateFrom(JAVA_LONG, rows, cols);
        MemorySegment strides = arena.allocateFrom(JAVA_LONG, rowStride, colStride);
        check(Dnnl.dnnl_memory_desc_init_by_strides(md, 2, dims, type.code, strides), "dnnl_memory_desc_init_by_strides");
        return md;
    }

    /** {@code dnnl_memory_desc_get_size}: bytes the memory needs. */
    public static long memoryDescSize(MemorySegment md) {
        return Dnnl.dnnl_memory_desc_get_size(md);
    }

    /**
     * A matmul primitive descriptor {@code dst = src · weights (+ bias)} with {@code scratchpad_mode = user} (each
     * execution passes its own scratchpad, so one primitive can run on several threads at once).
     *
     * @param bias the bias descriptor, or {@link MemorySegment#NULL}
     */
    public static MemorySegment matmulPrimitiveDesc(MemorySegment engine, MemorySegment src, MemorySegment weights, MemorySegment bias,
                                                    MemorySegment dst) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment desc = dnnl_matmul_desc_t.allocate(a);
            check(Dnnl.dnnl_matmul_desc_init(desc, src, weights, bias, dst), "dnnl_matmul_desc_init");
            MemorySegment attrP = a.allocate(ADDRESS);
            check(Dnnl.dnnl_primitive_attr_create(attrP), "dnnl_primitive_attr_create");
            MemorySegment attr = attrP.get(ADDRESS, 0);
            try {
                check(Dnnl.dnnl_primitive_attr_set_scratchpad_mode(attr, Dnnl.dnnl_scratchpad_mode_user()), "dnnl_primitive_attr_set_scratchpad_mode");
                MemorySegment pd = a.allocate(ADDRESS);
                check(Dnnl.dnnl_primitive_desc_create(pd, desc, attr, engine, MemorySegment.NULL), "dnnl_primitive_desc_create (matmul)");
                return pd.get(ADDRESS, 0);
            } finally {
                Dnnl.dnnl_primitive_attr_destroy(attr);
            }
        }
    }

    /** The implementation a primitive descriptor chose, e.g. {@code brg:avx512_core_bf16}. */
    public static String implInfo(MemorySegment pd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check(Dnnl.dnnl_primitive_desc_query(pd, Dnnl.dnnl_query_impl_info_str(), 0, p), "dnnl_primitive_desc_query (impl_info_str)");
            return p.get(ADDRESS, 0).reinterpret(256).getString(0);
        }
    }

    /** The descriptor of the scratchpad a primitive descriptor needs; owned by {@code pd}, valid while it lives. */
    public static MemorySegment scratchpadDesc(MemorySegment pd) {
        MemorySegment md = Dnnl.dnnl_primitive_desc_query_md(pd, Dnnl.dnnl_query_scratchpad_md(), 0);
        if (md.address() == 0) {
            throw new DnnlException("dnnl_primitive_desc_query_md (scratchpad_md)", Dnnl.dnnl_invalid_arguments(), "no scratchpad descriptor");
        }
        return md.reinterpret(dnnl_memory_desc_t.sizeof());
    }

    public static void primitiveDescDestroy(MemorySegment pd) {
        Dnnl.dnnl_primitive_desc_destroy(pd);
    }

    /** {@code dnnl_primitive_create}: the primitive (its JIT code) of a descriptor. */
    public static MemorySegment primitiveCreate(MemorySegment pd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check(Dnnl.dnnl_primitive_create(p, pd), "dnnl_primitive_create");
            return p.get(ADDRESS, 0);
        }
    }

    public static void primitiveDestroy(MemorySegment primitive) {
        Dnnl.dnnl_primitive_destroy(primitive);
    }

    /** {@code dnnl_memory_create} over caller memory at {@code handle} (not copied, not freed by oneDNN). */
    public static MemorySegment memoryCreate(MemorySegment md, MemorySegment engine, MemorySegment handle) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check(Dnnl.dnnl_memory_create(p, md, engine, handle), "dnnl_memory_create");
            return p.get(ADDRESS, 0);
        }
    }

    public static void memoryDestroy(MemorySegment memory) {
        Dnnl.dnnl_memory_destroy(memory);
    }

    /** Runs {@code primitive} on {@code stream} with the given arguments and waits for it. */
    public static void execute(MemorySegment primitive, MemorySegment stream, Arg[] args, MemorySegment[] memories) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment list = dnnl_exec_arg_t.allocateArray(args.length, a);
            for (int i = 0; i < args.length; i++) {
                MemorySegment e = dnnl_exec_arg_t.asSlice(list, i);
                dnnl_exec_arg_t.arg(e, args[i].code);
                dnnl_exec_arg_t.memory(e, memories[i]);
            }
            check(Dnnl.dnnl_primitive_execute(primitive, stream, args.length, list), "dnnl_primitive_execute");
            check(Dnnl.dnnl_stream_wait(stream), "dnnl_stream_wait");
        }
    }

    private static void check(int status, String call) {
        if (status != Dnnl.dnnl_success()) {
            throw new DnnlException(call, status, statusName(status));
        }
    }

    private static String statusName(int status) {
        if (status == Dnnl.dnnl_out_of_memory()) {
            return "dnnl_out_of_memory";
        } else if (status == Dnnl.dnnl_invalid_arguments()) {
            return "dnnl_invalid_arguments";
        } else if (status == Dnnl.dnnl_unimplemented()) {
            return "dnnl_unimplemented";
        } else if (status == Dnnl.dnnl_iterator_ends()) {
            return "dnnl_iterator_ends";
        } else if (status == Dnnl.dnnl_runtime_error()) {
            return "dnnl_runtime_error";
        } else if (status == Dnnl.dnnl_not_required()) {
            return "dnnl_not_required";
        }
        return "unknown status";
    }
}
