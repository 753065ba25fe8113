#!/usr/bin/env bash
# Bf16LinearBenchmark: the vector backend's float32 linear against the onednn backend's bf16 linear (oneDNN's bf16
# matmul) at FLUX's shapes, one JMH run per call, results appended to jmh/bf16-linear/.
#
#   jmh/run-bf16-linear.sh LABEL [extra JMH options]
#
# Writes jmh/bf16-linear/LABEL.json (JMH's JSON) and LABEL.txt (CPU, load before and after, command); then
# jmh/bf16_linear_report.py turns every *.json there into jmh/bf16-linear/RESULTS.md (median and range of the
# measurement iterations). SKIP_BUILD=1 reuses jmh/target/benchmarks.jar. Needs Debian's libdnnl2 for onednn.
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
cmd=("$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar jmh/target/benchmarks.jar
  Bf16LinearBenchmark -rf json -rff "$out/$label.json" "$@")
{
  echo "label: $label"
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit: $(git rev-parse --short HEAD)"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) cpus, flags: $(grep -o -w -E 'avx512f|avx512_bf16|amx_bf16|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  echo "java: $("$JAVA_HOME/bin/java" -version 2>&1 | sed -n 2p)"
  echo "onednn: $(dpkg-query -W -f='${Package} ${Version}' libdnnl2 2>/dev/null || echo 'not installed')"
  echo "command: jmh/run-bf16-linear.sh $label $*"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/$label.txt"
"${cmd[@]}" | tee "$out/$label.log" | grep -E '^(Benchmark|Bf16LinearBenchmark)' || true
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/$label.txt"
python3 jmh/bf16_linear_report.py "$out" > "$out/RESULTS.md"
echo "wrote $out/RESULTS.md" >&2
