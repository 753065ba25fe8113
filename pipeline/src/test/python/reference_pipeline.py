#!/usr/bin/env python3
"""The PyTorch reference of prompt -> image (org.untwist.pipeline.PromptToImage) on the tiny random pipeline, for
src/test/java/org/untwist/EndToEndTest.java.

    python3 pipeline/src/test/python/reference_pipeline.py [--write-reference-png]

Reads, from the repository root:
  testdata/flux-pipeline-tiny/       tokenizer/ (CLIPTokenizer), tokenizer_2/ (the T5 tokenizer as transformers
                                     loads it), text_encoder/ (CLIPTextModel), text_encoder_2/ (T5EncoderModel)
  testdata/flux-pipeline-tiny-single/flux1-tiny.safetensors   the transformer, run by train/flux.py (the project's
                                     PyTorch FLUX in BFL's layout, checked against BFL's golden tensors)
  testdata/flux-pipeline-tiny-single/ae.safetensors           the autoencoder, run by the model of
                                     make_autoencoder_cases.py (checked against BFL's golden)
  testdata/e2e/reference.png         the style reference, already at the output size (no resize)
  testdata/e2e/noise.safetensors     "noise" [2, tokens, 64]: the starting noise of the reference row (seed 11) and
                                     of the target (seed 7), written by EndToEndTest from org.untwist.sampling.GaussianNoise
and writes testdata/e2e/expected.safetensors: the decoded target (before clamping) for each mode, "none" and
"full" [1, 3, H, W], and "timesteps", with the case in the metadata. --write-reference-png first (re)writes the
reference PNG (a deterministic pattern, written with zlib since PIL is missing here).

The computation, in float32, BFL's (flux.sampling, flux.cli) with the reference row of style-aligned sampling:
  txt = T5 last_hidden_state of the prompts padded to 512 tokens, y = CLIP pooler_output (77 tokens), txt_ids 0,
  img_ids (0, row, col); x0 = pack(ae.encode(reference / 127.5 - 1)); BFL's get_schedule(steps, tokens, shift=True);
  for each step: row 0 = (1 - t_curr) * x0 + t_curr * noise[0]; pred = flux(...); img = img + (t_prev - t_curr) * pred;
  the target row unpacked and decoded.
Mode "full" (SharingMode.FULL with SharingPlan.defaults: every double and single block, every step, chunk scale 1):
in each attention, after RoPE, the reference row attends to itself only, and each target's queries attend to its
own keys (text and image) plus the reference's image keys and values (tokens after the 512 text tokens), in one
softmax (FluxModel.attend, Backend.sharedAttention).
"""
import math
import os
import struct
import sys
import zlib

import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "train"))
sys.path.insert(0, HERE)
import flux as fluxmod  # noqa: E402  train/flux.py
from make_autoencoder_cases import AutoEncoder, pack  # noqa: E402

PIPE = os.path.join(ROOT, "testdata", "flux-pipeline-tiny")
SINGLE = os.path.join(ROOT, "testdata", "flux-pipeline-tiny-single")
CASE = os.path.join(ROOT, "testdata", "e2e")

# The case (EndToEndTest has the same values).
PROMPT = "a watercolor painting of a mountain lake at sunrise"
REFERENCE_PROMPT = "a photo of a cat sitting on a red chair"
WIDTH, HEIGHT, STEPS, GUIDANCE = 64, 48, 2, 3.5
T5_LENGTH, CLIP_LENGTH = 512, 77  # FLUX.1 [dev] (guidance embedding): 512 T5 tokens

AE = dict(resolution=256, in_channels=3, ch=32, out_ch=3, ch_mult=[1, 2], num_res_blocks=1, z_channels=16,
          scale_factor=0.3611, shift_factor=0.1159)  # make_tiny_pipeline.py's
FLUX = fluxmod.FluxParams(in_channels=64, out_channels=64, vec_in_dim=64, context_in_dim=32, hidden_size=64, mlp_ratio=4.0,
                          num_heads=4, depth=2, depth_single_blocks=2, axes_dim=[2, 6, 8], theta=10_000, qkv_bias=True,
                          guidance_embed=True)


