#!/usr/bin/env bash
# Flow control across the consortium (docs/design-changes.md §15): a node
# that runs slowly is waited for, so it does not fall behind without bound;
# a node that stops is no longer waited for once it has been silent for
# flow_control.dead_after_ms, so the others go on committing.
#
# The slow node is made by stopping and continuing its parchad (SIGSTOP /
# SIGCONT, running a seventh of the time) while clients write at two nodes.
# The sleeps in that loop shape the load; every check polls with a deadline.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster/common.sh"

cluster_up 3
VICTIM=district-hospital
VPID=$(node_pid "$VICTIM")
OTHERS=$(node_ids | grep -v "^$VICTIM\$")

flow_of() { curl -s -m 3 "$(node_url "$1")/v1/status" | jq -c '.ordering.flow_control'; }

for id in $(node_ids); do
  check "$id reports flow control enabled, waiting for at most 500 ms of lag" \
    bash -c "curl -s -m 3 '$(node_url "$id")/v1/status' | jq -e '.ordering.flow_control | .enabled and .max_lag_ms == 500' >/dev/null"
done

# Every node must have seen the others publish before the load starts.
seen_all() {
  local id
  for id in $(node_ids); do
    [ "$(flow_of "$id" | jq -r '.peers')" = 2 ] || return 1
  done
}
for i in $(seq 1 100); do seen_all && break; takes_writes "$(node_ids | head -1)" >/dev/null; sleep 0.1; done
check "every node sees the other two nodes' applied positions" seen_all

# Clients write at the other two nodes only: the victim's own clients would
# just wait while it is stopped.
NODE_ARGS=()
for id in $OTHERS; do NODE_ARGS+=(--node "$id"); done
"$PARCHA" devnet load --dir "$DN" "${NODE_ARGS[@]}" --seconds 20 --concurrency 4 --acked "$TMP/acked" \
  >"$TMP/load.out" 2>&1 &
LOAD=$!
PIDS+=("$LOAD")
wait_lines "$TMP/acked" 100 60 || bad "no load acknowledged before slowing $VICTIM"

# Slow the victim down for ~7 s: 100 ms running in every 700 ms. Each stop
# is longer than max_lag_ms (500) and shorter than dead_after_ms (2000), so
# on any machine the victim is both live and too far behind.
PAUSED+=("$VPID")
for i in $(seq 1 10); do
  kill -STOP "$VPID"; sleep 0.6
  kill -CONT "$VPID"; sleep 0.1
done

held_for_victim() {
  local id f
  for id in $OTHERS; do
    f=$(flow_of "$id")
    [ "$(jq -r '.holds' <<<"$f")" -gt 0 ] || { echo "  $id: $f" >&2; return 1; }
  done
}
check "the other nodes held their proposals while $VICTIM was slow" held_for_victim
metric_holds() { curl -s -m 3 "$(node_url "$1")/metrics" | awk '$1 == "parcha_flow_holds_total" {print $2}'; }
for id in $OTHERS; do
  check "$id counts its holds in /metrics (parcha_flow_holds_total)" test "$(metric_holds "$id")" -gt 0
done
grep -q "flow control: holding proposals while $VICTIM catches up" "$(node_dir "$(echo "$OTHERS" | head -1)")/parchad.log" \
  "$(node_dir "$(echo "$OTHERS" | tail -1)")/parchad.log" \
  && ok "the holds are logged, naming $VICTIM" || bad "no hold for $VICTIM in the other nodes' logs"

# Now stop it for good: after dead_after_ms (2 s) it is not waited for.
kill -STOP "$VPID"
AT_STOP=$(wc -l <"$TMP/acked")
not_waited() {
  local id
  for id in $OTHERS; do
    [ "$(flow_of "$id" | jq -r '.waited_for')" = 1 ] || return 1
  done
}
ok_wait=0
for i in $(seq 1 150); do not_waited && { ok_wait=1; break; }; sleep 0.1; done
[ "$ok_wait" = 1 ] && ok "a stopped $VICTIM is no longer waited for" \
  || bad "the other nodes still wait for the stopped $VICTIM: $(for id in $OTHERS; do flow_of "$id"; done)"
wait_lines "$TMP/acked" $((AT_STOP + 100)) 60 \
  && ok "the other nodes keep committing while $VICTIM is stopped" \
  || bad "no progress while $VICTIM was stopped"
wait "$LOAD" || bad "the load generator failed"
cat "$TMP/load.out"
kill -CONT "$VPID"

HH=$(wait_converged 90) && ok "all nodes converged: $HH" || bad "the nodes did not converge"
check "every acknowledged transaction is committed (ok) at every node" acked_everywhere "$TMP/acked"
for id in $(node_ids); do check "$id applied each transaction once" once_each "$id"; done
check "the chains are identical" chains_identical
check "$VICTIM takes writes again" takes_writes "$VICTIM"
finish
