/* The parchad node: data folder, hosted hospital keys, ledger handles (one
 * writer for the applier, a pool of readers for HTTP threads), the vault, the
 * mempool, the proposer thread and the orderer's delivery callback that
 * applies blocks and wakes waiting requests. The HTTP layer (node_http.h)
 * sits on top and only calls the functions below. */
#ifndef PARCHA_NODE_CORE_H
#define PARCHA_NODE_CORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include "parcha/crypto.h"
#include "parcha/httpsig.h"
#include "parcha/ledger.h"
#include "parcha/orderer.h"
#include "parcha/tx.h"
#include "parcha/vault.h"
#include "node/node_config.h"
#include "node/node_mempool.h"
#include "node/node_metrics.h"

#define PC_NODE_VERSION "0.1.0"
#define PC_NODE_COMMIT_TIMEOUT_MS 10000 /* POST waits this long, then 504 */
/* ... but a transaction already handed to the etcd orderer is given this much
 * longer, so that an orderer that gives up (its own 10 s deadline) turns into
 * a 503 with the orderer's reason rather than a 504. */
#define PC_NODE_SUBMIT_GRACE_MS 5000

typedef struct pc_node pc_node;
typedef struct pc_peers pc_peers;
typedef struct pc_ckpts pc_ckpts;
typedef struct pc_catchup pc_catchup;
typedef struct pc_retention pc_retention;
typedef struct pc_flow pc_flow;

/* Open everything and start the pipeline (verifiers, proposer, orderer
 * delivery). cfg must outlive the node. On failure everything opened is
 * closed again and err says what went wrong. */
int pc_node_open(pc_node_config *cfg, pc_node **out, pc_error *err) PC_MUST_USE;

/* Stop taking transactions, propose what was admitted, let the orderer
 * deliver and apply it, stop the orderer, fail any waiter left. Requests
 * arriving afterwards get PC_EUNAVAIL. Idempotent. */
void pc_node_stop(pc_node *n);
/* Close the databases, wipe the keys, free. Call after the HTTP server has
 * stopped (no thread may use n afterwards). */
void pc_node_close(pc_node *n);

/* Set once the node hit an error it cannot continue after (a block that would
 * not apply). The main thread is sent SIGUSR1 at the same moment. */
bool pc_node_failed(pc_node *n);

/* ---- used by the HTTP layer ---- */

const pc_node_config *pc_node_cfg(pc_node *n);
pc_metrics *pc_node_metrics(pc_node *n);
pc_mempool *pc_node_mempool(pc_node *n);
pc_httpsig_replay *pc_node_replay(pc_node *n);
const pc_policy *pc_node_policy(pc_node *n);

/* A snapshot of the head as of the last applied block. */
void pc_node_head(pc_node *n, pc_head *out);

/* Borrow a reader handle (blocks while all are busy) and give it back. */
pc_ledger *pc_node_reader(pc_node *n);
void pc_node_reader_release(pc_node *n, pc_ledger *l);

/* The key pair of a hospital this node hosts, or NULL. */
const pc_keypair *pc_node_hosted_key(pc_node *n, const char *hospital);

/* vault.db, serialised by a mutex. */
int pc_node_vault_put(pc_node *n, const char *record_id, const char *custodian,
                      const uint8_t patient[32], const uint8_t *blob, size_t len,
                      const uint8_t sealed[PC_SEALED_KEY_LEN], pc_error *err)
    PC_MUST_USE;
int pc_node_vault_get(pc_node *n, const char *record_id, pc_buf *blob,
                      uint8_t sealed[PC_SEALED_KEY_LEN], char custodian[33],
                      pc_error *err) PC_MUST_USE;

/* The stateless admission checks alone: right network, time within the
 * policy window of the node's clock. PC_OK or PC_EINVAL with *reason set. */
int pc_node_check_tx(pc_node *n, const pc_tx *tx, pc_admit_reason *reason,
                     pc_error *err) PC_MUST_USE;

