/* Bad input against a real parchad (issue 2, point 17): each case gets a
 * clear JSON error with the documented status and code, the chain does not
 * move, and the node keeps serving. Starts its own node on a free port over a
 * fresh `parcha init` folder and stops it at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "node_fixture.h"
#include "parcha/encode.h"

/* ---- fixture ---- */

static tnode g_n;

typedef treply reply;
#define reply_free treply_free
#define err_code treply_code
#define err_msg treply_message

static void request(const char *method, const char *path, const char *body, size_t len,
                    reply *r)
{
    assert_int_equal(tnode_request(&g_n, method, path, body, len, r), 0);
}

/* A number that moves if anything was committed. */
static int64_t height(void)
{
    reply r;
    request("GET", "/v1/status", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    int64_t h = json_integer_value(json_object_get(r.json, "height"));
    int64_t n = json_integer_value(json_object_get(r.json, "txs"));
    reply_free(&r);
    return h * 1000000 + n;
}

static int setup(void **state)
{
    if (tnode_create(&g_n, "badnet") != 0 || tnode_start(&g_n) != 0)
        return -1;
    *state = NULL;
    return 0;
}

static int teardown(void **state)
{
    int status = tnode_stop(&g_n, SIGTERM);
    tnode_destroy(&g_n);
    /* A clean shutdown exits 0. */
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static char *valid_tx(const char *net, int64_t time_ms, uint8_t txid[32])
{
    char *t = tnode_staff_tx(&g_n, net, time_ms, txid);
    assert_non_null(t);
    return t;
}

/* Post text, expect status and code, and that nothing was committed. */
static void expect_refused(const char *text, long status, const char *code)
{
    int64_t before = height();
    reply r;
    request("POST", "/v1/tx", text, strlen(text), &r);
    if (r.status != status || err_code(&r) == NULL || strcmp(err_code(&r), code) != 0)
        fail_msg("expected %ld %s, got %ld %s", status, code, r.status, (const char *)r.body.data);
    assert_non_null(err_msg(&r));
    assert_true(strlen(err_msg(&r)) > 10);
    reply_free(&r);
    assert_int_equal(height(), before);
}

/* Replace the first occurrence of `from` by `to` in a copy of s. */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    assert_non_null(at);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return out;
}

/* ---- cases ---- */

static void test_valid_then_replay(void **state)
{
    uint8_t txid[32];
    char *text = valid_tx("badnet", pc_now_ms(), txid);
    reply r;
    request("POST", "/v1/tx", text, strlen(text), &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "verdict")), "ok");
    reply_free(&r);
    expect_refused(text, 409, "duplicate");
    free(text);
}

static void test_malformed_json(void **state)
{
    expect_refused("{\"v\":1,", 400, "bad_json");
    expect_refused("", 400, "bad_json");
    expect_refused("[1,2]", 400, "bad_field");
    expect_refused("{\"v\":1} trailing", 400, "bad_json");
}

static void test_wrong_types_and_unknown_fields(void **state)
{
    char *text = valid_tx("badnet", pc_now_ms(), NULL);
    char *t1 = replace(text, "\"role\":\"doctor\"", "\"role\":7");
    expect_refused(t1, 400, "bad_field");
    char *t2 = replace(text, "\"role\":\"doctor\"", "\"role\":\"doctor\",\"salary\":\"x\"");
    expect_refused(t2, 400, "unknown_field");
    char *t3 = replace(text, "\"v\":1", "\"v\":1,\"extra\":true");
    expect_refused(t3, 400, "unknown_field");
    char *t4 = replace(text, "\"v\":1", "\"v\":1.5");
    expect_refused(t4, 400, "non_integral");
    free(t1);
    free(t2);
    free(t3);
    free(t4);
    free(text);
}

