/* Transaction builders shared by the online commands and `parcha demo`: one
 * function per transaction type that assembles the body exactly as
 * docs/protocol.md has it, signs it with the given keys and returns the parsed
 * transaction. Nothing here talks to a node or a database, so the demo (which
 * applies blocks directly) and the commands (which POST to parchad) make
 * byte-for-byte the same kind of transactions. time_ms is the wall clock. */
#ifndef PARCHA_CLI_BUILD_H
#define PARCHA_CLI_BUILD_H

#include <stdbool.h>
#include <jansson.h>
#include "parcha/common.h"
#include "parcha/crypto.h"
#include "parcha/tx.h"

#define CLI_POLICY_EMERGENCY_MAX_HOURS 24
#define CLI_POLICY_CLOCK_WINDOW_MS 300000

/* A founding or admitted hospital. */
typedef struct cli_hospital {
    const char *id;
    const char *name;
    const char *endpoint;
    const uint8_t *key; /* 32-byte public key */
} cli_hospital;

/* network.genesis over n founders, signed by every founder (signers[i] holds
 * the secret key of founders[i]). */
int cli_build_genesis(const char *net, const cli_hospital *founders,
                      const pc_keypair *const *signers, size_t n,
                      int64_t emergency_max_hours, int64_t clock_window_ms,
                      int64_t time_ms, pc_tx *tx, pc_error *err) PC_MUST_USE;

/* hospital.admit of h, signed by the new hospital and the given members. */
int cli_build_hospital_admit(const char *net, const cli_hospital *h,
                             const pc_keypair *const *signers, size_t nsigners,
                             int64_t time_ms, pc_tx *tx, pc_error *err) PC_MUST_USE;
/* hospital.suspend, signed by the given members. */
int cli_build_hospital_suspend(const char *net, const char *id, const char *reason,
                               const pc_keypair *const *signers, size_t nsigners,
                               int64_t time_ms, pc_tx *tx, pc_error *err) PC_MUST_USE;

/* staff.enroll signed by the hospital key. role: doctor|nurse|clerk|admin. */
int cli_build_staff_enroll(const char *net, const char *hospital,
                           const pc_keypair *hospital_kp, const uint8_t staff_pk[32],
                           const char *name, const char *role, const char *regno,
                           int64_t time_ms, pc_tx *tx, pc_error *err) PC_MUST_USE;
int cli_build_staff_revoke(const char *net, const char *hospital,
                           const pc_keypair *hospital_kp, const uint8_t staff_pk[32],
                           const char *reason, int64_t time_ms, pc_tx *tx,
                           pc_error *err) PC_MUST_USE;

/* patient.register signed by the patient and a clerk (or admin). */
int cli_build_patient_register(const char *net, const pc_keypair *patient_kp,
                               const pc_keypair *clerk_kp, const char *hospital,
                               int64_t time_ms, pc_tx *tx, pc_error *err) PC_MUST_USE;

/* A new record ready to store and submit: the record.add transaction, the
 * encrypted blob (nonce || ciphertext) and the record key sealed to the
 * custodian hospital. Free with cli_record_free. */
typedef struct cli_record {
    pc_tx tx;
    pc_buf blob;
    uint8_t sealed_custodian[PC_SEALED_KEY_LEN];
    char id[65];
} cli_record;
void cli_record_free(cli_record *r);

/* The body of POST /v1/records for r: {"tx": <record.add in client form>,
 * "blob": <b64url>, "sealed_custodian": <b64url>} as compact JSON text
 * (malloc'd, *len set), or NULL when out of memory. */
char *cli_record_request_json(const cli_record *r, size_t *len);

/* A fresh random record id (22 base64url characters) into out[65]. */
void cli_record_id_new(char out[65]);

/* Encrypt the FHIR resource (serialised compactly) under a fresh record key
 * bound to record_id and the patient, seal the key to the patient and to the
 * custodian, and build record.add signed by the author (a doctor or nurse of
 * the custodian). hi_type and date (YYYY-MM-DD) are given by the caller (see
 * fhir.h for the defaults). The record key is wiped before returning. */
int cli_build_record(const char *net, const pc_keypair *author_kp,
                     const char *custodian, const uint8_t custodian_pk[32],
                     const uint8_t patient_pk[32], const char *record_id,
                     const char *hi_type, const char *date, const json_t *fhir,
                     int64_t time_ms, cli_record *out, pc_error *err) PC_MUST_USE;

/* consent.grant signed by the patient. Exactly one of to_hospital and
 * to_staff is non-NULL. hi_types is a JSON array of names or ["*"] (not
 * stolen). from/to are YYYY-MM-DD or NULL (open-ended). */
int cli_build_consent_grant(const char *net, const pc_keypair *patient_kp,
                            const char *to_hospital, const uint8_t *to_staff,
                            const json_t *hi_types, const char *from,
                            const char *to, int64_t expires_ms, const char *purpose,
                            int64_t time_ms, pc_tx *tx, pc_error *err) PC_MUST_USE;
/* consent.revoke of grant (txid bytes) signed by the patient. */
int cli_build_consent_revoke(const char *net, const pc_keypair *patient_kp,
                             const uint8_t grant[32], int64_t time_ms, pc_tx *tx,
                             pc_error *err) PC_MUST_USE;

/* emergency.open signed by the doctor, for hours (1..policy maximum). */
int cli_build_emergency_open(const char *net, const pc_keypair *doctor_kp,
                             const uint8_t patient_pk[32], const char *hospital,
                             const char *reason, int64_t hours, int64_t time_ms,
                             pc_tx *tx, pc_error *err) PC_MUST_USE;

/* access.log signed by the custodian hospital (the node writes these when it
 * serves content; the demo writes a few to show the audit trail). basis is
 * "patient", "custodian", "consent" or "emergency"; ref NULL or a txid. */
int cli_build_access_log(const char *net, const pc_keypair *custodian_kp,
                         const char *custodian, const uint8_t reader[32],
                         const uint8_t patient[32], const char *const *record_ids,
                         size_t nrecords, const char *basis, const uint8_t *ref,
                         int64_t time_ms, pc_tx *tx, pc_error *err) PC_MUST_USE;

#endif
