/* vault.db: encrypted record contents held by this node's hospitals, the
 * record keys sealed to the custodian, and the staff keystore. Never
 * replicated; backed up with the node (docs/operations.md). Each put is its
 * own fsynced SQLite transaction, because a record's content must be durable
 * before its record.add is submitted. */
#include "parcha/vault.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

struct pc_vault {
    sqlite3 *db;
};

static const char VAULT_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS records("
    " id TEXT PRIMARY KEY, custodian TEXT NOT NULL, patient BLOB NOT NULL,"
    " blob BLOB NOT NULL, sealed_custodian BLOB NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS keystore("
    " username TEXT PRIMARY KEY, hospital TEXT NOT NULL, keyfile TEXT NOT NULL,"
    " created INTEGER NOT NULL);";

static int vault_error(pc_vault *v, pc_error *err, const char *what)
{
    return pc_error_set(err, PC_EIO, "vault: %s: %s", what, sqlite3_errmsg(v->db));
}

int pc_vault_open(const char *path, pc_vault **out, pc_error *err)
{
    *out = NULL;
    pc_vault *v = calloc(1, sizeof *v);
    if (v == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    /* FULLMUTEX: the HTTP threads share one vault handle. */
    if (sqlite3_open_v2(path, &v->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                          SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        int rc = pc_error_set(err, PC_EIO, "cannot open vault %s: %s", path,
                              v->db ? sqlite3_errmsg(v->db) : "out of memory");
        pc_vault_close(v);
        return rc;
    }
    sqlite3_busy_timeout(v->db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(v->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                     &msg) != SQLITE_OK ||
        sqlite3_exec(v->db, VAULT_SCHEMA, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = pc_error_set(err, PC_EIO, "cannot prepare vault %s: %s", path,
                              msg ? msg : "unknown error");
        sqlite3_free(msg);
        pc_vault_close(v);
        return rc;
    }
    *out = v;
    return PC_OK;
}

void pc_vault_close(pc_vault *v)
{
    if (v == NULL)
        return;
    sqlite3_close(v->db);
    free(v);
}

int pc_vault_put(pc_vault *v, const char *record_id, const char *custodian,
                 const uint8_t patient[32], const uint8_t *blob, size_t len,
                 const uint8_t sealed_custodian[PC_SEALED_KEY_LEN], pc_error *err)
{
    if (len == 0 || len > 64u * 1024 * 1024)
        return pc_error_set(err, PC_ETOOBIG, "record content must be 1 byte to 64 MiB");
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(v->db, "SELECT blob, sealed_custodian, custodian, patient FROM records WHERE id = ?",
                           -1, &s, NULL) != SQLITE_OK)
        return vault_error(v, err, "preparing a lookup");
    sqlite3_bind_text(s, 1, record_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        int same = (size_t)sqlite3_column_bytes(s, 0) == len &&
                   memcmp(sqlite3_column_blob(s, 0), blob, len) == 0 &&
                   sqlite3_column_bytes(s, 1) == PC_SEALED_KEY_LEN &&
                   memcmp(sqlite3_column_blob(s, 1), sealed_custodian, PC_SEALED_KEY_LEN) == 0 &&
                   strcmp((const char *)sqlite3_column_text(s, 2), custodian) == 0 &&
                   sqlite3_column_bytes(s, 3) == 32 &&
                   memcmp(sqlite3_column_blob(s, 3), patient, 32) == 0;
        sqlite3_finalize(s);
        return same ? PC_OK
                    : pc_error_set(err, PC_EEXIST, "record %s already holds different content", record_id);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return vault_error(v, err, "looking up a record");
    if (sqlite3_prepare_v2(v->db, "INSERT INTO records(id, custodian, patient, blob, sealed_custodian,"
                                  " created) VALUES (?,?,?,?,?,strftime('%s','now'))",
                           -1, &s, NULL) != SQLITE_OK)
        return vault_error(v, err, "preparing an insert");
    sqlite3_bind_text(s, 1, record_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, custodian, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, patient, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, blob, (int)len, SQLITE_STATIC);
    sqlite3_bind_blob(s, 5, sealed_custodian, PC_SEALED_KEY_LEN, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_CONSTRAINT)
        return pc_error_set(err, PC_EEXIST, "record %s already exists", record_id);
    return rc == SQLITE_DONE ? PC_OK : vault_error(v, err, "storing a record");
}

int pc_vault_get(pc_vault *v, const char *record_id, pc_buf *blob,
                 uint8_t sealed_custodian[PC_SEALED_KEY_LEN], char custodian[33],
                 pc_error *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(v->db, "SELECT blob, sealed_custodian, custodian FROM records WHERE id = ?",
                           -1, &s, NULL) != SQLITE_OK)
        return vault_error(v, err, "preparing a lookup");
    sqlite3_bind_text(s, 1, record_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_bytes(s, 1) != PC_SEALED_KEY_LEN) {
            sqlite3_finalize(s);
            return pc_error_set(err, PC_ESTATE, "vault entry for %s is corrupt", record_id);
        }
        memcpy(sealed_custodian, sqlite3_column_blob(s, 1), PC_SEALED_KEY_LEN);
        snprintf(custodian, 33, "%s", (const char *)sqlite3_column_text(s, 2));
        rc = pc_buf_append(blob, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
        sqlite3_finalize(s);
        return rc == PC_OK ? PC_OK : pc_error_set(err, PC_ENOMEM, "out of memory");
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE)
        return pc_error_set(err, PC_ENOTFOUND, "this node holds no content for record %s", record_id);
    return vault_error(v, err, "reading a record");
}

int pc_vault_keystore_put(pc_vault *v, const char *username, const char *hospital,
                          const char *keyfile_json, pc_error *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(v->db, "INSERT OR REPLACE INTO keystore(username, hospital, keyfile, created)"
                                  " VALUES (?,?,?,strftime('%s','now'))", -1, &s, NULL) != SQLITE_OK)
        return vault_error(v, err, "preparing a keystore write");
    sqlite3_bind_text(s, 1, username, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, hospital, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, keyfile_json, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? PC_OK : vault_error(v, err, "writing the keystore");
}

int pc_vault_keystore_get(pc_vault *v, const char *username, char **keyfile_json,
                          char hospital[33], pc_error *err)
{
    *keyfile_json = NULL;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(v->db, "SELECT keyfile, hospital FROM keystore WHERE username = ?",
                           -1, &s, NULL) != SQLITE_OK)
        return vault_error(v, err, "preparing a keystore read");
    sqlite3_bind_text(s, 1, username, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *keyfile_json = strdup((const char *)sqlite3_column_text(s, 0));
        snprintf(hospital, 33, "%s", (const char *)sqlite3_column_text(s, 1));
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE)
        return pc_error_set(err, PC_ENOTFOUND, "no such user");
    if (rc != SQLITE_ROW)
        return vault_error(v, err, "reading the keystore");
    return *keyfile_json ? PC_OK : pc_error_set(err, PC_ENOMEM, "out of memory");
}
