/* The mempool and signature-verifier pool of parchad (node_mempool.h).
 *
 * Entries live in a chained hash table keyed by txid (SipHash under a random
 * key, so nobody can aim transactions at one bucket). An entry is on at most
 * one of two intrusive lists: the verify queue (singly linked, FIFO) or the
 * ready queue (doubly linked, FIFO, so a commit from another node's block can
 * unlink an entry from the middle). Verifier threads take up to VERIFY_BATCH
 * entries at a time, check signatures without the lock (the entry is theirs
 * while VERIFYING), then publish the results under the lock in one go. */
#include "node/node_mempool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#define VERIFY_BATCH 64

typedef struct mp_entry {
    struct mp_entry *hnext;        /* hash chain */
    struct mp_entry *qprev, *qnext; /* verify queue (qnext only) or ready queue */
    uint8_t txid[32];
    int state;                     /* 0 = reserved, else pc_mp_state */
    bool zombie;                   /* committed while a verifier held it */
    pc_tx tx;                      /* owned while reserved..queued */
    pc_mp_waiter *waiter;
    int64_t ready_ms;              /* when it entered the ready queue */
} mp_entry;

struct pc_mempool {
    pthread_mutex_t mu;
    pthread_cond_t verify_cv; /* verify queue not empty, or closing */
    pthread_cond_t ready_cv;  /* a batch may be due, or stopping */
    pc_mempool_config cfg;
    pc_metrics *metrics;

    mp_entry **buckets;
    size_t nbuckets;
    size_t count;     /* entries in the table */
    size_t nreserved; /* reserved, not yet submitted */
    uint8_t hashkey[crypto_shorthash_KEYBYTES];

    mp_entry *vhead, *vtail; /* verify queue */
    size_t nverify;          /* queued for or being verified */
    mp_entry *rhead, *rtail; /* ready queue */
    size_t nready;

    bool stopping;
    bool closing;
    bool idle; /* the proposer has nothing in flight (pc_mempool_set_idle) */
    pthread_t *threads;
    int nthreads;
};

int pc_mp_waiter_init(pc_mp_waiter *w)
{
    memset(w, 0, sizeof *w);
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return PC_ENOMEM;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    return rc == 0 ? PC_OK : PC_ENOMEM;
}

void pc_mp_waiter_destroy(pc_mp_waiter *w)
{
    pthread_cond_destroy(&w->cv);
}

/* ---- hash table (caller holds mu) ---- */

static size_t bucket_of(const pc_mempool *mp, const uint8_t txid[32])
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, txid, 32, mp->hashkey);
    uint64_t v = 0;
    memcpy(&v, h, sizeof v);
    return (size_t)(v & (mp->nbuckets - 1));
}

static mp_entry *lookup(pc_mempool *mp, const uint8_t txid[32])
{
    for (mp_entry *e = mp->buckets[bucket_of(mp, txid)]; e != NULL; e = e->hnext)
        if (memcmp(e->txid, txid, 32) == 0)
            return e;
    return NULL;
}

/* Unlink e from the table (it stays allocated). */
static void unhash(pc_mempool *mp, mp_entry *e)
{
    mp_entry **pe = &mp->buckets[bucket_of(mp, e->txid)];
    while (*pe != NULL && *pe != e)
        pe = &(*pe)->hnext;
    if (*pe == e) {
        *pe = e->hnext;
        mp->count--;
    }
    e->hnext = NULL;
}

static void ready_unlink(pc_mempool *mp, mp_entry *e)
{
    if (e->qprev != NULL)
        e->qprev->qnext = e->qnext;
    else
        mp->rhead = e->qnext;
    if (e->qnext != NULL)
        e->qnext->qprev = e->qprev;
    else
        mp->rtail = e->qprev;
    e->qprev = e->qnext = NULL;
    mp->nready--;
}

