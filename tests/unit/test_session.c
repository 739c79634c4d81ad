/* Tests for the web UI's staff sessions (src/node/session.c) through the
 * transport-free pc_session_handle: log-in against a keystore key enrolled on
 * a real ledger, cookie attributes, CSRF, cross-site refusal, idle log-out
 * with a simulated clock (and the key wiped), per-username and per-address
 * lock-outs, log-out, wrong methods and routes, and the ui-users.json import.
 * No HTTP server is started: endpoints that call the node's API are covered
 * by the browser tests (tests/e2e). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "node/session.h"
#include "parcha/crypto.h"
#include "parcha/encode.h"
#include "parcha/keyfile.h"
#include "parcha/ledger.h"
#include "parcha/tx.h"
#include "parcha/vault.h"

#define PASS "correct horse 1"

/* ---- fixture ------------------------------------------------------------ */

typedef struct world {
    char dir[64];
    pc_keypair hosp, doc, ghost;
    pc_session_server *s;
} world;

static int64_t fake_now;
static int64_t fake_clock(void) { return fake_now; }

static char *b64(const uint8_t *k, char out[64]) { return pc_b64_encode(out, 64, k, 32); }

/* A ledger with one hospital and one enrolled doctor; a keystore holding
 * the doctor ("dr") and a key that is not on the ledger ("ghost"). */
