#!/usr/bin/env python3
"""Ratios from alternating runs in one sitting: ROUNDS times, the Java GPU benchmark (org.untwist.gpubench.GpuBenchmark,
a separate JVM per round) and then PyTorch's figures for the same rows (torch_peer.measure, one Python process that
keeps its FLUX.1-dev-shaped model between rounds), and also the forward through torch.compile (default mode,
compiled once before the first round, batch 1). Writes, under OUT: untwist-<r>.tsv and the Java log of each round,
and rounds.md: per row, untwist's and PyTorch's medians and min-max over the rounds and the median and min-max of
the per-round ratios (PyTorch / untwist: above 1, untwist is faster).

usage: gpu_rounds.py ROUNDS OUT -- JAVA_COMMAND...     (the command must take the .tsv path as its last argument)
"""
import os
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_peer  # noqa: E402


def spread(v):
    return f"{statistics.median(v):.3f} [{min(v):.3f}–{max(v):.3f}]"


def main():
    rounds, out = int(sys.argv[1]), sys.argv[2]
    java = sys.argv[sys.argv.index("--") + 1:]
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    with torch.inference_mode():
        model = torch_peer.make_model()
        args = torch_peer.forward_inputs(1)
        compiled = torch.compile(model)
        c0 = time.perf_counter()
        compiled(*args)
        torch.cuda.synchronize()
        compile_s = time.perf_counter() - c0
        print(f"torch.compile of the forward (batch 1): {compile_s:.0f} s", flush=True)
    ours, theirs, device = [], [], ""
    for r in range(1, rounds + 1):
        torch.cuda.empty_cache()
        tsv = os.path.join(out, f"untwist-{r}.tsv")
        s0 = time.perf_counter()
        with open(os.path.join(out, f"java-{r}.log"), "w") as log:
            rc = subprocess.run(java + [tsv], stdout=log, stderr=subprocess.STDOUT).returncode
        print(f"round {r}: java rc={rc} in {time.perf_counter() - s0:.0f} s", flush=True)
        if rc == 0 and os.path.exists(tsv):
            rows, device, _ = torch_peer.read_java(tsv)
        else:
            rows = {}
        ours.append(rows)
        s0 = time.perf_counter()
        res = torch_peer.measure(model)
        with torch.inference_mode():
            res["flux_dev_forward_b1_compiled"] = torch_peer.timed(lambda: compiled(*args), warm=2, samples=5)
        theirs.append(res)
        print(f"round {r}: PyTorch in {time.perf_counter() - s0:.0f} s: " + ", ".join(f"{k} {v:.3f}" for k, v in res.items()), flush=True)
    pairs = [(name, torch_peer.PEER_FOR.get(name, name)) for name in (ours[0] if ours and ours[0] else {})]
    pairs.append(("flux_dev_forward_b1", "flux_dev_forward_b1_compiled"))
    lines = [f"untwist: {device}", f"PyTorch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}",
             f"{rounds} alternating rounds (untwist, then PyTorch) in one sitting; torch.compile (default mode) took "
             f"{compile_s:.0f} s once, before the rounds. Figures: median [min–max] over the rounds, ms; ratio = PyTorch / untwist "
             "per round (above 1: untwist faster).", "",
             "| untwist row | PyTorch row | untwist ms | PyTorch ms | ratio |", "|---|---|---|---|---|"]
    for name, peer in pairs:
        u = [o[name][0] for o in ours if name in o]
        p = [t[peer] for t in theirs if peer in t]
        if not u:
            continue
        if not p:
            lines.append(f"| {name} | — | {spread(u)} | | |")
            continue
        ratios = [t[peer] / o[name][0] for o, t in zip(ours, theirs) if name in o and peer in t]
        lines.append(f"| {name} | {peer} | {spread(u)} | {spread(p)} | {statistics.median(ratios):.2f}× "
                     f"[{min(ratios):.2f}–{max(ratios):.2f}] |")
    details = {name: d for o in ours for name, (_, d) in o.items()}
    lines += ["", "Rows (from the last round's Java output):"] + [f"- {k}: {v}" for k, v in details.items()]
    lines.append(f"\nTotal {time.perf_counter() - t0:.0f} s.")
    text = "\n".join(lines) + "\n"
    open(os.path.join(out, "rounds.md"), "w").write(text)
    print(text)
    if os.environ.get("TORCH_PROFILE", "1") != "0":  # where PyTorch's time goes, eager and compiled (torch_profile.py)
        import torch_profile
        with torch.inference_mode():
            prof = torch_profile.profile_md([("eager", lambda: model(*args)), ("torch.compile", lambda: compiled(*args))])
        open(os.path.join(out, "torch-profile.md"), "w").write(prof)
        print(prof)


if __name__ == "__main__":
    main()