static void ready_push(pc_mempool *mp, mp_entry *e)
{
    e->state = PC_MP_QUEUED;
    e->ready_ms = pc_mono_ms();
    e->qnext = NULL;
    e->qprev = mp->rtail;
    if (mp->rtail != NULL)
        mp->rtail->qnext = e;
    else
        mp->rhead = e;
    mp->rtail = e;
    mp->nready++;
    if (mp->nready == 1 || mp->nready >= mp->cfg.batch_max)
        pthread_cond_signal(&mp->ready_cv);
}

/* Set the waiter's state and wake it: signal its condition variable, or, once
 * the state is one its notify waits for, unhook it from e (its entry, or
 * NULL) and call notify. w must not be touched after this returns: a notify
 * may have handed it to a thread that frees it. Caller holds mu. */
static void wake(mp_entry *e, pc_mp_waiter *w, int state)
{
    if (w == NULL)
        return;
    w->state = state;
    if (w->notify != NULL && (state >= w->notify_min || state == PC_MP_FAILED)) {
        pc_mp_notify_fn *fn = w->notify;
        w->notify = NULL;
        if (e != NULL && e->waiter == w)
            e->waiter = NULL;
        fn(w->notify_arg, w);
        return;
    }
    pthread_cond_signal(&w->cv);
}

static void fail_waiter(mp_entry *e, pc_mp_waiter *w, int code, const char *msg)
{
    if (w == NULL)
        return;
    w->fail_code = code;
    snprintf(w->fail_msg, sizeof w->fail_msg, "%s", msg);
    wake(e, w, PC_MP_FAILED);
}

/* ---- verifier threads ---- */

static void *verifier_main(void *arg)
{
    pc_mempool *mp = arg;
    mp_entry *batch[VERIFY_BATCH];
    int ok[VERIFY_BATCH];
    pthread_mutex_lock(&mp->mu);
    for (;;) {
        while (mp->vhead == NULL && !mp->closing)
            pthread_cond_wait(&mp->verify_cv, &mp->mu);
        if (mp->vhead == NULL && mp->closing)
            break;
        size_t n = 0;
        while (n < VERIFY_BATCH && mp->vhead != NULL) {
            mp_entry *e = mp->vhead;
            mp->vhead = e->qnext;
            if (mp->vhead == NULL)
                mp->vtail = NULL;
            e->qnext = NULL;
            batch[n++] = e;
        }
        pthread_mutex_unlock(&mp->mu);

        int64_t t0 = pc_mono_ms();
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (size_t i = 0; i < n; i++)
            ok[i] = pc_tx_verify(&batch[i]->tx) == PC_OK;
        clock_gettime(CLOCK_MONOTONIC, &b);
        (void)t0;
        if (mp->metrics != NULL)
            pc_hist_observe(&mp->metrics->verify_batch,
                            (int64_t)(b.tv_sec - a.tv_sec) * 1000000000LL +
                                (b.tv_nsec - a.tv_nsec));

        pthread_mutex_lock(&mp->mu);
        for (size_t i = 0; i < n; i++) {
            mp_entry *e = batch[i];
            mp->nverify--;
            if (e->zombie) {
                /* Committed through another node's block meanwhile. */
                pc_tx_free(&e->tx);
                free(e);
                continue;
            }
            if (ok[i]) {
                ready_push(mp, e);
                wake(e, e->waiter, PC_MP_QUEUED);
            } else {
                if (mp->metrics != NULL)
                    pc_metrics_admission_reject(mp->metrics, PC_AR_BAD_SIGNATURE);
                fail_waiter(e, e->waiter, PC_ECRYPTO,
                            "a signature on this transaction does not verify");
                unhash(mp, e);
                pc_tx_free(&e->tx);
                free(e);
            }
        }
        if (mp->stopping)
            pthread_cond_broadcast(&mp->ready_cv); /* take() may be waiting for the drain */
        else if (mp->idle && mp->nverify == 0 && mp->nready > 0)
            pthread_cond_signal(&mp->ready_cv); /* the last of a burst: cut it now */
    }
    pthread_mutex_unlock(&mp->mu);
    return NULL;
}

