/* POST /v1/txs against a real parchad (docs/api.md, the batch contract): each
 * item of a batch is answered as POST /v1/tx would answer it alone, in order,
 * and only the valid ones commit; a body of the wrong shape is refused whole
 * and changes nothing; ?wait=0 answers pending; /metrics counts items. Starts
 * its own node on a free port over a fresh `parcha init` folder and stops it
 * at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "node_fixture.h"
#include "parcha/encode.h"

/* ---- fixture ---- */

static tnode g_n;

static int setup(void **state)
{
    (void)state;
    if (tnode_create(&g_n, "batchnet") != 0 || tnode_start(&g_n) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = tnode_stop(&g_n, SIGTERM);
    tnode_destroy(&g_n);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* ---- helpers ---- */

static void request(const char *method, const char *path, const char *body, size_t len, treply *r)
{
    assert_int_equal(tnode_request(&g_n, method, path, body, len, r), 0);
}

/* Committed transactions in the ledger (moves if anything commits). */
static int64_t ntxs(void)
{
    treply r;
    request("GET", "/v1/status", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    int64_t n = json_integer_value(json_object_get(r.json, "txs"));
    treply_free(&r);
    return n;
}

static char *valid_tx(const char *net, int64_t time_ms, uint8_t txid[32])
{
    char *t = tnode_staff_tx(&g_n, net, time_ms, txid);
    assert_non_null(t);
    return t;
}

/* Replace the first occurrence of `from` by `to` in a copy of s. */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    assert_non_null(at);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return out;
}

/* {"txs":[items[0],...]} (malloc'd). */
static char *batch_body(const char *const *items, size_t n)
{
    pc_buf b;
    pc_buf_init(&b);
    assert_int_equal(pc_buf_append(&b, "{\"txs\":[", 8), PC_OK);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            assert_int_equal(pc_buf_append(&b, ",", 1), PC_OK);
        assert_int_equal(pc_buf_append(&b, items[i], strlen(items[i])), PC_OK);
    }
    assert_int_equal(pc_buf_append(&b, "]}", 3), PC_OK); /* with the NUL */
    size_t len;
    return (char *)pc_buf_steal(&b, &len);
}

static const char *hex(char out[65], const uint8_t txid[32])
{
    return pc_hex_encode(out, 65, txid, 32);
}

static json_t *result(const treply *r, size_t i)
{
    json_t *o = json_array_get(json_object_get(r->json, "results"), i);
    assert_non_null(o);
    return o;
}

static const char *result_code(const treply *r, size_t i)
{
    return json_string_value(json_object_get(json_object_get(result(r, i), "error"), "code"));
}

/* Assert result i committed with verdict ok under txid. */
static void expect_committed(const treply *r, size_t i, const uint8_t txid[32])
{
    char h[65];
    json_t *o = result(r, i);
    assert_string_equal(json_string_value(json_object_get(o, "txid")), hex(h, txid));
    assert_string_equal(json_string_value(json_object_get(o, "status")), "committed");
    assert_string_equal(json_string_value(json_object_get(o, "verdict")), "ok");
    assert_true(json_integer_value(json_object_get(o, "height")) > 0);
    assert_true(json_is_integer(json_object_get(o, "index")));
    assert_int_equal(strlen(json_string_value(json_object_get(o, "block"))), 64);
    assert_null(json_object_get(o, "error"));
}

/* GET /v1/tx/{txid}: 200 committed, or 404. */
static long tx_status(const uint8_t txid[32])
{
    char h[65], path[96];
    snprintf(path, sizeof path, "/v1/tx/%s", hex(h, txid));
    treply r;
    request("GET", path, NULL, 0, &r);
    long st = r.status;
    treply_free(&r);
    return st;
}

/* The value of one /metrics sample line ("name{labels}" exactly), or 0. */
static double metric(const char *sample)
{
    treply r;
    request("GET", "/metrics", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    double v = 0;
    size_t n = strlen(sample);
    const char *text = (const char *)r.body.data;
    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, sample, n) == 0 && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    treply_free(&r);
    return v;
}

/* Post a body to /v1/txs expecting a refusal of the whole batch. */
static void expect_batch_refused(const char *body, size_t len, long status, const char *code)
{
    int64_t before = ntxs();
    treply r;
    request("POST", "/v1/txs", body, len, &r);
    if (r.status != status || treply_code(&r) == NULL || strcmp(treply_code(&r), code) != 0)
        fail_msg("expected %ld %s, got %ld %.300s", status, code, r.status, (const char *)r.body.data);
    assert_non_null(treply_message(&r));
    assert_true(strlen(treply_message(&r)) > 10);
    assert_null(json_object_get(r.json, "results"));
    treply_free(&r);
    assert_int_equal(ntxs(), before);
}

/* ---- cases ---- */

/* valid, valid, duplicate of the first, bad signature, wrong network,
 * unparseable, not an object, valid: per-item answers in order, and exactly
 * the three valid ones commit. */
static void test_mixed_batch(void **state)
{
    (void)state;
    uint8_t a[32], b[32], bad[32], wrong[32], c[32];
    char *ta = valid_tx("batchnet", pc_now_ms(), a);
    char *tb = valid_tx("batchnet", pc_now_ms(), b);
    char *tgood = valid_tx("batchnet", pc_now_ms(), bad);
    char *tbad = replace(tgood, "\"regno\":\"R-1\"", "\"regno\":\"R-2\"");
    char *twrong = valid_tx("othernet", pc_now_ms(), wrong);
    char *tc = valid_tx("batchnet", pc_now_ms(), c);
    const char *items[] = {ta, tb, ta, tbad, twrong, "{\"v\":1,\"net\":\"batchnet\"}", "42", tc};
    char *body = batch_body(items, 8);
    int64_t before = ntxs();
    treply r;
    request("POST", "/v1/txs", body, strlen(body), &r);
    if (r.status != 200)
        fail_msg("got %ld %.300s", r.status, (const char *)r.body.data);
    assert_int_equal(json_array_size(json_object_get(r.json, "results")), 8);
    expect_committed(&r, 0, a);
    expect_committed(&r, 1, b);
    expect_committed(&r, 7, c);
    char h[65];
    assert_string_equal(result_code(&r, 2), "duplicate");
    assert_string_equal(json_string_value(json_object_get(result(&r, 2), "txid")), hex(h, a));
    assert_string_equal(result_code(&r, 3), "bad_signature");
    assert_non_null(json_object_get(result(&r, 3), "txid"));
    assert_string_equal(result_code(&r, 4), "wrong_network");
    assert_string_equal(json_string_value(json_object_get(result(&r, 4), "txid")), hex(h, wrong));
    assert_string_equal(result_code(&r, 5), "bad_field");
    assert_null(json_object_get(result(&r, 5), "txid"));
    assert_string_equal(result_code(&r, 6), "bad_field");
    assert_null(json_object_get(result(&r, 6), "txid"));
    for (size_t i = 2; i <= 6; i++) {
        const char *msg = json_string_value(json_object_get(json_object_get(result(&r, i), "error"), "message"));
        assert_non_null(msg);
        assert_true(strlen(msg) > 10);
        assert_null(json_object_get(result(&r, i), "status"));
    }
    assert_int_equal(json_integer_value(json_object_get(r.json, "committed")), 3);
    assert_int_equal(json_integer_value(json_object_get(r.json, "failed")), 5);
    treply_free(&r);
    assert_int_equal(ntxs(), before + 3);
    assert_int_equal(tx_status(a), 200);
    assert_int_equal(tx_status(c), 200);
    assert_int_equal(tx_status(wrong), 404);

    /* The same batch again: every valid item is now a duplicate. */
    request("POST", "/v1/txs", body, strlen(body), &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(result_code(&r, 0), "duplicate");
    assert_string_equal(result_code(&r, 7), "duplicate");
    assert_int_equal(json_integer_value(json_object_get(r.json, "committed")), 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "failed")), 8);
    treply_free(&r);
    assert_int_equal(ntxs(), before + 3);
    free(body);
    free(ta);
    free(tb);
    free(tgood);
    free(tbad);
    free(twrong);
    free(tc);
}

