#!/usr/bin/env bash
# One run on the GPU machine: the conformance suite against the gpu backend, then the benchmark (untwist, then
# PyTorch on the same shapes) and the comparison table. Expects, in $BUNDLE (default: this script's folder):
# jre.txz (a jlink runtime), untwist.jar (the shaded CLI jar), untwist-gpu-bench.jar (the benchmark), test-classes/
# (the tests module's and the kernels module's test classes), junit-console.jar, gpu-env.sh, torch_peer.py (with
# flux.py), sdpa_probe.py. Writes to $OUT.
# make-bundle.sh builds all of it.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh" # BUNDLE, OUT, LIBDIR, J, FLAGS, BENCH_CP
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/device.txt"

# NativeMemoryTest (host native memory) needs the VM.native_memory diagnostic command, which the trimmed runtime
# lacks; it runs in CI. Device memory leaks are tested by GpuBackendTest; GpuPipelineCyclesTest (1,000 whole pipelines,
# minutes) is left to SUITES=cycles gpu-checks.sh.
echo "## conformance: the shared suite with -Duntwist.test.backends=gpu (precision f32, TF32 off), and the kernels module's GPU tests"
( time timeout 150 "$J" "${FLAGS[@]}" -Xss4m -XX:NativeMemoryTracking=summary -Duntwist.test.backends=gpu \
    -Duntwist.golden="$PWD/testdata/golden" -jar "$BUNDLE/junit-console.jar" execute \
    --class-path "$BUNDLE/untwist.jar:$BUNDLE/test-classes" --scan-class-path "$BUNDLE/test-classes" \
    --exclude-classname '.*NativeMemoryTest' --exclude-classname '.*GpuPipelineCyclesTest' --details=tree --disable-banner --disable-ansi-colors ) > "$OUT/conformance.log" 2>&1
echo "conformance rc=$?" | tee -a "$OUT/conformance.log"
tail -25 "$OUT/conformance.log"

echo "## benchmark: untwist"
( time timeout 120 "$J" "${FLAGS[@]}" -cp "$BENCH_CP" org.untwist.gpubench.GpuBenchmark "$OUT/untwist.tsv" ) > "$OUT/bench-java.log" 2>&1
echo "java bench rc=$?" | tee -a "$OUT/bench-java.log"; cat "$OUT/bench-java.log"
echo "## benchmark: PyTorch on the same shapes, and the table"
( time timeout 150 python3 "$BUNDLE/torch_peer.py" "$OUT/untwist.tsv" "$OUT/table.md" ) > "$OUT/bench-torch.log" 2>&1
echo "torch rc=$?" | tee -a "$OUT/bench-torch.log"; cat "$OUT/bench-torch.log"
echo "## PyTorch's SDPA backends on the attention shapes, and the kernels they run"
( timeout 90 python3 "$BUNDLE/sdpa_probe.py" ) > "$OUT/sdpa-probe.log" 2>&1
echo "sdpa probe rc=$?" | tee -a "$OUT/sdpa-probe.log"; cat "$OUT/sdpa-probe.log"
