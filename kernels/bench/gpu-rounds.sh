#!/usr/bin/env bash
# The GPU ratios as the project quotes them: ROUNDS (default 3) alternating runs of the Java GPU benchmark and of
# PyTorch on the same rows in one sitting, plus the forward through torch.compile (gpu_rounds.py). Run on the GPU
# machine from the repository root, with the bundle of make-bundle.sh: OUT=... bash BUNDLE/gpu-rounds.sh [ROUNDS]
# Writes $OUT/rounds/rounds.md (the table), untwist-<r>.tsv and java-<r>.log, torch-profile.md (PyTorch's forward by
# kernel kind, eager and compiled; TORCH_PROFILE=0 skips it) and, with PROFILE=1 (default), forward-profile.md (untwist's
# forward per backend operation, GpuBenchmark's profile section: timed by CUDA events with nothing synchronized, then each
# operation between two synchronizes).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh" # BUNDLE, OUT, LIBDIR, J, FLAGS, BENCH_CP
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/device.txt"
python3 "$BUNDLE/gpu_rounds.py" "${1:-3}" "$OUT/rounds" -- "$J" "${FLAGS[@]}" -cp "$BENCH_CP" org.untwist.gpubench.GpuBenchmark
if [ "${PROFILE:-1}" = 1 ]; then
  "$J" "${FLAGS[@]}" -cp "$BENCH_CP" org.untwist.gpubench.GpuBenchmark "$OUT/rounds/profile.tsv" profile > "$OUT/rounds/java-profile.log" 2>&1
  echo "untwist forward profile: rc=$? ($OUT/rounds/forward-profile.md)"
fi
