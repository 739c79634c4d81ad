/* The ledger: ledger.db (blocks, transactions with verdicts, replicated
 * state) and apply(proposal) -> block, the one deterministic state machine of
 * DESIGN §4–7. Apply runs inside one SQLite transaction per block that also
 * records the applied position, so a crash never half-applies a block.
 *
 * Threads: one pc_ledger handle per thread. One writer applies blocks; any
 * number of reader handles answer queries (SQLite WAL). */
#ifndef PARCHA_LEDGER_H
#define PARCHA_LEDGER_H

#include <stdbool.h>
#include <jansson.h>
#include "parcha/access.h"
#include "parcha/common.h"
#include "parcha/tx.h"

typedef struct pc_ledger pc_ledger;

typedef enum pc_verdict {
    PC_V_OK = 0,
    PC_V_BAD_SIGNATURE,
    PC_V_DUPLICATE,
    PC_V_WRONG_NETWORK,
    PC_V_TIME_WINDOW,
    PC_V_MALFORMED,
    PC_V_UNKNOWN_SIGNER,
    PC_V_NOT_AUTHORISED,
    PC_V_HOSPITAL_INACTIVE,
    PC_V_STAFF_INACTIVE,
    PC_V_UNKNOWN_PATIENT,
    PC_V_UNKNOWN_HOSPITAL,
    PC_V_UNKNOWN_STAFF,
    PC_V_ALREADY_EXISTS,
    PC_V_UNKNOWN_GRANT,
    PC_V_NOT_OWNER,
    PC_V_ALREADY_REVOKED,
    PC_V_EXPIRED,
    PC_V_TOO_LONG,
    PC_V_GENESIS_ONLY,
    PC_V_NO_MAJORITY,
    PC_V_UNKNOWN_RECORD,
    PC_V_COUNT
} pc_verdict;

/* "ok", "bad_signature", ... (docs/protocol.md). */
const char *pc_verdict_name(int v);

typedef struct pc_policy {
    int64_t emergency_max_hours;
    int64_t clock_window_ms;
} pc_policy;

typedef struct pc_head {
    bool has_genesis;
    char net[PC_NET_MAX + 1];
    uint64_t height;     /* height of the last block (0 = genesis only) */
    uint8_t hash[32];    /* its hash */
    int64_t time;        /* its time */
    uint64_t pos;        /* last applied orderer position */
    uint64_t ntx;        /* transactions stored */
} pc_head;

/* What applying one proposal produced. */
typedef struct pc_block_result {
    uint64_t height;
    uint8_t hash[32];
    int64_t time;
    size_t ntx;
    uint8_t *verdicts;   /* ntx verdicts (owned; free with pc_block_result_free) */
    uint8_t (*txids)[32];/* ntx txids (owned) */
} pc_block_result;
void pc_block_result_free(pc_block_result *r);

#define PC_LEDGER_READONLY 1
#define PC_LEDGER_CREATE 2

/* Open (and with PC_LEDGER_CREATE create) ledger.db at path. */
int pc_ledger_open(const char *path, int flags, pc_ledger **out, pc_error *err)
    PC_MUST_USE;
void pc_ledger_close(pc_ledger *l);

int pc_ledger_head(pc_ledger *l, pc_head *out, pc_error *err) PC_MUST_USE;
int pc_ledger_policy(pc_ledger *l, pc_policy *out, pc_error *err) PC_MUST_USE;

/* Apply a proposal as the next block at orderer position pos. The proposer
 * signature and every tx signature not already marked sigs_checked are
 * verified here. A proposal that is itself bad (unknown or inactive proposer,
 * bad signature, wrong network, position not after the last one) returns
 * PC_EINVAL/PC_ECRYPTO and changes nothing; bad transactions inside a good
 * proposal get verdicts. On success the block is durable (fsync) when this
 * returns. The first proposal applied to an empty ledger must be the genesis
 * proposal (one network.genesis tx), at position 0. */
int pc_ledger_apply(pc_ledger *l, pc_proposal *p, uint64_t pos,
                    pc_block_result *res, pc_error *err) PC_MUST_USE;

/* The hospital key of an active hospital (for proposal checks by callers). */
int pc_ledger_hospital_key(pc_ledger *l, const char *id, uint8_t key[32],
                           bool *active, pc_error *err) PC_MUST_USE;

/* Is a txid already committed? */
int pc_ledger_tx_exists(pc_ledger *l, const uint8_t txid[32], bool *exists,
                        pc_error *err) PC_MUST_USE;

/* ---- queries answering the API, as JSON objects (caller decrefs) ---- */

/* {txid, type, height, index, verdict, time, block, proof:{root, index, size,
 *  path:[hex]}}; PC_ENOTFOUND if unknown. */
int pc_ledger_tx_json(pc_ledger *l, const uint8_t txid[32], json_t **out,
                      pc_error *err) PC_MUST_USE;
/* The transaction itself in client form (with sigs). */
int pc_ledger_tx_raw(pc_ledger *l, const uint8_t txid[32], json_t **out,
                     pc_error *err) PC_MUST_USE;
/* Make the statement running on l (from another thread) stop with an error
 * soon: a state digest reads for seconds at a million transactions, and a
 * stopping node should not wait for it. l must stay open meanwhile. */
void pc_ledger_interrupt(pc_ledger *l);

/* The time (ms) in the header of the block at height. PC_ENOTFOUND if the
 * ledger has no such block. */
int pc_ledger_block_time(pc_ledger *l, uint64_t height, int64_t *time, pc_error *err)
    PC_MUST_USE;
