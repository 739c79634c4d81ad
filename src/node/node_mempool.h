/* parchad's mempool: transactions admitted but not yet committed, the pool of
 * threads that verifies their signatures, the queue the proposer cuts batches
 * from, and the waiters (HTTP requests) to wake when a transaction's fate is
 * known.
 *
 * Life of a transaction:
 *   reserve(txid)   -> the txid is pending (a second reserve gets PC_EEXIST)
 *   submit(tx, w)   -> VERIFYING on the verifier pool (or straight to QUEUED
 *                      when tx->sigs_checked), then QUEUED or FAILED
 *   take()          -> PROPOSED: the proposer owns the pc_tx now
 *   committed(res)  -> COMMITTED with (height, index, verdict, block hash);
 *                      the entry is gone
 *   failed(txs)     -> FAILED (orderer refused the proposal); entry gone
 * One mutex guards everything; waiters sleep on their own condition variable
 * under it, or are called back once (pc_mp_waiter.notify) so that no thread
 * has to sleep per request. Cost: O(1) per transaction per step (hash table
 * on the txid). */
#ifndef PARCHA_NODE_MEMPOOL_H
#define PARCHA_NODE_MEMPOOL_H

#include <pthread.h>
#include <stdbool.h>
#include "parcha/common.h"
#include "parcha/ledger.h"
#include "parcha/tx.h"
#include "node/node_metrics.h"

typedef enum pc_mp_state {
    PC_MP_NONE = 0,      /* waiter not yet submitted */
    PC_MP_VERIFYING = 1, /* signatures being checked */
    PC_MP_QUEUED = 2,    /* admitted: waiting for a proposal */
    PC_MP_PROPOSED = 3,  /* in a proposal on its way through the orderer */
    PC_MP_COMMITTED = 4, /* in a block: height/index/verdict/block are set */
    PC_MP_FAILED = 5     /* refused: fail_code/fail_msg say why */
} pc_mp_state;

typedef struct pc_mp_waiter pc_mp_waiter;

/* Called under the mempool's lock, from whichever thread moved the waiter's
 * transaction on (a verifier, the proposer, the delivery thread, abort). It
 * must only hand off, e.g. resume a suspended HTTP connection: no mempool
 * call, nothing slow. */
typedef void pc_mp_notify_fn(void *arg, pc_mp_waiter *w);

/* One HTTP request waiting on one transaction. Caller-owned; initialise with
 * pc_mp_waiter_init, and once submitted either see a final state or call
 * pc_mempool_detach before destroying it.
 *
 * Two ways to wait: sleep in pc_mempool_wait (the waiter's condition
 * variable), or set notify before submitting. notify is then called once,
 * when state first reaches notify_min or FAILED; by then the mempool has let
 * go of the waiter (as after pc_mempool_detach), so the callback may hand it
 * to a thread that frees it. */
struct pc_mp_waiter {
    pthread_cond_t cv;
    uint8_t txid[32];
    int state;           /* pc_mp_state, read under the mempool's lock */
    int fail_code;       /* PC_ECRYPTO (bad signature), PC_EUNAVAIL, ... */
    char fail_msg[256];
    uint64_t height;
    uint32_t index;
    int verdict;
    uint8_t block[32];
    pc_mp_notify_fn *notify; /* NULL: sleep in pc_mempool_wait instead */
    void *notify_arg;
    int notify_min;          /* pc_mp_state that ends the wait */
};

int pc_mp_waiter_init(pc_mp_waiter *w) PC_MUST_USE;
void pc_mp_waiter_destroy(pc_mp_waiter *w);

typedef struct pc_mempool pc_mempool;

typedef struct pc_mempool_config {
    size_t max_pending; /* cap on pending txids; over it reserve says PC_EUNAVAIL */
    int verifiers;      /* signature-checking threads (>= 1) */
    size_t batch_max;   /* most transactions per proposal */
    int batch_ms;       /* cut a proposal once the oldest queued tx is this old */
} pc_mempool_config;

/* Start the verifier threads. metrics may be NULL. */
int pc_mempool_open(const pc_mempool_config *cfg, pc_metrics *metrics,
                    pc_mempool **out, pc_error *err) PC_MUST_USE;

/* Mark txid pending. PC_OK; PC_EEXIST if already pending; PC_EUNAVAIL when
 * the mempool is full or stopping. Follow with submit or cancel. */
int pc_mempool_reserve(pc_mempool *mp, const uint8_t txid[32], pc_error *err)
    PC_MUST_USE;
/* Drop a reservation that will not be submitted. */
void pc_mempool_cancel(pc_mempool *mp, const uint8_t txid[32]);
/* Hand over a reserved transaction: *tx is moved in (and zeroed). w may be
 * NULL; otherwise it is attached and woken at every state change. */
void pc_mempool_submit(pc_mempool *mp, pc_tx *tx, pc_mp_waiter *w);

/* Sleep until w->state >= min_state or the monotonic deadline (pc_mono_ms)
 * passes. Returns the state seen last. */
int pc_mempool_wait(pc_mempool *mp, pc_mp_waiter *w, int min_state,
                    int64_t deadline_ms);
/* Stop the mempool from touching w (after a timeout). Safe in any state;
 * once it returns, w's notify is not running and will not be called. */
void pc_mempool_detach(pc_mempool *mp, pc_mp_waiter *w);
/* w->state read under the lock (for a waiter that may still be attached). */
int pc_mempool_state(pc_mempool *mp, const pc_mp_waiter *w);

/* The proposer's side: block until a batch is due (batch_max queued, or the
 * oldest queued transaction is batch_ms old, or anything queued while the
 * proposer is idle and no other transaction is being admitted or verified,
 * or stopping with anything queued) and move up to
 * batch_max transactions into a new array *txs (caller frees the array and
 * owns the pc_tx values). Returns the count; 0 only once stopping and
 * nothing is left or can still arrive. */
size_t pc_mempool_take(pc_mempool *mp, pc_tx **txs);

/* The proposer tells whether it has proposals in flight (idle = none; the
 * initial state is not idle). While idle, take() cuts a batch as soon as
 * what is ready is all there is (nothing else being admitted or verified):
 * batching only pays while an earlier proposal is being ordered and
 * applied, or while more transactions are on their way, and a lone write on
 * a quiet node then skips the batch_ms wait. */
void pc_mempool_set_idle(pc_mempool *mp, bool idle);

/* A block was applied: wake every waiter whose txid is in it and forget
 * those txids. Txids not pending here (other nodes' transactions) are
 * ignored. */
void pc_mempool_committed(pc_mempool *mp, const pc_block_result *res);
/* Transactions (already taken) whose proposal failed: wake their waiters
 * with code and msg and forget them. */
void pc_mempool_failed(pc_mempool *mp, const pc_tx *txs, size_t n, int code,
                       const char *msg);

/* Is txid pending (reserved, verifying, queued or proposed)? */
bool pc_mempool_pending(pc_mempool *mp, const uint8_t txid[32]);
/* Number of pending txids. */
size_t pc_mempool_size(pc_mempool *mp);

/* Refuse new reservations; let what was submitted flow out through take(). */
void pc_mempool_stop(pc_mempool *mp);
/* Join the verifier threads and fail every remaining waiter with PC_EUNAVAIL
 * (detaching them), but keep the mempool allocated so late callers still get
 * PC_EUNAVAIL from reserve. Call after the proposer has stopped calling
 * take(). Idempotent. */
void pc_mempool_abort(pc_mempool *mp);
/* Abort (if not done) and free everything. */
void pc_mempool_close(pc_mempool *mp);

#endif