# --- PNG without PIL (8-bit RGB, filter 0) --------------------------------------------------------------------
def write_png(path, rgb):
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + bytes(rgb[y].reshape(-1).tolist()) for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def read_png(path):
    """Reads the PNGs write_png writes (8-bit RGB, non-interlaced; every filter type handled)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h = 8, b"", None, None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color == 2 and interlace == 0, (depth, color, interlace)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(idat), 3 * w, [], bytearray(3 * w)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a, b, c = (line[i - 3] if i >= 3 else 0), prev[i], (prev[i - 3] if i >= 3 else 0)
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return torch.tensor(list(b"".join(rows)), dtype=torch.uint8).reshape(h, w, 3)


def reference_pattern():
    """A deterministic picture: colour gradients, a disc and some grain."""
    gen = torch.Generator().manual_seed(5)
    y = torch.arange(HEIGHT, dtype=torch.float32)[:, None].expand(HEIGHT, WIDTH)
    x = torch.arange(WIDTH, dtype=torch.float32)[None, :].expand(HEIGHT, WIDTH)
    disc = (((x - 40) ** 2 + (y - 20) ** 2) < 14 ** 2).float()
    r = 200 * x / WIDTH + 40 * disc
    g = 180 * y / HEIGHT + 30 * torch.sin(x / 5)
    b = 120 + 100 * disc - 60 * y / HEIGHT
    rgb = torch.stack([r, g, b], -1) + 12 * torch.randn(HEIGHT, WIDTH, 3, generator=gen)
    return rgb.round().clamp(0, 255).to(torch.uint8)


# --- BFL's schedule (flux.sampling.get_schedule) ---------------------------------------------------------------
def time_shift(mu, sigma, t):
    return math.exp(mu) / (math.exp(mu) + (1 / t - 1) ** sigma)


def get_lin_function(x1=256, y1=0.5, x2=4096, y2=1.15):
    m = (y2 - y1) / (x2 - x1)
    b = y1 - m * x1
    return lambda x: m * x + b


def get_schedule(num_steps, image_seq_len, base_shift=0.5, max_shift=1.15, shift=True):
    timesteps = torch.linspace(1, 0, num_steps + 1)
    if shift:
        mu = get_lin_function(y1=base_shift, y2=max_shift)(image_seq_len)
        timesteps = time_shift(mu, 1.0, timesteps)
    return timesteps.tolist()


def unpack(x, h, w):
    """flux.sampling.unpack on a latent grid h x w: b (h w) (c ph pw) -> b c (h ph) (w pw)."""
    b, _, d = x.shape
    c = d // 4
    return x.reshape(b, h // 2, w // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


# --- shared attention ------------------------------------------------------------------------------------------
class Sharing:
    """Replaces train/flux.py's attention: plain, or FULL sharing (reference = row 0) with text length lt."""

    def __init__(self):
        self.mode, self.lt = "none", 0
        self.plain = fluxmod.attention

    def __call__(self, q, k, v, pe):
        if self.mode == "none":
            return self.plain(q, k, v, pe)
        q, k = fluxmod.apply_rope(q, k, pe)
        scale = 1 / math.sqrt(q.shape[-1])
        outs = []
        for i in range(q.shape[0]):
            qi, ki, vi = q[i], k[i], v[i]  # [H, L, D]
            if i > 0:  # a target: its own keys plus the reference's image keys, one softmax
                ki = torch.cat((ki, k[0, :, self.lt:]), 1)
                vi = torch.cat((vi, v[0, :, self.lt:]), 1)
            w = torch.softmax((qi @ ki.transpose(-2, -1)) * scale, dim=-1)
            outs.append(w @ vi)
        x = torch.stack(outs)
        b, h, l, d = x.shape
        return x.transpose(1, 2).reshape(b, l, h * d)