int pc_mempool_open(const pc_mempool_config *cfg, pc_metrics *metrics,
                    pc_mempool **out, pc_error *err)
{
    *out = NULL;
    if (cfg->max_pending == 0 || cfg->verifiers < 1 || cfg->verifiers > 256 ||
        cfg->batch_max == 0 || cfg->batch_ms < 0)
        return pc_error_set(err, PC_EINVAL, "mempool: bad configuration");
    pc_mempool *mp = calloc(1, sizeof *mp);
    if (mp == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    mp->cfg = *cfg;
    mp->metrics = metrics;
    mp->nbuckets = 1024;
    while (mp->nbuckets < cfg->max_pending && mp->nbuckets < ((size_t)1 << 24))
        mp->nbuckets *= 2;
    mp->buckets = calloc(mp->nbuckets, sizeof *mp->buckets);
    mp->threads = calloc((size_t)cfg->verifiers, sizeof *mp->threads);
    if (mp->buckets == NULL || mp->threads == NULL) {
        free(mp->buckets);
        free(mp->threads);
        free(mp);
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    }
    randombytes_buf(mp->hashkey, sizeof mp->hashkey);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&mp->mu, NULL);
    pthread_cond_init(&mp->verify_cv, NULL);
    pthread_cond_init(&mp->ready_cv, &ca);
    pthread_condattr_destroy(&ca);
    for (int i = 0; i < cfg->verifiers; i++) {
        if (pthread_create(&mp->threads[i], NULL, verifier_main, mp) != 0) {
            pc_mempool_close(mp);
            return pc_error_set(err, PC_ENOMEM, "could not start verifier thread %d", i);
        }
        mp->nthreads++;
    }
    *out = mp;
    return PC_OK;
}

int pc_mempool_reserve(pc_mempool *mp, const uint8_t txid[32], pc_error *err)
{
    int rc = PC_OK;
    pthread_mutex_lock(&mp->mu);
    if (mp->stopping) {
        rc = pc_error_set(err, PC_EUNAVAIL, "the node is shutting down");
    } else if (lookup(mp, txid) != NULL) {
        rc = pc_error_set(err, PC_EEXIST, "this transaction is already pending");
    } else if (mp->count >= mp->cfg.max_pending) {
        rc = pc_error_set(err, PC_EUNAVAIL, "the node is busy (%zu transactions pending); try again shortly",
                          mp->count);
    } else {
        mp_entry *e = calloc(1, sizeof *e);
        if (e == NULL) {
            rc = pc_error_set(err, PC_ENOMEM, "out of memory");
        } else {
            memcpy(e->txid, txid, 32);
            size_t b = bucket_of(mp, txid);
            e->hnext = mp->buckets[b];
            mp->buckets[b] = e;
            mp->count++;
            mp->nreserved++;
        }
    }
    pthread_mutex_unlock(&mp->mu);
    return rc;
}

void pc_mempool_cancel(pc_mempool *mp, const uint8_t txid[32])
{
    pthread_mutex_lock(&mp->mu);
    mp_entry *e = lookup(mp, txid);
    if (e != NULL && e->state == 0) {
        unhash(mp, e);
        mp->nreserved--;
        free(e);
        pthread_cond_broadcast(&mp->ready_cv);
    }
    pthread_mutex_unlock(&mp->mu);
}

void pc_mempool_submit(pc_mempool *mp, pc_tx *tx, pc_mp_waiter *w)
{
    pthread_mutex_lock(&mp->mu);
    mp_entry *e = lookup(mp, tx->txid);
    if (e == NULL || e->state != 0) {
        /* Not reserved: a caller bug. Refuse loudly through the waiter. */
        pc_tx_free(tx);
        memset(tx, 0, sizeof *tx);
        fail_waiter(NULL, w, PC_ESTATE, "internal error: transaction submitted without a reservation");
        pthread_mutex_unlock(&mp->mu);
        return;
    }
    mp->nreserved--;
    e->tx = *tx;
    memset(tx, 0, sizeof *tx);
    e->waiter = w;
    if (w != NULL)
        memcpy(w->txid, e->txid, 32);
    if (e->tx.sigs_checked) {
        ready_push(mp, e);
        wake(e, w, PC_MP_QUEUED);
    } else {
        e->state = PC_MP_VERIFYING;
        if (w != NULL)
            w->state = PC_MP_VERIFYING;
        e->qnext = NULL;
        if (mp->vtail != NULL)
            mp->vtail->qnext = e;
        else
            mp->vhead = e;
        mp->vtail = e;
        mp->nverify++;
        pthread_cond_signal(&mp->verify_cv);
    }
    pthread_mutex_unlock(&mp->mu);
}

