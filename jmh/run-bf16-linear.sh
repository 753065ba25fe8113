#!/usr/bin/env bash
# Bf16LinearBenchmark: the vector backend's float32 linear against the onednn backend's bf16 linear (oneDNN's bf16
# matmul) at FLUX's shapes, one JMH run per call, results appended to jmh/bf16-linear/.
#
#   jmh/run-bf16-linear.sh LABEL [extra JMH options]
#
# One JMH invocation per shape (SHAPES, default the benchmark's four), so that the two backends of a shape run back
# to back: on a shared machine the load changes within minutes. Writes jmh/bf16-linear/LABEL.json (JMH's JSON of all
# shapes) and LABEL.txt (CPU, load before each shape and at the end, command); then jmh/bf16_linear_report.py turns
# every *.json there into jmh/bf16-linear/RESULTS.md (median and range of the measurement iterations).
# SKIP_BUILD=1 reuses jmh/target/benchmarks.jar. Needs Debian's libdnnl2 for onednn.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. "$root/bin/jdk25.sh"
label=${1:?usage: jmh/run-bf16-linear.sh LABEL [JMH options]}
shift
out=jmh/bf16-linear
mkdir -p "$out"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  mvn -q -B -ntp -o -Dstyle.color=never -DskipTests package -pl jmh -am >&2
fi
shapes=(${SHAPES:-1280x3072x12288 1280x3072x3072 4608x3072x3072 4608x3072x12288})
{
  echo "label: $label"
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit: $(git rev-parse --short HEAD)"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) cpus, flags: $(grep -o -w -E 'avx512f|avx512_bf16|amx_bf16|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  echo "java: $("$JAVA_HOME/bin/java" -version 2>&1 | sed -n 2p)"
  echo "onednn: $(dpkg-query -W -f='${Package} ${Version}' libdnnl2 2>/dev/null || echo 'not installed')"
  echo "command: SHAPES='${shapes[*]}' jmh/run-bf16-linear.sh $label $*"
} > "$out/$label.txt"
parts=()
: > "$out/$label.log"
for shape in "${shapes[@]}"; do
  echo "load before $shape: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/$label.txt"
  part=$(mktemp --suffix=.json)
  parts+=("$part")
  "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar jmh/target/benchmarks.jar \
    Bf16LinearBenchmark -p shape="$shape" -rf json -rff "$part" "$@" | tee -a "$out/$label.log" | grep -E '^Bf16LinearBenchmark' || true
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/$label.txt"
python3 -c 'import json, sys; print(json.dumps([r for p in sys.argv[1:] for r in json.load(open(p))], indent=1))' "${parts[@]}" > "$out/$label.json"
rm -f "${parts[@]}"
python3 jmh/bf16_linear_report.py "$out" > "$out/RESULTS.md"
echo "wrote $out/RESULTS.md" >&2
