#!/usr/bin/env bash
# One-shot `bin/untwist forward` with and without the background JVM (UNTWIST_DAEMON=1), against the warm figure, in
# one sitting; writes jmh/warmup/DAEMON.md. Per round, alternating: a plain one-shot command; a one-shot command sent
# to the background JVM (started, then warmed by one command, before the rounds); and `forward --repeat 5` in the
# background JVM, whose median of calls 2-5 is the warm figure. Each row: the printed forward time and the command's
# wall clock (client JVM and model loading included).
#   jmh/warmup/daemon.sh MODEL_DIR [ROUNDS=3] [THREADS=2]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
model=$1 rounds=${2:-3} threads=${3:-2}
out=$root/jmh/warmup/DAEMON.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export UNTWIST_DAEMON_IDLE=900
common=(forward --backend vector --threads "$threads" --model "$model" --inputs "$model/inputs.safetensors" --out "$tmp/out.safetensors")
run() { # label env... -- extra args: prints "label forward_ms wall_s"
  local label=$1; shift
  local t0 t1 text
  t0=$(date +%s.%N)
  text=$(env "$@" "$root/bin/untwist" "${common[@]}" 2>&1)
  t1=$(date +%s.%N)
  printf '%s\t%s\t%.2f\n' "$label" "$(sed -n 's/^forward on vector: \([0-9.]*\) ms$/\1/p' <<<"$text" | head -1)" "$(echo "$t1 - $t0" | bc)"
}
warm() { # the median of calls 2-N printed by --repeat
  env UNTWIST_DAEMON=1 "$root/bin/untwist" "${common[@]}" --repeat 5 2>&1 | sed -n 's/.*calls 2-5 median \([0-9.]*\) ms.*/\1/p'
}
env UNTWIST_DAEMON=1 "$root/bin/untwist" "${common[@]}" >/dev/null 2>&1 # start the background JVM and warm it once
rows=()
for r in $(seq 1 "$rounds"); do
  rows+=("$r	$(run plain UNTWIST_DAEMON=0)	$(cut -d' ' -f1 /proc/loadavg)")
  rows+=("$r	$(run daemon UNTWIST_DAEMON=1)	$(cut -d' ' -f1 /proc/loadavg)")
  rows+=("$r	warm	$(warm)	-	$(cut -d' ' -f1 /proc/loadavg)")
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
col() { printf '%s\n' "${rows[@]}" | awk -F'\t' -v l="$1" -v c="$2" '$2==l {print $c}'; }
pm=$(col plain 3 | median) dm=$(col daemon 3 | median) wm=$(col warm 3 | median)
{
  echo "# One-shot \`forward\` with and without the background JVM"
  echo
  echo "Written by \`jmh/warmup/daemon.sh $model $rounds $threads\` on $(date -u '+%Y-%m-%d %H:%M UTC'), git $(git -C "$root" rev-parse --short HEAD);"
  echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores, flags:$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_bf16|fma)$' | tr '\n' ' ')."
  echo "vector backend, float32, $threads threads. Per round, alternating: a plain one-shot command, a one-shot command"
  echo "sent to the background JVM (\`UNTWIST_DAEMON=1\`, started and warmed by one command before the rounds), and"
  echo "\`forward --repeat 5\` there (the warm figure: the median of calls 2-5)."
  echo
  echo "| round | command | forward ms | wall s | load (1 min) |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}" | awk -F'\t' '{printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5}'
  echo
  echo "Medians: plain one-shot $pm ms, one-shot through the background JVM $dm ms, warm $wm ms:"
  echo "one-shot / warm = $(echo "scale=2; $pm / $wm" | bc) plain, $(echo "scale=2; $dm / $wm" | bc) through the background JVM."
} > "$out"
cat "$out"
