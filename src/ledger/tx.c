/* Transactions and proposals: strict shape checks for every transaction type
 * (docs/protocol.md), canonical bytes and txids, signing, and the binary
 * proposal wire format. Nothing here reads chain state: a transaction that
 * parses here may still be refused by the rules in apply.c. */
#include "parcha/tx.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "parcha/access.h"
#include "parcha/encode.h"
#include "parcha/jcs.h"
#include "parcha/merkle.h"

static const char *const TYPE_NAMES[] = {
    NULL, "network.genesis", "hospital.admit", "hospital.suspend",
    "staff.enroll", "staff.revoke", "patient.register", "record.add",
    "consent.grant", "consent.revoke", "emergency.open", "access.log"};

pc_tx_type pc_tx_type_from_name(const char *name)
{
    for (size_t i = 1; i < sizeof TYPE_NAMES / sizeof *TYPE_NAMES; i++)
        if (strcmp(name, TYPE_NAMES[i]) == 0)
            return (pc_tx_type)i;
    return 0;
}

const char *pc_tx_type_name(pc_tx_type t)
{
    if ((size_t)t == 0 || (size_t)t >= sizeof TYPE_NAMES / sizeof *TYPE_NAMES)
        return NULL;
    return TYPE_NAMES[t];
}

/* ------------------------------------------------------------------------ */
/* Field kinds and schemas                                                   */
/* ------------------------------------------------------------------------ */

typedef enum field_kind {
    F_TEXT = 1,     /* printable string, 1..max bytes */
    F_INT,          /* integer in [min, max] */
    F_KEY,          /* base64url 32-byte key */
    F_SEALED,       /* base64url 80-byte sealed key */
    F_HEX32,        /* 64 hex chars */
    F_HEX32_NULL,   /* 64 hex chars or null */
    F_DATE,         /* YYYY-MM-DD */
    F_DATE_NULL,    /* YYYY-MM-DD or null */
    F_HOSPITAL,     /* hospital id */
    F_RECORD_ID,    /* record id */
    F_HI_TYPE,      /* one ABDM HI type */
    F_HI_TYPES,     /* array of HI types, or ["*"] */
    F_ROLE,         /* doctor | nurse | clerk | admin */
    F_PURPOSE,      /* ABDM purpose code */
    F_BASIS,        /* access basis */
    F_GRANTEE,      /* {hospital:id} | {staff:key} */
    F_RECORD_IDS,   /* array of record ids, 1..1000 */
    F_HOSPITALS,    /* genesis hospital list */
    F_POLICY,       /* genesis policy */
    F_FHIR_TYPE     /* FHIR resourceType name */
} field_kind;

typedef struct field_spec {
    const char *name;
    field_kind kind;
    int64_t min, max; /* F_TEXT: max length; F_INT: range */
} field_spec;

#define END {NULL, 0, 0, 0}

static const field_spec HOSPITAL_FIELDS[] = {
    {"id", F_HOSPITAL, 0, 0}, {"name", F_TEXT, 1, 128},
    {"key", F_KEY, 0, 0}, {"endpoint", F_TEXT, 1, 256}, END};
static const field_spec POLICY_FIELDS[] = {
    {"emergency_max_hours", F_INT, 1, 168},
    {"clock_window_ms", F_INT, 1000, 86400000}, END};
static const field_spec GENESIS[] = {
    {"name", F_TEXT, 1, 64}, {"hospitals", F_HOSPITALS, 0, 0},
    {"policy", F_POLICY, 0, 0}, END};
static const field_spec SUSPEND[] = {
    {"id", F_HOSPITAL, 0, 0}, {"reason", F_TEXT, 1, 500}, END};
static const field_spec ENROLL[] = {
    {"hospital", F_HOSPITAL, 0, 0}, {"key", F_KEY, 0, 0},
    {"name", F_TEXT, 1, 128}, {"role", F_ROLE, 0, 0},
    {"regno", F_TEXT, 1, 64}, END};
static const field_spec REVOKE_STAFF[] = {
    {"hospital", F_HOSPITAL, 0, 0}, {"key", F_KEY, 0, 0},
    {"reason", F_TEXT, 1, 500}, END};
static const field_spec REGISTER[] = {
    {"key", F_KEY, 0, 0}, {"hospital", F_HOSPITAL, 0, 0}, END};
static const field_spec RECORD_ADD[] = {
    {"id", F_RECORD_ID, 0, 0}, {"patient", F_KEY, 0, 0},
    {"hi_type", F_HI_TYPE, 0, 0}, {"date", F_DATE, 0, 0},
    {"hash", F_HEX32, 0, 0}, {"size", F_INT, 1, 64LL * 1024 * 1024},
    {"custodian", F_HOSPITAL, 0, 0}, {"sealed_key", F_SEALED, 0, 0},
    {"fhir", F_FHIR_TYPE, 0, 0}, END};
static const field_spec GRANT[] = {
    {"patient", F_KEY, 0, 0}, {"grantee", F_GRANTEE, 0, 0},
    {"hi_types", F_HI_TYPES, 0, 0}, {"from", F_DATE_NULL, 0, 0},
    {"to", F_DATE_NULL, 0, 0}, {"expires", F_INT, 0, PC_JCS_MAX_INT},
    {"purpose", F_PURPOSE, 0, 0}, END};
static const field_spec REVOKE_GRANT[] = {
    {"patient", F_KEY, 0, 0}, {"grant", F_HEX32, 0, 0}, END};
