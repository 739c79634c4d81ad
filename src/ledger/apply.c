/* The rules of every transaction type (DESIGN §5, docs/protocol.md), applied
 * against the state tables inside the block's SQLite transaction. Each rule is
 * deterministic: it reads only the transaction, the state and the block time.
 * A rule that fails returns its verdict and writes nothing. */
#include <stdlib.h>
#include <string.h>

#include "parcha/encode.h"
#include "parcha/healthid.h"
#include "store/ledger_internal.h"

/* Helpers return 1 (found), 0 (not found) or -1 (database error). */

typedef struct hosp_row {
    char id[PC_HOSPITAL_ID_MAX + 1];
    uint8_t key[32];
    int active;
} hosp_row;

typedef struct staff_row {
    char hospital[PC_HOSPITAL_ID_MAX + 1];
    char role[16];
    int active;
} staff_row;

static int db_fail(pc_ledger *l, pc_error *err)
{
    pc_error_set(err, PC_EIO, "ledger database error: %s", sqlite3_errmsg(l->db));
    return -1;
}

/* Run a statement that returns no rows. */
static int exec_stmt(pc_ledger *l, sqlite3_stmt *s, pc_error *err)
{
    int rc = sqlite3_step(s);
    pc_stmt_done(s);
    return rc == SQLITE_DONE ? 0 : db_fail(l, err);
}

static int hosp_get(pc_ledger *l, const char *id, hosp_row *out, pc_error *err)
{
    sqlite3_stmt *s = pc_ledger_stmt(l, S_HOSP_GET);
    if (s == NULL)
        return db_fail(l, err);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        snprintf(out->id, sizeof out->id, "%s", id);
        memcpy(out->key, sqlite3_column_blob(s, 0), 32);
        out->active = sqlite3_column_int(s, 1);
    }
    pc_stmt_done(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_fail(l, err);
}

