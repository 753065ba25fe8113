#!/usr/bin/env bash
# The autoencoder's ops on the gpu backend (issue 16): GpuImageOpsTest (device tensors, both precisions, every weight
# type), GpuImageOpsPlanTest, ImageOpConformanceTest (the shared cross-backend suite, where the bundle's test classes
# have it: it comes from branch vector-image-ops), and the old suites whose code paths changed (CublasGemm's weight
# handling is now shared with conv2d: OpConformanceTest, GoldenConformanceTest, GpuTextOpsTest's F8 linear,
# GpuBackendTest). Writes $OUT/image-ops.log. In the bundle of make-bundle.sh; run from the repository root (the
# suite reads testdata/golden), e.g. through the device tool with the bundle carried:
# bash .gpubundle/image-ops-check.sh [timeout seconds, default 480].
set -u
export BUNDLE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BUNDLE/gpu-env.sh"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/device.txt"
SELECT=(--select-class org.untwist.gpu.GpuImageOpsTest --select-class org.untwist.gpu.GpuImageOpsPlanTest)
if [ -f "$BUNDLE/test-classes/org/untwist/ImageOpConformanceTest.class" ]; then
    SELECT+=(--select-class org.untwist.ImageOpConformanceTest)
else
    echo "ImageOpConformanceTest is not in this bundle (branch vector-image-ops not merged): not run" | tee "$OUT/image-ops.log"
fi
SELECT+=(--select-class org.untwist.OpConformanceTest --select-class org.untwist.GoldenConformanceTest
         --select-class org.untwist.gpu.GpuTextOpsTest --select-class org.untwist.gpu.GpuBackendTest)
( time timeout ${1:-480} "$J" "${FLAGS[@]}" -Xss4m -Duntwist.test.backends=gpu -Duntwist.golden="$PWD/testdata/golden" \
    -jar "$BUNDLE/junit-console.jar" execute --class-path "$BUNDLE/untwist.jar:$BUNDLE/test-classes" "${SELECT[@]}" \
    --details=tree --disable-banner --disable-ansi-colors ) >> "$OUT/image-ops.log" 2>&1
echo "image-ops rc=$?" | tee -a "$OUT/image-ops.log"
grep -E '✘|aborted|Assumption|max abs error|worst' "$OUT/image-ops.log" | head -80
tail -22 "$OUT/image-ops.log"