static const field_spec EMERGENCY[] = {
    {"patient", F_KEY, 0, 0}, {"hospital", F_HOSPITAL, 0, 0},
    {"reason", F_TEXT, 1, 500}, {"hours", F_INT, 1, 168}, END};
static const field_spec ACCESS_LOG[] = {
    {"custodian", F_HOSPITAL, 0, 0}, {"reader", F_KEY, 0, 0},
    {"patient", F_KEY, 0, 0}, {"records", F_RECORD_IDS, 0, 0},
    {"basis", F_BASIS, 0, 0}, {"ref", F_HEX32_NULL, 0, 0}, END};

static const field_spec *body_schema(pc_tx_type t)
{
    switch (t) {
    case PC_TX_GENESIS: return GENESIS;
    case PC_TX_HOSPITAL_ADMIT: return HOSPITAL_FIELDS;
    case PC_TX_HOSPITAL_SUSPEND: return SUSPEND;
    case PC_TX_STAFF_ENROLL: return ENROLL;
    case PC_TX_STAFF_REVOKE: return REVOKE_STAFF;
    case PC_TX_PATIENT_REGISTER: return REGISTER;
    case PC_TX_RECORD_ADD: return RECORD_ADD;
    case PC_TX_CONSENT_GRANT: return GRANT;
    case PC_TX_CONSENT_REVOKE: return REVOKE_GRANT;
    case PC_TX_EMERGENCY_OPEN: return EMERGENCY;
    case PC_TX_ACCESS_LOG: return ACCESS_LOG;
    }
    return NULL;
}

/* True if s is 1..max chars from the given set. */
static int chars_ok(const char *s, size_t min, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 (extra != NULL && strchr(extra, c) != NULL);
        if (!ok)
            return 0;
    }
    return 1;
}

/* Text must be valid UTF-8 without control characters (jansson guarantees
 * UTF-8); length is in bytes. */
