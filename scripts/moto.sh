#!/usr/bin/env bash
# Starts moto's server on a free loopback port and prints the `export` lines that point the AWS
# SDK at it. Usage: eval "$(scripts/moto.sh start)"; scripts/moto.sh stop
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="$root/target/moto"
case "${1:-}" in
  start)
    mkdir -p "$state"
    port="$("$root/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "$root/.venv/bin/python" "$root/scripts/moto_server.py" 127.0.0.1 "$port" >"$state/moto.log" 2>&1 &
    echo $! >"$state/pid"
    for _ in $(seq 1 100); do
      if "$root/.venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
        cat <<EXPORTS
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_EC2_METADATA_DISABLED=true
export S3_FORCE_PATH_STYLE=true
EXPORTS
        exit 0
      fi
      sleep 0.1
    done
    echo "moto did not start; see $state/moto.log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$state/pid" ]; then
      kill "$(cat "$state/pid")" 2>/dev/null || true
      rm -f "$state/pid"
    fi
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
