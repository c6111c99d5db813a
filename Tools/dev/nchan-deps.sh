#!/usr/bin/env bash
# Installs nginx with Debian's nchan module for outline-load's `nchan` scenario
# (issue 12's anchor: an in-memory pub/sub SSE server), when missing, without
# starting Debian's own nginx service, and prints the export outline-load reads
# (eval it): OUTLINE_NCHAN_MODULE, the module's path.
set -euo pipefail
module=/usr/lib/nginx/modules/ngx_nchan_module.so
if [ ! -f "$module" ] || ! command -v nginx >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "missing nginx + libnginx-mod-nchan (run: sudo apt-get install nginx libnginx-mod-nchan)" >&2; exit 1; }
  # Debian starts a service on install unless policy-rc.d says no (101); say no for this install only.
  restore=""
  if [ -e /usr/sbin/policy-rc.d ]; then restore=$(mktemp); cp -p /usr/sbin/policy-rc.d "$restore"; fi
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'if [ -n "$restore" ]; then mv "$restore" /usr/sbin/policy-rc.d; else rm -f /usr/sbin/policy-rc.d; fi' EXIT
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx libnginx-mod-nchan >&2
fi
[ -f "$module" ] || module=$(dpkg -L libnginx-mod-nchan | grep 'ngx_nchan_module.so$' | head -1)
echo "export OUTLINE_NCHAN_MODULE='$module'"