static int text_ok(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static int check_fields(const json_t *obj, const field_spec *spec,
                        const char *path, pc_error *err);

static const char *const ROLES[] = {"doctor", "nurse", "clerk", "admin", NULL};
static const char *const PURPOSES[] = {"CAREMGT", "BTG", "PUBHLTH", "HPAYMT",
                                       "DSRCH", "PATRQT", NULL};
static const char *const BASES[] = {"patient", "custodian", "consent",
                                    "emergency", NULL};
static const char *const FHIR_TYPES[] = {
    "MedicationRequest", "Condition", "Observation", "DiagnosticReport",
    "Immunization", "AllergyIntolerance", "Encounter", "DocumentReference",
    "Bundle", NULL};

static int in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

/* Check one value against its field spec. path names it in errors. */
static int check_value(const json_t *v, const field_spec *f, const char *path,
                       pc_error *err)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    uint8_t bin[80];
    int32_t days;

    switch (f->kind) {
    case F_TEXT:
        if (s == NULL)
            return pc_error_set(err, PC_EINVAL, "%s: must be a string", path);
        if (!text_ok(s, (size_t)f->min, (size_t)f->max))
            return pc_error_set(err, PC_EINVAL,
                                "%s: must be %lld to %lld characters without control characters",
                                path, (long long)f->min, (long long)f->max);
        return PC_OK;
    case F_INT:
        if (!json_is_integer(v))
            return pc_error_set(err, PC_EINVAL, "%s: must be an integer", path);
        if (json_integer_value(v) < f->min || json_integer_value(v) > f->max)
            return pc_error_set(err, PC_EINVAL, "%s: must be between %lld and %lld",
                                path, (long long)f->min, (long long)f->max);
        return PC_OK;
    case F_KEY:
        if (s == NULL || pc_b64_decode_exact_public(bin, 32, s) != 0)
            return pc_error_set(err, PC_EINVAL,
                                "%s: must be a base64url Ed25519 public key (32 bytes)", path);
        return PC_OK;
    case F_SEALED:
        if (s == NULL || pc_b64_decode_exact_public(bin, 80, s) != 0)
            return pc_error_set(err, PC_EINVAL, "%s: must be a base64url sealed key (80 bytes)", path);
        return PC_OK;
    case F_HEX32_NULL:
        if (json_is_null(v))
            return PC_OK;
        /* fall through */
    case F_HEX32:
        if (s == NULL || strlen(s) != 64 || !chars_ok(s, 64, 64, "abcdef") ||
            pc_hex_decode_exact(bin, 32, s) != 0)
            return pc_error_set(err, PC_EINVAL, "%s: must be 64 lowercase hex characters", path);
        return PC_OK;
    case F_DATE_NULL:
        if (json_is_null(v))
            return PC_OK;
        /* fall through */
    case F_DATE:
        if (s == NULL || pc_date_parse(s, &days) != PC_OK)
            return pc_error_set(err, PC_EINVAL, "%s: must be a date YYYY-MM-DD", path);
        return PC_OK;
    case F_HOSPITAL:
        if (s == NULL || !chars_ok(s, 2, PC_HOSPITAL_ID_MAX, "-"))
            return pc_error_set(err, PC_EINVAL,
                                "%s: hospital id must be 2-32 of a-z, 0-9 and '-'", path);
        return PC_OK;
    case F_RECORD_ID:
        if (s == NULL || !chars_ok(s, 1, 64, "ABCDEFGHIJKLMNOPQRSTUVWXYZ._-"))
            return pc_error_set(err, PC_EINVAL,
                                "%s: record id must be 1-64 of A-Z, a-z, 0-9, '.', '_' and '-'", path);
        return PC_OK;
    case F_HI_TYPE:
        if (s == NULL || pc_hi_type_from_name(s) == 0)
            return pc_error_set(err, PC_EINVAL, "%s: unknown HI type '%s'", path,
                                s ? s : "(not a string)");
        return PC_OK;
    case F_HI_TYPES: {
        size_t n = json_is_array(v) ? json_array_size(v) : 0;
        if (n == 0 || n > PC_HI_TYPE_COUNT)
            return pc_error_set(err, PC_EINVAL,
                                "%s: must be a list of 1 to 7 HI types, or [\"*\"]", path);
        for (size_t i = 0; i < n; i++) {
            const char *t = json_string_value(json_array_get(v, i));
            if (t != NULL && strcmp(t, "*") == 0 && n == 1)
                continue;
            if (t == NULL || pc_hi_type_from_name(t) == 0)
                return pc_error_set(err, PC_EINVAL, "%s[%zu]: unknown HI type '%s'",
                                    path, i, t ? t : "(not a string)");
        }
        return PC_OK;
    }
    case F_ROLE:
        if (s == NULL || !in_list(s, ROLES))
            return pc_error_set(err, PC_EINVAL,
                                "%s: role must be doctor, nurse, clerk or admin", path);
        return PC_OK;
    case F_PURPOSE:
        if (s == NULL || !in_list(s, PURPOSES))
            return pc_error_set(err, PC_EINVAL,
                                "%s: purpose must be one of CAREMGT, BTG, PUBHLTH, HPAYMT, DSRCH, PATRQT", path);
        return PC_OK;
    case F_BASIS:
        if (s == NULL || !in_list(s, BASES))
            return pc_error_set(err, PC_EINVAL,
                                "%s: basis must be patient, custodian, consent or emergency", path);
        return PC_OK;
    case F_FHIR_TYPE:
        if (s == NULL || !in_list(s, FHIR_TYPES))
            return pc_error_set(err, PC_EINVAL, "%s: unsupported FHIR resourceType", path);
        return PC_OK;
    case F_GRANTEE: {
        static const field_spec H[] = {{"hospital", F_HOSPITAL, 0, 0}, END};
        static const field_spec S[] = {{"staff", F_KEY, 0, 0}, END};
        if (!json_is_object(v) || json_object_size(v) != 1)
            return pc_error_set(err, PC_EINVAL,
                                "%s: must be {\"hospital\": id} or {\"staff\": key}", path);
        return check_fields(v, json_object_get(v, "hospital") ? H : S, path, err);
    }
    case F_RECORD_IDS: {
        size_t n = json_is_array(v) ? json_array_size(v) : 0;
        if (n == 0 || n > 1000)
            return pc_error_set(err, PC_EINVAL, "%s: must list 1 to 1000 record ids", path);
        static const field_spec R = {"record", F_RECORD_ID, 0, 0};
        for (size_t i = 0; i < n; i++) {
            char p[96];
            snprintf(p, sizeof p, "%s[%zu]", path, i);
            int rc = check_value(json_array_get(v, i), &R, p, err);
            if (rc != PC_OK)
                return rc;
        }
        return PC_OK;
    }
    case F_HOSPITALS: {
        size_t n = json_is_array(v) ? json_array_size(v) : 0;
        if (n == 0 || n > 64)
            return pc_error_set(err, PC_EINVAL, "%s: must list 1 to 64 hospitals", path);
        for (size_t i = 0; i < n; i++) {
            char p[96];
            snprintf(p, sizeof p, "%s[%zu]", path, i);
            int rc = check_fields(json_array_get(v, i), HOSPITAL_FIELDS, p, err);
            if (rc != PC_OK)
                return rc;
        }
        return PC_OK;
    }
    case F_POLICY:
        return check_fields(v, POLICY_FIELDS, path, err);
    }
    return pc_error_set(err, PC_ESTATE, "%s: no rule for this field", path);
}

/* "path.name" into out[cap], cut short if it does not fit. Field paths are
 * made for every field of every transaction but read only in errors, and
 * snprintf here was ~1% of `parcha verify`'s time. */
static void path_join(char *out, size_t cap, const char *path, const char *name)
{
    size_t a = strlen(path), b = strlen(name);
    if (a > cap - 1)
        a = cap - 1;
    memcpy(out, path, a);
    if (a + 1 < cap) {
        out[a++] = '.';
        if (b > cap - 1 - a)
            b = cap - 1 - a;
        memcpy(out + a, name, b);
        a += b;
    }
    out[a] = '\0';
}

/* obj must be an object with exactly the fields of spec (all required). */
static int check_fields(const json_t *obj, const field_spec *spec,
                        const char *path, pc_error *err)
{
    if (!json_is_object(obj))
        return pc_error_set(err, PC_EINVAL, "%s: must be an object", path);
    size_t nspec = 0;
    for (const field_spec *f = spec; f->name != NULL; f++, nspec++) {
        char p[128];
        path_join(p, sizeof p, path, f->name);
        const json_t *v = json_object_get(obj, f->name);
        if (v == NULL)
            return pc_error_set(err, PC_EINVAL, "%s: missing field", p);
        int rc = check_value(v, f, p, err);
        if (rc != PC_OK)
            return rc;
    }
    if (json_object_size(obj) != nspec) {
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)obj, key, v) {
            int known = 0;
            for (const field_spec *f = spec; f->name != NULL; f++)
                if (strcmp(f->name, key) == 0)
                    known = 1;
            if (!known)
                return pc_error_set(err, PC_EINVAL, "%s.%s: unknown field", path, key);
        }
    }
    return PC_OK;
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */
/* ------------------------------------------------------------------------ */