int pc_mempool_wait(pc_mempool *mp, pc_mp_waiter *w, int min_state,
                    int64_t deadline_ms)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(deadline_ms / 1000);
    ts.tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
    pthread_mutex_lock(&mp->mu);
    while (w->state < min_state) {
        int rc = pthread_cond_timedwait(&w->cv, &mp->mu, &ts);
        if (rc == ETIMEDOUT)
            break;
    }
    int state = w->state;
    pthread_mutex_unlock(&mp->mu);
    return state;
}

void pc_mempool_detach(pc_mempool *mp, pc_mp_waiter *w)
{
    pthread_mutex_lock(&mp->mu);
    mp_entry *e = lookup(mp, w->txid);
    if (e != NULL && e->waiter == w)
        e->waiter = NULL;
    pthread_mutex_unlock(&mp->mu);
}

int pc_mempool_state(pc_mempool *mp, const pc_mp_waiter *w)
{
    pthread_mutex_lock(&mp->mu);
    int state = w->state;
    pthread_mutex_unlock(&mp->mu);
    return state;
}

size_t pc_mempool_take(pc_mempool *mp, pc_tx **txs)
{
    *txs = NULL;
    pthread_mutex_lock(&mp->mu);
    for (;;) {
        if (mp->nready >= mp->cfg.batch_max)
            break;
        int64_t now = pc_mono_ms();
        /* With nothing in flight and nothing more on its way (being
         * admitted or verified), there is nothing to batch with: waiting
         * batch_ms would only delay a lone write. */
        bool alone = mp->idle && mp->nverify == 0 && mp->nreserved == 0;
        if (mp->nready > 0 &&
            (mp->stopping || alone || now >= mp->rhead->ready_ms + mp->cfg.batch_ms))
            break;
        if (mp->nready == 0 && mp->stopping && mp->nverify == 0 && mp->nreserved == 0) {
            pthread_mutex_unlock(&mp->mu);
            return 0;
        }
        if (mp->nready > 0) {
            int64_t due = mp->rhead->ready_ms + mp->cfg.batch_ms;
            struct timespec ts = {(time_t)(due / 1000), (long)(due % 1000) * 1000000L};
            pthread_cond_timedwait(&mp->ready_cv, &mp->mu, &ts);
        } else {
            pthread_cond_wait(&mp->ready_cv, &mp->mu);
        }
    }
    size_t n = mp->nready < mp->cfg.batch_max ? mp->nready : mp->cfg.batch_max;
    pc_tx *arr = malloc(n * sizeof *arr);
    if (arr == NULL) {
        pthread_mutex_unlock(&mp->mu);
        return 0; /* the caller retries; queued entries stay queued */
    }
    for (size_t i = 0; i < n; i++) {
        mp_entry *e = mp->rhead;
        ready_unlink(mp, e);
        arr[i] = e->tx;
        memset(&e->tx, 0, sizeof e->tx);
        e->state = PC_MP_PROPOSED;
        wake(e, e->waiter, PC_MP_PROPOSED);
    }
    pthread_mutex_unlock(&mp->mu);
    *txs = arr;
    return n;
}

void pc_mempool_set_idle(pc_mempool *mp, bool idle)
{
    pthread_mutex_lock(&mp->mu);
    mp->idle = idle;
    if (idle)
        pthread_cond_broadcast(&mp->ready_cv); /* take() may cut now */
    pthread_mutex_unlock(&mp->mu);
}

