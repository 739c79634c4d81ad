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
 * last reserved chunk, so at most one chunk of numbers is skipped. */
#include "node/node_core.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "parcha/keyfile.h"
#include "node/node_log.h"

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
    pc_proposal p;
    pc_buf wire;
} own_prop;

struct pc_node {
    pc_node_config *cfg;
    pc_metrics metrics;
    pc_mempool *mp;
    pc_orderer *orderer;
    bool orderer_started;
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
    pthread_mutex_t omu;             /* own-proposal FIFO */
    pthread_cond_t ocv;              /* "inflight went down" */
    own_prop *ohead, *otail;
    size_t ninflight;
    int64_t last_applied_publish_ms;

    atomic_bool failed;
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

/* Remove op from the own FIFO (it was never delivered). */
static void own_remove(pc_node *n, own_prop *op)
{
    pthread_mutex_lock(&n->omu);
    own_prop **pp = &n->ohead;
    own_prop *prev = NULL;
    while (*pp != NULL && *pp != op) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == op) {
        *pp = op->next;
        if (n->otail == op)
            n->otail = prev;
        n->ninflight--;
        pthread_cond_broadcast(&n->ocv);
    }
    pthread_mutex_unlock(&n->omu);
}

static void own_free(own_prop *op)
{
    if (op == NULL)
        return;
    pc_proposal_free(&op->p);
    pc_buf_free(&op->wire);
    free(op);
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
    if (n->otail != NULL)
        n->otail->next = op;
    else
        n->ohead = op;
    n->otail = op;
    n->ninflight++;
    pthread_mutex_unlock(&n->omu);

    rc = n->orderer->ops->submit(n->orderer, seq, op->wire.data, op->wire.len);
    if (rc != PC_OK) {
        pc_node_log("error", "orderer %s refused proposal %" PRIu64 " (%zu transactions): %s",
                    n->orderer->name, seq, ntx, pc_strerror(rc));
        own_remove(n, op);
        pc_mempool_failed(n->mp, op->p.txs, op->p.ntx, PC_EUNAVAIL,
                          "the ordering service is unavailable; the transaction was not committed");
        own_free(op);
        atomic_fetch_add(&n->metrics.proposals_failed, 1);
        return;
    }
    atomic_fetch_add(&n->metrics.proposals_submitted, 1);
}

static void *proposer_main(void *arg)
{
    pc_node *n = arg;
    for (;;) {
        /* Group commit: wait for room in the pipeline before cutting. */
        pthread_mutex_lock(&n->omu);
        while (n->ninflight >= MAX_INFLIGHT && !atomic_load(&n->failed))
            pthread_cond_wait(&n->ocv, &n->omu);
        pthread_mutex_unlock(&n->omu);
        if (atomic_load(&n->failed))
            break;
        pc_tx *txs = NULL;
        size_t ntx = pc_mempool_take(n->mp, &txs);
        if (ntx == 0) {
            free(txs);
            break;
        }
        propose(n, txs, ntx);
        free(txs);
    }
    return NULL;
}

/* ---- delivery ---- */

/* Publish the applied position for etcd retention, at most once a second. */
static void publish_applied(pc_node *n, uint64_t pos)
{
    if (n->orderer->ops->applied == NULL)
        return;
    int64_t now = pc_mono_ms();
    if (now - n->last_applied_publish_ms < 1000)
        return;
    n->last_applied_publish_ms = now;
    if (n->orderer->ops->applied(n->orderer, pos) != PC_OK)
        pc_node_log("warn", "could not publish applied position %" PRIu64 " to the orderer", pos);
}

static int deliver(void *ctx, uint64_t pos, const uint8_t *data, size_t len)
{
    pc_node *n = ctx;
    pc_error err;
    pc_error_clear(&err);

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
        int rc = pc_proposal_decode(data, len, &decoded, &err);
        if (rc != PC_OK) {
            /* Every node refuses the same bytes the same way: skip it. */
            pc_node_log("warn", "skipping undecodable proposal at position %" PRIu64 ": %s", pos, err.msg);
            return PC_OK;
        }
        p = &decoded;
    }

    pc_block_result res;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = pc_ledger_apply(n->writer, p, pos, &res, &err);
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
        pc_mempool_committed(n->mp, &res);
        pc_block_result_free(&res);
        publish_applied(n, pos);
    } else if (op == NULL && (rc == PC_EINVAL || rc == PC_ECRYPTO)) {
        /* Another node's proposal that the rules refuse as a whole (bad
         * proposer signature, inactive proposer): deterministic, skip. */
        pc_node_log("warn", "skipping proposal %" PRIu64 " from %s at position %" PRIu64 ": %s",
                    p->seq, p->proposer, pos, err.msg);
    } else {
        pc_node_log("error", "cannot apply %s proposal %" PRIu64 " at position %" PRIu64 ": %s; stopping the node",
                    op != NULL ? "own" : "peer", p->seq, pos, err.msg);
        pc_mempool_failed(n->mp, p->txs, p->ntx, PC_EUNAVAIL,
                          "the node could not apply the block holding this transaction");
        node_fail(n);
        result = rc != PC_OK ? rc : PC_ESTATE;
    }

    if (op != NULL) {
        own_free(op);
        pthread_mutex_lock(&n->omu);
        n->ninflight--;
        pthread_cond_broadcast(&n->ocv);
        pthread_mutex_unlock(&n->omu);
    } else {
        pc_proposal_free(&decoded);
    }
    return result;
}

static void on_compacted(void *ctx, uint64_t rev)
{
    pc_node *n = ctx;
    pc_node_log("error", "etcd compacted past revision %" PRIu64 " before this node applied it; "
                         "catch-up from a peer is needed; stopping the node", rev);
    node_fail(n);
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
    atomic_init(&n->failed, false);

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

    rc = open_orderer(n, err);
    if (rc != PC_OK)
        goto fail;
    rc = n->orderer->ops->start(n->orderer, n->head.pos, deliver, n);
    if (rc != PC_OK) {
        rc = pc_error_set(err, rc, "cannot start the %s orderer: %s", n->orderer->name, pc_strerror(rc));
        goto fail;
    }
    n->orderer_started = true;

    if (pthread_create(&n->proposer, NULL, proposer_main, n) != 0) {
        rc = pc_error_set(err, PC_ENOMEM, "cannot start the proposer thread");
        goto fail;
    }
    n->proposer_started = true;
    pc_node_log("info", "node %s of network %s at height %" PRIu64 " (position %" PRIu64
                        ", %" PRIu64 " transactions), orderer %s, %d verifier threads",
                cfg->hospital, cfg->network, n->head.height, n->head.pos, n->head.ntx,
                n->orderer->name, cfg->threads);
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
        n->orderer->ops->close(n->orderer);
        n->orderer = NULL;
        n->orderer_started = false;
    }
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
    pthread_cond_destroy(&n->ocv);
    pthread_mutex_destroy(&n->omu);
    pthread_mutex_destroy(&n->hmu);
    pthread_mutex_destroy(&n->vmu);
    pthread_cond_destroy(&n->rcv);
    pthread_mutex_destroy(&n->rmu);
    free(n);
}
