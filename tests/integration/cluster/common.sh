# Helpers for the cluster tests (tests/integration/cluster_*.sh), sourced
# after lib.sh: a devnet (N etcd members + N parchad) made with
# `parcha devnet up` in $TMP, stopped with `parcha devnet down` on exit (also
# on failure), and the checks the tests share. Everything polls with a
# deadline; nothing waits a fixed time.

DN=$TMP/devnet
DN_UP=0
PAUSED=()   # pids stopped with SIGSTOP: resumed on exit so that they can stop

if ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
  echo "etcd is not installed (scripts/setup.sh installs etcd-server): skipped"
  exit 0
fi
export PATH=$PATH:/usr/bin

cluster_cleanup() {
  local rc=$? p
  for p in "${PAUSED[@]:-}"; do [ -n "$p" ] && kill -CONT "$p" 2>/dev/null; done
  if [ "$DN_UP" = 1 ]; then
    if [ "$rc" != 0 ] || [ "$FAILS" != 0 ]; then
      echo "--- logs of the failed cluster test (last lines) ---"
      for f in "$DN"/nodes/*/parchad.log "$DN"/etcd/*.log; do
        [ -f "$f" ] && { echo "== $f"; tail -15 "$f"; }
      done
    fi
    "$PARCHA" devnet down --dir "$DN" >/dev/null 2>&1 || true
  fi
  cleanup
}
trap cluster_cleanup EXIT

# cluster_up N [devnet up options...]: start the devnet; fails the test if
# it does not come up.
cluster_up() {
  local n=$1; shift
  DN_UP=1
  if ! "$PARCHA" devnet up --dir "$DN" --hospitals "$n" --parchad "$PARCHAD" "$@" \
       >"$TMP/up.out" 2>&1; then
    cat "$TMP/up.out"; echo "FAIL - devnet did not come up"; exit 1
  fi
}

# Facts from devnet.json.
node_ids()  { jq -r '.nodes[].hospital' "$DN/devnet.json"; }
node_url()  { jq -r --arg h "$1" '.nodes[] | select(.hospital == $h) | .url' "$DN/devnet.json"; }
node_dir()  { jq -r --arg h "$1" '.nodes[] | select(.hospital == $h) | .data_dir' "$DN/devnet.json"; }
node_pid()  { jq -r --arg h "$1" '.nodes[] | select(.hospital == $h) | .pid' "$DN/devnet.json"; }
etcd_pid()  { jq -r --arg h "$1" '.etcd[] | select(.id == $h) | .pid' "$DN/devnet.json"; }
etcd_url()  { jq -r --arg h "$1" '.etcd[] | select(.id == $h) | .client_url' "$DN/devnet.json"; }
etcd_urls() { jq -r '[.etcd[].client_url] | join(",")' "$DN/devnet.json"; }
network()   { jq -r '.network' "$DN/devnet.json"; }

# leader: the id of the etcd member that leads now (polls up to 30 s).
leader() {
  local i l
  for i in $(seq 1 300); do
    l=$("$PARCHA" devnet status --dir "$DN" --json 2>/dev/null | jq -r '[.etcd[] | select(.leader)][0].id // empty')
    [ -n "$l" ] && { echo "$l"; return 0; }
    sleep 0.1
  done
  return 1
}

# status_of ID: "height head" of a node ("- -" when it does not answer).
status_of() {
  curl -s -m 3 "$(node_url "$1")/v1/status" | jq -r '"\(.height) \(.head)"' 2>/dev/null || echo "- -"
}

# wait_converged [SECONDS]: until every node reports the same height and
# head (default 90 s). Prints "height head" on success.
wait_converged() {
  local limit=${1:-90} t0 ids first s same
  t0=$(date +%s)
  ids=$(node_ids)
  while :; do
    first=""; same=1
    for id in $ids; do
      s=$(status_of "$id")
      case $s in "- -"|"") same=0; break;; esac
      if [ -z "$first" ]; then first=$s; elif [ "$s" != "$first" ]; then same=0; break; fi
    done
    if [ "$same" = 1 ]; then echo "$first"; return 0; fi
    if [ $(( $(date +%s) - t0 )) -ge "$limit" ]; then
      for id in $ids; do echo "  $id: $(status_of "$id")"; done >&2
      return 1
    fi
    sleep 0.2
  done
}

# wait_lines FILE N [SECONDS]: until FILE has at least N lines.
wait_lines() {
  local f=$1 n=$2 limit=${3:-60} t0
  t0=$(date +%s)
  while [ "$( { [ -f "$f" ] && wc -l <"$f"; } || echo 0)" -lt "$n" ]; do
    [ $(( $(date +%s) - t0 )) -ge "$limit" ] && return 1
    sleep 0.1
  done
}

# acked_everywhere FILE: every txid in FILE ("<txid> <hospital>" lines) is
# committed with verdict ok at every node, asked through GET /v1/tx.
acked_everywhere() {
  local f=$1 id url n want
  want=$(wc -l <"$f")
  [ "$want" -gt 0 ] || return 1
  for id in $(node_ids); do
    url=$(node_url "$id")
    awk -v u="$url" '{print "url = \"" u "/v1/tx/" $1 "\""}' "$f" >"$TMP/urls.cfg"
    n=$(curl -s -K "$TMP/urls.cfg" | jq -r 'select(.status == "committed" and .verdict == "ok") | .txid' | sort -u | wc -l)
    if [ "$n" != "$want" ]; then
      echo "  $id has $n of the $want acknowledged transactions committed" >&2
      return 1
    fi
  done
}

# once_each ID: no transaction is stored twice in the node's ledger and none
# was refused (every load and demo transaction is valid, so a duplicate
# delivery would show as a repeated txid or a non-ok verdict).
once_each() {
  local db r
  db=$(node_dir "$1")/ledger.db
  r=$(sqlite3 -readonly "$db" "SELECT count(*) - count(DISTINCT txid), sum(verdict != 0) FROM txs")
  [ "$r" = "0|0" ] || { echo "  $1: repeated txids | non-ok verdicts = $r" >&2; return 1; }
}

# chains_identical: every node has the same block hashes at every height
# (compared through sqlite on the ledgers, read-only).
chains_identical() {
  local ref="" id h
  for id in $(node_ids); do
    h=$(sqlite3 -readonly "$(node_dir "$id")/ledger.db" \
        "SELECT hex(hash) FROM blocks ORDER BY height" | sha256sum | cut -c1-64)
    if [ -z "$ref" ]; then ref=$h; elif [ "$h" != "$ref" ]; then
      echo "  $id's chain differs" >&2; return 1; fi
  done
}

# running PID: the process exists and is not a zombie.
running() {
  local s
  s=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null)
  [ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now, random
# below the kernel's ephemeral range (so that another test asking the kernel
# for a free port cannot be handed it), checked by connecting.
USED_PORTS=" "
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$EPHEMERAL_LOW" -gt 21000 ] 2>/dev/null || EPHEMERAL_LOW=32768
free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % (EPHEMERAL_LOW - 20000)))
    case $USED_PORTS in *" $p "*) continue;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS="$USED_PORTS$p "
      echo "$p"; return 0
    fi
  done
  return 1
}

# takes_writes ID [ACKED]: the node acknowledges writes again within 30 s
# (a node that has just caught up or healed refuses with 503 for a few
# seconds; a client retries). Acknowledged txids go to ACKED when given.
takes_writes() {
  local i extra=()
  [ -n "${2:-}" ] && extra=(--acked "$2")
  for i in $(seq 1 60); do
    "$PARCHA" devnet load --dir "$DN" --node "$1" --count 5 "${extra[@]}" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}
