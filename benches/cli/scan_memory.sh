#!/usr/bin/env bash
# Wall time and peak RSS of `scan --json`, `scan`, `stats` and `stats --fields`,
# three runs each, on the stores given (made with `steward gen` + `import`).
#   STEWARD_PASSPHRASE=... benches/cli/scan_memory.sh STORE...
set -euo pipefail
B=${STEWARD_BIN:-target/release/steward}
for store in "$@"; do
  for args in "scan --json" "scan" "stats" "stats --fields"; do
    for _ in 1 2 3; do
      # shellcheck disable=SC2086
      /usr/bin/time -v "$B" --store "$store" $args > /dev/null 2> /tmp/steward-bench.err
      echo "$store | $args | $(grep Elapsed /tmp/steward-bench.err | awk '{print $NF}') | $(grep 'Maximum resident' /tmp/steward-bench.err | awk '{print $NF}') KB"
    done
  done
done
