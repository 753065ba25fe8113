#!/usr/bin/env bash
# One run on the GPU machine: the conformance suite against the gpu backend, then the benchmark (untwist, then
# PyTorch on the same shapes) and the comparison table. Expects, in $BUNDLE (default: this script's folder):
# jre.txz (a jlink runtime), untwist.jar (the shaded CLI jar), test-classes/ (the
# tests module's and the kernels module's test classes), junit-console.jar, torch_peer.py (with flux.py), sdpa_probe.py. Writes to $OUT.
# make-bundle.sh builds all of it.
set -u
BUNDLE=${BUNDLE:-$(cd "$(dirname "$0")" && pwd)}
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
SP=$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])'); SP=${SP%/nvidia}
LIBDIR=$SP/nvidia/cu13/lib:$SP/nvidia/cudnn/lib
if [ ! -x "$BUNDLE/jre/bin/java" ]; then # jre.txz: one top folder holding the runtime; python unpacks it even without xz
  python3 -c 'import sys, tarfile, os; t = tarfile.open(sys.argv[1]); top = t.getnames()[0].split("/")[0]; t.extractall(sys.argv[2]); os.rename(os.path.join(sys.argv[2], top), os.path.join(sys.argv[2], "jre"))' "$BUNDLE/jre.txz" "$BUNDLE"
fi
J="$BUNDLE/jre/bin/java"
FLAGS=(--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Duntwist.cuda.libDir="$LIBDIR"
       -Duntwist.gpu.kernelCache="$BUNDLE/kernel-cache")
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/device.txt"

# NativeMemoryTest (host native memory) needs the VM.native_memory diagnostic command, which the trimmed runtime
# lacks; it runs in CI. Device memory leaks are tested by GpuBackendTest.
echo "## conformance: the shared suite with -Duntwist.test.backends=gpu (precision f32, TF32 off), and the kernels module's GPU tests"
( time timeout 150 "$J" "${FLAGS[@]}" -Xss4m -XX:NativeMemoryTracking=summary -Duntwist.test.backends=gpu \
    -Duntwist.golden="$PWD/testdata/golden" -jar "$BUNDLE/junit-console.jar" execute \
    --class-path "$BUNDLE/untwist.jar:$BUNDLE/test-classes" --scan-class-path "$BUNDLE/test-classes" \
    --exclude-classname '.*NativeMemoryTest' --details=tree --disable-banner --disable-ansi-colors ) > "$OUT/conformance.log" 2>&1
echo "conformance rc=$?" | tee -a "$OUT/conformance.log"
tail -25 "$OUT/conformance.log"

echo "## benchmark: untwist"
( time timeout 120 "$J" "${FLAGS[@]}" -cp "$BUNDLE/untwist.jar" org.untwist.gpu.GpuBenchmark "$OUT/untwist.tsv" ) > "$OUT/bench-java.log" 2>&1
echo "java bench rc=$?" | tee -a "$OUT/bench-java.log"; cat "$OUT/bench-java.log"
echo "## benchmark: PyTorch on the same shapes, and the table"
( time timeout 150 python3 "$BUNDLE/torch_peer.py" "$OUT/untwist.tsv" "$OUT/table.md" ) > "$OUT/bench-torch.log" 2>&1
echo "torch rc=$?" | tee -a "$OUT/bench-torch.log"; cat "$OUT/bench-torch.log"
echo "## PyTorch's SDPA backends on the attention shapes, and the kernels they run"
( timeout 90 python3 "$BUNDLE/sdpa_probe.py" ) > "$OUT/sdpa-probe.log" 2>&1
echo "sdpa probe rc=$?" | tee -a "$OUT/sdpa-probe.log"; cat "$OUT/sdpa-probe.log"
