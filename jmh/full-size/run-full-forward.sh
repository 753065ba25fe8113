#!/usr/bin/env bash
# The full-depth FLUX.1-schnell-sized forward (1,024 image + 256 text tokens, batch 1) from the fp8 file of
# jmh/peers/make_full_size_pipeline.py, untwist against PyTorch in one run on this machine's CPU, both warm (a first
# call dropped), N timed calls each: untwist `vector` (float32 compute on the fp8 weights, widened in the GEMM's packing),
# untwist `onednn` (the bf16 precision: fp8 weights converted to bf16 per call in panels), PyTorch bf16 and float32
# (jmh/peers/time_full_torch.py: the fp8 weights kept in memory and cast per Linear call, as ComfyUI runs fp8 on a CPU).
#
#   jmh/full-size/run-full-forward.sh DIR [THREADS=2] [N=2]     (DIR as given to the writer)
#
# Writes jmh/full-size/logs/forward-<date>.log.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${1:?model folder}; THREADS=${2:-2}; N=${3:-2}
source "$ROOT/bin/jdk25.sh"
MODEL="$DIR/flux1-schnell-fp8-folder"   # the model-folder form WarmForward loads: config.json + the file linked
mkdir -p "$MODEL"
ln -sf "$DIR/flux1-schnell-sized-fp8.safetensors" "$MODEL/weights.safetensors"
python3 -c 'import json,sys; from safetensors import safe_open
p = json.loads(safe_open(sys.argv[1], "pt").metadata()["params"]); p["weight_dtype"] = "f8_e4m3"
json.dump(p, open(sys.argv[2], "w"), indent=1)' "$DIR/flux1-schnell-sized-fp8.safetensors" "$MODEL/config.json"
INPUTS="$DIR/forward-inputs.safetensors"
mkdir -p "$ROOT/jmh/full-size/logs"
LOG="$ROOT/jmh/full-size/logs/forward-$(date -u +%Y%m%dT%H%MZ).log"
java_forward() { /usr/bin/time -f "peak RSS %M kB, wall %e s" "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector \
    --enable-native-access=ALL-UNNAMED -cp "$ROOT/cli/target/untwist.jar" "$ROOT/jmh/warmup/WarmForward.java" "$MODEL" "$INPUTS" "$THREADS" "$((N + 1))" "$1"; }
{
  echo "# $(date -u) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $THREADS threads"
  echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg); git $(git -C "$ROOT" rev-parse --short HEAD)"
  echo "## PyTorch (writes the inputs)"
  /usr/bin/time -f "peak RSS %M kB, wall %e s" python3 "$ROOT/jmh/peers/time_full_torch.py" "$DIR/flux1-schnell-sized-fp8.safetensors" "$INPUTS" "$THREADS" "$N" bf16,f32
  echo "## untwist vector (f32)"; java_forward vector
  echo "## untwist onednn (bf16)"; java_forward onednn
  echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee "$LOG"
