package org.untwist.gpu;

import static org.untwist.gpu.KernelLauncher.BLOCK;
import static org.untwist.gpu.KernelLauncher.args;
import static org.untwist.gpu.KernelLauncher.ceil;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import org.untwist.gpu.cuda.CudaRuntime;
import org.untwist.tensor.Tensor;

/**
 * The autoencoder's operations for {@link GpuBackend} (issue 16): {@code affine}, {@code conv2d}, {@code groupNorm},
 * {@code upsampleNearest2x} and the device {@code permute}. Host tensors are staged like every other operation's.
 *
 * <p>{@code conv2d} is im2col into a bounded scratch buffer followed by a cuBLAS GEMM ({@link CublasGemm#multiplyColumns}):
 * for each image, the output pixels in bands of at most {@link #COL_BYTES} of im2col columns ({@code Cin·kh·kw}
 * floats a pixel; a 3×3 convolution of 128 channels at 1024² takes 73 bands of 14560 pixels, never the 4.8 GB of a
 * whole im2col), each band one GEMM writing its pixels of every output channel's plane in place (NCHW, no
 * transpose). The bias is written first and the GEMMs accumulate onto it. The weights are handled as in {@code linear}: float32 weights
 * one float32 GEMM (TF32 only with {@code -Duntwist.gpu.tf32=true}); BF16/F16/F8_E4M3/F8_E5M2 weights widened block by block
 * to float32 in {@code f32} precision; in {@code bf16} precision the im2col kernel writes the columns rounded to the
 * weights' 16-bit type (bf16 for F8_E4M3 and F8_E5M2, whose weights widen to bf16 exactly), a third of the memory
 * traffic of float32 columns rounded afterwards, for a tensor-core GEMM with float32 accumulation and output.
 * Everything else here computes in float32 (statistics in double) in either precision.
 *
 * <p>{@code groupNorm} is three launches over fixed chunks of each group (chunk sums, centred sums of squares, the
 * normalization), so a group's values spread over many blocks; every sum is a fixed-order double reduction:
 * deterministic, and within a float32 rounding of the oracle. {@code affine} and {@code upsampleNearest2x} are exact;
 * {@code permute} is a strided copy of any element type after merging the dimensions that stay adjacent, at most 6 of
 * them.
 */
final class GpuImageOps implements AutoCloseable {
    /** Bound of the im2col scratch buffer of one band. */
    static final long COL_BYTES = 64L << 20;
    /** Values of a group (statistics) or of a plane (normalizing) per groupNorm block: GN_CHUNK of the kernels. */
    static final int GROUP_NORM_CHUNK = 16384;
    /** Threads of a groupNorm block. */
    private static final int GROUP_NORM_THREADS = 256;
    /** The permute kernel's dimensions. */
    static final int PERMUTE_RANK = 6;

    private final KernelLauncher launcher;
    private final MemorySegment stream;
    private final String device;
    private final CublasGemm gemm;
    private GpuMemory colScratch; // im2col columns of one band, grown on demand, freed on close
    private GpuMemory normScratch; // groupNorm's per-chunk sums and sums of squares (doubles), grown on demand, freed on close

    /** @param device the device's label, for out-of-memory messages */
    GpuImageOps(KernelLauncher launcher, MemorySegment stream, String device, CublasGemm gemm) {
        this.launcher = launcher;
        this.stream = stream;
        this.device = device;
        this.gemm = gemm;
    }

    /** {@code out = scale · x + shift}, bit-exact with the oracle. */
    void affine(Tensor x, float scale, float shift, Tensor out, long n) {
        if (n == 0) {
            return;
        }
        try (Staging st = new Staging(device, stream)) {
            launcher.launch("affine_f32", launcher.grid(n), 1, 1, BLOCK, 0, args().ptr(st.in(x)).ptr(st.out(out)).f32(scale).f32(shift).i64(n));
        }
    }

