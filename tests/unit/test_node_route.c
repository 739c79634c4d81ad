/* Tests for parchad's pure pieces: the route table (404, 405 + Allow, path
 * parameters and their decoding), static-file path mapping and refusal of
 * escapes, Content-Types, and listen-address parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "node/node_config.h"
#include "node/node_route.h"
#include "node/node_static.h"

/* ---- routing ---- */

static void test_routes_match(void **state)
{
    (void)state;
    pc_route_match m;
    assert_int_equal(pc_route_find("POST", "/v1/tx", &m), PC_ROUTE_TX_POST);
    assert_int_equal(m.nparams, 0);
    assert_int_equal(pc_route_find("POST", "/v1/txs", &m), PC_ROUTE_TXS_POST);
    assert_string_equal(pc_route_name(PC_ROUTE_TXS_POST), "txs_post");
    assert_int_equal(pc_route_find("GET", "/v1/tx/abc", &m), PC_ROUTE_TX_GET);
    assert_string_equal(m.params[0], "abc");
    assert_int_equal(pc_route_find("GET", "/v1/tx/abc/raw", &m), PC_ROUTE_TX_RAW);
    assert_int_equal(pc_route_find("POST", "/v1/records", &m), PC_ROUTE_RECORDS_POST);
    assert_int_equal(pc_route_find("GET", "/v1/records/rx-1.a_b", &m), PC_ROUTE_RECORD_GET);
    assert_string_equal(m.params[0], "rx-1.a_b");
    assert_int_equal(pc_route_find("GET", "/v1/records/rx-1/content", &m), PC_ROUTE_RECORD_CONTENT);
    assert_int_equal(pc_route_find("GET", "/v1/blocks", &m), PC_ROUTE_BLOCKS);
    assert_int_equal(pc_route_find("GET", "/v1/blocks/12", &m), PC_ROUTE_BLOCK_GET);
    assert_int_equal(pc_route_find("GET", "/v1/blocks/12/proposal", &m), PC_ROUTE_BLOCK_PROPOSAL);
    assert_int_equal(pc_route_find("GET", "/v1/patients/ABCD-EFGH-JKMN-P", &m), PC_ROUTE_PATIENT_GET);
    assert_int_equal(pc_route_find("GET", "/v1/patients/x/timeline", &m), PC_ROUTE_PATIENT_TIMELINE);
    assert_int_equal(pc_route_find("GET", "/v1/patients/x/consents", &m), PC_ROUTE_PATIENT_CONSENTS);
    assert_int_equal(pc_route_find("GET", "/v1/patients/x/emergencies", &m), PC_ROUTE_PATIENT_EMERGENCIES);
    assert_int_equal(pc_route_find("GET", "/v1/patients/x/access-log", &m), PC_ROUTE_PATIENT_ACCESS_LOG);
    assert_int_equal(pc_route_find("GET", "/v1/hospitals", &m), PC_ROUTE_HOSPITALS);
    assert_int_equal(pc_route_find("GET", "/v1/staff", &m), PC_ROUTE_STAFF);
    assert_int_equal(pc_route_find("GET", "/v1/status", &m), PC_ROUTE_STATUS);
    assert_int_equal(pc_route_find("GET", "/metrics", &m), PC_ROUTE_METRICS);
    /* HEAD works wherever GET does. */
    assert_int_equal(pc_route_find("HEAD", "/v1/status", &m), PC_ROUTE_STATUS);
}

static void test_routes_not_found(void **state)
{
    (void)state;
    pc_route_match m;
    const char *missing[] = {"/v1/nope", "/v1/tx/", "/v1/tx//raw", "/v1/tx/a/b/c", "/v1",
                             "/v1/", "/v1/status/", "/metrics/x", "/v1/patients/x/unknown",
                             "/v1/records/a%2Fb", "/v1/records/%zz", "/v1/records/%0a",
                             "/v1/records/a%", "/v1/txs/x"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        if (pc_route_find("GET", missing[i], &m) != PC_ROUTE_NOT_FOUND)
            fail_msg("%s matched route %d", missing[i], m.id);
    }
    assert_int_equal(pc_route_find("GET", "", &m), PC_ROUTE_NOT_FOUND);
    assert_int_equal(pc_route_find("GET", "relative", &m), PC_ROUTE_NOT_FOUND);
    assert_int_equal(pc_route_find(NULL, "/", &m), PC_ROUTE_NOT_FOUND);
}

