#!/usr/bin/env python3
"""Emulates the index arithmetic of the gpu backend's autoencoder ops (GpuImageOps, untwist_kernels.cu) in numpy,
without a GPU, against direct numpy formulas: conv2d as im2col bands (im2col_f32, grid y over k rows from kBase)
plus column-major cuBLAS GEMMs as CublasGemm.multiplyColumns calls them (weight blocks of output rows o0..o0+c),
with broadcast_planes_f32's bias; group_norm_f32's group addressing (both write loops); upsample_nearest2x_f32's
rows; permute_copy with GpuImageOps.permutePlan's merging. Small COL_BYTES / chunk sizes force many bands and
blocks. Run: python3 kernels/bench/emulate_image_ops.py (prints the worst difference per op; exits 1 on failure)."""
import itertools
import sys
import numpy as np

rng = np.random.default_rng(20261205)
fail = False


def check(name, got, want, tol):
    global fail
    err = float(np.max(np.abs(got - want))) if want.size else 0.0
    ok = err <= tol
    fail |= not ok
    print(f"{'ok ' if ok else 'BAD'} {name}: max |diff| {err:.3g}")


def gemm_cm(ta, tb, m, n, k, A, a_off, lda, B, b_off, ldb, beta, C, c_off, ldc):
    """cuBLAS column-major C = op(A)·op(B) + beta·C on flat arrays at element offsets."""
    for j in range(n):
        for i in range(m):
            acc = 0.0
            for l in range(k):
                a = A[a_off + (i + l * lda if ta == 'N' else l + i * lda)]
                b = B[b_off + (l + j * ldb if tb == 'N' else j + l * ldb)]
                acc += a * b
            # BLAS: with beta == 0, C is not read (the emulation's NaN fill would show it otherwise)
            C[c_off + i + j * ldc] = acc if beta == 0 else acc + beta * C[c_off + i + j * ldc]


def band_columns(k, plane, col_bytes):
    cols = max(1, min(plane, col_bytes // 4 // max(1, k)))
    if cols < plane and cols >= 32:
        cols -= cols % 32
    return cols


def im2col_launch(x, col, h, w, kh, kw, stride, top, left, wo, p0, cols, kbase, kcnt):
    for by in range(kcnt):  # blockIdx.y
        k = by + kbase
        kx, t = k % kw, k // kw
        ky, ci = t % kh, t // kh
        for p in range(cols):
            q = p0 + p
            oy, ox = q // wo, q - (q // wo) * wo
            iy, ix = oy * stride + ky - top, ox * stride + kx - left
            col[k * cols + p] = x[(ci * h + iy) * w + ix] if 0 <= iy < h and 0 <= ix < w else 0.0


def conv_emulated(x, wt, bias, stride, pad, col_bytes, chunk_rows, kmax=65535):
    b, cin, h, w = x.shape
    cout, _, kh, kw = wt.shape
    ho = (h + pad[0] + pad[1] - kh) // stride + 1
    wo = (w + pad[2] + pad[3] - kw) // stride + 1
    plane = ho * wo
    out = np.full(b * cout * plane, np.nan)
    xf, wf = x.ravel(), wt.ravel()
    if bias is not None:  # broadcast_planes_f32
        for r in range(b * cout):
            out[r * plane:(r + 1) * plane] = bias[r % cout]
    k = cin * kh * kw
    cols = band_columns(k, plane, col_bytes)
    col = np.full(k * cols, np.nan)
    for bi in range(b):
        for p0 in range(0, plane, cols):
            c = min(cols, plane - p0)
            col[:] = np.nan
            for k0 in range(0, k, kmax):
                im2col_launch(xf[bi * cin * h * w:], col, h, w, kh, kw, stride, pad[0], pad[2], wo, p0, c, k0, min(kmax, k - k0))
            po = bi * cout * plane + p0
            for o0 in range(0, cout, chunk_rows):  # CublasGemm.withWeights' blocks (f32 precision widening)
                cc = min(chunk_rows, cout - o0)
                wblock = wf[o0 * k:(o0 + cc) * k]
                gemm_cm('N', 'N', c, cc, k, col, 0, max(1, c), wblock, 0, max(1, k), 1.0 if bias is not None else 0.0,
                        out, po + o0 * plane, plane)
    return out.reshape(b, cout, ho, wo), (ho, wo)


def conv_reference(x, wt, bias, stride, pad):
    b, cin, h, w = x.shape
    cout, _, kh, kw = wt.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[1]), (pad[2], pad[3])))
    ho = (h + pad[0] + pad[1] - kh) // stride + 1
    wo = (w + pad[2] + pad[3] - kw) // stride + 1
    out = np.zeros((b, cout, ho, wo))
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[:, :, ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride]
            out += np.einsum('bchw,oc->bohw', patch, wt[:, :, ky, kx])
    if bias is not None:
        out += bias[None, :, None, None]
    return out


