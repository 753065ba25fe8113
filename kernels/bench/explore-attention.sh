#!/usr/bin/env bash
# An exploration run on the GPU machine (bundle of make-bundle.sh in $BUNDLE, output in $OUT): the kernels
# module's GPU tests, the survey of cuDNN's engine configurations for the attention shapes with the attention
# rows of the benchmark, PyTorch's SDPA backends (sdpa_probe.py), and the cuDNN/cudnn-frontend API logs of one
# PyTorch cuDNN SDPA call per shape (filtered to the lines naming engines, knobs and tensors).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh" # BUNDLE, OUT, LIBDIR, J, FLAGS, BENCH_CP
( time timeout 100 "$J" "${FLAGS[@]}" -Xss4m -jar "$BUNDLE/junit-console.jar" execute --class-path "$BUNDLE/untwist.jar:$BUNDLE/test-classes" \
    --select-class org.untwist.gpu.GpuBackendTest --details=tree --disable-banner --disable-ansi-colors ) > "$OUT/tests.log" 2>&1
echo "tests rc=$?" >> "$OUT/tests.log"; tail -30 "$OUT/tests.log"
( time timeout 170 "$J" "${FLAGS[@]}" -cp "$BENCH_CP" org.untwist.gpubench.GpuBenchmark /tmp/survey.tsv survey attention ) > "$OUT/survey.log" 2>&1
echo "survey rc=$?" >> "$OUT/survey.log"; cat "$OUT/survey.log"
( timeout 80 python3 "$BUNDLE/sdpa_probe.py" ) > "$OUT/probe.log" 2>&1
echo "probe rc=$?" >> "$OUT/probe.log"; cat "$OUT/probe.log"
CUDNN_FRONTEND_LOG_INFO=1 CUDNN_FRONTEND_LOG_FILE=/tmp/fe.log CUDNN_LOGLEVEL_DBG=3 CUDNN_LOGDEST_DBG=/tmp/api.log \
  timeout 60 python3 "$BUNDLE/sdpa_probe.py" --once > "$OUT/once.log" 2>&1
echo "once rc=$? fe.log $(wc -c < /tmp/fe.log 2>/dev/null) api.log $(wc -c < /tmp/api.log 2>/dev/null)" >> "$OUT/once.log"
grep -i -n "engine\|knob\|global_index\|sdpa\|plan\|heur\|stride\|is_inference\|implementation" /tmp/fe.log 2>/dev/null | cut -c1-400 | head -400 > "$OUT/fe-grep.txt"
grep -i -n "engine\|knob\|global\|SDPA\|behavior\|numerical" /tmp/api.log 2>/dev/null | cut -c1-300 | head -600 > "$OUT/api-grep.txt"
cat "$OUT/once.log"; wc -l "$OUT"/*.txt
