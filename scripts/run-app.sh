#!/usr/bin/env bash
# Set up, make sure the sample corpus is ingested (offline, with a progress bar),
# and start the app on 127.0.0.1 (scripts/serve.sh). Extra arguments go to `streamlit run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE=1
# A shared app (EXPLORER_MODE or [explorer] mode in .streamlit/secrets.toml) shows only its
# configured stores and never writes to them on its own.
mode=$(.venv/bin/python -m core.sharing)
if [ "$mode" != shared ]; then
    .venv/bin/python -m core samples
fi
exec scripts/serve.sh "$@"
