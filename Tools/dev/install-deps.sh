#!/usr/bin/env bash
# Installs the system packages OutlineStream builds and runs with, when missing:
# the C libraries' headers (libpq, liblz4, libcurl), pkg-config, and PostgreSQL.
# Needs root for apt-get; as another user it only says what is missing.
set -euo pipefail

needed=(pkg-config libpq-dev liblz4-dev libcurl4-openssl-dev postgresql)
missing=()
for package in "${needed[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "missing system packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