/* A batch whose only item is committed but rejected by the rules (the same
 * staff key enrolled twice): 200 with the verdict and a "rejected" error. */
static void test_rejected_item(void **state)
{
    (void)state;
    uint8_t a[32];
    char *ta = valid_tx("batchnet", pc_now_ms(), a);
    /* Same body, another nonce: a new txid the ledger refuses as a duplicate enrolment. */
    json_error_t je;
    json_t *o = json_loads(ta, 0, &je);
    assert_non_null(o);
    json_t *body = json_deep_copy(json_object_get(o, "body"));
    json_t *u = pc_tx_build("batchnet", "staff.enroll", pc_now_ms(), body);
    const pc_keypair *keys[1] = {&g_n.hosp};
    pc_error err;
    pc_tx tx;
    assert_int_equal(pc_tx_sign(u, keys, 1, &tx, &err), PC_OK);
    json_decref(u);
    json_decref(o);
    char *tagain = pc_tx_to_json(&tx, NULL);
    pc_tx_free(&tx);
    const char *items[] = {ta};
    char *b1 = batch_body(items, 1);
    treply r;
    request("POST", "/v1/txs", b1, strlen(b1), &r);
    assert_int_equal(r.status, 200);
    expect_committed(&r, 0, a);
    treply_free(&r);
    const char *items2[] = {tagain};
    char *b2 = batch_body(items2, 1);
    request("POST", "/v1/txs", b2, strlen(b2), &r);
    assert_int_equal(r.status, 200);
    json_t *res = result(&r, 0);
    assert_string_equal(json_string_value(json_object_get(res, "status")), "committed");
    assert_string_not_equal(json_string_value(json_object_get(res, "verdict")), "ok");
    assert_string_equal(result_code(&r, 0), "rejected");
    assert_int_equal(json_integer_value(json_object_get(r.json, "committed")), 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "failed")), 1);
    treply_free(&r);
    free(b1);
    free(b2);
    free(ta);
    free(tagain);
}

