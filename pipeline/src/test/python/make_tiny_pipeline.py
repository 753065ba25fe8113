#!/usr/bin/env python3
"""Makes testdata/flux-pipeline-tiny/ and testdata/flux-pipeline-tiny-single/: a tiny random FLUX.1-dev-like
pipeline in the two layouts users have.

    python3 pipeline/src/test/python/make_tiny_pipeline.py [OUT]   (default testdata/flux-pipeline-tiny)

Writes, from one set of random tensors (seeded, so the files are reproducible with the same torch):

  OUT               a diffusers FluxPipeline folder: model_index.json, scheduler/, transformer/ (config.json and
                    two shards with an index, diffusers key names), text_encoder/ (transformers CLIPTextModel),
                    text_encoder_2/ (T5EncoderModel), tokenizer/ (a tiny byte-level BPE made here), tokenizer_2/
                    (the project's T5 Unigram tokenizer from testdata/text/t5-unigram), vae/ (AutoencoderKL keys)
  OUT-single/       the same weights as single files the way Black Forest Labs and ComfyUI ship them:
                    flux1-tiny.safetensors (FLUX.1 keys), ae.safetensors (FLUX.1 autoencoder keys),
                    clip_l.safetensors (text_model.* keys), t5xxl.safetensors (shared.weight, encoder.*)

The diffusers transformer and VAE keys are derived from the FLUX.1 ones here, following the layout of diffusers'
FluxTransformer2DModel and AutoencoderKL (fused qkv split into to_q/to_k/to_v, single blocks' linear1 into
to_q/to_k/to_v/proj_mlp, the final adaLN's (shift, scale) halves swapped, 1x1 attention convs as linears, the
decoder's up blocks in reverse order). diffusers itself is not needed (nor installable here).

Sizes: transformer hidden 64, 4 heads of 16 (RoPE axes 2, 6, 8), 2 double + 2 single blocks, guidance embedding,
in/out channels 64 (16 latent channels x 2x2 patches), bfloat16; T5 d_model 32 (2 blocks, vocabulary 1600 = the
t5-unigram tokenizer); CLIP width 64 (2 layers, one head of 64 as CLIP-L's heads are, so that a single file's
head count can be inferred; the tiny BPE vocabulary); autoencoder ch 32, ch_mult (1, 2), one
resnet per level, z 16 channels, bfloat16.
"""
import json
import os
import re
import shutil
import sys
from collections import Counter

import torch
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, T5Config, T5EncoderModel

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "testdata", "flux-pipeline-tiny")
T5_TOKENIZER = os.path.join(ROOT, "testdata", "text", "t5-unigram")

HIDDEN, HEADS, AXES, DEPTH, SINGLE, MLP_RATIO, LATENT = 64, 4, [2, 6, 8], 2, 2, 4.0, 16
IN_CHANNELS = LATENT * 4
T5_WIDTH, CLIP_WIDTH = 32, 64
AE = dict(resolution=256, in_channels=3, ch=32, out_ch=3, ch_mult=[1, 2], num_res_blocks=1, z_channels=LATENT,
          scale_factor=0.3611, shift_factor=0.1159)

SENTENCES = [
    "a photo of a cat sitting on a red chair",
    "a watercolor painting of a mountain lake at sunrise",
    "an astronaut riding a horse on the moon, digital art",
    "the quick brown fox jumps over the lazy dog",
    "a bowl of fruit: apples, oranges and grapes on a wooden table",
    "portrait of an old man with a beard, oil on canvas, dramatic light",
    "a city street at night in the rain with neon signs",
    "a small house in a forest covered with snow",
]
MERGES = 240


def bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable characters (as CLIP's tokenizer uses)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def learn_bpe(sentences, count):
    """Merges learned greedily from the words of the sentences, each word ending with </w> as CLIP's do."""
    byte_char = bytes_to_unicode()
    words = Counter()
    for s in sentences:
        for w in re.findall(r"[a-z]+|[0-9]|[^\sa-z0-9]+", s.lower()):
            chars = [byte_char[b] for b in w.encode("utf-8")]
            chars[-1] += "</w>"
            words[tuple(chars)] += 1
    merges = []
    for _ in range(count):
        pairs = Counter()
        for w, n in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        merged = Counter()
        for w, n in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] += n
        words = merged
    return merges


