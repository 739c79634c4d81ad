/* Builders for every transaction the CLI and the demo make. Each assembles a
 * body with exactly the fields docs/protocol.md lists, wraps it with
 * pc_tx_build (which adds v, net, type, time and a random nonce) and signs it
 * with pc_tx_sign, so the shape checks of tx.c run on everything we make
 * before it leaves the process. */
#include "cli/build.h"

#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "parcha/encode.h"

/* Wrap body (stolen) in a transaction of type and sign it with keys. */
static int finish(const char *net, const char *type, int64_t time_ms, json_t *body,
                  const pc_keypair *const *keys, size_t nkeys, pc_tx *tx,
                  pc_error *err)
{
    memset(tx, 0, sizeof *tx);
    if (body == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory building %s", type);
    json_t *obj = pc_tx_build(net, type, time_ms, body);
    if (obj == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory building %s", type);
    int rc = pc_tx_sign(obj, keys, nkeys, tx, err);
    json_decref(obj);
    return rc;
}

/* base64url of a 32-byte key into out[44]. */
static const char *b64key(char out[48], const uint8_t key[32])
{
    return pc_b64_encode(out, 48, key, 32);
}

/* {id, name, key, endpoint} of one hospital. */
static json_t *hospital_obj(const cli_hospital *h)
{
    char k[48];
    return json_pack("{s:s,s:s,s:s,s:s}", "id", h->id, "name", h->name, "key",
                     b64key(k, h->key), "endpoint", h->endpoint);
}

int cli_build_genesis(const char *net, const cli_hospital *founders,
                      const pc_keypair *const *signers, size_t n,
                      int64_t emergency_max_hours, int64_t clock_window_ms,
                      int64_t time_ms, pc_tx *tx, pc_error *err)
{
    memset(tx, 0, sizeof *tx);
    if (n == 0 || n > PC_TX_MAX_SIGS)
        return pc_error_set(err, PC_EINVAL, "a network needs 1 to %d founding hospitals",
                            PC_TX_MAX_SIGS);
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < n; i++) {
        if (json_array_append_new(list, hospital_obj(&founders[i])) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    if (list == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory building network.genesis");
    json_t *body = json_pack("{s:s,s:o,s:{s:I,s:I}}", "name", net, "hospitals", list,
                             "policy", "emergency_max_hours",
                             (json_int_t)emergency_max_hours, "clock_window_ms",
                             (json_int_t)clock_window_ms);
    return finish(net, "network.genesis", time_ms, body, signers, n, tx, err);
}

int cli_build_hospital_admit(const char *net, const cli_hospital *h,
                             const pc_keypair *const *signers, size_t nsigners,
                             int64_t time_ms, pc_tx *tx, pc_error *err)
{
    return finish(net, "hospital.admit", time_ms, hospital_obj(h), signers, nsigners,
                  tx, err);
}

int cli_build_hospital_suspend(const char *net, const char *id, const char *reason,
                               const pc_keypair *const *signers, size_t nsigners,
                               int64_t time_ms, pc_tx *tx, pc_error *err)
{
    json_t *body = json_pack("{s:s,s:s}", "id", id, "reason", reason);
    return finish(net, "hospital.suspend", time_ms, body, signers, nsigners, tx, err);
}

int cli_build_staff_enroll(const char *net, const char *hospital,
                           const pc_keypair *hospital_kp, const uint8_t staff_pk[32],
                           const char *name, const char *role, const char *regno,
                           int64_t time_ms, pc_tx *tx, pc_error *err)
{
    char k[48];
    json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:s}", "hospital", hospital, "key",
                             b64key(k, staff_pk), "name", name, "role", role, "regno",
                             regno);
    const pc_keypair *keys[1] = {hospital_kp};
    return finish(net, "staff.enroll", time_ms, body, keys, 1, tx, err);
}

int cli_build_staff_revoke(const char *net, const char *hospital,
                           const pc_keypair *hospital_kp, const uint8_t staff_pk[32],
                           const char *reason, int64_t time_ms, pc_tx *tx,
                           pc_error *err)
{
    char k[48];
    json_t *body = json_pack("{s:s,s:s,s:s}", "hospital", hospital, "key",
                             b64key(k, staff_pk), "reason", reason);
    const pc_keypair *keys[1] = {hospital_kp};
    return finish(net, "staff.revoke", time_ms, body, keys, 1, tx, err);
}

int cli_build_patient_register(const char *net, const pc_keypair *patient_kp,
                               const pc_keypair *clerk_kp, const char *hospital,
                               int64_t time_ms, pc_tx *tx, pc_error *err)
{
    char k[48];
    json_t *body = json_pack("{s:s,s:s}", "key", b64key(k, patient_kp->pk),
                             "hospital", hospital);
    const pc_keypair *keys[2] = {patient_kp, clerk_kp};
    return finish(net, "patient.register", time_ms, body, keys, 2, tx, err);
}

void cli_record_free(cli_record *r)
{
    pc_tx_free(&r->tx);
    pc_buf_free(&r->blob);
    sodium_memzero(r->sealed_custodian, sizeof r->sealed_custodian);
}

void cli_record_id_new(char out[65])
{
    uint8_t raw[16];
    pc_random(raw, sizeof raw);
    pc_b64_encode(out, 65, raw, sizeof raw);
}

int cli_build_record(const char *net, const pc_keypair *author_kp,
                     const char *custodian, const uint8_t custodian_pk[32],
                     const uint8_t patient_pk[32], const char *record_id,
                     const char *hi_type, const char *date, const json_t *fhir,
                     int64_t time_ms, cli_record *out, pc_error *err)
{
    uint8_t key[32];
    uint8_t sealed_patient[PC_SEALED_KEY_LEN];
    uint8_t hash[32];
    char *plain = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    pc_buf_init(&out->blob);
    size_t idlen = strlen(record_id);
    if (idlen == 0 || idlen >= sizeof out->id)
        return pc_error_set(err, PC_EINVAL, "record id must be 1 to 64 characters");
    memcpy(out->id, record_id, idlen + 1);
    const char *rtype = json_string_value(json_object_get(fhir, "resourceType"));
    if (rtype == NULL)
        return pc_error_set(err, PC_EINVAL, "the FHIR resource has no resourceType");
    /* Ten significant digits print lab values as written (5.6, not 5.59999...). */
    plain = json_dumps(fhir, JSON_COMPACT | JSON_REAL_PRECISION(10));
    if (plain == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory serialising the record");
    size_t plainlen = strlen(plain);
    rc = pc_record_encrypt((const uint8_t *)plain, plainlen, record_id, patient_pk,
                           key, &out->blob);
    sodium_memzero(plain, plainlen);
    free(plain);
    if (rc != PC_OK) {
        rc = pc_error_set(err, PC_ECRYPTO, "could not encrypt the record");
        goto out;
    }
    if (pc_seal_key(key, patient_pk, sealed_patient) != PC_OK ||
        pc_seal_key(key, custodian_pk, out->sealed_custodian) != PC_OK) {
        rc = pc_error_set(err, PC_ECRYPTO, "could not seal the record key");
        goto out;
    }
    pc_sha256(hash, out->blob.data, out->blob.len);
    char hashhex[65], sealed[112];
    pc_hex_encode(hashhex, sizeof hashhex, hash, 32);
    pc_b64_encode(sealed, sizeof sealed, sealed_patient, sizeof sealed_patient);
    char pk[48];
    json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s}", "id", record_id,
                             "patient", b64key(pk, patient_pk), "hi_type", hi_type,
                             "date", date, "hash", hashhex, "size",
                             (json_int_t)out->blob.len, "custodian", custodian,
                             "sealed_key", sealed, "fhir", rtype);
    const pc_keypair *keys[1] = {author_kp};
    rc = finish(net, "record.add", time_ms, body, keys, 1, &out->tx, err);
out:
    sodium_memzero(key, sizeof key);
    if (rc != PC_OK)
        cli_record_free(out);
    return rc;
}

int cli_build_consent_grant(const char *net, const pc_keypair *patient_kp,
                            const char *to_hospital, const uint8_t *to_staff,
                            const json_t *hi_types, const char *from,
                            const char *to, int64_t expires_ms, const char *purpose,
                            int64_t time_ms, pc_tx *tx, pc_error *err)
{
    char pk[48], sk[48];
    memset(tx, 0, sizeof *tx);
    if ((to_hospital == NULL) == (to_staff == NULL))
        return pc_error_set(err, PC_EINVAL, "give exactly one grantee: a hospital or a staff key");
    json_t *grantee = to_hospital != NULL
                          ? json_pack("{s:s}", "hospital", to_hospital)
                          : json_pack("{s:s}", "staff", b64key(sk, to_staff));
    json_t *types = json_deep_copy(hi_types);
    json_t *body = json_pack("{s:s,s:o,s:o,s:o,s:o,s:I,s:s}", "patient",
                             b64key(pk, patient_kp->pk), "grantee", grantee,
                             "hi_types", types, "from",
                             from != NULL ? json_string(from) : json_null(), "to",
                             to != NULL ? json_string(to) : json_null(), "expires",
                             (json_int_t)expires_ms, "purpose", purpose);
    const pc_keypair *keys[1] = {patient_kp};
    return finish(net, "consent.grant", time_ms, body, keys, 1, tx, err);
}

int cli_build_consent_revoke(const char *net, const pc_keypair *patient_kp,
                             const uint8_t grant[32], int64_t time_ms, pc_tx *tx,
                             pc_error *err)
{
    char pk[48], g[65];
    json_t *body = json_pack("{s:s,s:s}", "patient", b64key(pk, patient_kp->pk),
                             "grant", pc_hex_encode(g, sizeof g, grant, 32));
    const pc_keypair *keys[1] = {patient_kp};
    return finish(net, "consent.revoke", time_ms, body, keys, 1, tx, err);
}

int cli_build_emergency_open(const char *net, const pc_keypair *doctor_kp,
                             const uint8_t patient_pk[32], const char *hospital,
                             const char *reason, int64_t hours, int64_t time_ms,
                             pc_tx *tx, pc_error *err)
{
    char pk[48];
    json_t *body = json_pack("{s:s,s:s,s:s,s:I}", "patient", b64key(pk, patient_pk),
                             "hospital", hospital, "reason", reason, "hours",
                             (json_int_t)hours);
    const pc_keypair *keys[1] = {doctor_kp};
    return finish(net, "emergency.open", time_ms, body, keys, 1, tx, err);
}

int cli_build_access_log(const char *net, const pc_keypair *custodian_kp,
                         const char *custodian, const uint8_t reader[32],
                         const uint8_t patient[32], const char *const *record_ids,
                         size_t nrecords, const char *basis, const uint8_t *ref,
                         int64_t time_ms, pc_tx *tx, pc_error *err)
{
    char rk[48], pk[48], refhex[65];
    memset(tx, 0, sizeof *tx);
    json_t *ids = json_array();
    for (size_t i = 0; ids != NULL && i < nrecords; i++) {
        if (json_array_append_new(ids, json_string(record_ids[i])) != 0) {
            json_decref(ids);
            ids = NULL;
        }
    }
    if (ids == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory building access.log");
    json_t *body = json_pack(
        "{s:s,s:s,s:s,s:o,s:s,s:o}", "custodian", custodian, "reader", b64key(rk, reader),
        "patient", b64key(pk, patient), "records", ids, "basis", basis, "ref",
        ref != NULL ? json_string(pc_hex_encode(refhex, sizeof refhex, ref, 32))
                    : json_null());
    const pc_keypair *keys[1] = {custodian_kp};
    return finish(net, "access.log", time_ms, body, keys, 1, tx, err);
}

char *cli_record_request_json(const cli_record *r, size_t *len)
{
    size_t txlen = 0;
    char *txt = pc_tx_to_json(&r->tx, &txlen);
    char *blob = pc_b64_dup(r->blob.data, r->blob.len);
    char sealed[112];
    json_t *txobj = NULL, *body = NULL;
    char *text = NULL;
    if (txt != NULL && blob != NULL) {
        json_error_t je;
        txobj = json_loadb(txt, txlen, 0, &je);
        pc_b64_encode(sealed, sizeof sealed, r->sealed_custodian, PC_SEALED_KEY_LEN);
        body = txobj != NULL ? json_pack("{s:O,s:s,s:s}", "tx", txobj, "blob", blob,
                                         "sealed_custodian", sealed)
                             : NULL;
        text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    }
    if (text != NULL && len != NULL)
        *len = strlen(text);
    free(txt);
    free(blob);
    json_decref(txobj);
    json_decref(body);
    return text;
}