def main():
    # Here rather than at the top: kernels/bench/pipeline_peer.py imports this file's PNG, schedule and packing
    # functions on machines without transformers.
    from transformers import AutoTokenizer, CLIPTextModel, CLIPTokenizer, T5EncoderModel
    torch.set_grad_enabled(False)
    os.makedirs(CASE, exist_ok=True)
    png = os.path.join(CASE, "reference.png")
    if "--write-reference-png" in sys.argv:
        write_png(png, reference_pattern())
        print("wrote", png)
        return
    prompts = [REFERENCE_PROMPT, PROMPT]  # row 0: the reference, then the target

    t5_tok = AutoTokenizer.from_pretrained(os.path.join(PIPE, "tokenizer_2"))
    clip_tok = CLIPTokenizer.from_pretrained(os.path.join(PIPE, "tokenizer"))
    t5_ids = t5_tok(prompts, truncation=True, max_length=T5_LENGTH, padding="max_length", return_tensors="pt")["input_ids"]
    clip_ids = clip_tok(prompts, truncation=True, max_length=CLIP_LENGTH, padding="max_length", return_tensors="pt")["input_ids"]
    t5 = T5EncoderModel.from_pretrained(os.path.join(PIPE, "text_encoder_2"), dtype=torch.float32).eval()
    clip = CLIPTextModel.from_pretrained(os.path.join(PIPE, "text_encoder"), dtype=torch.float32).eval()
    txt = t5(input_ids=t5_ids, attention_mask=None, output_hidden_states=False).last_hidden_state.float()
    y = clip(input_ids=clip_ids, attention_mask=None, output_hidden_states=False).pooler_output.float()
    print("t5 ids", t5_ids[:, :16].tolist(), "clip ids", clip_ids[:, :16].tolist())

    ae = AutoEncoder(AE)
    ae.load_state_dict({k: v.float() for k, v in load_file(os.path.join(SINGLE, "ae.safetensors")).items()}, strict=True)
    ae.eval()
    model = fluxmod.Flux(FLUX)
    model.load_state_dict({k: v.float() for k, v in load_file(os.path.join(SINGLE, "flux1-tiny.safetensors")).items()}, strict=True)
    model.eval()
    sharing = Sharing()
    fluxmod.attention = sharing  # the blocks call the module's attention

    pixels = read_png(png)
    assert tuple(pixels.shape) == (HEIGHT, WIDTH, 3)
    x = pixels.permute(2, 0, 1)[None].float() / 127.5 - 1
    x0 = pack(ae.encode(x))  # [1, tokens, 64]
    f = 2 ** (len(AE["ch_mult"]) - 1)
    lh, lw = HEIGHT // f, WIDTH // f
    tokens = (lh // 2) * (lw // 2)
    noise = load_file(os.path.join(CASE, "noise.safetensors"))["noise"]
    assert tuple(noise.shape) == (2, tokens, 64), noise.shape

    img_ids = torch.zeros(lh // 2, lw // 2, 3)
    img_ids[..., 1] += torch.arange(lh // 2)[:, None]
    img_ids[..., 2] += torch.arange(lw // 2)[None, :]
    img_ids = img_ids.reshape(1, tokens, 3).repeat(2, 1, 1)
    txt_ids = torch.zeros(2, T5_LENGTH, 3)
    timesteps = get_schedule(STEPS, tokens, shift=True)
    print("timesteps", timesteps)
    guidance = torch.full((2,), GUIDANCE, dtype=torch.float32)

    out = {"timesteps": torch.tensor(timesteps, dtype=torch.float32)}
    for mode in ("none", "full"):
        sharing.mode, sharing.lt = mode, T5_LENGTH
        img = noise.clone()
        eps = noise[0:1].clone()
        for t_curr, t_prev in zip(timesteps[:-1], timesteps[1:]):
            img[0:1] = (1 - t_curr) * x0 + t_curr * eps  # the reference re-noised along the flow-matching path
            t_vec = torch.full((2,), t_curr, dtype=img.dtype)
            pred = model(img=img, img_ids=img_ids, txt=txt, txt_ids=txt_ids, timesteps=t_vec, y=y, guidance=guidance)
            img = img + (t_prev - t_curr) * pred
        decoded = ae.decode(unpack(img[1:], lh, lw))
        out[mode] = decoded.float().contiguous()
        print(f"{mode}: decoded {tuple(decoded.shape)}, RMS {decoded.pow(2).mean().sqrt():.4f}")
    d = (out["none"] - out["full"]).abs().max().item()
    print(f"max |none - full| = {d:.3e} (the sharing must change the target)")
    meta = {"prompt": PROMPT, "reference_prompt": REFERENCE_PROMPT, "size": f"{WIDTH}x{HEIGHT}", "steps": str(STEPS),
            "guidance": str(GUIDANCE), "seeds": "reference 11, target 7", "script": "pipeline/src/test/python/reference_pipeline.py"}
    save_file(out, os.path.join(CASE, "expected.safetensors"), metadata=meta)
    print("wrote", os.path.join(CASE, "expected.safetensors"))


if __name__ == "__main__":
    main()
