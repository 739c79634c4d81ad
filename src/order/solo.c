/* The `solo` orderer (DESIGN §6): one in-process queue that gives proposals
 * positions after+1, after+2, ... in the order submit() took them, and a
 * delivery thread that hands them to the node. It is for a single machine and
 * is the default.
 *
 * Durability: submit() returns PC_OK once the proposal is in the in-memory
 * queue, not on disk. What makes a proposal durable is the ledger's fsync
 * when the block built from it is applied; a crash before that loses the
 * proposal. The node therefore must not tell a client "committed" on the
 * strength of submit() alone: it answers after apply, exactly as with etcd.
 *
 * Contention: submit() is on the node's hot path. It copies the proposal
 * outside the lock, then holds the mutex only to check the sequence number and
 * link one node; it signals the condition variable only when the delivery
 * thread is actually asleep. The delivery thread takes the whole queue in one
 * swap and delivers it without the lock, so producers never wait on the
 * deliver callback. No polling and no sleeps.
 *
 * Duplicate sequence numbers: every seq ever accepted is remembered as a
 * sorted array of closed intervals, so a node numbering its proposals 1, 2,
 * 3, ... costs one interval however long it runs; sparse numbering costs 16
 * bytes per proposal. */
#include "parcha/orderer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Back-pressure: above these, submit() answers PC_EUNAVAIL (the node answers
 * 503) instead of letting an unbounded queue eat the machine. */
#define SOLO_MAX_ITEMS ((size_t)1 << 20)
#define SOLO_MAX_BYTES ((size_t)256 * 1024 * 1024)

typedef struct solo_item {
    struct solo_item *next;
    uint64_t seq;
    size_t len;
    uint8_t data[]; /* the proposal, copied */
} solo_item;

/* Closed interval [lo, hi] of sequence numbers already accepted. */
typedef struct seq_range {
    uint64_t lo, hi;
} seq_range;

typedef struct solo {
    pc_orderer base; /* first, so a pc_orderer* is a solo* */

    pthread_mutex_t mu;
    pthread_cond_t cv;     /* "queue not empty, or closing" */
    solo_item *head, *tail; /* queue, under mu */
    size_t nitems, nbytes;  /* queue size, under mu */
    seq_range *seen;        /* sorted, disjoint, non-adjacent; under mu */
    size_t nseen, capseen;
    int started;  /* start() was called; the thread exists */
    int closing;  /* close() was called: drain then exit */
    int stopped;  /* deliver failed: nothing more will be delivered */
    int sleeping; /* the delivery thread waits on cv */

    /* Owned by the delivery thread once started. */
    pc_deliver_fn fn;
    void *ctx;
    uint64_t last_pos;
    pthread_t thread;
} solo;

/* Free a chain of queue items. Takes ownership of the chain. */
static void free_items(solo_item *it)
{
    while (it != NULL) {
        solo_item *next = it->next;
        free(it);
        it = next;
    }
}

/* Record `seq` in the seen-set. Assumes s->mu is held. Returns PC_OK when the
 * seq is new (and now recorded), PC_EEXIST when it was already there, and
 * PC_ENOMEM when the set could not grow (nothing is changed then). Cost:
 * O(1) for the next number after the highest seen, O(log n) to find a place
 * and O(n) to open a gap for an out-of-order number. */
