package org.untwist.gpu.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.untwist.ffm.CudaCheck;
import org.untwist.ffm.gen.cudnn.Cudnn;

/**
 * The cuDNN calls the GPU backend makes: the handle, and the backend (graph) API's descriptors that build and
 * run the fused attention, each status checked by {@link CudaCheck}. The enums hold the values of the C enums;
 * {@code code()} is public because the backend API also takes them as attribute data in native memory. Call only
 * after {@link org.untwist.ffm.CudaLibraries} has loaded cuDNN.
 */
public final class CudnnApi {
    private CudnnApi() {
    }

    /** {@code cudnnBackendDescriptorType_t}: the descriptors the attention builds. */
    public enum DescriptorType {
        TENSOR(Cudnn.CUDNN_BACKEND_TENSOR_DESCRIPTOR()),
        OPERATION_SDPA_FWD(Cudnn.CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR()),
        OPERATIONGRAPH(Cudnn.CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR()),
        ENGINEHEUR(Cudnn.CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR()),
        ENGINECFG(Cudnn.CUDNN_BACKEND_ENGINECFG_DESCRIPTOR()),
        ENGINE(Cudnn.CUDNN_BACKEND_ENGINE_DESCRIPTOR()),
        EXECUTION_PLAN(Cudnn.CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR()),
        VARIANT_PACK(Cudnn.CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR());

        private final int code;

        DescriptorType(int code) {
            this.code = code;
        }

        public int code() {
            return code;
        }
    }

    /** {@code cudnnBackendAttributeName_t}: the attributes the attention sets or reads. */
    public enum Attribute {
        TENSOR_DATA_TYPE(Cudnn.CUDNN_ATTR_TENSOR_DATA_TYPE()),
        TENSOR_DIMENSIONS(Cudnn.CUDNN_ATTR_TENSOR_DIMENSIONS()),
        TENSOR_STRIDES(Cudnn.CUDNN_ATTR_TENSOR_STRIDES()),
        TENSOR_UNIQUE_ID(Cudnn.CUDNN_ATTR_TENSOR_UNIQUE_ID()),
        TENSOR_BYTE_ALIGNMENT(Cudnn.CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT()),
        TENSOR_IS_BY_VALUE(Cudnn.CUDNN_ATTR_TENSOR_IS_BY_VALUE()),
        OPERATION_SDPA_FWD_QDESC(Cudnn.CUDNN_ATTR_OPERATION_SDPA_FWD_QDESC()),
        OPERATION_SDPA_FWD_KDESC(Cudnn.CUDNN_ATTR_OPERATION_SDPA_FWD_KDESC()),
        OPERATION_SDPA_FWD_VDESC(Cudnn.CUDNN_ATTR_OPERATION_SDPA_FWD_VDESC()),
        OPERATION_SDPA_FWD_ODESC(Cudnn.CUDNN_ATTR_OPERATION_SDPA_FWD_ODESC()),
        OPERATION_SDPA_FWD_STATSDESC(Cudnn.CUDNN_ATTR_OPERATION_SDPA_FWD_STATSDESC()),
        OPERATION_SDPA_FWD_SCALEDESC(Cudnn.CUDNN_ATTR_OPERATION_SDPA_FWD_SCALEDESC()),
        OPERATIONGRAPH_HANDLE(Cudnn.CUDNN_ATTR_OPERATIONGRAPH_HANDLE()),
        OPERATIONGRAPH_OPS(Cudnn.CUDNN_ATTR_OPERATIONGRAPH_OPS()),
        ENGINEHEUR_OPERATION_GRAPH(Cudnn.CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH()),
        ENGINEHEUR_MODE(Cudnn.CUDNN_ATTR_ENGINEHEUR_MODE()),
        ENGINEHEUR_RESULTS(Cudnn.CUDNN_ATTR_ENGINEHEUR_RESULTS()),
        ENGINECFG_ENGINE(Cudnn.CUDNN_ATTR_ENGINECFG_ENGINE()),
        ENGINE_GLOBAL_INDEX(Cudnn.CUDNN_ATTR_ENGINE_GLOBAL_INDEX()),
        EXECUTION_PLAN_HANDLE(Cudnn.CUDNN_ATTR_EXECUTION_PLAN_HANDLE()),
        EXECUTION_PLAN_ENGINE_CONFIG(Cudnn.CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG()),
        EXECUTION_PLAN_WORKSPACE_SIZE(Cudnn.CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE()),
        VARIANT_PACK_UNIQUE_IDS(Cudnn.CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS()),
        VARIANT_PACK_DATA_POINTERS(Cudnn.CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS()),
        VARIANT_PACK_WORKSPACE(Cudnn.CUDNN_ATTR_VARIANT_PACK_WORKSPACE());

        private final int code;

        Attribute(int code) {
            this.code = code;
        }

        public int code() {
            return code;
        }
    }

