#!/usr/bin/env bash
# A new hospital joins (docs/operations.md §4): its key with parcha keygen,
# the hospital.admit vote signed by it and a majority of the members (a
# minority is refused), `etcdctl member add`, its etcd member started with
# the printed cluster and state "existing", its node started from the same
# genesis.bin. The new node reaches the same head, and its own staff
# enrolment commits at every node.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster/common.sh"

cluster_up 3
"$PARCHA" devnet load --dir "$DN" --count 10 >/dev/null
NEW=lakeview
ND=$TMP/$NEW
mkdir -p "$ND/keys" && chmod 700 "$ND/keys"
EC=$(free_port); EP=$(free_port); NP=$(free_port)
check "three free ports for the new hospital" test "$EC" != "$EP" -a "$EP" != "$NP" -a "$EC" != "$NP"
( umask 077; openssl rand -base64 24 >"$ND/keys/$NEW.pass" )
"$PARCHA" keygen --out "$ND/keys/$NEW.key" --label "hospital $NEW" --pass-file "$ND/keys/$NEW.pass" \
  --kdf fast >/dev/null

A=city-general; B=sunrise-clinic
key() { echo "$(node_dir "$1")/keys/$1.key"; }
pass() { echo "$(node_dir "$1")/keys/$1.pass"; }
if "$PARCHA" hospital admit --id "$NEW" --name "Lakeview Hospital" --endpoint "http://127.0.0.1:$NP" \
    --new-key "$ND/keys/$NEW.key" --new-pass-file "$ND/keys/$NEW.pass" \
    --key "$(key $A)" --pass-file "$(pass $A)" --node "$(node_url $A)" >"$TMP/minority.out" 2>&1; then
  bad "one member of three admitted a hospital"
else
  check "one member of three cannot admit (no_majority)" grep -q no_majority "$TMP/minority.out"
fi
"$PARCHA" hospital admit --id "$NEW" --name "Lakeview Hospital" --endpoint "http://127.0.0.1:$NP" \
  --new-key "$ND/keys/$NEW.key" --new-pass-file "$ND/keys/$NEW.pass" \
  --key "$(key $A)" --pass-file "$(pass $A)" --key "$(key $B)" --pass-file "$(pass $B)" \
  --node "$(node_url $A)" >"$TMP/admit.out" 2>&1 \
  && ok "admitted by two of three: $(cat "$TMP/admit.out")" || { cat "$TMP/admit.out"; bad "admission failed"; }

# etcdctl member add (retried: etcd refuses reconfiguration in a fresh cluster's first seconds).
E=(etcdctl --endpoints "$(etcd_urls)")
for i in $(seq 1 100); do
  "${E[@]}" member add "$NEW" --peer-urls="http://127.0.0.1:$EP" >"$TMP/add.out" 2>&1 && break
  sleep 0.2
done
check "etcdctl member add" grep -q 'ETCD_INITIAL_CLUSTER_STATE="existing"' "$TMP/add.out"
IC=$(sed -n 's/^ETCD_INITIAL_CLUSTER="\(.*\)"$/\1/p' "$TMP/add.out")
etcd --name "$NEW" --data-dir "$ND/etcd" \
  --listen-client-urls "http://127.0.0.1:$EC" --advertise-client-urls "http://127.0.0.1:$EC" \
  --listen-peer-urls "http://127.0.0.1:$EP" --initial-advertise-peer-urls "http://127.0.0.1:$EP" \
  --initial-cluster "$IC" --initial-cluster-state existing \
  --pre-vote --experimental-watch-progress-notify-interval 500ms >"$ND/etcd.log" 2>&1 &
PIDS+=("$!")
for i in $(seq 1 300); do curl -s -m 1 "http://127.0.0.1:$EC/health" | grep -q true && break; sleep 0.1; done
check "the new etcd member is healthy" bash -c "curl -s http://127.0.0.1:$EC/health | grep -q true"
curl -s "http://127.0.0.1:$EC/health" | grep -q true || tail -5 "$ND/etcd.log"
check "the cluster has four members" test "$("${E[@]}" member list | wc -l)" = 4

cp "$(node_dir $A)/genesis.bin" "$ND/"
check "the genesis is the same everywhere" cmp "$ND/genesis.bin" "$(node_dir $B)/genesis.bin"
jq -n --arg h "$NEW" --arg net "$(network)" --arg listen "127.0.0.1:$NP" --arg own "http://127.0.0.1:$EC" \
  --argjson eps "$(jq -c '[.etcd[].client_url]' "$DN/devnet.json")" \
  --argjson peers "$(jq -c '[.nodes[] | {(.hospital): .url}] | add' "$DN/devnet.json")" \
  '{network: $net, hospital: $h, hosted: [$h], listen: $listen, orderer: "etcd",
    etcd: {endpoints: ([$own] + $eps)}, peers: $peers}' >"$ND/node.json"
"$PARCHAD" --data "$ND" >"$ND/parchad.log" 2>&1 &
PIDS+=("$!")
for i in $(seq 1 600); do curl -s -m 1 "http://127.0.0.1:$NP/v1/status" | grep -q height && break; sleep 0.1; done
NEWURL=http://127.0.0.1:$NP
same_head() {
  [ "$(curl -s "$NEWURL/v1/status" | jq -r '"\(.height) \(.head)"')" = "$(status_of $A)" ]
}
for i in $(seq 1 600); do same_head && break; sleep 0.1; done
check "the new node reaches the members' height and head" same_head
check "it lists four hospitals" test "$(curl -s "$NEWURL/v1/hospitals" | jq length)" = 4

( umask 077; printf 'lakeview-doctor-1234\n' >"$ND/dr.pass" )
"$PARCHA" staff enroll --node "$NEWURL" --data "$ND" --hospital "$NEW" --name "Dr. Lake" \
  --role doctor --regno LV-1 --out "$ND/dr.key" --pass-file "$ND/dr.pass" >"$TMP/enroll.out" 2>&1 \
  && ok "the new hospital enrols its first doctor through its own node" \
  || { cat "$TMP/enroll.out"; bad "enrolment at the new node failed"; }
"$PARCHA" devnet load --dir "$DN" --count 10 >/dev/null
for i in $(seq 1 600); do same_head && break; sleep 0.1; done
HH=$(wait_converged 60) && check "all four nodes agree" same_head || bad "the members disagree"
check "the doctor is enrolled on every member" \
  test "$(for id in $(node_ids); do curl -s "$(node_url "$id")/v1/staff?hospital=$NEW" | jq length; done | sort -u)" = 1
finish
