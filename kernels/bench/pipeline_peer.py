#!/usr/bin/env python3
"""The PyTorch peer of a whole untwist generation (issue 18; driven by kernels/bench/gpu-pipeline.sh): the same
random single files (jmh/peers/make_full_size_pipeline.py), the same token ids (untwist's tokenizers), the same
starting noise (org.untwist.sampling.GaussianNoise, ported below), the same reference image and the same steps as
`untwist generate`, computed by the project's PyTorch models in bf16 (or float32) on the GPU (or the CPU), each
phase timed with a synchronize at both ends:

  T5                   the encoder's weights read to the device, [reference prompt, prompt] at 512 tokens encoded,
                       the weights freed (untwist closes its text encoders before the transformer is loaded)
  CLIP                 likewise, 77 tokens, the pooled output
  autoencoder loading  (untwist loads it outside its phases; listed, not compared)
  reference encoding   the reference PNG through the encoder, packed into tokens
  transformer loading  the FLUX file read to the device
  sampling             the steps at batch 2 (row 0 the reference, re-noised along the schedule every step, row 1 the
                       target) with shared attention; each step's time as well
  decoding             the target's latent through the decoder

Models: train/flux.py (BFL's layout; its attention replaced by SharedAttention below: plain, or the target's queries
over its own keys plus the reference's image keys, scaled per RoPE chunk in mode untwisted, in one SDPA call), the
autoencoder of make_autoencoder_cases.py (its attention block through SDPA, as BFL's), T5 and CLIP from
text_encoders.py (checked against transformers there). The schedule, PNG reading and packing are
reference_pipeline.py's (the PyTorch reference of EndToEndTest). make-bundle.sh copies all of them next to this file.

usage:
  pipeline_peer.py run --weights DIR --ids IDS.json --reference REF.png --width W --height H --steps N
                       [--mode untwisted|full|none] [--seed 7] [--ref-seed 11] [--guidance 3.5] [--device cuda|cpu]
                       [--dtype bf16|f32] --out RESULT.json [--png OUT.png]
  pipeline_peer.py reference-png W H FILE          a deterministic W x H style reference (gradients, discs, grain)
  pipeline_peer.py ids CLIP.txt T5.txt OUT.json    `untwist tokenize` output (one JSON array per line) to one file
  pipeline_peer.py table --untwist LOG... --peer JSON... --out TABLE.md [--images A.png B.png]
  pipeline_peer.py compare A.png B.png [--bound 1] [--fraction 0.005]
                                                   exit status 1 when the images differ by more (see compare)
  pipeline_peer.py check                           on the CPU: the noise port against testdata/e2e/noise.safetensors
                                                   and SharedAttention against reference_pipeline.Sharing
"""
import argparse
import json
import math
import os
import re
import statistics
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
# This folder first (the bundle holds copies of the imported files), then the repository's.
sys.path.extend([os.path.join(ROOT, "train"), os.path.join(ROOT, "pipeline", "src", "test", "python")])
import flux as fluxmod  # noqa: E402
import make_autoencoder_cases as aemod  # noqa: E402
from reference_pipeline import get_schedule, read_png, unpack, write_png  # noqa: E402
from text_encoders import ClipText, T5Encoder  # noqa: E402

T5_LENGTH_DEV, T5_LENGTH_SCHNELL = 512, 256


