// CUDA C kernels of the untwist GPU backend: everything cuBLAS does not do. Compiled at run time by NVRTC for
// the device's architecture (org.untwist.gpu.KernelModule); every kernel is extern "C" so that its name is
// its symbol. Tensors are float32, row-major, contiguous; the formulas follow the scalar oracle
// (core/.../ScalarBackend.java), with double accumulation where it accumulates in double.
// No headers: NVRTC compiles this without an include path; 16-bit conversions are single PTX instructions.

typedef long long i64;
typedef unsigned long long u64;
typedef unsigned short u16;

#define NEG_INF __int_as_float(0xff800000)

__device__ __forceinline__ u16 to_bf16(float f) { u16 r; asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r) : "f"(f)); return r; }
__device__ __forceinline__ u16 to_f16(float f) { u16 r; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r) : "f"(f)); return r; }
// Two floats rounded to bf16 in one 32-bit word, lo in the low half (the order mma.sync fragments use).
__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
    unsigned r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

#define GRID_STRIDE(i, n) for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)gridDim.x * blockDim.x)

// ---- elementwise -------------------------------------------------------------------------------------

extern "C" __global__ void add_f32(const float* a, const float* b, float* out, i64 n) {
    GRID_STRIDE(i, n) out[i] = a[i] + b[i];
}

// The gate of a gated feed-forward: out = a · b (one float32 rounding, as the oracle's float product).
extern "C" __global__ void mul_f32(const float* a, const float* b, float* out, i64 n) {
    GRID_STRIDE(i, n) out[i] = __fmul_rn(a[i], b[i]);
}

// op 0: SiLU x·sigmoid(x); op 1: GELU (tanh approximation); op 3: CLIP's quick GELU x·sigmoid(1.702·x).
// Computed in double like the oracle: these are
// memory-bound, so the FP64 units cost nothing measurable.
extern "C" __global__ void unary_f32(const float* x, float* out, i64 n, int op) {
    GRID_STRIDE(i, n) {
        double v = x[i];
        double r;
        if (op == 0) {
            r = v / (1.0 + exp(-v));
        } else if (op == 3) {
            r = v / (1.0 + exp(-1.702 * v));
        } else if (op == 2) { // bf16 precision: GELU in float (tanhf, a few ulps), memory-bound like the reference's
            float f = x[i];
            out[i] = 0.5f * f * (1.0f + tanhf(0.7978845608f * (f + 0.044715f * f * f * f)));
            continue;
        } else {
            const double k = 0.7978845608028654; // sqrt(2/pi)
            r = 0.5 * v * (1.0 + tanh(k * (v + 0.044715 * v * v * v)));
        }
        out[i] = (float) r;
    }
}

// Row-wise kernels: one block per row (b·tokens + t), threads across the feature dimension, float4 when
// vec4 (dim % 4 == 0 and 16-byte aligned rows); no 64-bit division per element.
// out[b,t,d] = (1 + scale[b,d]) · x[b,t,d] + shift[b,d]
extern "C" __global__ void modulate_f32(const float* x, const float* shift, const float* scale, float* out, int tokens, int dim, int vec4) {
    i64 row = blockIdx.x;
    i64 b = row / tokens;
    const float* xr = x + row * dim;
    float* orow = out + row * dim;
    const float* sh = shift + b * dim;
    const float* sc = scale + b * dim;
    if (vec4) {
        for (int c = threadIdx.x; c < dim / 4; c += blockDim.x) {
            float4 v = reinterpret_cast<const float4*>(xr)[c], a = reinterpret_cast<const float4*>(sc)[c], h = reinterpret_cast<const float4*>(sh)[c];
            reinterpret_cast<float4*>(orow)[c] = make_float4(
                (float) ((1.0 + (double) a.x) * (double) v.x + (double) h.x), (float) ((1.0 + (double) a.y) * (double) v.y + (double) h.y),
                (float) ((1.0 + (double) a.z) * (double) v.z + (double) h.z), (float) ((1.0 + (double) a.w) * (double) v.w + (double) h.w));
        }
    } else {
        for (int c = threadIdx.x; c < dim; c += blockDim.x) orow[c] = (float) ((1.0 + (double) sc[c]) * (double) xr[c] + (double) sh[c]);
    }
}

// out[b,t,d] = residual[b,t,d] + gate[b,d] · y[b,t,d]
extern "C" __global__ void gated_residual_f32(const float* res, const float* gate, const float* y, float* out, int tokens, int dim, int vec4) {
    i64 row = blockIdx.x;
    const float* g = gate + (row / tokens) * dim;
    const float* rr = res + row * dim;
    const float* yr = y + row * dim;
    float* orow = out + row * dim;
    if (vec4) {
        for (int c = threadIdx.x; c < dim / 4; c += blockDim.x) {
            float4 r = reinterpret_cast<const float4*>(rr)[c], a = reinterpret_cast<const float4*>(g)[c], v = reinterpret_cast<const float4*>(yr)[c];
            reinterpret_cast<float4*>(orow)[c] = make_float4(
                (float) ((double) r.x + (double) a.x * (double) v.x), (float) ((double) r.y + (double) a.y * (double) v.y),
                (float) ((double) r.z + (double) a.z * (double) v.z), (float) ((double) r.w + (double) a.w * (double) v.w));
        }
    } else {
        for (int c = threadIdx.x; c < dim; c += blockDim.x) orow[c] = (float) ((double) rr[c] + (double) g[c] * (double) yr[c]);
    }
}

// out[r, c] = bias[c]: the GEMM then accumulates into it (beta = 1), so the bias costs no extra pass over out.
extern "C" __global__ void broadcast_rows_f32(float* out, const float* bias, int cols, int vec4) {
    float* orow = out + (i64) blockIdx.x * cols;
    if (vec4) {
        for (int c = threadIdx.x; c < cols / 4; c += blockDim.x) reinterpret_cast<float4*>(orow)[c] = reinterpret_cast<const float4*>(bias)[c];
    } else {
        for (int c = threadIdx.x; c < cols; c += blockDim.x) orow[c] = bias[c];
    }
}

// Activations rounded to the weights' 16-bit type for a tensor-core GEMM (round to nearest even).
extern "C" __global__ void f32_to_bf16(const float* x, u16* out, i64 n) {
    GRID_STRIDE(i, n) out[i] = to_bf16(x[i]);
}

extern "C" __global__ void f32_to_f16(const float* x, u16* out, i64 n) {
    GRID_STRIDE(i, n) out[i] = to_f16(x[i]);
}

// Two floats rounded to f16 in one 32-bit word, lo in the low half.
__device__ __forceinline__ unsigned pack_f16(float lo, float hi) {
    unsigned r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

// f32_to_bf16 (bf16 != 0) or f32_to_f16 four values at a time: 16-byte loads, 8-byte stores (x 16-byte and out
// 8-byte aligned), the same roundings.
extern "C" __global__ void f32_to_16_x4(const float4* x, uint2* out, i64 quads, int bf16) {
    GRID_STRIDE(i, quads) {
        float4 v = x[i];
        out[i] = bf16 ? make_uint2(pack_bf16(v.x, v.y), pack_bf16(v.z, v.w)) : make_uint2(pack_f16(v.x, v.y), pack_f16(v.z, v.w));
    }
}

// 16-bit weights widened to float32 (a block at a time, for exact float32 GEMMs).
extern "C" __global__ void bf16_to_f32(const u16* x, float* out, i64 n) {
    GRID_STRIDE(i, n) out[i] = __uint_as_float(((unsigned) x[i]) << 16);
}

extern "C" __global__ void f16_to_f32(const u16* x, float* out, i64 n) {
    GRID_STRIDE(i, n) {
        float f;
        asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x[i]));
        out[i] = f;
    }
}

// F8_E4M3 (e4m3fn: bias 7, 3 mantissa bits, no infinities, S.1111.111 NaN) widened to float32; exact, and
// exact again as bf16 (8 exponent bits, 7 mantissa bits hold every e4m3 value, subnormals included).
__device__ __forceinline__ float f8e4m3_to_float(unsigned char b) {
    unsigned sign = ((unsigned) b & 0x80u) << 24, e = ((unsigned) b >> 3) & 0xFu, m = (unsigned) b & 0x7u;
    if (e == 0xFu && m == 0x7u) return __uint_as_float(sign | 0x7FC00000u);
    if (e == 0u) return __uint_as_float(sign | __float_as_uint((float) m * 0.001953125f)); // m/8 · 2^-6
    return __uint_as_float(sign | ((e + 120u) << 23) | (m << 20));
}

extern "C" __global__ void f8e4m3_to_f32(const unsigned char* x, float* out, i64 n) {
    GRID_STRIDE(i, n) out[i] = f8e4m3_to_float(x[i]);
}

// The F8 weights of a linear layer in bf16 precision, a block at a time, for the bf16 tensor-core GEMM.
extern "C" __global__ void f8e4m3_to_bf16(const unsigned char* x, u16* out, i64 n) {
    GRID_STRIDE(i, n) out[i] = (u16) (__float_as_uint(f8e4m3_to_float(x[i])) >> 16);
}

// F8_E5M2 (e5m2: bias 15, 2 mantissa bits, IEEE-like with infinities and NaNs) is exactly the upper byte of an
// IEEE binary16: the code shifted left by 8 is a half, widened to float32 exactly (subnormals, infinities and
// NaNs included); exact again as bf16 (every e5m2 value has 3 significant bits and an exponent in [-16, 15]).
__device__ __forceinline__ float f8e5m2_to_float(unsigned char b) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"((u16) ((u16) b << 8)));
    return f;
}

extern "C" __global__ void f8e5m2_to_f32(const unsigned char* x, float* out, i64 n) {
    GRID_STRIDE(i, n) out[i] = f8e5m2_to_float(x[i]);
}

// The F8_E5M2 weights of a linear layer in bf16 precision, a block at a time, for the bf16 tensor-core GEMM (the
// float32 value truncated to its upper half: exact, bf16 holds every e5m2 value; NaNs stay NaNs).
extern "C" __global__ void f8e5m2_to_bf16(const unsigned char* x, u16* out, i64 n) {
    GRID_STRIDE(i, n) out[i] = (u16) (__float_as_uint(f8e5m2_to_float(x[i])) >> 16);
}

// GGUF's block-quantized weights (GGML's dequantize_row_q8_0 / dequantize_row_q4_K), element i of a tensor whose rows
// are whole blocks, dequantized with the scalar oracle's float32 operations (core/.../BlockQuantization.java): every
// product and difference rounded on its own (__fmul_rn, __fsub_rn: never contracted into an FMA), so bit-identical.
__device__ __forceinline__ float half_bits_to_float(unsigned lo, unsigned hi) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"((u16) (lo | hi << 8)));
    return f;
}

