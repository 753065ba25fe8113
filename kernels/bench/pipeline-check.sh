#!/usr/bin/env bash
# The pipeline's models on the gpu backend: the text encoders (TextEncoderGoldenTest), the autoencoder
# (AutoEncoderGoldenTest, VaeCommandTest), checkpoints (FluxCheckpointTest), prompt to image (EndToEndTest against the
# PyTorch reference, PromptGenerateCommandTest). Writes $OUT/pipeline.log. In the bundle of make-bundle.sh; run from
# the repository root (the tests read testdata/), e.g. through the device tool with the bundle carried:
# bash .gpubundle/pipeline-check.sh [timeout seconds, default 480].
set -u
export BUNDLE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BUNDLE/gpu-env.sh"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/device.txt"
( time timeout ${1:-480} "$J" "${FLAGS[@]}" -Xss4m -Duntwist.test.backends=gpu -Duntwist.golden="$PWD/testdata/golden" \
    -jar "$BUNDLE/junit-console.jar" execute --class-path "$BUNDLE/untwist.jar:$BUNDLE/test-classes" \
    --select-class org.untwist.TextEncoderGoldenTest --select-class org.untwist.AutoEncoderGoldenTest \
    --select-class org.untwist.VaeCommandTest --select-class org.untwist.FluxCheckpointTest \
    --select-class org.untwist.EndToEndTest --select-class org.untwist.PromptGenerateCommandTest \
    --details=tree --disable-banner --disable-ansi-colors ) > "$OUT/pipeline.log" 2>&1
echo "pipeline rc=$?" | tee -a "$OUT/pipeline.log"
grep -E '✘|aborted|Assumption|max \|diff\|' "$OUT/pipeline.log" | head -60
tail -22 "$OUT/pipeline.log"
