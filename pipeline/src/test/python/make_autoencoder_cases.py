"""Reference cases for the Java FLUX autoencoder beyond the golden ae-tiny-f32: three and four levels, two
residual blocks per level, more channels, batch 2, non-square images, BF16 and F16 weights.

The model below is this project's own PyTorch code written from the architecture of the reference
(`flux.modules.autoencoder.AutoEncoder` of Black Forest Labs, which cannot be installed here): the same module
names, so its state dict has the real checkpoints' keys. Checked against the golden case first (the script
asserts it and prints the numbers): on testdata/golden/ae-tiny-f32's weights and inputs it reproduces the golden
`packed` exactly and `encoded` / `decoded` to 4.1e-6 / 3.0e-6 of each output's RMS in float32, and to 3.9e-6 /
2.8e-6 in float64. The float64 run is as far from the golden as the float32 run: what remains is the golden's own
float32 rounding (the golden `encoded` has a small RMS, 0.13), not a difference of architecture, which would show
as errors of order 1. The assertion bound is 2e-5.

Weights stored in a narrow type are the reference's weights: the model computes with the stored values widened,
as untwist does. Outputs are computed in float64 (stored as float32) so that the reference's own float32
rounding does not eat the tests' tolerance; the script prints how far a float32 run is from them.

Each case folder holds config.json (AutoEncoderParams + weight_dtype), weights.safetensors, inputs.safetensors
(x [B, 3, H, W] in [-1, 1], z [B, z_channels, H/f, W/f]) and outputs.safetensors (encoded = encode(x) with the
mean, scaled and shifted; decoded = decode(z); packed = z as [B, h/2*w/2, 4*C] tokens, flux.sampling.prepare).

Run from the repository root (needs torch, safetensors):
    python3 pipeline/src/test/python/make_autoencoder_cases.py testdata/autoencoder-cases
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F


def norm(c):
    return nn.GroupNorm(32, c, eps=1e-6, affine=True)


def swish(x):
    return x * torch.sigmoid(x)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1, self.conv1 = norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = cin != cout
        if self.shortcut:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        return (self.nin_shortcut(x) if self.shortcut else x) + h


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = norm(c)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        b, c, hh, ww = x.shape
        n = self.norm(x)
        tokens = lambda t: t.reshape(b, c, hh * ww).transpose(1, 2)  # [B, hw, C]
        q, k, v = tokens(self.q(n)), tokens(self.k(n)), tokens(self.v(n))
        a = torch.softmax(q @ k.transpose(1, 2) / c ** 0.5, dim=-1) @ v
        return x + self.proj_out(a.transpose(1, 2).reshape(b, c, hh, ww))


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Mid(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block_1, self.attn_1, self.block_2 = ResnetBlock(c, c), AttnBlock(c), ResnetBlock(c, c)

    def forward(self, x):
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    def __init__(self, p):
        super().__init__()
        ch, mult = p["ch"], p["ch_mult"]
        self.conv_in = nn.Conv2d(p["in_channels"], ch, 3, padding=1)
        self.down = nn.ModuleList()
        cin = ch
        for i, m in enumerate(mult):
            level = nn.Module()
            level.block = nn.ModuleList()
            for _ in range(p["num_res_blocks"]):
                level.block.append(ResnetBlock(cin, ch * m))
                cin = ch * m
            if i != len(mult) - 1:
                level.downsample = Downsample(cin)
            self.down.append(level)
        self.mid = Mid(cin)
        self.norm_out = norm(cin)
        self.conv_out = nn.Conv2d(cin, 2 * p["z_channels"], 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for level in self.down:
            for block in level.block:
                h = block(h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        return self.conv_out(swish(self.norm_out(self.mid(h))))


class Decoder(nn.Module):
    def __init__(self, p):
        super().__init__()
        ch, mult = p["ch"], p["ch_mult"]
        cin = ch * mult[-1]
        self.conv_in = nn.Conv2d(p["z_channels"], cin, 3, padding=1)
        self.mid = Mid(cin)
        levels = []
        for i in reversed(range(len(mult))):
            level = nn.Module()
            level.block = nn.ModuleList()
            for _ in range(p["num_res_blocks"] + 1):
                level.block.append(ResnetBlock(cin, ch * mult[i]))
                cin = ch * mult[i]
            if i != 0:
                level.upsample = Upsample(cin)
            levels.insert(0, level)
        self.up = nn.ModuleList(levels)
        self.norm_out = norm(cin)
        self.conv_out = nn.Conv2d(cin, p["out_ch"], 3, padding=1)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            for block in level.block:
                h = block(h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


class AutoEncoder(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p
        self.encoder, self.decoder = Encoder(p), Decoder(p)

    def encode(self, x):
        mean = self.encoder(x)[:, : self.p["z_channels"]]
        return self.p["scale_factor"] * (mean - self.p["shift_factor"])

    def decode(self, z):
        return self.decoder(z / self.p["scale_factor"] + self.p["shift_factor"])


def pack(z):
    """flux.sampling.prepare: b c (h ph) (w pw) -> b (h w) (c ph pw)."""
    b, c, h, w = z.shape
    return z.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // 2) * (w // 2), 4 * c)


def params_of(config):
    return {k: config[k] for k in ("resolution", "in_channels", "ch", "out_ch", "ch_mult", "num_res_blocks", "z_channels",
                                   "scale_factor", "shift_factor")}


def rel(a, b):
    return ((a - b).abs().max() / b.pow(2).mean().sqrt()).item()


def check_golden(folder):
    config = json.load(open(os.path.join(folder, "config.json")))
    model = AutoEncoder(params_of(config))
    missing, unexpected = model.load_state_dict(load_file(os.path.join(folder, "weights.safetensors")), strict=True)
    inputs = load_file(os.path.join(folder, "inputs.safetensors"))
    expected = load_file(os.path.join(folder, "outputs.safetensors"))
    with torch.no_grad():
        for precision in (torch.float32, torch.float64):
            model.to(precision)
            got = {"encoded": model.encode(inputs["x"].to(precision)), "decoded": model.decode(inputs["z"].to(precision)),
                   "packed": pack(inputs["z"])}
            for name, t in got.items():
                e = rel(t.float(), expected[name])
                print(f"golden {os.path.basename(folder)} {name} ({precision}): max |diff| / RMS = {e:.2e}")
                assert e < 2e-5, name


def randomize_(model, gen):
    """Default conv init, plus non-trivial GroupNorm affines and biases (the defaults are 1 and 0)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}


