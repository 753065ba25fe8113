#!/usr/bin/env bash
# A FLUX.1-schnell-sized generation on this machine's CPU (issue 17): the random full-shape single files of
# jmh/peers/make_full_size_pipeline.py (transformer, T5-XXL, CLIP-L, autoencoder), one 512x512 target sharing
# attention with a style reference (mode untwisted; so every step runs a batch of 2), 4 steps, under /usr/bin/time -v
# for the peak RSS. The generate log prints each phase's wall time and the time per step.
#
#   [BACKEND=vector|onednn] jmh/full-size/run-full-size.sh DIR fp8|bf16 [extra generate options]
#
# DIR as given to the writer; BACKEND vector (float32 compute, the default) or onednn (the CPU's bf16 precision).
# Writes jmh/full-size/logs/<type>-<backend>-<date>.log. The tokenizers are the test pipeline's (ids fall inside the
# full-size vocabularies; the weights are random, so the picture is noise either way).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${1:?model folder}; TYPE=${2:?fp8 or bf16}; shift 2
mkdir -p "$ROOT/jmh/full-size/logs"
BACKEND=${BACKEND:-vector}
LOG="$ROOT/jmh/full-size/logs/$TYPE-$BACKEND-$(date -u +%Y%m%dT%H%MZ).log"
{
  echo "# $(date -u) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "# flags: $(grep -m1 flags /proc/cpuinfo | grep -o -w -E 'avx2|avx512f|avx512_bf16|fma|amx_bf16' | sort -u | xargs)"
  echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg); git $(git -C "$ROOT" rev-parse --short HEAD)"
  /usr/bin/time -v "$ROOT/bin/untwist" generate --backend "$BACKEND" --threads "$(nproc)" \
      --model "$DIR/flux1-schnell-sized-$TYPE.safetensors" --t5 "$DIR/t5xxl-sized-$TYPE.safetensors" \
      --clip "$DIR/clip_l.safetensors" --vae "$DIR/ae.safetensors" \
      --clip-tokenizer "$ROOT/testdata/flux-pipeline-tiny/tokenizer" --t5-tokenizer "$ROOT/testdata/flux-pipeline-tiny/tokenizer_2" \
      --prompt "a watercolor painting of a fox in the snow" --reference "$ROOT/testdata/e2e/reference.png" \
      --reference-prompt "a photo of a cat sitting on a red chair" \
      --width 512 --height 512 --steps 4 --seed 7 --out "${TMPDIR:-/tmp}/full-size-$TYPE.png" "$@"
  echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee "$LOG"
