/* The parchad pipeline (node_core.h): from an admitted transaction to a
 * committed block and a woken request.
 *
 *   HTTP thread --admit--> mempool --verifier pool--> ready queue
 *   proposer thread: take batch -> pc_proposal_make (this node's hospital key,
 *       persistent seq) -> keep it in the own-proposal FIFO -> orderer submit
 *   orderer delivery thread: if the bytes are our own next proposal, reuse the
 *       already parsed and verified pc_proposal; otherwise decode -> apply on
 *       the writer handle (durable on return) -> wake waiters -> metrics
 *
 * The proposer keeps at most MAX_INFLIGHT own proposals between submit and
 * apply. While a block is being applied (its fsync dominates), transactions
 * pile up in the mempool and the next proposal carries all of them: group
 * commit, so bigger load makes bigger blocks instead of a longer queue.
 *
 * Sequence numbers: the orderer refuses a seq it has seen (etcd remembers
 * across restarts), so seqs must never repeat for this hospital. They are
 * reserved in chunks in DIR/proposer.seq (written atomically and fsynced
 * before the first seq of a chunk is used); a restart continues after the
 * last reserved chunk, so at most one chunk of numbers is skipped.
 *
 * A consortium across machines (docs/cluster.md) adds: a gate around the
 * orderer pointer so catch-up can close it and open a new one while the
 * proposer and the retention thread use it; a health flag that turns writes
 * into a quick 503 while the orderer is known to be unreachable or the node
 * is catching up; and three helpers with threads of their own, started here:
 * catch-up from peers (node_catchup.c), retention of etcd's window
 * (node_retention.c, which also feeds flow control) and signed checkpoints
 * (node_checkpoint.c). With flow control (node_flow.c) the proposer also
 * holds back while another live node lags too far behind. */
#include "node/node_core.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "parcha/keyfile.h"
#include "node/node_catchup.h"
#include "node/node_checkpoint.h"
#include "node/node_flow.h"
#include "node/node_log.h"
#include "node/node_peer.h"
#include "node/node_retention.h"

#define MAX_INFLIGHT 2
#define SEQ_CHUNK 1000
#define NREADERS 8
#define GENESIS_MAX ((size_t)16 * 1024 * 1024)

typedef struct hosted_key {
    char id[33];
    pc_keypair kp;
} hosted_key;

/* One of our proposals between submit and apply. */
typedef struct own_prop {
    struct own_prop *next;
    /* Two owners, counted under omu: the proposer until submit() returned,
     * and the FIFO until delivery applied it (or the proposer took it out
     * again). Delivery may come before submit() returns (a put retried
     * after an ambiguous failure), and submit() still reads `wire` then; the
     * last owner frees. */
    int refs;
    pc_proposal p;
    pc_buf wire;
} own_prop;

struct pc_node {
    pc_node_config *cfg;
    pc_metrics metrics;
    pc_mempool *mp;

    /* The orderer behind a gate: users (proposer, retention) hold it between
     * pc_node_orderer_acquire and _release; catch-up swaps it only when no
     * one does. The delivery callback never takes the gate. */
    pthread_mutex_t gmu;
    pthread_cond_t gcv;
    pc_orderer *orderer;
    bool orderer_started;
    unsigned gate_users;
    bool gate_closing;
    atomic_bool catching_up;

    /* Orderer health: down_since_ms != 0 while submits are known to fail. */
    pthread_mutex_t dmu;
    int64_t down_since_ms;
    char down_msg[200];
    uint64_t seen_switches;      /* etcd member switches at the last tick */
    int64_t stable_since_ms;     /* watch established without switches since */

    pc_peers *peers;
    pc_ckpts *ckpts;
    pc_catchup *catchup;
    pc_retention *retention;
    pc_flow *flow;
    pc_ledger *writer;
    pc_policy policy;
    pc_httpsig_replay replay;
    bool replay_ok;

    pthread_mutex_t rmu; /* reader pool */
    pthread_cond_t rcv;
    pc_ledger *readers[NREADERS];
    bool rbusy[NREADERS];
    size_t nreaders;

    pthread_mutex_t vmu; /* vault */
    pc_vault *vault;

    hosted_key *keys; /* sodium_malloc'd: locked, guarded, wiped on free */
    size_t nkeys;
    const pc_keypair *proposer_kp;

    pthread_mutex_t hmu; /* head cache */
    pc_head head;

    /* Proposer. */
    pthread_t proposer;
    bool proposer_started;
    uint64_t next_seq, seq_reserved; /* proposer thread only */
    int64_t flow_logged_ms;          /* proposer thread only: last hold logged */
    pthread_mutex_t omu;             /* own-proposal FIFO */
    pthread_cond_t ocv;              /* "inflight went down" */
    own_prop *ohead, *otail;
    size_t ninflight;

    atomic_bool failed;
    atomic_bool stopping; /* pc_node_stop has begun: a held proposer lets go */
    bool stopped;
    pthread_t main_thread;
};

/* ---- small accessors ---- */

const pc_node_config *pc_node_cfg(pc_node *n) { return n->cfg; }
pc_metrics *pc_node_metrics(pc_node *n) { return &n->metrics; }
pc_mempool *pc_node_mempool(pc_node *n) { return n->mp; }
pc_httpsig_replay *pc_node_replay(pc_node *n) { return &n->replay; }
const pc_policy *pc_node_policy(pc_node *n) { return &n->policy; }
bool pc_node_failed(pc_node *n) { return atomic_load(&n->failed); }
pc_peers *pc_node_peers(pc_node *n) { return n->peers; }
pc_ckpts *pc_node_ckpts(pc_node *n) { return n->ckpts; }
pc_catchup *pc_node_catchup(pc_node *n) { return n->catchup; }
pc_retention *pc_node_retention(pc_node *n) { return n->retention; }
pc_flow *pc_node_flow(pc_node *n) { return n->flow; }
bool pc_node_catching_up(pc_node *n) { return atomic_load(&n->catching_up); }

void pc_node_head(pc_node *n, pc_head *out)
{
    pthread_mutex_lock(&n->hmu);
    *out = n->head;
    pthread_mutex_unlock(&n->hmu);
}

