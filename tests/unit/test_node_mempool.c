/* Tests for parchad's mempool (src/node/node_mempool.c): reservations and
 * duplicates, the verifier pool (good and bad signatures), batching by count
 * and by age, commit and failure notification of waiters, detaching after a
 * timeout, commits of transactions still queued (another node's block),
 * capacity, and the stop/drain sequence. Real signed transactions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pthread.h>

#include "parcha/crypto.h"
#include "parcha/encode.h"
#include "parcha/tx.h"
#include "node/node_mempool.h"

/* ---- fixture ---- */

static pc_keypair patient;

static int setup(void **state)
{
    (void)state;
    uint8_t seed[32];
    memset(seed, 7, sizeof seed);
    if (pc_crypto_init() != 0 || pc_key_from_seed(&patient, seed) != 0)
        return -1;
    return 0;
}

/* ---- helpers ---- */

/* A signed consent.revoke, distinct per i. */
static void make_tx(pc_tx *tx, int i)
{
    char pk[64], grant[65];
    uint8_t g[32];
    memset(g, 0, sizeof g);
    g[0] = (uint8_t)i;
    g[1] = (uint8_t)(i >> 8);
    pc_b64_encode(pk, sizeof pk, patient.pk, 32);
    pc_hex_encode(grant, sizeof grant, g, 32);
    json_t *body = json_pack("{s:s,s:s}", "patient", pk, "grant", grant);
    json_t *u = pc_tx_build("testnet", "consent.revoke", 1700000000000LL + i, body);
    assert_non_null(u);
    const pc_keypair *keys[1] = {&patient};
    pc_error err;
    assert_int_equal(pc_tx_sign(u, keys, 1, tx, &err), PC_OK);
    json_decref(u);
    tx->sigs_checked = false; /* as if it came from a client */
}

static pc_mempool *open_mp(size_t max_pending, size_t batch_max, int batch_ms)
{
    pc_mempool_config cfg = {max_pending, 2, batch_max, batch_ms};
    pc_mempool *mp = NULL;
    pc_error err;
    assert_int_equal(pc_mempool_open(&cfg, NULL, &mp, &err), PC_OK);
    return mp;
}

/* Reserve and submit; returns the txid. */
static void add(pc_mempool *mp, pc_tx *tx, pc_mp_waiter *w, uint8_t txid[32])
{
    pc_error err;
    memcpy(txid, tx->txid, 32);
    assert_int_equal(pc_mempool_reserve(mp, tx->txid, &err), PC_OK);
    pc_mempool_submit(mp, tx, w);
    assert_null(tx->canon); /* moved in */
}

static int64_t soon(void)
{
    return pc_mono_ms() + 10000;
}

/* A block result for txids (verdicts all v). */
static void block_of(pc_block_result *r, uint8_t (*txids)[32], size_t n, int v)
{
    memset(r, 0, sizeof *r);
    r->height = 7;
    r->ntx = n;
    r->txids = txids;
    r->verdicts = calloc(n ? n : 1, 1);
    assert_non_null(r->verdicts);
    memset(r->verdicts, v, n);
    memset(r->hash, 0xab, 32);
}

static void free_taken(pc_tx *txs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pc_tx_free(&txs[i]);
    free(txs);
}

/* ---- cases ---- */

static void test_reserve_duplicate_cancel(void **state)
{
    (void)state;
    pc_mempool *mp = open_mp(100, 10, 0);
    uint8_t id[32];
    memset(id, 1, sizeof id);
    pc_error err;
    assert_int_equal(pc_mempool_reserve(mp, id, &err), PC_OK);
    assert_true(pc_mempool_pending(mp, id));
    assert_int_equal(pc_mempool_reserve(mp, id, &err), PC_EEXIST);
    assert_int_equal(pc_mempool_size(mp), 1);
    pc_mempool_cancel(mp, id);
    assert_false(pc_mempool_pending(mp, id));
    assert_int_equal(pc_mempool_reserve(mp, id, &err), PC_OK);
    pc_mempool_cancel(mp, id);
    pc_mempool_close(mp);
}

