/**
 * FFM bindings to the CUDA runtime and driver, cuBLAS, cuDNN and NVRTC: the code jextract generated from the CUDA
 * headers ({@code org.untwist.ffm.gen.*}) and the hand-written library loading and status checks
 * ({@code org.untwist.ffm}). Only the GPU backend uses them.
 */
module org.untwist.ffm {
    exports org.untwist.ffm to org.untwist.kernels;
    exports org.untwist.ffm.gen.cudart to org.untwist.kernels;
    exports org.untwist.ffm.gen.cuda to org.untwist.kernels;
    exports org.untwist.ffm.gen.cublas to org.untwist.kernels;
    exports org.untwist.ffm.gen.cudnn to org.untwist.kernels;
    exports org.untwist.ffm.gen.nvrtc to org.untwist.kernels;
}
