#!/usr/bin/env bash
# Create .venv and install the Python packages. Idempotent and quick when nothing
# changed: a stamp of the requirements files skips pip on later runs.
# Usage: scripts/setup.sh [--dev]   (--dev adds the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=requirements.txt
[ "${1:-}" = "--dev" ] && requirements=requirements-dev.txt
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
stamp=".venv/.installed-$(basename "$requirements" .txt)"
want=$(cat requirements.txt "$requirements" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$stamp"
fi
