#!/usr/bin/env bash
# Away past the window (issue 3, point 8): a node is stopped; the others go
# on writing and etcd is compacted past the stopped node's position (what
# retention does once the window has moved on; here with etcdctl compact so
# that the test does not wait for it). Restarted, the node finds its position
# compacted, fetches the missing blocks from a peer over HTTP, re-verifies
# them, reaches the same block hashes and then follows etcd again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster/common.sh"

cluster_up 3
AWAY=district-hospital
"$PARCHA" devnet load --dir "$DN" --count 20 --acked "$TMP/acked" >/dev/null
HH=$(wait_converged 60) && ok "before: all nodes agree: $HH" || bad "no agreement before"
"$PARCHA" devnet stop --dir "$DN" --node "$AWAY" >/dev/null
POS=$(sqlite3 -readonly "$(node_dir "$AWAY")/ledger.db" "SELECT pos FROM head")
ok "$AWAY stopped at etcd revision $POS"

"$PARCHA" devnet load --dir "$DN" --node city-general --node sunrise-clinic --seconds 5 \
  --acked "$TMP/acked" >"$TMP/load.out" 2>&1
cat "$TMP/load.out"
EP=$(etcd_url city-general)
REV=$(etcdctl --endpoints "$EP" endpoint status -w json | jq '.[0].Status.header.revision')
etcdctl --endpoints "$EP" compact "$REV" --physical >/dev/null
check "etcd compacted to revision $REV, past $AWAY's $POS" test "$REV" -gt "$((POS + 100))"
check "a watch from $AWAY's position is refused as compacted" bash -c \
  "etcdctl --endpoints $EP watch --prefix /parcha/ --rev $((POS + 1)) 2>&1 | grep -q compacted"

"$PARCHA" devnet start --dir "$DN" --node "$AWAY" >"$TMP/start.out" 2>&1 || {
  cat "$TMP/start.out"; bad "$AWAY did not restart"; }
HH=$(wait_converged 120) && ok "$AWAY caught up from a peer and converged: $HH" \
  || bad "$AWAY did not converge"
check "every acknowledged transaction is committed at $AWAY too" acked_everywhere "$TMP/acked"
check "the chains are identical" chains_identical
for id in $(node_ids); do check "$id applied each transaction once" once_each "$id"; done
check "$AWAY follows etcd again and takes writes (a client retries a few seconds)" \
  takes_writes "$AWAY" "$TMP/acked"
HH=$(wait_converged 60) && ok "and the network still agrees: $HH" || bad "no agreement at the end"
check "its new transactions reached every node" acked_everywhere "$TMP/acked"
finish
