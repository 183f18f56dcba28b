#!/usr/bin/env bash
# The main job, from a fresh clone: install everything, then run the demo batch
# (C, Python and shell programs, and one job per limit) through Redis in fresh
# sandboxes and print the verdicts. Uses REDIS_URL, or 127.0.0.1:6379 when a
# Redis answers there, or else a throwaway redis-server it stops afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh

if [ -z "${REDIS_URL:-}" ]; then
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    export REDIS_URL=redis://127.0.0.1:6379
  else
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 6390)
    dir=$(mktemp -d)
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --pidfile "$dir/redis.pid" --dir "$dir" --logfile "$dir/redis.log"
    trap 'kill "$(cat "$dir/redis.pid")" 2>/dev/null; rm -rf "$dir"' EXIT
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    export REDIS_URL="redis://127.0.0.1:$port"
    echo "cellblock: started a throwaway redis-server on port $port"
  fi
fi
bin/cellblock demo "$@"
