/* Ledger tests: genesis, every transaction type through apply(), verdicts for
 * rule violations (kept in the block, no state change), the access rule
 * against state, restart, and `verify` catching altered bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parcha/encode.h"
#include "parcha/healthid.h"
#include "parcha/ledger.h"
#include "parcha/tx.h"

/* ---- fixture ---- */

typedef struct world {
    char dir[64];
    char path[96];
    pc_ledger *l;
    pc_keypair hosp_a, hosp_b, hosp_c, doc_a, nurse_a, clerk_a, doc_b, patient, patient2;
    uint64_t seq, pos;
    int64_t now;
} world;

static char *b64(const uint8_t *k, char out[64])
{
    return pc_b64_encode(out, 64, k, 32);
}

/* Sign body as type with the given keys. */
static void make_tx(world *w, const char *type, json_t *body, pc_tx *tx,
                    const pc_keypair *k1, const pc_keypair *k2)
{
    const pc_keypair *keys[2] = {k1, k2};
    json_t *u = pc_tx_build("testnet", type, w->now, body);
    assert_non_null(u);
    pc_error err;
    if (pc_tx_sign(u, keys, k2 ? 2 : 1, tx, &err) != PC_OK)
        fail_msg("%s: %s", type, err.msg);
    json_decref(u);
}

/* Apply txs as one block proposed by hospital A; return verdicts. */
static void apply_block(world *w, pc_tx *txs, size_t n, uint8_t *verdicts)
{
    pc_proposal p;
    pc_error err;
    assert_int_equal(pc_proposal_make(&p, "testnet", "city", ++w->seq, w->now, txs, n,
                                      &w->hosp_a, &err), PC_OK);
    /* Round-trip through the wire form as a remote node would see it. */
    pc_buf wire;
    pc_buf_init(&wire);
    assert_int_equal(pc_proposal_encode(&p, &wire), PC_OK);
    pc_proposal_free(&p);
    assert_int_equal(pc_proposal_decode(wire.data, wire.len, &p, &err), PC_OK);
    pc_buf_free(&wire);
    pc_block_result r;
    int rc = pc_ledger_apply(w->l, &p, ++w->pos, &r, &err);
    if (rc != PC_OK)
        fail_msg("apply: %s", err.msg);
    for (size_t i = 0; i < n; i++)
        verdicts[i] = r.verdicts[i];
    pc_block_result_free(&r);
    pc_proposal_free(&p);
}

static int apply_one(world *w, pc_tx *tx)
{
    uint8_t v;
    apply_block(w, tx, 1, &v);
    return v;
}

