/**
 * FFM bindings to the CUDA runtime and driver, cuBLAS and cuBLASLt, cuDNN and NVRTC, and to oneDNN and its OpenMP runtime: the
 * code jextract generated from the headers ({@code org.untwist.ffm.gen.*}) and the hand-written library loading and
 * status checks ({@code org.untwist.ffm}). The GPU backend uses the CUDA ones, the onednn backend the others.
 */
module org.untwist.ffm {
    exports org.untwist.ffm to org.untwist.kernels, org.untwist.onednn;
    exports org.untwist.ffm.gen.cudart to org.untwist.kernels;
    exports org.untwist.ffm.gen.cuda to org.untwist.kernels;
    exports org.untwist.ffm.gen.cublas to org.untwist.kernels;
    exports org.untwist.ffm.gen.cublaslt to org.untwist.kernels;
    exports org.untwist.ffm.gen.cudnn to org.untwist.kernels;
    exports org.untwist.ffm.gen.nvrtc to org.untwist.kernels;
    exports org.untwist.ffm.gen.dnnl to org.untwist.onednn;
    exports org.untwist.ffm.gen.omp to org.untwist.onednn;
}
