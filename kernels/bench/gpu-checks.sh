#!/usr/bin/env bash
# Every GPU check of the text, image and pipeline issues in one device call (it replaced the three scripts
# text-ops-check.sh, image-ops-check.sh and pipeline-check.sh, each suite run once): the op suites in one JVM (log $OUT/ops.log), then
# the models in a second (log $OUT/pipeline.log), all with -Duntwist.test.backends=gpu; with SUITES naming "cycles",
# also issue 18's 1,000 pipeline create/run/close cycles (GpuPipelineCyclesTest: device free memory before and after,
# log $OUT/cycles.log) in a third. SUITES picks the suites and their order (default "ops pipeline": the three together
# may pass a 10-minute call). In the bundle of make-bundle.sh; run from the repository root with the bundle carried:
#   [SUITES="ops pipeline"] bash .gpubundle/gpu-checks.sh [ops timeout s, default 300] [pipeline timeout s, default 240] \
#       [cycles timeout s, default 400]
#   SUITES=cycles bash .gpubundle/gpu-checks.sh 0 0 400
#   SUITES="cycles ops pipeline" bash .gpubundle/gpu-checks.sh 200 40 300
#   SUITES=ops OPS_CLASSES="org.untwist.gpu.GpuBf16ActivationsTest org.untwist.gpu.GpuBackendTest" bash .gpubundle/gpu-checks.sh 120
set -u
export BUNDLE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BUNDLE/gpu-env.sh"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/device.txt"
suite() { # name timeout classes...
  local name=$1 limit=$2; shift 2
  local select=()
  for c in "$@"; do
    if [ -f "$BUNDLE/test-classes/${c//.//}.class" ]; then select+=(--select-class "$c"); else echo "$c: not in this bundle" >> "$OUT/$name.log"; fi
  done
  ( time timeout "$limit" "$J" "${FLAGS[@]}" -Xss4m -Duntwist.test.backends=gpu -Duntwist.golden="$PWD/testdata/golden" \
      -jar "$BUNDLE/junit-console.jar" execute --class-path "$BUNDLE/untwist.jar:$BUNDLE/test-classes" "${select[@]}" \
      --details=tree --disable-banner --disable-ansi-colors ) >> "$OUT/$name.log" 2>&1
  echo "$name rc=$?" | tee -a "$OUT/$name.log"
  grep -E '✘|aborted|Assumption|max abs error|worst|max \|diff\||pipeline cycles in|cycles: device free' "$OUT/$name.log" | head -60
  tail -16 "$OUT/$name.log"
}
SUITES="${SUITES:-ops pipeline}"
OPS_ALL="org.untwist.TextOpConformanceTest org.untwist.gpu.GpuTextOpsTest org.untwist.ImageOpConformanceTest
    org.untwist.gpu.GpuImageOpsTest org.untwist.gpu.GpuImageOpsPlanTest org.untwist.QuantizedWeightsConformanceTest
    org.untwist.OpConformanceTest org.untwist.FusedOpConformanceTest org.untwist.GoldenConformanceTest org.untwist.gpu.GpuBackendTest
    org.untwist.gpu.GpuLinearEpilogueTest org.untwist.gpu.GpuBf16ActivationsTest"
# OPS_CLASSES narrows the op suite to the classes a change touches, when a call has too little time for all of them
for s in $SUITES; do # in the order SUITES names them: the one that matters most first, in case the call's limit comes
  case $s in
    ops) suite ops "${1:-300}" ${OPS_CLASSES:-$OPS_ALL} ;;
    pipeline) suite pipeline "${2:-240}" org.untwist.TextEncoderGoldenTest org.untwist.AutoEncoderGoldenTest org.untwist.VaeCommandTest \
        org.untwist.FluxCheckpointTest org.untwist.EndToEndTest org.untwist.PromptGenerateCommandTest org.untwist.GgufCheckpointTest ;;
    cycles) suite cycles "${3:-400}" org.untwist.GpuPipelineCyclesTest ;;
    *) echo "gpu-checks: no suite named $s (ops, pipeline, cycles)" ;;
  esac
done
exit 0 # each suite printed its rc
