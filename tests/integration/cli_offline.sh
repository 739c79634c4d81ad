#!/usr/bin/env bash
# The parcha CLI without a node: `parcha demo` builds a whole network in a
# fresh folder, `parcha verify` finds it intact, `parcha show` proves a
# transaction's inclusion from the folder alone, `parcha init` and `keygen`
# make what they promise and refuse to overwrite, and after one byte of one
# stored transaction is flipped inside ledger.db, verify exits non-zero
# naming that transaction's block.
#
# usage: cli_offline.sh PARCHAD PARCHA BUILDDIR
set -euo pipefail

PARCHA=${2:?usage: cli_offline.sh PARCHAD PARCHA BUILDDIR}
TMP=$(mktemp -d /tmp/parcha-cli-offline-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# Run a command expecting exit status $1; keep stdout/stderr in $TMP/out, $TMP/err.
expect_status() {
    local want=$1
    shift
    local got=0
    "$@" >"$TMP/out" 2>"$TMP/err" || got=$?
    if [ "$got" -ne "$want" ]; then
        echo "--- stdout" >&2; cat "$TMP/out" >&2
        echo "--- stderr" >&2; cat "$TMP/err" >&2
        fail "'$*' exited $got, expected $want"
    fi
}

# ---- demo ------------------------------------------------------------------
DEMO="$TMP/demo"
expect_status 0 "$PARCHA" demo --data "$DEMO"
for f in genesis.bin node.json ledger.db vault.db keys/city-general.key \
    keys/city-general.pass demo-keys/index.json demo-keys/staff/anjali.mehta.key; do
    [ -e "$DEMO/$f" ] || fail "demo did not write $f"
done
grep -q "parchad --data $DEMO" "$TMP/out" || fail "demo summary lacks the start command"
grep -q "http://127.0.0.1:8080/" "$TMP/out" || fail "demo summary lacks the web UI URL"
cards=$(find "$DEMO/demo-keys/patients" -name '*.svg' | wc -l)
[ "$cards" -eq 50 ] || fail "expected 50 patient cards, found $cards"
[ "$(stat -c %a "$DEMO/keys/city-general.pass")" = 600 ] || fail "hospital .pass is not 0600"
[ "$(stat -c %a "$DEMO/demo-keys/staff/anjali.mehta.key")" = 600 ] || fail "staff key not 0600"
records=$(sqlite3 "$DEMO/ledger.db" "SELECT count(*) FROM txs WHERE type = 7")
[ "$records" -ge 200 ] || fail "expected a few hundred records, found $records"
blobs=$(sqlite3 "$DEMO/vault.db" "SELECT count(*) FROM sqlite_master WHERE type = 'table'")
[ "$blobs" -ge 1 ] || fail "vault.db has no tables"
# No passphrase or private key in the ledger (only public data goes on chain).
pass=$(head -n1 "$DEMO/demo-keys/staff/anjali.mehta.pass")
if sqlite3 "$DEMO/ledger.db" .dump | grep -qF "$pass"; then
    fail "a passphrase reached ledger.db"
fi

# The same folder twice is refused and left intact.
expect_status 1 "$PARCHA" demo --data "$DEMO"
grep -q "already holds a network" "$TMP/err" || fail "second demo: unclear error"

# ---- verify and show ---------------------------------------------------------
expect_status 0 "$PARCHA" verify --data "$DEMO"
grep -q "ledger intact" "$TMP/out" || fail "verify did not say intact"
expect_status 0 "$PARCHA" verify --data "$DEMO" --json
grep -q '"intact": true' "$TMP/out" || fail "verify --json did not say intact"

height=$(sqlite3 "$DEMO/ledger.db" "SELECT max(height) FROM blocks")
mid=$((height / 2))
txid=$(sqlite3 "$DEMO/ledger.db" "SELECT lower(hex(txid)) FROM txs WHERE height = $mid ORDER BY idx DESC LIMIT 1")
expect_status 0 "$PARCHA" show block "$mid" --data "$DEMO"
grep -q "tx root ok" "$TMP/out" || fail "show block did not check the tx root"
expect_status 0 "$PARCHA" show tx "$txid" --data "$DEMO"
grep -qx "proof ok" "$TMP/out" || fail "show tx did not print 'proof ok'"
expect_status 2 "$PARCHA" show tx nothex --data "$DEMO"
expect_status 2 "$PARCHA" verify
expect_status 2 "$PARCHA" verify --data "$DEMO" --bogus
grep -q "unknown option --bogus" "$TMP/err" || fail "unknown option not named"

# ---- init and keygen ---------------------------------------------------------
expect_status 2 "$PARCHA" init --data "$TMP/bad" --network "Bad Name" --hospitals 2
expect_status 2 "$PARCHA" init --data "$TMP/bad" --network net --hospital "x:X:ftp://x"
[ ! -e "$TMP/bad" ] || fail "init wrote something for bad input"
expect_status 0 "$PARCHA" init --data "$TMP/net" --network test-net \
    --hospital "alpha:Alpha Hospital:http://127.0.0.1:8080" \
    --hospital "beta:Beta Clinic:http://127.0.0.1:8080" --kdf fast
for f in genesis.bin node.json ledger.db keys/alpha.key keys/alpha.pass keys/beta.key; do
    [ -e "$TMP/net/$f" ] || fail "init did not write $f"
done
grep -q '"orderer": "solo"' "$TMP/net/node.json" || fail "node.json lacks the solo orderer"
expect_status 0 "$PARCHA" verify --data "$TMP/net"
expect_status 1 "$PARCHA" init --data "$TMP/net" --network test-net --hospitals 2 --kdf fast

printf 'a long enough passphrase\n' >"$TMP/pass"
expect_status 0 "$PARCHA" keygen --out "$TMP/k.key" --label "Test key" --pass-file "$TMP/pass" \
    --kdf fast --json
grep -q '"public"' "$TMP/out" || fail "keygen --json lacks the public key"
expect_status 1 "$PARCHA" keygen --out "$TMP/k.key" --label "Again" --pass-file "$TMP/pass"
grep -q "refusing to overwrite" "$TMP/err" || fail "keygen overwrote or said nothing"

# ---- tamper with one stored transaction --------------------------------------
# Flip the lowest bit of byte 60 of the last transaction of block $mid.
idx=$(sqlite3 "$DEMO/ledger.db" "SELECT max(idx) FROM txs WHERE height = $mid")
sqlite3 "$DEMO/ledger.db" "UPDATE txs SET canon = CAST(
    substr(CAST(canon AS TEXT), 1, 59) ||
    char((unicode(substr(CAST(canon AS TEXT), 60, 1)) | 1) -
         (unicode(substr(CAST(canon AS TEXT), 60, 1)) & 1)) ||
    substr(CAST(canon AS TEXT), 61) AS BLOB)
  WHERE height = $mid AND idx = $idx"
changed=$(sqlite3 "$DEMO/ledger.db" "SELECT count(*) FROM txs WHERE lower(hex(txid)) = '$txid' AND height = $mid")
[ "$changed" -eq 1 ] || fail "could not find the transaction to tamper with"

got=0
"$PARCHA" verify --data "$DEMO" >"$TMP/out" 2>"$TMP/err" || got=$?
[ "$got" -ne 0 ] || fail "verify passed a tampered ledger"
grep -q "block $mid" "$TMP/err" || { cat "$TMP/err" >&2; fail "verify did not name block $mid"; }

echo "cli_offline: ok (demo with $records records, tamper found in block $mid)"
