#!/usr/bin/env bash
# Killed etcd leader (issue 3, point 8): clients write at all three nodes;
# the etcd leader is killed with SIGKILL in the middle of it. The cluster
# elects a new leader and the writing goes on. Afterwards (the killed member
# restarted): no acknowledged transaction is lost (every 200 is committed
# with verdict ok at every node), none is applied twice (each txid stored
# once, all verdicts ok), and the chains are identical.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster/common.sh"

cluster_up 3
"$PARCHA" devnet load --dir "$DN" --seconds 14 --concurrency 4 --acked "$TMP/acked" \
  >"$TMP/load.out" 2>&1 &
LOAD=$!
PIDS+=("$LOAD")
wait_lines "$TMP/acked" 200 60 || bad "no load acknowledged before the kill"
L=$(leader) || bad "no etcd leader found"
BEFORE=$(wc -l <"$TMP/acked")
"$PARCHA" devnet stop --dir "$DN" --etcd "$L" --kill >/dev/null
ok "killed the etcd leader ($L) with SIGKILL after $BEFORE acknowledgements"
NEW=$(leader) && ok "a new leader was elected: $NEW" || bad "no new leader"
check "the new leader is another member" test "$NEW" != "$L"
wait "$LOAD" || bad "the load generator failed"
cat "$TMP/load.out"
AFTER=$(wc -l <"$TMP/acked")
check "writes were acknowledged after the leader died ($BEFORE -> $AFTER)" test "$AFTER" -gt "$((BEFORE + 100))"
"$PARCHA" devnet start --dir "$DN" --etcd "$L" >/dev/null || bad "the killed member did not restart"
HH=$(wait_converged 90) && ok "all nodes converged: $HH" || bad "the nodes did not converge"
check "no acknowledged transaction is lost (every 200 committed, ok, at every node)" \
  acked_everywhere "$TMP/acked"
for id in $(node_ids); do check "$id applied each transaction once" once_each "$id"; done
check "the chains are identical" chains_identical
finish
