#!/usr/bin/env bash
# Start a private PostgreSQL + pgvector on 127.0.0.1 for the app, the CLI and the
# tests, creating it on first use. Prints `export DATABASE_URL=...` on stdout (and
# writes the URL to $EXPLORER_PG_DIR/database_url), so a shell can take it with
#     eval "$(scripts/start-postgres.sh)"
# Everything else goes to stderr. Safe to run when the server is already up.
# The cluster trusts local connections (it listens on loopback only): a dev and
# test server, not a place for data others must not read.
set -euo pipefail
source "$(dirname "$0")/postgres-env.sh"

if [ ! -x "$PG_BIN/pg_ctl" ]; then
    echo "PostgreSQL is not installed: run scripts/install-system.sh as root" >&2
    exit 1
fi
if [ ! -f "/usr/share/postgresql/$PG_MAJOR/extension/vector.control" ]; then
    echo "the pgvector extension is not installed: run scripts/install-system.sh as root" >&2
    exit 1
fi

mkdir -p "$PG_DIR"
[ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR"
if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    echo "creating a PostgreSQL cluster in $PG_DIR/data" >&2
    as_server_user "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$PG_USER" --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 >/dev/null
fi
if as_server_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
    echo "PostgreSQL already running on 127.0.0.1:$PG_PORT" >&2
else
    # A private socket directory: no clash with a system cluster in /var/run/postgresql.
    as_server_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c maintenance_work_mem=256MB" start >&2 \
        || { tail -n 20 "$PG_DIR/server.log" >&2; exit 1; }
fi

psql_admin() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "$@"; }
if [ -z "$(psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" ]; then
    psql_admin -d postgres -c "CREATE DATABASE $PG_DB" >&2
fi
psql_admin -d "$PG_DB" -c "SET client_min_messages TO warning" -c "CREATE EXTENSION IF NOT EXISTS vector" >&2

echo "$DATABASE_URL_VALUE" > "$PG_DIR/database_url"
echo "PostgreSQL + pgvector $(psql_admin -d "$PG_DB" -tAc "SELECT extversion FROM pg_extension WHERE extname = 'vector'") ready" >&2
echo "export DATABASE_URL=$DATABASE_URL_VALUE"
