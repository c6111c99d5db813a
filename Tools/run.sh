#!/usr/bin/env bash
# Runs OutlineStream on its embedded defaults, in one command: installs what is
# missing, starts the project's private PostgreSQL cluster, applies the
# migrations, starts the simulated provider (or uses the real API when
# OPENAI_API_KEY is set), then serves the API and prints its URL and tokens.
# Ctrl-C stops the server and the simulated provider (PostgreSQL keeps running;
# `Tools/dev/postgres.sh stop` stops it).
#
# `Tools/run.sh --topology` starts the production topology on this machine
# instead: the cluster's streaming standby (reads that tolerate lag go there,
# DATABASE_READ_URL), OUTLINE_INSTANCES (3) server instances on the ports after
# OUTLINE_PORT, and nginx on OUTLINE_PORT in front of them.
#
# Environment: OUTLINE_PORT (8080), OUTLINE_SIM_PORT (8089), SIM_PACE_MS (20),
# SIM_OUTPUT_LENGTH (4000), OPENAI_API_KEY / OPENAI_BASE_URL (real provider),
# USE_STREAMING, STREAMING_ROLLOUT_PERCENT. Extra arguments go to `swift build`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

topology=false
if [ "${1:-}" = "--topology" ]; then topology=true; shift; fi

. Tools/dev/prepare.sh
if $topology; then
    Tools/dev/nginx-deps.sh
    Tools/dev/postgres.sh standby start
    eval "$(Tools/dev/postgres.sh env)"
    export DATABASE_READ_URL="$OUTLINE_STANDBY_DATABASE_URL"
fi

swift build --product outline-server "$@"
swift build --product outline-admin "$@"
swift build --product simulated-provider "$@"
bin="$(swift build --show-bin-path "$@")"

"$bin/outline-admin" migrate up
"$bin/outline-admin" migrate health

# A token secret kept across runs (in the clone's ignored .local/), so printed tokens stay valid.
mkdir -p .local
if [ -z "${OUTLINE_TOKEN_SECRET:-}" ]; then
    [ -s .local/token-secret ] || head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > .local/token-secret
    OUTLINE_TOKEN_SECRET=$(cat .local/token-secret)
fi
export OUTLINE_TOKEN_SECRET

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if [ -n "${OPENAI_API_KEY:-}" ]; then
    export OPENAI_BASE_URL="${OPENAI_BASE_URL:-https://api.openai.com}"
    provider="the real OpenAI API at $OPENAI_BASE_URL"
else
    sim_port="${OUTLINE_SIM_PORT:-8089}"
    # Webhooks as the real provider sends them: signed with a secret kept across runs.
    [ -s .local/webhook-secret ] || printf 'whsec_%s' "$(head -c 24 /dev/urandom | base64 | tr -d '\n')" > .local/webhook-secret
    export OPENAI_WEBHOOK_SECRET="${OPENAI_WEBHOOK_SECRET:-$(cat .local/webhook-secret)}"
    SIM_WEBHOOK_SECRET="$OPENAI_WEBHOOK_SECRET" "$bin/simulated-provider" --port "$sim_port" --pace-ms "${SIM_PACE_MS:-20}" --output-length "${SIM_OUTPUT_LENGTH:-4000}" \
        --webhook-url "http://127.0.0.1:${OUTLINE_PORT:-8080}/webhooks/openai" &
    pids+=($!)
    export OPENAI_BASE_URL="http://127.0.0.1:$sim_port"
    provider="the simulated provider at $OPENAI_BASE_URL"
fi

port="${OUTLINE_PORT:-8080}"
# Starts one instance on port $1 and waits for it to listen.
serve() {
    local file=".local/server-port-$1"
    rm -f "$file"
    "$bin/outline-server" --port "$1" --port-file "$file" &
    local pid=$!
    pids+=($pid)
    for _ in $(seq 1 300); do
        [ -s "$file" ] && return 0
        kill -0 "$pid" 2>/dev/null || { echo "outline-server did not start on port $1" >&2; exit 1; }
        sleep 0.1
    done
    echo "outline-server did not listen on port $1 within 30 s" >&2; exit 1
}
if $topology; then
    upstreams=()
    for i in $(seq 1 "${OUTLINE_INSTANCES:-3}"); do serve $((port + i)); upstreams+=($((port + i))); done
    conf=$(Tools/dev/nginx-topology.sh "$root/.local/topology" "$port" "${upstreams[@]}")
    nginx -c "$conf" -g 'daemon off;' &
    server=$!
    pids+=($server)
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        kill -0 "$server" 2>/dev/null || { echo "nginx did not start: $(tail -n 5 "$root/.local/topology/error.log")" >&2; exit 1; }
        sleep 0.1
    done
    provider="$provider, ${#upstreams[@]} instances (ports ${upstreams[*]}) behind nginx, reads from the standby at $DATABASE_READ_URL"
    url="http://127.0.0.1:$port"
else
    serve "$port"
    server=${pids[-1]}
    url="http://127.0.0.1:$(cat ".local/server-port-$port")"
fi
writer=$("$bin/outline-admin" token --user writer)
admin=$("$bin/outline-admin" token --user operator --role admin)

cat <<MSG

OutlineStream is serving at $url, talking to $provider.

  Open the page (signed in as "writer"):        $url/#token=$writer
  Open the diagnostics (signed in as "operator"): $url/admin/outline-generation-diagnostics#token=$admin
  (the token in the address is kept by the page and removed from the address bar)

  Writer token: $writer
  Admin token:  $admin

  Start a session (V3) and stream it:
    curl -s -X POST $url/api/workflows/wf-demo/outline-generation/start \\
      -H "Authorization: Bearer $writer" -H 'Content-Type: application/json' \\
      -d '{"prompt": "Tidal energy in Europe", "skipClarification": true}'
    curl -N -H "Authorization: Bearer $writer" \\
      "$url/api/workflows/wf-demo/outline-generation/stream?sessionId=<sessionId from above>&from=0"

  API document: $url/openapi.json   Metrics: $url/metrics   Ctrl-C stops.
MSG
wait "$server"