static void test_routes_method_not_allowed(void **state)
{
    (void)state;
    pc_route_match m;
    assert_int_equal(pc_route_find("GET", "/v1/tx", &m), PC_ROUTE_METHOD_NOT_ALLOWED);
    assert_string_equal(m.allow, "POST");
    assert_int_equal(pc_route_find("GET", "/v1/txs", &m), PC_ROUTE_METHOD_NOT_ALLOWED);
    assert_string_equal(m.allow, "POST");
    assert_int_equal(pc_route_find("PUT", "/v1/txs", &m), PC_ROUTE_METHOD_NOT_ALLOWED);
    assert_string_equal(m.allow, "POST");
    assert_int_equal(pc_route_find("DELETE", "/v1/status", &m), PC_ROUTE_METHOD_NOT_ALLOWED);
    assert_string_equal(m.allow, "GET, HEAD");
    assert_int_equal(pc_route_find("POST", "/v1/records/x", &m), PC_ROUTE_METHOD_NOT_ALLOWED);
    assert_string_equal(m.allow, "GET, HEAD");
    assert_int_equal(pc_route_find("PUT", "/v1/records", &m), PC_ROUTE_METHOD_NOT_ALLOWED);
    assert_string_equal(m.allow, "POST");
    /* The web UI only takes GET and HEAD. */
    assert_int_equal(pc_route_find("POST", "/index.html", &m), PC_ROUTE_METHOD_NOT_ALLOWED);
    assert_string_equal(m.allow, "GET, HEAD");
}

static void test_routes_params_decoded(void **state)
{
    (void)state;
    pc_route_match m;
    assert_int_equal(pc_route_find("GET", "/v1/patients/ABCD%20EFGH/timeline", &m),
                     PC_ROUTE_PATIENT_TIMELINE);
    assert_string_equal(m.params[0], "ABCD EFGH");
    char longp[400] = "/v1/records/";
    memset(longp + strlen(longp), 'a', 200);
    assert_int_equal(pc_route_find("GET", longp, &m), PC_ROUTE_NOT_FOUND);
    assert_string_equal(pc_route_name(PC_ROUTE_TX_POST), "tx_post");
}

static void test_routes_static(void **state)
{
    (void)state;
    pc_route_match m;
    assert_int_equal(pc_route_find("GET", "/", &m), PC_ROUTE_STATIC);
    assert_int_equal(pc_route_find("GET", "/ui/app.js", &m), PC_ROUTE_STATIC);
    assert_int_equal(pc_route_find("HEAD", "/style.css", &m), PC_ROUTE_STATIC);
}

/* ---- static files ---- */

static void test_static_resolve(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(pc_static_resolve("/", out, sizeof out), 0);
    assert_string_equal(out, "index.html");
    assert_int_equal(pc_static_resolve("/ui", out, sizeof out), 0);
    assert_string_equal(out, "index.html");
    assert_int_equal(pc_static_resolve("/ui/", out, sizeof out), 0);
    assert_string_equal(out, "index.html");
    assert_int_equal(pc_static_resolve("/ui/js/app.js", out, sizeof out), 0);
    assert_string_equal(out, "js/app.js");
    assert_int_equal(pc_static_resolve("/app.css", out, sizeof out), 0);
    assert_string_equal(out, "app.css");
    assert_int_equal(pc_static_resolve("/docs/", out, sizeof out), 0);
    assert_string_equal(out, "docs/index.html");
    assert_int_equal(pc_static_resolve("/a%20b.txt", out, sizeof out), 0);
    assert_string_equal(out, "a b.txt");

    const char *bad[] = {"/..", "/../etc/passwd", "/ui/../../x", "/a/../b", "/%2e%2e/x",
                         "/ui/%2E%2E/x", "/.git/config", "/a//b", "/a\\b", "/a%00b",
                         "/a%0ab", "/%zz", "/a%2", "relative", "/./x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (pc_static_resolve(bad[i], out, sizeof out) == 0)
            fail_msg("accepted %s as %s", bad[i], out);
    }
}

