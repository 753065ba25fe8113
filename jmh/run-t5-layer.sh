#!/usr/bin/env bash
# One T5-XXL-shaped encoder layer: untwist's T5Encoder (JMH T5LayerBenchmark, BF16 weights mapped; vector backend
# float32 compute, and onednn's bf16 precision) against transformers' T5Block in PyTorch on the CPU (float32, and bfloat16 compute), same
# shapes and thread count, the peer run before and after JMH so that both see the same machine state. Writes
# jmh/t5-layer/results.json (JMH), jmh/t5-layer/peer.jsonl and the table jmh/t5-layer/RESULTS.md.
#
#   jmh/run-t5-layer.sh            (about 5 minutes on 2 cores; needs python3 with torch and transformers for the peer)
#   SKIP_BUILD=1 jmh/run-t5-layer.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. "$root/bin/jdk25.sh"
out=jmh/t5-layer
mkdir -p "$out"
threads=${THREADS:-2}
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  mvn -q -B -ntp -DskipTests package -pl jmh -am
fi
peer() {
  if python3 -c "import torch, transformers" 2>/dev/null; then
    python3 jmh/peers/t5_layer_torch.py --threads "$threads" --tokens 256 512 --repeats 5 2>/dev/null | grep '^{' >> "$out/peer.jsonl"
  else
    echo "run-t5-layer: python3 with torch and transformers not found: no peer" >&2
  fi
}
: > "$out/peer.jsonl"
peer
"$JAVA_HOME/bin/java" -jar jmh/target/benchmarks.jar 'T5LayerBenchmark' -p threads="$threads" -rf json -rff "$out/results.json" \
  | tee "$out/jmh.log" | grep -E '^(# Run|T5LayerBenchmark|Benchmark|Iteration)' || true
peer
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_bf16|amx_bf16|fma)$' | tr '\n' ' ')
python3 - "$out" "$cpu" "$flags" "$threads" <<'PY'
import json, statistics, sys, datetime
out, cpu, flags, threads = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
flops = {256: 2 * 256 * (4 * 4096 * 4096 + 3 * 4096 * 10240) + 4 * 64 * 256 * 256 * 64,
         512: 2 * 512 * (4 * 4096 * 4096 + 3 * 4096 * 10240) + 4 * 64 * 512 * 512 * 64}
rows = []
for r in json.load(open(f"{out}/results.json")):
    tokens = int(r["params"]["tokens"])
    raw = [x for fork in r["primaryMetric"]["rawData"] for x in fork]
    name = {"vector": "untwist T5Encoder, vector backend, BF16 weights, f32 compute",
            "onednn": "untwist T5Encoder, onednn backend, BF16 weights, bf16 precision (oneDNN bf16 GEMM)"}
    rows.append((name[r["params"].get("backend", "vector")], tokens, raw))
peers = {}
for line in open(f"{out}/peer.jsonl"):
    p = json.loads(line)
    peers.setdefault((p["peer"], p["tokens"]), []).extend(p["ms"])
for (name, tokens), ms in peers.items():
    rows.append((name + " (2 rounds: before and after JMH)", tokens, ms))
lines = ["# One T5-XXL-shaped encoder layer on the CPU", "",
         f"Machine: {cpu} ({flags.strip()}), {threads} threads; {datetime.date.today()}. Produced by `jmh/run-t5-layer.sh`.",
         "Shape: d_model 4096, 64 heads of 64, d_ff 10240, gated-GELU, relative position bias, batch 1. "
         "FLOPs per call `2·L·(4·d·inner + 3·d·d_ff) + 4·H·L²·d_kv`: 99.86 GFLOP at 256 tokens, 201.86 at 512.", "",
         "| implementation | tokens | median | min – max | GFLOP/s (median) | samples |", "|---|---|---|---|---|---|"]
for name, tokens, ms in sorted(rows, key=lambda r: (r[1], r[0])):
    med = statistics.median(ms)
    lines.append(f"| {name} | {tokens} | {med:.0f} ms | {min(ms):.0f} – {max(ms):.0f} ms | {flops[tokens] / med / 1e6:.0f} | {len(ms)} |")
lines += ["", "untwist's samples are JMH measurement iterations (average time per call within each 4 s iteration); the peer's "
          "are single calls after two warm-up calls. PyTorch's bfloat16 row computes in bfloat16 (AVX512-BF16 where the CPU "
          "has it): its like-for-like row is untwist's bf16 precision (`onednn`: activations rounded to bf16 before each "
          "GEMM, oneDNN's bf16 matmul, float32 accumulation; attention, norms and activations in float32); untwist's "
          "float32 row compares with PyTorch's float32 row."]
open(f"{out}/RESULTS.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
