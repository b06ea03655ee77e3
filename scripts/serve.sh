#!/usr/bin/env bash
# Start the app on 127.0.0.1 (this machine only) and say how to open it to others.
# No setup, no samples: scripts/run-app.sh does those first, then runs this.
# Extra arguments go to `streamlit run` (e.g. --server.port 8502).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
port=8501
address=127.0.0.1
args=("$@")
for ((n = 0; n < ${#args[@]}; n++)); do
    case "${args[n]}" in
        --server.port=*) port="${args[n]#*=}" ;;
        --server.port) port="${args[n + 1]:-$port}" ;;
        --server.address=*) address="${args[n]#*=}" ;;
        --server.address) address="${args[n + 1]:-$address}" ;;
    esac
done
mode=$(.venv/bin/python -m core.sharing)
if [ "$mode" = shared ]; then
    # Visitors see that something failed, not a traceback with the server's paths in it.
    export STREAMLIT_CLIENT_SHOW_ERROR_DETAILS="${STREAMLIT_CLIENT_SHOW_ERROR_DETAILS:-type}"
fi
if [ "$address" = 127.0.0.1 ]; then
    cat <<MESSAGE
Embedding Explorer ($mode mode): http://127.0.0.1:$port (listening on this machine only).
To open it from another machine:
  - just you: ssh -L $port:127.0.0.1:$port $(whoami)@$(hostname), then http://localhost:$port there;
  - a team: run it in shared mode (configured stores, no server paths, secrets kept on the server),
    behind an HTTPS proxy on this machine, or bound to the network explicitly:
      EXPLORER_MODE=shared scripts/serve.sh --server.address 0.0.0.0
    (README "Sharing the app").
MESSAGE
else
    echo "Embedding Explorer ($mode mode): listening on $address:$port, open to the network."
    [ "$mode" = shared ] || echo "WARNING: local mode lets every visitor read files and folders on this machine;" \
        "set EXPLORER_MODE=shared (README \"Sharing the app\")." >&2
fi
# headless: no first-run e-mail prompt and no browser launch. The address comes first so that an
# explicit --server.address among the arguments wins.
exec .venv/bin/python -m streamlit run app.py --server.headless true --server.address 127.0.0.1 "${args[@]}"
