"""Writes a FLUX.1-schnell-width model cut to 1 double + 1 single block (or --double D --single S blocks; hidden 3072, 24 heads, MLP ratio 4,
context 4096, vec 768, in_channels 64, axes 16/56/56, no guidance embedding), random bf16 weights in BFL's
key layout (train/flux.py), and its inputs for 1,024 image tokens (a 32x32 grid) + 256 text tokens, to the
folder given on the command line: config.json, weights.safetensors (~1 GB), inputs.safetensors.
Used by docs/aot-warmup.md (the JIT warm-up measurements). Keep the folder outside the repository.

    python3 jmh/peers/make_depth1_flux.py /tmp/flux-d1
    python3 jmh/peers/make_depth1_flux.py /tmp/flux-double --double 1 --single 0    (one double block alone)
"""
import argparse
import json
import os
import sys
from dataclasses import asdict

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train"))
from flux import Flux, FluxParams  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description="random-weight FLUX.1-schnell-width model of a few blocks")
    ap.add_argument("out")
    ap.add_argument("--double", type=int, default=1, help="double-stream blocks (default 1)")
    ap.add_argument("--single", type=int, default=1, help="single-stream blocks (default 1)")
    a = ap.parse_args()
    if a.double < 0 or a.single < 0 or a.double + a.single == 0:
        sys.exit("make_depth1_flux.py: --double and --single must be >= 0 and not both 0")
    out = a.out
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    p = FluxParams(in_channels=64, out_channels=64, vec_in_dim=768, context_in_dim=4096, hidden_size=3072,
                   mlp_ratio=4.0, num_heads=24, depth=a.double, depth_single_blocks=a.single, axes_dim=[16, 56, 56],
                   theta=10000, qkv_bias=True, guidance_embed=False)
    with torch.no_grad():
        model = Flux(p)
        sd = {k: v.detach().to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(out, "weights.safetensors"))
    cfg = asdict(p)
    cfg["weight_dtype"] = "bf16"
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)

    g = torch.Generator().manual_seed(1)
    rows, cols = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    img_ids = torch.stack([torch.zeros_like(rows), rows, cols], dim=-1).reshape(1, 1024, 3).float()
    inputs = {
        "img": torch.randn(1, 1024, 64, generator=g),
        "img_ids": img_ids,
        "txt": torch.randn(1, 256, 4096, generator=g),
        "txt_ids": torch.zeros(1, 256, 3),
        "y": torch.randn(1, 768, generator=g),
        "timesteps": torch.tensor([0.7]),
    }
    save_file(inputs, os.path.join(out, "inputs.safetensors"))
    n = sum(v.numel() for v in sd.values())
    print(f"{out}: {len(sd)} tensors, {n / 1e6:.1f} M parameters, {2 * n / 1e9:.2f} GB bf16")


if __name__ == "__main__":
    main()
