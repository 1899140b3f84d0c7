#!/usr/bin/env bash
# Key rotation and erasure on a copy of STORE: three rekeys (size of the
# store after each), two erasures with their rotation, an audit verify.
#   STEWARD_PASSPHRASE=... benches/cli/rotation.sh STORE
set -euo pipefail
B=${STEWARD_BIN:-target/release/steward}
copy="$1.bench-copy"
rm -rf "$copy"; cp -a "$1" "$copy"
echo "size before: $(du -sm "$copy/db" | cut -f1) MB"
for _ in 1 2 3; do
  /usr/bin/time -f "rekey %e s %M KiB" "$B" --store "$copy" rekey --reason bench > /dev/null 2> /tmp/steward-bench.err
  tail -1 /tmp/steward-bench.err; echo "size: $(du -sm "$copy" | cut -f1) MB"
done
for _ in 1 2; do
  id=$("$B" --store "$copy" list --json --limit 1 | head -1 | sed 's/.*"id":"\([^"]*\)".*/\1/')
  /usr/bin/time -f "erase+rekey %e s %M KiB" "$B" --store "$copy" erase "$id" --reason bench --yes > /dev/null 2> /tmp/steward-bench.err
  tail -1 /tmp/steward-bench.err
done
/usr/bin/time -f "audit verify %e s %M KiB" "$B" --store "$copy" audit verify
rm -rf "$copy"
