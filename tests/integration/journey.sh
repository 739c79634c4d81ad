#!/usr/bin/env bash
# The whole patient journey against a real parchad (issue 2, point 16):
# register at A; A's doctor adds records; B's doctor is refused (403) until the
# patient grants; after the grant B reads and decrypts the whole timeline;
# after a revoke and after a grant expires B is refused again; B's emergency
# opening allows, flags and logs the reads; every read is in the access log; a
# suspended hospital's staff are refused.
source "$(dirname "$0")/lib.sh"
D=$TMP/net
"$PARCHA" init --data "$D" --network journey \
  --hospital "city:City Hospital:http://127.0.0.1" \
  --hospital "sunrise:Sunrise Clinic:http://127.0.0.1" \
  --hospital "district:District Hospital:http://127.0.0.1" >/dev/null
start_node "$D"
K=$TMP/keys; mkdir -p "$K"
for who in docA clerkA docB patient; do pass "$K/$who.pass" "pass-$who-1234"; done
"$PARCHA" staff enroll --data "$D" --hospital city --name "Dr. A" --role doctor --regno R1 \
  --out "$K/docA.key" --pass-file "$K/docA.pass" >/dev/null
"$PARCHA" staff enroll --data "$D" --hospital city --name "Clerk A" --role clerk --regno R2 \
  --out "$K/clerkA.key" --pass-file "$K/clerkA.pass" >/dev/null
"$PARCHA" staff enroll --data "$D" --hospital sunrise --name "Dr. B" --role doctor --regno R3 \
  --out "$K/docB.key" --pass-file "$K/docB.pass" >/dev/null
HID=$("$PARCHA" patient register --json --name "Test Patient" --hospital city \
  --clerk "$K/clerkA.key" --clerk-pass-file "$K/clerkA.pass" \
  --out "$K/patient.key" --pass-file "$K/patient.pass" --card "$TMP/card.svg" | jq -r .health_id)
check "patient registered with a Health ID" test -n "$HID"
check "card written" grep -q "$HID" "$TMP/card.svg"

cat >"$TMP/rx.json" <<'J'
{"resourceType":"MedicationRequest","status":"active","intent":"order",
 "medicationCodeableConcept":{"text":"Metformin 500 mg tablet"},
 "subject":{"reference":"Patient/x"},"authoredOn":"2025-03-01",
 "dosageInstruction":[{"text":"1 tablet twice a day for 30 days"}]}
J
cat >"$TMP/lab.json" <<'J'
{"resourceType":"Observation","status":"final","code":{"text":"HbA1c"},
 "subject":{"reference":"Patient/x"},"effectiveDateTime":"2025-03-02",
 "valueQuantity":{"value":7,"unit":"%"}}
J
for f in rx lab; do
  "$PARCHA" record add --patient "$HID" --fhir "$TMP/$f.json" --author "$K/docA.key" \
    --pass-file "$K/docA.pass" >/dev/null
done

hist() { # hist KEY: JSON history as the holder of KEY
  "$PARCHA" history --json --patient "$HID" --key "$K/$1.key" --pass-file "$K/$1.pass"
}
count() { # count KEY STATUS
  hist "$1" | jq "[.records[] | select(.status == \"$2\")] | length"
}
check "A's doctor reads both records" test "$(count docA ok)" = 2
check "the patient reads both records" test "$(count patient ok)" = 2
logged() { curl -s "$NODE_URL/v1/patients/$HID/access-log" | jq '[.[].records | length] | add // 0'; }
BEFORE=$(logged)
check "B's doctor is refused (403, locked) before consent" test "$(count docB locked)" = 2
check "a refused read writes no access entry and reveals no content" test "$(logged)" = "$BEFORE"

GRANT=$("$PARCHA" consent grant --json --patient-key "$K/patient.key" --pass-file "$K/patient.pass" \
  --to-hospital sunrise --types all --expires 30d | jq -r .txid)
check "grant committed" test ${#GRANT} = 64
check "after the grant B sees and decrypts the whole timeline" test "$(count docB ok)" = 2
check "B's reads are by consent" test "$(hist docB | jq -r '.records[0].basis')" = consent
check "decrypted content is the FHIR resource" \
  test "$(hist docB | jq -r '[.records[].resource.resourceType] | sort | join(",")')" = "MedicationRequest,Observation"

"$PARCHA" consent revoke --patient-key "$K/patient.key" --pass-file "$K/patient.pass" --grant "$GRANT" >/dev/null
check "after the revoke B is refused again" test "$(count docB locked)" = 2

"$PARCHA" consent grant --patient-key "$K/patient.key" --pass-file "$K/patient.pass" \
  --to-hospital sunrise --types all --expires 3s >/dev/null
check "a short grant works while it lasts" test "$(count docB ok)" = 2
# Wait for the expiry by polling the grant's state (not a fixed sleep).
for i in $(seq 1 100); do
  [ "$(count docB locked)" = 2 ] && break
  sleep 0.1
done
check "after the grant expires B is refused again" test "$(count docB locked)" = 2
check "expired grant shows as expired" \
  test "$(curl -s "$NODE_URL/v1/patients/$HID/consents" | jq '[.[] | select(.expired == true)] | length')" = 1

"$PARCHA" emergency open --patient "$HID" --doctor "$K/docB.key" --pass-file "$K/docB.pass" \
  --reason "unconscious after a road accident" --hours 2 >/dev/null
check "during the emergency B reads everything" test "$(count docB ok)" = 2
check "emergency reads are flagged" test "$(hist docB | jq -r '.records[0].basis')" = emergency
LOG=$(curl -s "$NODE_URL/v1/patients/$HID/access-log")
check "emergency reads are in the patient's access log" \
  test "$(echo "$LOG" | jq '[.[] | select(.emergency == true)] | length')" -ge 2
BEFORE=$(logged)
hist docA >/dev/null; hist patient >/dev/null; hist docB >/dev/null
check "every content read is in the access log (6 reads -> 6 entries)" test "$(logged)" = $((BEFORE + 6))
check "emergencies listed" test "$(curl -s "$NODE_URL/v1/patients/$HID/emergencies" | jq length)" = 1

"$PARCHA" hospital suspend --id sunrise --reason "licence withdrawn" --data "$D" >/dev/null
check "a suspended hospital's staff are refused" test "$(count docB locked)" = 2
ERR=$("$PARCHA" record add --patient "$HID" --fhir "$TMP/rx.json" --author "$K/docB.key" \
  --pass-file "$K/docB.pass" 2>&1 || true)
check "a suspended hospital's staff cannot add records" grep -qi "inactive\|suspend\|not" <<<"$ERR"

stop_node TERM
check "the chain verifies" "$PARCHA" verify --data "$D"
finish
