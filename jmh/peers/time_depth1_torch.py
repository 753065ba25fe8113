"""Times PyTorch's forward of a model written by make_depth1_flux.py (train/flux.py, the reference layout) on the
CPU, in bfloat16 (weights as stored, activations bf16: PyTorch's bf16 model) and in float32, N calls each after one
warm-up call, torch.set_num_threads(THREADS); prints each call and the median. The peer of
`jmh/warmup/WarmForward.java MODEL INPUTS THREADS N onednn|vector`.

    python3 jmh/peers/time_depth1_torch.py /tmp/flux-d1 2 5
"""
import json
import os
import statistics
import sys
import time

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train"))
from flux import Flux, FluxParams  # noqa: E402


def main():
    folder, threads, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    cfg = json.load(open(os.path.join(folder, "config.json")))
    cfg.pop("weight_dtype", None)
    p = FluxParams(**cfg)
    sd = load_file(os.path.join(folder, "weights.safetensors"))
    inputs = load_file(os.path.join(folder, "inputs.safetensors"))
    print(f"torch {torch.__version__}, {threads} threads, oneDNN bf16 ISA: {torch.backends.mkldnn.is_available()}")
    for dtype in (torch.bfloat16, torch.float32):
        with torch.no_grad():
            model = Flux(p)
            model.load_state_dict({k: v.to(dtype) for k, v in sd.items()})
            model = model.to(dtype).eval()
            args = {k: v.to(dtype) if v.is_floating_point() else v for k, v in inputs.items()}
            model(**args)  # warm-up
            ms = []
            for i in range(n):
                t0 = time.perf_counter()
                model(**args)
                ms.append((time.perf_counter() - t0) * 1e3)
            print(f"{dtype}: calls " + ", ".join(f"{v:.0f}" for v in ms) + f" ms; median {statistics.median(ms):.0f} ms")
        del model


if __name__ == "__main__":
    main()
