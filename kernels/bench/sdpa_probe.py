#!/usr/bin/env python3
"""Which kernel PyTorch's scaled_dot_product_attention runs for the benchmark's attention shapes, and how fast
each of its backends is there: bf16 q [1, 24, 4608, 128], keys 4608 (joint) and 8704 (shared), contiguous
[b, h, s, d] and strided [b, s, h, d] views; CUDA-event timings (mean of 20 calls after 5), then the kernel
names of one call per backend from the profiler. With --once: one call per shape through the cuDNN backend
only (for cuDNN's and cudnn-frontend's API logs, enabled by their environment variables).

usage: sdpa_probe.py [--once]
"""
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

H, D, L, LI = 24, 128, 4608, 4096
dev, bf = "cuda", torch.bfloat16


def operands(lk, layout):
    if layout == "bhsd":
        return [torch.randn(1, H, n, D, device=dev, dtype=bf) for n in (L, lk, lk)]
    return [torch.randn(1, n, H, D, device=dev, dtype=bf).transpose(1, 2) for n in (L, lk, lk)]


def event_ms(fn, warm=5, runs=20):
    for _ in range(warm):
        fn()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    a.record()
    for _ in range(runs):
        fn()
    b.record()
    torch.cuda.synchronize()
    return a.elapsed_time(b) / runs


def main():
    backends = {"default": None, "cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
                "efficient": SDPBackend.EFFICIENT_ATTENTION}
    with torch.inference_mode():
        if "--once" in sys.argv:
            for lk in (L, L + LI):
                q, k, v = operands(lk, "bhsd")
                with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                    F.scaled_dot_product_attention(q, k, v)
            torch.cuda.synchronize()
            return
        print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), torch.cuda.get_device_name())
        for lk in (L, L + LI):
            flops = 4.0 * H * L * lk * D
            for layout in ("bhsd", "bshd"):
                q, k, v = operands(lk, layout)
                for name, be in backends.items():
                    fn = (lambda: F.scaled_dot_product_attention(q, k, v))
                    try:
                        if be is None:
                            ms = event_ms(fn)
                        else:
                            with sdpa_kernel(be):
                                ms = event_ms(fn)
                        print(f"lk {lk} {layout} {name}: {ms:.4f} ms, {flops / ms / 1e9:.0f} TFLOP/s", flush=True)
                    except RuntimeError as e:
                        print(f"lk {lk} {layout} {name}: unavailable ({str(e).splitlines()[0][:120]})", flush=True)
        q, k, v = operands(L, "bhsd")
        for name, be in backends.items():
            try:
                with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
                    if be is None:
                        F.scaled_dot_product_attention(q, k, v)
                    else:
                        with sdpa_kernel(be):
                            F.scaled_dot_product_attention(q, k, v)
                    torch.cuda.synchronize()
                names = [(e.key, e.device_time_total) for e in prof.key_averages() if e.device_time_total > 0]
                print(f"kernels of {name} (lk {L}):", "; ".join(f"{n[:140]} {t:.0f} us" for n, t in names), flush=True)
            except RuntimeError as e:
                print(f"kernels of {name}: unavailable ({str(e).splitlines()[0][:120]})", flush=True)


if __name__ == "__main__":
    main()