    /** {@code cudnnBackendAttributeType_t}: the type of an attribute's elements. */
    public enum AttributeType {
        INT64(Cudnn.CUDNN_TYPE_INT64()),
        VOID_PTR(Cudnn.CUDNN_TYPE_VOID_PTR()),
        HANDLE(Cudnn.CUDNN_TYPE_HANDLE()),
        BACKEND_DESCRIPTOR(Cudnn.CUDNN_TYPE_BACKEND_DESCRIPTOR()),
        HEUR_MODE(Cudnn.CUDNN_TYPE_HEUR_MODE()),
        DATA_TYPE(Cudnn.CUDNN_TYPE_DATA_TYPE()),
        BOOLEAN(Cudnn.CUDNN_TYPE_BOOLEAN());

        private final int code;

        AttributeType(int code) {
            this.code = code;
        }

        public int code() {
            return code;
        }
    }

    /** {@code cudnnDataType_t}: tensor element types. */
    public enum DataType {
        BFLOAT16(Cudnn.CUDNN_DATA_BFLOAT16()),
        FLOAT(Cudnn.CUDNN_DATA_FLOAT());

        private final int code;

        DataType(int code) {
            this.code = code;
        }

        public int code() {
            return code;
        }
    }

    /** {@code cudnnBackendHeurMode_t}: the heuristics that rank engine configurations. */
    public enum HeurMode {
        A(Cudnn.CUDNN_HEUR_MODE_A()),
        B(Cudnn.CUDNN_HEUR_MODE_B());

        private final int code;

        HeurMode(int code) {
            this.code = code;
        }

        public int code() {
            return code;
        }
    }

    /** {@code cudnnGetVersion}: e.g. 91000 for cuDNN 9.10.0. */
    public static long version() {
        return Cudnn.cudnnGetVersion();
    }

    /** {@code cudnnCreate}: a new handle. */
    public static MemorySegment create() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            CudaCheck.cudnn(Cudnn.cudnnCreate(p), "cudnnCreate");
            return p.get(ADDRESS, 0);
        }
    }

    /** {@code cudnnSetStream}: the handle's work runs on {@code stream}. */
    public static void setStream(MemorySegment handle, MemorySegment stream) {
        CudaCheck.cudnn(Cudnn.cudnnSetStream(handle, stream), "cudnnSetStream");
    }

    /** {@code cudnnDestroy}, status ignored (close and clean-up paths). */
    public static void destroy(MemorySegment handle) {
        Cudnn.cudnnDestroy(handle);
    }

    /** {@code cudnnBackendCreateDescriptor}: a new, unfinalized descriptor. */
    public static MemorySegment createDescriptor(DescriptorType type) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            CudaCheck.cudnn(Cudnn.cudnnBackendCreateDescriptor(type.code, p), "cudnnBackendCreateDescriptor(" + type.code + ")");
            return p.get(ADDRESS, 0);
        }
    }

    /** {@code cudnnBackendDestroyDescriptor}, status ignored (close and cache eviction). */
    public static void destroyDescriptor(MemorySegment descriptor) {
        Cudnn.cudnnBackendDestroyDescriptor(descriptor);
    }

    /**
     * {@code cudnnBackendSetAttribute}: {@code count} elements of {@code type} at {@code values}; a failure names
     * the call {@code cudnnBackendSetAttribute(what)}.
     */
    public static void setAttribute(MemorySegment descriptor, Attribute attribute, AttributeType type, long count, MemorySegment values,
                                    String what) {
        CudaCheck.cudnn(Cudnn.cudnnBackendSetAttribute(descriptor, attribute.code, type.code, count, values),
                "cudnnBackendSetAttribute(" + what + ")");
    }

    /**
     * {@code cudnnBackendGetAttribute}: up to {@code requested} elements into {@code values}, how many there are
     * into {@code count} (an int64); a failure names the call {@code cudnnBackendGetAttribute(what)}.
     */
    public static void getAttribute(MemorySegment descriptor, Attribute attribute, AttributeType type, long requested, MemorySegment count,
                                    MemorySegment values, String what) {
        CudaCheck.cudnn(Cudnn.cudnnBackendGetAttribute(descriptor, attribute.code, type.code, requested, count, values),
                "cudnnBackendGetAttribute(" + what + ")");
    }

    /** As {@link #getAttribute}, for attributes that may be missing: whether cuDNN answered. */
    public static boolean tryGetAttribute(MemorySegment descriptor, Attribute attribute, AttributeType type, long requested, MemorySegment count,
                                          MemorySegment values) {
        return Cudnn.cudnnBackendGetAttribute(descriptor, attribute.code, type.code, requested, count, values) == 0;
    }

    /** {@code cudnnBackendFinalize}; a failure names the call {@code cudnnBackendFinalize(what)}. */
    public static void finalizeDescriptor(MemorySegment descriptor, String what) {
        CudaCheck.cudnn(Cudnn.cudnnBackendFinalize(descriptor), "cudnnBackendFinalize(" + what + ")");
    }

    /** {@code cudnnBackendExecute} of an execution plan with a variant pack; a failure names the call {@code cudnnBackendExecute(what)}. */
    public static void execute(MemorySegment handle, MemorySegment plan, MemorySegment variantPack, String what) {
        CudaCheck.cudnn(Cudnn.cudnnBackendExecute(handle, plan, variantPack), "cudnnBackendExecute(" + what + ")");
    }
}
