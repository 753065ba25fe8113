#!/usr/bin/env python3
"""Where PyTorch's FLUX.1-dev-shaped forward (batch 1, 1024²) spends its GPU time, eager and through torch.compile:
one forward each under torch.profiler (CUDA kernels only) after warm-ups, kernel time summed by kind (GEMM,
attention, Triton-fused elementwise, other elementwise and copies), plus the largest kernels. The counterpart of
GpuBenchmark's `profile` section (untwist's forward per backend operation); gpu_rounds.py calls profile_md() with
its model, or run alone: torch_profile.py OUT.md
"""
import re
import sys

import torch
from torch.profiler import ProfilerActivity, profile

# First match wins: Inductor's fused kernels name the ops they absorbed (e.g. "..._scaled_dot_product_cudnn_attention_..."),
# and cuDNN's attention kernel names "sm90" and "wgmma", so Triton and attention are tested before GEMM.
KINDS = [("Triton (fused elementwise)", re.compile(r"^triton_", re.I)),
         ("attention", re.compile(r"flash|fmha|sdpa|attention", re.I)),
         ("GEMM", re.compile(r"gemm|nvjet|cutlass|xmma|sm90_|sm80_|cublas", re.I)),
         ("other (elementwise, copies)", re.compile(r".*"))]


def kind(name):
    return next(k for k, rx in KINDS if rx.search(name))


def kernel_times(fn):
    """{kernel name: (calls, total ms)} of one call of fn, and the wall time of that call (ms)."""
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
    out = {}
    for e in prof.key_averages():
        t = getattr(e, "device_time_total", None)
        t = e.cuda_time_total if t is None else t
        if t > 0:
            out[e.key] = (e.count, t / 1e3)
    return out, start.elapsed_time(end)


def profile_md(runs):
    """Markdown for [(label, fn)]: time by kind per run, then each run's ten largest kernels."""
    results = [(label, *kernel_times(fn)) for label, fn in runs]
    lines = [f"PyTorch {torch.__version__} on {torch.cuda.get_device_name()}: one FLUX.1-dev forward (batch 1, 1024²) per column "
             "under torch.profiler, kernel time summed by kind (ms; the kernels of one stream, so the sum is about the wall time).", "",
             "| kind | " + " | ".join(label for label, _, _ in results) + " |", "|---|" + "---|" * len(results)]
    for k, _ in KINDS:
        cells = []
        for _, ks, _ in results:
            cells.append(f"{sum(ms for name, (n, ms) in ks.items() if kind(name) == k):.2f}")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines.append("| kernels, total | " + " | ".join(f"{sum(ms for _, ms in ks.values()):.2f}" for _, ks, _ in results) + " |")
    lines.append("| wall (events around the call) | " + " | ".join(f"{w:.2f}" for _, _, w in results) + " |")
    for label, ks, _ in results:
        lines += ["", f"Largest kernels, {label}:", "", "| kernel | kind | calls | total ms |", "|---|---|---|---|"]
        for name, (n, ms) in sorted(ks.items(), key=lambda kv: -kv[1][1])[:12]:
            short = name if len(name) < 90 else name[:87] + "..."
            lines.append(f"| `{short}` | {kind(name)} | {n} | {ms:.2f} |")
    return "\n".join(lines) + "\n"


def main():
    import os
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch_peer
    with torch.inference_mode():
        model = torch_peer.make_model()
        args = torch_peer.forward_inputs(1)
        compiled = torch.compile(model)
        text = profile_md([("eager", lambda: model(*args)), ("torch.compile", lambda: compiled(*args))])
    open(sys.argv[1], "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
