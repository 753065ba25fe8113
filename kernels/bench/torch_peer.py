#!/usr/bin/env python3
"""PyTorch peer of the GPU benchmark (org.untwist.gpu.GpuBenchmark): the same shapes on the same device,
timed the same way (medians after warm-ups, each timing ending with a synchronize), then one markdown table
comparing both. The FLUX model below follows the reference black-forest-labs/flux (model.py, layers.py,
math.py) with random bf16 weights created on the device.

usage: torch_peer.py JAVA_RESULTS.tsv TABLE.md
"""
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

H, D, LT, LI = 24, 128, 512, 4096
L = LT + LI
dev = "cuda"


def timed(fn, warm=3, samples=10, reps=1):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    t = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
        t.append((time.perf_counter() - t0) * 1e3 / reps)
    return statistics.median(t)


# ---- reference math (flux/math.py) --------------------------------------------------------------------
def apply_rope(xq, xk, freqs_cis):
    xq_ = xq.float().reshape(*xq.shape[:-1], -1, 1, 2)
    xk_ = xk.float().reshape(*xk.shape[:-1], -1, 1, 2)
    xq_out = freqs_cis[..., 0] * xq_[..., 0] + freqs_cis[..., 1] * xq_[..., 1]
    xk_out = freqs_cis[..., 0] * xk_[..., 0] + freqs_cis[..., 1] * xk_[..., 1]
    return xq_out.reshape(*xq.shape).type_as(xq), xk_out.reshape(*xk.shape).type_as(xk)


def attention(q, k, v, pe):
    q, k = apply_rope(q, k, pe)
    x = F.scaled_dot_product_attention(q, k, v)
    b, h, l, d = x.shape
    return x.transpose(1, 2).reshape(b, l, h * d)


def rope(pos, dim, theta):
    scale = torch.arange(0, dim, 2, dtype=torch.float64, device=pos.device) / dim
    omega = 1.0 / (theta ** scale)
    out = torch.einsum("...n,d->...nd", pos.double(), omega)
    out = torch.stack([torch.cos(out), -torch.sin(out), torch.sin(out), torch.cos(out)], dim=-1)
    return out.reshape(*out.shape[:-1], 2, 2).float()


def embed_nd(ids, axes_dim, theta=10000):
    emb = torch.cat([rope(ids[..., i], axes_dim[i], theta) for i in range(ids.shape[-1])], dim=-3)
    return emb.unsqueeze(1)


def timestep_embedding(t, dim, max_period=10000, time_factor=1000.0):
    t = time_factor * t
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return emb.to(t) if torch.is_floating_point(t) else emb


# ---- reference layers (flux/modules/layers.py) --------------------------------------------------------
class MLPEmbedder(nn.Module):
    def __init__(self, in_dim, hidden):
        super().__init__()
        self.in_layer = nn.Linear(in_dim, hidden)
        self.out_layer = nn.Linear(hidden, hidden)

    def forward(self, x):
        return self.out_layer(F.silu(self.in_layer(x)))


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        dt = x.dtype
        x = x.float()
        rrms = torch.rsqrt(torch.mean(x ** 2, dim=-1, keepdim=True) + 1e-6)
        return (x * rrms).to(dtype=dt) * self.scale


class QKNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.query_norm = RMSNorm(dim)
        self.key_norm = RMSNorm(dim)

    def forward(self, q, k, v):
        return self.query_norm(q).to(v), self.key_norm(k).to(v)


class SelfAttention(nn.Module):
    def __init__(self, dim, heads, qkv_bias):
        super().__init__()
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.norm = QKNorm(dim // heads)
        self.proj = nn.Linear(dim, dim)


class Modulation(nn.Module):
    def __init__(self, dim, double):
        super().__init__()
        self.mult = 6 if double else 3
        self.lin = nn.Linear(dim, self.mult * dim)

    def forward(self, vec):
        return self.lin(F.silu(vec))[:, None, :].chunk(self.mult, dim=-1)


def split_heads(qkv, heads):
    b, l, _ = qkv.shape
    return qkv.view(b, l, 3, heads, -1).permute(2, 0, 3, 1, 4)


class DoubleStreamBlock(nn.Module):
    def __init__(self, hidden, heads, mlp_ratio, qkv_bias):
        super().__init__()
        mlp = int(hidden * mlp_ratio)
        self.heads = heads
        for s in ("img", "txt"):
            setattr(self, s + "_mod", Modulation(hidden, True))
            setattr(self, s + "_norm1", nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6))
            setattr(self, s + "_attn", SelfAttention(hidden, heads, qkv_bias))
            setattr(self, s + "_norm2", nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6))
            setattr(self, s + "_mlp", nn.Sequential(nn.Linear(hidden, mlp), nn.GELU(approximate="tanh"), nn.Linear(mlp, hidden)))

    def forward(self, img, txt, vec, pe):
        im = self.img_mod(vec)
        tm = self.txt_mod(vec)
        iq, ik, iv = split_heads(self.img_attn.qkv((1 + im[1]) * self.img_norm1(img) + im[0]), self.heads)
        iq, ik = self.img_attn.norm(iq, ik, iv)
        tq, tk, tv = split_heads(self.txt_attn.qkv((1 + tm[1]) * self.txt_norm1(txt) + tm[0]), self.heads)
        tq, tk = self.txt_attn.norm(tq, tk, tv)
        attn = attention(torch.cat((tq, iq), 2), torch.cat((tk, ik), 2), torch.cat((tv, iv), 2), pe)
        ta, ia = attn[:, : txt.shape[1]], attn[:, txt.shape[1]:]
        img = img + im[2] * self.img_attn.proj(ia)
        img = img + im[5] * self.img_mlp((1 + im[4]) * self.img_norm2(img) + im[3])
        txt = txt + tm[2] * self.txt_attn.proj(ta)
        txt = txt + tm[5] * self.txt_mlp((1 + tm[4]) * self.txt_norm2(txt) + tm[3])
        return img, txt