static void test_bad_shapes(void **state)
{
    (void)state;
    uint8_t a[32];
    char *ta = valid_tx("batchnet", pc_now_ms(), a);
    const char *one[] = {ta};
    char *good = batch_body(one, 1);

    expect_batch_refused("{\"txs\":[", 8, 400, "bad_json");
    expect_batch_refused("", 0, 400, "bad_json");
    expect_batch_refused("[]", 2, 400, "bad_field");
    expect_batch_refused("{}", 2, 400, "bad_field");
    expect_batch_refused("{\"txs\":[]}", 10, 400, "bad_field");
    expect_batch_refused("{\"txs\":{}}", 10, 400, "bad_field");
    /* An unknown member refuses the whole batch: the valid item is not admitted. */
    char *unknown = replace(good, "{\"txs\":", "{\"extra\":1,\"txs\":");
    expect_batch_refused(unknown, strlen(unknown), 400, "unknown_field");
    assert_int_equal(tx_status(a), 404);

    /* 4097 items. */
    size_t n = 4097;
    pc_buf b;
    pc_buf_init(&b);
    assert_int_equal(pc_buf_append(&b, "{\"txs\":[", 8), PC_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pc_buf_append(&b, i ? ",{}" : "{}", i ? 3 : 2), PC_OK);
    assert_int_equal(pc_buf_append(&b, "]}", 2), PC_OK);
    expect_batch_refused((const char *)b.data, b.len, 400, "bad_field");
    pc_buf_free(&b);

    /* Over 1 MiB (valid JSON, the valid tx first). */
    size_t big = 1024 * 1024 + 100;
    char *text = malloc(big + 1);
    assert_non_null(text);
    size_t gl = strlen(good);
    memcpy(text, good, gl - 1); /* without the final '}' */
    memset(text + gl - 1, ' ', big - gl);
    text[big - 1] = '}';
    text[big] = '\0';
    expect_batch_refused(text, big, 413, "too_big");
    free(text);
    assert_int_equal(tx_status(a), 404);

    /* Wrong method, bad wait. */
    treply r;
    request("GET", "/v1/txs", NULL, 0, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(treply_code(&r), "method_not_allowed");
    treply_free(&r);
    request("POST", "/v1/txs?wait=2", good, strlen(good), &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(treply_code(&r), "bad_field");
    treply_free(&r);
    assert_int_equal(tx_status(a), 404);

    /* And the good batch still goes through. */
    request("POST", "/v1/txs", good, strlen(good), &r);
    assert_int_equal(r.status, 200);
    expect_committed(&r, 0, a);
    treply_free(&r);
    free(unknown);
    free(good);
    free(ta);
}

/* ?wait=0: every admitted item answers pending at once, and all commit. */
static void test_wait0_pending(void **state)
{
    (void)state;
    enum { N = 10 };
    uint8_t txids[N][32];
    char *texts[N];
    for (int i = 0; i < N; i++)
        texts[i] = valid_tx("batchnet", pc_now_ms(), txids[i]);
    char *body = batch_body((const char *const *)texts, N);
    treply r;
    request("POST", "/v1/txs?wait=0", body, strlen(body), &r);
    assert_int_equal(r.status, 200);
    for (int i = 0; i < N; i++) {
        char h[65];
        json_t *o = result(&r, (size_t)i);
        assert_string_equal(json_string_value(json_object_get(o, "status")), "pending");
        assert_string_equal(json_string_value(json_object_get(o, "txid")), hex(h, txids[i]));
        assert_null(json_object_get(o, "error"));
    }
    assert_int_equal(json_integer_value(json_object_get(r.json, "committed")), 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "failed")), 0);
    treply_free(&r);
    for (int i = 0; i < N; i++) {
        long st = 0;
        for (int tries = 0; tries < 400 && st != 200; tries++) {
            char h[65], path[96];
            snprintf(path, sizeof path, "/v1/tx/%s", hex(h, txids[i]));
            request("GET", path, NULL, 0, &r);
            st = r.status == 200 && strcmp(json_string_value(json_object_get(r.json, "status")), "committed") == 0
                     ? 200
                     : 0;
            treply_free(&r);
            if (st != 200)
                usleep(25000);
        }
        assert_int_equal(st, 200);
        free(texts[i]);
    }
    free(body);
}

