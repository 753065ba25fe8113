#!/usr/bin/env bash
# Issue 18: one whole generation timed in untwist and in PyTorch in the same call. Random single files at the real
# shapes (FLUX.1-dev: 19 + 38 blocks, hidden 3072, guidance embedding; T5-XXL; CLIP-L; the FLUX autoencoder) are
# written to local disk by jmh/peers/make_full_size_pipeline.py (drawn on the GPU); then, alternating, ROUNDS times
# each: `untwist generate --backend gpu --precision bf16` (a prompt and a style reference image at SIZE², STEPS
# steps, so every step is a batch of 2 with shared attention; its printed phase and step times kept) and
# pipeline_peer.py (the same files, token ids, noise, image and steps through the project's PyTorch models in bf16,
# each phase between CUDA synchronizes). Then one table, median (min–max) per phase.
#
# On the GPU machine, from the repository root (the tokenizers come from testdata/), with the bundle of
# make-bundle.sh carried (e.g. as .gpubundle):
#   [ROUNDS=3] [STEPS=28] [SIZE=1024] [TYPE=bf16|fp8] [MODE=untwisted|full|none] [WEIGHTS=DIR] [BUDGET=540] \
#   [CYCLES=0] bash .gpubundle/gpu-pipeline.sh
# Locally, on the CPU, the same plumbing on tiny random files in seconds (untwist --backend vector in f32, the peer
# on the CPU in float32; the two images must then agree: at most 1 of 255 apart, in at most 0.5 % of the values):
#   bash kernels/bench/gpu-pipeline.sh --tiny
# (on the GPU machine, a minute's smoke test of the same: BACKEND=gpu PEER_DEVICE=cuda bash .gpubundle/gpu-pipeline.sh --tiny)
#
# TYPE fp8 makes the transformer and T5 files F8_E4M3 (the peer widens them to bf16 on loading). WEIGHTS defaults to
# the first of /dev/shm, $TMPDIR or /tmp, the working folder with room for the files (about 34 GB in bf16, 17 GB
# in fp8); files already there are kept, so a second call on a warm machine skips the writing. BUDGET (seconds from
# the start) stops the rounds early when the next one would not fit, leaving time for the table; CYCLES=N > 0 then
# runs GpuPipelineCyclesTest with N cycles if time is left (gpu-checks.sh runs it with 1,000).
# untwist's GPU caches (compiled kernels, cuDNN attention winners) live in $WEIGHTS/run/gpu-cache, apart from the
# machine's; COLD_ROUNDS (round numbers, e.g. "1 3") removes the cuDNN winners before those rounds' untwist runs, so
# they time every candidate as a first run on a machine does, and the others find the winners on disk. Each untwist
# run's last line from org.untwist.gpu's debug log says what cuDNN attention setup cost it. UNTWIST_JAR runs another
# build's CLI jar (an earlier commit's, to compare two builds in one call against the same peer).
# Writes to $OUT (at most 8 files come back from the device): pipeline.log (everything printed), table.md,
# untwist.log and peer.log (every run's output), untwist.png and peer.png (the last runs' images).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TINY=0
[ "${1:-}" = --tiny ] && TINY=1
T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
stage() { echo "## [$(elapsed) s] $*"; }

if [ -f "$HERE/jre.txz" ] || [ -x "$HERE/jre/bin/java" ]; then # the bundle: its runtime and jar, CUDA from the nvidia wheels
  export BUNDLE=$HERE
  . "$HERE/gpu-env.sh" # OUT, LIBDIR, J, FLAGS
  JAR=${UNTWIST_JAR:-$BUNDLE/untwist.jar}
  REPO=$PWD
else # in the repository without a bundle: the local JDK 25 and the built CLI jar
  REPO=$(cd "$HERE/../.." && pwd)
  . "$REPO/bin/jdk25.sh"
  J=$JAVA_HOME/bin/java
  FLAGS=(--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector)
  JAR=${UNTWIST_JAR:-$REPO/cli/target/untwist.jar}
  OUT=${OUT:-$PWD/gpu-out}
  mkdir -p "$OUT"
