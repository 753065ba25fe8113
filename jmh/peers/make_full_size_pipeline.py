#!/usr/bin/env python3
"""Writes random weights at the real FLUX.1 shapes as the single files ComfyUI users keep, to measure a whole
generation at full size: on the CPU (issue 17; the figures are in jmh/full-size/RESULTS.md) and on a GPU against
PyTorch (issue 18, kernels/bench/gpu-pipeline.sh):

    python3 jmh/peers/make_full_size_pipeline.py OUT_DIR fp8|bf16 [--dev] [--tiny] [--device auto|cpu|cuda]
                                                 [--parts flux,t5,clip,ae]

  OUT_DIR/flux1-schnell-sized-<type>.safetensors   19 double + 38 single blocks, hidden 3072, 24 heads, MLP ratio 4,
                                                   axes 16/56/56, context 4096, vec 768, no guidance embedding
                                                   (11.9 B parameters: 11.9 GB fp8, 23.8 GB bf16)
  OUT_DIR/flux1-dev-sized-<type>.safetensors       with --dev: the same plus FLUX.1-dev's guidance embedding
                                                   (guidance_in; untwist then reads it as dev: 28 steps, guidance 3.5,
                                                   512 T5 tokens)
  OUT_DIR/t5xxl-sized-<type>.safetensors           T5 v1.1 XXL encoder: 24 layers, d_model 4096, d_ff 10240, 64
                                                   heads, vocabulary 32128 (4.76 B parameters)
  OUT_DIR/clip_l.safetensors                       CLIP ViT-L/14 text tower (123 M parameters, bf16)
  OUT_DIR/ae.safetensors                           the FLUX.1 autoencoder (ch 128, ch_mult 1,2,4,4, 2 resnets per
                                                   level, 16 latent channels; 84 M parameters, bf16)
  OUT_DIR/manifest.json                            the files written and their configurations (FluxParams, the
                                                   T5 and CLIP configs under transformers' names, AutoEncoderParams),
                                                   what kernels/bench/pipeline_peer.py builds its modules from

--tiny writes the same four parts at tiny shapes instead ("-tiny" in the names; hidden 128 with 2 heads of 64, 2 + 2
blocks, T5 d_model 64, CLIP width 128, autoencoder ch 32; the real vocabularies), for checking the plumbing on a CPU
in seconds. Head sizes are 64 or 128 so that untwist's inference from the shapes finds the same configurations.

With fp8, every matrix (2-D weight: linears, embeddings) is F8_E4M3 and the rest (biases, norm scales, convs) bf16,
as the fp8 checkpoints people download are. Keys and shapes come from the modules themselves built on the meta
device (train/flux.py for the transformer; pipeline/src/test/python/text_encoders.py for T5 and CLIP, whose names,
shapes and order its check holds equal to transformers' T5EncoderModel and CLIPTextModel; the autoencoder of
pipeline/src/test/python/make_autoencoder_cases.py), so no model is ever held in memory: the file is written tensor
by tensor (the safetensors header first, from the shapes), each tensor drawn from a seeded generator. Values: linear
and conv weights uniform in +-1/sqrt(fan_in) (PyTorch's default init), biases small, norm scales near 1, embeddings
standard normal; random weights, so the pictures are noise, but every kernel runs at its real shape and type.
--device cuda (auto: when PyTorch sees a GPU) draws on the GPU, about 100 times faster than the CPU: the values then
differ from a CPU run's (another generator), the layout does not. Keep OUT_DIR outside the repository (tens of GB).
"""
import argparse
import json
import os
import struct
import sys
import time
from dataclasses import asdict

from dataclasses import replace

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
# This folder first (kernels/bench/make-bundle.sh copies the imported files next to this one), then the repository's.
sys.path.extend([os.path.join(ROOT, "train"), os.path.join(ROOT, "pipeline", "src", "test", "python")])
from flux import Flux, FluxParams  # noqa: E402
from make_autoencoder_cases import AutoEncoder  # noqa: E402
from text_encoders import ClipText, T5Encoder  # noqa: E402

SCHNELL = FluxParams(in_channels=64, out_channels=64, vec_in_dim=768, context_in_dim=4096, hidden_size=3072, mlp_ratio=4.0,
                     num_heads=24, depth=19, depth_single_blocks=38, axes_dim=[16, 56, 56], theta=10000, qkv_bias=True,
                     guidance_embed=False)
DEV = replace(SCHNELL, guidance_embed=True)
T5_XXL = dict(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64, relative_attention_num_buckets=32,
              relative_attention_max_distance=128, layer_norm_epsilon=1e-6)
# eos_token_id 2: the legacy value of FLUX.1's CLIP config, under which the pooled output is taken at each row's
# largest id; untwist infers the same for a single CLIP file.
CLIP_L = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
              max_position_embeddings=77, layer_norm_eps=1e-5, eos_token_id=2)
AE = dict(resolution=256, in_channels=3, ch=128, out_ch=3, ch_mult=[1, 2, 4, 4], num_res_blocks=2, z_channels=16,
          scale_factor=0.3611, shift_factor=0.1159)
# --tiny: seconds on a CPU. Heads of 64 (T5: 16) and CLIP's width a multiple of 64, as untwist's shape inference assumes.
TINY_FLUX = replace(SCHNELL, vec_in_dim=128, context_in_dim=64, hidden_size=128, num_heads=2, depth=2, depth_single_blocks=2,
                    axes_dim=[8, 28, 28])
