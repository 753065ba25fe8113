#!/usr/bin/env python3
"""Writes random weights at the real FLUX.1-schnell shapes as the single files ComfyUI users keep, to measure a
whole generation at full size on the CPU (issue 17; the figures are in jmh/full-size/RESULTS.md):

    python3 jmh/peers/make_full_size_pipeline.py OUT_DIR fp8|bf16 [--parts flux,t5,clip,ae]

  OUT_DIR/flux1-schnell-sized-<type>.safetensors   19 double + 38 single blocks, hidden 3072, 24 heads, MLP ratio 4,
                                                   axes 16/56/56, context 4096, vec 768, no guidance embedding
                                                   (11.9 B parameters: 11.9 GB fp8, 23.8 GB bf16)
  OUT_DIR/t5xxl-sized-<type>.safetensors           T5 v1.1 XXL encoder: 24 layers, d_model 4096, d_ff 10240, 64
                                                   heads, vocabulary 32128 (4.76 B parameters)
  OUT_DIR/clip_l.safetensors                       CLIP ViT-L/14 text tower (123 M parameters, bf16)
  OUT_DIR/ae.safetensors                           the FLUX.1 autoencoder (ch 128, ch_mult 1,2,4,4, 2 resnets per
                                                   level, 16 latent channels; 84 M parameters, bf16)

With fp8, every matrix (2-D weight: linears, embeddings) is F8_E4M3 and the rest (biases, norm scales, convs) bf16,
as the fp8 checkpoints people download are. Keys and shapes come from the modules themselves built on the meta
device (train/flux.py for the transformer, transformers' T5EncoderModel and CLIPTextModel, the autoencoder of
pipeline/src/test/python/make_autoencoder_cases.py), so no model is ever held in memory: the file is written tensor
by tensor (the safetensors header first, from the shapes), each tensor drawn from a seeded generator. Values: linear
and conv weights uniform in +-1/sqrt(fan_in) (PyTorch's default init), biases small, norm scales near 1, embeddings
standard normal; random weights, so the pictures are noise, but every kernel runs at its real shape and type.
Keep OUT_DIR outside the repository (tens of GB).
"""
import argparse
import json
import os
import struct
import sys
import time
from dataclasses import asdict

import torch
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "train"))
sys.path.insert(0, os.path.join(ROOT, "pipeline", "src", "test", "python"))
from flux import Flux, FluxParams  # noqa: E402
from make_autoencoder_cases import AutoEncoder  # noqa: E402

SCHNELL = FluxParams(in_channels=64, out_channels=64, vec_in_dim=768, context_in_dim=4096, hidden_size=3072, mlp_ratio=4.0,
                     num_heads=24, depth=19, depth_single_blocks=38, axes_dim=[16, 56, 56], theta=10000, qkv_bias=True,
                     guidance_embed=False)
T5_XXL = dict(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64, relative_attention_num_buckets=32,
              relative_attention_max_distance=128, feed_forward_proj="gated-gelu", is_encoder_decoder=False, use_cache=False,
              tie_word_embeddings=False)
CLIP_L = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
              max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768, bos_token_id=49406, eos_token_id=49407,
              pad_token_id=1)
AE = dict(resolution=256, in_channels=3, ch=128, out_ch=3, ch_mult=[1, 2, 4, 4], num_res_blocks=2, z_channels=16,
          scale_factor=0.3611, shift_factor=0.1159)

NAMES = {torch.bfloat16: "BF16", torch.float8_e4m3fn: "F8_E4M3", torch.float32: "F32"}


def shapes_of(module, rename=lambda k: k, skip=lambda k: False):
    """Key -> shape of a module built on the meta device (no memory)."""
    return {rename(k): tuple(v.shape) for k, v in module.state_dict().items() if not skip(k)}


def stored_type(name, shape, fp8):
    return torch.float8_e4m3fn if fp8 and len(shape) == 2 else torch.bfloat16


def draw(name, shape, gen):
    """Random values of one parameter, drawn in float32 in slices of rows to bound the memory."""
    if len(shape) == 1:
        t = torch.rand(shape, generator=gen) * 0.2 - 0.1
        if name.endswith(("scale", "norm.weight", "norm1.weight", "norm2.weight", "norm_out.weight")) or "layer_norm" in name:
            t += 1.0
        return t
    if "embed" in name or name == "shared.weight":
        return torch.randn(shape, generator=gen)
    fan_in = 1
    for d in shape[1:]:
        fan_in *= d
    bound = fan_in ** -0.5
    return (torch.rand(shape, generator=gen) * 2 - 1) * bound


def write(path, shapes, fp8, seed, metadata):
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
    gen = torch.Generator().manual_seed(seed)
    tmp = path + ".partial"
    start, done = time.time(), 0
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name, shape in shapes.items():
            t = draw(name, shape, gen).to(types[name]).contiguous()
            f.write(t.view(torch.uint8).numpy().tobytes() if t.dim() else t.reshape(1).view(torch.uint8).numpy().tobytes())
            done += t.numel() * t.element_size()
    os.replace(tmp, path)
    print(f"{path}: {len(shapes)} tensors, {sum(_numel(s) for s in shapes.values()) / 1e9:.3f} B parameters, "
          f"{done / 1e9:.2f} GB, {time.time() - start:.0f} s", flush=True)


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
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    fp8 = a.type == "fp8"
    parts = set(a.parts.split(","))
    files = []  # (path, shapes, fp8, seed, metadata); the modules exist on the meta device only
    with torch.device("meta"):
        if "flux" in parts:
            files.append((f"flux1-schnell-sized-{a.type}.safetensors", shapes_of(Flux(SCHNELL)), fp8, 1,
                          {"params": json.dumps(asdict(SCHNELL))}))
        if "t5" in parts:
            t5 = T5EncoderModel(T5Config(**T5_XXL))
            files.append((f"t5xxl-sized-{a.type}.safetensors", shapes_of(t5, skip=lambda k: k == "encoder.embed_tokens.weight"),
                          fp8, 2, {}))
        if "clip" in parts:
            clip = CLIPTextModel(CLIPTextConfig(**CLIP_L))
            files.append(("clip_l.safetensors", shapes_of(clip, rename=lambda k: k if k.startswith("text_model.") else "text_model." + k,
                                                          skip=lambda k: k.endswith("position_ids")), False, 3, {}))
        if "ae" in parts:
            files.append(("ae.safetensors", shapes_of(AutoEncoder(AE)), False, 4, {}))
    for name, shapes, f8, seed, metadata in files:
        path = os.path.join(a.out, name)
        if os.path.exists(path):
            print(f"{path}: exists, kept")
            continue
        write(path, shapes, f8, seed, metadata)

if __name__ == "__main__":
    main()