def make_case(out_root, name, p, weight_dtype, batch, height, width, seed):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = AutoEncoder(p)
    randomize_(model, gen)
    stored = {k: v.detach().to(DTYPES[weight_dtype]).contiguous() for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.to(torch.float32) for k, v in stored.items()})
    f = 2 ** (len(p["ch_mult"]) - 1)
    x = (torch.rand(batch, p["in_channels"], height, width, generator=gen) * 2 - 1)
    z = torch.randn(batch, p["z_channels"], height // f, width // f, generator=gen)
    with torch.no_grad():
        enc32, dec32 = model.encode(x), model.decode(z)
        model.double()
        enc, dec = model.encode(x.double()).float(), model.decode(z.double()).float()
    print(f"{name}: float32 vs float64 run: encoded {rel(enc32, enc):.2e}, decoded {rel(dec32, dec):.2e} of the RMS; "
          f"RMS encoded {enc.pow(2).mean().sqrt():.3f}, decoded {dec.pow(2).mean().sqrt():.3f}")
    folder = os.path.join(out_root, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as fh:
        json.dump({**p, "weight_dtype": weight_dtype}, fh, indent=1)
    save_file(stored, os.path.join(folder, "weights.safetensors"))
    save_file({"x": x.contiguous(), "z": z.contiguous()}, os.path.join(folder, "inputs.safetensors"))
    save_file({"encoded": enc.contiguous(), "decoded": dec.contiguous(), "packed": pack(z).contiguous()},
              os.path.join(folder, "outputs.safetensors"))


if __name__ == "__main__":
    torch.backends.cuda.matmul.allow_tf32 = False
    out_root = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    check_golden(os.path.join(here, "..", "..", "..", "..", "testdata", "golden", "ae-tiny-f32"))
    flux = {"resolution": 256, "in_channels": 3, "out_ch": 3, "scale_factor": 0.3611, "shift_factor": 0.1159}
    # (kept small, a few MB: the size is in the 3x3 convolutions of the widest levels)
    # three levels, two residual blocks per level, a 16-channel latent as FLUX.1's; batch 2, 24 x 40
    make_case(out_root, "ae-3level-bf16", {**flux, "ch": 32, "ch_mult": [1, 2, 2], "num_res_blocks": 2, "z_channels": 16},
              "bf16", 2, 24, 40, 1)
    # four levels (factor 8), 96 channels at the bottom (3 channels per group), F16 weights, another scale and a
    # negative shift; batch 2, 32 x 48 (latent 4 x 6)
    make_case(out_root, "ae-4level-f16", {**flux, "ch": 32, "ch_mult": [1, 2, 2, 3], "num_res_blocks": 1, "z_channels": 8,
                                          "scale_factor": 0.5, "shift_factor": -0.25},
              "f16", 2, 32, 48, 2)