/* Check the envelope of obj (which has "sigs" iff with_sigs) and its body; fill
 * type, time and net. */
static int check_envelope(const json_t *obj, int with_sigs, pc_tx *tx,
                          pc_error *err)
{
    static const char *const FIELDS[] = {"v", "net", "type", "time", "nonce",
                                         "body", "sigs"};
    if (!json_is_object(obj))
        return pc_error_set(err, PC_EINVAL, "transaction must be a JSON object");
    size_t want = with_sigs ? 7 : 6;
    for (size_t i = 0; i < want; i++)
        if (json_object_get(obj, FIELDS[i]) == NULL)
            return pc_error_set(err, PC_EINVAL, "%s: missing field", FIELDS[i]);
    if (json_object_size(obj) != want) {
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)obj, key, v) {
            int known = 0;
            for (size_t i = 0; i < want; i++)
                if (strcmp(key, FIELDS[i]) == 0)
                    known = 1;
            if (!known)
                return pc_error_set(err, PC_EINVAL, "%s: unknown field", key);
        }
    }
    const json_t *v = json_object_get(obj, "v");
    if (!json_is_integer(v) || json_integer_value(v) != 1)
        return pc_error_set(err, PC_EINVAL, "v: must be 1");
    const char *net = json_string_value(json_object_get(obj, "net"));
    if (net == NULL || !text_ok(net, 1, PC_NET_MAX))
        return pc_error_set(err, PC_EINVAL, "net: must be a network id of 1 to %d characters", PC_NET_MAX);
    const char *type = json_string_value(json_object_get(obj, "type"));
    if (type == NULL)
        return pc_error_set(err, PC_EINVAL, "type: must be a string");
    tx->type = pc_tx_type_from_name(type);
    if (tx->type == 0)
        return pc_error_set(err, PC_EINVAL, "type: unknown transaction type '%.64s'", type);
    const json_t *t = json_object_get(obj, "time");
    if (!json_is_integer(t) || json_integer_value(t) < 0 ||
        json_integer_value(t) > PC_JCS_MAX_INT)
        return pc_error_set(err, PC_EINVAL, "time: must be milliseconds since the epoch");
    const char *nonce = json_string_value(json_object_get(obj, "nonce"));
    if (nonce == NULL || !chars_ok(nonce, 8, 64, "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_"))
        return pc_error_set(err, PC_EINVAL, "nonce: must be 8 to 64 base64url characters");
    int rc = check_fields(json_object_get(obj, "body"), body_schema(tx->type), "body", err);
    if (rc != PC_OK)
        return rc;
    tx->time = json_integer_value(t);
    snprintf(tx->net, sizeof tx->net, "%s", net);
    return PC_OK;
}

/* Decode the client-form "sigs" array into tx->sigs. */
static int parse_sigs(const json_t *sigs, pc_tx *tx, pc_error *err)
{
    size_t n = json_is_array(sigs) ? json_array_size(sigs) : 0;
    if (n == 0 || n > PC_TX_MAX_SIGS)
        return pc_error_set(err, PC_EINVAL, "sigs: must list 1 to %d signatures", PC_TX_MAX_SIGS);
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(sigs, i);
        const char *key = json_string_value(json_object_get(s, "key"));
        const char *sig = json_string_value(json_object_get(s, "sig"));
        if (!json_is_object(s) || json_object_size(s) != 2 || key == NULL || sig == NULL)
            return pc_error_set(err, PC_EINVAL, "sigs[%zu]: must be {\"key\": ..., \"sig\": ...}", i);
        if (pc_b64_decode_exact_public(tx->sigs[i].key, 32, key) != 0)
            return pc_error_set(err, PC_EINVAL, "sigs[%zu].key: must be a base64url public key", i);
        if (pc_b64_decode_exact_public(tx->sigs[i].sig, 64, sig) != 0)
            return pc_error_set(err, PC_EINVAL, "sigs[%zu].sig: must be a base64url signature (64 bytes)", i);
        for (size_t j = 0; j < i; j++)
            if (memcmp(tx->sigs[j].key, tx->sigs[i].key, 32) == 0)
                return pc_error_set(err, PC_EINVAL, "sigs[%zu]: the same key signed twice", i);
    }
    tx->nsigs = n;
    return PC_OK;
}

int pc_tx_parse_obj(const json_t *obj, pc_tx *tx, pc_error *err)
{
    memset(tx, 0, sizeof *tx);
    int rc = check_envelope(obj, 1, tx, err);
    if (rc != PC_OK)
        return rc;
    rc = parse_sigs(json_object_get(obj, "sigs"), tx, err);
    if (rc != PC_OK)
        return rc;
    /* The client's tree is kept as it is, "sigs" and all, and shared, never
     * mutated: a copy without "sigs" cost ~3% of a node's CPU at full load.
     * The rules read only the envelope fields and "body". */
    tx->obj = json_incref((json_t *)obj);
    pc_buf canon;
    pc_buf_init(&canon);
    canon.cap_limit = PC_TX_MAX_BYTES;
    rc = pc_jcs_dump_without(tx->obj, "sigs", &canon, err);
    if (rc != PC_OK) {
        if (rc == PC_ENOMEM)
            rc = pc_error_set(err, PC_ETOOBIG, "transaction is larger than %d bytes", PC_TX_MAX_BYTES);
        pc_buf_free(&canon);
        pc_tx_free(tx);
        return rc;
    }
    tx->canon = pc_buf_steal(&canon, &tx->canon_len);
    tx->body = json_object_get(tx->obj, "body");
    pc_sha256_tagged(tx->txid, PC_DOMAIN_TX, tx->canon, tx->canon_len);
    return PC_OK;
}

