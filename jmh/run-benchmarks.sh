#!/usr/bin/env bash
# Runs untwist's JMH suite against its peers (ONNX Runtime for attention, OpenBLAS for GEMM) in one JMH run and
# writes the results as markdown.
#
#   jmh/run-benchmarks.sh [extra JMH options]     full suite (about 10-12 minutes): jmh/results.json, jmh/RESULTS.md
#   QUICK=1 jmh/run-benchmarks.sh                 smoke test (2-3 minutes): small shapes, 1 s iterations, one fork;
#                                                 writes jmh/target/smoke/{results.json,RESULTS.md}, marked SMOKE TEST
#   SUITE=gemm-shapes jmh/run-benchmarks.sh       f32 linear vs OpenBLAS sgemm at 2 threads on 2048³ and FLUX's linear
#                                                 shapes (about 15 minutes): jmh/gemm-shapes/{results.json,RESULTS.md}
#
# Environment: SKIP_BUILD=1 reuses jmh/target/benchmarks.jar; SKIP_INSTALL=1 never calls apt-get;
# FMA_PEAK (default 1:217,2:441 GFLOP/s) and TRIAD (default 1:34,2:59 GB/s) are this machine's measured peaks by
# thread count, used only for the "% of peak" columns; NOTE (optional) adds one line to the notes of RESULTS.md.
#
# What it does: installs OpenBLAS (apt-get libopenblas0-pthread, needs root; without it the OpenBLAS benchmark is
# skipped with a note), builds the jmh module with -Ppeers (downloads ONNX Runtime from Maven Central once), runs
# the suite with JSON output, and turns the JSON into markdown with jmh/jmh_report.py.
# The benchmark JVMs run without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (which force OpenBLAS's AVX2 kernel on this
# machine) and with OPENBLAS_NUM_THREADS=2; each OpenBLAS fork then sets its own thread count. RESULTS.md prints
# the kernel OpenBLAS selected.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. "$root/bin/jdk25.sh"

QUICK=${QUICK:-0}
SUITE=${SUITE:-main}
FMA_PEAK=${FMA_PEAK:-1:217,2:441}
TRIAD=${TRIAD:-1:34,2:59}
is_root() { [ "$(id -u)" = 0 ]; }
say() { echo "run-benchmarks: $*" >&2; }
notes=()
[ -n "${NOTE:-}" ] && notes+=("$NOTE")

# FLUX's linears, M×N×K: rows 1,280 (512²: 1,024 image + 256 text tokens) and 4,608 (1024²: 4,096 + 512); qkv,
# proj, MLP in and out of the double blocks, linear1 and linear2 of the single blocks.
flux_shapes=""
for m in 1280 4608; do
  for nk in 9216x3072 3072x3072 12288x3072 3072x12288 21504x3072 3072x15360; do flux_shapes+="${flux_shapes:+,}${m}x${nk}"; done
done
gemm_shapes="2048x2048x2048 ${flux_shapes//,/ }"
gemm_opts=(-p threads=2 -wi 3 -w 2s -i 5 -r 2s -f 1) # per shape, with -p shape=S
if [ "$SUITE" = gemm-shapes ]; then
  outdir=jmh/gemm-shapes
  json=$outdir/results.json
  results=$outdir/RESULTS.md
  jmh_opts=("${gemm_opts[@]}")
elif [ "$QUICK" = 1 ]; then
  outdir=jmh/target/smoke
  json=$outdir/results.json
  results=$outdir/RESULTS.md
  jmh_opts=(-wi 1 -w 1s -i 1 -r 1s -f 1 -p heads=4 -p lq=256 -p lk=512 -p lr=256 -p shape=512x512x512 -p tokens=512)
else
  outdir=jmh
  json=jmh/results.json
  results=jmh/RESULTS.md
  jmh_opts=()
fi
log=jmh/target/jmh-run.log

# ---- what the run needs ----------------------------------------------------------------------------------
if ! command -v mvn >/dev/null 2>&1; then
  if is_root && [ "${SKIP_INSTALL:-0}" != 1 ]; then
    say "installing Maven"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null
  else
    say "Maven (mvn) is needed to build the benchmarks"; exit 3
  fi
fi
command -v python3 >/dev/null 2>&1 || { say "python3 is needed for the report"; exit 3; }

find_openblas() { # prints the real file of the pthread OpenBLAS, or nothing
  local p=/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0
  if [ -e "$p" ]; then readlink -f "$p"; return; fi
  p=$( (ldconfig -p 2>/dev/null || true) | awk '/libopenblas\.so\.0 / && /x86-64/ {print $NF; exit}')
  [ -n "$p" ] && readlink -f "$p"
  return 0
}
openblas=$(find_openblas)
if [ -z "$openblas" ]; then
  if is_root && [ "${SKIP_INSTALL:-0}" != 1 ]; then
    say "installing OpenBLAS (libopenblas0-pthread)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas0-pthread >/dev/null || true
    openblas=$(find_openblas)
  fi