def write_clip_tokenizer(folder):
    os.makedirs(folder, exist_ok=True)
    alphabet = list(bytes_to_unicode().values())
    merges = learn_bpe(SENTENCES, MERGES)
    tokens = alphabet + [c + "</w>" for c in alphabet] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {}
    for t in tokens:
        vocab.setdefault(t, len(vocab))
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(a + " " + b + "\n")
    config = {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "bos_token": "<|startoftext|>",
              "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
              "do_lower_case": True, "errors": "replace", "add_prefix_space": False, "clean_up_tokenization_spaces": True}
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    special = {k: config[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token")}
    with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
    tok = CLIPTokenizer.from_pretrained(folder)  # it must load in transformers
    ids = tok("a photo of a cat")["input_ids"]
    assert ids[0] == vocab["<|startoftext|>"] and ids[-1] == vocab["<|endoftext|>"], ids
    return vocab


def randomized(t, gen, std):
    """Random values: vectors around 1 when they are norm scales, small otherwise."""
    return torch.randn(t.shape, generator=gen) * std


def flux_tensors(gen, vec_dim, ctx_dim):
    """The transformer's parameters under FLUX.1 key names (bfloat16)."""
    h, mlp, hd = HIDDEN, int(HIDDEN * MLP_RATIO), HIDDEN // HEADS
    shapes = {}

    def linear(name, out, inp):
        shapes[name + ".weight"] = (out, inp)
        shapes[name + ".bias"] = (out,)

    linear("img_in", h, IN_CHANNELS)
    linear("txt_in", h, ctx_dim)
    for e, inp in (("time_in", 256), ("vector_in", vec_dim), ("guidance_in", 256)):
        linear(e + ".in_layer", h, inp)
        linear(e + ".out_layer", h, h)
    for i in range(DEPTH):
        for s in ("img", "txt"):
            p = f"double_blocks.{i}.{s}_"
            linear(p + "mod.lin", 6 * h, h)
            linear(p + "attn.qkv", 3 * h, h)
            shapes[p + "attn.norm.query_norm.scale"] = (hd,)
            shapes[p + "attn.norm.key_norm.scale"] = (hd,)
            linear(p + "attn.proj", h, h)
            linear(p + "mlp.0", mlp, h)
            linear(p + "mlp.2", h, mlp)
    for i in range(SINGLE):
        p = f"single_blocks.{i}."
        linear(p + "linear1", 3 * h + mlp, h)
        linear(p + "linear2", h, h + mlp)
        shapes[p + "norm.query_norm.scale"] = (hd,)
        shapes[p + "norm.key_norm.scale"] = (hd,)
        linear(p + "modulation.lin", 3 * h, h)
    linear("final_layer.adaLN_modulation.1", 2 * h, h)
    linear("final_layer.linear", IN_CHANNELS, h)
    out = {}
    for name, shape in shapes.items():
        t = torch.randn(shape, generator=gen)
        if name.endswith("scale"):
            t = 1 + 0.2 * t
        elif len(shape) == 1:
            t = 0.1 * t
        else:
            t = t / shape[1] ** 0.5
        out[name] = t.to(torch.bfloat16).contiguous()
    return out


def flux_to_diffusers(sd):
    """FLUX.1 keys -> FluxTransformer2DModel keys (the split of fused projections as diffusers does it)."""
    h, mlp = HIDDEN, int(HIDDEN * MLP_RATIO)
    d = {}
    for src, dst in (("time_in", "time_text_embed.timestep_embedder"), ("vector_in", "time_text_embed.text_embedder"),
                     ("guidance_in", "time_text_embed.guidance_embedder")):
        for a, b in (("in_layer", "linear_1"), ("out_layer", "linear_2")):
            for k in ("weight", "bias"):
                d[f"{dst}.{b}.{k}"] = sd[f"{src}.{a}.{k}"]
    for k in ("weight", "bias"):
        d["context_embedder." + k] = sd["txt_in." + k]
        d["x_embedder." + k] = sd["img_in." + k]
        d["proj_out." + k] = sd["final_layer.linear." + k]
        shift, scale = sd["final_layer.adaLN_modulation.1." + k].chunk(2, dim=0)
        d["norm_out.linear." + k] = torch.cat([scale, shift], dim=0)
    for i in range(DEPTH):
        p, q = f"double_blocks.{i}.", f"transformer_blocks.{i}."
        for k in ("weight", "bias"):
            d[q + "norm1.linear." + k] = sd[p + "img_mod.lin." + k]
            d[q + "norm1_context.linear." + k] = sd[p + "txt_mod.lin." + k]
            for name, t in zip(("to_q", "to_k", "to_v"), sd[p + "img_attn.qkv." + k].chunk(3, dim=0)):
                d[q + "attn." + name + "." + k] = t.clone()
            for name, t in zip(("add_q_proj", "add_k_proj", "add_v_proj"), sd[p + "txt_attn.qkv." + k].chunk(3, dim=0)):
                d[q + "attn." + name + "." + k] = t.clone()
            d[q + "ff.net.0.proj." + k] = sd[p + "img_mlp.0." + k]
            d[q + "ff.net.2." + k] = sd[p + "img_mlp.2." + k]
            d[q + "ff_context.net.0.proj." + k] = sd[p + "txt_mlp.0." + k]
            d[q + "ff_context.net.2." + k] = sd[p + "txt_mlp.2." + k]
            d[q + "attn.to_out.0." + k] = sd[p + "img_attn.proj." + k]
            d[q + "attn.to_add_out." + k] = sd[p + "txt_attn.proj." + k]
        d[q + "attn.norm_q.weight"] = sd[p + "img_attn.norm.query_norm.scale"]
        d[q + "attn.norm_k.weight"] = sd[p + "img_attn.norm.key_norm.scale"]
        d[q + "attn.norm_added_q.weight"] = sd[p + "txt_attn.norm.query_norm.scale"]
        d[q + "attn.norm_added_k.weight"] = sd[p + "txt_attn.norm.key_norm.scale"]
    for i in range(SINGLE):
        p, q = f"single_blocks.{i}.", f"single_transformer_blocks.{i}."
        for k in ("weight", "bias"):
            d[q + "norm.linear." + k] = sd[p + "modulation.lin." + k]
            parts = torch.split(sd[p + "linear1." + k], [h, h, h, mlp], dim=0)
            for name, t in zip(("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"), parts):
                d[q + name + "." + k] = t.clone()
            d[q + "proj_out." + k] = sd[p + "linear2." + k]
        d[q + "attn.norm_q.weight"] = sd[p + "norm.query_norm.scale"]
        d[q + "attn.norm_k.weight"] = sd[p + "norm.key_norm.scale"]
    assert sum(t.numel() for t in d.values()) == sum(t.numel() for t in sd.values())
    return {k: v.contiguous() for k, v in d.items()}


def ae_tensors(gen):
    """The autoencoder's parameters under FLUX.1 ae.safetensors key names (bfloat16, to keep the files small)."""
    ch, mult, nres, z = AE["ch"], AE["ch_mult"], AE["num_res_blocks"], AE["z_channels"]
    shapes = {}

    def conv(name, out, inp, k):
        shapes[name + ".weight"] = (out, inp, k, k)
        shapes[name + ".bias"] = (out,)

    def norm(name, c):
        shapes[name + ".weight"] = (c,)
        shapes[name + ".bias"] = (c,)

    def resnet(p, cin, cout):
        norm(p + "norm1", cin)
        conv(p + "conv1", cout, cin, 3)
        norm(p + "norm2", cout)
        conv(p + "conv2", cout, cout, 3)
        if cin != cout:
            conv(p + "nin_shortcut", cout, cin, 1)

    def mid(p, c):
        resnet(p + "mid.block_1.", c, c)
        norm(p + "mid.attn_1.norm", c)
        for n in ("q", "k", "v", "proj_out"):
            conv(p + "mid.attn_1." + n, c, c, 1)
        resnet(p + "mid.block_2.", c, c)

    conv("encoder.conv_in", ch, AE["in_channels"], 3)
    in_mult = [1] + mult
    block_in = ch
    for i in range(len(mult)):
        block_in, block_out = ch * in_mult[i], ch * mult[i]
        for j in range(nres):
            resnet(f"encoder.down.{i}.block.{j}.", block_in, block_out)
            block_in = block_out
        if i != len(mult) - 1:
            conv(f"encoder.down.{i}.downsample.conv", block_in, block_in, 3)
    mid("encoder.", block_in)
    norm("encoder.norm_out", block_in)
    conv("encoder.conv_out", 2 * z, block_in, 3)
    block_in = ch * mult[-1]
    conv("decoder.conv_in", block_in, z, 3)
    mid("decoder.", block_in)
    for i in reversed(range(len(mult))):
        block_out = ch * mult[i]
        for j in range(nres + 1):
            resnet(f"decoder.up.{i}.block.{j}.", block_in, block_out)
            block_in = block_out
        if i != 0:
            conv(f"decoder.up.{i}.upsample.conv", block_in, block_in, 3)
    norm("decoder.norm_out", block_in)
    conv("decoder.conv_out", AE["out_ch"], block_in, 3)
    out = {}
    for name, shape in shapes.items():
        t = torch.randn(shape, generator=gen)
        if len(shape) == 1:
            t = (1 + 0.1 * t) if "norm" in name and name.endswith("weight") else 0.05 * t
        else:
            t = t / (shape[1] * shape[2] * shape[3]) ** 0.5
        out[name] = t.to(torch.bfloat16).contiguous()
    return out


def ae_to_diffusers(sd):
    """FLUX.1 autoencoder keys -> AutoencoderKL keys."""
    levels = len(AE["ch_mult"])
    d = {}
    for k, t in sd.items():
        n = k
        n = re.sub(r"^encoder\.down\.(\d+)\.block\.(\d+)\.", r"encoder.down_blocks.\1.resnets.\2.", n)
        n = re.sub(r"^encoder\.down\.(\d+)\.downsample\.", r"encoder.down_blocks.\1.downsamplers.0.", n)
        m = re.match(r"^decoder\.up\.(\d+)\.(block\.(\d+)|upsample)\.(.*)$", n)
        if m:
            up = levels - 1 - int(m.group(1))
            inner = f"resnets.{m.group(3)}" if m.group(3) is not None else "upsamplers.0"
            n = f"decoder.up_blocks.{up}.{inner}.{m.group(4)}"
        n = n.replace(".mid.block_1.", ".mid_block.resnets.0.").replace(".mid.block_2.", ".mid_block.resnets.1.")
        n = n.replace(".nin_shortcut.", ".conv_shortcut.").replace(".norm_out.", ".conv_norm_out.")
        m = re.match(r"^(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.(weight|bias)$", n)
        if m:
            name = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}[m.group(2)]
            n = f"{m.group(1)}.mid_block.attentions.0.{name}.{m.group(3)}"
            if t.dim() == 4:
                t = t[:, :, 0, 0]
        d[n] = t.contiguous()
    assert len(d) == len(sd)
    return d


def save_sharded(tensors, folder, stem, shards=2):
    names = list(tensors)
    per = (len(names) + shards - 1) // shards
    weight_map = {}
    for s in range(shards):
        file = f"{stem}-{s + 1:05d}-of-{shards:05d}.safetensors"
        chunk = {n: tensors[n] for n in names[s * per:(s + 1) * per]}
        save_file(chunk, os.path.join(folder, file), metadata={"format": "pt"})
        weight_map.update({n: file for n in chunk})
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    with open(os.path.join(folder, f"{stem}.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def dump(obj, path):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(20250607)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    dif, single = OUT, OUT.rstrip("/") + "-single"
    for sub in ("scheduler", "transformer", "text_encoder", "text_encoder_2", "tokenizer", "vae"):
        os.makedirs(os.path.join(dif, sub))
    os.makedirs(single)

    vocab = write_clip_tokenizer(os.path.join(dif, "tokenizer"))
    shutil.copytree(T5_TOKENIZER, os.path.join(dif, "tokenizer_2"), ignore=shutil.ignore_patterns("spiece.model"))
    t5_vocab = len(json.load(open(os.path.join(T5_TOKENIZER, "tokenizer.json")))["model"]["vocab"])

    clip_cfg = CLIPTextConfig(vocab_size=len(vocab), hidden_size=CLIP_WIDTH, intermediate_size=2 * CLIP_WIDTH, num_hidden_layers=2,
                              num_attention_heads=1, max_position_embeddings=77, hidden_act="quick_gelu",
                              bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"], pad_token_id=1)
    clip = CLIPTextModel(clip_cfg)
    t5_cfg = T5Config(vocab_size=t5_vocab, d_model=T5_WIDTH, d_kv=8, d_ff=2 * T5_WIDTH, num_layers=2, num_heads=4,
                      relative_attention_num_buckets=32, relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
                      is_encoder_decoder=False, use_cache=False, tie_word_embeddings=True)
    t5 = T5EncoderModel(t5_cfg)
    with torch.no_grad():
        for m in (clip, t5):
            for n, p in m.named_parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * (0.3 if p.dim() == 1 else 0.1))
                if "layer_norm" in n and n.endswith("weight"):
                    p.add_(1.0)
    clip.save_pretrained(os.path.join(dif, "text_encoder"))
    t5.save_pretrained(os.path.join(dif, "text_encoder_2"))
    clip_sd = {k if k.startswith("text_model.") else "text_model." + k: v.contiguous() for k, v in clip.state_dict().items()
               if not k.endswith("position_ids")}
    save_file(clip_sd, os.path.join(single, "clip_l.safetensors"))
    t5_sd = {k: v.contiguous() for k, v in t5.state_dict().items() if k != "encoder.embed_tokens.weight"}
    save_file(t5_sd, os.path.join(single, "t5xxl.safetensors"))

    flux = flux_tensors(gen, CLIP_WIDTH, T5_WIDTH)
    save_file(flux, os.path.join(single, "flux1-tiny.safetensors"))
    save_sharded(flux_to_diffusers(flux), os.path.join(dif, "transformer"), "diffusion_pytorch_model")
    dump({"_class_name": "FluxTransformer2DModel", "_diffusers_version": "0.30.0", "attention_head_dim": HIDDEN // HEADS,
          "axes_dims_rope": AXES, "guidance_embeds": True, "in_channels": IN_CHANNELS, "joint_attention_dim": T5_WIDTH,
          "num_attention_heads": HEADS, "num_layers": DEPTH, "num_single_layers": SINGLE, "out_channels": None, "patch_size": 1,
          "pooled_projection_dim": CLIP_WIDTH}, os.path.join(dif, "transformer", "config.json"))

    ae = ae_tensors(gen)
    save_file(ae, os.path.join(single, "ae.safetensors"))
    save_file(ae_to_diffusers(ae), os.path.join(dif, "vae", "diffusion_pytorch_model.safetensors"))
    dump({"_class_name": "AutoencoderKL", "_diffusers_version": "0.30.0", "act_fn": "silu",
          "block_out_channels": [AE["ch"] * m for m in AE["ch_mult"]], "down_block_types": ["DownEncoderBlock2D"] * len(AE["ch_mult"]),
          "force_upcast": True, "in_channels": AE["in_channels"], "latent_channels": AE["z_channels"], "latents_mean": None,
          "latents_std": None, "layers_per_block": AE["num_res_blocks"], "mid_block_add_attention": True, "norm_num_groups": 32,
          "out_channels": AE["out_ch"], "sample_size": AE["resolution"], "scaling_factor": AE["scale_factor"],
          "shift_factor": AE["shift_factor"], "up_block_types": ["UpDecoderBlock2D"] * len(AE["ch_mult"]),
          "use_post_quant_conv": False, "use_quant_conv": False}, os.path.join(dif, "vae", "config.json"))

    dump({"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.30.0", "base_image_seq_len": 256,
          "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000, "shift": 3.0,
          "use_dynamic_shifting": True}, os.path.join(dif, "scheduler", "scheduler_config.json"))
    dump({"_class_name": "FluxPipeline", "_diffusers_version": "0.30.0",
          "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
          "text_encoder_2": ["transformers", "T5EncoderModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
          "tokenizer_2": ["transformers", "T5TokenizerFast"], "transformer": ["diffusers", "FluxTransformer2DModel"],
          "vae": ["diffusers", "AutoencoderKL"]}, os.path.join(dif, "model_index.json"))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