/* Record a fatal error and ask the main thread to shut down. */
static void node_fail(pc_node *n)
{
    if (!atomic_exchange(&n->failed, true))
        pthread_kill(n->main_thread, SIGUSR1);
}

void pc_node_fail(pc_node *n)
{
    node_fail(n);
}

/* ---- the orderer gate ---- */

pc_orderer *pc_node_orderer_acquire(pc_node *n)
{
    pthread_mutex_lock(&n->gmu);
    while (n->gate_closing)
        pthread_cond_wait(&n->gcv, &n->gmu);
    pc_orderer *o = n->orderer_started ? n->orderer : NULL;
    if (o != NULL)
        n->gate_users++;
    pthread_mutex_unlock(&n->gmu);
    return o;
}

/* As pc_node_orderer_acquire, but NULL at once while the orderer is being
 * swapped (for status pages, which must not wait). */
static pc_orderer *orderer_try_acquire(pc_node *n)
{
    pthread_mutex_lock(&n->gmu);
    pc_orderer *o = !n->gate_closing && n->orderer_started ? n->orderer : NULL;
    if (o != NULL)
        n->gate_users++;
    pthread_mutex_unlock(&n->gmu);
    return o;
}

void pc_node_orderer_release(pc_node *n, pc_orderer *o)
{
    if (o == NULL)
        return;
    pthread_mutex_lock(&n->gmu);
    n->gate_users--;
    pthread_cond_broadcast(&n->gcv);
    pthread_mutex_unlock(&n->gmu);
}

/* Take the orderer out of the gate (waiting until nobody uses it) and close
 * it. Must not be called from the orderer's own delivery thread. */
static void orderer_shut(pc_node *n)
{
    pthread_mutex_lock(&n->gmu);
    n->gate_closing = true;
    while (n->gate_users > 0)
        pthread_cond_wait(&n->gcv, &n->gmu);
    pc_orderer *o = n->orderer;
    n->orderer = NULL;
    n->orderer_started = false;
    pthread_mutex_unlock(&n->gmu);
    if (o != NULL)
        o->ops->close(o); /* joins the delivery thread: outside the gate lock */
    pthread_mutex_lock(&n->gmu);
    n->gate_closing = false;
    pthread_cond_broadcast(&n->gcv);
    pthread_mutex_unlock(&n->gmu);
}

/* ---- health ---- */

static void orderer_down(pc_node *n, int rc, const char *why)
{
    pthread_mutex_lock(&n->dmu);
    if (n->down_since_ms == 0)
        n->down_since_ms = pc_mono_ms();
    snprintf(n->down_msg, sizeof n->down_msg, "%s", why != NULL && why[0] ? why : pc_strerror(rc));
    n->stable_since_ms = 0;
    pthread_mutex_unlock(&n->dmu);
}

static void orderer_up(pc_node *n)
{
    pthread_mutex_lock(&n->dmu);
    if (n->down_since_ms != 0)
        pc_node_log("info", "the ordering service answers again; writes are accepted");
    n->down_since_ms = 0;
    n->down_msg[0] = '\0';
    pthread_mutex_unlock(&n->dmu);
}

int pc_node_writable(pc_node *n, pc_error *err)
{
    if (atomic_load(&n->catching_up)) {
        pc_head h;
        pc_node_head(n, &h);
        uint64_t target = pc_catchup_target(n->catchup);
        if (target > h.height)
            return pc_error_set(err, PC_EUNAVAIL,
                                "this node is catching up with the network from another hospital's node "
                                "(block %llu of %llu); it takes writes again when done: retry shortly or "
                                "use another hospital's node",
                                (unsigned long long)h.height, (unsigned long long)target);
        return pc_error_set(err, PC_EUNAVAIL,
                            "this node is catching up with the network from another hospital's node; "
                            "it takes writes again when done: retry shortly or use another hospital's node");
    }
    pthread_mutex_lock(&n->dmu);
    int64_t since = n->down_since_ms;
    char msg[200];
    snprintf(msg, sizeof msg, "%s", n->down_msg);
    pthread_mutex_unlock(&n->dmu);
    if (since != 0)
        return pc_error_set(err, PC_EUNAVAIL,
                            "this node cannot reach the ordering service (%s) for %lld s: %s; "
                            "the transaction was not accepted: retry later or use another hospital's node",
                            n->cfg->orderer, (long long)((pc_mono_ms() - since) / 1000), msg);
    return PC_OK;
}

void pc_node_health_tick(pc_node *n)
{
    pc_orderer *o = orderer_try_acquire(n);
    pc_etcd_stats st;
    bool have = o != NULL && pc_etcd_get_stats(o, &st) == PC_OK;
    pc_node_orderer_release(n, o);
    if (!have)
        return;
    int64_t now = pc_mono_ms();
    bool clear = false;
    pthread_mutex_lock(&n->dmu);
    if (!st.watching || st.member_switches != n->seen_switches || st.delivery_code != PC_OK)
        n->stable_since_ms = 0;
    else if (n->stable_since_ms == 0)
        n->stable_since_ms = now;
    n->seen_switches = st.member_switches;
    /* A watch that stays on one member for longer than the stall timeout
     * (plus a probe) has a member in quorum behind it. */
    int stall = n->cfg->etcd_stall_ms > 0 ? n->cfg->etcd_stall_ms : 3000;
    clear = n->down_since_ms != 0 && n->stable_since_ms != 0 &&
            now - n->stable_since_ms > stall + 2000 && now - n->down_since_ms > stall + 2000;
    pthread_mutex_unlock(&n->dmu);
    if (clear)
        orderer_up(n);
}

