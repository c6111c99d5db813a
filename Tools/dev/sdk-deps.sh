#!/usr/bin/env bash
# Installs the official OpenAI Python SDK (pinned) in a virtual environment
# under the clone's ignored .local/, for the test that validates everything the
# simulated provider serves against the SDK's own types. Prints the export the
# suite reads (eval it): OUTLINE_SDK_PYTHON.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
version=3.60.0
venv="$root/.local/sdk-venv"
if ! "$venv/bin/python" -c "import openai, sys; sys.exit(openai.__version__ != '$version')" 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "openai==$version" >&2
fi
echo "export OUTLINE_SDK_PYTHON='$venv/bin/python'"
