#!/usr/bin/env bash
# Writes the reverse proxy's configuration for `Tools/run.sh --topology` and
# prints its path: nginx on 127.0.0.1:PORT in front of the outline-server
# instances on the given ports, with what SSE needs (no buffering, hour-long
# reads, HTTP/1.1 to the upstreams; request headers such as Last-Event-ID and
# Authorization pass through as they are). A workflow's requests
# (/api/workflows/{id}/...: the start, so the session's runner, and its
# streams) go to the instance its id hashes to, so streams are fed from the
# runner's own commits with no read of the log; requests naming only a session
# (/api/sessions/{id}/...) by the session's id; the rest at random. A gone
# instance's share moves to the next one (consistent hashing).
# Usage: nginx-topology.sh DIR PORT UPSTREAM_PORT...
set -euo pipefail
dir=$1; port=$2; shift 2
mkdir -p "$dir/temp"
chmod 1777 "$dir/temp"
servers=""
for upstream in "$@"; do servers+="    server 127.0.0.1:$upstream max_fails=1 fail_timeout=2s;"$'\n'; done
cat >"$dir/nginx.conf" <<CONF
# OutlineStream's topology on one machine (Tools/run.sh --topology).
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $dir/temp/body;
  proxy_temp_path $dir/temp/proxy;
  fastcgi_temp_path $dir/temp/fastcgi;
  uwsgi_temp_path $dir/temp/uwsgi;
  scgi_temp_path $dir/temp/scgi;
  map \$uri \$outline_key {
    "~^/api/workflows/([^/]+)/" w\$1;
    "~^/api/sessions/([0-9A-Fa-f-]{36})" s\$1;
    default "";
  }
  map \$outline_key \$outline_route {
    "" \$request_id;
    default \$outline_key;
  }
  upstream outline {
    hash \$outline_route consistent;
$servers    keepalive 64;
  }
  server {
    listen 127.0.0.1:$port;
    client_max_body_size 1m;
    location / {
      proxy_pass http://outline;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr;
      # SSE and long-polls: every byte goes out as it comes, and a stream may stay open for an hour.
      proxy_buffering off;
      proxy_cache off;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
      # An instance that is gone (killed, stopping): the next one answers. nginx
      # retries only requests that are safe to send twice (not POST) unless told so.
      proxy_next_upstream error timeout http_502 http_503;
      proxy_connect_timeout 2s;
    }
  }
}
CONF
echo "$dir/nginx.conf"
