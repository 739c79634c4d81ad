#!/usr/bin/env bash
# etcd security between hospitals (issue 3, point 5): with etcd
# authentication on (JWT tokens; a root user; per hospital a user and a role
# with readwrite on its own proposal prefix /parcha/<net>/p/<id>/ and its own
# applied key, read on the whole /parcha/<net>/p/ and applied/ prefixes),
# the nodes order blocks as usual, but one hospital's credentials cannot
# write or delete under another hospital's prefix: etcdctl says "permission
# denied" and the JSON gateway answers 403. docs/security.md has the
# commands.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster/common.sh"

cluster_up 3 --etcd-auth
NET=$(network)
EP=$(etcd_url city-general)
A=city-general
B=sunrise-clinic
APW=$(head -1 "$(node_dir "$A")/etcd.pass")
check "node passwords are kept mode 0600" test "$(stat -c %a "$(node_dir "$A")/etcd.pass")" = 600
check "node.json names the user and the password file, not the password" \
  bash -c "jq -e '.etcd.user == \"$A\" and .etcd.password_file == \"etcd.pass\" and (.etcd.password == null)' '$(node_dir "$A")/node.json'"

"$PARCHA" devnet load --dir "$DN" --count 20 --acked "$TMP/acked" >"$TMP/load.out" 2>&1 \
  && ok "the nodes commit with authentication on ($(cut -d: -f2 "$TMP/load.out" | cut -d, -f1 | head -1))" \
  || { cat "$TMP/load.out"; bad "the nodes cannot commit with authentication on"; }
HH=$(wait_converged 60) && ok "all nodes agree: $HH" || bad "no agreement"
check "every acknowledged transaction is committed everywhere" acked_everywhere "$TMP/acked"

ctl() { etcdctl --endpoints "$EP" "$@" 2>&1 || true; }
check "without credentials a write is refused" \
  bash -c "etcdctl --endpoints $EP put /parcha/$NET/p/$A/x y 2>&1 | grep -qi 'user name is empty\|permission denied'"
check "$A may write under its own prefix" \
  bash -c "etcdctl --endpoints $EP --user '$A:$APW' put /parcha/$NET/p/$A/rbac-test y | grep -q OK"
OUT=$(ctl --user "$A:$APW" put "/parcha/$NET/p/$B/999999" forged)
echo "  $A writing under $B's prefix: $OUT" | tail -1
check "$A cannot write under $B's prefix (permission denied)" grep -q "permission denied" <<<"$OUT"
KEY=$(ctl --user "$A:$APW" get --prefix "/parcha/$NET/p/$B/" --keys-only --limit 1 | head -1)
check "$A can read $B's proposals (needed to order)" test -n "$KEY"
check "$A cannot delete $B's proposal" grep -q "permission denied" <<<"$(ctl --user "$A:$APW" del "$KEY")"
check "$A cannot overwrite $B's applied position" \
  grep -q "permission denied" <<<"$(ctl --user "$A:$APW" put "/parcha/$NET/applied/$B" 1)"

# The same through the JSON gateway the nodes use: token raw in Authorization.
TOK=$(curl -s -X POST "$EP/v3/auth/authenticate" \
  -d "{\"name\":\"$A\",\"password\":\"$APW\"}" | jq -r .token)
check "a JWT token is issued" grep -q '^ey' <<<"$TOK"
K64=$(printf '/parcha/%s/p/%s/999998' "$NET" "$B" | base64 -w0)
CODE=$(curl -s -o "$TMP/gw.json" -w '%{http_code}' -X POST -H "Authorization: $TOK" \
  "$EP/v3/kv/put" -d "{\"key\":\"$K64\",\"value\":\"eA==\"}")
check "the gateway answers 403 to $A writing under $B's prefix" test "$CODE" = 403
check "and says permission denied" grep -q "permission denied" "$TMP/gw.json"
check "nothing was written under $B's prefix" \
  test -z "$(etcdctl --endpoints "$EP" --user "root:$(cat "$DN/etcd/root.pass")" get "/parcha/$NET/p/$B/999999" "/parcha/$NET/p/$B/999998")"

# JWT tokens survive a member restart (simple tokens would not).
"$PARCHA" devnet stop --dir "$DN" --etcd "$A" >/dev/null
"$PARCHA" devnet start --dir "$DN" --etcd "$A" >/dev/null || bad "member $A did not restart"
"$PARCHA" devnet load --dir "$DN" --count 10 --acked "$TMP/acked" >/dev/null \
  && ok "the nodes still commit after an etcd member restart" || bad "writes fail after a member restart"
HH=$(wait_converged 60) && ok "all nodes agree: $HH" || bad "no agreement at the end"
check "every acknowledged transaction is committed everywhere" acked_everywhere "$TMP/acked"
finish