int pc_tx_parse_json(const char *text, size_t len, pc_tx *tx, pc_error *err)
{
    json_t *obj = NULL;
    memset(tx, 0, sizeof *tx);
    int rc = pc_json_parse(text, len, &obj, err);
    if (rc != PC_OK)
        return rc;
    rc = pc_tx_parse_obj(obj, tx, err);
    json_decref(obj);
    return rc;
}

int pc_tx_parse_canon(const uint8_t *canon, size_t len, const pc_txsig *sigs,
                      size_t nsigs, pc_tx *tx, pc_error *err)
{
    memset(tx, 0, sizeof *tx);
    if (len > PC_TX_MAX_BYTES)
        return pc_error_set(err, PC_ETOOBIG, "transaction is larger than %d bytes", PC_TX_MAX_BYTES);
    if (nsigs == 0 || nsigs > PC_TX_MAX_SIGS)
        return pc_error_set(err, PC_EINVAL, "transaction must carry 1 to %d signatures", PC_TX_MAX_SIGS);
    int rc = pc_json_parse((const char *)canon, len, &tx->obj, err);
    if (rc != PC_OK)
        return rc;
    rc = check_envelope(tx->obj, 0, tx, err);
    if (rc != PC_OK) {
        pc_tx_free(tx);
        return rc;
    }
    tx->canon = malloc(len + 1);
    if (tx->canon == NULL) {
        pc_tx_free(tx);
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    }
    memcpy(tx->canon, canon, len);
    tx->canon[len] = '\0';
    tx->canon_len = len;
    tx->body = json_object_get(tx->obj, "body");
    memcpy(tx->sigs, sigs, nsigs * sizeof *sigs);
    tx->nsigs = nsigs;
    pc_sha256_tagged(tx->txid, PC_DOMAIN_TX, tx->canon, tx->canon_len);
    return PC_OK;
}

int pc_tx_verify(pc_tx *tx)
{
    if (tx->sigs_checked)
        return PC_OK;
    for (size_t i = 0; i < tx->nsigs; i++)
        if (pc_verify(tx->sigs[i].key, PC_DOMAIN_TX, tx->canon, tx->canon_len,
                      tx->sigs[i].sig) != PC_OK)
            return PC_ECRYPTO;
    tx->sigs_checked = true;
    return PC_OK;
}

void pc_tx_free(pc_tx *tx)
{
    if (tx == NULL)
        return;
    json_decref(tx->obj);
    free(tx->canon);
    memset(tx, 0, sizeof *tx);
}

bool pc_tx_signed_by(const pc_tx *tx, const uint8_t key[32])
{
    for (size_t i = 0; i < tx->nsigs; i++)
        if (memcmp(tx->sigs[i].key, key, 32) == 0)
            return true;
    return false;
}

char *pc_tx_to_json(const pc_tx *tx, size_t *len)
{
    json_t *o = json_copy(tx->obj);
    json_t *arr = json_array();
    char *out = NULL;
    if (o == NULL || arr == NULL)
        goto done;
    for (size_t i = 0; i < tx->nsigs; i++) {
        char k[64], s[96];
        pc_b64_encode_public(k, sizeof k, tx->sigs[i].key, 32);
        pc_b64_encode_public(s, sizeof s, tx->sigs[i].sig, 64);
        json_array_append_new(arr, json_pack("{s:s,s:s}", "key", k, "sig", s));
    }
    json_object_set(o, "sigs", arr);
    out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    if (out != NULL && len != NULL)
        *len = strlen(out);
done:
    json_decref(arr);
    json_decref(o);
    return out;
}

/* ------------------------------------------------------------------------ */
/* Building and signing                                                      */
/* ------------------------------------------------------------------------ */

json_t *pc_tx_build(const char *net, const char *type, int64_t time_ms, json_t *body)
{
    uint8_t n[16];
    char nonce[32];
    pc_random(n, sizeof n);
    pc_b64_encode_public(nonce, sizeof nonce, n, sizeof n);
    if (body == NULL)
        return NULL;
    return json_pack("{s:i,s:s,s:s,s:I,s:s,s:o}", "v", 1, "net", net, "type", type,
                     "time", (json_int_t)time_ms, "nonce", nonce, "body", body);
}