    /** Output pixels per im2col band: at most {@link #COL_BYTES} of columns, a multiple of 32 where there is a choice. */
    static int bandColumns(long k, long plane) {
        long cols = Math.max(1, Math.min(plane, COL_BYTES / 4 / Math.max(1, k)));
        if (cols < plane && cols >= 32) {
            cols -= cols % 32; // 128-byte aligned band starts in out's rows
        }
        return (int) cols;
    }

    /** PyTorch's conv2d; see the class comment. The arguments are AbstractBackend's, checked. */
    void conv2d(Tensor x, Tensor w, Tensor bias, Tensor out, int b, int cin, int h, int wIn, int cout, int kh, int kw, int stride, int[] pad,
                int ho, int wo) {
        long plane = (long) ho * wo;
        long n = (long) b * cout * plane;
        if (n == 0) {
            return;
        }
        long k = (long) cin * kh * kw;
        if (k > Integer.MAX_VALUE || plane > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("conv2d: " + k + " values per output pixel or " + plane + " output pixels a map exceed the kernels' 32-bit index");
        }
        try (Staging st = new Staging(device, stream)) {
            long px = st.in(x), pw = st.in(w), po = st.out(out);
            if (bias != null) {
                long pb = st.in(bias);
                long planes = (long) b * cout;
                int blocksX = (int) Math.max(1, Math.min(ceil(plane, BLOCK), Math.max(1, 4096 / Math.min(planes, 4096))));
                for (long r0 = 0; r0 < planes; r0 += 65535) { // grid y holds at most 65535 planes per launch
                    int cnt = (int) Math.min(65535, planes - r0);
                    launcher.launch("broadcast_planes_f32", blocksX, cnt, 1, BLOCK, 0, args().ptr(po).ptr(pb).i32(cout).i32((int) plane).i32((int) r0));
                }
            }
            if (k == 0) { // no input channels: out is the bias, or zeros
                if (bias == null) {
                    CudaRuntime.memsetAsync(po, 0, n * 4, stream);
                }
                return;
            }
            // bf16 precision over 16-bit or 8-bit weights: the columns are written rounded, into the GEMM's own scratch
            boolean rounded = gemm.roundsOperands(w.dtype());
            int cols = bandColumns(k, plane);
            long col = rounded ? 0 : colScratch(k * cols * 4);
            long image = px;
            for (int bi = 0; bi < b; bi++, image += (long) cin * h * wIn * 4) {
                for (long p0 = 0; p0 < plane; p0 += cols) {
                    int c = (int) Math.min(cols, plane - p0), first = (int) p0;
                    long from = image;
                    CublasGemm.Rounding columns = (dst, bf16) -> im2col(from, dst, bf16, h, wIn, kh, kw, stride, pad, wo, first, c, k);
                    if (!rounded) {
                        im2col(from, col, null, h, wIn, kh, kw, stride, pad, wo, first, c, k);
                    }
                    gemm.multiplyColumns(col, rounded ? columns : null, pw, w.dtype(), po + ((long) bi * cout * plane + p0) * 4, c, (int) k, cout,
                            (int) plane, bias != null);
                }
            }
        }
    }

    /**
     * The im2col columns of output pixels {@code [p0, p0 + c)} of one image at {@code x}: {@code k} rows of {@code c}
     * values at {@code col}, float32 ({@code bf16} null) or rounded to bf16 (true) or f16 (false).
     */
    private void im2col(long x, long col, Boolean bf16, int h, int wIn, int kh, int kw, int stride, int[] pad, int wo, int p0, int c, long k) {
        int blocksX = (int) Math.max(1, Math.min(ceil(c, BLOCK), Math.max(1, 4096 / Math.min(k, 4096))));
        for (long k0 = 0; k0 < k; k0 += 65535) { // grid y: at most 65535 rows of columns per launch
            int cnt = (int) Math.min(65535, k - k0);
            var a = args().ptr(x).ptr(col).i32(h).i32(wIn).i32(kh).i32(kw).i32(stride).i32(pad[0]).i32(pad[2]).i32(wo).i32(p0).i32(c).i32((int) k0);
            launcher.launch(bf16 == null ? "im2col_f32" : "im2col_16", blocksX, cnt, 1, BLOCK, 0, bf16 == null ? a : a.i32(bf16 ? 1 : 0));
        }
    }