// Q8_0: blocks of 32 elements in 34 bytes, a binary16 scale d then 32 signed bytes q; element = d·q.
__device__ __forceinline__ float q8_0_value(const unsigned char* x, i64 i) {
    const unsigned char* b = x + (i / 32) * 34;
    return __fmul_rn((float) (signed char) b[2 + i % 32], half_bits_to_float(b[0], b[1]));
}

// Q4_K: super-blocks of 256 elements in 144 bytes: binary16 d and dmin, 12 bytes of eight 6-bit scales and mins,
// 128 bytes of 4-bit quants (sub-blocks 2p and 2p+1 share 32 bytes: low nibbles 2p, high nibbles 2p+1);
// element l of sub-block j = (d·scale[j])·q − dmin·min[j].
__device__ __forceinline__ float q4k_value(const unsigned char* x, i64 i) {
    const unsigned char* b = x + (i / 256) * 144;
    int j = (int) (i % 256), sub = j / 32, l = j % 32;
    const unsigned char* s = b + 4;
    unsigned sc, m;
    if (sub < 4) {
        sc = s[sub] & 63u;
        m = s[sub + 4] & 63u;
    } else {
        sc = (s[sub + 4] & 0xFu) | ((unsigned) (s[sub - 4] >> 6) << 4);
        m = ((unsigned) s[sub + 4] >> 4) | ((unsigned) (s[sub] >> 6) << 4);
    }
    unsigned packed = b[16 + (sub / 2) * 32 + l];
    unsigned q = (sub & 1) ? packed >> 4 : packed & 0xFu;
    float scale = __fmul_rn(half_bits_to_float(b[0], b[1]), (float) sc);
    float min = __fmul_rn(half_bits_to_float(b[2], b[3]), (float) m);
    return __fsub_rn(__fmul_rn(scale, (float) q), min);
}

// The block-quantized weights of a linear layer widened to float32 (f32 precision) or rounded to bf16 (bf16
// precision, for the bf16 tensor-core GEMM), a block of rows at a time: n elements from the rows' first element.
extern "C" __global__ void q8_0_to_f32(const unsigned char* x, float* out, i64 n) {
    GRID_STRIDE(i, n) out[i] = q8_0_value(x, i);
}

extern "C" __global__ void q8_0_to_bf16(const unsigned char* x, u16* out, i64 n) {
    GRID_STRIDE(i, n) out[i] = to_bf16(q8_0_value(x, i));
}

extern "C" __global__ void q4k_to_f32(const unsigned char* x, float* out, i64 n) {
    GRID_STRIDE(i, n) out[i] = q4k_value(x, i);
}

extern "C" __global__ void q4k_to_bf16(const unsigned char* x, u16* out, i64 n) {
    GRID_STRIDE(i, n) out[i] = to_bf16(q4k_value(x, i));
}

// A token embedding: out[r, c] = table[ids[r], c] widened to float32 (ids == null: row r itself, for a table
// whose rows the host has already gathered). type: 0 F32, 1 BF16, 2 F16, 3 F8_E4M3, 4 F8_E5M2, 5 Q8_0, 6 Q4_K
// (rows of whole blocks, so element src of the table is element src of its blocks).
extern "C" __global__ void embedding_gather(const void* table, const int* ids, float* out, int dim, int type, i64 n) {
    GRID_STRIDE(i, n) {
        i64 r = i / dim;
        int c = (int) (i - r * dim);
        i64 src = (ids == nullptr ? r : (i64) ids[r]) * dim + c;
        float f;
        if (type == 0) f = reinterpret_cast<const float*>(table)[src];
        else if (type == 1) f = __uint_as_float(((unsigned) reinterpret_cast<const u16*>(table)[src]) << 16);
        else if (type == 2) asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(reinterpret_cast<const u16*>(table)[src]));
        else if (type == 3) f = f8e4m3_to_float(reinterpret_cast<const unsigned char*>(table)[src]);
        else if (type == 4) f = f8e5m2_to_float(reinterpret_cast<const unsigned char*>(table)[src]);
        else if (type == 5) f = q8_0_value(reinterpret_cast<const unsigned char*>(table), src);
        else f = q4k_value(reinterpret_cast<const unsigned char*>(table), src);
        out[i] = f;
    }
}

// Deterministic pseudo-random fill (benchmark weights made on the device): uniform in [-scale, scale)
// from a splitmix64 hash of (seed, index), so a value depends on its index only.
__device__ __forceinline__ float hash_uniform(u64 seed, u64 i) {
    u64 z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float) (z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f;
}

extern "C" __global__ void fill_uniform_f32(float* x, i64 n, u64 seed, float scale) {
    GRID_STRIDE(i, n) x[i] = scale * hash_uniform(seed, (u64) i);
}

extern "C" __global__ void fill_uniform_bf16(u16* x, i64 n, u64 seed, float scale) {
    GRID_STRIDE(i, n) x[i] = to_bf16(scale * hash_uniform(seed, (u64) i));
}

// ---- row reductions: one warp per row ----------------------------------------------------------------

__device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// The affine part of LayerNorm (w == null: none; bias may be null alone), in double like the oracle.
__device__ __forceinline__ float ln_affine(double y, const float* w, const float* bias, int i) {
    if (w != nullptr) y = y * (double) w[i] + (bias != nullptr ? (double) bias[i] : 0.0);
    return (float) y;
}

// LayerNorm, optionally affine (w, bias); two passes (mean, then centred variance) in double.
extern "C" __global__ void layer_norm_f32(const float* x, const float* w, const float* bias, float* out, i64 rows, int dim, float eps) {
    i64 row = (i64) blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (row >= rows) return;
    const float* xr = x + row * dim;
    float* orow = out + row * dim;
    double s = 0;
    for (int i = lane; i < dim; i += 32) s += xr[i];
    double mean = warp_sum(s) / dim;
    double v = 0;
    for (int i = lane; i < dim; i += 32) { double c = xr[i] - mean; v += c * c; }
    double inv = 1.0 / sqrt(warp_sum(v) / dim + (double) eps);
    for (int i = lane; i < dim; i += 32) orow[i] = ln_affine((xr[i] - mean) * inv, w, bias, i);
}

// Block-wide double sum for the one-row-per-block kernels (blockDim a multiple of 32, at most 1024).
__device__ double block_sum(double v, double* red) {
    int warp = threadIdx.x / 32, lane = threadIdx.x & 31, warps = blockDim.x / 32;
    v = warp_sum(v);
    __syncthreads(); // red may still be read from the previous call
    if (lane == 0) red[warp] = v;
    __syncthreads();
    double t = 0;
    for (int w = 0; w < warps; w++) t += red[w];
    return t;
}

// The mean and 1/sqrt(var + eps) of one row for the one-row-per-block kernels, in double, two passes (mean, then
// centred variance). float4 loads when vec4 (dim % 4 == 0, 16-byte aligned row); the summation order depends only on
// (dim, blockDim, vec4), so layer_norm_block_f32 and layer_norm_modulate_block_f32 agree bit for bit.
__device__ __forceinline__ void row_moments(const float* xr, int dim, float eps, int vec4, double* red, double& mean, double& inv) {
    double s = 0;
    if (vec4) {
        const float4* x4 = reinterpret_cast<const float4*>(xr);
        for (int c = threadIdx.x; c < dim / 4; c += blockDim.x) { float4 v = x4[c]; s += v.x; s += v.y; s += v.z; s += v.w; }
    } else {
        for (int i = threadIdx.x; i < dim; i += blockDim.x) s += xr[i];
    }
    mean = block_sum(s, red) / dim;
    double v = 0;
    if (vec4) {
        const float4* x4 = reinterpret_cast<const float4*>(xr);
        for (int c = threadIdx.x; c < dim / 4; c += blockDim.x) {
            float4 q = x4[c];
            double a = q.x - mean, b = q.y - mean, e = q.z - mean, f = q.w - mean;
            v += a * a; v += b * b; v += e * e; v += f * f;
        }
    } else {
        for (int i = threadIdx.x; i < dim; i += blockDim.x) { double c = xr[i] - mean; v += c * c; }
    }
    inv = 1.0 / sqrt(block_sum(v, red) / dim + (double) eps);
}

// LayerNorm for long rows (FLUX's 3072): one block per row, so the three passes read it from L1, not DRAM.
extern "C" __global__ void layer_norm_block_f32(const float* x, const float* w, const float* bias, float* out, int dim, float eps, int vec4) {
    __shared__ double red[32];
    const float* xr = x + (i64) blockIdx.x * dim;
    float* orow = out + (i64) blockIdx.x * dim;
    double mean, inv;
    row_moments(xr, dim, eps, vec4, red, mean, inv);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) orow[i] = ln_affine((xr[i] - mean) * inv, w, bias, i);
}

extern "C" __global__ void rms_norm_f32(const float* x, const float* scale, float* out, i64 rows, int dim, float eps) {
    i64 row = (i64) blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (row >= rows) return;
    const float* xr = x + row * dim;
    float* orow = out + row * dim;
    double s = 0;
    for (int i = lane; i < dim; i += 32) { double c = xr[i]; s += c * c; }
    double inv = 1.0 / sqrt(warp_sum(s) / dim + (double) eps);
    for (int i = lane; i < dim; i += 32) orow[i] = (float) (xr[i] * inv * scale[i]);
}

// layer_norm_block_f32 without affine parameters, then modulate_f32's (1 + scale)·y + shift on the rounded
// result, in one pass (FLUX's adaLN input): the same float32 values as the two kernels, one read of x fewer and one
// write fewer. One block per row (b·tokens + t); shift and scale [B, dim]; vec4x: x's rows are float4s (the moments'
// order, as layer_norm_block_f32 chooses it), vec4: so are all the rows and vectors. outBf16: out holds bf16, each
// float32 result rounded once (the operand of the GEMM that reads it).
extern "C" __global__ void layer_norm_modulate_block_f32(const float* x, const float* shift, const float* scale, void* out, int tokens,
                                                         int dim, float eps, int vec4x, int vec4, int outBf16) {
    __shared__ double red[32];
    i64 row = blockIdx.x;
    const float* xr = x + row * dim;
    float* orow = reinterpret_cast<float*>(out) + row * dim;
    u16* orow16 = reinterpret_cast<u16*>(out) + row * dim;
    const float* sh = shift + (row / tokens) * dim;
    const float* sc = scale + (row / tokens) * dim;
    double mean, inv;
    row_moments(xr, dim, eps, vec4x, red, mean, inv);
    if (vec4) {
        for (int c = threadIdx.x; c < dim / 4; c += blockDim.x) {
            float4 v = reinterpret_cast<const float4*>(xr)[c], a = reinterpret_cast<const float4*>(sc)[c], h = reinterpret_cast<const float4*>(sh)[c];
            float y0 = (float) ((v.x - mean) * inv), y1 = (float) ((v.y - mean) * inv), y2 = (float) ((v.z - mean) * inv),
                  y3 = (float) ((v.w - mean) * inv);
            float4 o = make_float4(
                (float) ((1.0 + (double) a.x) * (double) y0 + (double) h.x), (float) ((1.0 + (double) a.y) * (double) y1 + (double) h.y),
                (float) ((1.0 + (double) a.z) * (double) y2 + (double) h.z), (float) ((1.0 + (double) a.w) * (double) y3 + (double) h.w));
            if (outBf16) reinterpret_cast<uint2*>(orow16)[c] = make_uint2(pack_bf16(o.x, o.y), pack_bf16(o.z, o.w));
            else reinterpret_cast<float4*>(orow)[c] = o;
        }
    } else {
        for (int i = threadIdx.x; i < dim; i += blockDim.x) {
            float y = (float) ((xr[i] - mean) * inv);
            float o = (float) ((1.0 + (double) sc[i]) * (double) y + (double) sh[i]);
            if (outBf16) orow16[i] = to_bf16(o);
            else orow[i] = o;
        }
    }
}

