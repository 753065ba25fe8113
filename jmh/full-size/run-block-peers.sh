#!/usr/bin/env bash
# One double block, one single block and the depth-1/1 model (FLUX.1-schnell width: hidden 3072, 24 heads; 1,024
# image + 256 text tokens, batch 1), untwist against PyTorch on this machine's CPU in one run, alternating rounds:
# untwist `vector` (float32) and `onednn` (the bf16 precision) through jmh/warmup/WarmForward.java, PyTorch bf16 and
# float32 through jmh/peers/time_depth1_torch.py (train/flux.py, torch.set_num_threads equal to ours). Every process
# runs under /usr/bin/time for its peak RSS. The models (random bf16 weights, 0.4-1.1 GB each) are written once by
# jmh/peers/make_depth1_flux.py into BLOCKS_DIR (default /tmp/untwist-blocks; keep it outside the repository).
#
#   jmh/full-size/run-block-peers.sh [ROUNDS=2] [THREADS=2] [N=5]      (about 4 minutes a round on 2 cores)
#
# Writes jmh/full-size/logs/blocks-<date>.log and the table jmh/full-size/BLOCKS.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${1:-2}; THREADS=${2:-2}; N=${3:-5}
DIR=${BLOCKS_DIR:-/tmp/untwist-blocks}
source "$ROOT/bin/jdk25.sh"
JAR="$ROOT/cli/target/untwist.jar"
[ -f "$JAR" ] || { echo "run-block-peers: $JAR is missing: build it with mvn -pl cli -am package -DskipTests" >&2; exit 3; }
declare -A SHAPE=([double]="--double 1 --single 0" [single]="--double 0 --single 1" [depth1]="--double 1 --single 1")
MODELS=(double single depth1)
for m in "${MODELS[@]}"; do
  [ -f "$DIR/$m/weights.safetensors" ] || python3 "$ROOT/jmh/peers/make_depth1_flux.py" "$DIR/$m" ${SHAPE[$m]}
done
mkdir -p "$ROOT/jmh/full-size/logs"
LOG="$ROOT/jmh/full-size/logs/blocks-$(date -u +%Y%m%dT%H%MZ).log"
timed() { /usr/bin/time -f "peak RSS %M kB, wall %e s" "$@"; }
{
  echo "# $(date -u) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores," \
       "flags $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_bf16|amx_bf16|fma)$' | tr '\n' ' ')"
  echo "# $THREADS threads, $N calls per process (the first dropped), $ROUNDS rounds; git $(git -C "$ROOT" rev-parse --short HEAD)"
  for r in $(seq 1 "$ROUNDS"); do
    for m in "${MODELS[@]}"; do
      echo "## round $r model $m load $(cut -d' ' -f1-3 /proc/loadavg)"
      echo "### torch"
      timed python3 "$ROOT/jmh/peers/time_depth1_torch.py" "$DIR/$m" "$THREADS" "$((N - 1))"
      for be in vector onednn; do
        echo "### untwist $be"
        timed "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$JAR" \
          "$ROOT/jmh/warmup/WarmForward.java" "$DIR/$m" "$DIR/$m/inputs.safetensors" "$THREADS" "$N" "$be"
      done
    done
  done
  echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | grep -v '^WARNING' | tee "$LOG"
python3 - "$LOG" "$ROOT/jmh/full-size/BLOCKS.md" <<'PY'
import re, statistics, sys, os
log, out = sys.argv[1], sys.argv[2]
runs = {}  # (model, impl) -> list of per-process medians (ms); rss (model, impl) -> list of kB
rss = {}
model = impl = None
header = []
for line in open(log):
    line = line.rstrip("\n")
    if line.startswith("# ") and not header or line.startswith("# ") and len(header) < 2:
        header.append(line[2:])
    m = re.match(r"## round \d+ model (\S+)", line)
    if m:
        model = m.group(1)
    if line == "### torch":
        impl = "torch"
    m = re.match(r"### untwist (\S+)", line)
    if m:
        impl = "untwist " + m.group(1)
    m = re.match(r"torch\.(bfloat16|float32): calls .* median (\d+) ms", line)
    if m:
        runs.setdefault((model, "PyTorch " + ("bf16" if m.group(1) == "bfloat16" else "float32")), []).append(float(m.group(2)))
    m = re.match(r"warm median \(calls 2-\d+\): ([\d.]+) ms", line)
    if m:
        runs.setdefault((model, impl), []).append(float(m.group(1)))
    m = re.match(r"peak RSS (\d+) kB", line)
    if m:
        rss.setdefault((model, impl), []).append(int(m.group(1)))
names = {"untwist vector": "untwist `vector`, float32", "untwist onednn": "untwist `onednn`, bf16 precision",
         "PyTorch bf16": "PyTorch bf16", "PyTorch float32": "PyTorch float32"}
what = {"double": "one double block", "single": "one single block", "depth1": "1 double + 1 single block"}
rows = ["| model | implementation | forward, median of the rounds | rounds (each the median of its warm calls) | vs PyTorch same precision | peak RSS |",
        "|---|---|---|---|---|---|"]
for mdl in ("double", "single", "depth1"):
    for impl in ("untwist vector", "PyTorch float32", "untwist onednn", "PyTorch bf16"):
        v = runs.get((mdl, impl))
        if not v:
            continue
        med = statistics.median(v)
        peer = {"untwist vector": "PyTorch float32", "untwist onednn": "PyTorch bf16"}.get(impl)
        vs = "—"
        if peer and runs.get((mdl, peer)):
            vs = f"{statistics.median(runs[(mdl, peer)]) / med:.2f}× faster" if statistics.median(runs[(mdl, peer)]) >= med \
                else f"{med / statistics.median(runs[(mdl, peer)]):.2f}× slower"
        r = rss.get((mdl, "torch" if impl.startswith("PyTorch") else impl), [])
        rows.append(f"| {what[mdl]} | {names[impl]} | {med:.0f} ms | {', '.join(f'{x:.0f}' for x in v)} ms | {vs} | "
                    + (f"{max(r) / 1048576:.2f} GiB" if r else "—") + " |")
text = ["# One double block, one single block, and the depth-1/1 model: untwist vs PyTorch on the CPU", "",
        "Produced by `jmh/full-size/run-block-peers.sh` (log: `logs/" + os.path.basename(log) + "`). " + "; ".join(header) + ".", "",
        "FLUX.1-schnell width (hidden 3072, 24 heads, MLP ratio 4), 1,024 image + 256 text tokens, batch 1, random bf16 "
        "weights; each model includes the input embedders and the final layer. Each process loads the model once, "
        "drops its first call and reports the median of the rest; a row's figure is the median over the rounds, which "
        "alternate untwist and PyTorch. PyTorch runs its bf16 and float32 models in one process, so both share one "
        "peak RSS (the larger). untwist's bf16 precision rounds activations to bf16 before each GEMM and runs oneDNN's "
        "bf16 matmul; attention, norms and activations stay float32.", ""] + rows + [""]
open(out, "w").write("\n".join(text))
print("\n".join(text))
PY
