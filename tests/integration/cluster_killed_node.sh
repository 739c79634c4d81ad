#!/usr/bin/env bash
# Killed node (issue 3, point 8): clients write at all three nodes; one
# parchad is killed with SIGKILL during the load while the other two go on.
# It is restarted, resumes from its ledger and etcd, and converges: same
# height and head, every acknowledged transaction (including those it
# acknowledged itself before dying) committed once everywhere.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster/common.sh"

cluster_up 3
VICTIM=sunrise-clinic
"$PARCHA" devnet load --dir "$DN" --seconds 14 --concurrency 4 --acked "$TMP/acked" \
  >"$TMP/load.out" 2>&1 &
LOAD=$!
PIDS+=("$LOAD")
wait_lines "$TMP/acked" 200 60 || bad "no load acknowledged before the kill"
VPID=$(node_pid "$VICTIM")
"$PARCHA" devnet stop --dir "$DN" --node "$VICTIM" --kill >/dev/null
check "parchad of $VICTIM was killed (SIGKILL)" bash -c "! kill -0 $VPID 2>/dev/null || ! grep -q . /proc/$VPID/cmdline"
AT_KILL=$(wc -l <"$TMP/acked")
wait_lines "$TMP/acked" $((AT_KILL + 100)) 60 \
  && ok "the other nodes keep committing while $VICTIM is down" \
  || bad "no progress while $VICTIM was down"
wait "$LOAD" || bad "the load generator failed"
cat "$TMP/load.out"
"$PARCHA" devnet start --dir "$DN" --node "$VICTIM" >/dev/null || bad "$VICTIM did not restart"
check "$VICTIM restarted with a new pid" test "$(node_pid "$VICTIM")" != "$VPID"
HH=$(wait_converged 90) && ok "all nodes converged: $HH" || bad "the nodes did not converge"
check "every acknowledged transaction is committed (ok) at every node" acked_everywhere "$TMP/acked"
check "$VICTIM's own acknowledgements from before the kill survived" \
  test "$(grep -c " $VICTIM\$" "$TMP/acked")" -gt 0
for id in $(node_ids); do check "$id applied each transaction once" once_each "$id"; done
check "the chains are identical" chains_identical
check "the restarted node takes writes again" takes_writes "$VICTIM"
finish
