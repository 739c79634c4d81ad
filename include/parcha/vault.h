/* vault.db: this node's encrypted record contents and the record keys sealed
 * to the custodian hospital (DESIGN §7). Written before the record.add is
 * submitted, so no committed record lacks its content. Never replicated. */
#ifndef PARCHA_VAULT_H
#define PARCHA_VAULT_H

#include "parcha/common.h"
#include "parcha/crypto.h"

typedef struct pc_vault pc_vault;

int pc_vault_open(const char *path, pc_vault **out, pc_error *err) PC_MUST_USE;
void pc_vault_close(pc_vault *v);

/* Store a record's blob (nonce || ciphertext) and the record key sealed to the
 * custodian hospital. Re-putting identical bytes is a no-op; different bytes
 * under the same id is PC_EEXIST. Durable (fsync) when it returns. */
int pc_vault_put(pc_vault *v, const char *record_id, const char *custodian,
                 const uint8_t patient[32], const uint8_t *blob, size_t len,
                 const uint8_t sealed_custodian[PC_SEALED_KEY_LEN], pc_error *err)
    PC_MUST_USE;

/* Fetch; PC_ENOTFOUND if absent. blob receives the bytes. */
int pc_vault_get(pc_vault *v, const char *record_id, pc_buf *blob,
                 uint8_t sealed_custodian[PC_SEALED_KEY_LEN], char custodian[33],
                 pc_error *err) PC_MUST_USE;

/* Staff keystore (DESIGN §4): key files (keyfile.h JSON) by username. */
int pc_vault_keystore_put(pc_vault *v, const char *username, const char *hospital,
                          const char *keyfile_json, pc_error *err) PC_MUST_USE;
/* keyfile_json receives a malloc'd string. */
int pc_vault_keystore_get(pc_vault *v, const char *username, char **keyfile_json,
                          char hospital[33], pc_error *err) PC_MUST_USE;

#endif