static void test_verify_queue_take_commit(void **state)
{
    (void)state;
    pc_mempool *mp = open_mp(100, 10, 0);
    pc_tx tx;
    pc_mp_waiter w;
    uint8_t txid[32];
    make_tx(&tx, 1);
    assert_int_equal(pc_mp_waiter_init(&w), PC_OK);
    add(mp, &tx, &w, txid);
    assert_int_equal(pc_mempool_wait(mp, &w, PC_MP_QUEUED, soon()), PC_MP_QUEUED);

    pc_tx *txs = NULL;
    assert_int_equal(pc_mempool_take(mp, &txs), 1);
    assert_memory_equal(txs[0].txid, txid, 32);
    assert_true(txs[0].sigs_checked);
    assert_int_equal(pc_mempool_wait(mp, &w, PC_MP_PROPOSED, soon()), PC_MP_PROPOSED);
    assert_true(pc_mempool_pending(mp, txid)); /* proposed still counts */

    uint8_t ids[1][32];
    memcpy(ids[0], txid, 32);
    pc_block_result r;
    block_of(&r, ids, 1, 0);
    pc_mempool_committed(mp, &r);
    free(r.verdicts);
    assert_int_equal(pc_mempool_wait(mp, &w, PC_MP_COMMITTED, soon()), PC_MP_COMMITTED);
    assert_int_equal(w.height, 7);
    assert_int_equal(w.index, 0);
    assert_int_equal(w.verdict, 0);
    assert_int_equal(w.block[0], 0xab);
    assert_false(pc_mempool_pending(mp, txid));
    assert_int_equal(pc_mempool_size(mp), 0);
    free_taken(txs, 1);
    pc_mp_waiter_destroy(&w);
    pc_mempool_close(mp);
}

static void test_bad_signature(void **state)
{
    (void)state;
    pc_mempool *mp = open_mp(100, 10, 0);
    pc_tx tx;
    pc_mp_waiter w;
    uint8_t txid[32];
    make_tx(&tx, 2);
    tx.sigs[0].sig[5] ^= 1;
    assert_int_equal(pc_mp_waiter_init(&w), PC_OK);
    add(mp, &tx, &w, txid);
    assert_int_equal(pc_mempool_wait(mp, &w, PC_MP_QUEUED, soon()), PC_MP_FAILED);
    assert_int_equal(w.fail_code, PC_ECRYPTO);
    assert_false(pc_mempool_pending(mp, txid));
    pc_mp_waiter_destroy(&w);
    pc_mempool_close(mp);
}

static void test_batches_by_count(void **state)
{
    (void)state;
    /* batch_ms large: only the count can cut a batch until stop. */
    pc_mempool *mp = open_mp(100, 2, 100000);
    pc_mp_waiter w[5];
    uint8_t ids[5][32];
    for (int i = 0; i < 5; i++) {
        pc_tx tx;
        make_tx(&tx, 10 + i);
        assert_int_equal(pc_mp_waiter_init(&w[i]), PC_OK);
        add(mp, &tx, &w[i], ids[i]);
    }
    for (int i = 0; i < 5; i++)
        assert_int_equal(pc_mempool_wait(mp, &w[i], PC_MP_QUEUED, soon()), PC_MP_QUEUED);
    pc_tx *txs = NULL;
    assert_int_equal(pc_mempool_take(mp, &txs), 2);
    free_taken(txs, 2);
    assert_int_equal(pc_mempool_take(mp, &txs), 2);
    free_taken(txs, 2);
    /* One left: only stopping (or age) releases it. */
    pc_mempool_stop(mp);
    pc_error err;
    uint8_t other[32] = {9};
    assert_int_equal(pc_mempool_reserve(mp, other, &err), PC_EUNAVAIL);
    assert_int_equal(pc_mempool_take(mp, &txs), 1);
    free_taken(txs, 1);
    assert_int_equal(pc_mempool_take(mp, &txs), 0);
    /* Proposed but never committed: close fails their waiters. */
    pc_mempool_abort(mp);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(w[i].state, PC_MP_FAILED);
        assert_int_equal(w[i].fail_code, PC_EUNAVAIL);
        pc_mp_waiter_destroy(&w[i]);
    }
    pc_mempool_close(mp);
}