// The row a warp of split_qkv_norm_rope_* reads and the row it writes, for w = (row·3 + part)·heads + head
// (row = b·tokens + t, w < 2^32), and the row of pe that rotates it; T: float or u16 (bf16).
template <typename T> struct QkvRow { const T* src; T* dst; unsigned part; i64 peRow; };
template <typename T>
__device__ __forceinline__ QkvRow<T> qkv_row(unsigned w, const T* qkv, T* q, T* k, T* v, int heads, int tokens, int lTot, int dim, int off,
                                             int peBatch) {
    unsigned r = w / heads, row = r / 3;
    unsigned head = w - r * heads, part = r - row * 3, b = row / tokens, t = row - b * tokens;
    QkvRow<T> x;
    x.part = part;
    x.src = qkv + (((i64) row * 3 + part) * heads + head) * dim;
    x.dst = (part == 0 ? q : part == 1 ? k : v) + (((i64) b * heads + head) * lTot + off + t) * dim;
    x.peRow = (peBatch == 1 ? 0 : (i64) b) * lTot + off + t;
    return x;
}

// One stream's attention inputs in one pass: qkv [B, L, 3, H, D] -> q, k, v [B, H, lTot, D] at tokens [off, off + L),
// q and k rows RMS-normalized with their own scale (in double, like rms_norm_f32, rounded to float32), then rotated
// pair by pair by pe's row off + t (like apply_rope_f32) unless pe is null; v copied. One warp per (token row, part,
// head), warps < 2^32; lanes over the D / 2 pairs (float2: D even, 8-byte aligned rows; pe 16-byte aligned).
extern "C" __global__ void split_qkv_norm_rope_f32(const float* qkv, const float* qScale, const float* kScale, const float* pe, float* q,
                                                   float* k, float* v, int heads, int tokens, int lTot, int dim, int off, int peBatch,
                                                   float eps, unsigned warps) {
    unsigned w = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (w >= warps) return;
    QkvRow<float> at = qkv_row(w, qkv, q, k, v, heads, tokens, lTot, dim, off, peBatch);
    int pairs = dim / 2;
    const float2* src = reinterpret_cast<const float2*>(at.src);
    float2* dst = reinterpret_cast<float2*>(at.dst);
    if (at.part == 2) {
        for (int p = lane; p < pairs; p += 32) dst[p] = src[p];
        return;
    }
    double s = 0;
    for (int p = lane; p < pairs; p += 32) { float2 x = src[p]; s += (double) x.x * x.x + (double) x.y * x.y; }
    double inv = 1.0 / sqrt(warp_sum(s) / dim + (double) eps);
    const float2* sc = reinterpret_cast<const float2*>(at.part == 0 ? qScale : kScale);
    const float4* m = pe == nullptr ? nullptr : reinterpret_cast<const float4*>(pe) + at.peRow * pairs;
    for (int p = lane; p < pairs; p += 32) {
        float2 x = src[p], g = sc[p];
        float y0 = (float) (x.x * inv * g.x), y1 = (float) (x.y * inv * g.y);
        if (m != nullptr) {
            float4 c = m[p];
            double a = y0, e = y1;
            y0 = (float) (c.x * a + c.y * e);
            y1 = (float) (c.z * a + c.w * e);
        }
        dst[p] = make_float2(y0, y1);
    }
}

// A quad of four consecutive values of a float32 or bf16 row, as floats (bf16 widened exactly), and back (bf16: rounded).
__device__ __forceinline__ float4 load_quad(const float* row, int c) { return reinterpret_cast<const float4*>(row)[c]; }
__device__ __forceinline__ float4 load_quad(const u16* row, int c) {
    uint2 r = reinterpret_cast<const uint2*>(row)[c];
    return make_float4(__uint_as_float(r.x << 16), __uint_as_float(r.x & 0xffff0000u), __uint_as_float(r.y << 16),
                       __uint_as_float(r.y & 0xffff0000u));
}
__device__ __forceinline__ void store_quad(float* row, int c, float4 v) { reinterpret_cast<float4*>(row)[c] = v; }
__device__ __forceinline__ void store_quad(u16* row, int c, float4 v) {
    reinterpret_cast<uint2*>(row)[c] = make_uint2(pack_bf16(v.x, v.y), pack_bf16(v.z, v.w));
}

// split_qkv_norm_rope_f32 (T = float) and split_qkv_norm_rope_bf16 (T = u16: the arithmetic on the widened values,
// rounded once) for D % 4 == 0, D <= 512 (FLUX's 128), rows of whole quads (16-byte aligned float32, 8-byte aligned
// bf16) and 16-byte aligned scales and pe: each lane reads its quads of the row once (at most QKV_QUADS of them, kept
// in registers as floats), so the row is read once, not twice.
#define QKV_QUADS 4
template <typename T>
__device__ __forceinline__ void split_qkv_norm_rope4(const T* qkv, const float* qScale, const float* kScale, const float* pe, T* q, T* k, T* v,
                                                     int heads, int tokens, int lTot, int dim, int off, int peBatch, float eps,
                                                     unsigned warps) {
    unsigned w = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (w >= warps) return;
    QkvRow<T> at = qkv_row(w, qkv, q, k, v, heads, tokens, lTot, dim, off, peBatch);
    int quads = dim / 4;
    float4 x[QKV_QUADS];
    double s = 0;
#pragma unroll
    for (int j = 0; j < QKV_QUADS; j++) {
        int c = lane + 32 * j;
        if (c < quads) {
            x[j] = load_quad(at.src, c);
            s += (double) x[j].x * x[j].x + (double) x[j].y * x[j].y;
            s += (double) x[j].z * x[j].z + (double) x[j].w * x[j].w;
        }
    }
    if (at.part == 2) { // v: copied bit for bit (a bf16 row as its 8-byte quads, again from L1: a NaN keeps its payload)
#pragma unroll
        for (int j = 0; j < QKV_QUADS; j++) {
            int c = lane + 32 * j;
            if (c >= quads) continue;
            if constexpr (sizeof(T) == 2) reinterpret_cast<uint2*>(at.dst)[c] = reinterpret_cast<const uint2*>(at.src)[c];
            else store_quad(at.dst, c, x[j]);
        }
        return;
    }
    double inv = 1.0 / sqrt(warp_sum(s) / dim + (double) eps);
    const float4* sc = reinterpret_cast<const float4*>(at.part == 0 ? qScale : kScale);
    const float4* m = pe == nullptr ? nullptr : reinterpret_cast<const float4*>(pe) + at.peRow * (dim / 2);
#pragma unroll
    for (int j = 0; j < QKV_QUADS; j++) {
        int c = lane + 32 * j;
        if (c >= quads) continue;
        float4 g = sc[c];
        float y0 = (float) (x[j].x * inv * g.x), y1 = (float) (x[j].y * inv * g.y), y2 = (float) (x[j].z * inv * g.z),
              y3 = (float) (x[j].w * inv * g.w);
        if (m != nullptr) {
            float4 c0 = m[2 * c], c1 = m[2 * c + 1];
            double a = y0, e = y1, f = y2, h = y3;
            y0 = (float) (c0.x * a + c0.y * e);
            y1 = (float) (c0.z * a + c0.w * e);
            y2 = (float) (c1.x * f + c1.y * h);
            y3 = (float) (c1.z * f + c1.w * h);
        }
        store_quad(at.dst, c, make_float4(y0, y1, y2, y3));
    }
}

extern "C" __global__ void split_qkv_norm_rope4_f32(const float* qkv, const float* qScale, const float* kScale, const float* pe, float* q,
                                                    float* k, float* v, int heads, int tokens, int lTot, int dim, int off, int peBatch,
                                                    float eps, unsigned warps) {
    split_qkv_norm_rope4(qkv, qScale, kScale, pe, q, k, v, heads, tokens, lTot, dim, off, peBatch, eps, warps);
}

extern "C" __global__ void split_qkv_norm_rope4_bf16(const u16* qkv, const float* qScale, const float* kScale, const float* pe, u16* q,
                                                     u16* k, u16* v, int heads, int tokens, int lTot, int dim, int off, int peBatch,
                                                     float eps, unsigned warps) {
    split_qkv_norm_rope4(qkv, qScale, kScale, pe, q, k, v, heads, tokens, lTot, dim, off, peBatch, eps, warps);
}

__device__ __forceinline__ float bf16_value(u16 h) { return __uint_as_float(((unsigned) h) << 16); }

// split_qkv_norm_rope_f32 on bf16 activations (the GEMM wrote qkv in bf16; attention reads q, k, v in bf16): each
// value widened, normalized and rotated in float32/double exactly like the float32 kernel, then rounded once. One
// warp per (token row, part, head); lanes over the values, one 16-bit load each (coalesced: a warp covers 64
// bytes), the row read twice (the sum of squares, then the values: the second read from L1). Any alignment (the
// quad kernel below takes FLUX's aligned rows; this one is the fallback for the rest); pe
// (float32, [peBatch, 1, lTot, D/2, 2, 2]) read as floats. An odd D (no RoPE then) ends with one unpaired value.
extern "C" __global__ void split_qkv_norm_rope_bf16(const u16* qkv, const float* qScale, const float* kScale, const float* pe, u16* q, u16* k,
                                                    u16* v, int heads, int tokens, int lTot, int dim, int off, int peBatch, float eps,
                                                    unsigned warps) {
    unsigned w = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (w >= warps) return;
    QkvRow<u16> at = qkv_row(w, qkv, q, k, v, heads, tokens, lTot, dim, off, peBatch);
    if (at.part == 2) {
        for (int i = lane; i < dim; i += 32) at.dst[i] = at.src[i];
        return;
    }
    double s = 0;
    for (int i = lane; i < dim; i += 32) { double x = bf16_value(at.src[i]); s += x * x; }
    double inv = 1.0 / sqrt(warp_sum(s) / dim + (double) eps);
    const float* sc = at.part == 0 ? qScale : kScale;
    const float* m = pe == nullptr ? nullptr : pe + at.peRow * (i64) (dim / 2) * 4;
    int pairs = dim / 2;
    for (int p = lane; p < pairs; p += 32) {
        float y0 = (float) (bf16_value(at.src[2 * p]) * inv * sc[2 * p]), y1 = (float) (bf16_value(at.src[2 * p + 1]) * inv * sc[2 * p + 1]);
        if (m != nullptr) {
            const float* c = m + 4 * p;
            double a = y0, e = y1;
            y0 = (float) (c[0] * a + c[1] * e);
            y1 = (float) (c[2] * a + c[3] * e);
        }
        at.dst[2 * p] = to_bf16(y0);
        at.dst[2 * p + 1] = to_bf16(y1);
    }
    if ((dim & 1) && lane == 0) at.dst[dim - 1] = to_bf16((float) (bf16_value(at.src[dim - 1]) * inv * sc[dim - 1]));
}