/* Admission of a parsed transaction: right network, time within the policy
 * window of the node's clock, txid neither pending nor committed. On PC_OK
 * *tx has moved into the mempool (zeroed here) and w (may be NULL) is
 * attached; signatures are verified on the pool unless tx->sigs_checked.
 * Otherwise *tx is untouched, *reason says why (for metrics and the error
 * slug) and the code is PC_EINVAL (wrong network / time), PC_EEXIST
 * (duplicate), PC_EUNAVAIL (busy or stopping) or PC_EIO. */
int pc_node_admit(pc_node *n, pc_tx *tx, pc_mp_waiter *w, pc_admit_reason *reason,
                  pc_error *err) PC_MUST_USE;

/* ---- a consortium across machines (docs/cluster.md) ---- */

pc_peers *pc_node_peers(pc_node *n);
pc_ckpts *pc_node_ckpts(pc_node *n);
pc_catchup *pc_node_catchup(pc_node *n);
pc_retention *pc_node_retention(pc_node *n); /* NULL with the solo orderer */
/* Flow control across the consortium (node_flow.h): NULL with the solo
 * orderer or flow_control.max_lag_ms 0. */
pc_flow *pc_node_flow(pc_node *n);

/* Does the node take writes now? PC_OK, or PC_EUNAVAIL with a sentence for
 * the client: catching up from a peer, or the orderer is known to be
 * unreachable (its last submit failed and its watch has not settled since). */
int pc_node_writable(pc_node *n, pc_error *err) PC_MUST_USE;
bool pc_node_catching_up(pc_node *n);

/* What /v1/status says about ordering. */
typedef struct pc_node_ordering_info {
    char orderer[16];        /* "solo" or "etcd" */
    bool running;            /* an orderer is open and delivering */
    bool connected;          /* running, not catching up, no known outage */
    bool catching_up;
    bool is_etcd;
    bool watching;           /* etcd: a watch stream is established */
    char member[256];        /* etcd: the member the watch uses */
    uint64_t last_delivered; /* last position handed to the node */
    uint64_t compact_revision; /* etcd: set once a compaction overtook the watch */
    uint64_t member_switches, stalls;
    int delivery_code;
    int64_t down_s;          /* seconds since submits started failing, -1 if not */
    char last_error[256];
} pc_node_ordering_info;
void pc_node_ordering(pc_node *n, pc_node_ordering_info *out);

/* Borrow the orderer (NULL while catch-up has it closed) and give it back.
 * Never call from the orderer's delivery thread. */
pc_orderer *pc_node_orderer_acquire(pc_node *n);
void pc_node_orderer_release(pc_node *n, pc_orderer *o);

/* Catch-up's side: close the orderer and refuse writes (catching up) ... */
void pc_node_orderer_suspend(pc_node *n);
/* ... apply blocks fetched from a peer, in order ... */
typedef struct pc_node_block {
    uint64_t height;
    uint8_t hash[32];
    size_t ntx;
} pc_node_block;
/* Apply the proposal `wire` at orderer position pos as the next block,
 * exactly as a delivery would (own proposals matched, waiters woken), but a
 * proposal the rules refuse is an error here rather than skipped. */
int pc_node_apply_fetched(pc_node *n, uint64_t pos, const uint8_t *wire, size_t len,
                          pc_node_block *out, pc_error *err) PC_MUST_USE;
/* ... then open a new orderer that delivers after the head's position and
 * take writes again. */
int pc_node_orderer_resume(pc_node *n, pc_error *err) PC_MUST_USE;

/* Called about once a second by the retention thread: clears the "orderer
 * unreachable" state once the etcd watch has stayed on one member longer than
 * the stall timeout. */
void pc_node_health_tick(pc_node *n);

/* Stop the node after an error it cannot go on from (as a block that would
 * not apply does). */
void pc_node_fail(pc_node *n);

#endif