fi
exclude=()
if [ -z "$openblas" ]; then
  msg="OpenBLAS is not installed (apt-get install libopenblas0-pthread needs root): GemmBenchmark.openblasSgemm skipped."
  say "$msg"; notes+=("$msg")
  exclude=(-e 'GemmBenchmark\.openblasSgemm')
else
  say "OpenBLAS: $openblas"
fi

# ---- build -------------------------------------------------------------------------------------------------
jar=jmh/target/benchmarks.jar
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "building jmh with -Ppeers (ONNX Runtime from Maven Central on the first build)"
  mvn -q -B -ntp -Dstyle.color=never -Ppeers -DskipTests package -pl jmh -am
fi
[ -f "$jar" ] || { say "$jar is missing (build failed?)"; exit 3; }
mkdir -p "$outdir" jmh/target

# ---- run ---------------------------------------------------------------------------------------------------
# The benchmark JVMs (JMH's forks inherit this environment): OpenBLAS detects the CPU itself and may use 2 threads.
bench_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 UNTWIST_OPENBLAS="$openblas")
java_flags=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED)
include='^org\.untwist\.jmh\.(Attention|AttentionTiny|OrtAttention|Gemm|Rope|Triad|Denoise)Benchmark\.'
[ "$SUITE" = gemm-shapes ] && include='^org\.untwist\.jmh\.GemmBenchmark\.(linearF32|openblasSgemm)$'

info=jmh/target/machine-info.txt
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
  # the model name alone ("AMD EPYC") does not tell Zen 4 (family 25: AVX-512 on 256-bit units) from Zen 5 (family 26)
  echo "cpu family / model: $(sed -n 's/^cpu family[[:space:]]*: //p' /proc/cpuinfo | head -n 1) / $(sed -n 's/^model[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  echo "cores: $(nproc) online ($(lscpu | sed -n 's/^Thread(s) per core: *//p' | head -n 1) thread(s) per core)"
  echo "cpu flags: $(grep -o -w -E 'avx512f|avx512_bf16|amx_bf16|avx2|fma' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
  "${bench_env[@]}" "$JAVA_HOME/bin/java" "${java_flags[@]}" -cp "$jar" org.untwist.jmh.PeerInfo 2>/dev/null
} > "$info"
cat "$info" >&2

cmd=("$JAVA_HOME/bin/java" -jar "$jar" "$include" "${exclude[@]}" "${jmh_opts[@]}" "$@" -rf json -rff "$json")
say "running: ${cmd[*]}"
start=$(date +%s)
set +e
if [ "$SUITE" = gemm-shapes ]; then
  # One JMH run per shape, so that untwist and OpenBLAS run back to back on each shape (one run over all shapes
  # would time every untwist shape first and every OpenBLAS shape minutes later); the JSON files are merged.
  rc=0
  : > "$log"
  parts=()
  for shape in $gemm_shapes; do
    part="$outdir/part-$shape.json"
    "${bench_env[@]}" "$JAVA_HOME/bin/java" -jar "$jar" "$include" "${exclude[@]}" "${gemm_opts[@]}" -p shape="$shape" \
        "$@" -rf json -rff "$part" 2>&1 | tee -a "$log"
    r=${PIPESTATUS[0]}; [ "$r" = 0 ] || rc=$r
    parts+=("$part")
  done
  python3 -c 'import json, sys; json.dump([r for p in sys.argv[2:] for r in json.load(open(p))], open(sys.argv[1], "w"), indent=1)' "$json" "${parts[@]}"
  rm -f "${parts[@]}"
else
  "${bench_env[@]}" "${cmd[@]}" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
fi
set -e
end=$(date +%s)
echo "wall time of the JMH run: $(( (end - start) / 60 )) min $(( (end - start) % 60 )) s" >> "$info"
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$info"
[ "$rc" = 0 ] || notes+=("JMH exited with status $rc: see $log.")
grep -q '<failure>' "$log" && notes+=("some benchmarks failed (their setup threw): see <failure> in $log.")
[ -s "$json" ] || { say "no JSON results in $json"; exit 1; }

# ---- report ------------------------------------------------------------------------------------------------
shown_cmd="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 UNTWIST_OPENBLAS=$openblas \\
  java -jar $jar '$include' ${exclude[*]} ${jmh_opts[*]} $* -rf json -rff $json"
[ "$SUITE" = gemm-shapes ] && shown_cmd="for S in $gemm_shapes; do
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 UNTWIST_OPENBLAS=$openblas \\
    java -jar $jar '$include' ${gemm_opts[*]} -p shape=\$S $* -rf json -rff part-\$S.json
done   # then the parts merged into $json"
report=(python3 jmh/jmh_report.py --json "$json" --info "$info" --command "$shown_cmd" --out "$results"
        --peak "$FMA_PEAK" --triad "$TRIAD" --suite "$SUITE")
[ "$QUICK" = 1 ] && report+=(--smoke)
for n in "${notes[@]}"; do report+=(--note "$n"); done
"${report[@]}"
say "results: $results (raw JSON: $json, log: $log)"
