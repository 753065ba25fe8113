#!/usr/bin/env bash
# One-shot timings for docs/aot-warmup.md: runs `untwist forward` on MODEL_DIR once per variant per round,
# alternating the variants, and prints one line per run: round, variant, printed forward ms, wall s, load.
#   jmh/warmup/oneshot.sh MODEL_DIR ROUNDS 'label=JVM flags' ...
# (label 'base' with no flags is the plain launcher's JVM line.)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$root/bin/jdk25.sh"
model=$1 rounds=$2; shift 2
jar="$root/cli/target/untwist.jar"
for r in $(seq 1 "$rounds"); do
  for v in "$@"; do
    label=${v%%=*} flags=${v#*=}
    load=$(cut -d' ' -f1 /proc/loadavg)
    t0=$(date +%s.%N)
    out=$("$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED $flags \
      -jar "$jar" forward --backend vector --threads 2 --model "$model" --inputs "$model/inputs.safetensors" \
      --out /tmp/untwist-oneshot-out.safetensors 2>&1)
    t1=$(date +%s.%N)
    ms=$(sed -n 's/^forward on vector: \([0-9.]*\) ms/\1/p' <<<"$out")
    printf '%s\t%-28s\tforward_ms=%s\twall_s=%.2f\tload1=%s\n' "$r" "$label" "$ms" "$(echo "$t1 - $t0" | bc)" "$load"
  done
done