static int seen_insert(solo *s, uint64_t seq)
{
    size_t n = s->nseen;
    /* Fast path: the usual case is one more than the highest seen. */
    if (n > 0 && s->seen[n - 1].hi != UINT64_MAX && s->seen[n - 1].hi + 1 == seq) {
        s->seen[n - 1].hi = seq;
        return PC_OK;
    }
    /* i = index of the first interval with lo > seq. */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->seen[mid].lo > seq)
            hi = mid;
        else
            lo = mid + 1;
    }
    size_t i = lo;
    seq_range *prev = i > 0 ? &s->seen[i - 1] : NULL;
    seq_range *next = i < n ? &s->seen[i] : NULL;
    if (prev != NULL && seq <= prev->hi)
        return PC_EEXIST;
    int join_prev = prev != NULL && prev->hi + 1 == seq; /* prev->hi < seq: no overflow */
    int join_next = next != NULL && seq + 1 == next->lo; /* seq < next->lo: no overflow */
    if (join_prev && join_next) {
        prev->hi = next->hi;
        memmove(&s->seen[i], &s->seen[i + 1], (n - i - 1) * sizeof *s->seen);
        s->nseen--;
        return PC_OK;
    }
    if (join_prev) {
        prev->hi = seq;
        return PC_OK;
    }
    if (join_next) {
        next->lo = seq;
        return PC_OK;
    }
    if (n == s->capseen) {
        size_t ncap = s->capseen ? s->capseen * 2 : 16;
        if (ncap > SIZE_MAX / sizeof *s->seen)
            return PC_ENOMEM;
        seq_range *g = realloc(s->seen, ncap * sizeof *g);
        if (g == NULL)
            return PC_ENOMEM;
        s->seen = g;
        s->capseen = ncap;
    }
    memmove(&s->seen[i + 1], &s->seen[i], (n - i) * sizeof *s->seen);
    s->seen[i].lo = seq;
    s->seen[i].hi = seq;
    s->nseen++;
    return PC_OK;
}

/* The delivery thread: wait for items, take the whole queue, deliver it in
 * order outside the lock. On close it first drains what is queued. If the
 * callback refuses a proposal, delivery stops for good: that proposal and
 * everything after it are dropped (solo keeps nothing across a restart; the
 * node re-proposes what it has not applied) and submit() reports PC_ESTATE
 * from then on. `arg` is the solo; returns NULL. */
