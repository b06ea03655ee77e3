#!/usr/bin/env bash
# Set up, make sure the sample corpus is ingested (offline, with a progress bar),
# and start the app. Extra arguments go to `streamlit run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE=1
.venv/bin/python -m core samples
# headless: no first-run e-mail prompt and no browser launch; open the printed URL.
exec .venv/bin/streamlit run app.py --server.headless true "$@"