static int setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    assert_int_equal(pc_crypto_init(), 0);
    snprintf(w->dir, sizeof w->dir, "/tmp/parcha-ledger-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    snprintf(w->path, sizeof w->path, "%s/ledger.db", w->dir);
    pc_keypair *all[] = {&w->hosp_a, &w->hosp_b, &w->hosp_c, &w->doc_a, &w->nurse_a,
                         &w->clerk_a, &w->doc_b, &w->patient, &w->patient2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        assert_int_equal(pc_key_generate(all[i]), 0);
    w->now = pc_now_ms();
    pc_error err;
    assert_int_equal(pc_ledger_open(w->path, PC_LEDGER_CREATE, &w->l, &err), PC_OK);

    /* Genesis: three founding hospitals. */
    char ka[64], kb[64], kc[64];
    json_t *body = json_pack("{s:s,s:[{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s}],s:{s:i,s:i}}",
        "name", "Test consortium", "hospitals",
        "id", "city", "name", "City Hospital", "key", b64(w->hosp_a.pk, ka), "endpoint", "http://a",
        "id", "sunrise", "name", "Sunrise Clinic", "key", b64(w->hosp_b.pk, kb), "endpoint", "http://b",
        "id", "district", "name", "District Hospital", "key", b64(w->hosp_c.pk, kc), "endpoint", "http://c",
        "policy", "emergency_max_hours", 24, "clock_window_ms", 300000);
    json_t *u = pc_tx_build("testnet", "network.genesis", w->now, body);
    const pc_keypair *keys[3] = {&w->hosp_a, &w->hosp_b, &w->hosp_c};
    pc_tx g;
    assert_int_equal(pc_tx_sign(u, keys, 3, &g, &err), PC_OK);
    json_decref(u);
    pc_proposal p;
    assert_int_equal(pc_proposal_make(&p, "testnet", "city", 0, w->now, &g, 1, &w->hosp_a, &err), PC_OK);
    pc_block_result r;
    if (pc_ledger_apply(w->l, &p, 0, &r, &err) != PC_OK)
        fail_msg("genesis: %s", err.msg);
    assert_int_equal(r.verdicts[0], PC_V_OK);
    assert_int_equal(r.height, 0);
    pc_block_result_free(&r);
    pc_proposal_free(&p);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    pc_ledger_close(w->l);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", w->dir);
    assert_int_equal(system(cmd), 0);
    free(w);
    return 0;
}

/* Names with a backslash or a quote after eight plain bytes, so that the
 * timeline's JSON text is checked against json_dumps on escapes found by
 * either of its word-at-a-time tests. */
#define DOCTOR_NAME "Dr Test \\ Rao Sharma"
#define NURSE_NAME "Nurse T \"Rao\" Sharma"

static json_t *enroll_body(const char *hospital, const pc_keypair *k, const char *role)
{
    char kb[64];
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "hospital", hospital, "key", b64(k->pk, kb),
                     "name", strcmp(role, "nurse") == 0 ? NURSE_NAME : DOCTOR_NAME, "role", role, "regno", "MCI-1234");
}

/* Enrol the usual staff and register the patient. */
static void populate(world *w)
{
    pc_tx t[5];
    make_tx(w, "staff.enroll", enroll_body("city", &w->doc_a, "doctor"), &t[0], &w->hosp_a, NULL);
    make_tx(w, "staff.enroll", enroll_body("city", &w->nurse_a, "nurse"), &t[1], &w->hosp_a, NULL);
    make_tx(w, "staff.enroll", enroll_body("city", &w->clerk_a, "clerk"), &t[2], &w->hosp_a, NULL);
    make_tx(w, "staff.enroll", enroll_body("sunrise", &w->doc_b, "doctor"), &t[3], &w->hosp_b, NULL);
    char kp[64];
    make_tx(w, "patient.register",
            json_pack("{s:s,s:s}", "key", b64(w->patient.pk, kp), "hospital", "city"),
            &t[4], &w->patient, &w->clerk_a);
    uint8_t v[5];
    apply_block(w, t, 5, v);
    for (int i = 0; i < 5; i++)
        assert_int_equal(v[i], PC_V_OK);
}

static json_t *record_body(world *w, const char *id, const char *type, const char *date)
{
    char kp[64], sealed[160], hash[65];
    uint8_t s[PC_SEALED_KEY_LEN], key[32], h[32];
    pc_random(key, 32);
    assert_int_equal(pc_seal_key(key, w->patient.pk, s), 0);
    pc_sha256(h, id, strlen(id));
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s}", "id", id,
                     "patient", b64(w->patient.pk, kp), "hi_type", type, "date", date,
                     "hash", pc_hex_encode(hash, sizeof hash, h, 32), "size", 100,
                     "custodian", "city", "sealed_key", pc_b64_encode(sealed, sizeof sealed, s, sizeof s),
                     "fhir", "MedicationRequest");
}

/* ---- cases ---- */

static void test_genesis_head(void **state)
{
    world *w = *state;
    pc_head h;
    pc_error err;
    assert_int_equal(pc_ledger_head(w->l, &h, &err), PC_OK);
    assert_true(h.has_genesis);
    assert_string_equal(h.net, "testnet");
    assert_int_equal(h.height, 0);
    assert_int_equal(h.ntx, 1);
    json_t *hs;
    assert_int_equal(pc_ledger_hospitals_json(w->l, &hs, &err), PC_OK);
    assert_int_equal(json_array_size(hs), 3);
    json_decref(hs);
}

