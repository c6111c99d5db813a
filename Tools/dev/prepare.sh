# Sourced by Tools/run.sh and Tools/test.sh: installs what is missing, starts the
# private PostgreSQL cluster and exports DATABASE_URL and friends.
Tools/dev/install-deps.sh
Tools/dev/postgres.sh start
eval "$(Tools/dev/postgres.sh env)"