fi
FLAGS+=('-Djava.util.logging.SimpleFormatter.format=%4$s: %5$s%6$s%n')
exec > >(tee -a "$OUT/pipeline.log") 2>&1
TEE=$!
export PYTHONUNBUFFERED=1
GEN=$HERE/make_full_size_pipeline.py
[ -f "$GEN" ] || GEN=$REPO/jmh/peers/make_full_size_pipeline.py
PEER=$HERE/pipeline_peer.py
TOK=$REPO/testdata/flux-pipeline-tiny
for f in "$JAR" "$GEN" "$PEER" "$TOK/tokenizer" "$TOK/tokenizer_2"; do
  [ -e "$f" ] || { echo "gpu-pipeline: $f is missing (run from the repository root; build the jar or the bundle first)"; exit 2; }
done

if [ "$TINY" = 1 ]; then
  ROUNDS=${ROUNDS:-2} STEPS=${STEPS:-2} SIZE=${SIZE:-64} BACKEND=${BACKEND:-vector} PRECISION=${PRECISION:-f32}
  PEER_DEVICE=${PEER_DEVICE:-cpu} PEER_DTYPE=${PEER_DTYPE:-f32} GEN_ARGS=(--tiny --device cpu) NEED_GB=1
else
  ROUNDS=${ROUNDS:-3} STEPS=${STEPS:-28} SIZE=${SIZE:-1024} BACKEND=${BACKEND:-gpu} PRECISION=${PRECISION:-bf16}
  PEER_DEVICE=${PEER_DEVICE:-cuda} PEER_DTYPE=${PEER_DTYPE:-bf16} GEN_ARGS=(--device auto) NEED_GB=36
fi
TYPE=${TYPE:-bf16} MODE=${MODE:-untwisted} BUDGET=${BUDGET:-540} CYCLES=${CYCLES:-0}
[ "$TYPE" = fp8 ] && [ "$TINY" = 0 ] && NEED_GB=19
THREADS=$(nproc)
PROMPT="a watercolor painting of a fox in the snow"
REF_PROMPT="a photo of a cat sitting on a red chair"
if [ -z "${WEIGHTS:-}" ]; then
  name=untwist-weights-$([ "$TINY" = 1 ] && echo tiny || echo dev)-$TYPE
  for d in /dev/shm "${TMPDIR:-/tmp}" /tmp "$PWD"; do # an earlier call's files first (a warm machine), else room for new ones
    [ -f "$d/$name/manifest.json" ] && { WEIGHTS=$d/$name; break; }
  done
  for d in /dev/shm "${TMPDIR:-/tmp}" /tmp "$PWD"; do
    [ -n "${WEIGHTS:-}" ] && break
    avail=$(df -BG --output=avail "$d" 2>/dev/null | tail -n 1 | tr -dc 0-9)
    if [ -n "$avail" ] && [ "$avail" -ge "$NEED_GB" ]; then WEIGHTS=$d/$name; fi
  done
  [ -n "${WEIGHTS:-}" ] || { echo "gpu-pipeline: no folder with $NEED_GB GB free among /dev/shm, ${TMPDIR:-/tmp}, /tmp, $PWD: set WEIGHTS"; exit 2; }