static void test_journey_and_access(void **state)
{
    world *w = *state;
    populate(w);
    pc_tx t;
    make_tx(w, "record.add", record_body(w, "rx-1", "Prescription", "2024-03-15"), &t, &w->doc_a, NULL);
    assert_int_equal(apply_one(w, &t), PC_V_OK);

    pc_record_info rec;
    pc_access_decision d;
    pc_error err;
    assert_int_equal(pc_ledger_record_info(w->l, "rx-1", &rec, &err), PC_OK);
    /* Custodian's doctor and the patient may read; B's doctor may not. */
    assert_int_equal(pc_ledger_access_check(w->l, w->doc_a.pk, &rec, w->now, &d, &err), PC_OK);
    assert_int_equal(d.basis, PC_ACCESS_CUSTODIAN);
    assert_int_equal(pc_ledger_access_check(w->l, w->patient.pk, &rec, w->now, &d, &err), PC_OK);
    assert_int_equal(d.basis, PC_ACCESS_PATIENT);
    assert_int_equal(pc_ledger_access_check(w->l, w->doc_b.pk, &rec, w->now, &d, &err), PC_OK);
    assert_int_equal(d.basis, PC_ACCESS_DENIED);

    /* The patient grants sunrise; B's doctor now reads by consent. */
    char kp[64];
    make_tx(w, "consent.grant",
            json_pack("{s:s,s:{s:s},s:[s],s:n,s:n,s:I,s:s}", "patient", b64(w->patient.pk, kp),
                      "grantee", "hospital", "sunrise", "hi_types", "*", "from", "to",
                      "expires", (json_int_t)(w->now + 3600000), "purpose", "CAREMGT"),
            &t, &w->patient, NULL);
    uint8_t grant[32];
    memcpy(grant, t.txid, 32);
    assert_int_equal(apply_one(w, &t), PC_V_OK);
    assert_int_equal(pc_ledger_access_check(w->l, w->doc_b.pk, &rec, w->now, &d, &err), PC_OK);
    assert_int_equal(d.basis, PC_ACCESS_CONSENT);
    assert_memory_equal(d.ref, grant, 32);
    /* Expired at a later time. */
    assert_int_equal(pc_ledger_access_check(w->l, w->doc_b.pk, &rec, w->now + 3600000, &d, &err), PC_OK);
    assert_int_equal(d.basis, PC_ACCESS_DENIED);

    /* Someone else cannot revoke it; the patient can, once. */
    char gh[65];
    pc_hex_encode(gh, sizeof gh, grant, 32);
    make_tx(w, "consent.revoke", json_pack("{s:s,s:s}", "patient", b64(w->patient.pk, kp), "grant", gh),
            &t, &w->doc_b, NULL);
    assert_int_equal(apply_one(w, &t), PC_V_NOT_AUTHORISED);
    make_tx(w, "consent.revoke", json_pack("{s:s,s:s}", "patient", b64(w->patient.pk, kp), "grant", gh),
            &t, &w->patient, NULL);
    assert_int_equal(apply_one(w, &t), PC_V_OK);
    make_tx(w, "consent.revoke", json_pack("{s:s,s:s}", "patient", b64(w->patient.pk, kp), "grant", gh),
            &t, &w->patient, NULL);
    assert_int_equal(apply_one(w, &t), PC_V_ALREADY_REVOKED);
    assert_int_equal(pc_ledger_access_check(w->l, w->doc_b.pk, &rec, w->now, &d, &err), PC_OK);
    assert_int_equal(d.basis, PC_ACCESS_DENIED);

    /* Emergency: a nurse may not open one, a doctor may; then access. */
    make_tx(w, "emergency.open", json_pack("{s:s,s:s,s:s,s:i}", "patient", b64(w->patient.pk, kp),
            "hospital", "city", "reason", "unconscious", "hours", 2), &t, &w->nurse_a, NULL);
    assert_int_equal(apply_one(w, &t), PC_V_NOT_AUTHORISED);
    make_tx(w, "emergency.open", json_pack("{s:s,s:s,s:s,s:i}", "patient", b64(w->patient.pk, kp),
            "hospital", "sunrise", "reason", "road accident, unconscious", "hours", 48), &t, &w->doc_b, NULL);
    assert_int_equal(apply_one(w, &t), PC_V_TOO_LONG);
    make_tx(w, "emergency.open", json_pack("{s:s,s:s,s:s,s:i}", "patient", b64(w->patient.pk, kp),
            "hospital", "sunrise", "reason", "road accident, unconscious", "hours", 2), &t, &w->doc_b, NULL);
    assert_int_equal(apply_one(w, &t), PC_V_OK);
    assert_int_equal(pc_ledger_access_check(w->l, w->doc_b.pk, &rec, w->now + 1000, &d, &err), PC_OK);
    assert_int_equal(d.basis, PC_ACCESS_EMERGENCY);

    /* Access log by the custodian. */
    char kr[64];
    make_tx(w, "access.log", json_pack("{s:s,s:s,s:s,s:[s],s:s,s:s}", "custodian", "city",
            "reader", b64(w->doc_b.pk, kr), "patient", b64(w->patient.pk, kp), "records", "rx-1",
            "basis", "emergency", "ref", pc_hex_encode(gh, sizeof gh, t.txid, 32)), &t, &w->hosp_a, NULL);
    assert_int_equal(apply_one(w, &t), PC_V_OK);
    json_t *log;
    assert_int_equal(pc_ledger_access_log_json(w->l, w->patient.pk, &log, &err), PC_OK);
    assert_int_equal(json_array_size(log), 1);
    assert_true(json_is_true(json_object_get(json_array_get(log, 0), "emergency")));
    json_decref(log);

    /* Suspension by majority: staff of the suspended hospital are refused. */
    make_tx(w, "hospital.suspend", json_pack("{s:s,s:s}", "id", "sunrise", "reason", "audit"),
            &t, &w->hosp_a, NULL);
    assert_int_equal(apply_one(w, &t), PC_V_NO_MAJORITY);
    make_tx(w, "hospital.suspend", json_pack("{s:s,s:s}", "id", "sunrise", "reason", "audit"),
            &t, &w->hosp_a, &w->hosp_c);
    assert_int_equal(apply_one(w, &t), PC_V_OK);
    assert_int_equal(pc_ledger_access_check(w->l, w->doc_b.pk, &rec, w->now + 1000, &d, &err), PC_OK);
    assert_int_equal(d.basis, PC_ACCESS_DENIED);

    json_t *tl;
    assert_int_equal(pc_ledger_timeline_json(w->l, w->patient.pk, 0, &tl, &err), PC_OK);
    assert_int_equal(json_array_size(json_object_get(tl, "records")), 1);
    json_decref(tl);

    uint64_t nb, nt;
    pc_ledger_close(w->l);
    w->l = NULL;
    int rc = pc_ledger_verify(w->path, 2, NULL, NULL, &nb, &nt, &err);
    if (rc != PC_OK)
        fail_msg("verify: %s", err.msg);
    assert_true(nb > 10);
    assert_int_equal(pc_ledger_open(w->path, 0, &w->l, &err), PC_OK);
}