static void test_static_open_stays_inside(void **state)
{
    (void)state;
    uint64_t size = 0;
    /* tests/unit exists in the source tree; a relative escape is refused even
     * when the file exists. */
    int fd = pc_static_open(PARCHA_SOURCE_DIR "/tests", "unit/test_node_route.c", &size);
    assert_true(fd >= 0);
    assert_true(size > 0);
    close(fd);
    assert_int_equal(pc_static_open(PARCHA_SOURCE_DIR "/tests", "../CMakeLists.txt", &size), -1);
    assert_int_equal(pc_static_open(PARCHA_SOURCE_DIR "/tests", "unit", &size), -1); /* a folder */
    assert_int_equal(pc_static_open(PARCHA_SOURCE_DIR "/tests", "no-such-file", &size), -1);
}

static void test_static_mime(void **state)
{
    (void)state;
    assert_string_equal(pc_static_mime("index.html"), "text/html; charset=utf-8");
    assert_string_equal(pc_static_mime("js/app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(pc_static_mime("x.CSS"), "text/css; charset=utf-8");
    assert_string_equal(pc_static_mime("logo.svg"), "image/svg+xml");
    assert_string_equal(pc_static_mime("a.wasm"), "application/wasm");
    assert_string_equal(pc_static_mime("noext"), "application/octet-stream");
    assert_string_equal(pc_static_mime("dir.js/file"), "application/octet-stream");
}

/* ---- config ---- */

static void test_listen_parse(void **state)
{
    (void)state;
    char host[64];
    int port = -1;
    pc_error err;
    assert_int_equal(pc_node_parse_listen("127.0.0.1:8080", host, sizeof host, &port, &err), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(pc_node_parse_listen("127.0.0.1:0", host, sizeof host, &port, &err), 0);
    assert_int_equal(port, 0);
    assert_int_equal(pc_node_parse_listen("[::1]:9000", host, sizeof host, &port, &err), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 9000);
    const char *bad[] = {"", "127.0.0.1", ":80", "h:", "h:x", "h:65536", "h:-1", "[::1]80", "[::1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (pc_node_parse_listen(bad[i], host, sizeof host, &port, &err) == 0)
            fail_msg("accepted listen address '%s'", bad[i]);
}

static void test_args(void **state)
{
    (void)state;
    pc_node_config c;
    pc_error err;
    char *ok[] = {"parchad", "--data", "/tmp/x", "--listen", "127.0.0.1:0", "--threads", "3",
                  "--batch-ms", "5", "--batch-max", "10"};
    assert_int_equal(pc_node_config_args(&c, 11, ok, &err), 0);
    assert_string_equal(c.data_dir, "/tmp/x");
    assert_true(c.listen_set);
    assert_int_equal(c.listen_port, 0);
    assert_int_equal(c.threads, 3);
    assert_int_equal(c.batch_ms, 5);
    assert_int_equal(c.batch_max, 10);
    char *help[] = {"parchad", "--help"};
    assert_int_equal(pc_node_config_args(&c, 2, help, &err), PC_NODE_CONFIG_HELP);
    char *nodata[] = {"parchad"};
    assert_int_equal(pc_node_config_args(&c, 1, nodata, &err), PC_EINVAL);
    char *badthreads[] = {"parchad", "--data", "d", "--threads", "0"};
    assert_int_equal(pc_node_config_args(&c, 5, badthreads, &err), PC_EINVAL);
    char *unknown[] = {"parchad", "--data", "d", "--frobnicate"};
    assert_int_equal(pc_node_config_args(&c, 4, unknown, &err), PC_EINVAL);
    assert_non_null(strstr(err.msg, "--frobnicate"));
    char *missing[] = {"parchad", "--data"};
    assert_int_equal(pc_node_config_args(&c, 2, missing, &err), PC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_match),
        cmocka_unit_test(test_routes_not_found),
        cmocka_unit_test(test_routes_method_not_allowed),
        cmocka_unit_test(test_routes_params_decoded),
        cmocka_unit_test(test_routes_static),
        cmocka_unit_test(test_static_resolve),
        cmocka_unit_test(test_static_open_stays_inside),
        cmocka_unit_test(test_static_mime),
        cmocka_unit_test(test_listen_parse),
        cmocka_unit_test(test_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
