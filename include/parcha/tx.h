/* Transactions and proposals (docs/protocol.md): parsing and strict shape
 * checks, signing, the binary proposal wire format. Nothing here looks at
 * chain state; the rules live in ledger.h. */
#ifndef PARCHA_TX_H
#define PARCHA_TX_H

#include <stdbool.h>
#include <jansson.h>
#include "parcha/common.h"
#include "parcha/crypto.h"

#define PC_TX_MAX_SIGS 16
#define PC_TX_MAX_BYTES (64 * 1024) /* canonical size of one transaction */
#define PC_NET_MAX 64

typedef enum pc_tx_type {
    PC_TX_GENESIS = 1,
    PC_TX_HOSPITAL_ADMIT,
    PC_TX_HOSPITAL_SUSPEND,
    PC_TX_STAFF_ENROLL,
    PC_TX_STAFF_REVOKE,
    PC_TX_PATIENT_REGISTER,
    PC_TX_RECORD_ADD,
    PC_TX_CONSENT_GRANT,
    PC_TX_CONSENT_REVOKE,
    PC_TX_EMERGENCY_OPEN,
    PC_TX_ACCESS_LOG
} pc_tx_type;

/* "record.add" -> PC_TX_RECORD_ADD; 0 if unknown. And back (NULL if bad). */
pc_tx_type pc_tx_type_from_name(const char *name);
const char *pc_tx_type_name(pc_tx_type t);

typedef struct pc_txsig {
    uint8_t key[32];
    uint8_t sig[64];
} pc_txsig;

/* A parsed transaction. Owns obj, canon and nothing else. */
typedef struct pc_tx {
    uint8_t txid[32];
    pc_tx_type type;
    int64_t time;
    char net[PC_NET_MAX + 1];
    json_t *obj;          /* the parsed object (a reference we own; the client
                             form's still holds "sigs", which canon leaves out) */
    const json_t *body;   /* borrowed from obj */
    uint8_t *canon;       /* JCS of obj: the signed bytes after the tag */
    size_t canon_len;
    pc_txsig sigs[PC_TX_MAX_SIGS];
    size_t nsigs;
    bool sigs_checked;    /* set once every signature verified */
} pc_tx;

/* Parse a transaction as a client sends it (JSON text with "sigs"). Checks the
 * envelope and the body's shape for its type (field names, types, formats,
 * lengths); unknown fields are refused. Computes canon and txid. Does not
 * verify signatures. Errors name the field: "body.hi_type: unknown HI type
 * 'Prescriptions'". */
int pc_tx_parse_json(const char *text, size_t len, pc_tx *tx, pc_error *err)
    PC_MUST_USE;
/* Same from an already-parsed object (sigs included). Does not steal obj. */
int pc_tx_parse_obj(const json_t *obj, pc_tx *tx, pc_error *err) PC_MUST_USE;
/* Rebuild from stored/wire form: canonical bytes plus binary signatures. The
 * bytes are trusted to be the signed bytes (they are what the signatures
 * cover); the shape is checked again. */
int pc_tx_parse_canon(const uint8_t *canon, size_t len, const pc_txsig *sigs,
                      size_t nsigs, pc_tx *tx, pc_error *err) PC_MUST_USE;
/* Verify every signature over the tag + canon. PC_OK or PC_ECRYPTO. */
int pc_tx_verify(pc_tx *tx) PC_MUST_USE;
void pc_tx_free(pc_tx *tx);

/* True if key signed tx. */
bool pc_tx_signed_by(const pc_tx *tx, const uint8_t key[32]);

/* The full client form: canonical JSON with "sigs" (malloc'd, NUL-ended). */
char *pc_tx_to_json(const pc_tx *tx, size_t *len);

/* ---- building (CLI, demo, node's own access.log) ---- */

/* A new unsigned transaction object {v, net, type, time, nonce, body}. Steals
 * body. Returns NULL on ENOMEM. */
json_t *pc_tx_build(const char *net, const char *type, int64_t time_ms,
                    json_t *body);
/* Sign an unsigned object with each key and parse the result into tx. */
int pc_tx_sign(const json_t *unsigned_obj, const pc_keypair *const *keys,
               size_t nkeys, pc_tx *tx, pc_error *err) PC_MUST_USE;

/* ---- proposals ---- */

typedef struct pc_proposal {
    char net[PC_NET_MAX + 1];
    char proposer[33];
    uint64_t seq;
    int64_t time;
    uint8_t txroot[32];
    uint8_t hash[32];      /* SHA-256 of tag + header */
    uint8_t *header;       /* canonical header bytes (owned) */
    size_t header_len;
    uint8_t sig[64];
    pc_tx *txs;            /* owned array */
    size_t ntx;
} pc_proposal;

/* Build and sign a proposal over txs (whose ownership moves into p; the
 * caller's array is emptied). Computes txroot, header, hash and sig. */
int pc_proposal_make(pc_proposal *p, const char *net, const char *proposer,
                     uint64_t seq, int64_t time, pc_tx *txs, size_t ntx,
                     const pc_keypair *kp, pc_error *err) PC_MUST_USE;
/* Serialise to the binary wire form (docs/protocol.md). */
int pc_proposal_encode(const pc_proposal *p, pc_buf *out) PC_MUST_USE;
/* Parse the wire form: checks framing, header shape, tx shapes, recomputes
 * txids and txroot (PC_ECRYPTO on mismatch). Does not verify the proposer
 * signature or tx signatures (the ledger does, against state). */
int pc_proposal_decode(const uint8_t *data, size_t len, pc_proposal *p,
                       pc_error *err) PC_MUST_USE;
/* The same, with the transactions parsed on `threads` threads and, when
 * verify is true, their signatures checked in the same pass (each good one
 * marked sigs_checked; a bad signature is not an error here, apply gives its
 * verdict). Parsing is ~10 us per transaction, so a peer's 2,000-transaction
 * block is parsed in half the time on two cores. */
int pc_proposal_decode_mt(const uint8_t *data, size_t len, pc_proposal *p,
                          int threads, bool verify, pc_error *err) PC_MUST_USE;
void pc_proposal_free(pc_proposal *p);

/* How many of txs[0..n) (at least 1 when n > 0) fit, in order, in a
 * proposal whose wire form is at most max_wire bytes (the header is counted
 * at its largest). The node cuts batches with it below etcd's request limit. */
size_t pc_proposal_fit(const pc_tx *txs, size_t n, size_t max_wire);

/* Verify every not-yet-checked transaction signature in p, spreading the work
 * over `threads` threads (1 = inline). Marks tx.sigs_checked; returns the
 * number of transactions with a bad signature. */
size_t pc_proposal_verify_txs(pc_proposal *p, int threads);

/* A transaction in stored or wire form, not yet parsed: its canonical bytes
 * and nsigs packed signatures (32-byte key then 64-byte signature each). */
typedef struct pc_tx_raw {
    const uint8_t *canon;
    size_t len;
    const uint8_t *sigs;
    size_t nsigs;
} pc_tx_raw;

/* Parse raw[0..n) into txs[0..n) (zeroed by the caller) on `threads`
 * threads, checking signatures too when verify is true (as
 * pc_proposal_decode_mt). On a parse failure returns the error of the
 * lowest-numbered bad transaction with *bad set to its index; txs may then
 * hold parsed entries, which pc_tx_free releases (unparsed ones are zero). */
int pc_txs_parse_mt(const pc_tx_raw *raw, size_t n, pc_tx *txs, int threads,
                    bool verify, size_t *bad, pc_error *err) PC_MUST_USE;

#endif