/* A batch of N counts N transactions in /metrics. */
static void test_metrics_count_items(void **state)
{
    (void)state;
    const char *lat = "parcha_commit_latency_seconds_count";
    const char *wrongnet = "parcha_txs_rejected_total{stage=\"admission\",reason=\"wrong_network\"}";
    const char *dup = "parcha_txs_rejected_total{stage=\"admission\",reason=\"duplicate\"}";
    const char *badjson = "parcha_txs_rejected_total{stage=\"admission\",reason=\"bad_field\"}";
    double lat0 = metric(lat), wn0 = metric(wrongnet), dup0 = metric(dup), bf0 = metric(badjson);
    char *t[5];
    t[0] = valid_tx("batchnet", pc_now_ms(), NULL);
    t[1] = valid_tx("batchnet", pc_now_ms(), NULL);
    t[2] = valid_tx("batchnet", pc_now_ms(), NULL);
    t[3] = valid_tx("othernet", pc_now_ms(), NULL);
    t[4] = t[0];
    const char *items[] = {t[0], t[1], t[2], t[3], t[4], "[]"};
    char *body = batch_body(items, 6);
    treply r;
    request("POST", "/v1/txs", body, strlen(body), &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "committed")), 3);
    assert_int_equal(json_integer_value(json_object_get(r.json, "failed")), 3);
    treply_free(&r);
    assert_true(metric(lat) == lat0 + 3);
    assert_true(metric(wrongnet) == wn0 + 1);
    assert_true(metric(dup) == dup0 + 1);
    assert_true(metric(badjson) == bf0 + 1);
    free(body);
    for (int i = 0; i < 4; i++)
        free(t[i]);
}

/* POST /v1/tx keeps its answers: 200 without "status", 409 with the txid in
 * the error, 202 pending. */
static void test_single_unchanged(void **state)
{
    (void)state;
    uint8_t a[32];
    char h[65];
    char *ta = valid_tx("batchnet", pc_now_ms(), a);
    treply r;
    request("POST", "/v1/tx", ta, strlen(ta), &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "txid")), hex(h, a));
    assert_string_equal(json_string_value(json_object_get(r.json, "verdict")), "ok");
    assert_null(json_object_get(r.json, "status"));
    assert_null(json_object_get(r.json, "error"));
    treply_free(&r);
    request("POST", "/v1/tx", ta, strlen(ta), &r);
    assert_int_equal(r.status, 409);
    assert_string_equal(treply_code(&r), "duplicate");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "error"), "txid")), hex(h, a));
    treply_free(&r);
    free(ta);
    ta = valid_tx("batchnet", pc_now_ms(), a);
    request("POST", "/v1/tx?wait=0", ta, strlen(ta), &r);
    assert_int_equal(r.status, 202);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "pending");
    treply_free(&r);
    free(ta);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_batch),
        cmocka_unit_test(test_rejected_item),
        cmocka_unit_test(test_bad_shapes),
        cmocka_unit_test(test_wait0_pending),
        cmocka_unit_test(test_metrics_count_items),
        cmocka_unit_test(test_single_unchanged),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