// ---- positions ---------------------------------------------------------------------------------------

// pe[b,0,t,p] = [[cos, -sin], [sin, cos]] of angle = ids[b,t,axis[p]] · omega[p] (a float32 product, as the
// reference computes it); omega and axis come from the host (RopeFrequencies), one entry per pair.
extern "C" __global__ void rope_table_f32(const float* ids, const float* omega, const int* axis, float* pe, int axes, int pairs, i64 n) {
    GRID_STRIDE(i, n) { // i = (b·tokens + t)·pairs + p
        i64 bt = i / pairs;
        int p = (int) (i % pairs);
        float angle = __fmul_rn(ids[bt * axes + axis[p]], omega[p]);
        double c = cos((double) angle), s = sin((double) angle);
        float4 m = make_float4((float) c, (float) -s, (float) s, (float) c);
        reinterpret_cast<float4*>(pe)[i] = m;
    }
}

// Rotates adjacent pairs: y0 = m00·x0 + m01·x1, y1 = m10·x0 + m11·x1 (in double, like the oracle). Grid y is
// b·H + h, grid x covers tokens × pairs of that head with one thread per pair; pe rows are shared by heads.
extern "C" __global__ void apply_rope_f32(const float* x, const float* pe, float* out, int heads, int tokens, int pairs, int peBatch) {
    unsigned idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (unsigned) tokens * (unsigned) pairs) return;
    i64 bh = blockIdx.y;
    i64 pb = peBatch == 1 ? 0 : bh / heads;
    i64 i = bh * tokens * pairs + idx;
    float4 m = reinterpret_cast<const float4*>(pe)[pb * tokens * pairs + idx];
    float2 v = reinterpret_cast<const float2*>(x)[i];
    double x0 = v.x, x1 = v.y;
    reinterpret_cast<float2*>(out)[i] = make_float2((float) (m.x * x0 + m.y * x1), (float) (m.z * x0 + m.w * x1));
}

// out[b, j] = cos(t_b·f_j), out[b, half + j] = sin(t_b·f_j), zero in an odd last column; freqs from the host.
extern "C" __global__ void timestep_embedding_f32(const float* t, const float* freqs, float* out, int dim, float timeFactor, i64 n) {
    GRID_STRIDE(i, n) { // i = b·dim + c
        int half = dim / 2;
        i64 b = i / dim;
        int c = (int) (i % dim);
        float tt = __fmul_rn(timeFactor, t[b]);
        float r = 0.0f;
        if (c < half) r = (float) cos((double) __fmul_rn(tt, freqs[c]));
        else if (c < 2 * half) r = (float) sin((double) __fmul_rn(tt, freqs[c - half]));
        out[i] = r;
    }
}

// ---- layout ------------------------------------------------------------------------------------------

// qkv [B, L, 3, H, D] -> q, k, v [B, H, lTot, D] at tokens [off, off + L). Grid y: token rows (b·L + t, from
// rowBase), threads across the 3·H·D values of the row, `vec` values at a time (4 when D % 4 == 0, else 1).
extern "C" __global__ void split_qkv_f32(const float* qkv, float* q, float* k, float* v, int heads, int tokens, int lTot, int dim, int off,
                                         int rowBase, int vec) {
    i64 row = (i64) blockIdx.y + rowBase;
    i64 b = row / tokens;
    int t = (int) (row - b * tokens);
    int hd = heads * dim;
    const float* src = qkv + row * 3 * hd;
    for (int c = (blockIdx.x * blockDim.x + threadIdx.x) * vec; c < 3 * hd; c += gridDim.x * blockDim.x * vec) {
        int which = c / hd, r = c - which * hd, h = r / dim, d = r - h * dim;
        float* dst = (which == 0 ? q : which == 1 ? k : v) + ((b * heads + h) * lTot + off + t) * dim + d;
        if (vec == 4) *reinterpret_cast<float4*>(dst) = *reinterpret_cast<const float4*>(src + c);
        else *dst = src[c];
    }
}

// Four values of a float32 row rounded to bf16 (bf16 != 0) or f16, or of a bf16 row as they are, as 16-bit values;
// and one value likewise.
__device__ __forceinline__ uint2 quad16(const float* row, int c, int bf16) {
    float4 v = reinterpret_cast<const float4*>(row)[c];
    return bf16 ? make_uint2(pack_bf16(v.x, v.y), pack_bf16(v.z, v.w)) : make_uint2(pack_f16(v.x, v.y), pack_f16(v.z, v.w));
}
__device__ __forceinline__ uint2 quad16(const u16* row, int c, int) { return reinterpret_cast<const uint2*>(row)[c]; }
__device__ __forceinline__ u16 value16(const float* row, int c, int bf16) { return bf16 ? to_bf16(row[c]) : to_f16(row[c]); }
__device__ __forceinline__ u16 value16(const u16* row, int c, int) { return row[c]; }

// out[r, :] = [a[r, :], b[r, :]] as the 16-bit GEMM operand of a linear layer over two joined inputs (FLUX's
// single-block linear2), written in one pass without a joined copy of the inputs: float32 a and b (join_rows_16)
// rounded to bf16 (bf16 != 0) or f16, bf16 a and b (join_rows_bf16, which ignores bf16) copied. Grid y: rows (from
// rowBase), threads across the ka + kb columns. vec4: ka and kb multiples of 4, a and b 16-byte (float32) or 8-byte
// (bf16) and out 8-byte aligned (four values a thread).
template <typename T>
__device__ __forceinline__ void join_rows(const T* a, const T* b, u16* out, int ka, int kb, int rowBase, int bf16, int vec4) {
    i64 r = (i64) blockIdx.y + rowBase;
    int k = ka + kb;
    const T* ar = a + r * ka;
    const T* br = b + r * kb;
    u16* o = out + r * k;
    if (vec4) {
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < k / 4; c += gridDim.x * blockDim.x) {
            bool left = 4 * c < ka;
            reinterpret_cast<uint2*>(o)[c] = quad16(left ? ar : br, left ? c : c - ka / 4, bf16);
        }
        return;
    }
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < k; c += gridDim.x * blockDim.x) {
        o[c] = value16(c < ka ? ar : br, c < ka ? c : c - ka, bf16);
    }
}

extern "C" __global__ void join_rows_16(const float* a, const float* b, u16* out, int ka, int kb, int rowBase, int bf16, int vec4) {
    join_rows(a, b, out, ka, kb, rowBase, bf16, vec4);
}

extern "C" __global__ void join_rows_bf16(const u16* a, const u16* b, u16* out, int ka, int kb, int rowBase, int bf16, int vec4) {
    join_rows(a, b, out, ka, kb, rowBase, bf16, vec4);
}

// x [B, L, H·D] -> out [B, H, L, D] (the heads of a separate q, k or v projection). Grid y: token rows (b·L + t,
// from rowBase), threads across the H·D values of the row, `vec` at a time (4: D % 4 == 0, 16-byte aligned).
extern "C" __global__ void split_heads_f32(const float* x, float* out, int heads, int tokens, int dim, int rowBase, int vec) {
    i64 row = (i64) blockIdx.y + rowBase;
    i64 b = row / tokens;
    int t = (int) (row - b * tokens);
    int hd = heads * dim;
    const float* src = x + row * hd;
    for (int c = (blockIdx.x * blockDim.x + threadIdx.x) * vec; c < hd; c += gridDim.x * blockDim.x * vec) {
        int h = c / dim, d = c - h * dim;
        float* dst = out + ((b * heads + h) * tokens + t) * dim + d;
        if (vec == 4) *reinterpret_cast<float4*>(dst) = *reinterpret_cast<const float4*>(src + c);
        else *dst = src[c];
    }
}

// Copies `outer` blocks of `block` elements between a part and its slot in the whole tensor:
// dst[o·dstStride + dstOff + e] = src[o·srcStride + srcOff + e]. Grid y: outer rows (from rowBase), grid x and
// threads: chunks of the block, `vec` elements at a time; vec is 4 (float4 on 16-byte aligned rows), 1 (floats)
// or 0 (16-bit elements, one at a time).
extern "C" __global__ void block_copy(const char* src, char* dst, i64 block, i64 srcStride, i64 dstStride, i64 srcOff, i64 dstOff, int rowBase,
                                      int vec) {
    i64 o = (i64) blockIdx.y + rowBase;
    i64 step = (i64) gridDim.x * blockDim.x * (vec == 0 ? 1 : vec);
    for (i64 e = ((i64) blockIdx.x * blockDim.x + threadIdx.x) * (vec == 0 ? 1 : vec); e < block; e += step) {
        i64 s = o * srcStride + srcOff + e, d = o * dstStride + dstOff + e;
        if (vec == 4) reinterpret_cast<float4*>(dst)[d / 4] = reinterpret_cast<const float4*>(src)[s / 4];
        else if (vec == 1) reinterpret_cast<float*>(dst)[d] = reinterpret_cast<const float*>(src)[s];
        else reinterpret_cast<unsigned short*>(dst)[d] = reinterpret_cast<const unsigned short*>(src)[s];
    }
}

// ---- AdaIN (StyleAligned) ----------------------------------------------------------------------------

// One thread per (b, h, d) channel: statistics over tokens [ts, L) of x and of ref (batch 0), unbiased
// variance, in double; tokens before ts are copied.
extern "C" __global__ void ada_in_f32(const float* x, const float* ref, float* out, int batch, int heads, int tokens, int dim, int refTokens, int ts, float eps) {
    i64 i = (i64) blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (i64) batch * heads * dim) return;
    int d = (int) (i % dim);
    i64 bh = i / dim;
    int h = (int) (bh % heads);
    const float* xc = x + bh * tokens * dim + d;
    const float* rc = ref + (i64) h * refTokens * dim + d;
    float* oc = out + bh * tokens * dim + d;
    double rm = 0, rv = 0, xm = 0, xv = 0;
    for (int t = ts; t < refTokens; t++) rm += rc[(i64) t * dim];
    rm /= (refTokens - ts);
    for (int t = ts; t < refTokens; t++) { double c = rc[(i64) t * dim] - rm; rv += c * c; }
    double rs = sqrt(rv / (refTokens - ts - 1) + (double) eps);
    for (int t = ts; t < tokens; t++) xm += xc[(i64) t * dim];
    xm /= (tokens - ts);
    for (int t = ts; t < tokens; t++) { double c = xc[(i64) t * dim] - xm; xv += c * c; }
    double xs = sqrt(xv / (tokens - ts - 1) + (double) eps);
    for (int t = 0; t < tokens; t++) {
        double v = xc[(i64) t * dim];
        oc[(i64) t * dim] = t < ts ? (float) v : (float) (rs * (v - xm) / xs + rm);
    }
}