void pc_node_ordering(pc_node *n, pc_node_ordering_info *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->orderer, sizeof out->orderer, "%s", n->cfg->orderer);
    out->catching_up = atomic_load(&n->catching_up);
    pthread_mutex_lock(&n->dmu);
    out->down_s = n->down_since_ms ? (pc_mono_ms() - n->down_since_ms) / 1000 : -1;
    snprintf(out->last_error, sizeof out->last_error, "%s", n->down_msg);
    pthread_mutex_unlock(&n->dmu);
    pc_orderer *o = orderer_try_acquire(n);
    out->running = o != NULL;
    pc_etcd_stats st;
    if (o != NULL && pc_etcd_get_stats(o, &st) == PC_OK) {
        out->is_etcd = true;
        out->watching = st.watching != 0;
        if (st.watch_member < n->cfg->netcd)
            snprintf(out->member, sizeof out->member, "%s", n->cfg->etcd_endpoints[st.watch_member]);
        out->last_delivered = st.last_delivered;
        out->compact_revision = st.compact_revision;
        out->member_switches = st.member_switches;
        out->stalls = st.stalls;
        out->delivery_code = st.delivery_code;
        if (out->last_error[0] == '\0')
            snprintf(out->last_error, sizeof out->last_error, "%s", st.last_error);
    }
    pc_node_orderer_release(n, o);
    pc_head h;
    pc_node_head(n, &h);
    if (!out->is_etcd)
        out->last_delivered = h.pos;
    out->connected = out->running && out->down_s < 0 && !out->catching_up &&
                     (!out->is_etcd || (out->watching && out->delivery_code == PC_OK));
}

pc_ledger *pc_node_reader(pc_node *n)
{
    pthread_mutex_lock(&n->rmu);
    for (;;) {
        for (size_t i = 0; i < n->nreaders; i++) {
            if (!n->rbusy[i]) {
                n->rbusy[i] = true;
                pthread_mutex_unlock(&n->rmu);
                return n->readers[i];
            }
        }
        pthread_cond_wait(&n->rcv, &n->rmu);
    }
}

void pc_node_reader_release(pc_node *n, pc_ledger *l)
{
    pthread_mutex_lock(&n->rmu);
    for (size_t i = 0; i < n->nreaders; i++) {
        if (n->readers[i] == l) {
            n->rbusy[i] = false;
            pthread_cond_signal(&n->rcv);
            break;
        }
    }
    pthread_mutex_unlock(&n->rmu);
}

const pc_keypair *pc_node_hosted_key(pc_node *n, const char *hospital)
{
    for (size_t i = 0; i < n->nkeys; i++)
        if (strcmp(n->keys[i].id, hospital) == 0)
            return &n->keys[i].kp;
    return NULL;
}

int pc_node_vault_put(pc_node *n, const char *record_id, const char *custodian,
                      const uint8_t patient[32], const uint8_t *blob, size_t len,
                      const uint8_t sealed[PC_SEALED_KEY_LEN], pc_error *err)
{
    pthread_mutex_lock(&n->vmu);
    int rc = pc_vault_put(n->vault, record_id, custodian, patient, blob, len, sealed, err);
    pthread_mutex_unlock(&n->vmu);
    return rc;
}

int pc_node_vault_get(pc_node *n, const char *record_id, pc_buf *blob,
                      uint8_t sealed[PC_SEALED_KEY_LEN], char custodian[33],
                      pc_error *err)
{
    pthread_mutex_lock(&n->vmu);
    int rc = pc_vault_get(n->vault, record_id, blob, sealed, custodian, err);
    pthread_mutex_unlock(&n->vmu);
    return rc;
}

/* ---- admission ---- */

int pc_node_check_tx(pc_node *n, const pc_tx *tx, pc_admit_reason *reason,
                     pc_error *err)
{
    if (strcmp(tx->net, n->cfg->network) != 0) {
        *reason = PC_AR_WRONG_NETWORK;
        return pc_error_set(err, PC_EINVAL, "this transaction is for network '%s', but this node serves '%s'",
                            tx->net, n->cfg->network);
    }
    int64_t now = pc_now_ms();
    int64_t skew = tx->time - now;
    if (skew > n->policy.clock_window_ms || -skew > n->policy.clock_window_ms) {
        *reason = PC_AR_TIME_WINDOW;
        return pc_error_set(err, PC_EINVAL,
                            "the transaction time is %lld s %s this node's clock; the network allows %lld s (check the computer's clock)",
                            (long long)((skew < 0 ? -skew : skew) / 1000),
                            skew < 0 ? "behind" : "ahead of",
                            (long long)(n->policy.clock_window_ms / 1000));
    }
    return PC_OK;
}

int pc_node_admit(pc_node *n, pc_tx *tx, pc_mp_waiter *w, pc_admit_reason *reason,
                  pc_error *err)
{
    if (pc_node_check_tx(n, tx, reason, err) != PC_OK)
        return PC_EINVAL;
    if (pc_node_writable(n, err) != PC_OK) {
        *reason = PC_AR_UNAVAILABLE;
        return PC_EUNAVAIL;
    }
    int rc = pc_mempool_reserve(n->mp, tx->txid, err);
    if (rc != PC_OK) {
        *reason = rc == PC_EEXIST ? PC_AR_DUPLICATE : PC_AR_UNAVAILABLE;
        return rc;
    }
    /* Reserved first, then the ledger: a commit that removes the txid from
     * the mempool has already made it visible to this lookup. */
    bool exists = false;
    pc_ledger *l = pc_node_reader(n);
    rc = pc_ledger_tx_exists(l, tx->txid, &exists, err);
    pc_node_reader_release(n, l);
    if (rc != PC_OK || exists) {
        pc_mempool_cancel(n->mp, tx->txid);
        if (rc != PC_OK) {
            *reason = PC_AR_UNAVAILABLE;
            return rc;
        }
        *reason = PC_AR_DUPLICATE;
        return pc_error_set(err, PC_EEXIST, "this transaction is already committed");
    }
    pc_mempool_submit(n->mp, tx, w);
    return PC_OK;
}

/* ---- keys ---- */