static void test_rejections_change_nothing(void **state)
{
    world *w = *state;
    populate(w);
    pc_tx t[4];
    char kp[64];
    /* Nurse of another hospital; unknown patient; duplicate id; bad date type. */
    make_tx(w, "record.add", record_body(w, "r1", "Prescription", "2024-01-01"), &t[0], &w->doc_b, NULL);
    make_tx(w, "record.add", record_body(w, "r2", "Prescription", "2024-01-01"), &t[1], &w->doc_a, NULL);
    make_tx(w, "record.add", record_body(w, "r2", "DiagnosticReport", "2024-01-02"), &t[2], &w->doc_a, NULL);
    make_tx(w, "patient.register", json_pack("{s:s,s:s}", "key", b64(w->patient2.pk, kp), "hospital", "city"),
            &t[3], &w->patient2, &w->doc_a); /* a doctor is not a clerk */
    uint8_t v[4];
    apply_block(w, t, 4, v);
    assert_int_equal(v[0], PC_V_NOT_AUTHORISED);
    assert_int_equal(v[1], PC_V_OK);
    assert_int_equal(v[2], PC_V_ALREADY_EXISTS);
    assert_int_equal(v[3], PC_V_NOT_AUTHORISED);
    pc_record_info rec;
    pc_error err;
    assert_int_equal(pc_ledger_record_info(w->l, "r2", &rec, &err), PC_OK);
    assert_string_equal(rec.hi_type, "Prescription");
    char hid[PC_HEALTHID_LEN + 1];
    pc_healthid_from_key(w->patient2.pk, hid);
    uint8_t key[32];
    assert_int_equal(pc_ledger_patient_key(w->l, hid, key, &err), PC_ENOTFOUND);

    /* A replayed transaction is kept with verdict duplicate. */
    pc_tx again;
    pc_txsig sigs[1] = {t[1].sigs[0]};
    (void)sigs;
    json_t *tl;
    assert_int_equal(pc_ledger_timeline_json(w->l, w->patient.pk, 0, &tl, &err), PC_OK);
    assert_int_equal(json_array_size(json_object_get(tl, "records")), 1);
    json_decref(tl);
    make_tx(w, "record.add", record_body(w, "r3", "Prescription", "2024-01-01"), &again, &w->doc_a, NULL);
    pc_tx copy;
    assert_int_equal(pc_tx_parse_canon(again.canon, again.canon_len, again.sigs, again.nsigs, &copy, &err), PC_OK);
    pc_tx pair[2] = {again, copy};
    apply_block(w, pair, 2, v);
    assert_int_equal(v[0], PC_V_OK);
    assert_int_equal(v[1], PC_V_DUPLICATE);

    /* A bad signature is refused with its verdict. */
    make_tx(w, "record.add", record_body(w, "r4", "Prescription", "2024-01-01"), &t[0], &w->doc_a, NULL);
    t[0].sigs[0].sig[5] ^= 1;
    t[0].sigs_checked = false;
    pc_tx forged;
    assert_int_equal(pc_tx_parse_canon(t[0].canon, t[0].canon_len, t[0].sigs, 1, &forged, &err), PC_OK);
    pc_tx_free(&t[0]);
    assert_int_equal(apply_one(w, &forged), PC_V_BAD_SIGNATURE);
    assert_int_equal(pc_ledger_record_info(w->l, "r4", &rec, &err), PC_ENOTFOUND);
}