# --- org.untwist.sampling.GaussianNoise: Box-Muller over java.util.SplittableRandom ------------------------------
def gaussian_noise(seed, count):
    """`count` standard-normal float32 values as GaussianNoise.fill(t, 0, count, seed) writes them."""
    import numpy as np
    n = 2 * count
    with np.errstate(over="ignore"):
        k = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(seed % 2 ** 64) + k * np.uint64(0x9E3779B97F4A7C15)  # SplittableRandom: seed += GOLDEN_GAMMA, then mix64
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    d = (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53  # nextDouble
    u1, u2 = d[0::2], d[1::2]
    return torch.from_numpy((np.sqrt(-2 * np.log(1 - u1)) * np.cos(2 * math.pi * u2)).astype(np.float32))


# --- shared attention (FluxModel.attend, Backend.sharedAttention) ------------------------------------------------
def chunk_scales(axes_dim, tau, s_hf=(0.4, 0.8), s_lf=(1.0, 1.5), beta=2.0):
    """SharingPlan.defaults' untwisted scales at progress tau (BandScale.lerp, chunkScales per axis, axis 0 at s_lf)."""
    hf, lf = s_hf[0] + tau * (s_hf[1] - s_hf[0]), s_lf[0] + tau * (s_lf[1] - s_lf[0])
    s = []
    for a, dim in enumerate(axes_dim):
        n = dim // 2
        for j in range(n):
            s.append(lf if a == 0 else hf + (lf - hf) * (0.0 if n == 1 else j / (n - 1)) ** beta)
    return torch.tensor(s, dtype=torch.float32)


class SharedAttention:
    """Replaces train/flux.py's attention: plain (mode none), or row 0 (the reference) attending to itself and each
    other row's queries attending to its own keys plus the reference's image keys (tokens from `text` on), those
    scaled per RoPE chunk (`scale` [Dh/2], or None for 1), in one SDPA call per group."""

    def __init__(self):
        self.mode, self.text, self.scale = "none", 0, None

    def __call__(self, q, k, v, pe):
        q, k = fluxmod.apply_rope(q, k, pe)
        if self.mode == "none" or q.shape[0] < 2:
            x = F.scaled_dot_product_attention(q, k, v)
        else:
            rk, rv = k[:1, :, self.text:], v[:1, :, self.text:]
            if self.scale is not None:
                rk = rk * self.scale.repeat_interleave(2).to(rk)
            b = q.shape[0] - 1
            kt = torch.cat((k[1:], rk.expand(b, -1, -1, -1)), 2)
            vt = torch.cat((v[1:], rv.expand(b, -1, -1, -1)), 2)
            x = torch.cat((F.scaled_dot_product_attention(q[:1], k[:1], v[:1]), F.scaled_dot_product_attention(q[1:], kt, vt)), 0)
        b, h, l, d = x.shape
        return x.transpose(1, 2).reshape(b, l, h * d)


def _ae_attention(self, x):
    """make_autoencoder_cases.AttnBlock through SDPA (BFL's AttnBlock calls scaled_dot_product_attention)."""
    b, c, hh, ww = x.shape
    n = self.norm(x)
    tokens = lambda t: t.reshape(b, 1, c, hh * ww).transpose(2, 3)  # [B, 1, hw, C]
    a = F.scaled_dot_product_attention(tokens(self.q(n)), tokens(self.k(n)), tokens(self.v(n)))
    return x + self.proj_out(a.transpose(2, 3).reshape(b, c, hh, ww))


aemod.AttnBlock.forward = _ae_attention


# --- loading ----------------------------------------------------------------------------------------------------
def load_module(make, path, device, dtype):
    """The module built on the meta device, its parameters the file's tensors on `device` in `dtype` (fp8 widened)."""
    from safetensors.torch import load_file
    sd = {k: v.to(dtype) for k, v in load_file(path, device=str(device)).items()}
    with torch.device("meta"):
        m = make()
    m.load_state_dict(sd, strict=True, assign=True)
    return m.eval()


class Timer:
    def __init__(self, device):
        self.cuda = device.type == "cuda"
        self.phases = {}

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def time(self, name, fn):
        self.sync()
        t0 = time.perf_counter()
        r = fn()
        self.sync()
        self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - t0
        return r


def free(device):
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run(a):
    wall0 = time.perf_counter()  # the generation's figure includes the device's set-up, as untwist's includes its backend's
    torch.set_grad_enabled(False)
    device = torch.device(a.device)
    dt = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    if dt == torch.float32:  # float32 as untwist's f32 precision computes it: no TF32 in matmuls or cuDNN's convolutions
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    if device.type == "cpu":
        torch.set_num_threads(a.threads or torch.get_num_threads())
        torch.backends.nnpack.set_flags(False)  # (its warnings on CPUs it does not support)
    man = json.load(open(os.path.join(a.weights, "manifest.json")))
    path = lambda part: os.path.join(a.weights, man[part])
    fp = fluxmod.FluxParams(**man["flux_params"])
    ids = json.load(open(a.ids))
    t5_ids = torch.tensor(ids["t5"], dtype=torch.long, device=device)
    clip_ids = torch.tensor(ids["clip"], dtype=torch.long, device=device)
    text = T5_LENGTH_DEV if fp.guidance_embed else T5_LENGTH_SCHNELL
    assert t5_ids.shape == (2, text) and clip_ids.shape[0] == 2, (t5_ids.shape, clip_ids.shape, text)
    timer = Timer(device)

    def t5():
        m = load_module(lambda: T5Encoder(man["t5_config"]), path("t5"), device, dt)
        out = m(t5_ids)
        del m
        free(device)
        return out

    def clip():
        m = load_module(lambda: ClipText(man["clip_config"]), path("clip"), device, dt)
        out = m(clip_ids)[1]
        del m
        free(device)
        return out

    txt = timer.time("T5", t5)
    y = timer.time("CLIP", clip)
    ae_p = man["ae_params"]
    ae = timer.time("autoencoder loading", lambda: load_module(lambda: aemod.AutoEncoder(ae_p), path("ae"), device, dt))
    factor = 2 ** (len(ae_p["ch_mult"]) - 1)
    lh, lw = a.height // factor, a.width // factor
    tokens = (lh // 2) * (lw // 2)
    pixels = read_png(a.reference)
    assert tuple(pixels.shape) == (a.height, a.width, 3), ("the reference must be the output's size", tuple(pixels.shape))
    x = (pixels.permute(2, 0, 1)[None].float() / 127.5 - 1).to(device)
    x0 = timer.time("reference encoding", lambda: encode_reference(ae, x, dt))
    model = timer.time("transformer loading", lambda: load_module(lambda: fluxmod.Flux(fp), path("flux"), device, dt))
    attention = SharedAttention()
    attention.mode, attention.text = a.mode, text
    fluxmod.attention = attention  # the blocks call the module's attention

    noise = torch.stack([gaussian_noise(a.ref_seed, tokens * fp.in_channels), gaussian_noise(a.seed, tokens * fp.in_channels)])
    noise = noise.reshape(2, tokens, fp.in_channels).to(device)
    img_ids = torch.zeros(lh // 2, lw // 2, 3, device=device)
    img_ids[..., 1] += torch.arange(lh // 2, device=device)[:, None]
    img_ids[..., 2] += torch.arange(lw // 2, device=device)[None, :]
    img_ids = img_ids.reshape(1, tokens, 3).repeat(2, 1, 1)
    txt_ids = torch.zeros(2, text, 3, device=device)
    timesteps = get_schedule(a.steps, tokens, shift=fp.guidance_embed)  # dev shifts the schedule, schnell does not
    guidance = torch.full((2,), a.guidance, dtype=dt, device=device)
    steps = []

    def sample():
        img = noise.clone()
        eps = noise[0:1].clone()
        for i, (t_curr, t_prev) in enumerate(zip(timesteps[:-1], timesteps[1:])):
            t0 = time.perf_counter()
            img[0:1] = (1 - t_curr) * x0 + t_curr * eps  # the reference re-noised along the flow-matching path
            if a.mode == "untwisted":
                tau = 0.0 if a.steps == 1 else i / (a.steps - 1)
                attention.scale = chunk_scales(fp.axes_dim, tau).to(device)
            t_vec = torch.full((2,), t_curr, dtype=dt, device=device)
            pred = model(img=img.to(dt), img_ids=img_ids, txt=txt.to(dt), txt_ids=txt_ids, timesteps=t_vec, y=y.to(dt), guidance=guidance)
            img = img + (t_prev - t_curr) * pred.float()
            timer.sync()
            steps.append(time.perf_counter() - t0)
        return img

    img = timer.time("sampling", sample)
    del model
    free(device)
    decoded = timer.time("decoding", lambda: ae.decode(unpack(img[1:], lh, lw).to(dt)).float())
    total = time.perf_counter() - wall0
    rgb = (127.5 * (decoded[0].clamp(-1, 1) + 1)).to(torch.uint8).permute(1, 2, 0).cpu()  # ImageTensors' truncation
    if a.png:
        write_png(a.png, rgb)
    res = {"tool": "pytorch", "torch": torch.__version__, "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
           "dtype": a.dtype, "mode": a.mode, "size": f"{a.width}x{a.height}", "steps_n": a.steps, "phases": timer.phases, "steps": steps,
           "total": total, "decoded_rms": decoded.pow(2).mean().sqrt().item(), "finite": bool(torch.isfinite(decoded).all()),
           "peak_gib": torch.cuda.max_memory_allocated() / 2 ** 30 if device.type == "cuda" else None}
    json.dump(res, open(a.out, "w"), indent=1)
    phases = ", ".join(f"{k} {v:.3f} s" for k, v in timer.phases.items())
    rest = steps[1:] or steps
    print(f"pytorch: {a.width}x{a.height} ({a.mode}, {a.steps} steps, {a.dtype} on {res['device']}) in {total:.1f} s\n  {phases}\n"
          f"  step times: first {steps[0]:.4f} s, steps 2-{len(steps)} median {statistics.median(rest):.4f} s, min {min(rest):.4f} s, "
          f"max {max(rest):.4f} s; decoded RMS {res['decoded_rms']:.4f}, finite {res['finite']}"
          + (f"; peak {res['peak_gib']:.2f} GiB allocated" if res["peak_gib"] is not None else ""), flush=True)


def encode_reference(ae, x, dt):
    """The clean reference latent as tokens [1, tokens, 4·z] (float32)."""
    return aemod.pack(ae.encode(x.to(dt))).float()


# --- helpers of the driver --------------------------------------------------------------------------------------
def reference_png(w, h, path):
    """A deterministic style reference at the output's size (no resampling on either side)."""
    gen = torch.Generator().manual_seed(5)
    y = torch.arange(h, dtype=torch.float32)[:, None].expand(h, w)
    x = torch.arange(w, dtype=torch.float32)[None, :].expand(h, w)
    disc = (((x - 0.6 * w) ** 2 + (y - 0.4 * h) ** 2) < (0.22 * min(w, h)) ** 2).float()
    r = 200 * x / w + 40 * disc
    g = 180 * y / h + 30 * torch.sin(x / (w / 12.8))
    b = 120 + 100 * disc - 60 * y / h
    rgb = torch.stack([r, g, b], -1) + 12 * torch.randn(h, w, 3, generator=gen)
    write_png(path, rgb.round().clamp(0, 255).to(torch.uint8))


def ids_file(clip_txt, t5_txt, out):
    rows = lambda f: [json.loads(l) for l in open(f) if l.startswith("[")]
    json.dump({"clip": rows(clip_txt), "t5": rows(t5_txt)}, open(out, "w"))


PHASES = ["T5", "CLIP", "reference encoding", "transformer loading", "sampling", "decoding"]


def parse_untwist(log):
    """Phases, step times and total of one `untwist generate` log (None for a failed or missing run)."""
    if not os.path.exists(log):
        return None
    text = open(log, errors="replace").read()
    total = re.search(r"generated \d+ images? of \S+ \(.*?\) in ([\d.]+) s", text)
    line = re.search(r"(T5 [\d.]+ s, .*?) \([\d.]+ s per step for a batch of \d+\)", text)
    steps = re.search(r"step times: .*?each \(s\):([\d. ]+)", text)
    if not (total and line and steps):
        return None
    phases = {m.group(1): float(m.group(2)) for m in re.finditer(r"([A-Za-z0-9 ]+?) ([\d.]+) s(?:,|$)", line.group(1))}
    return {"phases": {k.strip(): v for k, v in phases.items()}, "steps": [float(s) for s in steps.group(1).split()], "total": float(total.group(1))}


def table(a):
    runs = {"untwist": [r for r in (parse_untwist(f) for f in a.untwist) if r], "PyTorch": [json.load(open(f)) for f in a.peer]}
    for r in runs["untwist"] + runs["PyTorch"]:
        rest = r["steps"][1:] or r["steps"]
        r["step median"] = statistics.median(rest)
        r["first step"] = r["steps"][0]
    rows = [(p, lambda r, p=p: r["phases"].get(p)) for p in PHASES]
    rows += [("first step", lambda r: r["first step"]), ("step (median of steps 2-N)", lambda r: r["step median"]),
             ("generation (in-process)", lambda r: r["total"]), ("process wall clock", lambda r: r.get("wall"))]
    walls = {"untwist": a.untwist_wall, "PyTorch": a.peer_wall}
    for tool, ws in walls.items():
        for r, w in zip(runs[tool], ws or []):
            r["wall"] = w

    def cell(vals):
        vals = [v for v in vals if v is not None]
        if not vals:
            return "", None
        med = statistics.median(vals)
        fmt = (lambda v: f"{v:.3f}") if med < 10 else (lambda v: f"{v:.1f}")
        return (f"{fmt(med)} ({fmt(min(vals))}–{fmt(max(vals))})" if len(vals) > 1 else fmt(med)), med

    out = [f"# untwist vs PyTorch, one generation: {a.title}", "",
           f"untwist runs: {len(runs['untwist'])} of {len(a.untwist)} logs parsed; PyTorch runs: {len(runs['PyTorch'])}; "
           "seconds, median (min–max) over the runs, which alternated.", "",
           "| phase (s) | untwist | PyTorch | untwist / PyTorch (above 1: untwist slower) |", "|---|---|---|---|"]
    for name, get in rows:
        u, um = cell([get(r) for r in runs["untwist"]])
        p, pm = cell([get(r) for r in runs["PyTorch"]])
        out.append(f"| {name} | {u} | {p} | {f'{um / pm:.2f}' if um and pm else ''} |")
    out.append("")
    out.append("untwist: phases and steps as `generate` prints them (PhaseTimes; each step after a backend synchronize; the first "
               "step is sampling less the others); generation = its 'generated ... in' figure (tokenizing and loading the "
               "autoencoder, and creating the backend, included). PyTorch: each phase between two synchronizes; the autoencoder's loading "
               + (f"({cell([r['phases'].get('autoencoder loading') for r in runs['PyTorch']])[0]} s) " if runs["PyTorch"] else "")
               + "is in its generation (from the start of its run: the device's set-up included), not in a phase, as in untwist. "
               "Process wall clock: the whole command, the JVM's or Python's start and imports included.")
    if runs["PyTorch"]:
        r = runs["PyTorch"][-1]
        out.append(f"PyTorch {r['torch']} on {r['device']}, {r['dtype']}; decoded RMS {r['decoded_rms']:.4f}, finite {r['finite']}"
                   + (f", peak {r['peak_gib']:.2f} GiB allocated" if r.get("peak_gib") is not None else ""))
    if a.images and all(os.path.exists(f) for f in a.images):
        u, p = (read_png(f).int() for f in a.images)
        if u.shape == p.shape:
            d = (u - p).abs()
            out.append(f"Images (last runs): max |untwist - PyTorch| {d.max().item()} of 255, mean {d.float().mean().item():.3f}; "
                       f"{(d > 0).float().mean().item() * 100:.2f} % of the values differ, {(d > 2).float().mean().item() * 100:.2f} % by more than 2.")
    text = "\n".join(out) + "\n"
    print(text)
    open(a.out, "w").write(text)


def compare(a, b, bound, fraction):
    """Exit status 0 when two PNGs of one size differ by at most `bound` of 255 anywhere and in at most `fraction` of the
    values at all. On the tiny random model the sharing mode moves few values by 1 or 2 of 255 (about 2 % of them
    between modes full and untwisted, 13 % between none and untwisted), so the fraction is what tells a wrong mode
    from float32 rounding (a value a rounding flip apart: well under 0.1 %)."""
    missing = [f for f in (a, b) if not os.path.exists(f)]
    if missing:
        print(f"compare: {', '.join(missing)} missing (a failed run?): FAIL")
        return 1
    u, p = (read_png(f).int() for f in (a, b))
    if u.shape != p.shape:
        print(f"compare: {a} is {tuple(u.shape)}, {b} is {tuple(p.shape)}: FAIL")
        return 1
    d = (u - p).abs()
    differ = (d > 0).float().mean().item()
    ok = d.max().item() <= bound and differ <= fraction
    print(f"compare: max |{os.path.basename(a)} - {os.path.basename(b)}| = {d.max().item()} of 255 (bound {bound}), {differ * 100:.3f} % of "
          f"values differ (bound {fraction * 100:.2f} %):", "PASS" if ok else "FAIL")
    return 0 if ok else 1


# --- check --------------------------------------------------------------------------------------------------------
def check():
    from safetensors.torch import load_file
    torch.set_grad_enabled(False)
    case = load_file(os.path.join(ROOT, "testdata", "e2e", "noise.safetensors"))["noise"]
    per = case.shape[1] * case.shape[2]
    ours = torch.stack([gaussian_noise(11, per), gaussian_noise(7, per)]).reshape(case.shape)
    same = (ours.view(torch.int32) == case.view(torch.int32)).float().mean().item()
    ulp = ((ours.view(torch.int32) - case.view(torch.int32)).abs().max().item())
    print(f"noise (seeds 11, 7): {same * 100:.3f} % of {case.numel()} values bit-identical to GaussianNoise's, at most {ulp} ulp apart")
    assert ulp <= 1, ulp
    import reference_pipeline as rp
    gen = torch.Generator().manual_seed(3)
    b, h, lt, li, d = 3, 2, 5, 12, 16
    q, k, v = (torch.randn(b, h, lt + li, d, generator=gen, dtype=torch.float64) for _ in range(3))
    ids = torch.zeros(1, lt + li, 3)
    ids[0, lt:, 1] = torch.arange(li) // 4
    ids[0, lt:, 2] = torch.arange(li) % 4
    pe = fluxmod.EmbedND(d, 10000, [2, 6, 8])(ids).double()
    ref = rp.Sharing()
    ours = SharedAttention()
    worst = 0.0
    for mode in ("none", "full"):
        ref.mode, ref.lt, ours.mode, ours.text = mode, lt, mode, lt
        e = (ours(q, k, v, pe) - ref(q, k, v, pe)).abs().max().item()
        worst = max(worst, e)
        print(f"SharedAttention {mode} vs reference_pipeline.Sharing (float64): max |diff| {e:.2e}")
    # untwisted: the reference keys scaled per chunk equal explicit scaled keys in the reference's math
    s = chunk_scales([2, 6, 8], 0.5).double()
    ours.mode, ours.scale = "untwisted", s
    qr, kr = fluxmod.apply_rope(q, k, pe)
    want = []
    for i in range(b):
        kk, vv = kr[i], v[i]
        if i > 0:
            kk = torch.cat((kk, kr[0, :, lt:] * s.repeat_interleave(2)), 1)
            vv = torch.cat((vv, v[0, :, lt:]), 1)
        want.append(torch.softmax(qr[i] @ kk.transpose(-2, -1) / math.sqrt(d), -1) @ vv)
    want = torch.stack(want).transpose(1, 2).reshape(b, lt + li, h * d)
    e = (ours(q, k, v, pe) - want).abs().max().item()
    worst = max(worst, e)
    print(f"SharedAttention untwisted vs explicit scaled keys (float64): max |diff| {e:.2e}; scales at tau 0.5 {[round(x, 4) for x in s.tolist()]}")
    assert worst < 1e-12, worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--weights", required=True)
    r.add_argument("--ids", required=True)
    r.add_argument("--reference", required=True)
    r.add_argument("--width", type=int, required=True)
    r.add_argument("--height", type=int, required=True)
    r.add_argument("--steps", type=int, required=True)
    r.add_argument("--mode", default="untwisted", choices=["untwisted", "full", "none"])
    r.add_argument("--seed", type=int, default=7)
    r.add_argument("--ref-seed", type=int, default=11)
    r.add_argument("--guidance", type=float, default=3.5)
    r.add_argument("--device", default="cuda")
    r.add_argument("--dtype", default="bf16", choices=["bf16", "f32"])
    r.add_argument("--threads", type=int, default=0)
    r.add_argument("--out", required=True)
    r.add_argument("--png")
    p = sub.add_parser("reference-png")
    p.add_argument("width", type=int)
    p.add_argument("height", type=int)
    p.add_argument("file")
    i = sub.add_parser("ids")
    i.add_argument("clip")
    i.add_argument("t5")
    i.add_argument("out")
    t = sub.add_parser("table")
    t.add_argument("--untwist", nargs="*", default=[])
    t.add_argument("--peer", nargs="*", default=[])
    t.add_argument("--untwist-wall", nargs="*", type=float, default=[])
    t.add_argument("--peer-wall", nargs="*", type=float, default=[])
    t.add_argument("--images", nargs=2)
    t.add_argument("--title", default="")
    t.add_argument("--out", required=True)
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--bound", type=int, default=1)
    c.add_argument("--fraction", type=float, default=0.005)
    sub.add_parser("check")
    a = ap.parse_args()
    if a.cmd == "run":
        run(a)
    elif a.cmd == "reference-png":
        reference_png(a.width, a.height, a.file)
    elif a.cmd == "ids":
        ids_file(a.clip, a.t5, a.out)
    elif a.cmd == "table":
        table(a)
    elif a.cmd == "compare":
        sys.exit(compare(a.a, a.b, a.bound, a.fraction))
    else:
        check()


if __name__ == "__main__":
    main()
