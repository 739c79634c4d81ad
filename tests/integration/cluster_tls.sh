#!/usr/bin/env bash
# Security between machines, with exactly the commands of docs/security.md
# (issue 3, point 5): a consortium CA made with openssl; per hospital an etcd
# member certificate, a client certificate (no Common Name) for parchad's
# calls to etcd, an HTTPS certificate for parchad and an RS256 JWT key pair
# for its etcd member; etcd run from the env file of docs/operations.md with
# client and peer mutual TLS and JWT tokens; root, users and per-hospital
# roles made with etcdctl; parchad with node.json's etcd TLS and
# credentials, serving HTTPS and calling its peers over HTTPS. Checked: plain
# HTTP and certificate-less clients are refused, the nodes commit and
# converge, a hospital cannot write under another's prefix, tokens keep
# working when the nodes move to another member, and a node that was away
# past the window catches up from a peer over HTTPS.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster/common.sh"

# Node folders (keys, genesis, node.json) from a devnet stopped at once; the
# processes below are started by this script (and stopped by lib.sh).
cluster_up 3
"$PARCHA" devnet down --dir "$DN" >/dev/null 2>&1
DN_UP=0
NET=$(network)
IDS="city-general sunrise-clinic district-hospital"
port() { sed 's/.*://' <<<"$1"; }
ETCD_C() { port "$(etcd_url "$1")"; }
ETCD_P() { port "$(jq -r --arg h "$1" '.etcd[] | select(.id == $h) | .peer_url' "$DN/devnet.json")"; }
NODE_P() { port "$(node_url "$1")"; }
PKI=$TMP/pki
mkdir -p "$PKI"
cd "$PKI"