TINY_T5 = dict(T5_XXL, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4)
TINY_CLIP = dict(CLIP_L, hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2)
TINY_AE = dict(AE, ch=32, num_res_blocks=1)

NAMES = {torch.bfloat16: "BF16", torch.float8_e4m3fn: "F8_E4M3", torch.float32: "F32"}


def shapes_of(module, rename=lambda k: k, skip=lambda k: False):
    """Key -> shape of a module built on the meta device (no memory)."""
    return {rename(k): tuple(v.shape) for k, v in module.state_dict().items() if not skip(k)}


def stored_type(name, shape, fp8):
    return torch.float8_e4m3fn if fp8 and len(shape) == 2 else torch.bfloat16


def draw(name, shape, gen):
    """Random values of one parameter, drawn in float32 on the generator's device."""
    dev = gen.device
    if len(shape) == 1:
        t = torch.rand(shape, generator=gen, device=dev) * 0.2 - 0.1
        if name.endswith(("scale", "norm.weight", "norm1.weight", "norm2.weight", "norm_out.weight")) or "layer_norm" in name:
            t += 1.0
        return t
    if "embed" in name or name == "shared.weight":
        return torch.randn(shape, generator=gen, device=dev)
    fan_in = 1
    for d in shape[1:]:
        fan_in *= d
    bound = fan_in ** -0.5
    return (torch.rand(shape, generator=gen, device=dev) * 2 - 1) * bound


def write(path, shapes, fp8, seed, metadata, device="cpu"):
    """Streams one safetensors file: header from the shapes, then each tensor drawn, converted and written."""
    entries, offset = {}, 0
    types = {}
    for name, shape in shapes.items():
        dt = stored_type(name, shape, fp8)
        types[name] = dt
        n = 1
        for d in shape:
            n *= d
        size = n * torch.empty((), dtype=dt).element_size()
        entries[name] = {"dtype": NAMES[dt], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header = {"__metadata__": metadata, **entries}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    gen = torch.Generator(device=device).manual_seed(seed)
    tmp = path + ".partial"
    start, done = time.time(), 0
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name, shape in shapes.items():
            t = draw(name, shape, gen).to(types[name]).contiguous().reshape(-1).cpu()
            f.write(t.view(torch.uint8).numpy().data)
            done += t.numel() * t.element_size()
    os.replace(tmp, path)
    print(f"{path}: {len(shapes)} tensors, {sum(_numel(s) for s in shapes.values()) / 1e9:.3f} B parameters, "
          f"{done / 1e9:.2f} GB, {time.time() - start:.1f} s on {device}", flush=True)


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("type", choices=["fp8", "bf16"])
    ap.add_argument("--parts", default="flux,t5,clip,ae")
    ap.add_argument("--dev", action="store_true", help="FLUX.1-dev's guidance embedding (default: schnell's shape, without)")
    ap.add_argument("--tiny", action="store_true", help="tiny shapes, for checking the plumbing")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the values are drawn (auto: cuda if available)")
    a = ap.parse_args()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device
    os.makedirs(a.out, exist_ok=True)
    fp8 = a.type == "fp8"
    parts = set(a.parts.split(","))
    size = "tiny" if a.tiny else "sized"
    flux_p = TINY_FLUX if a.tiny else SCHNELL
    flux_p = replace(flux_p, guidance_embed=True) if a.dev else flux_p
    t5_c, clip_c, ae_p = (TINY_T5, TINY_CLIP, TINY_AE) if a.tiny else (T5_XXL, CLIP_L, AE)
    names = {"flux": f"flux1-{'dev' if a.dev else 'schnell'}-{size}-{a.type}.safetensors", "t5": f"t5xxl-{size}-{a.type}.safetensors",
             "clip": "clip_l-tiny.safetensors" if a.tiny else "clip_l.safetensors", "ae": "ae-tiny.safetensors" if a.tiny else "ae.safetensors"}
    files = []  # (part, shapes, fp8, seed, metadata); the modules exist on the meta device only
    with torch.device("meta"):
        if "flux" in parts:
            files.append(("flux", shapes_of(Flux(flux_p)), fp8, 1, {"params": json.dumps(asdict(flux_p))}))
        if "t5" in parts:
            files.append(("t5", shapes_of(T5Encoder(t5_c)), fp8, 2, {}))
        if "clip" in parts:
            files.append(("clip", shapes_of(ClipText(clip_c)), False, 3, {}))
        if "ae" in parts:
            files.append(("ae", shapes_of(AutoEncoder(ae_p)), False, 4, {}))
    start = time.time()
    for part, shapes, f8, seed, metadata in files:
        path = os.path.join(a.out, names[part])
        if os.path.exists(path):
            print(f"{path}: exists, kept")
            continue
        write(path, shapes, f8, seed, metadata, device)
    manifest = os.path.join(a.out, "manifest.json")
    m = json.load(open(manifest)) if os.path.exists(manifest) else {}
    for part, *_ in files:
        m[part] = names[part]
    m.update(type=a.type, size=size, flux_params=asdict(flux_p), t5_config=t5_c, clip_config=clip_c, ae_params=ae_p)
    with open(manifest, "w") as fh:
        json.dump(m, fh, indent=1)
    print(f"{manifest}: {', '.join(m[p] for p in ('flux', 't5', 'clip', 'ae') if p in m)}; {time.time() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