static int load_keys(pc_node *n, pc_error *err)
{
    const pc_node_config *c = n->cfg;
    n->keys = sodium_malloc(c->nhosted * sizeof *n->keys);
    if (n->keys == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory for hospital keys");
    sodium_memzero(n->keys, c->nhosted * sizeof *n->keys);
    for (size_t i = 0; i < c->nhosted; i++) {
        char kpath[1200], ppath[1200];
        snprintf(kpath, sizeof kpath, "%s/keys/%s.key", c->data_dir, c->hosted[i]);
        snprintf(ppath, sizeof ppath, "%s/keys/%s.pass", c->data_dir, c->hosted[i]);
        char *pass = NULL;
        size_t passlen = 0;
        int rc = pc_pass_read_file(ppath, &pass, &passlen, err);
        if (rc != PC_OK)
            return rc;
        rc = pc_keyfile_read(kpath, pass, passlen, &n->keys[i].kp, err);
        pc_pass_free(pass, passlen);
        if (rc != PC_OK)
            return rc;
        snprintf(n->keys[i].id, sizeof n->keys[i].id, "%s", c->hosted[i]);
        n->nkeys++;
    }
    n->proposer_kp = pc_node_hosted_key(n, c->hospital);
    if (n->proposer_kp == NULL)
        return pc_error_set(err, PC_ESTATE, "no key loaded for this node's hospital %s", c->hospital);
    return PC_OK;
}

/* ---- sequence numbers ---- */

static int seq_path(const pc_node *n, char *out, size_t len)
{
    int w = snprintf(out, len, "%s/proposer.seq", n->cfg->data_dir);
    return (w < 0 || (size_t)w >= len) ? PC_EINVAL : PC_OK;
}

/* Read the first seq to use at start. Missing file: 1 (genesis used 0). */
static int seq_load(pc_node *n, pc_error *err)
{
    char path[1200];
    if (seq_path(n, path, sizeof path) != PC_OK)
        return pc_error_set(err, PC_EINVAL, "data folder path too long");
    pc_buf b;
    pc_buf_init(&b);
    pc_error e2;
    n->next_seq = 1;
    if (pc_file_read(path, 64, &b, &e2) == PC_OK) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull((const char *)b.data, &end, 10);
        if (errno != 0 || end == (char *)b.data || (*end != '\0' && *end != '\n')) {
            pc_buf_free(&b);
            return pc_error_set(err, PC_EINVAL, "%s is corrupt; it must hold one decimal number", path);
        }
        n->next_seq = v;
    } else if (access(path, F_OK) == 0) {
        pc_buf_free(&b);
        return pc_error_set(err, PC_EIO, "cannot read %s: %s", path, e2.msg);
    }
    pc_buf_free(&b);
    n->seq_reserved = n->next_seq; /* nothing reserved in this run yet */
    return PC_OK;
}

/* The next seq, reserving a new chunk on disk first when needed. */
static int seq_next(pc_node *n, uint64_t *seq, pc_error *err)
{
    if (n->next_seq >= n->seq_reserved) {
        char path[1200], text[32];
        uint64_t upto = n->next_seq + SEQ_CHUNK;
        if (seq_path(n, path, sizeof path) != PC_OK)
            return pc_error_set(err, PC_EINVAL, "data folder path too long");
        int len = snprintf(text, sizeof text, "%" PRIu64 "\n", upto);
        int rc = pc_file_write(path, text, (size_t)len, 0644, err);
        if (rc != PC_OK)
            return rc;
        n->seq_reserved = upto;
    }
    *seq = n->next_seq++;
    return PC_OK;
}

/* ---- proposer ---- */

static void own_free(own_prop *op)
{
    if (op == NULL)
        return;
    pc_proposal_free(&op->p);
    pc_buf_free(&op->wire);
    free(op);
}

/* Drop one owner's reference; the last frees. */
static void own_unref(pc_node *n, own_prop *op)
{
    pthread_mutex_lock(&n->omu);
    int left = --op->refs;
    pthread_mutex_unlock(&n->omu);
    if (left == 0)
        own_free(op);
}

/* Take op out of the own FIFO if delivery has not taken it. Returns true if
 * it was still there (its FIFO reference is then dropped here). */
static bool own_remove(pc_node *n, own_prop *op)
{
    pthread_mutex_lock(&n->omu);
    own_prop **pp = &n->ohead;
    own_prop *prev = NULL;
    while (*pp != NULL && *pp != op) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    bool found = *pp == op, idle = false;
    if (found) {
        *pp = op->next;
        if (n->otail == op)
            n->otail = prev;
        n->ninflight--;
        idle = n->ninflight == 0;
        op->refs--;
        pthread_cond_broadcast(&n->ocv);
    }
    pthread_mutex_unlock(&n->omu);
    if (idle)
        pc_mempool_set_idle(n->mp, true);
    return found;
}