static void test_batch_by_age(void **state)
{
    (void)state;
    pc_mempool *mp = open_mp(100, 1000, 5);
    pc_tx tx;
    uint8_t id[32];
    make_tx(&tx, 30);
    add(mp, &tx, NULL, id);
    int64_t t0 = pc_mono_ms();
    pc_tx *txs = NULL;
    assert_int_equal(pc_mempool_take(mp, &txs), 1);
    assert_true(pc_mono_ms() - t0 < 5000);
    pc_mempool_failed(mp, txs, 1, PC_EUNAVAIL, "test");
    assert_false(pc_mempool_pending(mp, id));
    free_taken(txs, 1);
    pc_mempool_close(mp);
}

/* The proposer's take() in a thread, so that the test can change the idle
 * flag while it waits. */
typedef struct taker {
    pc_mempool *mp;
    pc_tx *txs;
    size_t n;
} taker;

static void *take_main(void *arg)
{
    taker *t = arg;
    t->n = pc_mempool_take(t->mp, &t->txs);
    return NULL;
}

static void test_idle_cuts_at_once(void **state)
{
    (void)state;
    /* A batch window of 100 s: only the idle flag can release a lone
     * transaction quickly. Not idle at first (the default), so take() waits;
     * setting idle must wake it (or, if it came first, let it return at once). */
    pc_mempool *mp = open_mp(100, 1000, 100000);
    pc_mp_waiter w;
    assert_int_equal(pc_mp_waiter_init(&w), PC_OK);
    pc_tx tx;
    uint8_t id[32];
    make_tx(&tx, 40);
    add(mp, &tx, &w, id);
    assert_int_equal(pc_mempool_wait(mp, &w, PC_MP_QUEUED, soon()), PC_MP_QUEUED);
    taker t = {mp, NULL, 0};
    pthread_t th;
    int64_t t0 = pc_mono_ms();
    assert_int_equal(pthread_create(&th, NULL, take_main, &t), 0);
    pc_mempool_set_idle(mp, true);
    pthread_join(th, NULL);
    assert_int_equal(t.n, 1);
    /* Far less than the window: it did not wait for the batch to age. */
    assert_true(pc_mono_ms() - t0 < 50000);
    pc_mempool_failed(mp, t.txs, 1, PC_EUNAVAIL, "test");
    free_taken(t.txs, 1);
    /* Idle stays set: the next lone transaction goes at once too. */
    make_tx(&tx, 41);
    add(mp, &tx, NULL, id);
    pc_tx *txs = NULL;
    assert_int_equal(pc_mempool_take(mp, &txs), 1);
    pc_mempool_failed(mp, txs, 1, PC_EUNAVAIL, "test");
    free_taken(txs, 1);
    pc_mp_waiter_destroy(&w);
    pc_mempool_close(mp);
}

static void test_failed_wakes(void **state)
{
    (void)state;
    pc_mempool *mp = open_mp(100, 10, 0);
    pc_tx tx;
    pc_mp_waiter w;
    uint8_t id[32];
    make_tx(&tx, 40);
    tx.sigs_checked = true; /* straight to the ready queue */
    assert_int_equal(pc_mp_waiter_init(&w), PC_OK);
    add(mp, &tx, &w, id);
    assert_int_equal(w.state, PC_MP_QUEUED);
    pc_tx *txs = NULL;
    assert_int_equal(pc_mempool_take(mp, &txs), 1);
    pc_mempool_failed(mp, txs, 1, PC_EUNAVAIL, "orderer down");
    assert_int_equal(pc_mempool_wait(mp, &w, PC_MP_COMMITTED, soon()), PC_MP_FAILED);
    assert_int_equal(w.fail_code, PC_EUNAVAIL);
    assert_string_equal(w.fail_msg, "orderer down");
    free_taken(txs, 1);
    pc_mp_waiter_destroy(&w);
    pc_mempool_close(mp);
}

static void test_detach_after_timeout(void **state)
{
    (void)state;
    pc_mempool *mp = open_mp(100, 10, 0);
    pc_tx tx;
    pc_mp_waiter w;
    uint8_t id[32];
    make_tx(&tx, 50);
    tx.sigs_checked = true;
    assert_int_equal(pc_mp_waiter_init(&w), PC_OK);
    add(mp, &tx, &w, id);
    /* Deadline already passed: returns at once with the current state. */
    assert_int_equal(pc_mempool_wait(mp, &w, PC_MP_COMMITTED, pc_mono_ms() - 1), PC_MP_QUEUED);
    pc_mempool_detach(mp, &w);
    pc_mp_waiter_destroy(&w);
    memset(&w, 0x5a, sizeof w); /* any later write would be caught by the checks below */
    pc_tx *txs = NULL;
    assert_int_equal(pc_mempool_take(mp, &txs), 1);
    uint8_t ids[1][32];
    memcpy(ids[0], id, 32);
    pc_block_result r;
    block_of(&r, ids, 1, 3);
    pc_mempool_committed(mp, &r);
    free(r.verdicts);
    assert_int_equal(w.state, 0x5a5a5a5a);
    assert_false(pc_mempool_pending(mp, id));
    free_taken(txs, 1);
    pc_mempool_close(mp);
}

