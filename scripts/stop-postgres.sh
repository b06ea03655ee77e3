#!/usr/bin/env bash
# Stop the PostgreSQL that start-postgres.sh started. Its data stays in
# $EXPLORER_PG_DIR (default /tmp/explorer-pg); `--purge` deletes it too.
set -euo pipefail
source "$(dirname "$0")/postgres-env.sh"

if [ -f "$PG_DIR/data/PG_VERSION" ] && as_server_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
    as_server_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >&2
else
    echo "PostgreSQL is not running in $PG_DIR" >&2
fi
if [ "${1:-}" = "--purge" ]; then
    rm -rf "$PG_DIR"
    echo "removed $PG_DIR" >&2
fi