    /** GroupNorm over {@code x [b, c, spatial]}: the three launches of the class comment, each over fixed chunks. */
    void groupNorm(Tensor x, int groups, Tensor weight, Tensor bias, float eps, Tensor out, int b, int c, long spatial) {
        if ((long) b * c * spatial == 0) {
            return;
        }
        long n = c / groups * spatial, bg = (long) b * groups, planes = (long) b * c;
        long chunks = ceil(n, GROUP_NORM_CHUNK), planeChunks = ceil(spatial, GROUP_NORM_CHUNK);
        if (chunks > Integer.MAX_VALUE || planeChunks > Integer.MAX_VALUE || planes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("groupNorm: " + planes + " planes of " + spatial + " values exceed the kernels' 32-bit grid indices");
        }
        normScratch = GpuMemory.atLeast(normScratch, 2 * bg * chunks * 8, 1 << 16, device, "groupNorm statistics");
        long sums = normScratch.address(), squares = sums + bg * chunks * 8;
        try (Staging st = new Staging(device, stream)) {
            long px = st.in(x), pw = st.in(weight), pb = st.in(bias), po = st.out(out);
            for (long r0 = 0; r0 < bg; r0 += 65535) { // grid y holds at most 65535 groups per launch
                int cnt = (int) Math.min(65535, bg - r0);
                launcher.launch("group_norm_sums_f32", chunks, cnt, 1, GROUP_NORM_THREADS, 0, args().ptr(px).ptr(sums).i64(n).i32((int) chunks)
                        .i32((int) r0));
            }
            for (long r0 = 0; r0 < bg; r0 += 65535) {
                int cnt = (int) Math.min(65535, bg - r0);
                launcher.launch("group_norm_squares_f32", chunks, cnt, 1, GROUP_NORM_THREADS, 0, args().ptr(px).ptr(sums).ptr(squares).i64(n)
                        .i32((int) chunks).i32((int) r0));
            }
            for (long r0 = 0; r0 < planes; r0 += 65535) {
                int cnt = (int) Math.min(65535, planes - r0);
                launcher.launch("group_norm_apply_f32", planeChunks, cnt, 1, GROUP_NORM_THREADS, 0, args().ptr(px).ptr(pw).ptr(pb).ptr(po)
                        .ptr(sums).ptr(squares).i32(c).i32(groups).i64(spatial).i32((int) chunks).f32(eps).i32((int) r0));
            }
        }
    }

    /** {@code x [planes, h, w]} into {@code out [planes, 2h, 2w]}. */
    void upsampleNearest2x(Tensor x, Tensor out, long planes, int h, int w) {
        long rows = planes * h;
        if (rows * w == 0) {
            return;
        }
        if (rows > Integer.MAX_VALUE || 4L * w > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("upsampleNearest2x: " + rows + " rows of " + w + " values exceed the kernel's 32-bit index");
        }
        try (Staging st = new Staging(device, stream)) {
            long px = st.in(x), po = st.out(out);
            int vec2 = (po & 7) == 0 ? 1 : 0;
            int blocksX = (int) Math.max(1, Math.min(ceil(w, BLOCK), Math.max(1, 4096 / Math.min(rows, 4096))));
            for (long r0 = 0; r0 < rows; r0 += 65535) { // grid y: at most 65535 input rows per launch
                int cnt = (int) Math.min(65535, rows - r0);
                launcher.launch("upsample_nearest2x_f32", blocksX, cnt, 1, BLOCK, 0, args().ptr(px).ptr(po).i32(w).i32((int) r0).i32(vec2));
            }
        }
    }