static void test_signatures(void **state)
{
    char *text = valid_tx("badnet", pc_now_ms(), NULL);
    /* Change the body after signing: the signature no longer verifies. */
    char *t1 = replace(text, "\"regno\":\"R-1\"", "\"regno\":\"R-2\"");
    expect_refused(t1, 401, "bad_signature");
    /* No signatures at all. */
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    json_object_set_new(o, "sigs", json_array());
    char *t2 = json_dumps(o, JSON_COMPACT);
    reply r;
    request("POST", "/v1/tx", t2, strlen(t2), &r);
    assert_true(r.status == 400 || r.status == 401);
    assert_non_null(err_msg(&r));
    reply_free(&r);
    json_object_del(o, "sigs");
    char *t3 = json_dumps(o, JSON_COMPACT);
    request("POST", "/v1/tx", t3, strlen(t3), &r);
    assert_true(r.status == 400 || r.status == 401);
    assert_non_null(strstr(err_msg(&r), "sigs"));
    reply_free(&r);
    json_decref(o);
    free(t1);
    free(t2);
    free(t3);
    free(text);
}

static void test_network_and_time(void **state)
{
    char *t1 = valid_tx("othernet", pc_now_ms(), NULL);
    expect_refused(t1, 400, "wrong_network");
    char *t2 = valid_tx("badnet", pc_now_ms() - 3600 * 1000, NULL);
    expect_refused(t2, 400, "time_window");
    char *t3 = valid_tx("badnet", pc_now_ms() + 3600 * 1000, NULL);
    expect_refused(t3, 400, "time_window");
    free(t1);
    free(t2);
    free(t3);
}

static void test_oversize_routes_methods(void **state)
{
    size_t n = 2 * 1024 * 1024;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    reply r;
    int64_t before = height();
    request("POST", "/v1/tx", big, n, &r);
    assert_int_equal(r.status, 413);
    assert_string_equal(err_code(&r), "too_big");
    reply_free(&r);
    free(big);
    assert_int_equal(height(), before);

    request("GET", "/v1/no-such-thing", NULL, 0, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(err_code(&r), "not_found");
    reply_free(&r);
    request("DELETE", "/v1/tx", NULL, 0, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(err_code(&r), "method_not_allowed");
    reply_free(&r);
    request("GET", "/v1/patients/ABCD-EFGH-JKMN-P", NULL, 0, &r);
    assert_true(r.status == 400 || r.status == 404);
    assert_non_null(err_msg(&r));
    reply_free(&r);
}

static void test_half_request_client_leaves(void **state)
{
    int64_t before = height();
    for (int i = 0; i < 20; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_n.port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
        const char *half = "POST /v1/tx HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           "Content-Length: 5000\r\n\r\n{\"v\":1,\"net\":";
        assert_true(write(fd, half, strlen(half)) > 0);
        close(fd); /* and go away */
    }
    /* The node still answers and nothing changed. */
    assert_int_equal(height(), before);
    char *text = valid_tx("badnet", pc_now_ms(), NULL);
    reply r;
    request("POST", "/v1/tx", text, strlen(text), &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    free(text);
}

/* ?wait=0 answers 202 at once; the transaction still commits, and the
 * answered request leaves nothing behind that the commit could touch. */
static void test_wait0_then_commit(void **state)
{
    enum { N = 20 };
    char paths[N][96];
    for (int i = 0; i < N; i++) {
        uint8_t txid[32];
        char *text = valid_tx("badnet", pc_now_ms(), txid);
        reply r;
        request("POST", "/v1/tx?wait=0", text, strlen(text), &r);
        assert_int_equal(r.status, 202);
        assert_string_equal(json_string_value(json_object_get(r.json, "status")), "pending");
        reply_free(&r);
        free(text);
        char hex[65];
        snprintf(paths[i], sizeof paths[i], "/v1/tx/%s", pc_hex_encode(hex, sizeof hex, txid, 32));
    }
    for (int i = 0; i < N; i++) {
        int committed = 0;
        for (int tries = 0; tries < 400 && !committed; tries++) {
            reply r;
            request("GET", paths[i], NULL, 0, &r);
            committed = r.status == 200 &&
                        strcmp(json_string_value(json_object_get(r.json, "status")), "committed") == 0;
            reply_free(&r);
            if (!committed)
                usleep(25000);
        }
        assert_true(committed);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_then_replay),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_wrong_types_and_unknown_fields),
        cmocka_unit_test(test_signatures),
        cmocka_unit_test(test_network_and_time),
        cmocka_unit_test(test_oversize_routes_methods),
        cmocka_unit_test(test_half_request_client_leaves),
        cmocka_unit_test(test_wait0_then_commit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
