/* Crash safety (issue 2, point 18): kill -9 parchad in the middle of a write
 * load, restart it, and check that every transaction it acknowledged (200) is
 * committed and that `parcha verify` passes. Twenty rounds, each killed at a
 * different moment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node_fixture.h"
#include "parcha/encode.h"

#define ROUNDS 20
#define WRITERS 4
#define MAX_ACKED 100000

static tnode g_n;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t (*g_acked)[32];
static size_t g_nacked;
static volatile int g_stop;

/* A writer: submit transactions until the node dies or we are told to stop,
 * remembering every txid the node acknowledged with 200. */
static void *writer(void *arg)
{
    (void)arg;
    while (!g_stop) {
        uint8_t txid[32];
        char *text = tnode_staff_tx(&g_n, "crashnet", pc_now_ms(), txid);
        if (text == NULL)
            break;
        treply r;
        int rc = tnode_request(&g_n, "POST", "/v1/tx", text, strlen(text), &r);
        free(text);
        if (rc == 0 && r.status == 200) {
            pthread_mutex_lock(&g_lock);
            if (g_nacked < MAX_ACKED)
                memcpy(g_acked[g_nacked++], txid, 32);
            pthread_mutex_unlock(&g_lock);
        }
        treply_free(&r);
        if (rc != 0)
            break; /* connection refused or reset: the node is gone */
    }
    return NULL;
}

static void test_kill9_under_load(void **state)
{
    (void)state;
    g_acked = calloc(MAX_ACKED, 32);
    assert_non_null(g_acked);
    assert_int_equal(tnode_create(&g_n, "crashnet"), 0);
    srand(12345);
    size_t checked_total = 0;
    for (int round = 0; round < ROUNDS; round++) {
        assert_int_equal(tnode_start(&g_n), 0);
        /* Everything acknowledged in earlier rounds is still there. */
        for (size_t i = 0; i < g_nacked; i++) {
            char hex[65], path[128];
            snprintf(path, sizeof path, "/v1/tx/%s", pc_hex_encode(hex, sizeof hex, g_acked[i], 32));
            treply r;
            assert_int_equal(tnode_request(&g_n, "GET", path, NULL, 0, &r), 0);
            if (r.status != 200 ||
                strcmp(json_string_value(json_object_get(r.json, "status")), "committed") != 0)
                fail_msg("round %d: acknowledged tx %s is missing after kill -9 (%ld %s)", round, hex,
                         r.status, (const char *)r.body.data);
            treply_free(&r);
        }
        checked_total += g_nacked;
        g_stop = 0;
        pthread_t t[WRITERS];
        for (int i = 0; i < WRITERS; i++)
            assert_int_equal(pthread_create(&t[i], NULL, writer, NULL), 0);
        /* Let the load run, then kill at a different moment each round. Wait
         * for some acknowledgements first so every round kills mid-write. */
        size_t start = g_nacked;
        for (int i = 0; i < 400; i++) {
            pthread_mutex_lock(&g_lock);
            size_t now = g_nacked;
            pthread_mutex_unlock(&g_lock);
            if (now >= start + 20)
                break;
            usleep(10000);
        }
        usleep((useconds_t)(rand() % 200000));
        tnode_stop(&g_n, SIGKILL);
        g_stop = 1;
        for (int i = 0; i < WRITERS; i++)
            pthread_join(t[i], NULL);
        assert_true(g_nacked > start);
    }
    /* Last restart: check all, then verify the whole chain offline. */
    assert_int_equal(tnode_start(&g_n), 0);
    treply r;
    assert_int_equal(tnode_request(&g_n, "GET", "/v1/status", NULL, 0, &r), 0);
    int64_t txs = json_integer_value(json_object_get(r.json, "txs"));
    treply_free(&r);
    assert_true((size_t)txs >= g_nacked);
    tnode_stop(&g_n, SIGTERM);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s/parcha verify --data %s >/dev/null 2>&1", PARCHA_BINARY_DIR, g_n.data);
    assert_int_equal(system(cmd), 0);
    print_message("%d kill -9 rounds, %zu acknowledged transactions all present (%zu checks)\n",
                  ROUNDS, g_nacked, checked_total + g_nacked);
    tnode_destroy(&g_n);
    free(g_acked);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_under_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
