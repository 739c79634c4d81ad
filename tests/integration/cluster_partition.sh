#!/usr/bin/env bash
# Partition (issue 3, point 8): one hospital's machine is cut off from the
# others. Its etcd member is frozen with SIGSTOP, and its parchad knows only
# that member (node.json lists just its own endpoint, as a hospital whose
# link to the others is down can reach only its own machine). The other two
# keep committing; the cut-off node refuses writes with a clear 503
# (code "unavailable"); after SIGCONT it catches up and converges.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster/common.sh"

cluster_up 3
CUT=district-hospital
CFG=$(node_dir "$CUT")/node.json
jq '.etcd.endpoints = [.etcd.endpoints[0]]' "$CFG" >"$TMP/node.json" && cp "$TMP/node.json" "$CFG"
"$PARCHA" devnet stop --dir "$DN" --node "$CUT" >/dev/null
"$PARCHA" devnet start --dir "$DN" --node "$CUT" >/dev/null || bad "$CUT did not restart"
"$PARCHA" devnet load --dir "$DN" --count 20 --acked "$TMP/acked" >/dev/null
HH=$(wait_converged 60) && ok "before the cut all nodes agree: $HH" || bad "no agreement before the cut"

EPID=$(etcd_pid "$CUT")
kill -STOP "$EPID"
PAUSED+=("$EPID")
ok "etcd member $CUT frozen (SIGSTOP)"
H0=$(status_of city-general | cut -d' ' -f1)
"$PARCHA" devnet load --dir "$DN" --node city-general --node sunrise-clinic --seconds 6 \
  --acked "$TMP/acked" >"$TMP/major.out" 2>&1
cat "$TMP/major.out"
H1=$(status_of city-general | cut -d' ' -f1)
check "the majority keeps committing (height $H0 -> $H1)" test "$H1" -gt "$((H0 + 10))"

"$PARCHA" devnet load --dir "$DN" --node "$CUT" --count 1 --json >"$TMP/cut.json" 2>"$TMP/cut.err" || true
cat "$TMP/cut.err"
check "the cut-off node refuses the write with 503" test "$(jq .unavailable_503 "$TMP/cut.json")" = 1
check "its answer says why (code unavailable, a message)" grep -q "answered 503 unavailable: ." "$TMP/cut.err"
check "the cut-off node acknowledged nothing" test "$(jq .acknowledged "$TMP/cut.json")" = 0

kill -CONT "$EPID"
PAUSED=()
ok "etcd member $CUT resumed (SIGCONT)"
HH=$(wait_converged 120) && ok "after healing all nodes converge: $HH" || bad "no convergence after healing"
check "every acknowledged transaction is committed at every node" acked_everywhere "$TMP/acked"
for id in $(node_ids); do check "$id applied each transaction once" once_each "$id"; done
check "the chains are identical" chains_identical
check "the healed node takes writes again (a client retries a few seconds)" takes_writes "$CUT"
finish
