#!/usr/bin/env bash
# Installs nginx (the reverse proxy of `Tools/run.sh --topology`) when missing,
# without starting Debian's own nginx service.
set -euo pipefail
command -v nginx >/dev/null && exit 0
[ "$(id -u)" = 0 ] || { echo "missing nginx (run: sudo apt-get install nginx)" >&2; exit 1; }
# Debian starts a service on install unless policy-rc.d says no (101); say no for this install only.
restore=""
if [ -e /usr/sbin/policy-rc.d ]; then restore=$(mktemp); cp -p /usr/sbin/policy-rc.d "$restore"; fi
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'if [ -n "$restore" ]; then mv "$restore" /usr/sbin/policy-rc.d; else rm -f /usr/sbin/policy-rc.d; fi' EXIT
apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >&2