# ---- docs/security.md: the consortium CA and each hospital's certificates ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -keyout ca.key -out ca.crt -subj "/O=parcha consortium $NET/CN=parcha consortium CA" 2>/dev/null
for H in $IDS; do
  ADDR=IP:127.0.0.1
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "etcd-$H.key" -out "etcd-$H.csr" -subj "/O=$H/CN=etcd.$H" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$ADDR" >"etcd-$H.ext"
  openssl x509 -req -in "etcd-$H.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
    -extfile "etcd-$H.ext" -out "etcd-$H.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "etcd-client-$H.key" -out "etcd-client-$H.csr" -subj "/O=$H/OU=parchad" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >client.ext
  openssl x509 -req -in "etcd-client-$H.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
    -extfile client.ext -out "etcd-client-$H.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "node-$H.key" -out "node-$H.csr" -subj "/O=$H/CN=parcha.$H" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$ADDR" >"node-$H.ext"
  openssl x509 -req -in "node-$H.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
    -extfile "node-$H.ext" -out "node-$H.crt" 2>/dev/null
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "jwt-$H.key" 2>/dev/null
  openssl pkey -in "jwt-$H.key" -pubout -out "jwt-$H.pub"
  chmod 600 ./*.key
done
check "certificates chain to the consortium CA" \
  openssl verify -CAfile ca.crt etcd-city-general.crt etcd-client-city-general.crt node-city-general.crt
check "the etcd client certificate carries no Common Name" \
  bash -c "! openssl x509 -in etcd-client-city-general.crt -noout -subject | grep -q CN"

# ---- docs/operations.md: each member from its env file ----
CLUSTER=""
for H in $IDS; do CLUSTER="$CLUSTER${CLUSTER:+,}$H=https://127.0.0.1:$(ETCD_P "$H")"; done
for H in $IDS; do
  rm -rf "$DN/etcd/$H"
  cat >"$PKI/etcd-$H.env" <<ENV
ETCD_NAME=$H
ETCD_DATA_DIR=$DN/etcd/$H
ETCD_LISTEN_CLIENT_URLS=https://127.0.0.1:$(ETCD_C "$H")
ETCD_ADVERTISE_CLIENT_URLS=https://127.0.0.1:$(ETCD_C "$H")
ETCD_LISTEN_PEER_URLS=https://127.0.0.1:$(ETCD_P "$H")
ETCD_INITIAL_ADVERTISE_PEER_URLS=https://127.0.0.1:$(ETCD_P "$H")
ETCD_INITIAL_CLUSTER=$CLUSTER
ETCD_INITIAL_CLUSTER_TOKEN=parcha-$NET
ETCD_INITIAL_CLUSTER_STATE=new
ETCD_PRE_VOTE=true
ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL=500ms
ETCD_CERT_FILE=$PKI/etcd-$H.crt
ETCD_KEY_FILE=$PKI/etcd-$H.key
ETCD_TRUSTED_CA_FILE=$PKI/ca.crt
ETCD_CLIENT_CERT_AUTH=true
ETCD_PEER_CERT_FILE=$PKI/etcd-$H.crt
ETCD_PEER_KEY_FILE=$PKI/etcd-$H.key
ETCD_PEER_TRUSTED_CA_FILE=$PKI/ca.crt
ETCD_PEER_CLIENT_CERT_AUTH=true
ETCD_AUTH_TOKEN=jwt,pub-key=$PKI/jwt-$H.pub,priv-key=$PKI/jwt-$H.key,sign-method=RS256,ttl=10m
ETCD_LOGGER=zap
ETCD_LOG_OUTPUTS=stderr
ENV
done
declare -A EPID NPID
start_member() {
  ( set -a; . "$PKI/etcd-$1.env"; exec etcd ) >>"$DN/etcd/$1.log" 2>&1 &
  EPID[$1]=$!
  PIDS+=("$!")
}
for H in $IDS; do start_member "$H"; done
CURL_A=(--cacert "$PKI/ca.crt" --cert "$PKI/etcd-client-city-general.crt" --key "$PKI/etcd-client-city-general.key")
healthy() { curl -s -m 2 "${CURL_A[@]}" "https://127.0.0.1:$(ETCD_C "$1")/health" | grep -q true; }
for H in $IDS; do
  for i in $(seq 1 300); do healthy "$H" && break; sleep 0.1; done
done
for H in $IDS; do check "etcd member $H healthy over mutual TLS" healthy "$H"; done
H0=city-general
check "plain HTTP to etcd is refused" \
  bash -c "! curl -s -m 2 http://127.0.0.1:$(ETCD_C $H0)/health | grep -q true"
check "a client without a certificate is refused" \
  bash -c "! curl -s -m 2 --cacert $PKI/ca.crt https://127.0.0.1:$(ETCD_C $H0)/health | grep -q true"

# ---- docs/security.md: root, one user and role per hospital, auth on ----
E=(etcdctl --endpoints "https://127.0.0.1:$(ETCD_C $H0)" --cacert "$PKI/ca.crt"
   --cert "$PKI/etcd-client-$H0.crt" --key "$PKI/etcd-client-$H0.key")
umask 077
openssl rand -base64 24 >"$PKI/root.pass"
"${E[@]}" user add root --interactive=false <"$PKI/root.pass" >/dev/null
"${E[@]}" role add root >/dev/null
"${E[@]}" user grant-role root root >/dev/null
for H in $IDS; do
  openssl rand -base64 24 >"$(node_dir "$H")/etcd.pass"
  "${E[@]}" user add "$H" --interactive=false <"$(node_dir "$H")/etcd.pass" >/dev/null
  "${E[@]}" role add "$H" >/dev/null
  "${E[@]}" role grant-permission "$H" --prefix=true readwrite "/parcha/$NET/p/$H/" >/dev/null
  "${E[@]}" role grant-permission "$H" --prefix=true read "/parcha/$NET/p/" >/dev/null
  "${E[@]}" role grant-permission "$H" readwrite "/parcha/$NET/applied/$H" >/dev/null
  "${E[@]}" role grant-permission "$H" --prefix=true read "/parcha/$NET/applied/" >/dev/null
  "${E[@]}" user grant-role "$H" "$H" >/dev/null
done
check "etcd authentication enabled" bash -c "$(printf '%q ' "${E[@]}") auth enable | grep -q Enabled"

# ---- node.json: etcd over mutual TLS with credentials, HTTPS, peers over HTTPS ----
EPS=$(for H in $IDS; do echo "https://127.0.0.1:$(ETCD_C "$H")"; done | jq -R . | jq -s -c .)
PEERS=$(for H in $IDS; do jq -n --arg h "$H" --arg u "https://127.0.0.1:$(NODE_P "$H")" '{($h): $u}'; done | jq -s -c add)
for H in $IDS; do
  D=$(node_dir "$H")
  jq --argjson eps "$EPS" --argjson peers "$PEERS" --arg h "$H" --arg pki "$PKI" '
    .etcd = {endpoints: $eps,
             cacert: "\($pki)/ca.crt", cert: "\($pki)/etcd-client-\($h).crt",
             key: "\($pki)/etcd-client-\($h).key", user: $h, password_file: "etcd.pass",
             stall_timeout_ms: 2000}
    | .tls = {cert: "\($pki)/node-\($h).crt", key: "\($pki)/node-\($h).key"}
    | .peer_tls = {cacert: "\($pki)/ca.crt", cert: "\($pki)/node-\($h).crt", key: "\($pki)/node-\($h).key"}
    | .peers = ($peers | del(.[$h]))' "$D/node.json" >"$TMP/node.json"
  # its own member first
  OWN="https://127.0.0.1:$(ETCD_C "$H")"
  jq --arg own "$OWN" '.etcd.endpoints = ([$own] + [.etcd.endpoints[] | select(. != $own)])' \
    "$TMP/node.json" >"$D/node.json"
done
jq --arg pki "$PKI" '.nodes |= map(.url |= sub("^http:"; "https:"))' "$DN/devnet.json" >"$TMP/dn.json" \
  && cp "$TMP/dn.json" "$DN/devnet.json"
start_parchad() {
  "$PARCHAD" --data "$(node_dir "$1")" >>"$(node_dir "$1")/parchad.log" 2>&1 &
  NPID[$1]=$!
  PIDS+=("$!")
}
serving() { curl -s -m 2 --cacert "$PKI/ca.crt" "$(node_url "$1")/v1/status" | grep -q '"height"'; }
wait_serving() {
  local i
  for i in $(seq 1 600); do serving "$1" && return 0; kill -0 "${NPID[$1]}" 2>/dev/null || return 1; sleep 0.1; done
  return 1
}
for H in $IDS; do start_parchad "$H"; done
for H in $IDS; do check "parchad $H serves HTTPS" wait_serving "$H"; done
check "parchad does not answer plain HTTP" \
  bash -c "! curl -s -m 2 http://127.0.0.1:$(NODE_P $H0)/v1/status | grep -q height"

status_tls() { curl -s -m 3 --cacert "$PKI/ca.crt" "$(node_url "$1")/v1/status" | jq -r '"\(.height) \(.head)"'; }
converged() {
  local t0 a b c
  t0=$(date +%s)
  while :; do
    a=$(status_tls city-general); b=$(status_tls sunrise-clinic); c=$(status_tls district-hospital)
    [ -n "$a" ] && [ "$a" = "$b" ] && [ "$b" = "$c" ] && { echo "$a"; return 0; }
    [ $(( $(date +%s) - t0 )) -ge "${1:-90}" ] && { echo "$a | $b | $c" >&2; return 1; }
    sleep 0.2
  done
}
"$PARCHA" devnet load --dir "$DN" --seconds 3 --cacert "$PKI/ca.crt" --acked "$TMP/acked" >"$TMP/load.out" 2>&1 \
  && ok "the nodes commit through etcd with TLS and tokens: $(cat "$TMP/load.out")" \
  || { cat "$TMP/load.out"; bad "no writes acknowledged"; }
HH=$(converged 90) && ok "all nodes converge: $HH" || bad "no convergence"

APW=$(cat "$(node_dir "$H0")/etcd.pass")
OUT=$("${E[@]}" --user "$H0:$APW" put "/parcha/$NET/p/sunrise-clinic/999999" forged 2>&1 || true)
check "$H0 cannot write under sunrise-clinic's prefix (permission denied)" grep -q "permission denied" <<<"$OUT"
check "$H0 may write under its own prefix" \
  bash -c "$(printf '%q ' "${E[@]}") --user '$H0:$APW' put /parcha/$NET/p/$H0/tls-test y | grep -q OK"

# Per-member JWT keys: a token is only good at the member that issued it;
# the nodes authenticate again when they move to another member.
"$PARCHA" devnet load --dir "$DN" --count 5 --cacert "$PKI/ca.crt" --acked "$TMP/acked" >/dev/null || true
kill -9 "${EPID[$H0]}"
ok "etcd member $H0 killed"
"$PARCHA" devnet load --dir "$DN" --seconds 4 --cacert "$PKI/ca.crt" --acked "$TMP/acked" >"$TMP/load2.out" 2>&1 \
  && ok "writes go on with a member down: $(cat "$TMP/load2.out")" || bad "no writes with a member down"
start_member "$H0"
for i in $(seq 1 300); do healthy "$H0" && break; sleep 0.1; done
check "member $H0 back" healthy "$H0"

# Away past the window: catch-up from a peer over HTTPS.
AWAY=district-hospital
kill -TERM "${NPID[$AWAY]}"; wait "${NPID[$AWAY]}" 2>/dev/null || true
"$PARCHA" devnet load --dir "$DN" --node city-general --node sunrise-clinic --seconds 3 \
  --cacert "$PKI/ca.crt" --acked "$TMP/acked" >/dev/null || bad "no writes while $AWAY is away"
REV=$("${E[@]}" --user "root:$(cat "$PKI/root.pass")" endpoint status -w json | jq '.[0].Status.header.revision')
"${E[@]}" --user "root:$(cat "$PKI/root.pass")" compact "$REV" --physical >/dev/null
ok "etcd compacted to revision $REV while $AWAY was away"
start_parchad "$AWAY"
check "$AWAY serves HTTPS again" wait_serving "$AWAY"
HH=$(converged 120) && ok "$AWAY caught up from a peer over HTTPS: $HH" || bad "$AWAY did not catch up"
for H in $IDS; do
  URL=$(node_url "$H")
  awk -v u="$URL" '{print "url = \"" u "/v1/tx/" $1 "\""}' "$TMP/acked" >"$TMP/urls.cfg"
  N=$(curl -s --cacert "$PKI/ca.crt" -K "$TMP/urls.cfg" | jq -r 'select(.verdict == "ok") | .txid' | sort -u | wc -l)
  check "$H has all $(wc -l <"$TMP/acked") acknowledged transactions" test "$N" = "$(wc -l <"$TMP/acked")"
done
cd /
finish
