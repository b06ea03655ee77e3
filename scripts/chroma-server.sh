#!/usr/bin/env bash
# Start or stop a Chroma server (the `chroma` command of the chromadb package) on
# 127.0.0.1, for the app and the CLI (`--store chroma://127.0.0.1:PORT`) and the tests.
#   scripts/chroma-server.sh start [--port N] [--path DIR]   waits until it answers; prints the store URL
#   scripts/chroma-server.sh stop  [--port N] [--path DIR]
# Defaults: port $EXPLORER_CHROMA_PORT or 8765, data in $EXPLORER_CHROMA_DIR or
# /tmp/explorer-chroma. The pid file and log live in the data folder.
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:-}
shift || true
port=${EXPLORER_CHROMA_PORT:-8765}
path=${EXPLORER_CHROMA_DIR:-/tmp/explorer-chroma}
while [ $# -gt 0 ]; do
    case "$1" in
        --port) port=$2; shift 2 ;;
        --path) path=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
pid_file="$path/chroma-$port.pid"
heartbeat() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/api/v2/heartbeat"; }
running() { [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }

case "$action" in
start)
    if running; then
        echo "Chroma server already running on 127.0.0.1:$port" >&2
    else
        mkdir -p "$path"
        nohup .venv/bin/chroma run --path "$path" --host 127.0.0.1 --port "$port" \
            >"$path/chroma-$port.log" 2>&1 </dev/null &
        echo $! > "$pid_file"
        for _ in $(seq 1 120); do
            heartbeat 2>/dev/null && break
            if ! running; then
                echo "Chroma server failed to start:" >&2; tail -n 20 "$path/chroma-$port.log" >&2; exit 1
            fi
            sleep 0.25
        done
        heartbeat || { echo "Chroma server did not answer on port $port within 30 s" >&2; exit 1; }
        echo "Chroma server ready on 127.0.0.1:$port, data in $path" >&2
    fi
    echo "chroma://127.0.0.1:$port"
    ;;
stop)
    if running; then
        pid=$(cat "$pid_file")
        kill "$pid"
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        echo "Chroma server on port $port stopped" >&2
    else
        echo "no Chroma server of ours on port $port" >&2
    fi
    rm -f "$pid_file"
    ;;
*)
    echo "usage: scripts/chroma-server.sh start|stop [--port N] [--path DIR]" >&2
    exit 2
    ;;
esac