/* Propose one batch. Failures are reported to the batch's waiters. */
static void propose(pc_node *n, pc_tx *txs, size_t ntx)
{
    pc_error err;
    pc_error_clear(&err);
    own_prop *op = calloc(1, sizeof *op);
    uint64_t seq = 0;
    int rc = op == NULL ? pc_error_set(&err, PC_ENOMEM, "out of memory") : PC_OK;
    if (rc == PC_OK)
        rc = seq_next(n, &seq, &err);
    if (rc == PC_OK)
        rc = pc_proposal_make(&op->p, n->cfg->network, n->cfg->hospital, seq, pc_now_ms(),
                              txs, ntx, n->proposer_kp, &err);
    if (rc != PC_OK) {
        pc_node_log("error", "cannot make proposal: %s", err.msg);
        pc_mempool_failed(n->mp, txs, ntx, PC_EUNAVAIL, "the node could not make a proposal");
        for (size_t i = 0; i < ntx; i++)
            pc_tx_free(&txs[i]);
        free(op);
        atomic_fetch_add(&n->metrics.proposals_failed, 1);
        return;
    }
    pc_buf_init(&op->wire);
    if (pc_proposal_encode(&op->p, &op->wire) != PC_OK) {
        pc_node_log("error", "cannot encode proposal %" PRIu64 ": out of memory", seq);
        pc_mempool_failed(n->mp, op->p.txs, op->p.ntx, PC_EUNAVAIL, "the node could not encode a proposal");
        own_free(op);
        atomic_fetch_add(&n->metrics.proposals_failed, 1);
        return;
    }
    /* Into the FIFO before submit: delivery may come before submit returns. */
    pthread_mutex_lock(&n->omu);
    op->refs = 2;
    if (n->otail != NULL)
        n->otail->next = op;
    else
        n->ohead = op;
    n->otail = op;
    n->ninflight++;
    pthread_mutex_unlock(&n->omu);
    /* Batch behind this proposal until the pipeline empties again (the
     * delivery side says so; a stale value only costs one batch_ms wait or
     * one smaller block, never correctness). */
    pc_mempool_set_idle(n->mp, false);

    /* While the orderer is known to be down or the node is catching up,
     * fail at once instead of making every batch wait for the orderer's own
     * deadline. */
    pc_error werr;
    pc_error_clear(&werr);
    pc_orderer *o = NULL;
    rc = pc_node_writable(n, &werr);
    if (rc == PC_OK) {
        o = pc_node_orderer_acquire(n);
        if (o == NULL)
            rc = pc_error_set(&werr, PC_EUNAVAIL, "the node's orderer is being restarted; the transaction was not committed");
    }
    char why[256] = "";
    if (rc == PC_OK) {
        rc = o->ops->submit(o, seq, op->wire.data, op->wire.len);
        pc_etcd_stats st;
        if (rc != PC_OK && pc_etcd_get_stats(o, &st) == PC_OK)
            snprintf(why, sizeof why, "%s", st.last_error);
        pc_node_orderer_release(n, o);
        if (rc != PC_OK) {
            pc_node_log("error", "orderer %s refused proposal %" PRIu64 " (%zu transactions): %s%s%s",
                        n->cfg->orderer, seq, ntx, pc_strerror(rc), why[0] ? ": " : "", why);
            if (rc == PC_EUNAVAIL)
                orderer_down(n, rc, why);
            pc_error_set(&werr, rc,
                         "the ordering service (%s) did not accept the proposal (%s%s%s); the transaction was not committed",
                         n->cfg->orderer, pc_strerror(rc), why[0] ? ": " : "", why);
        }
    }
    if (rc != PC_OK) {
        if (own_remove(n, op)) {
            pc_mempool_failed(n->mp, op->p.txs, op->p.ntx, PC_EUNAVAIL, werr.msg);
            atomic_fetch_add(&n->metrics.proposals_failed, 1);
        } else {
            /* The orderer gave up on an attempt, but an earlier one was
             * ordered and delivered: the block decides, not this error. */
            pc_node_log("info", "proposal %" PRIu64 " was delivered although the orderer reported %s",
                        seq, pc_strerror(rc));
        }
        own_unref(n, op);
        return;
    }
    own_unref(n, op);
    orderer_up(n);
    atomic_fetch_add(&n->metrics.proposals_submitted, 1);
}

/* Largest proposal handed to etcd, in wire bytes: etcd refuses requests over
 * 1.5 MiB by default (--max-request-bytes), so a batch is split below it.
 * The solo orderer keeps proposals in memory and needs no such cap. */
#define ETCD_PROPOSAL_MAX ((size_t)1024 * 1024)

/* How often a held proposer looks again (the flow state changes with
 * every block applied here and every read of the peers' positions). */
#define FLOW_RECHECK_MS 5

/* Flow control: while another live node lags more than max_lag_ms, do not
 * add to its backlog (node_flow.h). Ends when the node stops. */