# b, cin, h, w, cout, kh, kw, stride, pad, col_bytes, weight chunk rows, k rows per launch
cases = [
    (2, 3, 7, 5, 4, 3, 3, 1, (1, 1, 1, 1), 4 * 27 * 10, 3, 65535),  # bands of 10 pixels (not a row multiple)
    (1, 2, 8, 9, 3, 3, 3, 2, (0, 1, 0, 1), 1 << 20, 2, 7),  # the autoencoder's downsampling pad; k rows in launches of 7
    (1, 5, 6, 6, 2, 1, 1, 1, (0, 0, 0, 0), 4 * 5 * 33, 1, 65535),  # 1x1, bands of 33 -> 32 columns
    (2, 1, 4, 3, 3, 2, 3, 1, (2, 0, 0, 3), 4, 2, 65535),  # one column a band, asymmetric padding, kh != kw
    (1, 3, 5, 5, 2, 5, 5, 3, (2, 2, 2, 2), 1 << 20, 5, 11),
]
for (b, cin, h, w, cout, kh, kw, stride, pad, col_bytes, chunk, kmax) in cases:
    x = rng.standard_normal((b, cin, h, w))
    wt = rng.standard_normal((cout, cin, kh, kw))
    for bias in (rng.standard_normal(cout), None):
        got, (ho, wo) = conv_emulated(x, wt, bias, stride, pad, col_bytes, chunk, kmax)
        want = conv_reference(x, wt, bias, stride, pad)
        check(f"conv2d b{b} cin{cin} {h}x{w} cout{cout} k{kh}x{kw} s{stride} pad{pad} bands of {band_columns(cin*kh*kw, ho*wo, col_bytes)}"
              f"{' bias' if bias is not None else ''}", got, want, 1e-12)

# group_norm_f32: block bg = b·groups + g reads x + bg·per·spatial; channel g·per + ch (both write loops)
for (b, c, groups, spatial, threads) in [(2, 6, 3, 5, 4), (1, 8, 2, 1, 4), (3, 4, 4, 7, 8), (2, 6, 2, 9, 4)]:
    x = rng.standard_normal(b * c * spatial)
    wgt, bias = rng.standard_normal(c), rng.standard_normal(c)
    out = np.full_like(x, np.nan)
    per = c // groups
    for bg in range(b * groups):
        g = bg % groups
        n = per * spatial
        xg = x[bg * n:(bg + 1) * n]
        mean = xg.mean()
        inv = 1 / np.sqrt(((xg - mean) ** 2).mean() + 1e-6)
        if spatial >= threads:
            for ch in range(per):
                sl = slice(bg * n + ch * spatial, bg * n + (ch + 1) * spatial)
                out[sl] = (x[sl] - mean) * inv * wgt[g * per + ch] + bias[g * per + ch]
        else:
            for i in range(n):
                chn = g * per + i // spatial
                out[bg * n + i] = (xg[i] - mean) * inv * wgt[chn] + bias[chn]
    xr = x.reshape(b, groups, -1)
    ref = ((xr - xr.mean(-1, keepdims=True)) / np.sqrt(xr.var(-1, keepdims=True) + 1e-6)).reshape(b, c, spatial)
    ref = ref * wgt[None, :, None] + bias[None, :, None]
    check(f"groupNorm b{b} c{c} groups{groups} spatial{spatial} ({'per channel' if spatial >= threads else 'flat'})", out,
          ref.ravel(), 1e-12)

# upsample_nearest2x_f32: input row r of [planes·h, w] -> out rows at 4·r·w and 4·r·w + 2w, columns 2c and 2c+1
for (planes, h, w, rmax) in [(3, 4, 5, 65535), (2, 3, 1, 4), (1, 1, 7, 1)]:
    x = rng.standard_normal(planes * h * w)
    out = np.full(planes * 4 * h * w, np.nan)
    for r0 in range(0, planes * h, rmax):
        for r in range(r0, min(planes * h, r0 + rmax)):
            for c in range(w):
                for base in (4 * r * w, 4 * r * w + 2 * w):
                    out[base + 2 * c] = out[base + 2 * c + 1] = x[r * w + c]
    ref = x.reshape(planes, h, w).repeat(2, axis=1).repeat(2, axis=2)
    check(f"upsampleNearest2x {planes}x{h}x{w}", out, ref.ravel(), 0)


def permute_plan(shape, axes, rank_max=6):
    rank = len(shape)
    in_stride = [0] * rank
    acc = 1
    for d in range(rank - 1, -1, -1):
        in_stride[d] = acc
        acc *= shape[d]
    dims, strides = [], []
    for i in range(rank):
        size, stride = shape[axes[i]], in_stride[axes[i]]
        if size == 1:
            continue
        if dims and strides[-1] == stride * size:
            dims[-1] *= size
            strides[-1] = stride
        else:
            dims.append(size)
            strides.append(stride)
    if len(dims) > rank_max:
        return None
    m = len(dims)
    return [1] * (rank_max - m) + dims, [0] * (rank_max - m) + strides


worst_rank = 0
shapes = [(2, 3, 4, 2, 5, 2), (1, 16, 3, 2, 4, 2), (2, 1, 3, 1, 4), (3, 4), (5,), (), (2, 2, 2, 2, 2, 2, 2), (3, 1, 1, 2)]
for shape in shapes:
    for axes in itertools.permutations(range(len(shape))):
        x = rng.standard_normal(shape)
        plan = permute_plan(list(shape), list(axes))
        if plan is None:
            continue  # the backend throws (a rank-7 shape with no adjacent pair)
        d, s = plan
        n = int(np.prod(shape)) if shape else 1
        xf = x.ravel()
        out = np.empty(n)
        for o in range(n):
            r = o
            idx = []
            for j in range(5, 0, -1):
                idx.append(r % d[j])
                r //= d[j]
            i1to5 = idx[::-1]
            out[o] = xf[r * s[0] + sum(i * st for i, st in zip(i1to5, s[1:]))]
        ref = np.transpose(x, axes).ravel()
        if np.max(np.abs(out - ref), initial=0) != 0:
            check(f"permute {shape} {axes}", out, ref, 0)
        worst_rank = max(worst_rank, sum(1 for v in d if v != 1))
print(f"ok  permute: every permutation of {len(shapes)} shapes (rank 0..7) equals numpy's transpose where planned")
print("FAILED" if fail else "all ok")
sys.exit(1 if fail else 0)
