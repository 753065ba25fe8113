#!/usr/bin/env bash
# The text encoders' ops on the gpu backend: TextOpConformanceTest, GpuTextOpsTest, and the old suites that the
# changed kernels touch (OpConformanceTest, GoldenConformanceTest, GpuBackendTest). Writes $OUT/text-ops.log.
# In the bundle of make-bundle.sh; run from the repository root (the suite reads testdata/golden), e.g. through the
# device tool with the bundle carried: bash .gpubundle/text-ops-check.sh [timeout seconds, default 420].
set -u
export BUNDLE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BUNDLE/gpu-env.sh"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/device.txt"
( time timeout ${1:-420} "$J" "${FLAGS[@]}" -Xss4m -Duntwist.test.backends=gpu -Duntwist.golden="$PWD/testdata/golden" \
    -jar "$BUNDLE/junit-console.jar" execute --class-path "$BUNDLE/untwist.jar:$BUNDLE/test-classes" \
    --select-class org.untwist.TextOpConformanceTest --select-class org.untwist.gpu.GpuTextOpsTest \
    --select-class org.untwist.OpConformanceTest --select-class org.untwist.GoldenConformanceTest --select-class org.untwist.gpu.GpuBackendTest \
    --details=tree --disable-banner --disable-ansi-colors ) > "$OUT/text-ops.log" 2>&1
echo "text-ops rc=$?" | tee -a "$OUT/text-ops.log"
grep -E '✘|aborted|Assumption|max abs error' "$OUT/text-ops.log" | head -60
tail -22 "$OUT/text-ops.log"