static void test_verify_detects_tampering(void **state)
{
    world *w = *state;
    populate(w);
    pc_tx t;
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "rec-%d", i);
        make_tx(w, "record.add", record_body(w, id, "Prescription", "2023-06-01"), &t, &w->doc_a, NULL);
        assert_int_equal(apply_one(w, &t), PC_V_OK);
    }
    pc_ledger_close(w->l);
    w->l = NULL;
    pc_error err;
    uint64_t nb, nt;
    assert_int_equal(pc_ledger_verify(w->path, 2, NULL, NULL, &nb, &nt, &err), PC_OK);
    assert_int_equal(nb, 7);

    /* Flip one byte inside the stored bytes of the transaction in block 4. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(w->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE txs SET canon = CAST(replace(CAST(canon AS TEXT), 'rec-2', 'rec-X') AS BLOB)"
                                      " WHERE height = 4", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_close(db);
    assert_int_not_equal(pc_ledger_verify(w->path, 2, NULL, NULL, &nb, &nt, &err), PC_OK);
    assert_non_null(strstr(err.msg, "block 4"));

    /* Put it back, then alter state only: verify names the state. */
    assert_int_equal(sqlite3_open(w->path, &db), SQLITE_OK);
    sqlite3_exec(db, "UPDATE txs SET canon = CAST(replace(CAST(canon AS TEXT), 'rec-X', 'rec-2') AS BLOB)"
                     " WHERE height = 4", NULL, NULL, NULL);
    assert_int_equal(sqlite3_exec(db, "UPDATE records SET hi_type = 'DiagnosticReport' WHERE id = 'rec-1'",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_not_equal(pc_ledger_verify(w->path, 2, NULL, NULL, &nb, &nt, &err), PC_OK);
    assert_non_null(strstr(err.msg, "state"));
    assert_int_equal(pc_ledger_open(w->path, 0, &w->l, &err), PC_OK);
}

/* Offset of transaction i's frame (its u32 length) in a proposal's wire form. */
static size_t tx_frame(const pc_buf *wire, size_t want)
{
    const uint8_t *b = wire->data;
    size_t off = 4;
    uint32_t hlen = ((uint32_t)b[off] << 24) | ((uint32_t)b[off + 1] << 16) | ((uint32_t)b[off + 2] << 8) | b[off + 3];
    off += 4 + hlen + 64 + 4;
    for (size_t i = 0; i < want; i++) {
        uint32_t clen = ((uint32_t)b[off] << 24) | ((uint32_t)b[off + 1] << 16) | ((uint32_t)b[off + 2] << 8) | b[off + 3];
        off += 4 + clen;
        off += 1 + (size_t)b[off] * 96;
    }
    return off;
}

/* pc_proposal_decode_mt parses on several threads exactly as the one-thread
 * decode does, marks good signatures checked and leaves a bad one unchecked,
 * and names the lowest bad transaction when one does not parse. */
static void test_decode_parallel(void **state)
{
    world *w = *state;
    populate(w);
    enum { N = 100 };
    pc_tx txs[N];
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "rec-p%d", i);
        make_tx(w, "record.add", record_body(w, id, "Prescription", "2023-06-01"), &txs[i], &w->doc_a, NULL);
    }
    pc_proposal p;
    pc_error err;
    assert_int_equal(pc_proposal_make(&p, "testnet", "city", ++w->seq, w->now, txs, N, &w->hosp_a, &err), PC_OK);
    pc_buf wire;
    pc_buf_init(&wire);
    assert_int_equal(pc_proposal_encode(&p, &wire), PC_OK);
    pc_proposal_free(&p);

    /* Flip a byte of tx 70's signature: still decodes, only that one unchecked. */
    size_t f70 = tx_frame(&wire, 70);
    uint32_t clen = ((uint32_t)wire.data[f70] << 24) | ((uint32_t)wire.data[f70 + 1] << 16) |
                    ((uint32_t)wire.data[f70 + 2] << 8) | wire.data[f70 + 3];
    wire.data[f70 + 4 + clen + 1 + 40] ^= 1;
    pc_proposal one, many;
    assert_int_equal(pc_proposal_decode(wire.data, wire.len, &one, &err), PC_OK);
    assert_int_equal(pc_proposal_decode_mt(wire.data, wire.len, &many, 4, true, &err), PC_OK);
    assert_int_equal(one.ntx, N);
    assert_int_equal(many.ntx, N);
    for (int i = 0; i < N; i++) {
        assert_memory_equal(one.txs[i].txid, many.txs[i].txid, 32);
        assert_false(one.txs[i].sigs_checked);
        assert_int_equal(many.txs[i].sigs_checked, i != 70);
    }
    pc_proposal_free(&one);
    pc_proposal_free(&many);

    /* Break the JSON of txs 40 and 90: the error is tx 40's, on any thread count. */
    size_t f40 = tx_frame(&wire, 40), f90 = tx_frame(&wire, 90);
    wire.data[f40 + 4] = 'x';
    wire.data[f90 + 4] = '[';
    pc_error e1, e4;
    assert_int_not_equal(pc_proposal_decode(wire.data, wire.len, &one, &e1), PC_OK);
    assert_int_not_equal(pc_proposal_decode_mt(wire.data, wire.len, &many, 4, true, &e4), PC_OK);
    assert_string_equal(e1.msg, e4.msg);
    pc_buf_free(&wire);
}