static void flow_hold(pc_node *n)
{
    char who[PC_FLOW_ID_MAX] = "";
    int64_t lag = 0, start = pc_mono_ms();
    if (!pc_flow_should_hold(n->flow, start, who, &lag))
        return;
    /* A slow node can make many short holds a second: log one in 10 s. */
    if (n->flow_logged_ms == 0 || start - n->flow_logged_ms >= 10000) {
        pc_flow_info fi;
        pc_flow_get(n->flow, start, &fi);
        pc_node_log("info", "flow control: holding proposals while %s catches up (%" PRId64 " ms behind; "
                            "%" PRIu64 " holds, %" PRId64 " ms held so far)",
                    who, lag, fi.holds, fi.held_ms);
        n->flow_logged_ms = start;
    }
    while (!atomic_load(&n->failed) && !atomic_load(&n->stopping) &&
           pc_flow_should_hold(n->flow, pc_mono_ms(), NULL, NULL)) {
        struct timespec ts = {0, FLOW_RECHECK_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    pc_flow_count_hold(n->flow, pc_mono_ms() - start);
}

/* Wait for room in the pipeline (group commit). False once the node failed. */
static bool wait_for_room(pc_node *n)
{
    pthread_mutex_lock(&n->omu);
    while (n->ninflight >= MAX_INFLIGHT && !atomic_load(&n->failed))
        pthread_cond_wait(&n->ocv, &n->omu);
    pthread_mutex_unlock(&n->omu);
    return !atomic_load(&n->failed);
}

static void *proposer_main(void *arg)
{
    pc_node *n = arg;
    size_t max_bytes = strcmp(n->cfg->orderer, "etcd") == 0 ? ETCD_PROPOSAL_MAX : SIZE_MAX;
    for (;;) {
        if (!wait_for_room(n))
            break;
        flow_hold(n);
        pc_tx *txs = NULL;
        size_t ntx = pc_mempool_take(n->mp, &txs);
        if (ntx == 0) {
            free(txs);
            break;
        }
        /* Cut the batch into proposals the orderer accepts (one, unless
         * etcd's request limit would be passed). */
        size_t from = 0;
        while (from < ntx) {
            size_t to = from + pc_proposal_fit(txs + from, ntx - from, max_bytes);
            if (from > 0 && !wait_for_room(n)) {
                pc_mempool_failed(n->mp, txs + from, ntx - from, PC_EUNAVAIL, "the node stopped");
                for (size_t i = from; i < ntx; i++)
                    pc_tx_free(&txs[i]);
                break;
            }
            propose(n, txs + from, to - from);
            from = to;
        }
        free(txs);
    }
    return NULL;
}

/* ---- delivery ---- */

/* Apply the ordered proposal `data` at pos: our own next proposal is taken
 * from the FIFO (already parsed and verified), anything else is decoded.
 * strict == false (the orderer's delivery): a proposal every node refuses
 * the same way is skipped with a warning. strict == true (catch-up, where
 * the peer applied it): a refusal is an error returned to the caller.
 * Returns PC_OK (block applied, *out filled if not NULL; or skipped when not
 * strict), or the error; a failure to apply our own proposal or a database
 * failure stops the node. */
static int apply_wire(pc_node *n, uint64_t pos, const uint8_t *data, size_t len, bool strict,
                      pc_node_block *out, pc_error *err)
{
    own_prop *op = NULL;
    pthread_mutex_lock(&n->omu);
    if (n->ohead != NULL && n->ohead->wire.len == len &&
        memcmp(n->ohead->wire.data, data, len) == 0) {
        op = n->ohead;
        n->ohead = op->next;
        if (n->ohead == NULL)
            n->otail = NULL;
        op->next = NULL;
    }
    pthread_mutex_unlock(&n->omu);

    pc_proposal decoded;
    pc_proposal *p;
    if (op != NULL) {
        p = &op->p;
    } else {
        /* A peer's block: parse and check its signatures on every verifier
         * thread in one pass (apply then skips the checked ones). */
        int rc = pc_proposal_decode_mt(data, len, &decoded, n->cfg->threads, true, err);
        if (rc != PC_OK) {
            if (strict)
                return rc;
            /* Every node refuses the same bytes the same way: skip it. */
            pc_node_log("warn", "skipping undecodable proposal at position %" PRIu64 ": %s", pos, err->msg);
            return PC_OK;
        }
        p = &decoded;
    }

    pc_block_result res;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = pc_ledger_apply(n->writer, p, pos, &res, err);
    clock_gettime(CLOCK_MONOTONIC, &b);
    int result = PC_OK;
    if (rc == PC_OK) {
        pc_hist_observe(&n->metrics.block_apply, (int64_t)(b.tv_sec - a.tv_sec) * 1000000000LL +
                                                     (b.tv_nsec - a.tv_nsec));
        atomic_fetch_add(&n->metrics.blocks_applied, 1);
        for (size_t i = 0; i < res.ntx; i++)
            pc_metrics_verdict(&n->metrics, res.verdicts[i]);
        pthread_mutex_lock(&n->hmu);
        n->head.has_genesis = true;
        n->head.height = res.height;
        memcpy(n->head.hash, res.hash, 32);
        n->head.time = res.time;
        n->head.pos = pos;
        n->head.ntx += res.ntx;
        pthread_mutex_unlock(&n->hmu);
        uint64_t height = res.height;
        if (out != NULL) {
            out->height = res.height;
            memcpy(out->hash, res.hash, 32);
            out->ntx = res.ntx;
        }
        pc_mempool_committed(n->mp, &res);
        pc_block_result_free(&res);
        pc_ckpts_on_block(n->ckpts, height);
        pc_flow_applied(n->flow, pos, pc_mono_ms());
    } else if (op == NULL && (rc == PC_EINVAL || rc == PC_ECRYPTO)) {
        /* Another node's proposal that the rules refuse as a whole (bad
         * proposer signature, inactive proposer): deterministic, skip. */
        if (strict)
            result = rc;
        else
            pc_node_log("warn", "skipping proposal %" PRIu64 " from %s at position %" PRIu64 ": %s",
                        p->seq, p->proposer, pos, err->msg);
    } else {
        pc_node_log("error", "cannot apply %s proposal %" PRIu64 " at position %" PRIu64 ": %s; stopping the node",
                    op != NULL ? "own" : "peer", p->seq, pos, err->msg);
        pc_mempool_failed(n->mp, p->txs, p->ntx, PC_EUNAVAIL,
                          "the node could not apply the block holding this transaction");
        node_fail(n);
        result = rc != PC_OK ? rc : PC_ESTATE;
    }

    if (op != NULL) {
        pthread_mutex_lock(&n->omu);
        n->ninflight--;
        bool idle = n->ninflight == 0;
        int left = --op->refs;
        pthread_cond_broadcast(&n->ocv);
        pthread_mutex_unlock(&n->omu);
        if (idle)
            pc_mempool_set_idle(n->mp, true);
        if (left == 0)
            own_free(op);
    } else {
        pc_proposal_free(&decoded);
    }
    return result;
}

int pc_node_apply_fetched(pc_node *n, uint64_t pos, const uint8_t *wire, size_t len,
                          pc_node_block *out, pc_error *err)
{
    if (atomic_load(&n->failed))
        return pc_error_set(err, PC_ESTATE, "the node has stopped after an error");
    int rc = apply_wire(n, pos, wire, len, true, out, err);
    if (rc == PC_OK)
        atomic_fetch_add(&n->metrics.catchup_blocks, 1);
    return rc;
}

static int deliver(void *ctx, uint64_t pos, const uint8_t *data, size_t len)
{
    pc_node *n = ctx;
    pc_error err;
    pc_error_clear(&err);
    return apply_wire(n, pos, data, len, false, NULL, &err);
}

static void on_compacted(void *ctx, uint64_t rev)
{
    pc_node *n = ctx;
    pc_head h;
    pc_node_head(n, &h);
    pc_node_log("warn", "etcd compacted its history up to revision %" PRIu64 ", past this node's position %" PRIu64
                        " (height %" PRIu64 "): catching up from a peer's node",
                rev, h.pos, h.height);
    atomic_store(&n->catching_up, true);
    pc_catchup_trigger(n->catchup, rev);
}

/* ---- open / stop / close ---- */

/* Apply DIR/genesis.bin as block 0 on an empty ledger. */
static int apply_genesis(pc_node *n, pc_error *err)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/genesis.bin", n->cfg->data_dir);
    pc_buf b;
    pc_buf_init(&b);
    int rc = pc_file_read(path, GENESIS_MAX, &b, err);
    if (rc != PC_OK) {
        pc_buf_free(&b);
        return rc;
    }
    pc_proposal p;
    rc = pc_proposal_decode(b.data, b.len, &p, err);
    pc_buf_free(&b);
    if (rc != PC_OK)
        return rc;
    pc_block_result res;
    rc = pc_ledger_apply(n->writer, &p, 0, &res, err);
    pc_proposal_free(&p);
    if (rc != PC_OK)
        return rc;
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", res.hash[i]);
    pc_node_log("info", "applied genesis block %s", hex);
    pc_block_result_free(&res);
    return PC_OK;
}

static int open_orderer(pc_node *n, pc_error *err)
{
    const pc_node_config *c = n->cfg;
    if (strcmp(c->orderer, "solo") == 0)
        return pc_solo_open(&n->orderer, err);
    char prefix[PC_NET_MAX + 32];
    snprintf(prefix, sizeof prefix, "/parcha/%s/p/", c->network);
    pc_etcd_options o;
    memset(&o, 0, sizeof o);
    o.endpoints = c->etcd_endpoints;
    o.nendpoints = c->netcd;
    o.prefix = c->etcd_prefix != NULL ? c->etcd_prefix : prefix;
    o.node_id = c->hospital;
    o.cacert = c->etcd_cacert;
    o.cert = c->etcd_cert;
    o.key = c->etcd_key;
    o.user = c->etcd_user;
    o.password = c->etcd_password;
    o.stall_timeout_ms = c->etcd_stall_ms;
    int rc = pc_etcd_open(&o, &n->orderer, err);
    if (rc == PC_OK)
        rc = pc_etcd_on_compacted(n->orderer, on_compacted, n);
    return rc;
}

/* Open the configured orderer and start delivery after the head's
 * position, under the gate. */
static int orderer_begin(pc_node *n, pc_error *err)
{
    pthread_mutex_lock(&n->gmu);
    int rc = n->orderer == NULL ? open_orderer(n, err) : PC_OK;
    if (rc == PC_OK && !n->orderer_started) {
        pc_head h;
        pc_node_head(n, &h);
        rc = n->orderer->ops->start(n->orderer, h.pos, deliver, n);
        if (rc != PC_OK)
            rc = pc_error_set(err, rc, "cannot start the %s orderer: %s", n->orderer->name, pc_strerror(rc));
        else
            n->orderer_started = true;
    }
    pthread_mutex_unlock(&n->gmu);
    return rc;
}

void pc_node_orderer_suspend(pc_node *n)
{
    atomic_store(&n->catching_up, true);
    orderer_shut(n);
}

int pc_node_orderer_resume(pc_node *n, pc_error *err)
{
    int rc = orderer_begin(n, err);
    if (rc != PC_OK) {
        pc_orderer *o = NULL;
        pthread_mutex_lock(&n->gmu);
        if (!n->orderer_started) {
            o = n->orderer;
            n->orderer = NULL;
        }
        pthread_mutex_unlock(&n->gmu);
        if (o != NULL)
            o->ops->close(o);
        return rc;
    }
    atomic_store(&n->catching_up, false);
    orderer_up(n);
    return PC_OK;
}

int pc_node_open(pc_node_config *cfg, pc_node **out, pc_error *err)
{
    *out = NULL;
    if (pc_crypto_init() != 0)
        return pc_error_set(err, PC_ECRYPTO, "libsodium failed to initialise");
    pc_node *n = calloc(1, sizeof *n);
    if (n == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    n->cfg = cfg;
    n->main_thread = pthread_self();
    pc_metrics_init(&n->metrics);
    pthread_mutex_init(&n->rmu, NULL);
    pthread_cond_init(&n->rcv, NULL);
    pthread_mutex_init(&n->vmu, NULL);
    pthread_mutex_init(&n->hmu, NULL);
    pthread_mutex_init(&n->omu, NULL);
    pthread_cond_init(&n->ocv, NULL);
    pthread_mutex_init(&n->gmu, NULL);
    pthread_cond_init(&n->gcv, NULL);
    pthread_mutex_init(&n->dmu, NULL);
    atomic_init(&n->failed, false);
    atomic_init(&n->catching_up, false);

    char path[1200];
    int rc = load_keys(n, err);
    if (rc != PC_OK)
        goto fail;

    snprintf(path, sizeof path, "%s/ledger.db", cfg->data_dir);
    rc = pc_ledger_open(path, PC_LEDGER_CREATE, &n->writer, err);
    if (rc != PC_OK)
        goto fail;
    rc = pc_ledger_head(n->writer, &n->head, err);
    if (rc != PC_OK)
        goto fail;
    if (!n->head.has_genesis) {
        rc = apply_genesis(n, err);
        if (rc == PC_OK)
            rc = pc_ledger_head(n->writer, &n->head, err);
        if (rc != PC_OK)
            goto fail;
    }
    if (strcmp(n->head.net, cfg->network) != 0) {
        rc = pc_error_set(err, PC_EINVAL, "ledger.db belongs to network '%s' but node.json says '%s'",
                          n->head.net, cfg->network);
        goto fail;
    }
    rc = pc_ledger_policy(n->writer, &n->policy, err);
    if (rc != PC_OK)
        goto fail;

    uint8_t chain_key[32];
    bool active = false;
    pc_error e2;
    if (pc_ledger_hospital_key(n->writer, cfg->hospital, chain_key, &active, &e2) != PC_OK)
        pc_node_log("warn", "hospital %s is not on the chain yet; its proposals will be refused until admitted",
                    cfg->hospital);
    else if (memcmp(chain_key, n->proposer_kp->pk, 32) != 0)
        pc_node_log("warn", "the key in keys/%s.key is not hospital %s's key on the chain; proposals will be refused",
                    cfg->hospital, cfg->hospital);
    else if (!active)
        pc_node_log("warn", "hospital %s is suspended; its proposals will be refused", cfg->hospital);

    for (size_t i = 0; i < NREADERS; i++) {
        rc = pc_ledger_open(path, PC_LEDGER_READONLY, &n->readers[i], err);
        if (rc != PC_OK)
            goto fail;
        n->nreaders++;
    }

    snprintf(path, sizeof path, "%s/vault.db", cfg->data_dir);
    rc = pc_vault_open(path, &n->vault, err);
    if (rc != PC_OK)
        goto fail;

    if (pc_httpsig_replay_init(&n->replay, 1000000, PC_HTTPSIG_WINDOW_S) != PC_OK) {
        rc = pc_error_set(err, PC_ENOMEM, "out of memory for the replay cache");
        goto fail;
    }
    n->replay_ok = true;

    rc = seq_load(n, err);
    if (rc != PC_OK)
        goto fail;

    pc_mempool_config mc = {
        .max_pending = 200000,
        .verifiers = cfg->threads,
        .batch_max = cfg->batch_max,
        .batch_ms = cfg->batch_ms,
    };
    rc = pc_mempool_open(&mc, &n->metrics, &n->mp, err);
    if (rc != PC_OK)
        goto fail;
    pc_mempool_set_idle(n->mp, true); /* nothing proposed yet */

    rc = pc_peers_open(cfg, &n->peers, err);
    if (rc != PC_OK)
        goto fail;
    rc = pc_ckpts_open(n, &n->ckpts, err);
    if (rc != PC_OK)
        goto fail;
    rc = pc_catchup_open(n, &n->catchup, err);
    if (rc != PC_OK)
        goto fail;
    rc = orderer_begin(n, err);
    if (rc != PC_OK)
        goto fail;
    if (strcmp(cfg->orderer, "etcd") == 0 && cfg->flow_max_lag_ms > 0) {
        pc_flow_options fo = {.max_lag_ms = cfg->flow_max_lag_ms,
                              .dead_after_ms = cfg->flow_dead_after_ms,
                              .catchup_lag_ms = cfg->flow_catchup_lag_ms};
        if (pc_flow_open(cfg->hospital, &fo, &n->flow) != PC_OK) {
            rc = pc_error_set(err, PC_ENOMEM, "cannot set up flow control");
            goto fail;
        }
    }
    if (strcmp(cfg->orderer, "etcd") == 0) {
        rc = pc_retention_open(n, &n->retention, err);
        if (rc != PC_OK)
            goto fail;
    }

    if (pthread_create(&n->proposer, NULL, proposer_main, n) != 0) {
        rc = pc_error_set(err, PC_ENOMEM, "cannot start the proposer thread");
        goto fail;
    }
    n->proposer_started = true;
    pc_node_log("info", "node %s of network %s at height %" PRIu64 " (position %" PRIu64
                        ", %" PRIu64 " transactions), orderer %s, %d verifier threads",
                cfg->hospital, cfg->network, n->head.height, n->head.pos, n->head.ntx,
                cfg->orderer, cfg->threads);
    *out = n;
    return PC_OK;
fail:
    pc_node_stop(n);
    pc_node_close(n);
    return rc;
}

void pc_node_stop(pc_node *n)
{
    if (n == NULL || n->stopped)
        return;
    n->stopped = true;
    atomic_store(&n->stopping, true);
    /* Helpers first: they use the orderer and the ledger. */
    pc_retention_stop(n->retention);
    pc_catchup_stop(n->catchup);
    pc_ckpts_stop(n->ckpts);
    if (n->mp != NULL)
        pc_mempool_stop(n->mp);
    if (n->proposer_started) {
        pthread_mutex_lock(&n->omu);
        pthread_cond_broadcast(&n->ocv);
        pthread_mutex_unlock(&n->omu);
        pthread_join(n->proposer, NULL);
        n->proposer_started = false;
    }
    if (n->orderer != NULL) {
        /* Let our in-flight proposals come back and be applied (bounded). */
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += PC_NODE_COMMIT_TIMEOUT_MS / 1000;
        pthread_mutex_lock(&n->omu);
        while (n->ninflight > 0 && n->orderer_started && !atomic_load(&n->failed)) {
            if (pthread_cond_timedwait(&n->ocv, &n->omu, &deadline) == ETIMEDOUT)
                break;
        }
        size_t left = n->ninflight;
        pthread_mutex_unlock(&n->omu);
        if (left > 0)
            pc_node_log("warn", "%zu own proposals were not delivered before shutdown", left);
    }
    orderer_shut(n);
    /* Anything the orderer never delivered: fail its waiters. */
    pthread_mutex_lock(&n->omu);
    own_prop *op = n->ohead;
    n->ohead = n->otail = NULL;
    n->ninflight = 0;
    pthread_mutex_unlock(&n->omu);
    while (op != NULL) {
        own_prop *next = op->next;
        if (n->mp != NULL)
            pc_mempool_failed(n->mp, op->p.txs, op->p.ntx, PC_EUNAVAIL,
                              "the node stopped before this transaction was committed; it may still commit after a restart: check GET /v1/tx/{txid}");
        own_free(op);
        op = next;
    }
    if (n->mp != NULL)
        pc_mempool_abort(n->mp);
}

void pc_node_close(pc_node *n)
{
    if (n == NULL)
        return;
    pc_node_stop(n);
    pc_retention_close(n->retention);
    pc_flow_close(n->flow);
    pc_catchup_close(n->catchup);
    pc_ckpts_close(n->ckpts);
    pc_peers_close(n->peers);
    pc_mempool_close(n->mp);
    for (size_t i = 0; i < n->nreaders; i++)
        pc_ledger_close(n->readers[i]);
    pc_ledger_close(n->writer);
    pc_vault_close(n->vault);
    if (n->replay_ok)
        pc_httpsig_replay_free(&n->replay);
    if (n->keys != NULL) {
        for (size_t i = 0; i < n->nkeys; i++)
            pc_key_wipe(&n->keys[i].kp);
        sodium_free(n->keys);
    }
    pthread_mutex_destroy(&n->dmu);
    pthread_cond_destroy(&n->gcv);
    pthread_mutex_destroy(&n->gmu);
    pthread_cond_destroy(&n->ocv);
    pthread_mutex_destroy(&n->omu);
    pthread_mutex_destroy(&n->hmu);
    pthread_mutex_destroy(&n->vmu);
    pthread_cond_destroy(&n->rcv);
    pthread_mutex_destroy(&n->rmu);
    free(n);
}