    /** {@code out = x.permute(axes)} made contiguous, any element type; see {@link #permutePlan}. */
    void permute(Tensor x, int[] axes, Tensor out) {
        long n = out.numel();
        if (n == 0) {
            return;
        }
        long[][] plan = permutePlan(x.shape(), axes);
        if (plan == null) {
            throw new IllegalArgumentException("permute: " + Arrays.toString(x.shape()) + " by " + Arrays.toString(axes)
                    + " needs more than " + PERMUTE_RANK + " dimensions after merging adjacent ones (or an inner one of 2^31 or more); the gpu kernel handles "
                    + PERMUTE_RANK);
        }
        long[] d = plan[0], s = plan[1];
        try (Staging st = new Staging(device, stream)) {
            launcher.launch("permute_copy", launcher.grid(n), 1, 1, BLOCK, 0, args().ptr(st.in(x)).ptr(st.out(out)).i64(n)
                    .i32(x.dtype().byteSize()).i32((int) d[1]).i32((int) d[2]).i32((int) d[3]).i32((int) d[4]).i32((int) d[5])
                    .i64(s[0]).i64(s[1]).i64(s[2]).i64(s[3]).i64(s[4]).i64(s[5]));
        }
    }

    /**
     * The permute kernel's arguments: {@code {dims, strides}}, {@value #PERMUTE_RANK} output dimensions (innermost last)
     * and, for each, the source stride in elements, such that output element {@code o} with index {@code (i0..i5)} in
     * those dimensions is source element {@code Σ i_d·strides[d]}. Size-1 dimensions are dropped, output dimensions
     * that are adjacent in the source merged, and the rest padded at the front with size 1, stride 0. Null when more
     * than {@value #PERMUTE_RANK} remain or an inner one has {@code 2^31} elements or more.
     */
    static long[][] permutePlan(int[] shape, int[] axes) {
        int rank = shape.length;
        long[] inStride = new long[rank];
        long acc = 1;
        for (int d = rank - 1; d >= 0; d--) {
            inStride[d] = acc;
            acc *= shape[d];
        }
        long[] dims = new long[rank], strides = new long[rank];
        int m = 0;
        for (int i = 0; i < rank; i++) {
            long size = shape[axes[i]], stride = inStride[axes[i]];
            if (size == 1) {
                continue;
            }
            if (m > 0 && strides[m - 1] == stride * size) { // the previous output dimension continues this one in the source
                dims[m - 1] *= size;
                strides[m - 1] = stride;
            } else {
                dims[m] = size;
                strides[m] = stride;
                m++;
            }
        }
        if (m > PERMUTE_RANK) {
            return null;
        }
        long[] pd = new long[PERMUTE_RANK], ps = new long[PERMUTE_RANK];
        Arrays.fill(pd, 1);
        for (int j = 0; j < m; j++) {
            pd[PERMUTE_RANK - m + j] = dims[j];
            ps[PERMUTE_RANK - m + j] = strides[j];
        }
        for (int j = 1; j < PERMUTE_RANK; j++) { // the kernel takes these as int (the outermost is what remains of the index)
            if (pd[j] > Integer.MAX_VALUE) {
                return null;
            }
        }
        return new long[][] {pd, ps};
    }

    private long colScratch(long bytes) {
        colScratch = GpuMemory.atLeast(colScratch, bytes, 1 << 20, device, "conv2d im2col scratch");
        return colScratch.address();
    }

    /** Frees the im2col scratch (after the stream is synchronized). */
    @Override
    public void close() {
        if (colScratch != null) {
            colScratch.close();
            colScratch = null;
        }
        if (normScratch != null) {
            normScratch.close();
            normScratch = null;
        }
    }
}