/* Another node's block commits a txid still waiting in our ready queue. */
static void test_commit_while_queued(void **state)
{
    (void)state;
    pc_mempool *mp = open_mp(100, 10, 100000);
    pc_tx a, b;
    pc_mp_waiter wa;
    uint8_t ida[32], idb[32];
    make_tx(&a, 60);
    make_tx(&b, 61);
    a.sigs_checked = b.sigs_checked = true;
    assert_int_equal(pc_mp_waiter_init(&wa), PC_OK);
    add(mp, &a, &wa, ida);
    add(mp, &b, NULL, idb);
    uint8_t ids[1][32];
    memcpy(ids[0], ida, 32);
    pc_block_result r;
    block_of(&r, ids, 1, 0);
    pc_mempool_committed(mp, &r);
    free(r.verdicts);
    assert_int_equal(wa.state, PC_MP_COMMITTED);
    assert_int_equal(pc_mempool_size(mp), 1);
    pc_mempool_stop(mp);
    pc_tx *txs = NULL;
    assert_int_equal(pc_mempool_take(mp, &txs), 1);
    assert_memory_equal(txs[0].txid, idb, 32);
    free_taken(txs, 1);
    pc_mp_waiter_destroy(&wa);
    pc_mempool_close(mp);
}

static void test_capacity(void **state)
{
    (void)state;
    pc_mempool *mp = open_mp(3, 10, 0);
    pc_error err;
    uint8_t id[32];
    memset(id, 0, sizeof id);
    for (int i = 0; i < 3; i++) {
        id[0] = (uint8_t)i;
        assert_int_equal(pc_mempool_reserve(mp, id, &err), PC_OK);
    }
    id[0] = 99;
    assert_int_equal(pc_mempool_reserve(mp, id, &err), PC_EUNAVAIL);
    assert_true(strlen(err.msg) > 0);
    for (int i = 0; i < 3; i++) {
        id[0] = (uint8_t)i;
        pc_mempool_cancel(mp, id);
    }
    pc_mempool_close(mp);
}

static void test_many_concurrent_verifications(void **state)
{
    (void)state;
    enum { N = 300 };
    pc_mempool *mp = open_mp(1000, 64, 1);
    static pc_mp_waiter w[N];
    uint8_t ids[N][32];
    for (int i = 0; i < N; i++) {
        pc_tx tx;
        make_tx(&tx, 100 + i);
        if (i % 10 == 0)
            tx.sigs[0].sig[0] ^= 0x80;
        assert_int_equal(pc_mp_waiter_init(&w[i]), PC_OK);
        add(mp, &tx, &w[i], ids[i]);
    }
    size_t taken = 0;
    while (taken < N - N / 10) {
        pc_tx *txs = NULL;
        size_t n = pc_mempool_take(mp, &txs);
        assert_true(n > 0 && n <= 64);
        taken += n;
        free_taken(txs, n);
    }
    assert_int_equal(taken, N - N / 10);
    for (int i = 0; i < N; i++) {
        int s = pc_mempool_wait(mp, &w[i], PC_MP_QUEUED, soon());
        assert_int_equal(s, i % 10 == 0 ? PC_MP_FAILED : PC_MP_PROPOSED);
    }
    pc_mempool_close(mp);
    for (int i = 0; i < N; i++)
        pc_mp_waiter_destroy(&w[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve_duplicate_cancel),
        cmocka_unit_test(test_verify_queue_take_commit),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_batches_by_count),
        cmocka_unit_test(test_batch_by_age),
        cmocka_unit_test(test_failed_wakes),
        cmocka_unit_test(test_detach_after_timeout),
        cmocka_unit_test(test_commit_while_queued),
        cmocka_unit_test(test_idle_cuts_at_once),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_many_concurrent_verifications),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
