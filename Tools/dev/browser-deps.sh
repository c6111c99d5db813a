#!/usr/bin/env bash
# Installs what the browser tests need, when missing: Chromium and its
# WebDriver from Debian's packages, and selenium from PyPI in a virtual
# environment under the clone's ignored .local/. Prints the exports the test
# suite reads (eval it): OUTLINE_BROWSER_PYTHON, OUTLINE_CHROMEDRIVER.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

needed=(chromium chromium-driver python3-venv)
missing=()
for package in "${needed[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing system packages for the browser tests: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

venv="$root/.local/browser-venv"
if ! "$venv/bin/python" -c "import selenium" 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "selenium>=4.10" >&2
fi
echo "export OUTLINE_BROWSER_PYTHON='$venv/bin/python'"
echo "export OUTLINE_CHROMEDRIVER='$(command -v chromedriver)'"