/* The hospital whose key is key. */
static int hosp_by_key(pc_ledger *l, const uint8_t key[32], hosp_row *out, pc_error *err)
{
    sqlite3_stmt *s = pc_ledger_stmt(l, S_HOSP_BY_KEY);
    if (s == NULL)
        return db_fail(l, err);
    sqlite3_bind_blob(s, 1, key, 32, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        snprintf(out->id, sizeof out->id, "%s", (const char *)sqlite3_column_text(s, 0));
        memcpy(out->key, key, 32);
        out->active = sqlite3_column_int(s, 1);
    }
    pc_stmt_done(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_fail(l, err);
}

static int staff_get(pc_ledger *l, const uint8_t key[32], staff_row *out, pc_error *err)
{
    sqlite3_stmt *s = pc_ledger_stmt(l, S_STAFF_GET);
    if (s == NULL)
        return db_fail(l, err);
    sqlite3_bind_blob(s, 1, key, 32, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        snprintf(out->hospital, sizeof out->hospital, "%s", (const char *)sqlite3_column_text(s, 0));
        snprintf(out->role, sizeof out->role, "%s", (const char *)sqlite3_column_text(s, 1));
        out->active = sqlite3_column_int(s, 2);
    }
    pc_stmt_done(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_fail(l, err);
}

static int patient_exists(pc_ledger *l, const uint8_t key[32], pc_error *err)
{
    sqlite3_stmt *s = pc_ledger_stmt(l, S_PATIENT_EXISTS);
    if (s == NULL)
        return db_fail(l, err);
    sqlite3_bind_blob(s, 1, key, 32, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    pc_stmt_done(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_fail(l, err);
}

/* Count signatures on tx made by active hospitals, and how many are active. */
static int count_majority(pc_ledger *l, const pc_tx *tx, int *signers, int *active,
                          pc_error *err)
{
    sqlite3_stmt *s = pc_ledger_stmt(l, S_HOSP_COUNT_ACTIVE);
    if (s == NULL)
        return db_fail(l, err);
    int rc = sqlite3_step(s);
    *active = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    pc_stmt_done(s);
    if (rc != SQLITE_ROW)
        return db_fail(l, err);
    *signers = 0;
    for (size_t i = 0; i < tx->nsigs; i++) {
        hosp_row h;
        int f = hosp_by_key(l, tx->sigs[i].key, &h, err);
        if (f < 0)
            return -1;
        if (f == 1 && h.active)
            (*signers)++;
    }
    return 0;
}

static const char *body_str(const pc_tx *tx, const char *name)
{
    return json_string_value(json_object_get(tx->body, name));
}

static int64_t body_int(const pc_tx *tx, const char *name)
{
    return json_integer_value(json_object_get(tx->body, name));
}

/* Decode a base64url key field already checked by the shape rules. */
static void body_key(const pc_tx *tx, const char *name, uint8_t key[32])
{
    if (pc_b64_decode_exact_public(key, 32, body_str(tx, name)) != 0)
        memset(key, 0, 32);
}

/* The one signer of a single-signature transaction, as active staff. Returns
 * a verdict: OK with *st filled, or why not. -1 on database error. */
static int staff_signer(pc_ledger *l, const pc_tx *tx, const char *hospital,
                        const char *const *roles, staff_row *st, pc_error *err)
{
    int f = staff_get(l, tx->sigs[0].key, st, err);
    if (f < 0)
        return -1;
    if (f == 0)
        return PC_V_UNKNOWN_SIGNER;
    if (strcmp(st->hospital, hospital) != 0)
        return PC_V_NOT_AUTHORISED;
    if (!st->active)
        return PC_V_STAFF_INACTIVE;
    for (size_t i = 0; roles[i] != NULL; i++)
        if (strcmp(st->role, roles[i]) == 0)
            return PC_V_OK;
    return PC_V_NOT_AUTHORISED;
}

/* Hospital must exist and be active. */
static int need_active_hospital(pc_ledger *l, const char *id, hosp_row *h, pc_error *err)
{
    int f = hosp_get(l, id, h, err);
    if (f < 0)
        return -1;
    if (f == 0)
        return PC_V_UNKNOWN_HOSPITAL;
    return h->active ? PC_V_OK : PC_V_HOSPITAL_INACTIVE;
}

static int rule_genesis(pc_ledger *l, const pc_tx *tx, uint64_t height,
                        int64_t bt, pc_error *err)
{
    if (height != 0)
        return PC_V_GENESIS_ONLY;
    const json_t *hs = json_object_get(tx->body, "hospitals");
    size_t i;
    const json_t *h;
    json_array_foreach(hs, i, h) {
        uint8_t key[32];
        if (pc_b64_decode_exact_public(key, 32, json_string_value(json_object_get(h, "key"))) != 0)
            return PC_V_MALFORMED;
        if (!pc_tx_signed_by(tx, key))
            return PC_V_NOT_AUTHORISED;
        hosp_row existing;
        int f = hosp_get(l, json_string_value(json_object_get(h, "id")), &existing, err);
        if (f < 0)
            return -1;
        if (f == 1)
            return PC_V_ALREADY_EXISTS;
        f = hosp_by_key(l, key, &existing, err);
        if (f != 0)
            return f < 0 ? -1 : PC_V_ALREADY_EXISTS;
        sqlite3_stmt *s = pc_ledger_stmt(l, S_HOSP_PUT);
        if (s == NULL)
            return db_fail(l, err);
        sqlite3_bind_text(s, 1, json_string_value(json_object_get(h, "id")), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, json_string_value(json_object_get(h, "name")), -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 3, key, 32, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 4, json_string_value(json_object_get(h, "endpoint")), -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 5, bt);
        if (exec_stmt(l, s, err) != 0)
            return -1;
    }
    return PC_V_OK;
}

static int rule_admit(pc_ledger *l, const pc_tx *tx, int64_t bt, pc_error *err)
{
    uint8_t key[32];
    hosp_row h;
    body_key(tx, "key", key);
    int f = hosp_get(l, body_str(tx, "id"), &h, err);
    if (f != 0)
        return f < 0 ? -1 : PC_V_ALREADY_EXISTS;
    f = hosp_by_key(l, key, &h, err);
    if (f != 0)
        return f < 0 ? -1 : PC_V_ALREADY_EXISTS;
    if (!pc_tx_signed_by(tx, key))
        return PC_V_NOT_AUTHORISED;
    int signers, active;
    if (count_majority(l, tx, &signers, &active, err) != 0)
        return -1;
    if (2 * signers <= active)
        return PC_V_NO_MAJORITY;
    sqlite3_stmt *s = pc_ledger_stmt(l, S_HOSP_PUT);
    if (s == NULL)
        return db_fail(l, err);
    sqlite3_bind_text(s, 1, body_str(tx, "id"), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, body_str(tx, "name"), -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, key, 32, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, body_str(tx, "endpoint"), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, bt);
    return exec_stmt(l, s, err) == 0 ? PC_V_OK : -1;
}

static int rule_suspend(pc_ledger *l, const pc_tx *tx, pc_error *err)
{
    hosp_row h;
    int v = need_active_hospital(l, body_str(tx, "id"), &h, err);
    if (v != PC_V_OK)
        return v;
    int signers, active;
    if (count_majority(l, tx, &signers, &active, err) != 0)
        return -1;
    if (2 * signers <= active)
        return PC_V_NO_MAJORITY;
    sqlite3_stmt *s = pc_ledger_stmt(l, S_HOSP_SET_ACTIVE);
    if (s == NULL)
        return db_fail(l, err);
    sqlite3_bind_int(s, 1, 0);
    sqlite3_bind_text(s, 2, h.id, -1, SQLITE_TRANSIENT);
    return exec_stmt(l, s, err) == 0 ? PC_V_OK : -1;
}

static int rule_enroll(pc_ledger *l, const pc_tx *tx, int64_t bt, pc_error *err)
{
    hosp_row h;
    int v = need_active_hospital(l, body_str(tx, "hospital"), &h, err);
    if (v != PC_V_OK)
        return v;
    if (!pc_tx_signed_by(tx, h.key))
        return PC_V_NOT_AUTHORISED;
    uint8_t key[32];
    staff_row st;
    body_key(tx, "key", key);
    int f = staff_get(l, key, &st, err);
    if (f != 0)
        return f < 0 ? -1 : PC_V_ALREADY_EXISTS;
    sqlite3_stmt *s = pc_ledger_stmt(l, S_STAFF_PUT);
    if (s == NULL)
        return db_fail(l, err);
    sqlite3_bind_blob(s, 1, key, 32, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, h.id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, body_str(tx, "name"), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, body_str(tx, "role"), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, body_str(tx, "regno"), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, bt);
    return exec_stmt(l, s, err) == 0 ? PC_V_OK : -1;
}

static int rule_staff_revoke(pc_ledger *l, const pc_tx *tx, pc_error *err)
{
    hosp_row h;
    int f = hosp_get(l, body_str(tx, "hospital"), &h, err);
    if (f <= 0)
        return f < 0 ? -1 : PC_V_UNKNOWN_HOSPITAL;
    if (!pc_tx_signed_by(tx, h.key))
        return PC_V_NOT_AUTHORISED;
    uint8_t key[32];
    staff_row st;
    body_key(tx, "key", key);
    f = staff_get(l, key, &st, err);
    if (f <= 0)
        return f < 0 ? -1 : PC_V_UNKNOWN_STAFF;
    if (strcmp(st.hospital, h.id) != 0)
        return PC_V_NOT_OWNER;
    if (!st.active)
        return PC_V_ALREADY_REVOKED;
    sqlite3_stmt *s = pc_ledger_stmt(l, S_STAFF_SET_ACTIVE);
    if (s == NULL)
        return db_fail(l, err);
    sqlite3_bind_int(s, 1, 0);
    sqlite3_bind_blob(s, 2, key, 32, SQLITE_TRANSIENT);
    return exec_stmt(l, s, err) == 0 ? PC_V_OK : -1;
}

static int rule_register(pc_ledger *l, const pc_tx *tx, uint64_t height, int64_t bt,
                         pc_error *err)
{
    static const char *const CLERKS[] = {"clerk", "admin", NULL};
    uint8_t key[32];
    body_key(tx, "key", key);
    if (!pc_tx_signed_by(tx, key))
        return PC_V_NOT_AUTHORISED;
    hosp_row h;
    int v = need_active_hospital(l, body_str(tx, "hospital"), &h, err);
    if (v != PC_V_OK)
        return v;
    int clerk = PC_V_UNKNOWN_SIGNER;
    for (size_t i = 0; i < tx->nsigs && clerk != PC_V_OK; i++) {
        if (memcmp(tx->sigs[i].key, key, 32) == 0)
            continue;
        pc_tx one = *tx; /* check this signer as if it were the only one */
        one.sigs[0] = tx->sigs[i];
        staff_row st;
        clerk = staff_signer(l, &one, h.id, CLERKS, &st, err);
        if (clerk < 0)
            return -1;
    }
    if (clerk != PC_V_OK)
        return clerk;
    int f = patient_exists(l, key, err);
    if (f != 0)
        return f < 0 ? -1 : PC_V_ALREADY_EXISTS;
    staff_row st;
    f = staff_get(l, key, &st, err);
    if (f != 0)
        return f < 0 ? -1 : PC_V_ALREADY_EXISTS;
    char hid[PC_HEALTHID_LEN + 1];
    pc_healthid_from_key(key, hid);
    sqlite3_stmt *s = pc_ledger_stmt(l, S_PATIENT_PUT);
    if (s == NULL)
        return db_fail(l, err);
    sqlite3_bind_blob(s, 1, key, 32, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, hid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, h.id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)height);
    sqlite3_bind_int64(s, 5, bt);
    int rc = sqlite3_step(s);
    pc_stmt_done(s);
    if (rc == SQLITE_CONSTRAINT)
        return PC_V_ALREADY_EXISTS; /* Health ID collision: refuse, never alias */
    return rc == SQLITE_DONE ? PC_V_OK : db_fail(l, err);
}

static int rule_record_add(pc_ledger *l, const pc_tx *tx, uint64_t height, int64_t bt,
                           pc_error *err)
{
    static const char *const AUTHORS[] = {"doctor", "nurse", NULL};
    hosp_row h;
    int v = need_active_hospital(l, body_str(tx, "custodian"), &h, err);
    if (v != PC_V_OK)
        return v;
    staff_row st;
    v = staff_signer(l, tx, h.id, AUTHORS, &st, err);
    if (v != PC_V_OK)
        return v;
    uint8_t patient[32], hash[32], sealed[PC_SEALED_KEY_LEN];
    int32_t date;
    body_key(tx, "patient", patient);
    int f = patient_exists(l, patient, err);
    if (f <= 0)
        return f < 0 ? -1 : PC_V_UNKNOWN_PATIENT;
    if (pc_hex_decode_exact(hash, 32, body_str(tx, "hash")) != 0 ||
        pc_b64_decode_exact_public(sealed, sizeof sealed, body_str(tx, "sealed_key")) != 0 ||
        pc_date_parse(body_str(tx, "date"), &date) != PC_OK)
        return PC_V_MALFORMED;
    sqlite3_stmt *s = pc_ledger_stmt(l, S_RECORD_PUT);
    if (s == NULL)
        return db_fail(l, err);
    sqlite3_bind_text(s, 1, body_str(tx, "id"), -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, patient, 32, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, body_str(tx, "hi_type"), -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, date);
    sqlite3_bind_text(s, 5, body_str(tx, "fhir"), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, h.id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 7, tx->sigs[0].key, 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 8, hash, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 9, body_int(tx, "size"));
    sqlite3_bind_blob(s, 10, sealed, sizeof sealed, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 11, tx->txid, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 12, (sqlite3_int64)height);
    sqlite3_bind_int64(s, 13, bt);
    int rc = sqlite3_step(s);
    pc_stmt_done(s);
    if (rc == SQLITE_CONSTRAINT)
        return PC_V_ALREADY_EXISTS;
    return rc == SQLITE_DONE ? PC_V_OK : db_fail(l, err);
}

static int rule_grant(pc_ledger *l, const pc_tx *tx, int64_t bt, pc_error *err)
{
    uint8_t patient[32], staff[32];
    body_key(tx, "patient", patient);
    if (!pc_tx_signed_by(tx, patient))
        return PC_V_NOT_AUTHORISED;
    int f = patient_exists(l, patient, err);
    if (f <= 0)
        return f < 0 ? -1 : PC_V_UNKNOWN_PATIENT;
    const json_t *g = json_object_get(tx->body, "grantee");
    const char *gh = json_string_value(json_object_get(g, "hospital"));
    if (gh != NULL) {
        hosp_row h;
        f = hosp_get(l, gh, &h, err);
        if (f <= 0)
            return f < 0 ? -1 : PC_V_UNKNOWN_HOSPITAL;
    } else {
        staff_row st;
        if (pc_b64_decode_exact_public(staff, 32, json_string_value(json_object_get(g, "staff"))) != 0)
            return PC_V_MALFORMED;
        f = staff_get(l, staff, &st, err);
        if (f <= 0)
            return f < 0 ? -1 : PC_V_UNKNOWN_STAFF;
    }
    int64_t expires = body_int(tx, "expires");
    if (expires <= bt)
        return PC_V_EXPIRED;
    unsigned types = 0;
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(tx->body, "hi_types"), i, t) {
        const char *name = json_string_value(t);
        types |= strcmp(name, "*") == 0 ? PC_HI_ALL : pc_hi_type_from_name(name);
    }
    const char *from = body_str(tx, "from"), *to = body_str(tx, "to");
    int32_t df = 0, dt = 0;
    if ((from != NULL && pc_date_parse(from, &df) != PC_OK) ||
        (to != NULL && pc_date_parse(to, &dt) != PC_OK))
        return PC_V_MALFORMED;
    sqlite3_stmt *s = pc_ledger_stmt(l, S_CONSENT_PUT);
    if (s == NULL)
        return db_fail(l, err);
    sqlite3_bind_blob(s, 1, tx->txid, 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 2, patient, 32, SQLITE_TRANSIENT);
    if (gh != NULL)
        sqlite3_bind_text(s, 4, gh, -1, SQLITE_STATIC);
    else
        sqlite3_bind_blob(s, 3, staff, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 5, (int)types);
    if (from != NULL)
        sqlite3_bind_int(s, 6, df);
    if (to != NULL)
        sqlite3_bind_int(s, 7, dt);
    sqlite3_bind_int64(s, 8, expires);
    sqlite3_bind_text(s, 9, body_str(tx, "purpose"), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 10, bt);
    return exec_stmt(l, s, err) == 0 ? PC_V_OK : -1;
}

static int rule_consent_revoke(pc_ledger *l, const pc_tx *tx, int64_t bt, pc_error *err)
{
    uint8_t patient[32], grant[32];
    body_key(tx, "patient", patient);
    if (!pc_tx_signed_by(tx, patient))
        return PC_V_NOT_AUTHORISED;
    if (pc_hex_decode_exact(grant, 32, body_str(tx, "grant")) != 0)
        return PC_V_MALFORMED;
    sqlite3_stmt *s = pc_ledger_stmt(l, S_CONSENT_GET);
    if (s == NULL)
        return db_fail(l, err);
    sqlite3_bind_blob(s, 1, grant, 32, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int owner = 0, revoked = 0;
    if (rc == SQLITE_ROW) {
        owner = sqlite3_column_bytes(s, 0) == 32 &&
                memcmp(sqlite3_column_blob(s, 0), patient, 32) == 0;
        revoked = sqlite3_column_type(s, 1) != SQLITE_NULL;
    }
    pc_stmt_done(s);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? PC_V_UNKNOWN_GRANT : db_fail(l, err);
    if (!owner)
        return PC_V_NOT_OWNER;
    if (revoked)
        return PC_V_ALREADY_REVOKED;
    s = pc_ledger_stmt(l, S_CONSENT_REVOKE);
    if (s == NULL)
        return db_fail(l, err);
    sqlite3_bind_blob(s, 1, tx->txid, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, bt);
    sqlite3_bind_blob(s, 3, grant, 32, SQLITE_TRANSIENT);
    return exec_stmt(l, s, err) == 0 ? PC_V_OK : -1;
}

static int rule_emergency(pc_ledger *l, const pc_tx *tx, const pc_policy *pol,
                          int64_t bt, pc_error *err)
{
    static const char *const DOCTORS[] = {"doctor", NULL};
    hosp_row h;
    int v = need_active_hospital(l, body_str(tx, "hospital"), &h, err);
    if (v != PC_V_OK)
        return v;
    staff_row st;
    v = staff_signer(l, tx, h.id, DOCTORS, &st, err);
    if (v != PC_V_OK)
        return v;
    uint8_t patient[32];
    body_key(tx, "patient", patient);
    int f = patient_exists(l, patient, err);
    if (f <= 0)
        return f < 0 ? -1 : PC_V_UNKNOWN_PATIENT;
    int64_t hours = body_int(tx, "hours");
    if (hours > pol->emergency_max_hours)
        return PC_V_TOO_LONG;
    sqlite3_stmt *s = pc_ledger_stmt(l, S_EMERGENCY_PUT);
    if (s == NULL)
        return db_fail(l, err);
    sqlite3_bind_blob(s, 1, tx->txid, 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 2, patient, 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 3, tx->sigs[0].key, 32, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, h.id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 5, body_str(tx, "reason"), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, bt);
    sqlite3_bind_int64(s, 7, bt + hours * 3600000);
    return exec_stmt(l, s, err) == 0 ? PC_V_OK : -1;
}

static int rule_access_log(pc_ledger *l, const pc_tx *tx, uint64_t height, int64_t bt,
                           pc_error *err)
{
    hosp_row h;
    int f = hosp_get(l, body_str(tx, "custodian"), &h, err);
    if (f <= 0)
        return f < 0 ? -1 : PC_V_UNKNOWN_HOSPITAL;
    if (!pc_tx_signed_by(tx, h.key))
        return PC_V_NOT_AUTHORISED;
    uint8_t patient[32], reader[32], ref[32];
    body_key(tx, "patient", patient);
    body_key(tx, "reader", reader);
    const json_t *recs = json_object_get(tx->body, "records");
    size_t i;
    const json_t *r;
    json_array_foreach(recs, i, r) {
        sqlite3_stmt *s = pc_ledger_stmt(l, S_RECORD_GET);
        if (s == NULL)
            return db_fail(l, err);
        sqlite3_bind_text(s, 1, json_string_value(r), -1, SQLITE_STATIC);
        int rc = sqlite3_step(s);
        int ok = rc == SQLITE_ROW && sqlite3_column_bytes(s, 0) == 32 &&
                 memcmp(sqlite3_column_blob(s, 0), patient, 32) == 0 &&
                 strcmp((const char *)sqlite3_column_text(s, 1), h.id) == 0;
        pc_stmt_done(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return db_fail(l, err);
        if (!ok)
            return PC_V_UNKNOWN_RECORD;
    }
    const char *basis = body_str(tx, "basis");
    const char *refhex = body_str(tx, "ref");
    int needs_ref = strcmp(basis, "consent") == 0 || strcmp(basis, "emergency") == 0;
    if (needs_ref != (refhex != NULL))
        return PC_V_MALFORMED;
    if (refhex != NULL && pc_hex_decode_exact(ref, 32, refhex) != 0)
        return PC_V_MALFORMED;
    char *recs_text = json_dumps(recs, JSON_COMPACT);
    if (recs_text == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory"), -1;
    sqlite3_stmt *s = pc_ledger_stmt(l, S_ACCESS_PUT);
    if (s == NULL) {
        free(recs_text);
        return db_fail(l, err);
    }
    sqlite3_bind_blob(s, 1, tx->txid, 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 2, patient, 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 3, reader, 32, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, h.id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 5, recs_text, -1, free);
    sqlite3_bind_text(s, 6, basis, -1, SQLITE_STATIC);
    if (refhex != NULL)
        sqlite3_bind_blob(s, 7, ref, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 8, bt);
    sqlite3_bind_int64(s, 9, (sqlite3_int64)height);
    return exec_stmt(l, s, err) == 0 ? PC_V_OK : -1;
}

/* Was this txid committed before (in an earlier block or earlier in this one)? */
static int seen_before(pc_ledger *l, const uint8_t txid[32], pc_error *err)
{
    sqlite3_stmt *s = pc_ledger_stmt(l, S_TX_EXISTS);
    if (s == NULL)
        return db_fail(l, err);
    sqlite3_bind_blob(s, 1, txid, 32, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    pc_stmt_done(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_fail(l, err);
}

int pc_apply_tx(pc_ledger *l, const pc_tx *tx, const pc_head *head,
                const pc_policy *pol, int64_t bt, uint64_t height, pc_error *err)
{
    if (!tx->sigs_checked)
        return PC_V_BAD_SIGNATURE;
    int seen = seen_before(l, tx->txid, err);
    if (seen != 0)
        return seen < 0 ? -1 : PC_V_DUPLICATE;
    if (tx->type == PC_TX_GENESIS)
        return rule_genesis(l, tx, height, bt, err);
    if (strcmp(tx->net, head->net) != 0)
        return PC_V_WRONG_NETWORK;
    int64_t skew = tx->time > bt ? tx->time - bt : bt - tx->time;
    if (skew > pol->clock_window_ms)
        return PC_V_TIME_WINDOW;
    switch (tx->type) {
    case PC_TX_GENESIS: break;
    case PC_TX_HOSPITAL_ADMIT: return rule_admit(l, tx, bt, err);
    case PC_TX_HOSPITAL_SUSPEND: return rule_suspend(l, tx, err);
    case PC_TX_STAFF_ENROLL: return rule_enroll(l, tx, bt, err);
    case PC_TX_STAFF_REVOKE: return rule_staff_revoke(l, tx, err);
    case PC_TX_PATIENT_REGISTER: return rule_register(l, tx, height, bt, err);
    case PC_TX_RECORD_ADD: return rule_record_add(l, tx, height, bt, err);
    case PC_TX_CONSENT_GRANT: return rule_grant(l, tx, bt, err);
    case PC_TX_CONSENT_REVOKE: return rule_consent_revoke(l, tx, bt, err);
    case PC_TX_EMERGENCY_OPEN: return rule_emergency(l, tx, pol, bt, err);
    case PC_TX_ACCESS_LOG: return rule_access_log(l, tx, height, bt, err);
    }
    return PC_V_MALFORMED;
}