/* pc_proposal_fit cuts where the encoder's real size says: the proposal of
 * the fitted transactions is within the limit, one more would not be (so a
 * node's etcd proposals stay under etcd's request limit). */
static void test_proposal_fit(void **state)
{
    world *w = *state;
    populate(w);
    enum { N = 40 };
    pc_tx txs[N];
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "rec-f%d", i);
        make_tx(w, "record.add", record_body(w, id, "Prescription", "2023-06-01"), &txs[i], &w->doc_a, NULL);
    }
    assert_int_equal(pc_proposal_fit(txs, 0, 100000), 0);
    assert_int_equal(pc_proposal_fit(txs, N, 10), 1); /* always at least one */
    assert_int_equal(pc_proposal_fit(txs, N, SIZE_MAX), N);
    size_t limits[] = {8000, 12345, 20000};
    for (size_t l = 0; l < sizeof limits / sizeof *limits; l++) {
        size_t k = pc_proposal_fit(txs, N, limits[l]);
        assert_true(k > 1 && k < N);
        pc_tx copy[N];
        memcpy(copy, txs, sizeof copy); /* pc_proposal_make moves: encode a shallow copy */
        pc_proposal p;
        pc_error err;
        assert_int_equal(pc_proposal_make(&p, "testnet", "city", 99, w->now, copy, k, &w->hosp_a, &err), PC_OK);
        pc_buf wire;
        pc_buf_init(&wire);
        assert_int_equal(pc_proposal_encode(&p, &wire), PC_OK);
        assert_true(wire.len <= limits[l]);
        /* one more transaction's frame would not fit under the header bound */
        size_t next = 4 + txs[k].canon_len + 1 + txs[k].nsigs * 96;
        assert_true(4 + 4 + 4096 + 64 + 4 + (wire.len - (4 + 4 + p.header_len + 64 + 4)) + next > limits[l]);
        pc_buf_free(&wire);
        memset(p.txs, 0, k * sizeof *p.txs); /* the txs belong to the array below */
        pc_proposal_free(&p);
    }
    for (int i = 0; i < N; i++)
        pc_tx_free(&txs[i]);
}

