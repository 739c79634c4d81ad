/* Signed checkpoints (DESIGN §6, docs/cluster.md): a hospital's node states,
 * under its hospital key, which block it has at a height and what its whole
 * replicated state hashes to there. Nodes publish them; `parcha audit`
 * compares the checkpoints of every node at common heights and raises an
 * alarm on any difference.
 *
 * Signed bytes: "parcha/checkpoint/v1" 0x00 followed by the RFC 8785 (JCS)
 * form of {v:2, net, hospital, height, head, state, time} (head and state as
 * lowercase hex, time in ms since the epoch). On the wire a checkpoint is
 * that object with one more member, "sig" (base64url of the 64-byte Ed25519
 * signature). v:2 says `state` is pc_ledger_state_digest's BLAKE2b-256; v:1
 * checkpoints (SHA-256 digests of older nodes) are refused as not comparable.
 *
 * The snapshot functions read ledger.db inside one SQLite read transaction,
 * so the head and the state digest always describe the same block even while
 * the writer goes on applying blocks. */
#ifndef PARCHA_CHECKPOINT_H
#define PARCHA_CHECKPOINT_H

#include <stdbool.h>
#include <jansson.h>
#include "parcha/common.h"
#include "parcha/crypto.h"
#include "parcha/ledger.h"
#include "parcha/tx.h"

#define PC_CHECKPOINT_VERSION 2

typedef struct pc_checkpoint {
    char net[PC_NET_MAX + 1];
    char hospital[33];
    uint64_t height;
    uint8_t head[32];  /* hash of the block at height */
    uint8_t state[32]; /* pc_ledger_state_digest at that block */
    int64_t time;      /* wall clock of the signer when taken (ms) */
    uint8_t sig[64];
} pc_checkpoint;

/* ---- consistent snapshots of ledger.db ---- */

/* Begin a read transaction on l (a handle no other thread uses meanwhile)
 * and read the head inside it: from here until pc_checkpoint_digest or
 * pc_checkpoint_unpin, l sees ledger.db exactly as of that head. PC_OK, or
 * PC_EIO with err set (nothing left open). */
int pc_checkpoint_pin(pc_ledger *l, pc_head *head, pc_error *err) PC_MUST_USE;

/* Hash the state inside the transaction opened by pc_checkpoint_pin, then
 * end it (always, also on error). */
int pc_checkpoint_digest(pc_ledger *l, uint8_t state[32], pc_error *err)
    PC_MUST_USE;

/* End a pinned read transaction without hashing. */
void pc_checkpoint_unpin(pc_ledger *l);

/* Pin, digest and unpin in one call. */
int pc_checkpoint_snapshot(pc_ledger *l, pc_head *head, uint8_t state[32],
                           pc_error *err) PC_MUST_USE;

/* ---- signing and checking ---- */

/* The signed bytes' JSON part (canonical, without sig) into out. */
int pc_checkpoint_canon(const pc_checkpoint *cp, pc_buf *out, pc_error *err)
    PC_MUST_USE;

/* Fill cp->sig with the hospital key's signature. */
int pc_checkpoint_sign(pc_checkpoint *cp, const pc_keypair *kp, pc_error *err)
    PC_MUST_USE;

/* PC_OK if cp->sig is pk's signature over cp, else PC_ECRYPTO. */
int pc_checkpoint_verify(const pc_checkpoint *cp, const uint8_t pk[32],
                         pc_error *err) PC_MUST_USE;

/* The wire object {v, net, hospital, height, head, state, time, sig} (new
 * reference, NULL on out of memory). */
json_t *pc_checkpoint_to_json(const pc_checkpoint *cp);

/* Parse the wire object strictly (every member present with its type and
 * format, no other member). Does not verify the signature. */
int pc_checkpoint_from_json(const json_t *obj, pc_checkpoint *cp, pc_error *err)
    PC_MUST_USE;

#endif