/* {height, hash, header:{...}, txs:[{txid,type,verdict}]} */
int pc_ledger_block_json(pc_ledger *l, uint64_t height, json_t **out,
                         pc_error *err) PC_MUST_USE;
/* {health_id, key, hospital, height, time} by a canonical Health ID. */
int pc_ledger_patient_json(pc_ledger *l, const char *health_id, json_t **out,
                           pc_error *err) PC_MUST_USE;
/* Look up a patient key by canonical Health ID. */
int pc_ledger_patient_key(pc_ledger *l, const char *health_id, uint8_t key[32],
                          pc_error *err) PC_MUST_USE;
/* {patient, records:[{id, hi_type, date, fhir, custodian, author, hash, size,
 *  sealed_key, txid, height, time}]} newest clinical date first, up to limit
 *  (0 = all). */
int pc_ledger_timeline_json(pc_ledger *l, const uint8_t patient[32], size_t limit,
                            json_t **out, pc_error *err) PC_MUST_USE;
/* The timeline of pc_ledger_timeline_json written straight to JSON text
 * (the same members in the same order as json_dumps(..., JSON_COMPACT) of
 * that object), without building a jansson tree: for 1,000 records about a
 * third of the time of the tree plus json_dumps (docs/performance.md).
 * Appends to out. */
int pc_ledger_timeline_text(pc_ledger *l, const uint8_t patient[32], size_t limit,
                            pc_buf *out, pc_error *err) PC_MUST_USE;

/* One record's metadata, as one entry of the timeline; PC_ENOTFOUND if none. */
int pc_ledger_record_json(pc_ledger *l, const char *record_id, json_t **out,
                          pc_error *err) PC_MUST_USE;
/* [{txid, grantee:{...}, hi_types, from, to, expires, purpose, time, revoked,
 *   revoked_txid, active}] (active evaluated at now_ms) */
int pc_ledger_consents_json(pc_ledger *l, const uint8_t patient[32], int64_t now_ms,
                            json_t **out, pc_error *err) PC_MUST_USE;
/* [{txid, doctor, doctor_name, hospital, reason, opened, expires, open}] */
int pc_ledger_emergencies_json(pc_ledger *l, const uint8_t patient[32],
                               int64_t now_ms, json_t **out, pc_error *err)
    PC_MUST_USE;
/* [{txid, time, reader, reader_name, reader_hospital, custodian, records:[..],
 *   basis, ref, emergency}] newest first */
int pc_ledger_access_log_json(pc_ledger *l, const uint8_t patient[32],
                              json_t **out, pc_error *err) PC_MUST_USE;
/* [{id, name, key, endpoint, status}] */
int pc_ledger_hospitals_json(pc_ledger *l, json_t **out, pc_error *err) PC_MUST_USE;
/* [{key, name, role, regno, hospital, status}] of one hospital (NULL = all) */
int pc_ledger_staff_json(pc_ledger *l, const char *hospital, json_t **out,
                         pc_error *err) PC_MUST_USE;

/* A staff member's facts (for signed requests and the access rule). */
typedef struct pc_staff_info {
    bool found;
    char hospital[PC_HOSPITAL_ID_MAX + 1];
    char role[16];
    char name[128];
    bool active;          /* not revoked */
    bool hospital_active; /* hospital admitted and not suspended */
} pc_staff_info;
int pc_ledger_staff_info(pc_ledger *l, const uint8_t key[32], pc_staff_info *out,
                         pc_error *err) PC_MUST_USE;

/* A record's chain metadata. */
typedef struct pc_record_info {
    char id[65];
    uint8_t patient[32];
    char custodian[PC_HOSPITAL_ID_MAX + 1];
    char hi_type[32];
    char fhir[48];
    int32_t date;
    uint8_t hash[32];
    int64_t size;
    uint8_t sealed_key[PC_SEALED_KEY_LEN];
} pc_record_info;
int pc_ledger_record_info(pc_ledger *l, const char *record_id, pc_record_info *out,
                          pc_error *err) PC_MUST_USE;

/* Apply the access rule for reader on a record at time now_ms (normally the
 * head block's time, or the wall clock when it is later). */
int pc_ledger_access_check(pc_ledger *l, const uint8_t reader[32],
                           const pc_record_info *rec, int64_t now_ms,
                           pc_access_decision *out, pc_error *err) PC_MUST_USE;

/* ---- verification (parcha verify) ---- */

typedef void (*pc_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* Re-check every block of the ledger at path: header hashes and links, tx
 * bytes against txids, Merkle roots, proposal and tx signatures (on `threads`
 * threads), then replay every block into a fresh ledger and compare the
 * resulting blocks, verdicts and state with the stored ones. PC_OK if intact;
 * otherwise PC_ECRYPTO/PC_ESTATE with err naming the first bad block. */
int pc_ledger_verify(const char *path, int threads, pc_progress_fn progress,
                     void *ctx, uint64_t *nblocks, uint64_t *ntx, pc_error *err)
    PC_MUST_USE;

/* BLAKE2b-256 over every state table in primary-key order (checkpoints,
 * audit; the encoding is in ledger.c). */
int pc_ledger_state_digest(pc_ledger *l, uint8_t out[32], pc_error *err)
    PC_MUST_USE;

/* Stored proposals for catch-up: the wire bytes of the block at height (with
 * its position), rebuilt from the stored header, signature and tx bytes. */
int pc_ledger_block_proposal(pc_ledger *l, uint64_t height, pc_buf *wire,
                             uint64_t *pos, pc_error *err) PC_MUST_USE;

#endif
