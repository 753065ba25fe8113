"""Trains the demo model: a small FLUX-architecture transformer (flux.py, the reference layout) on glyph
images (glyphs.py: a font's glyph of a character with a random style), conditioned on the character
through a tiny text encoder of its own (one token per prompt, a table of embeddings), with FLUX's
rectified-flow objective. Writes a model folder that untwist loads like a FLUX.1 checkpoint.

    python3 train.py --atlas glyphs.safetensors --out ../models/glyphs-flux --minutes 6      # GPU
    python3 train.py --atlas glyphs.safetensors --out /tmp/m --device cpu --max-steps 20     # CPU, slowly

Everything random comes from --seed (model init, batches, the held-out fonts, the reference set)."""
import argparse
import copy
import json
import math
import os
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import flux
import glyphs
import st


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--atlas", required=True, help="glyph atlas from `untwist glyphs`")
    p.add_argument("--out", required=True, help="model folder to write")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=20261129)
    p.add_argument("--minutes", type=float, default=6.0, help="training time budget")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: time budget only)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--hidden", type=int, default=192)
    p.add_argument("--heads", type=int, default=3)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--single", type=int, default=3)
    p.add_argument("--text-dim", type=int, default=32)
    p.add_argument("--heldout-fonts", type=int, default=16, help="fonts never trained on (the references' fonts)")
    p.add_argument("--references", type=int, default=40)
    p.add_argument("--ema", type=float, default=0.999)
    return p.parse_args()


def time_shift(t, mu=0.5):
    """FLUX's schedule shift at 256 image tokens (mu = 0.5), applied to training times as well."""
    e = math.exp(mu)
    return e * t / (1 + (e - 1) * t)


def flux_schedule(steps, mu=0.5):
    t = torch.linspace(1, 0, steps + 1)
    return [float(time_shift(x, mu)) if 0 < x < 1 else float(x) for x in t]


class TextEncoder(nn.Module):
    """One token per prompt (the character); txt [B, 1, text_dim] and the pooled vector y [B, text_dim]."""

    def __init__(self, vocab, dim):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, dim)
        self.pooled_embedding = nn.Embedding(vocab, dim)
        nn.init.normal_(self.token_embedding.weight, std=1.0)
        nn.init.normal_(self.pooled_embedding.weight, std=1.0)

    def forward(self, chars):
        return self.token_embedding(chars)[:, None, :], self.pooled_embedding(chars)


def write_png(path, img):
    """img float [H, W, 3] in [0, 1]."""
    img = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    h, w = img.shape[:2]
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


