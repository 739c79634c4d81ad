#!/usr/bin/env bash
# Signed checkpoints and `parcha audit` (issue 3, point 6): every node signs
# (height, head, state digest) checkpoints with its hospital key; parcha
# audit fetches them from every node, checks the signatures against the
# chain and compares them. A healthy network is "consistent" (exit 0). Then
# one node's stored state is altered behind its back (stopped, a state table
# changed with sqlite3, restarted): once it signs its next checkpoint the
# audit raises the alarm, names that node and exits 1.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster/common.sh"

cluster_up 3   # devnet nodes sign a checkpoint every 10 blocks
VICTIM=district-hospital

# audit_until RC SECONDS: run parcha audit until it exits with RC.
audit_until() {
  local want=$1 limit=$2 t0 rc
  t0=$(date +%s)
  while :; do
    rc=0
    "$PARCHA" audit --devnet "$DN" >"$TMP/audit.out" 2>&1 || rc=$?
    [ "$rc" = "$want" ] && return 0
    [ $(( $(date +%s) - t0 )) -ge "$limit" ] && return 1
    "$PARCHA" devnet load --dir "$DN" --count 8 >/dev/null 2>&1 || true
  done
}

"$PARCHA" devnet load --dir "$DN" --seconds 3 --acked "$TMP/acked" >/dev/null
wait_converged 60 >/dev/null || bad "no agreement before the audit"
audit_until 0 90 && ok "audit of the healthy network: consistent (exit 0)" \
  || { cat "$TMP/audit.out"; bad "audit of the healthy network did not pass"; }
cat "$TMP/audit.out"
check "the audit compared checkpoints at common heights" grep -q "^consistent" "$TMP/audit.out"
"$PARCHA" audit --devnet "$DN" --json >"$TMP/audit.json" || true
check "--json: consistent, 3 nodes, signatures good" \
  jq -e '.consistent and (.nodes | length == 3) and all(.nodes[]; .bad_checkpoints == 0)' "$TMP/audit.json"

"$PARCHA" devnet stop --dir "$DN" --node "$VICTIM" >/dev/null
DB=$(node_dir "$VICTIM")/ledger.db
sqlite3 "$DB" "UPDATE staff SET name = 'Dr. Nobody' WHERE rowid = (SELECT min(rowid) FROM staff)"
check "one row of $VICTIM's staff table altered" \
  test "$(sqlite3 -readonly "$DB" "SELECT count(*) FROM staff WHERE name = 'Dr. Nobody'")" = 1
"$PARCHA" devnet start --dir "$DN" --node "$VICTIM" >/dev/null || bad "$VICTIM did not restart"

audit_until 1 120 || bad "the audit never alarmed"
cat "$TMP/audit.out"
check "the audit names $VICTIM as diverging" grep -q "ALARM: $VICTIM" "$TMP/audit.out"
check "it points at the state" grep -q "DIVERGES at height [0-9]* (state)" "$TMP/audit.out"
check "the other nodes still agree" test "$(grep -c ' agrees$' "$TMP/audit.out")" = 2
"$PARCHA" audit --node "$(node_url city-general)" --node "$(node_url sunrise-clinic)" >/dev/null \
  && ok "auditing only the two honest nodes: consistent" || bad "the honest nodes disagree"
finish