static void test_restart_resumes(void **state)
{
    world *w = *state;
    populate(w);
    pc_head h1, h2;
    pc_error err;
    assert_int_equal(pc_ledger_head(w->l, &h1, &err), PC_OK);
    pc_ledger_close(w->l);
    assert_int_equal(pc_ledger_open(w->path, 0, &w->l, &err), PC_OK);
    assert_int_equal(pc_ledger_head(w->l, &h2, &err), PC_OK);
    assert_int_equal(h1.height, h2.height);
    assert_int_equal(h1.pos, h2.pos);
    assert_memory_equal(h1.hash, h2.hash, 32);
    /* An old position is refused, the next one accepted. */
    pc_tx t;
    make_tx(w, "record.add", record_body(w, "x", "Prescription", "2023-06-01"), &t, &w->doc_a, NULL);
    pc_proposal p;
    assert_int_equal(pc_proposal_make(&p, "testnet", "city", 99, w->now, &t, 1, &w->hosp_a, &err), PC_OK);
    pc_block_result r;
    assert_int_equal(pc_ledger_apply(w->l, &p, h2.pos, &r, &err), PC_EINVAL);
    /* A proposal signed by a non-member is refused. */
    pc_proposal_free(&p);
    make_tx(w, "record.add", record_body(w, "y", "Prescription", "2023-06-01"), &t, &w->doc_a, NULL);
    assert_int_equal(pc_proposal_make(&p, "testnet", "city", 100, w->now, &t, 1, &w->doc_a, &err), PC_OK);
    assert_int_equal(pc_ledger_apply(w->l, &p, h2.pos + 1, &r, &err), PC_ECRYPTO);
    pc_proposal_free(&p);
    /* The tx json of a committed tx carries a proof that verifies. */
    json_t *j;
    char kp[64];
    make_tx(w, "patient.register", json_pack("{s:s,s:s}", "key", b64(w->patient2.pk, kp), "hospital", "city"),
            &t, &w->patient2, &w->clerk_a);
    uint8_t txid[32];
    memcpy(txid, t.txid, 32);
    w->pos = h2.pos;
    assert_int_equal(apply_one(w, &t), PC_V_OK);
    assert_int_equal(pc_ledger_tx_json(w->l, txid, &j, &err), PC_OK);
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "ok");
    assert_non_null(json_object_get(json_object_get(j, "proof"), "root"));
    json_decref(j);
}

