/* Signed checkpoints (checkpoint.h): a consistent snapshot of ledger.db's head
 * and state digest taken inside one read transaction, and the signature over
 * it. The snapshot half lives in the store because it needs the handle's
 * SQLite connection to open the read transaction; the query functions it
 * calls (pc_ledger_head, pc_ledger_state_digest) run on that connection and
 * therefore inside the transaction. */
#include "parcha/checkpoint.h"

#include <stdio.h>
#include <string.h>

#include "parcha/encode.h"
#include "parcha/jcs.h"
#include "store/ledger_internal.h"

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                 */
/* ------------------------------------------------------------------------ */

int pc_checkpoint_pin(pc_ledger *l, pc_head *head, pc_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(l->db, "BEGIN", NULL, NULL, &msg) != SQLITE_OK) {
        int rc = pc_error_set(err, PC_EIO, "cannot begin a read of ledger.db: %s",
                              msg != NULL ? msg : sqlite3_errmsg(l->db));
        sqlite3_free(msg);
        return rc;
    }
    /* A deferred transaction takes its snapshot at the first read: this one. */
    int rc = pc_ledger_head(l, head, err);
    if (rc != PC_OK) {
        pc_checkpoint_unpin(l);
        return rc;
    }
    if (!head->has_genesis) {
        pc_checkpoint_unpin(l);
        return pc_error_set(err, PC_ENOTFOUND, "ledger.db holds no block yet");
    }
    return PC_OK;
}

void pc_checkpoint_unpin(pc_ledger *l)
{
    if (!sqlite3_get_autocommit(l->db))
        sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL);
    if (!sqlite3_get_autocommit(l->db)) /* COMMIT refused: drop it */
        sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
}

int pc_checkpoint_digest(pc_ledger *l, uint8_t state[32], pc_error *err)
{
    int rc = pc_ledger_state_digest(l, state, err);
    pc_checkpoint_unpin(l);
    return rc;
}

int pc_checkpoint_snapshot(pc_ledger *l, pc_head *head, uint8_t state[32], pc_error *err)
{
    int rc = pc_checkpoint_pin(l, head, err);
    if (rc != PC_OK)
        return rc;
    return pc_checkpoint_digest(l, state, err);
}

/* ------------------------------------------------------------------------ */
/* Signing                                                                   */
/* ------------------------------------------------------------------------ */

/* The signed object without sig (new reference or NULL). */
static json_t *unsigned_obj(const pc_checkpoint *cp)
{
    char head[65], state[65];
    pc_hex_encode_public(head, sizeof head, cp->head, 32);
    pc_hex_encode_public(state, sizeof state, cp->state, 32);
    return json_pack("{s:i,s:s,s:s,s:I,s:s,s:s,s:I}", "v", PC_CHECKPOINT_VERSION, "net", cp->net, "hospital",
                     cp->hospital, "height", (json_int_t)cp->height, "head", head, "state",
                     state, "time", (json_int_t)cp->time);
}

