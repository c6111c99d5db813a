#!/usr/bin/env bash
# Installs schemathesis (PyPI) for the API fuzz pass, when missing, in a virtual
# environment under the clone's ignored .local/, and prints the export the test
# suite reads (eval it): OUTLINE_SCHEMATHESIS.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv="$root/.local/fuzz-venv"
if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1; then
  dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q "install ok installed" || {
    [ "$(id -u)" = 0 ] || { echo "missing python3-venv (run: sudo apt-get install python3-venv)" >&2; exit 1; }
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >&2
  }
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==4.32.5" >&2
fi
echo "export OUTLINE_SCHEMATHESIS='$venv/bin/schemathesis'"
