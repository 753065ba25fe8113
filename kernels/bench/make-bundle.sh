#!/usr/bin/env bash
# Builds what run-on-gpu.sh, gpu-checks.sh and gpu-pipeline.sh need on a GPU machine without Java, into DIR (default
# kernels/target/gpu-bundle): the shaded CLI jar (every module, the CUDA source included), the GPU benchmark's jar
# (gpu-bench), the test classes of the shared suite and of the kernels module, the JUnit console launcher, a jlink'ed
# JDK 25 runtime packed as jre.txz, and the scripts (with the Python files they import).
# Run it where JDK 25 and Maven are; copy DIR to the GPU machine and run DIR/run-on-gpu.sh there from the
# repository root (the suite reads testdata/golden). The runtime is linked uncompressed and packed with xz:
# 22 MB instead of 40 MB for jlink's own compression.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${1:-$ROOT/kernels/target/gpu-bundle}
source "$ROOT/bin/jdk25.sh"
cd "$ROOT"
mvn -B -ntp -q -pl cli,tests,kernels,gpu-bench -am package -DskipTests
rm -rf "$DIR"
mkdir -p "$DIR/test-classes"
cp cli/target/untwist.jar gpu-bench/target/untwist-gpu-bench.jar "$DIR/"
cp -r tests/target/test-classes/. "$DIR/test-classes/"
cp -r kernels/target/test-classes/. "$DIR/test-classes/"
# The console launcher of the JUnit Platform that matches the build's JUnit (5.14.1 -> platform 1.14.1).
mvn -B -ntp -q dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.1 -DoutputDirectory="$DIR"
mv "$DIR"/junit-platform-console-standalone-*.jar "$DIR/junit-console.jar"
# java.desktop: the CLI's analyze command draws plots; jdk.management: the suite's memory checks.
"$JAVA_HOME/bin/jlink" --add-modules java.base,jdk.incubator.vector,java.logging,jdk.unsupported,java.management,jdk.management,java.xml,java.desktop \
    --strip-debug --no-header-files --no-man-pages --output "$DIR/jre-build"
tar cf - -C "$DIR" jre-build | xz -6 -T0 > "$DIR/jre.txz"
rm -rf "$DIR/jre-build"
cp kernels/bench/run-on-gpu.sh kernels/bench/gpu-checks.sh kernels/bench/gpu-closeout.sh kernels/bench/gpu-env.sh kernels/bench/torch_peer.py kernels/bench/gpu_rounds.py kernels/bench/torch_profile.py kernels/bench/gpu-rounds.sh kernels/bench/sdpa_probe.py train/flux.py "$DIR/"
# gpu-pipeline.sh (issue 18: the whole generation, untwist against PyTorch) and the Python it runs, flat beside it.
cp kernels/bench/gpu-pipeline.sh kernels/bench/pipeline_peer.py jmh/peers/make_full_size_pipeline.py pipeline/src/test/python/text_encoders.py \
    pipeline/src/test/python/make_autoencoder_cases.py pipeline/src/test/python/reference_pipeline.py "$DIR/"
du -sh "$DIR"
