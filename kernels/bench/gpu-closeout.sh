#!/usr/bin/env bash
# The whole generation and the device checks in one call, for a session with little device time: gpu-pipeline.sh
# (ROUNDS alternating rounds of untwist and PyTorch, stopped early past GENBUDGET s), then gpu-checks.sh's op and
# pipeline suites with what is left of LIMIT s as their time limits. The 1,000 pipeline cycles need a call of their own
# (SUITES=cycles bash .gpubundle/gpu-checks.sh 0 0 590). In the bundle of make-bundle.sh; from the repository root:
#   [LIMIT=560] [GENBUDGET=280] [ROUNDS=3] bash .gpubundle/gpu-closeout.sh
# Brings back (at most 8 files): gen-logs.tgz (gpu-pipeline.sh's logs and table.md), untwist.png and peer.png,
# checks.tgz (device.txt, ops.log, pipeline.log).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LIMIT=${LIMIT:-560} GENBUDGET=${GENBUDGET:-280}
T0=$(date +%s)
left() { echo $(( LIMIT - ($(date +%s) - T0) )); }
O=${OUT:-$PWD/gpu-out}
mkdir -p "$O/gen" "$O/chk"
( export OUT=$O/gen BUDGET=$GENBUDGET; timeout $(( GENBUDGET + 20 )) bash "$HERE/gpu-pipeline.sh" > /dev/null 2>&1 )
grep -E '^## \[' "$O/gen/pipeline.log" | tail -3
cat "$O/gen/table.md" 2>/dev/null
# the op suites get what is left but 40 s, which the pipeline suite takes after them (21 s on an H200)
L=$(left)
if [ "$L" -gt 60 ]; then
  ( export OUT=$O/chk SUITES="ops pipeline"; bash "$HERE/gpu-checks.sh" $(( L - 40 )) 35 2>&1 | grep -E 'rc=|✘|tests (successful|failed|aborted)' )
else
  echo "gpu-closeout: $L s left after the generation, too little for the suites"
fi
cd "$O" && tar czf gen-logs.tgz gen/*.log gen/table.md 2>/dev/null; tar czf checks.tgz chk; mv gen/*.png . 2>/dev/null; rm -rf gen chk
ls "$O"