@torch.no_grad()
def sample(model, text, chars, size, steps, gen, device):
    n = chars.shape[0]
    grid = (size // 2) ** 2
    x = torch.randn(n, grid, 12, generator=gen, device=device)
    ids = glyphs.image_ids(size, size, device).expand(n, -1, -1)
    txt, y = text(chars)
    txt_ids = torch.zeros(n, 1, 3, device=device)
    ts = flux_schedule(steps)
    for i in range(steps):
        t = torch.full((n,), ts[i], device=device)
        x = x + (ts[i + 1] - ts[i]) * model(x, ids, txt, txt_ids, t, y)
    return glyphs.unpack(x, size, size)


def main():
    a = parse_args()
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    atlas_np, meta = st.read(a.atlas)
    masks = torch.from_numpy(atlas_np["masks"].astype(np.float32)).to(dev)       # [F, C, S, S]
    characters = meta["characters"]
    fonts = json.loads(meta["fonts"])
    n_fonts, n_chars, size, _ = masks.shape
    perm = torch.randperm(n_fonts, generator=torch.Generator().manual_seed(a.seed)).tolist()
    heldout = sorted(perm[:a.heldout_fonts])
    train_fonts = torch.tensor(sorted(perm[a.heldout_fonts:]), device=dev)
    print(f"atlas: {n_fonts} fonts x {n_chars} characters x {size}^2; training on {len(train_fonts)} fonts, "
          f"{len(heldout)} held out; device {dev}; seed {a.seed}", flush=True)

    params = flux.FluxParams(in_channels=12, out_channels=12, vec_in_dim=a.text_dim, context_in_dim=a.text_dim,
                             hidden_size=a.hidden, mlp_ratio=4.0, num_heads=a.heads, depth=a.depth,
                             depth_single_blocks=a.single, axes_dim=[8, 28, 28] if a.hidden // a.heads == 64 else None,
                             theta=10000, qkv_bias=True, guidance_embed=False)
    if params.axes_dim is None:
        hd = a.hidden // a.heads
        sp = (hd - hd // 8) // 2 // 2 * 2
        params.axes_dim = [hd - 2 * sp, sp, sp]
    model = flux.Flux(params).to(dev)
    text = TextEncoder(n_chars, a.text_dim).to(dev)
    ema_model, ema_text = copy.deepcopy(model).eval(), copy.deepcopy(text).eval()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params / 1e6:.2f} M parameters, config {params}", flush=True)
    opt = torch.optim.AdamW(list(model.parameters()) + list(text.parameters()), lr=a.lr, betas=(0.9, 0.99), weight_decay=0.01)
    gen = torch.Generator(device=dev).manual_seed(a.seed)
    ids = glyphs.image_ids(size, size, dev).expand(a.batch, -1, -1)
    txt_ids = torch.zeros(a.batch, 1, 3, device=dev)
    amp = dev.type == "cuda"
    start, step, losses = time.time(), 0, []
    budget = a.minutes * 60
    while True:
        elapsed = time.time() - start
        if (a.max_steps and step >= a.max_steps) or (not a.max_steps and elapsed >= budget):
            break
        frac = elapsed / budget if not a.max_steps else step / a.max_steps
        lr = a.lr * min(1.0, (step + 1) / 300) * (0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, (frac - 0.6) / 0.4)))))
        for g in opt.param_groups:
            g["lr"] = lr
        c = torch.randint(0, n_chars, (a.batch,), generator=gen, device=dev)
        f = train_fonts[torch.randint(0, len(train_fonts), (a.batch,), generator=gen, device=dev)]
        x0 = glyphs.pack(glyphs.composite(masks[f, c], glyphs.sample_styles(a.batch, gen, dev)))
        t = time_shift(torch.sigmoid(torch.randn(a.batch, generator=gen, device=dev)))
        eps = torch.randn(x0.shape, generator=gen, device=dev)
        xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * eps
        txt, y = text(c)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp):
            pred = model(xt, ids, txt, txt_ids, t, y)
        loss = F.mse_loss(pred.float(), eps - x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(text.parameters()), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(a.ema, (step + 1) / (step + 10))
            for e, p in zip(list(ema_model.parameters()) + list(ema_text.parameters()),
                            list(model.parameters()) + list(text.parameters())):
                e.lerp_(p, 1 - d)
        losses.append(loss.item() if step % 50 == 0 else None)
        if step % 500 == 0:
            print(f"step {step:6d}  t {elapsed:6.1f}s  loss {loss.item():.4f}  lr {lr:.2e}", flush=True)
        step += 1
    train_seconds = time.time() - start
    print(f"trained {step} steps in {train_seconds:.1f} s ({step * a.batch / train_seconds:.0f} images/s)", flush=True)

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = {"in_channels": 12, "out_channels": 12, "vec_in_dim": a.text_dim, "context_in_dim": a.text_dim,
           "hidden_size": a.hidden, "mlp_ratio": 4.0, "num_heads": a.heads, "depth": a.depth,
           "depth_single_blocks": a.single, "axes_dim": params.axes_dim, "theta": 10000, "qkv_bias": True,
           "guidance_embed": False, "weight_dtype": "bf16"}
    (out / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")
    sd = {k: v.detach().float().cpu().numpy() for k, v in ema_model.state_dict().items()}
    st.write(out / "weights.safetensors", sd, {"format": "pt", "producer": "untwist train/train.py"}, bf16=set(sd))
    te = {k: v.detach().float().cpu().numpy() for k, v in ema_text.state_dict().items()}
    st.write(out / "text_encoder.safetensors", te, {"vocabulary": characters, "prompt_tokens": "1",
                                                    "producer": "untwist train/train.py"})

    # The reference set: held-out fonts, characters and styles from the seed, clean tokens.
    rg = torch.Generator(device=dev).manual_seed(a.seed + 1)
    n = a.references
    rc = torch.randint(0, n_chars, (n,), generator=rg, device=dev)
    rf = torch.tensor(heldout, device=dev)[torch.randint(0, len(heldout), (n,), generator=rg, device=dev)]
    rs = glyphs.sample_styles(n, rg, dev)
    rimg = glyphs.composite(masks[rf, rc], rs)
    ref = {"img": glyphs.pack(rimg).cpu().numpy(), "character": rc.float().cpu().numpy(), "font": rf.float().cpu().numpy()}
    for k, v in rs.items():
        ref["style_" + k] = v.float().cpu().numpy()
    st.write(out / "references.safetensors", ref, {"characters": characters, "fonts": json.dumps(fonts),
                                                   "image_size": str(size), "producer": "untwist train/train.py"})

    # Samples of every character from the EMA model (two seeds), to see what training reached.
    sg = torch.Generator(device=dev).manual_seed(a.seed + 2)
    chars = torch.arange(n_chars, device=dev).repeat(2)
    imgs = sample(ema_model, ema_text, chars, size, 20, sg, dev)
    grid = ((imgs + 1) / 2).clamp(0, 1).reshape(2, n_chars, 3, size, size).permute(0, 3, 1, 4, 2)
    write_png(out / "samples.png", grid.reshape(2 * size, n_chars * size, 3).cpu().numpy())

    # Conformance data for the Java loader: the exported (bf16-rounded) weights run in float32 on the CPU.
    check = flux.Flux(params)
    w_np, _ = st.read(out / "weights.safetensors")
    check.load_state_dict({k: torch.from_numpy(v) for k, v in w_np.items()})
    cg = torch.Generator().manual_seed(a.seed + 3)
    cc = torch.tensor([0, n_chars - 1])
    ctext = copy.deepcopy(ema_text).cpu().float()
    with torch.no_grad():
        ctxt, cy = ctext(cc)
        cin = {"img": torch.randn(2, (size // 2) ** 2, 12, generator=cg), "img_ids": glyphs.image_ids(size, size, "cpu").expand(2, -1, -1),
               "txt": ctxt, "txt_ids": torch.zeros(2, 1, 3), "y": cy, "timesteps": torch.tensor([0.9, 0.3])}
        cpred = check(cin["img"], cin["img_ids"], cin["txt"], cin["txt_ids"], cin["timesteps"], cin["y"])
    st.write(out / "conformance.safetensors", {**{k: v.numpy() for k, v in cin.items()}, "pred": cpred.numpy()},
             {"producer": "untwist train/train.py", "about": "inputs and float32 PyTorch prediction of the exported weights"})
    del check

    info = {"args": vars(a), "steps": step, "train_seconds": round(train_seconds, 1), "parameters": n_params,
            "final_loss_mean_last_20_logged": float(np.mean([l for l in losses if l is not None][-20:])),
            "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu", "torch": torch.__version__,
            "train_fonts": [fonts[i] for i in train_fonts.tolist()], "heldout_fonts": [fonts[i] for i in heldout],
            "characters": characters}
    (out / "training.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"wrote {out}: {sorted(p.name for p in out.iterdir())}", flush=True)


if __name__ == "__main__":
    main()
