#!/usr/bin/env bash
# Runs OutlineStream on its embedded defaults: installs what is missing, starts
# the project's private PostgreSQL cluster, builds, applies the migrations and
# shows the schema's health. (The HTTP service joins this command when it lands.)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

. Tools/dev/prepare.sh

swift build --product outline-admin "$@"
admin="$(swift build --show-bin-path "$@")/outline-admin"

"$admin" migrate up
"$admin" migrate status
"$admin" migrate health

cat <<MSG

OutlineStream's event log is ready on the private PostgreSQL cluster.
  DATABASE_URL=$DATABASE_URL
  admin program: $admin   (try: $admin --help)
  psql:          Tools/dev/postgres.sh psql
  stop it:       Tools/dev/postgres.sh stop
MSG