int pc_tx_sign(const json_t *unsigned_obj, const pc_keypair *const *keys,
               size_t nkeys, pc_tx *tx, pc_error *err)
{
    memset(tx, 0, sizeof *tx);
    if (nkeys == 0 || nkeys > PC_TX_MAX_SIGS)
        return pc_error_set(err, PC_EINVAL, "a transaction needs 1 to %d signers", PC_TX_MAX_SIGS);
    pc_buf canon;
    pc_buf_init(&canon);
    canon.cap_limit = PC_TX_MAX_BYTES;
    int rc = pc_jcs_dump(unsigned_obj, &canon, err);
    if (rc != PC_OK) {
        pc_buf_free(&canon);
        return rc;
    }
    pc_txsig sigs[PC_TX_MAX_SIGS];
    for (size_t i = 0; i < nkeys; i++) {
        memcpy(sigs[i].key, keys[i]->pk, 32);
        if (pc_sign(keys[i], PC_DOMAIN_TX, canon.data, canon.len, sigs[i].sig) != PC_OK) {
            pc_buf_free(&canon);
            return pc_error_set(err, PC_ECRYPTO, "signing failed");
        }
    }
    rc = pc_tx_parse_canon(canon.data, canon.len, sigs, nkeys, tx, err);
    pc_buf_free(&canon);
    if (rc == PC_OK)
        tx->sigs_checked = true; /* we just made them */
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Proposals                                                                 */
/* ------------------------------------------------------------------------ */

static int txroot_of(const pc_tx *txs, size_t n, uint8_t root[32])
{
    uint8_t (*ids)[32] = malloc((n ? n : 1) * 32);
    if (ids == NULL)
        return PC_ENOMEM;
    for (size_t i = 0; i < n; i++)
        memcpy(ids[i], txs[i].txid, 32);
    int rc = pc_merkle_root((const uint8_t(*)[32])ids, n, root);
    free(ids);
    return rc;
}

/* Canonical header bytes for the proposal fields already in p. */
static int header_bytes(pc_proposal *p, size_t ntx, pc_error *err)
{
    char root[65];
    pc_hex_encode_public(root, sizeof root, p->txroot, 32);
    json_t *h = json_pack("{s:i,s:s,s:s,s:I,s:I,s:I,s:s}", "v", 1, "net", p->net,
                          "proposer", p->proposer, "seq", (json_int_t)p->seq,
                          "time", (json_int_t)p->time, "count", (json_int_t)ntx,
                          "txroot", root);
    if (h == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    pc_buf b;
    pc_buf_init(&b);
    int rc = pc_jcs_dump(h, &b, err);
    json_decref(h);
    if (rc != PC_OK) {
        pc_buf_free(&b);
        return rc;
    }
    p->header = pc_buf_steal(&b, &p->header_len);
    pc_sha256_tagged(p->hash, PC_DOMAIN_PROPOSAL, p->header, p->header_len);
    return PC_OK;
}

int pc_proposal_make(pc_proposal *p, const char *net, const char *proposer,
                     uint64_t seq, int64_t time, pc_tx *txs, size_t ntx,
                     const pc_keypair *kp, pc_error *err)
{
    memset(p, 0, sizeof *p);
    if (strlen(net) > PC_NET_MAX || strlen(proposer) > 32)
        return pc_error_set(err, PC_EINVAL, "network or proposer id too long");
    snprintf(p->net, sizeof p->net, "%s", net);
    snprintf(p->proposer, sizeof p->proposer, "%s", proposer);
    p->seq = seq;
    p->time = time;
    if (txroot_of(txs, ntx, p->txroot) != PC_OK)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    int rc = header_bytes(p, ntx, err);
    if (rc != PC_OK)
        return rc;
    if (pc_sign(kp, PC_DOMAIN_PROPOSAL, p->header, p->header_len, p->sig) != PC_OK) {
        pc_proposal_free(p);
        return pc_error_set(err, PC_ECRYPTO, "signing the proposal failed");
    }
    p->txs = malloc((ntx ? ntx : 1) * sizeof *p->txs);
    if (p->txs == NULL) {
        pc_proposal_free(p);
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    }
    memcpy(p->txs, txs, ntx * sizeof *txs);
    memset(txs, 0, ntx * sizeof *txs);
    p->ntx = ntx;
    return PC_OK;
}

static int put_u32(pc_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return pc_buf_append(b, x, 4);
}

int pc_proposal_encode(const pc_proposal *p, pc_buf *out)
{
    int rc = pc_buf_append(out, "PCP1", 4);
    rc = rc ? rc : put_u32(out, (uint32_t)p->header_len);
    rc = rc ? rc : pc_buf_append(out, p->header, p->header_len);
    rc = rc ? rc : pc_buf_append(out, p->sig, 64);
    rc = rc ? rc : put_u32(out, (uint32_t)p->ntx);
    for (size_t i = 0; rc == PC_OK && i < p->ntx; i++) {
        const pc_tx *t = &p->txs[i];
        uint8_t n = (uint8_t)t->nsigs;
        rc = put_u32(out, (uint32_t)t->canon_len);
        rc = rc ? rc : pc_buf_append(out, t->canon, t->canon_len);
        rc = rc ? rc : pc_buf_append(out, &n, 1);
        for (size_t s = 0; rc == PC_OK && s < t->nsigs; s++)
            rc = pc_buf_append(out, &t->sigs[s], sizeof t->sigs[s]);
    }
    return rc;
}

/* A bounded reader over the wire bytes. */
typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader;

static int get_bytes(reader *r, void *out, size_t n)
{
    if (n > r->left)
        return -1;
    memcpy(out, r->p, n);
    r->p += n;
    r->left -= n;
    return 0;
}

static int get_u32(reader *r, uint32_t *v)
{
    uint8_t x[4];
    if (get_bytes(r, x, 4) != 0)
        return -1;
    *v = ((uint32_t)x[0] << 24) | ((uint32_t)x[1] << 16) | ((uint32_t)x[2] << 8) | x[3];
    return 0;
}

/* Parse and check the canonical header bytes into p's fields. */
static int parse_header(pc_proposal *p, const uint8_t *h, size_t len,
                        uint32_t *count, pc_error *err)
{
    json_t *o = NULL;
    int rc = pc_json_parse((const char *)h, len, &o, err);
    if (rc != PC_OK)
        return rc;
    json_int_t v = 0, seq = -1, time = -1, cnt = -1;
    const char *net = NULL, *prop = NULL, *root = NULL;
    json_error_t je;
    if (json_unpack_ex(o, &je, JSON_STRICT, "{s:I,s:s,s:s,s:I,s:I,s:I,s:s}", "v", &v,
                       "net", &net, "proposer", &prop, "seq", &seq, "time", &time,
                       "count", &cnt, "txroot", &root) != 0 ||
        v != 1 || seq < 0 || time < 0 || cnt < 0 || cnt > 1000000 ||
        strlen(net) > PC_NET_MAX || strlen(prop) > 32 ||
        pc_hex_decode_exact(p->txroot, 32, root) != 0) {
        json_decref(o);
        return pc_error_set(err, PC_EINVAL, "proposal header is malformed");
    }
    snprintf(p->net, sizeof p->net, "%s", net);
    snprintf(p->proposer, sizeof p->proposer, "%s", prop);
    p->seq = (uint64_t)seq;
    p->time = time;
    *count = (uint32_t)cnt;
    json_decref(o);
    return PC_OK;
}

int pc_proposal_decode(const uint8_t *data, size_t len, pc_proposal *p,
                       pc_error *err)
{
    return pc_proposal_decode_mt(data, len, p, 1, false, err);
}

int pc_proposal_decode_mt(const uint8_t *data, size_t len, pc_proposal *p,
                          int threads, bool verify, pc_error *err)
{
    memset(p, 0, sizeof *p);
    reader r = {data, len};
    uint8_t magic[4];
    uint32_t hlen, ntx, count = 0;
    if (get_bytes(&r, magic, 4) != 0 || memcmp(magic, "PCP1", 4) != 0)
        return pc_error_set(err, PC_EINVAL, "not a parcha proposal (bad magic)");
    if (get_u32(&r, &hlen) != 0 || hlen > 4096 || hlen > r.left)
        return pc_error_set(err, PC_EINVAL, "proposal header length is wrong");
    p->header = malloc(hlen + 1);
    if (p->header == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    int rc = get_bytes(&r, p->header, hlen);
    p->header[hlen] = '\0';
    p->header_len = hlen;
    if (rc != 0 || get_bytes(&r, p->sig, 64) != 0 || get_u32(&r, &ntx) != 0) {
        rc = pc_error_set(err, PC_EINVAL, "proposal is truncated");
        goto fail;
    }
    rc = parse_header(p, p->header, hlen, &count, err);
    if (rc != PC_OK)
        goto fail;
    if (count != ntx || ntx > r.left / 5) {
        rc = pc_error_set(err, PC_EINVAL, "proposal transaction count is wrong");
        goto fail;
    }
    pc_sha256_tagged(p->hash, PC_DOMAIN_PROPOSAL, p->header, p->header_len);
    p->txs = calloc(ntx ? ntx : 1, sizeof *p->txs);
    if (p->txs == NULL) {
        rc = pc_error_set(err, PC_ENOMEM, "out of memory");
        goto fail;
    }
    /* Slice the frames first (cheap), then parse them, possibly in parallel. */
    pc_tx_raw *raw = calloc(ntx ? ntx : 1, sizeof *raw);
    if (raw == NULL) {
        rc = pc_error_set(err, PC_ENOMEM, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < ntx; i++) {
        uint32_t clen;
        uint8_t nsig;
        if (get_u32(&r, &clen) != 0 || clen > r.left) {
            free(raw);
            rc = pc_error_set(err, PC_EINVAL, "proposal transaction %u is truncated", i);
            goto fail;
        }
        raw[i].canon = r.p;
        raw[i].len = clen;
        r.p += clen;
        r.left -= clen;
        if (get_bytes(&r, &nsig, 1) != 0 || nsig == 0 || nsig > PC_TX_MAX_SIGS ||
            (size_t)nsig * sizeof(pc_txsig) > r.left) {
            free(raw);
            rc = pc_error_set(err, PC_EINVAL, "proposal transaction %u has bad signatures", i);
            goto fail;
        }
        raw[i].sigs = r.p;
        raw[i].nsigs = nsig;
        r.p += (size_t)nsig * sizeof(pc_txsig);
        r.left -= (size_t)nsig * sizeof(pc_txsig);
    }
    if (r.left != 0) {
        free(raw);
        rc = pc_error_set(err, PC_EINVAL, "proposal has trailing bytes");
        goto fail;
    }
    size_t bad = 0;
    rc = pc_txs_parse_mt(raw, ntx, p->txs, threads, verify, &bad, err);
    free(raw);
    p->ntx = ntx; /* unparsed entries are zero: pc_proposal_free skips them */
    if (rc != PC_OK)
        goto fail;
    uint8_t root[32];
    if (txroot_of(p->txs, p->ntx, root) != PC_OK) {
        rc = pc_error_set(err, PC_ENOMEM, "out of memory");
        goto fail;
    }
    if (sodium_memcmp(root, p->txroot, 32) != 0) {
        rc = pc_error_set(err, PC_ECRYPTO, "proposal tx root does not match its transactions");
        goto fail;
    }
    return PC_OK;
fail:
    pc_proposal_free(p);
    return rc;
}

size_t pc_proposal_fit(const pc_tx *txs, size_t n, size_t max_wire)
{
    /* magic, header length, header (at most 4096), signature, tx count */
    size_t used = 4 + 4 + 4096 + 64 + 4, k = 0;
    while (k < n) {
        size_t frame = 4 + txs[k].canon_len + 1 + txs[k].nsigs * sizeof(pc_txsig);
        if (k > 0 && (frame > max_wire || used > max_wire - frame))
            break;
        used += frame;
        k++;
    }
    return k;
}

void pc_proposal_free(pc_proposal *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->ntx; i++)
        pc_tx_free(&p->txs[i]);
    free(p->txs);
    free(p->header);
    memset(p, 0, sizeof *p);
}

typedef struct verify_job {
    pc_proposal *p;
    size_t from, to;
    size_t bad;
} verify_job;

static void *verify_range(void *arg)
{
    verify_job *j = arg;
    for (size_t i = j->from; i < j->to; i++)
        if (pc_tx_verify(&j->p->txs[i]) != PC_OK)
            j->bad++;
    return NULL;
}

size_t pc_proposal_verify_txs(pc_proposal *p, int threads)
{
    enum { MAX_THREADS = 16 };
    if (threads < 1)
        threads = 1;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if ((size_t)threads > p->ntx / 64 + 1)
        threads = (int)(p->ntx / 64 + 1); /* small blocks: not worth a thread */
    verify_job jobs[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    size_t per = (p->ntx + (size_t)threads - 1) / (size_t)threads;
    for (int t = 0; t < threads; t++) {
        jobs[t].p = p;
        jobs[t].from = (size_t)t * per;
        jobs[t].to = jobs[t].from + per > p->ntx ? p->ntx : jobs[t].from + per;
        if (jobs[t].from > p->ntx)
            jobs[t].from = p->ntx;
        jobs[t].bad = 0;
    }
    int started = 0;
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&tids[t], NULL, verify_range, &jobs[t]) != 0)
            break;
        started = t;
    }
    verify_range(&jobs[0]);
    for (int t = started + 1; t < threads; t++)
        verify_range(&jobs[t]); /* threads that failed to start: do it here */
    size_t bad = jobs[0].bad;
    for (int t = 1; t <= started; t++) {
        pthread_join(tids[t], NULL);
        bad += jobs[t].bad;
    }
    for (int t = started + 1; t < threads; t++)
        bad += jobs[t].bad;
    return bad;
}

/* One thread's share of pc_txs_parse_mt. */
typedef struct parse_job {
    const pc_tx_raw *raw;
    pc_tx *txs;
    size_t from, to;
    bool verify;
    int rc;          /* PC_OK, or the error of the first bad tx in the range */
    size_t bad;      /* its index */
    pc_error err;
} parse_job;

static void *parse_range(void *arg)
{
    parse_job *j = arg;
    j->rc = PC_OK;
    for (size_t i = j->from; i < j->to; i++) {
        const pc_tx_raw *r = &j->raw[i];
        pc_txsig sigs[PC_TX_MAX_SIGS];
        size_t ns = r->nsigs <= PC_TX_MAX_SIGS ? r->nsigs : 0;
        memcpy(sigs, r->sigs, ns * sizeof *sigs);
        int rc = pc_tx_parse_canon(r->canon, r->len, sigs, ns, &j->txs[i], &j->err);
        if (rc != PC_OK) {
            j->rc = rc;
            j->bad = i;
            return NULL; /* later ones do not matter: the lowest bad index is named */
        }
        if (j->verify && pc_tx_verify(&j->txs[i]) != PC_OK)
            continue; /* a bad one stays unchecked: apply gives its verdict */
    }
    return NULL;
}

int pc_txs_parse_mt(const pc_tx_raw *raw, size_t n, pc_tx *txs, int threads,
                    bool verify, size_t *bad, pc_error *err)
{
    enum { MAX_THREADS = 16 };
    if (threads < 1)
        threads = 1;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if ((size_t)threads > n / 32 + 1)
        threads = (int)(n / 32 + 1); /* small batches: not worth a thread */
    parse_job jobs[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    size_t per = (n + (size_t)threads - 1) / (size_t)threads;
    for (int t = 0; t < threads; t++) {
        size_t from = (size_t)t * per;
        jobs[t] = (parse_job){raw, txs, from > n ? n : from, from + per > n ? n : from + per,
                              verify, PC_OK, 0, {0, ""}};
    }
    int started = 0;
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&tids[t], NULL, parse_range, &jobs[t]) != 0)
            break;
        started = t;
    }
    parse_range(&jobs[0]);
    for (int t = started + 1; t < threads; t++)
        parse_range(&jobs[t]); /* threads that failed to start: done here */
    for (int t = 1; t <= started; t++)
        pthread_join(tids[t], NULL);
    for (int t = 0; t < threads; t++) {
        if (jobs[t].rc != PC_OK) { /* ranges are in order: the first failure is the lowest */
            *bad = jobs[t].bad;
            if (err != NULL)
                *err = jobs[t].err;
            return jobs[t].rc;
        }
    }
    return PC_OK;
}
