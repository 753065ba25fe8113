#!/usr/bin/env python3
"""JMH JSON (-rf json) -> jmh/RESULTS.md for the untwist benchmark suite.

Nothing here is a result: every time comes from the JSON. What this file knows are the work formulas of each
benchmark (FLOPs, bytes), taken from the benchmarks' Javadoc, and which benchmark is whose peer. The machine's
FMA peak and triad bandwidth come in as arguments (the project's CPU notes) and only scale the "% of peak" columns.

usage: jmh_report.py --json results.json --info info.txt --command CMD --out RESULTS.md
                     [--peak 1:217,2:441] [--triad 1:34,2:59] [--smoke] [--note TEXT ...]
"""
import argparse
import json
import math
import sys

HEAD_DIM = 128  # FLUX head dimension, fixed in the attention and RoPE benchmarks (BenchData.HEAD_DIM)
PKG = "org.untwist.jmh."


def parse_map(text):
    """'1:217,2:441' -> {1: 217.0, 2: 441.0}"""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        k, v = part.split(":")
        out[int(k)] = float(v)
    return out


def num(x):
    """JMH writes NaN as a string; return a float (nan when missing)."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


class Row:
    def __init__(self, r):
        full = r["benchmark"]
        self.full = full
        self.cls, self.method = full[len(PKG):].rsplit(".", 1) if full.startswith(PKG) else full.rsplit(".", 1)
        self.params = r.get("params", {}) or {}
        pm = r["primaryMetric"]
        self.unit = pm["scoreUnit"]
        self.score = num(pm["score"])
        self.error = num(pm.get("scoreError"))
        self.median = num((pm.get("scorePercentiles") or {}).get("50.0", pm["score"]))
        self.samples = sum(len(fork) for fork in (pm.get("rawData") or []))
        self.forks = r.get("forks")
        self.mode = r.get("mode")

    def p(self, name, default=None):
        v = self.params.get(name, default)
        return v

    def pi(self, name):
        return int(self.params[name])

    def seconds(self, value=None):
        """A time per operation in seconds from the metric's unit."""
        v = self.median if value is None else value
        unit = self.unit.split("/")[0]
        scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}[unit]
        return v * scale

    def threads(self):
        if "threads" in self.params:
            return int(self.params["threads"])
        b = self.params.get("backend", "")
        if "/" in b:
            return int(b.split("/")[1])
        return None

    def time_cell(self):
        u = self.unit
        return fmt(self.median) + " " + u

    def score_cell(self):
        if math.isnan(self.error):
            return f"{fmt(self.score)} (1 sample, no error)" if self.samples <= 1 else fmt(self.score)
        return f"{fmt(self.score)} ± {fmt(self.error)}"


def fmt(x, digits=4):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - mag)
    return f"{x:,.{decimals}f}"


def pct(x):
    return "—" if x is None or math.isnan(x) else f"{100 * x:.1f} %"


def ratio(peer_time, own_time):
    """How many times faster than the peer (>1: untwist is faster)."""
    if peer_time is None or own_time is None or own_time <= 0 or math.isnan(peer_time) or math.isnan(own_time):
        return "—"
    return fmt(peer_time / own_time, 3) + "×"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def attention_flops(r):
    h, lq, lk = r.pi("heads"), r.pi("lq"), r.pi("lk")
    keys = lk + (r.pi("lr") if r.method == "ropeSharedAttention" else 0)
    return 4.0 * h * lq * keys * HEAD_DIM