// The wide-head attention (head dimension above the tiled kernels' 256, e.g. the autoencoder's 512-channel
// single head): cuBLAS writes the logits of a block of queries, this kernel turns each row into softmax(scale·row)
// in place, cuBLAS multiplies by V. One block of 256 threads per row; max and sum reduced in float.
extern "C" __global__ void __launch_bounds__(256) softmax_rows_f32(float* s, int cols, float scale) {
    __shared__ float red[8];
    __shared__ float bcast;
    float* row = s + (i64) blockIdx.x * cols;
    int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
    float m = NEG_INF;
    for (int j = threadIdx.x; j < cols; j += 256) m = fmaxf(m, row[j] * scale);
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    if (lane == 0) red[warp] = m;
    __syncthreads();
    if (threadIdx.x == 0) {
        float t = red[0];
        for (int w = 1; w < 8; w++) t = fmaxf(t, red[w]);
        bcast = t;
    }
    __syncthreads();
    m = bcast;
    float sum = 0.0f;
    for (int j = threadIdx.x; j < cols; j += 256) {
        float e = expf(row[j] * scale - m);
        row[j] = e;
        sum += e;
    }
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    __syncthreads(); // every thread has read bcast before red is reused
    if (lane == 0) red[warp] = sum;
    __syncthreads();
    if (threadIdx.x == 0) {
        float t = 0.0f;
        for (int w = 0; w < 8; w++) t += red[w];
        bcast = 1.0f / t;
    }
    __syncthreads();
    float inv = bcast;
    for (int j = threadIdx.x; j < cols; j += 256) row[j] *= inv;
}

// ---- attention through cuDNN: operand preparation and the exact merge of two softmax parts -----------

// Flat 32-bit index over pairs (the caller guarantees fewer than 2^31): one division per thread, no more.
// q, k or v rounded to bf16 for cuDNN, optionally times a per-RoPE-chunk scale (the reference pass's
// queries: (s_p·q)·k = q·(s_p·k), so the keys are never scaled).
extern "C" __global__ void to_bf16_rows(const float* x, const float* chunkScale, unsigned* out, int dim, unsigned pairsTotal) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= pairsTotal) return;
    float2 v = reinterpret_cast<const float2*>(x)[i];
    float c = chunkScale != nullptr ? chunkScale[i % (unsigned) (dim / 2)] : 1.0f;
    out[i] = pack_bf16(v.x * c, v.y * c);
}

// The bf16 operands of one cuDNN attention call, in one launch (blockIdx.y: 0 q, 1 keys, 2 values), from the
// float32 activations that every bf16 attention call rounds anyway:
//   qb [b, h, lq, D] = q;
//   kb, vb [b, h, lk + lr, D]: rows [0, lk) the own keys/values k, v [b, h, lk, D]; rows [lk, lk + lr) the
//   reference's tokens [refStart, refStart + lr) of rk, rv [refBatch, h, refTokens, D] (batch 0 when refBatch == 1),
//   the reference keys multiplied pair by pair by chunkScale [D / 2] (the band scale s_p of each RoPE chunk) as
//   they are rounded. q·(s_p·k) is every per-chunk term of a target→reference logit times s_p, so one SDPA over
//   lk + lr keys is the shared attention; the scale costs nothing beyond the rounding pass that writes these
//   operands anyway, and no scaled float32 copy of the reference keys exists. lr == 0: plain attention.
// One thread per 4 pairs (16-byte stores); D % 8 == 0.
extern "C" __global__ void attention_operands_bf16(const float* q, const float* k, const float* v, const float* rk, const float* rv,
                                                   const float* chunkScale, uint4* qb, uint4* kb, uint4* vb, int heads, int lk, int lr,
                                                   int refBatch, int refStart, int refTokens, int dim, unsigned qQuads, unsigned kvQuads) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (blockIdx.y == 0) {
        if (i >= qQuads) return;
        float4 x = reinterpret_cast<const float4*>(q)[2 * (i64) i], y = reinterpret_cast<const float4*>(q)[2 * (i64) i + 1];
        qb[i] = make_uint4(pack_bf16(x.x, x.y), pack_bf16(x.z, x.w), pack_bf16(y.x, y.y), pack_bf16(y.z, y.w));
        return;
    }
    if (i >= kvQuads) return;
    bool isK = blockIdx.y == 1;
    unsigned quadsPerRow = dim / 8, r = i / quadsPerRow, c = i - r * quadsPerRow, lkv = lk + lr, bh = r / lkv, t = r - bh * lkv;
    const float4* src;
    float4 s0 = make_float4(1.0f, 1.0f, 1.0f, 1.0f), s1 = s0;
    if (t < (unsigned) lk) {
        src = reinterpret_cast<const float4*>(isK ? k : v) + ((i64) bh * lk + t) * (dim / 4) + 2 * c;
    } else {
        unsigned b = bh / heads, h = bh - b * heads, rb = refBatch == 1 ? 0 : b;
        src = reinterpret_cast<const float4*>(isK ? rk : rv) + (((i64) rb * heads + h) * refTokens + refStart + (t - lk)) * (dim / 4) + 2 * c;
        if (isK && chunkScale != nullptr) { // pairs 4c .. 4c + 3
            const float* sc = chunkScale + 4 * c;
            s0 = make_float4(sc[0], sc[0], sc[1], sc[1]);
            s1 = make_float4(sc[2], sc[2], sc[3], sc[3]);
        }
    }
    float4 x = src[0], y = src[1];
    (isK ? kb : vb)[i] = make_uint4(pack_bf16(x.x * s0.x, x.y * s0.y), pack_bf16(x.z * s0.z, x.w * s0.w), pack_bf16(y.x * s1.x, y.y * s1.y),
                                    pack_bf16(y.z * s1.z, y.w * s1.w));
}

// The concatenated bf16 keys and values of one-pass shared attention from bf16 activations: kb, vb
// [b, h, lk + lr, D] as in attention_operands_bf16, from bf16 k, v [b, h, lk, D] and rk, rv [refBatch, h,
// refTokens, D]; the reference keys widened, multiplied pair by pair by chunkScale, rounded back (the one
// rounding a bf16 model makes when it scales a bf16 tensor). A pure copy otherwise, so it is written for
// bandwidth: blockIdx.y is one (batch, head) row and blockIdx.z keys (0) or values (1), so no thread divides;
// each thread issues its KV_ITEMS 16-byte loads before its stores. D % 8 == 0.
#define KV_ITEMS 4
// Eight bf16 values (four pairs, low half first) with pair p widened, multiplied by s[p] and rounded back: a RoPE
// chunk's band scale applied to one quad of a bf16 head row.
__device__ __forceinline__ uint4 scale_pairs_bf16(uint4 x, const float* s) {
    unsigned w[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
    for (int p = 0; p < 4; p++) {
        w[p] = pack_bf16(__uint_as_float(w[p] << 16) * s[p], __uint_as_float(w[p] & 0xffff0000u) * s[p]);
    }
    return make_uint4(w[0], w[1], w[2], w[3]);
}
extern "C" __global__ void attention_kv_from_bf16(const uint4* k, const uint4* v, const uint4* rk, const uint4* rv, const float* chunkScale,
                                                  uint4* kb, uint4* vb, int heads, int lk, int lr, int refBatch, int refStart, int refTokens,
                                                  int dim) {
    bool isK = blockIdx.z == 0;
    unsigned bh = blockIdx.y, quads = dim / 8, own = (unsigned) lk * quads, total = (unsigned) (lk + lr) * quads;
    unsigned b = bh / heads, h = bh - b * heads, rb = refBatch == 1 ? 0 : b;
    const uint4* src = (isK ? k : v) + (i64) bh * own;
    const uint4* ref = (isK ? rk : rv) + (((i64) rb * heads + h) * refTokens + refStart) * quads;
    uint4* dst = (isK ? kb : vb) + (i64) bh * total;
    const float* sc = isK ? chunkScale : nullptr;
    unsigned first = blockIdx.x * blockDim.x * KV_ITEMS + threadIdx.x;
    uint4 x[KV_ITEMS];
#pragma unroll
    for (int u = 0; u < KV_ITEMS; u++) {
        unsigned j = first + u * blockDim.x;
        if (j < total) {
            x[u] = j < own ? src[j] : ref[j - own];
        }
    }
#pragma unroll
    for (int u = 0; u < KV_ITEMS; u++) {
        unsigned j = first + u * blockDim.x;
        if (j < total) {
            uint4 y = x[u];
            if (sc != nullptr && j >= own) {
                y = scale_pairs_bf16(y, sc + 4 * ((j - own) % quads));
            }
            dst[j] = y;
        }
    }
}

// float32 out[i] = bf16 in[i], 8 values per thread (n8 = n / 8).
extern "C" __global__ void widen_bf16(const uint4* in, float4* out, unsigned n8) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n8) return;
    uint4 x = in[i];
    out[2 * (i64) i] = make_float4(__uint_as_float(x.x << 16), __uint_as_float(x.x & 0xffff0000u), __uint_as_float(x.y << 16),
                                   __uint_as_float(x.y & 0xffff0000u));
    out[2 * (i64) i + 1] = make_float4(__uint_as_float(x.z << 16), __uint_as_float(x.z & 0xffff0000u), __uint_as_float(x.w << 16),
                                       __uint_as_float(x.w & 0xffff0000u));
}

// Tokens [off, off + rows) of each (batch·head) block of `srcRows` tokens, rounded to bf16 into a contiguous
// [outer, rows, dim] buffer (the reference's image tokens after its text tokens).
extern "C" __global__ void gather_bf16_rows(const float* src, unsigned* dst, int rows, int srcRows, int off, int dim, unsigned pairsTotal) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= pairsTotal) return;
    unsigned half = dim / 2, r = i / half, c = i - r * half, o = r / rows, t = r - o * rows;
    float2 v = reinterpret_cast<const float2*>(src)[((i64) o * srcRows + off + t) * half + c];
    dst[i] = pack_bf16(v.x, v.y);
}

