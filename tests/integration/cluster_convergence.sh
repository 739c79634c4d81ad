#!/usr/bin/env bash
# Convergence (issue 3, point 8): three hospitals, each with its own etcd
# member and parchad, the demo loaded through the nodes, then clients writing
# at all three nodes at once. Afterwards every node reports the same height
# and head in /v1/status, every acknowledged transaction is committed once
# with verdict ok everywhere, and the chains are identical block by block.
# A patient's records kept at other hospitals are read through one node
# (forwarded to the custodians), and shown as unavailable while their
# custodian is down. Also checks that `parcha devnet down` stops exactly what
# it started.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster/common.sh"

cluster_up 3 --demo --patients 6
check "devnet.json names 3 nodes and 3 etcd members" \
  test "$(jq '(.nodes | length) + (.etcd | length)' "$DN/devnet.json")" = 6
check "the demo's records were stored through the nodes" \
  test "$(jq '.demo.records' "$DN/devnet.json")" -gt 0
check "status: everything is up" "$PARCHA" devnet status --dir "$DN"

"$PARCHA" devnet load --dir "$DN" --seconds 8 --concurrency 4 --acked "$TMP/acked" >"$TMP/load.out"
cat "$TMP/load.out"
check "clients at all three nodes got acknowledgements" \
  test "$(cut -d' ' -f2 "$TMP/acked" | sort -u | wc -l)" = 3
HH=$(wait_converged 90) && ok "all nodes report the same height and head: $HH" \
  || bad "the nodes did not converge"
check "every acknowledged transaction is committed (ok) at every node" acked_everywhere "$TMP/acked"
for id in $(node_ids); do check "$id stores each transaction once, all ok" once_each "$id"; done
check "the chains are identical block by block" chains_identical

# The demo's records live at their custodians: a patient reading through
# City General's node gets the other hospitals' records forwarded to their
# nodes; with one custodian down, its records say so and the rest still show.
K=$(jq -r '.patients[0].key_file' "$DN/demo-keys/index.json")
HID=$(jq -r '.patients[0].health_id' "$DN/demo-keys/index.json")
hist() {
  "$PARCHA" history --json --node "$(node_url city-general)" --patient "$HID" --key "$K" \
    --pass-file "${K%.key}.pass" 2>/dev/null
}
count() { hist | jq "[.records[] | select($1)] | length"; }
FAR=$(hist | jq -r '[.records[].record.custodian | select(. != "city-general")][0] // empty')
check "patient 0 has records kept by another hospital ($FAR)" test -n "$FAR"
check "they are read through City General's node and decrypted" \
  test "$(count ".record.custodian == \"$FAR\" and .status == \"ok\"")" -gt 0
"$PARCHA" devnet stop --dir "$DN" --node "$FAR" >/dev/null
check "with $FAR's node down its records are unavailable" \
  test "$(count ".record.custodian == \"$FAR\" and .status != \"unavailable\"")" = 0
check "and City General's own records still show" \
  test "$(count ".record.custodian == \"city-general\" and .status == \"ok\"")" -gt 0
"$PARCHA" devnet start --dir "$DN" --node "$FAR" >/dev/null || bad "$FAR did not restart"

# down stops exactly what up started: a process whose pid is recorded but
# that is not ours is left alone.
sleep 300 & DECOY=$!
PIDS+=("$DECOY")
jq --argjson p "$DECOY" '.nodes += [{"hospital":"decoy","url":"http://127.0.0.1:9","pid":$p,"argv":["/usr/bin/sleep","300"]}]' \
  "$DN/devnet.json" >"$TMP/dn.json" && cp "$TMP/dn.json" "$DN/devnet.json"
PIDLIST=$(jq -r '.nodes[:3][].pid, .etcd[].pid' "$DN/devnet.json")
"$PARCHA" devnet down --dir "$DN" >"$TMP/down.out" 2>&1
check "down reports 6 stopped processes" grep -q "stopped 6 processes" "$TMP/down.out"
alive=0
for p in $PIDLIST; do running "$p" && alive=$((alive + 1)); done
check "no etcd member or parchad is left running" test "$alive" = 0
check "a recorded pid that is not ours is not signalled" running "$DECOY"
check "data is kept after down" test -s "$DN/nodes/city-general/ledger.db"
"$PARCHA" devnet down --dir "$DN" --purge >/dev/null 2>&1
check "down --purge removes the folder" test ! -e "$DN"
DN_UP=0
finish
