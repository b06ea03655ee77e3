# Sourced by start-postgres.sh and stop-postgres.sh: where the local PostgreSQL lives.
# EXPLORER_PG_DIR (default /tmp/explorer-pg) holds data/, the socket and the log;
# EXPLORER_PG_PORT (default 54329) is its port on 127.0.0.1.
PG_DIR=${EXPLORER_PG_DIR:-/tmp/explorer-pg}
PG_PORT=${EXPLORER_PG_PORT:-54329}
PG_DB=explorer
PG_USER=postgres
PG_MAJOR=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n1)
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
DATABASE_URL_VALUE="postgresql://$PG_USER@127.0.0.1:$PG_PORT/$PG_DB"

# PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user.
as_server_user() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