// out[b, i, h·D + d] (float32) from one or two normalised partial outputs o1, o2 [b, h, lq, D] (bf16) with their
// log-sum-exps s1, s2 [b, h, lq]: the exact softmax over the union of both key sets is
// (e^{s1−m}·o1 + e^{s2−m}·o2) / (e^{s1−m} + e^{s2−m}), m = max(s1, s2). o2 == null: out = o1. One thread per
// pair of output values.
extern "C" __global__ void merge_attention(const unsigned* o1, const float* s1, const unsigned* o2, const float* s2, float* out, int heads, int lq,
                                           int dim, unsigned pairsTotal) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= pairsTotal) return;
    unsigned half = dim / 2, row = i / half, p = i - row * half; // row = (b·H + h)·lq + q
    unsigned bh = row / lq, q = row - bh * lq, b = bh / heads, h = bh - b * heads;
    unsigned a = o1[i];
    float r0 = __uint_as_float(a << 16), r1 = __uint_as_float(a & 0xffff0000u);
    if (o2 != nullptr) {
        float x = s1[row], y = s2[row];
        float m = fmaxf(x, y);
        float w1 = expf(x - m), w2 = expf(y - m);
        float inv = 1.0f / (w1 + w2);
        unsigned c = o2[i];
        r0 = (w1 * r0 + w2 * __uint_as_float(c << 16)) * inv;
        r1 = (w1 * r1 + w2 * __uint_as_float(c & 0xffff0000u)) * inv;
    }
    reinterpret_cast<float2*>(out)[(((i64) b * lq + q) * heads + h) * half + p] = make_float2(r0, r1);
}

// Two-pass shared attention on bf16 activations (nothing concatenated): the reference pass's queries
// qs = q · s_p pair by pair (chunkScale [D / 2], the band scale of each RoPE chunk), rounded to bf16, so that the
// reference's keys are read where they are, unscaled: (s_p·q)·k = q·(s_p·k). One thread per quad (8 values,
// 4 pairs); D % 8 == 0.
extern "C" __global__ void scale_chunks_bf16(const uint4* q, const float* chunkScale, uint4* qs, int dim, unsigned quads) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= quads) return;
    qs[i] = scale_pairs_bf16(q[i], chunkScale + 4 * (i % (unsigned) (dim / 8)));
}

// The merge of two-pass shared attention on bf16 activations, in place: o [b, lq, h, D] holds the own keys'
// normalised output and becomes the output over both key sets; o2 (same layout) is the reference pass's; s1, s2
// [b, h, lq] their log-sum-exps. The weights are merge_attention's, the result rounded to bf16 once. One thread per
// quad; D % 8 == 0.
extern "C" __global__ void merge_attention_bf16(uint4* o, const float* s1, const uint4* o2, const float* s2, int heads, int lq, int dim,
                                                unsigned quads) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= quads) return;
    unsigned row = i / (unsigned) (dim / 8); // (b·lq + q)·H + h
    unsigned bq = row / heads, h = row - bq * heads, b = bq / lq, q = bq - b * lq;
    i64 st = ((i64) b * heads + h) * lq + q;
    float x = s1[st], y = s2[st];
    float m = fmaxf(x, y);
    float w1 = expf(x - m), w2 = expf(y - m);
    float inv = 1.0f / (w1 + w2);
    uint4 a = o[i], c = o2[i];
    unsigned wa[4] = {a.x, a.y, a.z, a.w}, wc[4] = {c.x, c.y, c.z, c.w};
#pragma unroll
    for (int p = 0; p < 4; p++) {
        float r0 = (w1 * __uint_as_float(wa[p] << 16) + w2 * __uint_as_float(wc[p] << 16)) * inv;
        float r1 = (w1 * __uint_as_float(wa[p] & 0xffff0000u) + w2 * __uint_as_float(wc[p] & 0xffff0000u)) * inv;
        wa[p] = pack_bf16(r0, r1);
    }
    o[i] = make_uint4(wa[0], wa[1], wa[2], wa[3]);
}

// ---- attention: exact float32 path -------------------------------------------------------------------
//
// One warp per query, lanes split the head dimension (d = lane + 32·i, up to 256), keys staged through
// shared memory in tiles, online softmax. The queries' own keys come first, then the reference keys
// (tokens [refStart, refTokens) of refK/refV, batch 0 when refBatch == 1) with the query scaled per RoPE
// chunk instead of the keys, so no scaled copy of the reference keys exists:
// (s_p·q)·k = q·(s_p·k) chunk by chunk.
// The text encoders' terms, fused into the same loop (own keys only; lr == 0 for them): scaleArg > 0 replaces
// 1/sqrt(D) (T5: 1); posBias [lq + lk − 1, heads] (or null) adds T5's relative position bias
// posBias[(j − i + lq − 1)·heads + h] to the logit of query i and key j; causal leaves keys j > i out (CLIP),
// and the block stops at the last key its last query sees. Key 0 is always seen, so the first tile sets a
// finite running maximum.

#define AF_WARPS 4
#define AF_TILE 16
#define AF_MAXD 256

extern "C" __global__ void __launch_bounds__(AF_WARPS * 32) attention_f32(
        const float* q, const float* k, const float* v, const float* refK, const float* refV, const float* chunkScale, float* out,
        int heads, int lq, int lk, int lr, int dim, int refBatch, int refStart, int refTokens, float scaleArg, const float* posBias, int causal) {
    __shared__ float ks[AF_TILE * AF_MAXD];
    __shared__ float vs[AF_TILE * AF_MAXD];
    int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
    int b = blockIdx.z, h = blockIdx.y;
    int qi = blockIdx.x * AF_WARPS + warp;
    bool active = qi < lq;
    const float scale = scaleArg > 0.0f ? scaleArg : rsqrtf((float) dim);
    const int lastQuery = min(lq - 1, (int) blockIdx.x * AF_WARPS + AF_WARPS - 1); // of this block
    float qv[AF_MAXD / 32], o[AF_MAXD / 32];
    const float* qrow = q + (((i64) b * heads + h) * lq + (active ? qi : 0)) * dim;
#pragma unroll
    for (int i = 0; i < AF_MAXD / 32; i++) {
        int d = lane + 32 * i;
        qv[i] = d < dim ? qrow[d] : 0.0f;
        o[i] = 0.0f;
    }
    float m = NEG_INF, l = 0.0f;
    for (int phase = 0; phase < 2; phase++) {
        int n = phase == 0 ? (causal ? min(lk, lastQuery + 1) : lk) : lr;
        if (n == 0) continue;
        const float* kb = phase == 0 ? k + ((i64) b * heads + h) * lk * dim
                                     : refK + ((((i64) (refBatch == 1 ? 0 : b)) * heads + h) * refTokens + refStart) * dim;
        const float* vb = phase == 0 ? v + ((i64) b * heads + h) * lk * dim
                                     : refV + ((((i64) (refBatch == 1 ? 0 : b)) * heads + h) * refTokens + refStart) * dim;
        float qs[AF_MAXD / 32];
#pragma unroll
        for (int i = 0; i < AF_MAXD / 32; i++) {
            int d = lane + 32 * i;
            float c = (phase == 1 && chunkScale != nullptr && d < dim) ? chunkScale[d / 2] : 1.0f;
            qs[i] = qv[i] * c;
        }
        for (int t0 = 0; t0 < n; t0 += AF_TILE) {
            int cnt = min(AF_TILE, n - t0);
            __syncthreads();
            for (int e = threadIdx.x; e < cnt * dim; e += blockDim.x) {
                ks[e] = kb[(i64) t0 * dim + e];
                vs[e] = vb[(i64) t0 * dim + e];
            }
            __syncthreads();
            if (!active) continue;
            float s[AF_TILE];
            float tmax = NEG_INF;
#pragma unroll
            for (int j = 0; j < AF_TILE; j++) {
                float acc = 0.0f;
                if (j < cnt) {
#pragma unroll
                    for (int i = 0; i < AF_MAXD / 32; i++) {
                        int d = lane + 32 * i;
                        if (d < dim) acc = fmaf(qs[i], ks[j * dim + d], acc);
                    }
                }
                for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
                float sj = acc * scale;
                if (phase == 0 && posBias != nullptr && j < cnt) sj += posBias[(i64) (t0 + j - qi + lq - 1) * heads + h];
                s[j] = j < cnt && !(causal && t0 + j > qi) ? sj : NEG_INF;
                tmax = fmaxf(tmax, s[j]);
            }
            float mnew = fmaxf(m, tmax);
            float corr = mnew == NEG_INF ? 1.0f : expf(m - mnew); // no key seen yet: nothing to rescale
            l *= corr;
#pragma unroll
            for (int i = 0; i < AF_MAXD / 32; i++) o[i] *= corr;
#pragma unroll
            for (int j = 0; j < AF_TILE; j++) {
                if (j < cnt && s[j] != NEG_INF) {
                    float p = expf(s[j] - mnew);
                    l += p;
#pragma unroll
                    for (int i = 0; i < AF_MAXD / 32; i++) {
                        int d = lane + 32 * i;
                        if (d < dim) o[i] = fmaf(p, vs[j * dim + d], o[i]);
                    }
                }
            }
            m = mnew;
        }
    }
    if (!active) return;
    float* orow = out + (((i64) b * lq + qi) * heads + h) * dim;
    float inv = l > 0.0f ? 1.0f / l : 0.0f; // no keys at all: zeros, like the oracle
#pragma unroll
    for (int i = 0; i < AF_MAXD / 32; i++) {
        int d = lane + 32 * i;
        if (d < dim) orow[d] = o[i] * inv;
    }
}

// ---- attention: bf16 tensor cores (head dim 128) -----------------------------------------------------
//
// Flash attention with mma.sync m16n8k16 (bf16 in, f32 accumulate): 4 warps × 16 queries per block, 64-key
// tiles; q, k, v are read as float32 and rounded to bf16 on the way into registers / shared memory (what
// PyTorch's bf16 SDPA computes on). Same two phases as attention_f32; in the reference phase the query
// fragments are reloaded scaled per chunk (a register holds one chunk's pair), so keys are never scaled.
// Row statistics in f32, exp2 with log2(e)/sqrt(D) folded into q.

#define TB_D 128
#define TB_BR 64
#define TB_BC 64
#define TB_PAD 8

