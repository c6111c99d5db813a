#!/usr/bin/env bash
# Runs the whole test suite against a real PostgreSQL: installs what is missing
# (including headless Chromium for the browser tests), starts the project's
# private cluster (Tools/dev/postgres.sh), builds, tests. Browser screenshots
# land in artifacts/browser/.
#
# The browser tests, the API fuzz pass (schemathesis) and the tests that restart
# PostgreSQL itself run in passes of their own, so they neither disturb nor get
# starved by the others.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

. Tools/dev/prepare.sh
eval "$(Tools/dev/browser-deps.sh)"   # Chromium, chromium-driver, selenium: the browser tests
eval "$(Tools/dev/fuzz-deps.sh)"      # schemathesis: the API fuzz pass
eval "$(Tools/dev/sdk-deps.sh)"       # the official OpenAI Python SDK: the simulator's objects against its types
Tools/dev/nginx-deps.sh               # nginx: the topology pass's reverse proxy

# A streaming standby of the private cluster: the reads a standby may serve
# (ReplicaAwareReadsTests, DATABASE_READ_URL) are tested against a real one.
Tools/dev/postgres.sh standby start
swift build --build-tests "$@"
# Swift Testing starts every test at once by default: on 2 cores that is ~50
# servers, pools and simulators in flight, which ran PostgreSQL out of
# connections and turned waits into races. 24 at a time keeps the machine busy
# and the run shorter.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=${OUTLINE_TEST_WIDTH:-24}
swift test --skip-build "$@" --skip ServerRestartTests --skip BrowserTests --skip APIFuzzTests --skip TopologyTests
# schemathesis against the real server and its OpenAPI document: zero failures.
swift test --skip-build "$@" --filter APIFuzzTests
# The browser drives timing-sensitive pages: give it the machine to itself.
swift test --skip-build "$@" --filter BrowserTests
OUTLINE_PG_RESTART_TESTS=1 swift test --skip-build "$@" --filter ServerRestartTests
# The topology as one (nginx, three instances, the standby stopped mid-run): a
# pass of its own, since it stops the standby the other passes read.
OUTLINE_TOPOLOGY_TESTS=1 swift test --skip-build "$@" --filter TopologyTests
# The torture pass: the real executables (two outline-server instances, the
# simulated provider behind a proxy that cuts and stalls it, this PostgreSQL
# cluster crashed for real) under a seeded schedule of kills and crashes; last,
# because it crashes the cluster every other pass uses. OUTLINE_TORTURE_SEED
# replays another schedule.
"$(swift build "$@" --show-bin-path)/outline-torture" --seed "${OUTLINE_TORTURE_SEED:-20261202}"
