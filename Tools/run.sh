#!/usr/bin/env bash
# Runs OutlineStream on its embedded defaults, in one command: installs what is
# missing, starts the project's private PostgreSQL cluster, applies the
# migrations, starts the simulated provider (or uses the real API when
# OPENAI_API_KEY is set), then serves the API and prints its URL and tokens.
# Ctrl-C stops the server and the simulated provider (PostgreSQL keeps running;
# `Tools/dev/postgres.sh stop` stops it).
#
# Environment: OUTLINE_PORT (8080), OUTLINE_SIM_PORT (8089), SIM_PACE_MS (20),
# SIM_OUTPUT_LENGTH (4000), OPENAI_API_KEY / OPENAI_BASE_URL (real provider),
# USE_STREAMING, STREAMING_ROLLOUT_PERCENT. Extra arguments go to `swift build`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

. Tools/dev/prepare.sh

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
rm -f .local/server-port
"$bin/outline-server" --port "$port" --port-file .local/server-port &
server=$!
pids+=($server)
for _ in $(seq 1 300); do
    [ -s .local/server-port ] && break
    kill -0 "$server" 2>/dev/null || { echo "outline-server did not start" >&2; exit 1; }
    sleep 0.1
done
url="http://127.0.0.1:$(cat .local/server-port)"
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
