#!/usr/bin/env bash
# The suite on a busy machine (issue 11): a fresh clone of this repository, both
# cores kept busy by two spinning processes, Tools/test.sh run N times in a row.
# Prints each run's time and result; exits 1 at the first failing run.
#
#   Tools/dev/busy-runs.sh [N]           (default 5; the clone goes under /tmp)
#   Tools/dev/busy-runs.sh N FOLDER      continue in an earlier run's folder: its clone
#                                        is fast-forwarded to this repository's HEAD
#                                        (its build folder kept) and run N times again
set -euo pipefail
runs=${1:-5}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ -n "${2:-}" ]; then
  work=$2
  git -C "$work/clone" pull -q --ff-only "$root" "$(git -C "$root" rev-parse --abbrev-ref HEAD)"
else
  work=$(mktemp -d /tmp/outline-busy.XXXXXX)
  chmod 700 "$work"
  git clone -q "$root" "$work/clone"
fi
batch=$(date +%Y%m%d-%H%M%S)
echo "clone $work/clone at $(git -C "$work/clone" rev-parse --short HEAD)"
spinners=()
for _ in 1 2; do bash -c 'while :; do :; done' & spinners+=($!); done
trap 'kill "${spinners[@]}" 2>/dev/null || true; (cd "$work/clone" && Tools/dev/postgres.sh stop >/dev/null 2>&1) || true' EXIT
cd "$work/clone"
for run in $(seq 1 "$runs"); do
  started=$(date +%s)
  if CI=true bash .ci/run > "$work/$batch-run-$run.log" 2>&1; then result=passed; else result=FAILED; fi
  echo "run $run/$runs: $result in $(( $(date +%s) - started )) s (log $work/$batch-run-$run.log)"
  [ "$result" = passed ] || exit 1
done
