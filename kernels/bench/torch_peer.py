#!/usr/bin/env python3
"""PyTorch peer of the GPU benchmark (org.untwist.gpubench.GpuBenchmark): the same shapes on the same device,
timed the same way (medians after warm-ups, each timing ending with a synchronize), then one markdown table
comparing both. The FLUX model and the reference math come from train/flux.py (the reference
black-forest-labs/flux layout, checked against the golden tensors), here FLUX.1-dev-shaped with random bf16 weights
created on the device. make-bundle.sh copies flux.py next to this script; from the repository it is found in train/.

usage: torch_peer.py JAVA_RESULTS.tsv TABLE.md
"""
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here if os.path.exists(os.path.join(_here, "flux.py")) else os.path.join(_here, "..", "..", "train"))
from flux import EmbedND, Flux, FluxParams, apply_rope  # noqa: E402  (the path above first)

# FLUX.1-dev's configuration (its config.json), in_channels 64 = 16 latent channels packed 2×2.
FLUX_DEV = FluxParams(in_channels=64, out_channels=64, vec_in_dim=768, context_in_dim=4096, hidden_size=3072, mlp_ratio=4.0,
                      num_heads=24, depth=19, depth_single_blocks=38, axes_dim=[16, 56, 56], theta=10000, qkv_bias=True,
                      guidance_embed=True)

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


def make_model():
    """The FLUX.1-dev-shaped model with random bf16 weights, made on the device."""
    t0 = time.perf_counter()
    torch.set_default_dtype(torch.bfloat16)
    with torch.device(dev):
        model = Flux(FLUX_DEV)
    torch.set_default_dtype(torch.float32)
    torch.cuda.synchronize()
    print(f"torch FLUX model made on the device in {time.perf_counter() - t0:.1f} s, "
          f"{sum(p.numel() for p in model.parameters()) / 1e9:.2f} B parameters", flush=True)
    return model


def forward_inputs(b):
    """Inputs of the FLUX.1-dev forward at 1024² for batch b (4096 image + 512 text tokens), bf16 on the device."""
    bf = torch.bfloat16
    ids = torch.zeros(1, LI, 3, device=dev)
    ids[0, :, 1] = torch.arange(LI, device=dev) // 64
    ids[0, :, 2] = torch.arange(LI, device=dev) % 64
    return (torch.randn(b, LI, 64, device=dev, dtype=bf), ids.expand(b, -1, -1).to(bf),
            torch.randn(b, LT, 4096, device=dev, dtype=bf), torch.zeros(b, LT, 3, device=dev, dtype=bf),
            torch.full((b,), 0.5, device=dev, dtype=bf), torch.randn(b, 768, device=dev, dtype=bf),
            torch.full((b,), 3.5, device=dev, dtype=bf))


def measure(model=None):
    """PyTorch's figures (ms) for every row of the Java benchmark that has a peer; makes the model if not given."""
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
        pe = EmbedND(D, 10000, [16, 56, 56])(ids)
        res["rope_q_and_k_bf16_ref"] = timed(lambda: apply_rope(xq, xk, pe), reps=10)
        xq32, xk32 = xq.float(), xk.float()
        res["rope_q_and_k_f32_ref"] = timed(lambda: apply_rope(xq32, xk32, pe), reps=10)
        a = torch.randn(L, 3072, device=dev, dtype=bf)
        w = torch.randn(4 * 3072, 3072, device=dev, dtype=bf) * 0.02
        bb = torch.randn(4 * 3072, device=dev, dtype=bf)
        res["linear_bf16_4608x3072x12288"] = timed(lambda: F.linear(a, w, bb))
        del q, kcat, vcat, k, v, xq, xk, xq32, xk32, a, w, bb
        torch.cuda.empty_cache()

        if model is None:
            model = make_model()
        for b in (1, 2):
            args = forward_inputs(b)
            res[f"flux_dev_forward_b{b}"] = timed(lambda: model(*args), warm=2, samples=5)
        del args
        torch.cuda.empty_cache()
    return res


def main():
    java_file, table = sys.argv[1], sys.argv[2]
    res = measure()
    write_table(java_file, table, res)


# The PyTorch row each Java row is compared with, where the names differ.
PEER_FOR = {"rope_q_and_k_f32": "rope_q_and_k_bf16_ref", "shared_attention_bf16_own_kernel": "shared_attention_bf16",
            "shared_attention_bf16_sdpa_only": "shared_attention_bf16", "shared_attention_bf16_two_pass": "shared_attention_bf16",
            "joint_attention_bf16_sdpa_only": "joint_attention_bf16", "shared_attention_bf16_io": "shared_attention_bf16",
            "shared_attention_bf16_io_two_pass": "shared_attention_bf16",
            "shared_attention_bf16_io_two_pass_sdpa_only": "shared_attention_bf16",
            "joint_attention_bf16_io": "joint_attention_bf16", "linear_bf16_io_4608x3072x12288": "linear_bf16_4608x3072x12288",
            "linear_bf16_io_4608x3072x12288_autotuned": "linear_bf16_4608x3072x12288",
            "flux_dev_forward_b1_f32_activations": "flux_dev_forward_b1_compiled",
            "flux_dev_forward_b1_autotuned": "flux_dev_forward_b1_compiled"}


def read_java(java_file):
    """The Java benchmark's .tsv: ({row: (ms, detail)}, device line, notes); empty when the file is missing."""
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
    return java, device, notes


def write_table(java_file, table, res):
    print("PyTorch:", {k: round(v, 4) for k, v in res.items()}, flush=True)
    java, device, notes = read_java(java_file)
    out = [f"untwist: {device}", f"PyTorch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}", "",
           "| measurement | untwist (ms) | PyTorch (ms) | PyTorch / untwist | untwist detail |", "|---|---|---|---|---|"]
    for name, (ms, detail) in java.items():
        peer = res.get(PEER_FOR.get(name, name))
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
