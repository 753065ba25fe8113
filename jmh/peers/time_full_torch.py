"""Times PyTorch's forward of the full-depth FLUX.1-schnell-sized transformer written by make_full_size_pipeline.py
(train/flux.py, the reference layout) on the CPU, from its fp8 single file, as ComfyUI runs fp8 checkpoints on a CPU:
the weights stay float8_e4m3fn in memory (11.9 GB; bf16 would be 23.8 GB, more than this machine's RAM) and every
Linear casts its weight to the compute type when called. Computes in bfloat16 (activations bf16: PyTorch's bf16
model) and in float32; one warm-up call, then N calls each, torch.set_num_threads(THREADS); prints each call and
the median. Also writes the inputs it used (1,024 image tokens on a 32x32 grid + 256 text tokens, seed 1, as
make_depth1_flux.py) to INPUTS when that file is missing, so the Java side runs the same ones.

    python3 jmh/peers/time_full_torch.py /work/fullsize/flux1-schnell-sized-fp8.safetensors INPUTS 2 2 [bf16,f32]
"""
import json
import os
import statistics
import sys
import time

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train"))
from flux import Flux, FluxParams  # noqa: E402


def cast_linear(module, x):
    """nn.Linear with its stored (fp8) weight cast to the activations' type per call."""
    w = module.weight.to(x.dtype)
    b = None if module.bias is None else module.bias.to(x.dtype)
    return torch.nn.functional.linear(x, w, b)


def inputs(path):
    if not os.path.exists(path):
        g = torch.Generator().manual_seed(1)
        rows, cols = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
        img_ids = torch.stack([torch.zeros_like(rows), rows, cols], dim=-1).reshape(1, 1024, 3).float()
        save_file({"img": torch.randn(1, 1024, 64, generator=g), "img_ids": img_ids, "txt": torch.randn(1, 256, 4096, generator=g),
                   "txt_ids": torch.zeros(1, 256, 3), "y": torch.randn(1, 768, generator=g), "timesteps": torch.tensor([0.7])}, path)
    return load_file(path)


def main():
    weights, inputs_path, threads, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    kinds = (sys.argv[5] if len(sys.argv) > 5 else "bf16,f32").split(",")
    torch.set_num_threads(threads)
    with safe_open(weights, "pt") as f:
        p = FluxParams(**json.loads(f.metadata()["params"]))
    args = inputs(inputs_path)
    t0 = time.perf_counter()
    sd = load_file(weights)
    with torch.device("meta"):
        model = Flux(p)
    model.load_state_dict(sd, assign=True)  # the stored tensors themselves: fp8 matrices, bf16 vectors
    del sd
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            m.forward = cast_linear.__get__(m)
    model.eval()
    print(f"torch {torch.__version__}, {threads} threads; loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    for kind in kinds:
        dtype = {"bf16": torch.bfloat16, "f32": torch.float32}[kind]
        for name, t in list(model.named_parameters()):  # vectors (norm scales, biases) in the compute type
            if t.dim() == 1:
                t.data = t.data.to(dtype)
        a = {k: v.to(dtype) if v.is_floating_point() else v for k, v in args.items()}
        with torch.no_grad():
            ms = []
            for i in range(n + 1):
                t0 = time.perf_counter()
                model(**a)
                ms.append((time.perf_counter() - t0) * 1e3)
                print(f"{kind} call {i + 1}: {ms[-1]:.0f} ms", flush=True)
        warm = ms[1:]
        print(f"{kind}: fp8 weights cast per call, warm median {statistics.median(warm):.0f} ms "
              f"(calls 2-{n + 1}: {', '.join(f'{v:.0f}' for v in warm)})", flush=True)


if __name__ == "__main__":
    main()