def shape_attention(r):
    s = f"H{r.p('heads')} Lq{r.p('lq')} Lk{r.p('lk')}"
    if r.method == "ropeSharedAttention":
        s += f" + Lr{r.p('lr')}"
    return s + f" D{HEAD_DIM}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True)
    ap.add_argument("--info", required=True, help="key: value lines about the machine (written by run-benchmarks.sh)")
    ap.add_argument("--command", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--peak", default="1:217,2:441", help="FMA peak GFLOP/s by thread count")
    ap.add_argument("--suite", default="main", help="main, or gemm-shapes (only the GEMM rows are expected)")
    ap.add_argument("--triad", default="1:34,2:59", help="triad bandwidth GB/s by thread count")
    ap.add_argument("--smoke", action="store_true", help="mark the file as a smoke test")
    ap.add_argument("--note", action="append", default=[])
    a = ap.parse_args()

    peak, triad = parse_map(a.peak), parse_map(a.triad)
    with open(a.json) as f:
        rows = [Row(r) for r in json.load(f)]
    info = []
    with open(a.info) as f:
        for line in f:
            if ":" in line:
                k, v = line.split(":", 1)
                info.append((k.strip(), v.strip()))

    used = set()
    md = []
    md.append("# untwist JMH results")
    md.append("")
    if a.smoke:
        md.append("> **SMOKE TEST — not a measurement.** Produced with `QUICK=1`: small shapes, one 1 s warmup and one 1 s "
                  "measurement iteration, one fork, on a machine that may have been busy. It only shows that the pipeline "
                  "works. Run `jmh/run-benchmarks.sh` without `QUICK` on a quiet machine for numbers.")
        md.append("")
    md.append("Generated by `jmh/run-benchmarks.sh` (post-processor `jmh/jmh_report.py`) from JMH's JSON output.")
    md.append("")
    md.append("## Machine and run")
    md.append("")
    md.append(table(["what", "value"], [(k, v.replace("|", "\\|")) for k, v in info]))
    md.append("")
    md.append("Command:")
    md.append("")
    md.append("```")
    md.append(a.command)
    md.append("```")
    md.append("")
    peak_txt = ", ".join(f"{t} thread{'s' if t > 1 else ''}: {v:g} GFLOP/s" for t, v in sorted(peak.items()))
    triad_txt = ", ".join(f"{t} thread{'s' if t > 1 else ''}: {v:g} GB/s" for t, v in sorted(triad.items()))
    md.append("Conventions: times are per operation; **median** is the median of the measurement iterations (all forks), "
              "**mean ± error** is JMH's score with its 99.9 % confidence half-width. GFLOP/s, GB/s and ratios are computed "
              "from the median. \"% of FMA peak\" compares with the machine's measured FMA peak for the same number of "
              f"threads ({peak_txt}); \"% of triad\" with its measured triad bandwidth ({triad_txt}); both from the "
              "project's CPU notes, passed to the post-processor. \"× vs peer\" is peer time / untwist time measured in "
              "the same run: above 1 untwist is faster.")
    md.append("")
    for n in a.note:
        md.append(f"> Note: {n}")
        md.append("")

    # ---- attention ---------------------------------------------------------------------------------
    att = [r for r in rows if r.cls in ("AttentionBenchmark", "OrtAttentionBenchmark")]
    if att:
        ort = {(r.threads(), r.p("heads"), r.p("lq"), r.p("lk")): r for r in att if r.cls == "OrtAttentionBenchmark"}
        body = []
        order = {"AttentionBenchmark.ropeAttention": 0, "OrtAttentionBenchmark.ropeAttention": 1,
                 "AttentionBenchmark.ropeSharedAttention": 2}
        for r in sorted(att, key=lambda r: (r.threads(), order.get(f"{r.cls}.{r.method}", 9))):
            used.add(id(r))
            g = attention_flops(r) / r.seconds() / 1e9
            name = {"AttentionBenchmark.ropeAttention": "untwist vector: RoPE + attention",
                    "AttentionBenchmark.ropeSharedAttention": "untwist vector: RoPE + shared attention (band scale)",
                    "OrtAttentionBenchmark.ropeAttention": "ONNX Runtime: RoPE + attention graph"}.get(f"{r.cls}.{r.method}",
                                                                                                r.full)
            vs = "peer"
            if r.cls == "AttentionBenchmark":
                if r.method == "ropeAttention":
                    peer = ort.get((r.threads(), r.p("heads"), r.p("lq"), r.p("lk")))
                    vs = ratio(peer.seconds(), r.seconds()) if peer else "— (no ORT result)"
                else:
                    vs = "— (ORT has no shared variant)"
            body.append((name, r.threads(), shape_attention(r), r.time_cell(), r.score_cell(), fmt(g),
                         pct(g / peak[r.threads()]) if r.threads() in peak else "—", vs))
        md.append("## Attention: RoPE on q and k + attention (f32, B1)")
        md.append("")
        md.append("FLOPs per call: `4·H·Lq·Lk·D` (shared: `4·H·Lq·(Lk+Lr)·D`); RoPE is timed but not counted. Peer: ONNX "
                  "Runtime on the same inputs (checked equal in its setup), only `run` timed.")
        md.append("")
        md.append(table(["implementation", "threads", "shape", "median", "mean ± error", "GFLOP/s", "% of FMA peak",
                         "× vs ORT"], body))
        md.append("")

    tiny = [r for r in rows if r.cls == "AttentionTinyBenchmark"]
    if tiny:
        scalar = {(r.p("heads"), r.p("lq"), r.p("lk")): r for r in tiny if r.p("backend", "").startswith("scalar")}
        body = []
        for r in sorted(tiny, key=lambda r: (r.p("backend"))):
            used.add(id(r))
            g = attention_flops(r) / r.seconds() / 1e9
            sc = scalar.get((r.p("heads"), r.p("lq"), r.p("lk")))
            body.append((r.p("backend").split("/")[0], r.threads(), shape_attention(r), r.time_cell(), r.score_cell(), fmt(g),
                         pct(g / peak[r.threads()]) if r.threads() in peak else "—",
                         ratio(sc.seconds(), r.seconds()) if sc else "—"))
        md.append("## Attention on a small shape: scalar oracle vs vector")
        md.append("")
        md.append("The scalar oracle (double accumulation, single-threaded) only runs here: on the FLUX shape it takes minutes.")
        md.append("")
        md.append(table(["backend", "threads", "shape", "median", "mean ± error", "GFLOP/s", "% of FMA peak",
                         "× vs scalar"], body))
        md.append("")

    # ---- GEMM --------------------------------------------------------------------------------------
    gemm = [r for r in rows if r.cls == "GemmBenchmark"]
    if gemm:
        def mnk(r):  # shape "MxNxK" (older results: size N for N³)
            return tuple(int(v) for v in r.p("shape").split("x")) if r.p("shape") else (r.pi("size"),) * 3

        blas = {(r.threads(), mnk(r)): r for r in gemm if r.method == "openblasSgemm"}
        body = []
        order = {"linearF32": 0, "linearBf16": 1, "openblasSgemm": 2}
        names = {"linearF32": "untwist vector linear, f32 weights", "linearBf16": "untwist vector linear, BF16 weights",
                 "openblasSgemm": "OpenBLAS cblas_sgemm (f32)"}
        for r in sorted(gemm, key=lambda r: (r.threads(), mnk(r), order.get(r.method, 9))):
            used.add(id(r))
            m, n, k = mnk(r)
            g = 2.0 * m * n * k / r.seconds() / 1e9
            if r.method == "openblasSgemm":
                vs = "peer"
            else:
                peer = blas.get((r.threads(), mnk(r)))
                vs = ratio(peer.seconds(), r.seconds()) if peer else "— (no OpenBLAS result)"
            body.append((names.get(r.method, r.method), r.threads(), f"{m}×{n}×{k}", r.time_cell(), r.score_cell(), fmt(g),
                         pct(g / peak[r.threads()]) if r.threads() in peak else "—", vs))
        md.append("## GEMM: `linear` x[M,K]·w[N,K]ᵀ, no bias")
        md.append("")
        md.append("FLOPs per call: `2·M·N·K`. Peer: OpenBLAS `cblas_sgemm` (row-major, C = A·Bᵀ, f32) through FFM on the "
                  "same data, `openblas_set_num_threads(threads)`; its kernel is the `openblas core` line above. The BF16 row "
                  "is compared with the same f32 sgemm (OpenBLAS has no BF16-weight sgemm).")
        md.append("")
        md.append(table(["implementation", "threads", "M×N×K", "median", "mean ± error", "GFLOP/s", "% of FMA peak",
                         "× vs OpenBLAS"], body))
        md.append("")

    # ---- RoPE --------------------------------------------------------------------------------------
    rope = [r for r in rows if r.cls == "RopeBenchmark"]
    triads = {(r.threads(), r.pi("heads"), r.pi("tokens")): r for r in rows if r.cls == "TriadBenchmark"}
    if rope:
        body = []
        for r in sorted(rope, key=lambda r: (r.method != "applyRopeInPlace", r.threads())):
            used.add(id(r))
            h, l = r.pi("heads"), r.pi("tokens")
            nbytes = 8.0 * h * l * HEAD_DIM + 8.0 * l * HEAD_DIM
            gbs = nbytes / r.seconds() / 1e9
            tr = triads.get((r.threads(), h, l))
            tr_gbs = 12.0 * h * l * HEAD_DIM / tr.seconds() / 1e9 if tr else None
            kernel = "applyRope in place (as the model calls it)" if r.method == "applyRopeInPlace" else "applyRope out of place"
            body.append((kernel, r.threads(), f"[1,{h},{l},{HEAD_DIM}]", f"{nbytes / 1e6:.1f}", r.time_cell(),
                         r.score_cell(), fmt(gbs), pct(gbs / triad[r.threads()]) if r.threads() in triad else "—",
                         f"{pct(gbs / tr_gbs)} of {fmt(tr_gbs)}" if tr else "—"))
        for tr in sorted(triads.values(), key=lambda r: r.threads()):
            used.add(id(tr))
            h, l = tr.pi("heads"), tr.pi("tokens")
            nbytes = 12.0 * h * l * HEAD_DIM
            gbs = nbytes / tr.seconds() / 1e9
            body.append(("Java triad a = b + s·c (yardstick)", tr.threads(), f"3 × [1,{h},{l},{HEAD_DIM}]",
                         f"{nbytes / 1e6:.1f}", tr.time_cell(), tr.score_cell(), fmt(gbs),
                         pct(gbs / triad[tr.threads()]) if tr.threads() in triad else "—", "—"))
        md.append("## RoPE: applyRope")
        md.append("")
        md.append("Bytes counted per call: read x (`4·H·L·D`) + read the table once (`[L, D/2, 2, 2]` floats = `8·L·D`; "
                  "it is shared by every head) + write out (`4·H·L·D`). Not counted: write-allocate reads of `out` (out of "
                  "place only: in place each line is read before it is written) and re-reads of the table. "
                  "Memory-bound, so compared with triad bandwidth, not FMA peak: the CPU notes' figure, and a Java "
                  "Vector API triad (`TriadBenchmark`, three arrays of x's size, 3·4 bytes counted per element as STREAM "
                  "does) measured in the same run, since the machine's bandwidth moves with its neighbours.")
        md.append("")
        md.append(table(["kernel", "threads", "x shape", "MB counted", "median", "mean ± error", "GB/s", "% of triad",
                         "% of same-run triad (GB/s)"], body))
        md.append("")

    # ---- end to end --------------------------------------------------------------------------------
    den = [r for r in rows if r.cls == "DenoiseBenchmark"]
    if den:
        scalar = {(r.p("model"), r.p("steps")): r for r in den if r.p("backend", "").startswith("scalar")}
        body = []
        for r in sorted(den, key=lambda r: r.p("backend")):
            used.add(id(r))
            steps = r.pi("steps")
            sc = scalar.get((r.p("model"), r.p("steps")))
            body.append((r.p("backend").split("/")[0], r.threads(), r.p("model"), steps, r.time_cell(), r.score_cell(),
                         fmt(r.seconds() * 1e3 / steps) + " ms", ratio(sc.seconds(), r.seconds()) if sc else "—"))
        md.append("## End to end: EulerSampler.denoise of the golden model")
        md.append("")
        md.append("A whole denoising run (model forward + Euler update per step, guidance 3.5, shifted schedule) of "
                  "`testdata/golden/flux-tiny-f32` (random-weight tiny FLUX: 60 image tokens, hidden 128, 2 double + 2 "
                  "single blocks) from its `inputs.safetensors`. The model is tiny, so this measures per-op overheads more "
                  "than kernel throughput.")
        md.append("")
        md.append(table(["backend", "threads", "model", "steps", "median", "mean ± error", "per step", "× vs scalar"], body))
        md.append("")

    rest = [r for r in rows if id(r) not in used]
    if rest:
        md.append("## Other benchmarks in the JSON")
        md.append("")
        md.append(table(["benchmark", "params", "median", "mean ± error"],
                        [(r.full, ", ".join(f"{k}={v}" for k, v in sorted(r.params.items())), r.time_cell(), r.score_cell())
                         for r in rest]))
        md.append("")

    expected = {"AttentionBenchmark.ropeAttention", "AttentionBenchmark.ropeSharedAttention",
                "OrtAttentionBenchmark.ropeAttention", "AttentionTinyBenchmark.ropeAttention", "GemmBenchmark.linearF32",
                "GemmBenchmark.linearBf16", "GemmBenchmark.openblasSgemm", "RopeBenchmark.applyRope",
                "RopeBenchmark.applyRopeInPlace", "TriadBenchmark.triad",
                "DenoiseBenchmark.denoise"}
    if a.suite == "gemm-shapes":
        expected = {"GemmBenchmark.linearF32", "GemmBenchmark.openblasSgemm"}
    missing = sorted(expected - {f"{r.cls}.{r.method}" for r in rows})
    if missing:
        md.append("## Missing")
        md.append("")
        md.append("No result in the JSON for: " + ", ".join(f"`{m}`" for m in missing)
                  + " (excluded, or its setup failed: see the run log).")
        md.append("")

    with open(a.out, "w") as f:
        f.write("\n".join(md))
    print(f"wrote {a.out}: {len(rows)} results", file=sys.stderr)


if __name__ == "__main__":
    main()
