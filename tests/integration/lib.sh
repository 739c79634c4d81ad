# Shared helpers for integration tests: a temp folder, starting parchad on a
# free port and waiting until it is ready, and stopping everything we started.
# Sourced by each test; expects PARCHAD, PARCHA and BUILD set from $1..$3.
set -euo pipefail
PARCHAD=$(readlink -f "$1")
PARCHA=$(readlink -f "$2")
BUILD=$(readlink -f "$3")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
TMP=$(mktemp -d /tmp/parcha-it.XXXXXX)
PIDS=()
FAILS=0
PASSES=0

cleanup() {
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && wait "$p" 2>/dev/null || true
  done
  if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

ok()   { PASSES=$((PASSES + 1)); echo "ok   - $*"; }
bad()  { FAILS=$((FAILS + 1)); echo "FAIL - $*"; }
check() { # check "description" command...
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
finish() {
  echo "$PASSES passed, $FAILS failed"
  [ "$FAILS" -eq 0 ]
}

# start_node DIR [extra args...]: start parchad on a free port; sets NODE_PID
# and NODE_URL. Waits on DIR/parchad.port (written once listening).
start_node() {
  local dir=$1; shift
  rm -f "$dir/parchad.port"
  "$PARCHAD" --data "$dir" --listen 127.0.0.1:0 "$@" >>"$dir/parchad.log" 2>&1 &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  local i
  for i in $(seq 1 600); do
    if [ -s "$dir/parchad.port" ]; then
      NODE_URL="http://127.0.0.1:$(cat "$dir/parchad.port")"
      export PARCHA_NODE=$NODE_URL
      return 0
    fi
    if ! kill -0 "$NODE_PID" 2>/dev/null; then
      echo "parchad exited during start:"; tail -20 "$dir/parchad.log"; return 1
    fi
    sleep 0.05
  done
  echo "parchad did not become ready"; tail -20 "$dir/parchad.log"; return 1
}

# stop_node [signal]: stop the node started last and wait for it.
stop_node() {
  local sig=${1:-TERM}
  kill -"$sig" "$NODE_PID" 2>/dev/null || true
  wait "$NODE_PID" 2>/dev/null || true
}

# http METHOD PATH [curl args...]: prints "STATUS BODY".
http() {
  local m=$1 p=$2; shift 2
  curl -s -o "$TMP/body" -w '%{http_code}' -X "$m" "$NODE_URL$p" "$@" || true
  echo -n " "; cat "$TMP/body"
}

# pass FILE TEXT: write a passphrase file (0600).
pass() { umask 077; printf '%s\n' "$2" >"$1"; }