static int setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    pc_error err;
    assert_int_equal(pc_crypto_init(), 0);
    snprintf(w->dir, sizeof w->dir, "/tmp/parcha-session-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    assert_int_equal(pc_key_generate(&w->hosp), 0);
    assert_int_equal(pc_key_generate(&w->doc), 0);
    assert_int_equal(pc_key_generate(&w->ghost), 0);

    char path[128];
    snprintf(path, sizeof path, "%s/ledger.db", w->dir);
    pc_ledger *l;
    assert_int_equal(pc_ledger_open(path, PC_LEDGER_CREATE, &l, &err), PC_OK);
    int64_t now = pc_now_ms();
    char kh[64], kd[64];
    json_t *body = json_pack("{s:s,s:[{s:s,s:s,s:s,s:s}],s:{s:i,s:i}}", "name", "T", "hospitals",
                             "id", "city", "name", "City Hospital", "key", b64(w->hosp.pk, kh),
                             "endpoint", "http://a", "policy", "emergency_max_hours", 24,
                             "clock_window_ms", 300000);
    const pc_keypair *keys[1] = {&w->hosp};
    pc_tx txs[1];
    json_t *u = pc_tx_build("testnet", "network.genesis", now, body);
    assert_int_equal(pc_tx_sign(u, keys, 1, &txs[0], &err), PC_OK);
    json_decref(u);
    pc_proposal p;
    pc_block_result r;
    assert_int_equal(pc_proposal_make(&p, "testnet", "city", 0, now, txs, 1, &w->hosp, &err), PC_OK);
    assert_int_equal(pc_ledger_apply(l, &p, 0, &r, &err), PC_OK);
    pc_block_result_free(&r);
    pc_proposal_free(&p);
    body = json_pack("{s:s,s:s,s:s,s:s,s:s}", "hospital", "city", "key", b64(w->doc.pk, kd), "name",
                     "Dr. Test", "role", "doctor", "regno", "R-1");
    u = pc_tx_build("testnet", "staff.enroll", now, body);
    assert_int_equal(pc_tx_sign(u, keys, 1, &txs[0], &err), PC_OK);
    json_decref(u);
    assert_int_equal(pc_proposal_make(&p, "testnet", "city", 1, now, txs, 1, &w->hosp, &err), PC_OK);
    assert_int_equal(pc_ledger_apply(l, &p, 1, &r, &err), PC_OK);
    assert_int_equal(r.verdicts[0], PC_V_OK);
    pc_block_result_free(&r);
    pc_proposal_free(&p);
    pc_ledger_close(l);

    snprintf(path, sizeof path, "%s/vault.db", w->dir);
    pc_vault *v;
    assert_int_equal(pc_vault_open(path, &v, &err), PC_OK);
    const pc_keypair *who[2] = {&w->doc, &w->ghost};
    const char *names[2] = {"dr", "ghost"};
    for (int i = 0; i < 2; i++) {
        json_t *kf;
        assert_int_equal(pc_keyfile_seal(who[i], names[i], PASS, strlen(PASS), PC_KDF_FAST, &kf, &err), PC_OK);
        char *text = json_dumps(kf, JSON_COMPACT);
        assert_int_equal(pc_vault_keystore_put(v, names[i], "city", text, &err), PC_OK);
        free(text);
        json_decref(kf);
    }
    pc_vault_close(v);

    pc_session_config cfg = {.data_dir = w->dir, .self_url = "http://127.0.0.1:1", .idle_s = 900};
    assert_int_equal(pc_session_open(&cfg, &w->s, &err), PC_OK);
    fake_now = 1800000000000LL;
    pc_session_set_clock(w->s, fake_clock);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    pc_session_close(w->s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", w->dir);
    assert_int_equal(system(cmd), 0);
    free(w);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

typedef struct call {
    const char *method, *path, *cookie, *csrf, *body, *client, *origin, *content_type;
} call;

static pc_session_response run(world *w, call c)
{
    pc_session_request rq;
    memset(&rq, 0, sizeof rq);
    rq.method = c.method;
    rq.path = c.path;
    rq.cookie = c.cookie;
    rq.csrf = c.csrf;
    rq.body = c.body;
    rq.len = c.body ? strlen(c.body) : 0;
    rq.client = c.client ? c.client : "127.0.0.1";
    rq.origin = c.origin;
    rq.host = "127.0.0.1:8080";
    rq.content_type = c.content_type ? c.content_type : (c.body ? "application/json" : NULL);
    pc_session_response rs;
    pc_session_handle(w->s, &rq, &rs);
    return rs;
}

static const char *code_of(const pc_session_response *rs)
{
    return json_string_value(json_object_get(json_object_get(rs->body, "error"), "code"));
}

static pc_session_response login_as(world *w, const char *user, const char *pass, const char *client)
{
    char body[200];
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", user, pass);
    return run(w, (call){.method = "POST", .path = "/v1/ui/login", .body = body, .client = client});
}

/* Log in as dr; cookie (the "name=value" part) and csrf into the buffers. */
static void login_ok(world *w, char cookie[128], char csrf[64])
{
    pc_session_response rs = login_as(w, "dr", PASS, NULL);
    assert_int_equal(rs.status, 200);
    const char *semi = strchr(rs.set_cookie, ';');
    assert_non_null(semi);
    snprintf(cookie, 128, "%.*s", (int)(semi - rs.set_cookie), rs.set_cookie);
    snprintf(csrf, 64, "%s", json_string_value(json_object_get(rs.body, "csrf")));
    json_decref(rs.body);
}

/* ---- cases ------------------------------------------------------------ */

static void test_login_cookie_and_session(void **state)
{
    world *w = *state;
    pc_session_response rs = login_as(w, "dr", PASS, NULL);
    assert_int_equal(rs.status, 200);
    assert_non_null(strstr(rs.set_cookie, "parcha_session="));
    assert_non_null(strstr(rs.set_cookie, "HttpOnly"));
    assert_non_null(strstr(rs.set_cookie, "SameSite=Strict"));
    const json_t *user = json_object_get(rs.body, "user");
    assert_string_equal(json_string_value(json_object_get(user, "role")), "doctor");
    assert_string_equal(json_string_value(json_object_get(user, "name")), "Dr. Test");
    assert_true(strlen(json_string_value(json_object_get(rs.body, "csrf"))) >= 40);
    json_decref(rs.body);

    char cookie[128], csrf[64];
    login_ok(w, cookie, csrf);
    rs = run(w, (call){.method = "GET", .path = "/v1/ui/session", .cookie = cookie});
    assert_int_equal(rs.status, 200);
    assert_string_equal(json_string_value(json_object_get(rs.body, "csrf")), csrf);
    json_decref(rs.body);
    assert_int_equal(pc_session_count(w->s), 2);
}

static void test_wrong_password_and_unknown_user_look_alike(void **state)
{
    world *w = *state;
    pc_session_response a = login_as(w, "dr", "nope nope", NULL);
    pc_session_response b = login_as(w, "nobody", "nope nope", "10.0.0.9");
    assert_int_equal(a.status, 401);
    assert_int_equal(b.status, 401);
    assert_string_equal(code_of(&a), "bad_login");
    assert_string_equal(code_of(&b), "bad_login");
    assert_string_equal(a.set_cookie, "");
    json_decref(a.body);
    json_decref(b.body);
    assert_int_equal(pc_session_count(w->s), 0);
}

static void test_not_enrolled_refused(void **state)
{
    world *w = *state;
    pc_session_response rs = login_as(w, "ghost", PASS, NULL);
    assert_int_equal(rs.status, 403);
    assert_string_equal(code_of(&rs), "not_enrolled");
    json_decref(rs.body);
    assert_int_equal(pc_session_count(w->s), 0);
}

static void test_csrf_required(void **state)
{
    world *w = *state;
    char cookie[128], csrf[64];
    login_ok(w, cookie, csrf);
    const char *body = "{\"patient\":\"x\",\"reason\":\"test reason\",\"hours\":1}";
    pc_session_response rs = run(w, (call){.method = "POST", .path = "/v1/ui/emergency", .cookie = cookie, .body = body});
    assert_int_equal(rs.status, 403);
    assert_string_equal(code_of(&rs), "csrf");
    json_decref(rs.body);
    rs = run(w, (call){.method = "POST", .path = "/v1/ui/emergency", .cookie = cookie, .csrf = "wrong", .body = body});
    assert_int_equal(rs.status, 403);
    json_decref(rs.body);
    /* With the token the request goes on (and fails later on the patient). */
    rs = run(w, (call){.method = "POST", .path = "/v1/ui/emergency", .cookie = cookie, .csrf = csrf, .body = body});
    assert_int_equal(rs.status, 400);
    assert_string_equal(code_of(&rs), "bad_health_id");
    json_decref(rs.body);
}

static void test_cross_site_and_non_json_refused(void **state)
{
    world *w = *state;
    pc_session_response rs = run(w, (call){.method = "POST", .path = "/v1/ui/login", .body = "{}", .origin = "https://evil.example"});
    assert_int_equal(rs.status, 403);
    assert_string_equal(code_of(&rs), "cross_site");
    json_decref(rs.body);
    rs = run(w, (call){.method = "POST", .path = "/v1/ui/login", .body = "username=dr", .content_type = "application/x-www-form-urlencoded"});
    assert_int_equal(rs.status, 415);
    json_decref(rs.body);
    rs = run(w, (call){.method = "POST", .path = "/v1/ui/login", .body = "{\"username\":\"dr\",\"password\":\"" PASS "\"}", .origin = "http://127.0.0.1:8080"});
    assert_int_equal(rs.status, 200);
    json_decref(rs.body);
}

static void test_idle_logout_wipes_session(void **state)
{
    world *w = *state;
    char cookie[128], csrf[64];
    login_ok(w, cookie, csrf);
    fake_now += 899 * 1000;
    pc_session_response rs = run(w, (call){.method = "GET", .path = "/v1/ui/records/x/content", .cookie = cookie});
    assert_int_not_equal(rs.status, 401); /* still logged in (activity resets the timer) */
    json_decref(rs.body);
    fake_now += 899 * 1000;
    rs = run(w, (call){.method = "GET", .path = "/v1/ui/session", .cookie = cookie});
    assert_int_equal(rs.status, 200);
    json_decref(rs.body);
    fake_now += 2 * 1000; /* 901 s since the last activity (GET session is not activity) */
    rs = run(w, (call){.method = "GET", .path = "/v1/ui/session", .cookie = cookie});
    assert_int_equal(rs.status, 401);
    assert_string_equal(code_of(&rs), "session_expired");
    assert_non_null(strstr(json_string_value(json_object_get(json_object_get(rs.body, "error"), "message")), "15 minutes"));
    json_decref(rs.body);
    assert_int_equal(pc_session_count(w->s), 0);
}

/* A session nobody comes back to is wiped by the sweep, not kept until the
 * next request. */
static void test_sweep_wipes_abandoned_session(void **state)
{
    world *w = *state;
    char cookie[128], csrf[64];
    login_ok(w, cookie, csrf);
    pc_session_sweep(w->s);
    assert_int_equal(pc_session_count(w->s), 1);
    fake_now += 901 * 1000;
    pc_session_sweep(w->s);
    assert_int_equal(pc_session_count(w->s), 0);
}

static void test_lockout_per_username(void **state)
{
    world *w = *state;
    for (int i = 0; i < PC_SESSION_FAIL_MAX; i++) {
        char client[32];
        snprintf(client, sizeof client, "10.1.0.%d", i); /* different addresses */
        pc_session_response rs = login_as(w, "dr", "bad password", client);
        assert_int_equal(rs.status, 401);
        json_decref(rs.body);
    }
    pc_session_response rs = login_as(w, "dr", PASS, "10.2.0.1");
    assert_int_equal(rs.status, 429);
    assert_string_equal(code_of(&rs), "too_many_attempts");
    assert_true(rs.retry_after_s > 0 && rs.retry_after_s <= PC_SESSION_LOCK_S);
    json_decref(rs.body);
    fake_now += (PC_SESSION_LOCK_S + 1) * 1000;
    rs = login_as(w, "dr", PASS, "10.2.0.1");
    assert_int_equal(rs.status, 200);
    json_decref(rs.body);
}

static void test_lockout_per_address(void **state)
{
    world *w = *state;
    for (int i = 0; i < PC_SESSION_FAIL_MAX; i++) {
        char user[32];
        snprintf(user, sizeof user, "guess%d", i); /* different usernames */
        pc_session_response rs = login_as(w, user, "bad password", "192.0.2.7");
        assert_int_equal(rs.status, 401);
        json_decref(rs.body);
    }
    pc_session_response rs = login_as(w, "dr", PASS, "192.0.2.7");
    assert_int_equal(rs.status, 429);
    json_decref(rs.body);
    rs = login_as(w, "dr", PASS, "192.0.2.8");
    assert_int_equal(rs.status, 200);
    json_decref(rs.body);
}

static void test_logout(void **state)
{
    world *w = *state;
    char cookie[128], csrf[64];
    login_ok(w, cookie, csrf);
    pc_session_response rs = run(w, (call){.method = "POST", .path = "/v1/ui/logout", .cookie = cookie, .csrf = csrf, .body = "{}"});
    assert_int_equal(rs.status, 200);
    assert_non_null(strstr(rs.set_cookie, "Max-Age=0"));
    json_decref(rs.body);
    assert_int_equal(pc_session_count(w->s), 0);
    rs = run(w, (call){.method = "GET", .path = "/v1/ui/session", .cookie = cookie});
    assert_int_equal(rs.status, 401);
    json_decref(rs.body);
}

static void test_routes_and_methods(void **state)
{
    world *w = *state;
    pc_session_response rs = run(w, (call){.method = "GET", .path = "/v1/ui/login"});
    assert_int_equal(rs.status, 405);
    json_decref(rs.body);
    rs = run(w, (call){.method = "GET", .path = "/v1/ui/nothing"});
    assert_int_equal(rs.status, 404);
    json_decref(rs.body);
    rs = run(w, (call){.method = "POST", .path = "/v1/ui/login", .body = "not json"});
    assert_int_equal(rs.status, 400);
    assert_string_equal(code_of(&rs), "bad_json");
    json_decref(rs.body);
    rs = run(w, (call){.method = "GET", .path = "/v1/ui/session"});
    assert_int_equal(rs.status, 401);
    assert_string_equal(code_of(&rs), "not_logged_in");
    json_decref(rs.body);
    pc_session_handle(NULL, &(pc_session_request){.method = "GET", .path = "/v1/ui/session"}, &rs);
    assert_int_equal(rs.status, 503);
    json_decref(rs.body);
}

static void test_role_checks(void **state)
{
    world *w = *state;
    char cookie[128], csrf[64];
    login_ok(w, cookie, csrf);
    pc_session_response rs = run(w, (call){.method = "POST", .path = "/v1/ui/staff", .cookie = cookie, .csrf = csrf, .body = "{}"});
    assert_int_equal(rs.status, 403);
    assert_string_equal(code_of(&rs), "denied");
    json_decref(rs.body);
    rs = run(w, (call){.method = "POST", .path = "/v1/ui/register", .cookie = cookie, .csrf = csrf, .body = "{}"});
    assert_int_equal(rs.status, 403);
    json_decref(rs.body);
}

static void test_import_users(void **state)
{
    world *w = *state;
    pc_error err;
    char path[160];
    /* A key file on disk named by ui-users.json is imported at open. */
    snprintf(path, sizeof path, "%s/imported.key", w->dir);
    assert_int_equal(pc_keyfile_write(path, &w->doc, "Dr. Test", "other pass 9", 12, PC_KDF_FAST, &err), PC_OK);
    snprintf(path, sizeof path, "%s/ui-users.json", w->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"users\":[{\"username\":\"dr2\",\"hospital\":\"city\",\"keyfile\":\"imported.key\"}]}", f);
    fclose(f);
    pc_session_close(w->s);
    pc_session_config cfg = {.data_dir = w->dir, .self_url = "http://127.0.0.1:1"};
    assert_int_equal(pc_session_open(&cfg, &w->s, &err), PC_OK);
    pc_session_set_clock(w->s, fake_clock);
    pc_session_response rs = login_as(w, "dr2", "other pass 9", NULL);
    assert_int_equal(rs.status, 200);
    json_decref(rs.body);
    /* A malformed file is refused with a message naming it. */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"users\":[{\"username\":\"dr3\"}]}", f);
    fclose(f);
    pc_session_server *s2 = NULL;
    assert_int_equal(pc_session_open(&cfg, &s2, &err), PC_EINVAL);
    assert_non_null(strstr(err.msg, "ui-users.json"));
    assert_null(s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_login_cookie_and_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password_and_unknown_user_look_alike, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_enrolled_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csrf_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cross_site_and_non_json_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_logout_wipes_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_wipes_abandoned_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lockout_per_username, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lockout_per_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routes_and_methods, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_users, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