static void *solo_thread(void *arg)
{
    solo *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->head == NULL && !s->closing) {
            s->sleeping = 1;
            pthread_cond_wait(&s->cv, &s->mu);
            s->sleeping = 0;
        }
        if (s->head == NULL)
            break; /* closing and drained */
        solo_item *batch = s->head;
        s->head = s->tail = NULL;
        s->nitems = 0;
        s->nbytes = 0;
        pthread_mutex_unlock(&s->mu);

        int rc = PC_OK;
        while (batch != NULL && rc == PC_OK) {
            solo_item *it = batch;
            batch = it->next;
            if (s->last_pos == UINT64_MAX) {
                fprintf(stderr, "parcha solo: positions exhausted; delivery stopped\n");
                rc = PC_ESTATE;
            } else {
                s->last_pos++;
                rc = s->fn(s->ctx, s->last_pos, it->data, it->len);
                if (rc != PC_OK)
                    fprintf(stderr,
                            "parcha solo: deliver refused position %llu (%s); "
                            "delivery stopped\n",
                            (unsigned long long)s->last_pos, pc_strerror(rc));
            }
            free(it);
        }
        free_items(batch);

        pthread_mutex_lock(&s->mu);
        if (rc != PC_OK) {
            s->stopped = 1;
            free_items(s->head);
            s->head = s->tail = NULL;
            s->nitems = 0;
            s->nbytes = 0;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ops->start: begin delivering at position after+1. Returns PC_EINVAL for a
 * NULL callback, PC_ESTATE if already started, PC_EIO if the thread could
 * not be created. Proposals submitted before start are delivered first. */
static int solo_start(pc_orderer *o, uint64_t after, pc_deliver_fn fn, void *ctx)
{
    solo *s = (solo *)o;
    if (fn == NULL)
        return PC_EINVAL;
    pthread_mutex_lock(&s->mu);
    if (s->started || s->closing) {
        pthread_mutex_unlock(&s->mu);
        return PC_ESTATE;
    }
    s->fn = fn;
    s->ctx = ctx;
    s->last_pos = after;
    int e = pthread_create(&s->thread, NULL, solo_thread, s);
    if (e == 0)
        s->started = 1;
    pthread_mutex_unlock(&s->mu);
    if (e != 0) {
        fprintf(stderr, "parcha solo: cannot start the delivery thread: %s\n", strerror(e));
        return PC_EIO;
    }
    return PC_OK;
}

/* ops->submit: queue a copy of the proposal unless `seq` was seen before (then
 * PC_OK and nothing happens). Returns PC_EINVAL for NULL bytes with len > 0,
 * PC_ETOOBIG for a proposal over the byte cap, PC_ENOMEM if the copy fails,
 * PC_EUNAVAIL when the queue is over its caps,
 * PC_ESTATE after close() or after delivery stopped. Thread-safe. */
static int solo_submit(pc_orderer *o, uint64_t seq, const uint8_t *proposal, size_t len)
{
    solo *s = (solo *)o;
    if (proposal == NULL && len > 0)
        return PC_EINVAL;
    if (len > SOLO_MAX_BYTES)
        return PC_ETOOBIG;
    solo_item *it = malloc(sizeof *it + len);
    if (it == NULL)
        return PC_ENOMEM;
    it->next = NULL;
    it->seq = seq;
    it->len = len;
    if (len > 0)
        memcpy(it->data, proposal, len);

    int rc;
    pthread_mutex_lock(&s->mu);
    if (s->closing || s->stopped) {
        rc = PC_ESTATE;
        goto out_unlock;
    }
    if (s->nitems >= SOLO_MAX_ITEMS || s->nbytes > SOLO_MAX_BYTES - len) {
        rc = PC_EUNAVAIL;
        goto out_unlock;
    }
    rc = seen_insert(s, seq);
    if (rc == PC_EEXIST) {
        rc = PC_OK; /* a retry: already queued or delivered */
        goto out_unlock;
    }
    if (rc != PC_OK)
        goto out_unlock;
    if (s->tail != NULL)
        s->tail->next = it;
    else
        s->head = it;
    s->tail = it;
    s->nitems++;
    s->nbytes += len;
    it = NULL; /* the queue owns it */
    if (s->sleeping)
        pthread_cond_signal(&s->cv);
out_unlock:
    pthread_mutex_unlock(&s->mu);
    free(it);
    return rc;
}

/* ops->close: deliver everything already queued (if started), stop the
 * thread, free everything. The caller must not call submit() concurrently
 * with or after close(). */
static void solo_close(pc_orderer *o)
{
    solo *s = (solo *)o;
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->closing = 1;
    int started = s->started;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (started)
        pthread_join(s->thread, NULL);
    free_items(s->head); /* only if never started */
    free(s->seen);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static const pc_orderer_ops solo_ops = {
    .start = solo_start,
    .submit = solo_submit,
    .close = solo_close,
    .applied = NULL, /* nothing to retain: the queue forgets what it delivered */
};

/* Contract in orderer.h. Makes no thread until start(). Returns PC_EINVAL
 * for a NULL out, PC_ENOMEM, or PC_EIO if the lock cannot be made. */
int pc_solo_open(pc_orderer **out, pc_error *err)
{
    if (out == NULL)
        return pc_error_set(err, PC_EINVAL, "pc_solo_open: out is NULL");
    *out = NULL;
    solo *s = calloc(1, sizeof *s);
    if (s == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory opening the solo orderer");
    int e = pthread_mutex_init(&s->mu, NULL);
    if (e != 0)
        goto err_free;
    e = pthread_cond_init(&s->cv, NULL);
    if (e != 0)
        goto err_mutex;
    s->base.ops = &solo_ops;
    snprintf(s->base.name, sizeof s->base.name, "%s", "solo");
    *out = &s->base;
    return PC_OK;

err_mutex:
    pthread_mutex_destroy(&s->mu);
err_free:
    free(s);
    return pc_error_set(err, PC_EIO, "cannot create the solo orderer's lock: %s",
                        strerror(e));
}
