/* Unit tests for the solo orderer: order and positions, the `after` offset,
 * duplicate sequence numbers, close() draining the queue, many threads
 * submitting at once, and delivery stopping when the callback refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parcha/orderer.h"

/* ---------------------------------------------------------------- fixture */

#define MAX_SEEN 200000

/* What the deliver callback saw. Only the delivery thread writes; the test
 * thread reads under `mu` and waits on `cv`. */
typedef struct collector {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t n;
    uint64_t pos[MAX_SEEN];
    uint64_t tag[MAX_SEEN]; /* first 8 bytes of each proposal */
    size_t len[MAX_SEEN];
    int fail_at;   /* refuse the fail_at-th delivery (1-based); 0 = never */
    int bad;       /* a callback-side check failed (cmocka asserts only here) */
} collector;

/* A zeroed collector with its lock, or NULL. Free with collector_free. */
static collector *collector_new(void)
{
    collector *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    return c;
}

/* Destroy a collector; its orderer must be closed first. */
static void collector_free(collector *c)
{
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* The deliver callback: record position and tag; refuse the fail_at-th. */
static int collect(void *ctx, uint64_t position, const uint8_t *p, size_t len)
{
    collector *c = ctx;
    pthread_mutex_lock(&c->mu);
    if (c->fail_at > 0 && c->n + 1 == (size_t)c->fail_at) {
        pthread_mutex_unlock(&c->mu);
        return PC_EIO;
    }
    if (c->n >= MAX_SEEN) {
        c->bad = 1;
    } else {
        uint64_t t = 0;
        memcpy(&t, p, len < sizeof t ? len : sizeof t);
        c->pos[c->n] = position;
        c->tag[c->n] = t;
        c->len[c->n] = len;
        c->n++;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return PC_OK;
}

/* Wait until the collector holds at least `n` items or 10 s pass. Returns the
 * count seen. */
static size_t wait_for(collector *c, size_t n)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    pthread_mutex_lock(&c->mu);
    while (c->n < n) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &dl) != 0)
            break;
    }
    size_t got = c->n;
    pthread_mutex_unlock(&c->mu);
    return got;
}

/* ---------------------------------------------------------------- helpers */

/* Submit an 8-byte proposal whose content is `tag`. */
static int submit_tag(pc_orderer *o, uint64_t seq, uint64_t tag)
{
    uint8_t b[8];
    memcpy(b, &tag, sizeof b);
    return o->ops->submit(o, seq, b, sizeof b);
}

/* ---------------------------------------------------------------- cases */

/* Proposals come out in submit order at positions 1, 2, 3, ... */
static void test_order_and_positions(void **state)
{
    (void)state;
    pc_orderer *o = NULL;
    pc_error err;
    collector *c = collector_new();
    assert_non_null(c);
    assert_int_equal(pc_solo_open(&o, &err), PC_OK);
    assert_string_equal(o->name, "solo");
    assert_int_equal(o->ops->start(o, 0, collect, c), PC_OK);
    for (uint64_t i = 1; i <= 100; i++)
        assert_int_equal(submit_tag(o, i, 1000 + i), PC_OK);
    assert_int_equal(wait_for(c, 100), 100);
    for (size_t i = 0; i < 100; i++) {
        assert_int_equal(c->pos[i], i + 1);
        assert_int_equal(c->tag[i], 1000 + i + 1);
        assert_int_equal(c->len[i], 8);
    }
    o->ops->close(o);
    assert_int_equal(c->n, 100);
    collector_free(c);
}

