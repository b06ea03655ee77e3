#!/usr/bin/env bash
# The whole test suite against real servers: installs what is missing (Python
# packages; as root also PostgreSQL + pgvector and Debian's Chromium), starts
# PostgreSQL, runs pytest, and stops the server again. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
if [ "$(id -u)" = 0 ]; then
    scripts/install-system.sh
fi
eval "$(scripts/start-postgres.sh)"
trap 'scripts/stop-postgres.sh >/dev/null 2>&1 || true' EXIT
export HF_HUB_OFFLINE=1
.venv/bin/python -m pytest "$@"
