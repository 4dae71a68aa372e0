#!/usr/bin/env bash
# A local DynamoDB-compatible endpoint: moto's server from the project venv.
#
#   scripts/dynamodb-local.sh start   # prints the endpoint (http://127.0.0.1:PORT)
#   scripts/dynamodb-local.sh stop
#   scripts/dynamodb-local.sh status
#
# PORT picks the port (default: a free one). DDB_LOCAL_NAME names the instance
# (default "dynamodb-local"), so several can run side by side: its pid, log and
# endpoint files are .local/$DDB_LOCAL_NAME.{pid,log,endpoint}.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
NAME="${DDB_LOCAL_NAME:-dynamodb-local}"
PIDFILE="$LOCAL/$NAME.pid"
LOGFILE="$LOCAL/$NAME.log"
ENDPOINTFILE="$LOCAL/$NAME.endpoint"
SERVER="$ROOT/.venv/bin/moto_server"
PY="$ROOT/.venv/bin/python"
# moto_server with its requests serialized: conditional writes become atomic, as on DynamoDB
# (see scripts/moto_serial.py).
SERIAL="$ROOT/scripts/moto_serial.py"

running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

# Milliseconds since the epoch, portably (GNU `date +%N` is not on macOS).
now_ms() {
  "$PY" -c 'import time; print(int(time.time() * 1000))'
}

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# True once the endpoint answers a DynamoDB ListTables call.
answers() {
  "$PY" - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
req = urllib.request.Request(
    sys.argv[1] + "/",
    data=b"{}",
    headers={
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
    },
)
with urllib.request.urlopen(req, timeout=2) as r:
    sys.exit(0 if r.status == 200 and b"TableNames" in r.read() else 1)
PY
}

start() {
  mkdir -p "$LOCAL"
  if running; then
    cat "$ENDPOINTFILE"
    return 0
  fi
  if [ ! -x "$SERVER" ]; then
    echo "dynamodb-local: $SERVER is missing; run scripts/venv.sh (or make venv) first" >&2
    exit 1
  fi
  local port="${PORT:-$(free_port)}"
  local endpoint="http://127.0.0.1:$port"
  local start_ms
  start_ms=$(now_ms)
  # A session of its own (python's os.setsid: no util-linux `setsid` needed, on macOS neither),
  # so a Ctrl-C in the caller's terminal doesn't hit it and stop can end the whole group.
  "$PY" -c 'import os, sys
try:
    os.setsid()
except OSError:
    pass  # already a group leader: stop ends its group all the same
os.execv(sys.argv[1], sys.argv[1:])' "$PY" "$SERIAL" -H 127.0.0.1 -p "$port" >"$LOGFILE" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 150); do
    if answers "$endpoint"; then
      echo "$endpoint" >"$ENDPOINTFILE"
      echo "dynamodb-local: moto ready at $endpoint in $(( $(now_ms) - start_ms )) ms (pid $(cat "$PIDFILE"), log $LOGFILE)" >&2
      echo "$endpoint"
      return 0
    fi
    if ! running; then
      echo "dynamodb-local: moto_server exited; its log:" >&2
      cat "$LOGFILE" >&2
      rm -f "$PIDFILE"
      exit 1
    fi
    sleep 0.1
  done
  echo "dynamodb-local: moto did not answer at $endpoint within 15 s; its log:" >&2
  cat "$LOGFILE" >&2
  stop
  exit 1
}

stop() {
  if running; then
    local pid
    pid="$(cat "$PIDFILE")"
    # It leads its own process group (setsid): end the group.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    echo "dynamodb-local: stopped (pid $pid)" >&2
  fi
  rm -f "$PIDFILE" "$ENDPOINTFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if running; then cat "$ENDPOINTFILE"; else echo "dynamodb-local: not running" >&2; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