/* start(after = 41) numbers from 42. */
static void test_after_offset(void **state)
{
    (void)state;
    pc_orderer *o = NULL;
    collector *c = collector_new();
    assert_non_null(c);
    assert_int_equal(pc_solo_open(&o, NULL), PC_OK);
    assert_int_equal(o->ops->start(o, 41, collect, c), PC_OK);
    for (uint64_t i = 0; i < 3; i++)
        assert_int_equal(submit_tag(o, i, i), PC_OK);
    assert_int_equal(wait_for(c, 3), 3);
    assert_int_equal(c->pos[0], 42);
    assert_int_equal(c->pos[1], 43);
    assert_int_equal(c->pos[2], 44);
    o->ops->close(o);
    collector_free(c);
}

/* A seq seen before is a no-op, whatever its bytes and whatever the order
 * the seqs arrive in (every interval merge of the seen-set is exercised). */
static void test_duplicate_seq_ignored(void **state)
{
    (void)state;
    pc_orderer *o = NULL;
    collector *c = collector_new();
    assert_non_null(c);
    assert_int_equal(pc_solo_open(&o, NULL), PC_OK);
    assert_int_equal(o->ops->start(o, 0, collect, c), PC_OK);
    /* Out of order, with gaps and every kind of interval merge, then every
     * seq again (a retry), some with other content. */
    const uint64_t seqs[] = {5, 3, 4, 1, 9, 2, 7, 8, 6, UINT64_MAX, 0};
    size_t n = sizeof seqs / sizeof seqs[0];
    for (size_t i = 0; i < n; i++)
        assert_int_equal(submit_tag(o, seqs[i], seqs[i]), PC_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(submit_tag(o, seqs[i], 777), PC_OK);
    assert_int_equal(submit_tag(o, 10, 10), PC_OK); /* marker */
    assert_int_equal(wait_for(c, n + 1), n + 1);
    o->ops->close(o);
    assert_int_equal(c->n, n + 1);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(c->tag[i], seqs[i]);
    assert_int_equal(c->tag[n], 10);
    collector_free(c);
}

/* close() right after a burst still delivers everything queued. */
static void test_close_delivers_queued(void **state)
{
    (void)state;
    pc_orderer *o = NULL;
    collector *c = collector_new();
    assert_non_null(c);
    assert_int_equal(pc_solo_open(&o, NULL), PC_OK);
    /* Half before start (kept until start), half racing the thread, then an
     * immediate close: everything queued must still come out, in order. */
    for (uint64_t i = 0; i < 5000; i++)
        assert_int_equal(submit_tag(o, i, i), PC_OK);
    assert_int_equal(o->ops->start(o, 0, collect, c), PC_OK);
    for (uint64_t i = 5000; i < 10000; i++)
        assert_int_equal(submit_tag(o, i, i), PC_OK);
    o->ops->close(o);
    assert_int_equal(c->n, 10000);
    for (size_t i = 0; i < 10000; i++) {
        assert_int_equal(c->pos[i], i + 1);
        assert_int_equal(c->tag[i], i);
    }
    collector_free(c);
}

/* close() of a never-started orderer frees what was queued. */
static void test_close_without_start(void **state)
{
    (void)state;
    pc_orderer *o = NULL;
    assert_int_equal(pc_solo_open(&o, NULL), PC_OK);
    assert_int_equal(submit_tag(o, 1, 1), PC_OK);
    o->ops->close(o); /* frees the queued item; ASan checks */
}

/* Bad arguments are refused with if-checks, not asserts. */
static void test_bad_arguments(void **state)
{
    (void)state;
    pc_orderer *o = NULL;
    collector *c = collector_new();
    assert_non_null(c);
    assert_int_equal(pc_solo_open(NULL, NULL), PC_EINVAL);
    assert_int_equal(pc_solo_open(&o, NULL), PC_OK);
    assert_int_equal(o->ops->start(o, 0, NULL, NULL), PC_EINVAL);
    assert_int_equal(o->ops->submit(o, 1, NULL, 5), PC_EINVAL);
    assert_int_equal(o->ops->submit(o, 1, NULL, 0), PC_OK); /* empty proposal */
    assert_int_equal(o->ops->start(o, 0, collect, c), PC_OK);
    assert_int_equal(o->ops->start(o, 0, collect, c), PC_ESTATE);
    assert_null(o->ops->applied);
    assert_int_equal(wait_for(c, 1), 1);
    assert_int_equal(c->len[0], 0);
    o->ops->close(o);
    collector_free(c);
}

/* A refusing callback stops delivery; submit() then says PC_ESTATE. */
static void test_refusal_stops_delivery(void **state)
{
    (void)state;
    pc_orderer *o = NULL;
    collector *c = collector_new();
    assert_non_null(c);
    c->fail_at = 3;
    assert_int_equal(pc_solo_open(&o, NULL), PC_OK);
    assert_int_equal(o->ops->start(o, 0, collect, c), PC_OK);
    for (uint64_t i = 1; i <= 5; i++)
        assert_int_equal(submit_tag(o, i, i), PC_OK);
    /* The thread stops at the 3rd; from then on submit says so. */
    int rc = PC_OK;
    for (int tries = 0; tries < 10000 && rc == PC_OK; tries++) {
        rc = submit_tag(o, 100 + (uint64_t)tries, 0);
        if (rc == PC_OK) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    assert_int_equal(rc, PC_ESTATE);
    o->ops->close(o);
    assert_int_equal(c->n, 2);
    collector_free(c);
}

/* Many submitters. Each thread t submits seqs t*PER+i in order, each twice
 * (a retry), so per-thread order must survive and every seq arrive once. */
#define THREADS 8
#define PER 5000

typedef struct worker {
    pc_orderer *o;
    uint64_t t;
    int failed;
} worker;

/* Submitting thread: its PER seqs in order, each twice; records failure. */
static void *worker_main(void *arg)
{
    worker *w = arg;
    for (uint64_t i = 0; i < PER; i++) {
        uint64_t seq = w->t * PER + i;
        if (submit_tag(w->o, seq, seq) != PC_OK || submit_tag(w->o, seq, seq) != PC_OK)
            w->failed = 1;
    }
    return NULL;
}

/* THREADS submitters at once: every seq delivered once, positions
 * contiguous, each thread's own order kept. */
static void test_many_threads_exactly_once(void **state)
{
    (void)state;
    pc_orderer *o = NULL;
    collector *c = collector_new();
    assert_non_null(c);
    assert_int_equal(pc_solo_open(&o, NULL), PC_OK);
    assert_int_equal(o->ops->start(o, 0, collect, c), PC_OK);
    pthread_t th[THREADS];
    worker w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t].o = o;
        w[t].t = (uint64_t)t;
        w[t].failed = 0;
        assert_int_equal(pthread_create(&th[t], NULL, worker_main, &w[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_false(w[t].failed);
    }
    o->ops->close(o);
    assert_false(c->bad);
    assert_int_equal(c->n, THREADS * PER);
    uint8_t *once = calloc(THREADS * PER, 1);
    uint64_t next[THREADS] = {0};
    assert_non_null(once);
    for (size_t i = 0; i < c->n; i++) {
        assert_int_equal(c->pos[i], i + 1);
        uint64_t seq = c->tag[i];
        assert_true(seq < THREADS * PER);
        assert_int_equal(once[seq], 0);
        once[seq] = 1;
        uint64_t t = seq / PER;
        assert_int_equal(seq % PER, next[t]); /* per-thread order kept */
        next[t]++;
    }
    free(once);
    collector_free(c);
}

/* Run every case; the exit status is the number of failures. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_positions),
        cmocka_unit_test(test_after_offset),
        cmocka_unit_test(test_duplicate_seq_ignored),
        cmocka_unit_test(test_close_delivers_queued),
        cmocka_unit_test(test_close_without_start),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_refusal_stops_delivery),
        cmocka_unit_test(test_many_threads_exactly_once),
    };
    return cmocka_run_group_tests_name("solo", tests, NULL, NULL);
}