/* The timeline: newest clinical date first, ties newest in chain order first;
 * each row names its author and custodian (also past the per-timeline name
 * cache of 64 authors); the text form is byte for byte json_dumps of the
 * tree. */
static void test_timeline_order_and_names(void **state)
{
    world *w = *state;
    populate(w);
    pc_tx t[3];
    uint8_t v[3];
    make_tx(w, "record.add", record_body(w, "r-a", "Prescription", "2024-01-01"), &t[0], &w->doc_a, NULL);
    apply_block(w, t, 1, v);
    assert_int_equal(v[0], PC_V_OK);
    make_tx(w, "record.add", record_body(w, "r-c", "Prescription", "2024-01-01"), &t[0], &w->nurse_a, NULL);
    make_tx(w, "record.add", record_body(w, "r-b", "DiagnosticReport", "2024-02-01"), &t[1], &w->doc_a, NULL);
    make_tx(w, "record.add", record_body(w, "a-d", "Prescription", "2024-01-01"), &t[2], &w->doc_a, NULL);
    apply_block(w, t, 3, v);
    for (int i = 0; i < 3; i++)
        assert_int_equal(v[i], PC_V_OK);

    /* 70 more authors, one record each, dated before the others. */
    enum { EXTRA = 70 };
    for (int i = 0; i < EXTRA; i++) {
        pc_keypair nurse;
        assert_int_equal(pc_key_generate(&nurse), 0);
        make_tx(w, "staff.enroll", enroll_body("city", &nurse, "nurse"), &t[0], &w->hosp_a, NULL);
        char id[32];
        snprintf(id, sizeof id, "x-%02d", i);
        make_tx(w, "record.add", record_body(w, id, "Prescription", "2023-06-01"), &t[1], &nurse, NULL);
        apply_block(w, t, 2, v);
        assert_int_equal(v[0], PC_V_OK);
        assert_int_equal(v[1], PC_V_OK);
        pc_key_wipe(&nurse);
    }

    pc_error err;
    json_t *tl;
    assert_int_equal(pc_ledger_timeline_json(w->l, w->patient.pk, 0, &tl, &err), PC_OK);
    const json_t *recs = json_object_get(tl, "records");
    assert_int_equal(json_array_size(recs), 4 + EXTRA);
    static const char *const order[] = {"r-b", "a-d", "r-c", "r-a", "x-69", "x-68"};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(recs, i), "id")), order[i]);
    assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 2), "author_role")), "nurse");
    assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 1), "author_role")), "doctor");
    char ka[64];
    assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 1), "author")),
                        b64(w->doc_a.pk, ka));
    for (size_t i = 0; i < json_array_size(recs); i++) {
        const json_t *r = json_array_get(recs, i);
        bool nurse = strcmp(json_string_value(json_object_get(r, "author_role")), "nurse") == 0;
        assert_string_equal(json_string_value(json_object_get(r, "author_name")),
                            nurse ? NURSE_NAME : DOCTOR_NAME);
        assert_string_equal(json_string_value(json_object_get(r, "custodian_name")), "City Hospital");
        assert_int_equal(json_object_size(r), 15);
    }

    char *dumped = json_dumps(tl, JSON_COMPACT);
    pc_buf text;
    pc_buf_init(&text);
    assert_int_equal(pc_ledger_timeline_text(w->l, w->patient.pk, 0, &text, &err), PC_OK);
    assert_int_equal(text.len, strlen(dumped));
    assert_memory_equal(text.data, dumped, text.len);
    free(dumped);
    pc_buf_free(&text);
    json_decref(tl);

    /* A limit keeps the newest. */
    assert_int_equal(pc_ledger_timeline_json(w->l, w->patient.pk, 2, &tl, &err), PC_OK);
    recs = json_object_get(tl, "records");
    assert_int_equal(json_array_size(recs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 1), "id")), "a-d");
    json_decref(tl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_genesis_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journey_and_access, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejections_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_detects_tampering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_parallel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proposal_fit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeline_order_and_names, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