int pc_checkpoint_canon(const pc_checkpoint *cp, pc_buf *out, pc_error *err)
{
    if (cp->height > (uint64_t)PC_JCS_MAX_INT || cp->time < 0 || cp->time > PC_JCS_MAX_INT)
        return pc_error_set(err, PC_EINVAL, "checkpoint height or time out of range");
    json_t *o = unsigned_obj(cp);
    if (o == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    int rc = pc_jcs_dump(o, out, err);
    json_decref(o);
    return rc;
}

int pc_checkpoint_sign(pc_checkpoint *cp, const pc_keypair *kp, pc_error *err)
{
    pc_buf b;
    pc_buf_init(&b);
    int rc = pc_checkpoint_canon(cp, &b, err);
    if (rc == PC_OK && pc_sign(kp, PC_DOMAIN_CHECKPOINT, b.data, b.len, cp->sig) != PC_OK)
        rc = pc_error_set(err, PC_ECRYPTO, "signing the checkpoint failed");
    pc_buf_free(&b);
    return rc;
}

int pc_checkpoint_verify(const pc_checkpoint *cp, const uint8_t pk[32], pc_error *err)
{
    pc_buf b;
    pc_buf_init(&b);
    int rc = pc_checkpoint_canon(cp, &b, err);
    if (rc == PC_OK && pc_verify(pk, PC_DOMAIN_CHECKPOINT, b.data, b.len, cp->sig) != PC_OK)
        rc = pc_error_set(err, PC_ECRYPTO,
                          "the signature on %s's checkpoint at height %llu does not verify with "
                          "the hospital's key",
                          cp->hospital, (unsigned long long)cp->height);
    pc_buf_free(&b);
    return rc;
}

json_t *pc_checkpoint_to_json(const pc_checkpoint *cp)
{
    json_t *o = unsigned_obj(cp);
    char sig[128];
    pc_b64_encode_public(sig, sizeof sig, cp->sig, 64);
    if (o != NULL && json_object_set_new(o, "sig", json_string(sig)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* An integer member in [0, 2^53]; false otherwise. */
static bool get_uint(const json_t *o, const char *name, int64_t *out)
{
    const json_t *v = json_object_get(o, name);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > PC_JCS_MAX_INT)
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

int pc_checkpoint_from_json(const json_t *obj, pc_checkpoint *cp, pc_error *err)
{
    static const char *const KNOWN[] = {"v", "net", "hospital", "height", "head",
                                        "state", "time", "sig", NULL};
    memset(cp, 0, sizeof *cp);
    if (!json_is_object(obj))
        return pc_error_set(err, PC_EINVAL, "a checkpoint must be a JSON object");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        size_t i = 0;
        while (KNOWN[i] != NULL && strcmp(KNOWN[i], k) != 0)
            i++;
        if (KNOWN[i] == NULL)
            return pc_error_set(err, PC_EINVAL, "checkpoint.%.40s: unknown field", k);
    }
    int64_t ver = 0, height = 0, time = 0;
    if (!get_uint(obj, "v", &ver))
        return pc_error_set(err, PC_EINVAL, "checkpoint.v must be %d", PC_CHECKPOINT_VERSION);
    if (ver == 1)
        return pc_error_set(err, PC_EINVAL, "checkpoint.v is 1: signed by an older parcha whose state "
                                            "digest is not comparable with this one; upgrade that node");
    if (ver != PC_CHECKPOINT_VERSION)
        return pc_error_set(err, PC_EINVAL, "checkpoint.v must be %d", PC_CHECKPOINT_VERSION);
    if (!get_uint(obj, "height", &height))
        return pc_error_set(err, PC_EINVAL, "checkpoint.height must be a non-negative integer");
    if (!get_uint(obj, "time", &time))
        return pc_error_set(err, PC_EINVAL, "checkpoint.time must be a non-negative integer (ms)");
    const char *net = json_string_value(json_object_get(obj, "net"));
    const char *hosp = json_string_value(json_object_get(obj, "hospital"));
    const char *head = json_string_value(json_object_get(obj, "head"));
    const char *state = json_string_value(json_object_get(obj, "state"));
    const char *sig = json_string_value(json_object_get(obj, "sig"));
    if (net == NULL || strlen(net) == 0 || strlen(net) > PC_NET_MAX)
        return pc_error_set(err, PC_EINVAL, "checkpoint.net must be a network id");
    if (hosp == NULL || strlen(hosp) < 2 || strlen(hosp) > 32)
        return pc_error_set(err, PC_EINVAL, "checkpoint.hospital must be a hospital id");
    if (head == NULL || strlen(head) != 64 || pc_hex_decode_exact(cp->head, 32, head) != 0)
        return pc_error_set(err, PC_EINVAL, "checkpoint.head must be 64 hex characters");
    if (state == NULL || strlen(state) != 64 || pc_hex_decode_exact(cp->state, 32, state) != 0)
        return pc_error_set(err, PC_EINVAL, "checkpoint.state must be 64 hex characters");
    if (sig == NULL || pc_b64_decode_exact_public(cp->sig, 64, sig) != 0)
        return pc_error_set(err, PC_EINVAL, "checkpoint.sig must be base64url of 64 bytes");
    snprintf(cp->net, sizeof cp->net, "%s", net);
    snprintf(cp->hospital, sizeof cp->hospital, "%s", hosp);
    cp->height = (uint64_t)height;
    cp->time = time;
    return PC_OK;
}