class SingleStreamBlock(nn.Module):
    def __init__(self, hidden, heads, mlp_ratio):
        super().__init__()
        self.hidden, self.heads = hidden, heads
        self.mlp_hidden = int(hidden * mlp_ratio)
        self.linear1 = nn.Linear(hidden, hidden * 3 + self.mlp_hidden)
        self.linear2 = nn.Linear(hidden + self.mlp_hidden, hidden)
        self.norm = QKNorm(hidden // heads)
        self.pre_norm = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.modulation = Modulation(hidden, False)

    def forward(self, x, vec, pe):
        shift, scale, gate = self.modulation(vec)
        qkv, mlp = torch.split(self.linear1((1 + scale) * self.pre_norm(x) + shift), [3 * self.hidden, self.mlp_hidden], dim=-1)
        q, k, v = split_heads(qkv, self.heads)
        q, k = self.norm(q, k, v)
        attn = attention(q, k, v, pe)
        return x + gate * self.linear2(torch.cat((attn, F.gelu(mlp, approximate="tanh")), 2))


class Flux(nn.Module):
    def __init__(self):
        super().__init__()
        hidden, heads = 3072, 24
        self.img_in = nn.Linear(64, hidden)
        self.time_in = MLPEmbedder(256, hidden)
        self.vector_in = MLPEmbedder(768, hidden)
        self.guidance_in = MLPEmbedder(256, hidden)
        self.txt_in = nn.Linear(4096, hidden)
        self.double_blocks = nn.ModuleList([DoubleStreamBlock(hidden, heads, 4.0, True) for _ in range(19)])
        self.single_blocks = nn.ModuleList([SingleStreamBlock(hidden, heads, 4.0) for _ in range(38)])
        self.norm_final = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.final_linear = nn.Linear(hidden, 64)
        self.final_mod = nn.Linear(hidden, 2 * hidden)

    def forward(self, img, img_ids, txt, txt_ids, timesteps, y, guidance):
        img = self.img_in(img)
        vec = self.time_in(timestep_embedding(timesteps, 256))
        vec = vec + self.guidance_in(timestep_embedding(guidance, 256))
        vec = vec + self.vector_in(y)
        txt = self.txt_in(txt)
        pe = embed_nd(torch.cat((txt_ids, img_ids), dim=1), [16, 56, 56])
        for blk in self.double_blocks:
            img, txt = blk(img, txt, vec, pe)
        x = torch.cat((txt, img), 1)
        for blk in self.single_blocks:
            x = blk(x, vec, pe)
        img = x[:, txt.shape[1]:, ...]
        shift, scale = self.final_mod(F.silu(vec)).chunk(2, dim=1)
        return self.final_linear((1 + scale[:, None, :]) * self.norm_final(img) + shift[:, None, :])


def main():
    java_file, table = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    res = {}
    bf = torch.bfloat16
    with torch.inference_mode():
        q = torch.randn(1, H, L, D, device=dev, dtype=bf)
        kcat = torch.randn(1, H, L + LI, D, device=dev, dtype=bf)
        vcat = torch.randn(1, H, L + LI, D, device=dev, dtype=bf)
        res["shared_attention_bf16"] = timed(lambda: F.scaled_dot_product_attention(q, kcat, vcat))
        k, v = kcat[:, :, :L].contiguous(), vcat[:, :, :L].contiguous()
        res["joint_attention_bf16"] = timed(lambda: F.scaled_dot_product_attention(q, k, v))
        qf, kf, vf = q.float(), kcat.float(), vcat.float()
        res["shared_attention_f32"] = timed(lambda: F.scaled_dot_product_attention(qf, kf, vf), warm=1, samples=3)
        del qf, kf, vf
        xq = torch.randn(1, H, LI, D, device=dev, dtype=bf)
        xk = torch.randn(1, H, LI, D, device=dev, dtype=bf)
        ids = torch.zeros(1, LI, 3, device=dev)
        ids[0, :, 1] = torch.arange(LI, device=dev) // 64
        ids[0, :, 2] = torch.arange(LI, device=dev) % 64
        pe = embed_nd(ids, [16, 56, 56])
        res["rope_q_and_k_bf16_ref"] = timed(lambda: apply_rope(xq, xk, pe), reps=10)
        xq32, xk32 = xq.float(), xk.float()
        res["rope_q_and_k_f32_ref"] = timed(lambda: apply_rope(xq32, xk32, pe), reps=10)
        a = torch.randn(L, 3072, device=dev, dtype=bf)
        w = torch.randn(4 * 3072, 3072, device=dev, dtype=bf) * 0.02
        bb = torch.randn(4 * 3072, device=dev, dtype=bf)
        res["linear_bf16_4608x3072x12288"] = timed(lambda: F.linear(a, w, bb))
        del q, kcat, vcat, k, v, xq, xk, xq32, xk32, a, w, bb
        torch.cuda.empty_cache()

        t0 = time.perf_counter()
        torch.set_default_dtype(bf)
        with torch.device(dev):
            model = Flux()
        torch.set_default_dtype(torch.float32)
        torch.cuda.synchronize()
        print(f"torch FLUX model made on the device in {time.perf_counter() - t0:.1f} s, "
              f"{sum(p.numel() for p in model.parameters()) / 1e9:.2f} B parameters", flush=True)
        for b in (1, 2):
            img = torch.randn(b, LI, 64, device=dev, dtype=bf)
            img_ids = ids.expand(b, -1, -1).to(bf)
            txt = torch.randn(b, LT, 4096, device=dev, dtype=bf)
            txt_ids = torch.zeros(b, LT, 3, device=dev, dtype=bf)
            y = torch.randn(b, 768, device=dev, dtype=bf)
            ts = torch.full((b,), 0.5, device=dev, dtype=bf)
            g = torch.full((b,), 3.5, device=dev, dtype=bf)
            res[f"flux_dev_forward_b{b}"] = timed(lambda: model(img, img_ids, txt, txt_ids, ts, y, g), warm=2, samples=5)

    print("PyTorch:", {k: round(v, 4) for k, v in res.items()}, flush=True)
    java = {}
    device = "(no untwist results)"
    lines = open(java_file).read().splitlines() if os.path.exists(java_file) else []
    notes = []
    for line in lines:
        name, ms, detail = line.rstrip("\n").split("\t", 2)
        if name == "device":
            device = detail
        elif name == "survey":
            continue
        elif name == "cudnn_plans":
            notes.append("cuDNN plans chosen by timing on first use: " + detail)
        else:
            java[name] = (float(ms), detail)
    peer_for = {"rope_q_and_k_f32": "rope_q_and_k_bf16_ref", "shared_attention_bf16_own_kernel": "shared_attention_bf16",
                "shared_attention_bf16_sdpa_only": "shared_attention_bf16", "shared_attention_bf16_two_pass": "shared_attention_bf16",
                "joint_attention_bf16_sdpa_only": "joint_attention_bf16", "shared_attention_bf16_io": "shared_attention_bf16",
                "joint_attention_bf16_io": "joint_attention_bf16"}
    out = [f"untwist: {device}", f"PyTorch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}", "",
           "| measurement | untwist (ms) | PyTorch (ms) | PyTorch / untwist | untwist detail |", "|---|---|---|---|---|"]
    for name, (ms, detail) in java.items():
        peer = res.get(peer_for.get(name, name))
        ratio = f"{peer / ms:.2f}x" if peer else ""
        out.append(f"| {name} | {ms:.3f} | {peer:.3f} | {ratio} | {detail} |" if peer else f"| {name} | {ms:.3f} | | | {detail} |")
    out.append("")
    out.extend(notes)
    out.append("PyTorch only: " + ", ".join(f"{k} {v:.3f} ms" for k, v in res.items() if k not in java))
    out.append("PyTorch shared attention is SDPA over keys already concatenated (own + reference, no band scale); "
               "the RoPE peer of untwist's float32 RoPE is the reference apply_rope on bf16 q and k (float32 inside).")
    text = "\n".join(out) + "\n"
    print(text)
    open(table, "w").write(text)


if __name__ == "__main__":
    main()