__device__ __forceinline__ void mma_bf16(float* c, const unsigned* a, unsigned b0, unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

extern "C" __global__ void __launch_bounds__(128) attention_bf16_d128(
        const float* q, const float* k, const float* v, const float* refK, const float* refV, const float* chunkScale, float* out,
        int heads, int lq, int lk, int lr, int refBatch, int refStart, int refTokens) {
    __shared__ __align__(16) u16 ks[TB_BC][TB_D + TB_PAD];
    __shared__ __align__(16) u16 vt[TB_D][TB_BC + TB_PAD];
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
    const int b = blockIdx.z, h = blockIdx.y;
    const int r0 = blockIdx.x * TB_BR + warp * 16 + g, r1 = r0 + 8;
    const float qscale = 1.4426950408889634f * rsqrtf((float) TB_D); // log2(e)/sqrt(D): exp2 below
    const float* qb = q + ((i64) b * heads + h) * lq * TB_D;

    float o[16][4];
#pragma unroll
    for (int i = 0; i < 16; i++) { o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f; }
    float m0 = NEG_INF, m1 = NEG_INF, l0 = 0.0f, l1 = 0.0f;

    for (int phase = 0; phase < 2; phase++) {
        const int n = phase == 0 ? lk : lr;
        if (n == 0) continue;
        const i64 rb = refBatch == 1 ? 0 : b;
        const float* kb = phase == 0 ? k + ((i64) b * heads + h) * lk * TB_D : refK + ((rb * heads + h) * refTokens + refStart) * TB_D;
        const float* vb = phase == 0 ? v + ((i64) b * heads + h) * lk * TB_D : refV + ((rb * heads + h) * refTokens + refStart) * TB_D;
        // Query fragments (A operand, row-major 16x16 per k-step): rows r0/r1, columns kk·16 + tq·2 (+8).
        unsigned qa[8][4];
#pragma unroll
        for (int kk = 0; kk < 8; kk++) {
#pragma unroll
            for (int half = 0; half < 2; half++) {
                int col = kk * 16 + half * 8 + tq * 2;
                float c = qscale * ((phase == 1 && chunkScale != nullptr) ? chunkScale[col / 2] : 1.0f);
                float2 x0 = r0 < lq ? *reinterpret_cast<const float2*>(qb + (i64) r0 * TB_D + col) : make_float2(0.f, 0.f);
                float2 x1 = r1 < lq ? *reinterpret_cast<const float2*>(qb + (i64) r1 * TB_D + col) : make_float2(0.f, 0.f);
                qa[kk][half * 2 + 0] = pack_bf16(x0.x * c, x0.y * c);
                qa[kk][half * 2 + 1] = pack_bf16(x1.x * c, x1.y * c);
            }
        }
        for (int t0 = 0; t0 < n; t0 += TB_BC) {
            const int cnt = min(TB_BC, n - t0);
            __syncthreads();
            // K tile: row-major [key][d] in bf16; a warp stores one key row (32 lanes × 4 values).
            for (int e = threadIdx.x; e < TB_BC * (TB_D / 4); e += 128) {
                int key = e / (TB_D / 4), d = (e % (TB_D / 4)) * 4;
                float4 x = key < cnt ? *reinterpret_cast<const float4*>(kb + (i64) (t0 + key) * TB_D + d) : make_float4(0.f, 0.f, 0.f, 0.f);
                uint2 p = make_uint2(pack_bf16(x.x, x.y), pack_bf16(x.z, x.w));
                *reinterpret_cast<uint2*>(&ks[key][d]) = p;
            }
            // V tile transposed: [d][key], so that the B operand of P·V reads key pairs as one word. A lane
            // takes two consecutive keys and four dims.
            for (int e = threadIdx.x; e < (TB_BC / 2) * (TB_D / 4); e += 128) {
                int kp = e % (TB_BC / 2), d = (e / (TB_BC / 2)) * 4;
                int key = kp * 2;
                float4 x = key < cnt ? *reinterpret_cast<const float4*>(vb + (i64) (t0 + key) * TB_D + d) : make_float4(0.f, 0.f, 0.f, 0.f);
                float4 y = key + 1 < cnt ? *reinterpret_cast<const float4*>(vb + (i64) (t0 + key + 1) * TB_D + d) : make_float4(0.f, 0.f, 0.f, 0.f);
                *reinterpret_cast<unsigned*>(&vt[d + 0][key]) = pack_bf16(x.x, y.x);
                *reinterpret_cast<unsigned*>(&vt[d + 1][key]) = pack_bf16(x.y, y.y);
                *reinterpret_cast<unsigned*>(&vt[d + 2][key]) = pack_bf16(x.z, y.z);
                *reinterpret_cast<unsigned*>(&vt[d + 3][key]) = pack_bf16(x.w, y.w);
            }
            __syncthreads();
            // S = Q·Kᵀ for 16 rows × 64 keys per warp: 8 n-blocks of 8 keys.
            float s[8][4];
#pragma unroll
            for (int nb = 0; nb < 8; nb++) {
                s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.0f;
#pragma unroll
                for (int kk = 0; kk < 8; kk++) {
                    unsigned b0 = *reinterpret_cast<const unsigned*>(&ks[nb * 8 + g][kk * 16 + tq * 2]);
                    unsigned b1 = *reinterpret_cast<const unsigned*>(&ks[nb * 8 + g][kk * 16 + 8 + tq * 2]);
                    mma_bf16(s[nb], qa[kk], b0, b1);
                }
            }
            // Mask keys past the end, then the online softmax update (row r0: s[.][0..1], row r1: s[.][2..3]).
            float mx0 = NEG_INF, mx1 = NEG_INF;
#pragma unroll
            for (int nb = 0; nb < 8; nb++) {
                int key = nb * 8 + tq * 2;
                if (key >= cnt) { s[nb][0] = NEG_INF; s[nb][2] = NEG_INF; }
                if (key + 1 >= cnt) { s[nb][1] = NEG_INF; s[nb][3] = NEG_INF; }
                mx0 = fmaxf(mx0, fmaxf(s[nb][0], s[nb][1]));
                mx1 = fmaxf(mx1, fmaxf(s[nb][2], s[nb][3]));
            }
            mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
            mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
            mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
            mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
            float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
            float c0 = exp2f(m0 - mn0), c1 = exp2f(m1 - mn1);
            m0 = mn0; m1 = mn1;
            l0 *= c0; l1 *= c1;
#pragma unroll
            for (int i = 0; i < 16; i++) { o[i][0] *= c0; o[i][1] *= c0; o[i][2] *= c1; o[i][3] *= c1; }
            unsigned pa[4][4];
#pragma unroll
            for (int nb = 0; nb < 8; nb++) {
                float p0 = exp2f(s[nb][0] - mn0), p1 = exp2f(s[nb][1] - mn0);
                float p2 = exp2f(s[nb][2] - mn1), p3 = exp2f(s[nb][3] - mn1);
                l0 += p0 + p1; l1 += p2 + p3; // per-thread partial sums; the quad is reduced at the end
                pa[nb / 2][(nb % 2) * 2 + 0] = pack_bf16(p0, p1);
                pa[nb / 2][(nb % 2) * 2 + 1] = pack_bf16(p2, p3);
            }
            // O += P·V: 4 k-steps of 16 keys × 16 n-blocks of 8 dims.
#pragma unroll
            for (int ks16 = 0; ks16 < 4; ks16++) {
#pragma unroll
                for (int nd = 0; nd < 16; nd++) {
                    unsigned b0 = *reinterpret_cast<const unsigned*>(&vt[nd * 8 + g][ks16 * 16 + tq * 2]);
                    unsigned b1 = *reinterpret_cast<const unsigned*>(&vt[nd * 8 + g][ks16 * 16 + 8 + tq * 2]);
                    mma_bf16(o[nd], pa[ks16], b0, b1);
                }
            }
        }
    }
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    float i0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, i1 = l1 > 0.0f ? 1.0f / l1 : 0.0f; // no keys: zeros
#pragma unroll
    for (int nd = 0; nd < 16; nd++) {
        int col = h * TB_D + nd * 8 + tq * 2;
        if (r0 < lq) *reinterpret_cast<float2*>(out + ((i64) b * lq + r0) * heads * TB_D + col) = make_float2(o[nd][0] * i0, o[nd][1] * i0);
        if (r1 < lq) *reinterpret_cast<float2*>(out + ((i64) b * lq + r1) * heads * TB_D + col) = make_float2(o[nd][2] * i1, o[nd][3] * i1);
    }
}

// ---- analysis: attention probabilities and per-band logits -------------------------------------------

// One warp per query row: logits into the output row, then max, exp, normalisation (in double).
extern "C" __global__ void attention_probs_f32(const float* q, const float* k, const float* refK, const float* chunkScale, float* out,
        int heads, int lq, int lk, int lr, int dim, int refBatch, int refStart, int refTokens, i64 rows) {
    i64 row = (i64) blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (row >= rows) return;
    i64 bh = row / lq;
    int b = (int) (bh / heads), h = (int) (bh % heads);
    const float* qr = q + row * dim;
    const float* kb = k + bh * lk * dim;
    const float* rbase = lr > 0 ? refK + ((((i64) (refBatch == 1 ? 0 : b)) * heads + h) * refTokens + refStart) * dim : nullptr;
    float* orow = out + row * (i64) (lk + lr);
    double scale = 1.0 / sqrt((double) dim);
    double mx = NEG_INF;
    for (int j = lane; j < lk + lr; j += 32) {
        double dot = 0;
        if (j < lk) {
            const float* kr = kb + (i64) j * dim;
            for (int d = 0; d < dim; d++) dot += (double) qr[d] * kr[d];
        } else {
            const float* kr = rbase + (i64) (j - lk) * dim;
            for (int d = 0; d < dim; d++) dot += (double) qr[d] * kr[d] * (chunkScale ? (double) chunkScale[d / 2] : 1.0);
        }
        dot *= scale;
        orow[j] = (float) dot;
        mx = fmax(mx, dot);
    }
    for (int o = 16; o > 0; o >>= 1) mx = fmax(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    // exp of the float-rounded logit: the rounding error (~1e-7 relative) is far below the tolerance
    double sum = 0;
    for (int j = lane; j < lk + lr; j += 32) { double e = exp((double) orow[j] - mx); orow[j] = (float) e; sum += e; }
    sum = warp_sum(sum);
    __syncwarp();
    for (int j = lane; j < lk + lr; j += 32) orow[j] = (float) (orow[j] / sum);
}

// out[b,h,i,j,c] = Σ_{p: band[p] = c} (q_{2p}k_{2p} + q_{2p+1}k_{2p+1}) / sqrt(D); one thread per output.
extern "C" __global__ void chunk_logits_f32(const float* q, const float* k, const int* band, float* out, int lq, int lk, int dim, int bands, i64 n) {
    GRID_STRIDE(i, n) {
        int c = (int) (i % bands);
        i64 r = i / bands;
        int j = (int) (r % lk); r /= lk;
        int qi = (int) (r % lq);
        i64 bh = r / lq;
        const float* qr = q + (bh * lq + qi) * dim;
        const float* kr = k + (bh * lk + j) * dim;
        double acc = 0;
        for (int p = 0; p < dim / 2; p++) {
            if (band[p] == c) acc += (double) qr[2 * p] * kr[2 * p] + (double) qr[2 * p + 1] * kr[2 * p + 1];
        }
        out[i] = (float) (acc / sqrt((double) dim));
    }
}

// ---- the autoencoder's ops (issue 16): affine, conv2d (im2col + cuBLAS), groupNorm, upsampling, permute -

// The latent scale and shift: out = scale · x + shift in double like the oracle (the double product of two floats
// is exact, so a contracted fma rounds the same: bit-exact). In place allowed.
extern "C" __global__ void affine_f32(const float* x, float* out, float scale, float shift, i64 n) {
    GRID_STRIDE(i, n) out[i] = (float) ((double) scale * (double) x[i] + (double) shift);
}

// One band of im2col for one image x [cin, h, w]: col[k, p] (row-major [K, cols]) for the output pixels
// q = p0 + p, p < cols, of an output map [ho, wo]: k = (ci·kh + ky)·kw + kx, the value
// x[ci, (q / wo)·stride + ky − top, (q % wo)·stride + kx − left], or 0 in the padding, as round(value) stores it.
// Grid y: rows k (from kBase), grid x and threads: the columns p. The GEMM out[co, q] = Σ_k w[co, k]·col[k, p] then
// reads the weights as stored.
template <typename T, typename Round>
__device__ __forceinline__ void im2col_band(const float* x, T* col, int h, int w, int kh, int kw, int stride, int top, int left, int wo,
                                            int p0, int cols, int kBase, Round round) {
    int k = blockIdx.y + kBase;
    int kx = k % kw, t = k / kw, ky = t % kh, ci = t / kh;
    const float* xc = x + (i64) ci * h * w;
    T* row = col + (i64) k * cols;
    for (int p = blockIdx.x * blockDim.x + threadIdx.x; p < cols; p += gridDim.x * blockDim.x) {
        int q = p0 + p;
        int oy = q / wo, ox = q - oy * wo;
        int iy = oy * stride + ky - top, ix = ox * stride + kx - left;
        row[p] = round(iy >= 0 && iy < h && ix >= 0 && ix < w ? xc[(i64) iy * w + ix] : 0.0f);
    }
}

extern "C" __global__ void im2col_f32(const float* x, float* col, int h, int w, int kh, int kw, int stride, int top, int left, int wo,
                                      int p0, int cols, int kBase) {
    im2col_band(x, col, h, w, kh, kw, stride, top, left, wo, p0, cols, kBase, [](float v) { return v; });
}

// The columns rounded to bf16 (bf16 != 0) or f16 as they are written: a bf16-precision convolution's 16-bit GEMM
// operand straight from x, with no float32 columns to write, read back and round (the same rounding).
extern "C" __global__ void im2col_16(const float* x, u16* col, int h, int w, int kh, int kw, int stride, int top, int left, int wo,
                                     int p0, int cols, int kBase, int bf16) {
    im2col_band(x, col, h, w, kh, kw, stride, top, left, wo, p0, cols, kBase, [bf16](float v) { return bf16 ? to_bf16(v) : to_f16(v); });
}

// out[r, :] = bias[r % channels] over planes of `plane` floats (the convolution's bias, written before its GEMMs
// accumulate onto it). Grid y: planes r = b·channels + c (from rowBase), grid x and threads: the plane.
extern "C" __global__ void broadcast_planes_f32(float* out, const float* bias, int channels, int plane, int rowBase) {
    i64 r = (i64) blockIdx.y + rowBase;
    float v = bias[r % channels];
    float* o = out + r * plane;
    for (int p = blockIdx.x * blockDim.x + threadIdx.x; p < plane; p += gridDim.x * blockDim.x) o[p] = v;
}

// GroupNorm over x [b, C, spatial] in three launches, so that a group's values are spread over many blocks (one
// block per group used 32 of an H100's 132 SMs on FLUX's autoencoder). Each (batch, group) = bg holds n = (C/groups)·
// spatial contiguous values, cut into chunks of GN_CHUNK: group_norm_sums_f32 writes each chunk's sum,
// group_norm_squares_f32 each chunk's centred sum of squares about the mean of those sums, group_norm_apply_f32
// normalizes a plane (b, c) a chunk at a time: out = (x − mean)·inv·w[c] + bias[c] in double, inv = 1/sqrt(var + eps).
// Every sum is in double in a fixed order (the chunks are fixed, each a fixed-order block reduction, the partials
// added in chunk order), as the oracle's two passes, so the result is the same on every device and run. In place
// allowed (each value is read and written by the same thread, after both statistics passes).
#define GN_CHUNK 16384

// The mean of group bg and, with squares, 1/sqrt(var + eps): the partials added in chunk order by thread 0, then shared.
__device__ void group_norm_stats(const double* sums, const double* squares, i64 bg, int chunks, i64 n, float eps, double* shared) {
    if (threadIdx.x == 0) {
        double s = 0, q = 0;
        for (int c = 0; c < chunks; c++) s += sums[bg * chunks + c];
        if (squares != nullptr) {
            for (int c = 0; c < chunks; c++) q += squares[bg * chunks + c];
        }
        shared[0] = s / (double) n;
        shared[1] = 1.0 / sqrt(q / (double) n + (double) eps);
    }
    __syncthreads();
}

// Grid x: chunks, grid y: bg from bgBase.
extern "C" __global__ void group_norm_sums_f32(const float* x, double* sums, i64 n, int chunks, int bgBase) {
    __shared__ double red[32];
    i64 bg = (i64) blockIdx.y + bgBase;
    const float* xg = x + bg * n;
    i64 lo = (i64) blockIdx.x * GN_CHUNK, hi = min(n, lo + GN_CHUNK);
    double s = 0;
    for (i64 i = lo + threadIdx.x; i < hi; i += blockDim.x) s += xg[i];
    s = block_sum(s, red);
    if (threadIdx.x == 0) sums[bg * chunks + blockIdx.x] = s;
}

// Grid x: chunks, grid y: bg from bgBase.
extern "C" __global__ void group_norm_squares_f32(const float* x, const double* sums, double* squares, i64 n, int chunks, int bgBase) {
    __shared__ double red[32];
    __shared__ double st[2];
    i64 bg = (i64) blockIdx.y + bgBase;
    group_norm_stats(sums, nullptr, bg, chunks, n, 0.0f, st);
    double mean = st[0];
    const float* xg = x + bg * n;
    i64 lo = (i64) blockIdx.x * GN_CHUNK, hi = min(n, lo + GN_CHUNK);
    double v = 0;
    for (i64 i = lo + threadIdx.x; i < hi; i += blockDim.x) { double c = xg[i] - mean; v += c * c; }
    v = block_sum(v, red);
    if (threadIdx.x == 0) squares[bg * chunks + blockIdx.x] = v;
}

// Grid x: chunks of GN_CHUNK values of a plane, grid y: planes b·C + c from planeBase.
extern "C" __global__ void group_norm_apply_f32(const float* x, const float* w, const float* bias, float* out, const double* sums,
                                                const double* squares, int channels, int groups, i64 spatial, int chunks, float eps,
                                                int planeBase) {
    __shared__ double st[2];
    i64 plane = (i64) blockIdx.y + planeBase;
    int ch = (int) (plane % channels), per = channels / groups;
    i64 bg = plane / channels * groups + ch / per;
    group_norm_stats(sums, squares, bg, chunks, (i64) per * spatial, eps, st);
    double mean = st[0], inv = st[1], wc = w[ch], bc = bias[ch];
    const float* xc = x + plane * spatial;
    float* oc = out + plane * spatial;
    i64 lo = (i64) blockIdx.x * GN_CHUNK, hi = min(spatial, lo + GN_CHUNK);
    for (i64 i = lo + threadIdx.x; i < hi; i += blockDim.x) oc[i] = (float) ((xc[i] - mean) * inv * wc + bc);
}

// Nearest ×2: input row r = p·h + y of x [planes·h, w] into output rows 2r and 2r + 1 of out [planes·2h, 2w],
// each value twice (out row 2r starts at 4·r·w). Grid y: input rows (from rowBase), grid x and threads: columns;
// vec2: float2 stores (out 8-byte aligned).
extern "C" __global__ void upsample_nearest2x_f32(const float* x, float* out, int w, int rowBase, int vec2) {
    i64 r = (i64) blockIdx.y + rowBase;
    const float* xr = x + r * w;
    float* o0 = out + r * 4 * w;
    float* o1 = o0 + 2 * w;
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < w; c += gridDim.x * blockDim.x) {
        float v = xr[c];
        if (vec2) {
            float2 p = make_float2(v, v);
            reinterpret_cast<float2*>(o0)[c] = p;
            reinterpret_cast<float2*>(o1)[c] = p;
        } else {
            o0[2 * c] = v; o0[2 * c + 1] = v; o1[2 * c] = v; o1[2 * c + 1] = v;
        }
    }
}

// permute: out (contiguous, dims d0..d5, innermost d5) from x at source strides s0..s5 (elements) per output
// dimension, elements of esize bytes (1, 2, 4 or 8). The host merges dimensions and pads to 6 with size-1 ones.
// Unsigned 32-bit index arithmetic when n < 2^31 (the grid stride cannot wrap it then), else 64-bit.
template <typename I, typename T>
__device__ __forceinline__ void permute_body(const T* x, T* out, I n, int d1, int d2, int d3, int d4, int d5, i64 s0, i64 s1, i64 s2,
                                             i64 s3, i64 s4, i64 s5) {
    for (I o = (I) blockIdx.x * blockDim.x + threadIdx.x; o < n; o += (I) gridDim.x * blockDim.x) {
        I r = o;
        I i5 = r % (I) d5; r /= (I) d5;
        I i4 = r % (I) d4; r /= (I) d4;
        I i3 = r % (I) d3; r /= (I) d3;
        I i2 = r % (I) d2; r /= (I) d2;
        I i1 = r % (I) d1; r /= (I) d1;
        i64 src = (i64) r * s0 + (i64) i1 * s1 + (i64) i2 * s2 + (i64) i3 * s3 + (i64) i4 * s4 + (i64) i5 * s5;
        out[o] = x[src];
    }
}

template <typename T>
__device__ __forceinline__ void permute_typed(const void* x, void* out, i64 n, int d1, int d2, int d3, int d4, int d5, i64 s0, i64 s1,
                                              i64 s2, i64 s3, i64 s4, i64 s5) {
    const T* xs = reinterpret_cast<const T*>(x);
    T* os = reinterpret_cast<T*>(out);
    if (n <= 0x7FFFFFFFll) permute_body<unsigned, T>(xs, os, (unsigned) n, d1, d2, d3, d4, d5, s0, s1, s2, s3, s4, s5);
    else permute_body<u64, T>(xs, os, (u64) n, d1, d2, d3, d4, d5, s0, s1, s2, s3, s4, s5);
}

extern "C" __global__ void permute_copy(const void* x, void* out, i64 n, int esize, int d1, int d2, int d3, int d4, int d5, i64 s0,
                                        i64 s1, i64 s2, i64 s3, i64 s4, i64 s5) {
    if (esize == 4) permute_typed<unsigned>(x, out, n, d1, d2, d3, d4, d5, s0, s1, s2, s3, s4, s5);
    else if (esize == 2) permute_typed<u16>(x, out, n, d1, d2, d3, d4, d5, s0, s1, s2, s3, s4, s5);
    else if (esize == 8) permute_typed<u64>(x, out, n, d1, d2, d3, d4, d5, s0, s1, s2, s3, s4, s5);
    else permute_typed<unsigned char>(x, out, n, d1, d2, d3, d4, d5, s0, s1, s2, s3, s4, s5);
}