fi
WORK=$WEIGHTS/run
mkdir -p "$WORK"
rm -f "$WORK"/*.log "$WORK"/*.json "$WORK"/*.png
COLD_ROUNDS=${COLD_ROUNDS:-}
printf '%s\n' 'handlers=java.util.logging.ConsoleHandler' 'java.util.logging.ConsoleHandler.level=FINE' \
    'java.util.logging.SimpleFormatter.format=%4$s: %5$s%6$s%n' '.level=INFO' 'org.untwist.gpu.level=FINE' > "$WORK/logging.properties"
UNTWIST_FLAGS=(-Djava.util.logging.config.file="$WORK/logging.properties" -Duntwist.gpu.kernelCache="$WORK/gpu-cache")

stage "machine; settings: ROUNDS=$ROUNDS STEPS=$STEPS SIZE=$SIZE TYPE=$TYPE MODE=$MODE backend $BACKEND/$PRECISION, peer $PEER_DEVICE/$PEER_DTYPE, WEIGHTS=$WEIGHTS BUDGET=$BUDGET s"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader
echo "$(nproc) cores; $(free -g | awk '/Mem:/{print $2 " GiB RAM, " $7 " GiB available"}'); git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
df -h "$WEIGHTS" | tail -n 1
python3 -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda, "GPU", torch.cuda.is_available())'
python3 -c 'import transformers; print("transformers", transformers.__version__, "(not used)")' 2>/dev/null || echo "transformers: not installed (not needed)"

stage "weights: make_full_size_pipeline.py $WEIGHTS $TYPE --dev ${GEN_ARGS[*]}"
timeout "${GEN_TIMEOUT:-300}" python3 "$GEN" "$WEIGHTS" "$TYPE" --dev "${GEN_ARGS[@]}" || { echo "gpu-pipeline: writing the weights failed"; exit 1; }
part() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1] + "/manifest.json"))[sys.argv[2]])' "$WEIGHTS" "$1"; }
FLUX=$WEIGHTS/$(part flux) T5=$WEIGHTS/$(part t5) CLIP=$WEIGHTS/$(part clip) AE=$WEIGHTS/$(part ae)
ls -la "$WEIGHTS"

stage "reference image ${SIZE}x$SIZE and token ids (untwist tokenize; the peer reads the same ids)"
python3 "$PEER" reference-png "$SIZE" "$SIZE" "$WORK/reference.png" || exit 1
for t in tokenizer:77:clip tokenizer_2:512:t5; do
  IFS=: read -r dir len name <<< "$t"
  "$J" "${FLAGS[@]}" -jar "$JAR" tokenize --model "$TOK/$dir" --text "$REF_PROMPT" "$PROMPT" --length "$len" > "$WORK/ids-$name.txt" 2>/dev/null \
    || { echo "gpu-pipeline: untwist tokenize failed"; exit 1; }
done
python3 "$PEER" ids "$WORK/ids-clip.txt" "$WORK/ids-t5.txt" "$WORK/ids.json" || exit 1

memwatch() { # FILE: the GPU's used memory every 250 ms, in the background; prints the watcher's pid
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 250 > "$1" 2>/dev/null &
    echo $!
  fi
}
memstop() { # PID FILE: stops the watcher, prints the peak
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null; wait "$1" 2>/dev/null
  echo "  peak GPU memory in use (nvidia-smi, every 250 ms): $(sort -n "$2" | tail -n 1) MiB"
}
UNTWIST_WALLS=() PEER_WALLS=() LAST_U=0 LAST_P=0
fits() { awk -v e="$(elapsed)" -v n="$1" -v b="$BUDGET" 'BEGIN { exit !(e + 1.15 * n + 15 < b) }'; }
run_untwist() {
  local r=$1 log=$WORK/untwist-$1.log t0 w pid
  local cold=""
  if [[ " $COLD_ROUNDS " == *" $r "* ]]; then rm -f "$WORK"/gpu-cache/cudnn-attention-*.tsv; cold=" (no cuDNN winners on disk)"; fi
  stage "round $r: untwist generate --backend $BACKEND --precision $PRECISION$cold"
  pid=$(memwatch "$WORK/mem-untwist-$r.txt")
  t0=$(date +%s.%N)
  timeout "${UNTWIST_TIMEOUT:-240}" "$J" "${FLAGS[@]}" "${UNTWIST_FLAGS[@]}" -jar "$JAR" generate --backend "$BACKEND" --precision "$PRECISION" --threads "$THREADS" \
      --model "$FLUX" --t5 "$T5" --clip "$CLIP" --vae "$AE" --clip-tokenizer "$TOK/tokenizer" --t5-tokenizer "$TOK/tokenizer_2" \
      --prompt "$PROMPT" --reference "$WORK/reference.png" --reference-prompt "$REF_PROMPT" --mode "$MODE" \
      --width "$SIZE" --height "$SIZE" --steps "$STEPS" --seed 7 --ref-seed 11 --out "$WORK/untwist.png" > "$log" 2>&1
  local rc=$?
  w=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  echo "  rc=$rc, wall $w s"
  grep -E "^(generated|  T5|  step times|INFO: untwist backend|Exception|Error|untwist:)|rror|NVRTC|gpu backend closed" "$log" | cut -c1-400
  memstop "$pid" "$WORK/mem-untwist-$r.txt"
  [ "$rc" = 0 ] && UNTWIST_WALLS+=("$w") && LAST_U=$w
  [ "$rc" = 0 ] || tail -n 20 "$log"
}
run_peer() {
  local r=$1 t0 w pid
  stage "round $r: PyTorch peer ($PEER_DEVICE, $PEER_DTYPE)"
  pid=$(memwatch "$WORK/mem-peer-$r.txt")
  t0=$(date +%s.%N)
  timeout "${PEER_TIMEOUT:-200}" python3 "$PEER" run --weights "$WEIGHTS" --ids "$WORK/ids.json" --reference "$WORK/reference.png" \
      --width "$SIZE" --height "$SIZE" --steps "$STEPS" --mode "$MODE" --seed 7 --ref-seed 11 --device "$PEER_DEVICE" --dtype "$PEER_DTYPE" \
      --threads "$THREADS" --out "$WORK/peer-$r.json" --png "$WORK/peer.png" > "$WORK/peer-$r.log" 2>&1
  local rc=$?
  w=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  echo "  rc=$rc, wall $w s"
  [ "$rc" = 0 ] && cat "$WORK/peer-$r.log" && PEER_WALLS+=("$w") && LAST_P=$w
  [ "$rc" = 0 ] || tail -n 20 "$WORK/peer-$r.log"
  memstop "$pid" "$WORK/mem-peer-$r.txt"
}
for r in $(seq 1 "$ROUNDS"); do
  if [ "$r" -gt 1 ] && ! fits "$(awk -v u="$LAST_U" -v p="$LAST_P" 'BEGIN { print u + p }')"; then
    stage "stopping after $((r - 1)) rounds: another round (about $LAST_U + $LAST_P s) would pass BUDGET=$BUDGET s"
    break
  fi
  run_untwist "$r"
  run_peer "$r"
done

stage "table"
TITLE="${SIZE}x$SIZE, $STEPS steps, mode $MODE (reference + target: batch 2), $TYPE files; untwist $BACKEND/$PRECISION, PyTorch $PEER_DEVICE/$PEER_DTYPE"
python3 "$PEER" table --title "$TITLE" --untwist "$WORK"/untwist-*.log --peer $(ls "$WORK"/peer-*.json 2>/dev/null) \
    --untwist-wall "${UNTWIST_WALLS[@]}" --peer-wall "${PEER_WALLS[@]}" --images "$WORK/untwist.png" "$WORK/peer.png" --out "$OUT/table.md"
for tool in untwist peer; do
  for f in "$WORK/$tool"-*.log; do [ -f "$f" ] && { echo "==== $(basename "$f")"; cat "$f"; }; done > "$OUT/$tool.log"
  [ -f "$WORK/$tool.png" ] && cp "$WORK/$tool.png" "$OUT/$tool.png"
done
if [ "$TINY" = 1 ] && [ "$PRECISION" = f32 ] && [ "$PEER_DTYPE" = f32 ]; then # float32 on both sides from the same files, ids and noise
  python3 "$PEER" compare "$WORK/untwist.png" "$WORK/peer.png" --bound 1 --fraction 0.005 || exit 1
fi

if [ "$CYCLES" -gt 0 ] && [ -f "${BUNDLE:-/nonexistent}/junit-console.jar" ]; then
  stage "GpuPipelineCyclesTest, $CYCLES cycles (limit: what is left of BUDGET)"
  left=$(awk -v e="$(elapsed)" -v b="$BUDGET" 'BEGIN { printf "%d", b - e }')
  if [ "$left" -gt 30 ]; then
    timeout "$left" "$J" "${FLAGS[@]}" -Xss4m -Duntwist.test.pipelineCycles="$CYCLES" -Duntwist.golden="$REPO/testdata/golden" \
        -jar "$BUNDLE/junit-console.jar" execute --class-path "$BUNDLE/untwist.jar:$BUNDLE/test-classes" \
        --select-class org.untwist.GpuPipelineCyclesTest --details=tree --disable-banner --disable-ansi-colors 2>&1 | tail -n 25
  else
    echo "  skipped: $left s left"
  fi
fi
stage "done"
exec >&- 2>&-
wait "$TEE" 2>/dev/null # pipeline.log complete before the call returns