void pc_mempool_committed(pc_mempool *mp, const pc_block_result *res)
{
    pthread_mutex_lock(&mp->mu);
    for (size_t i = 0; i < res->ntx; i++) {
        mp_entry *e = lookup(mp, res->txids[i]);
        if (e == NULL || e->state == 0)
            continue; /* not ours, or a reservation whose ledger check will see it */
        pc_mp_waiter *w = e->waiter;
        if (w != NULL) {
            w->height = res->height;
            w->index = (uint32_t)i;
            w->verdict = res->verdicts[i];
            memcpy(w->block, res->hash, 32);
            wake(e, w, PC_MP_COMMITTED);
        }
        e->waiter = NULL;
        unhash(mp, e);
        if (e->state == PC_MP_VERIFYING) {
            e->zombie = true; /* the verifier frees it */
            continue;
        }
        if (e->state == PC_MP_QUEUED)
            ready_unlink(mp, e);
        pc_tx_free(&e->tx);
        free(e);
    }
    pthread_mutex_unlock(&mp->mu);
}

void pc_mempool_failed(pc_mempool *mp, const pc_tx *txs, size_t n, int code,
                       const char *msg)
{
    pthread_mutex_lock(&mp->mu);
    for (size_t i = 0; i < n; i++) {
        mp_entry *e = lookup(mp, txs[i].txid);
        if (e == NULL || e->state != PC_MP_PROPOSED)
            continue;
        fail_waiter(e, e->waiter, code, msg);
        unhash(mp, e);
        free(e);
    }
    pthread_mutex_unlock(&mp->mu);
}

bool pc_mempool_pending(pc_mempool *mp, const uint8_t txid[32])
{
    pthread_mutex_lock(&mp->mu);
    bool found = lookup(mp, txid) != NULL;
    pthread_mutex_unlock(&mp->mu);
    return found;
}

size_t pc_mempool_size(pc_mempool *mp)
{
    pthread_mutex_lock(&mp->mu);
    size_t n = mp->count;
    pthread_mutex_unlock(&mp->mu);
    return n;
}

void pc_mempool_stop(pc_mempool *mp)
{
    pthread_mutex_lock(&mp->mu);
    mp->stopping = true;
    pthread_cond_broadcast(&mp->ready_cv);
    pthread_mutex_unlock(&mp->mu);
}

void pc_mempool_abort(pc_mempool *mp)
{
    if (mp == NULL)
        return;
    pthread_mutex_lock(&mp->mu);
    bool joined = mp->closing;
    mp->stopping = true;
    mp->closing = true;
    pthread_cond_broadcast(&mp->verify_cv);
    pthread_cond_broadcast(&mp->ready_cv);
    pthread_mutex_unlock(&mp->mu);
    if (!joined)
        for (int i = 0; i < mp->nthreads; i++)
            pthread_join(mp->threads[i], NULL);
    /* Verifiers drained their queue; whatever is left is reserved, queued or
     * proposed and will never be committed by this process. */
    pthread_mutex_lock(&mp->mu);
    for (size_t b = 0; b < mp->nbuckets; b++) {
        for (mp_entry *e = mp->buckets[b]; e != NULL; e = e->hnext) {
            fail_waiter(e, e->waiter, PC_EUNAVAIL,
                        "the node stopped before this transaction was committed; it may still commit after a restart: check GET /v1/tx/{txid}");
            e->waiter = NULL;
        }
    }
    pthread_mutex_unlock(&mp->mu);
}

void pc_mempool_close(pc_mempool *mp)
{
    if (mp == NULL)
        return;
    pc_mempool_abort(mp);
    for (size_t b = 0; b < mp->nbuckets; b++) {
        mp_entry *e = mp->buckets[b];
        while (e != NULL) {
            mp_entry *next = e->hnext;
            pc_tx_free(&e->tx);
            free(e);
            e = next;
        }
        mp->buckets[b] = NULL;
    }
    mp->count = 0;
    pthread_cond_destroy(&mp->verify_cv);
    pthread_cond_destroy(&mp->ready_cv);
    pthread_mutex_destroy(&mp->mu);
    free(mp->buckets);
    free(mp->threads);
    free(mp);
}
