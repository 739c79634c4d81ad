/* Tests for the pieces `parcha devnet` is built from: the per-hospital
 * network folders (cli_offline_create_split in src/cli/offline.c) and the
 * concurrent POSTs (src/cli/multipost.c) against a real parchad. The
 * devnet's processes themselves are exercised by the cluster tests
 * (tests/integration/cluster_*.sh). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/demo.h"
#include "cli/keys.h"
#include "cli/multipost.h"
#include "cli/offline.h"
#include "node_fixture.h"
#include "parcha/keyfile.h"
#include "parcha/ledger.h"

/* ------------------------------------------------------------------------ */
/* Fixture and helpers                                                       */

static int setup(void **state)
{
    (void)state;
    return pc_crypto_init() == 0 ? 0 : -1;
}

static void temp_dir(char *out, size_t outlen)
{
    snprintf(out, outlen, "/tmp/parcha-test-devnet-XXXXXX");
    assert_non_null(mkdtemp(out));
}

static void remove_tree(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Read a whole file into b (fails the test if it cannot). */
static void slurp(const char *path, pc_buf *b)
{
    pc_error err;
    pc_buf_init(b);
    if (pc_file_read(path, 1 << 20, b, &err) != PC_OK)
        fail_msg("%s", err.msg);
}

/* ------------------------------------------------------------------------ */
/* Per-hospital folders                                                      */

static void test_split_folders(void **state)
{
    (void)state;
    char dir[256], path[512];
    temp_dir(dir, sizeof dir);
    cli_hospital_spec hs[3];
    json_t *cfg[3];
    for (size_t i = 0; i < 3; i++) {
        cli_demo_hospital(i, &hs[i]);
        snprintf(hs[i].endpoint, sizeof hs[i].endpoint, "http://127.0.0.1:%zu", 9000 + i);
        cfg[i] = json_pack("{s:s,s:s,s:{s:[s]}}", "listen", "127.0.0.1:1", "orderer", "etcd",
                           "etcd", "endpoints", "http://127.0.0.1:2379");
    }
    assert_string_equal(hs[0].id, "city-general");
    assert_string_equal(hs[2].id, "district-hospital");
    cli_offline o;
    pc_error err;
    if (cli_offline_create_split(dir, "split-net", hs, 3, cfg, PC_KDF_FAST, &o, &err) != PC_OK)
        fail_msg("%s", err.msg);
    assert_null(o.ledger);

    pc_buf g0;
    snprintf(path, sizeof path, "%s/city-general/genesis.bin", dir);
    slurp(path, &g0);
    for (size_t i = 0; i < 3; i++) {
        /* The same genesis everywhere. */
        pc_buf g;
        snprintf(path, sizeof path, "%s/%s/genesis.bin", dir, hs[i].id);
        slurp(path, &g);
        assert_int_equal(g.len, g0.len);
        assert_memory_equal(g.data, g0.data, g.len);
        pc_buf_free(&g);
        /* Its own key only, opening with its .pass, matching o's key. */
        for (size_t j = 0; j < 3; j++) {
            snprintf(path, sizeof path, "%s/%s/keys/%s.key", dir, hs[i].id, hs[j].id);
            assert_int_equal(cli_path_exists(path) != 0, i == j);
        }
        char keyp[512], passp[512];
        snprintf(keyp, sizeof keyp, "%s/%s/keys/%s.key", dir, hs[i].id, hs[i].id);
        snprintf(passp, sizeof passp, "%s/%s/keys/%s.pass", dir, hs[i].id, hs[i].id);
        pc_keypair kp;
        if (cli_key_load(keyp, passp, &kp, &err) != PC_OK)
            fail_msg("%s", err.msg);
        assert_memory_equal(kp.pk, o.keys[i].pk, 32);
        pc_key_wipe(&kp);
        struct stat st;
        assert_int_equal(stat(passp, &st), 0);
        assert_int_equal(st.st_mode & 077, 0);
        /* node.json: the given settings plus network, hospital, hosted. */
        snprintf(path, sizeof path, "%s/%s/node.json", dir, hs[i].id);
        json_error_t je;
        json_t *nj = json_load_file(path, 0, &je);
        assert_non_null(nj);
        assert_string_equal(json_string_value(json_object_get(nj, "network")), "split-net");
        assert_string_equal(json_string_value(json_object_get(nj, "hospital")), hs[i].id);
        assert_int_equal(json_array_size(json_object_get(nj, "hosted")), 1);
        assert_string_equal(json_string_value(json_array_get(json_object_get(nj, "hosted"), 0)),
                            hs[i].id);
        assert_string_equal(json_string_value(json_object_get(nj, "orderer")), "etcd");
        json_decref(nj);
        /* No ledger: each node applies genesis itself. */
        snprintf(path, sizeof path, "%s/%s/ledger.db", dir, hs[i].id);
        assert_false(cli_path_exists(path));
    }

    /* The genesis applies as block 0 with all three founders. */
    pc_proposal p;
    assert_int_equal(pc_proposal_decode(g0.data, g0.len, &p, &err), PC_OK);
    pc_buf_free(&g0);
    pc_ledger *l = NULL;
    snprintf(path, sizeof path, "%s/check.db", dir);
    assert_int_equal(pc_ledger_open(path, PC_LEDGER_CREATE, &l, &err), PC_OK);
    pc_block_result res;
    assert_int_equal(pc_ledger_apply(l, &p, 0, &res, &err), PC_OK);
    assert_int_equal(res.ntx, 1);
    assert_int_equal(res.verdicts[0], PC_V_OK);
    pc_block_result_free(&res);
    pc_proposal_free(&p);
    json_t *hosp = NULL;
    assert_int_equal(pc_ledger_hospitals_json(l, &hosp, &err), PC_OK);
    assert_int_equal(json_array_size(hosp), 3);
    json_decref(hosp);
    pc_ledger_close(l);

    /* No offline commits on a split network. */
    pc_tx none[1];
    memset(none, 0, sizeof none);
    assert_int_equal(cli_offline_commit(&o, none, 0, NULL, &err), PC_ESTATE);
    cli_offline_close(&o);

    /* The same folder again is refused. */
    assert_int_equal(cli_offline_create_split(dir, "split-net", hs, 3, cfg, PC_KDF_FAST, &o, &err),
                     PC_EEXIST);
    for (size_t i = 0; i < 3; i++)
        json_decref(cfg[i]);
    remove_tree(dir);
}

static void test_split_bad_input_writes_nothing(void **state)
{
    (void)state;
    char dir[256], sub[300];
    temp_dir(dir, sizeof dir);
    snprintf(sub, sizeof sub, "%s/nodes", dir);
    cli_hospital_spec hs[2] = {{"h-one", "One", "http://x"}, {"h-two", "Two", "http://x"}};
    json_t *cfg[2] = {json_object(), json_string("not an object")};
    cli_offline o;
    pc_error err;
    assert_int_equal(cli_offline_create_split(sub, "net", hs, 2, cfg, PC_KDF_FAST, &o, &err),
                     PC_EINVAL);
    assert_non_null(strstr(err.msg, "h-two"));
    assert_false(cli_path_exists(sub));
    cli_hospital_spec dup[2] = {{"h-one", "One", "http://x"}, {"h-one", "Two", "http://x"}};
    json_t *ok[2] = {cfg[0], cfg[0]};
    assert_int_equal(cli_offline_create_split(sub, "net", dup, 2, ok, PC_KDF_FAST, &o, &err),
                     PC_EINVAL);
    assert_false(cli_path_exists(sub));
    json_decref(cfg[0]);
    json_decref(cfg[1]);
    remove_tree(dir);
}

static void test_demo_hospitals(void **state)
{
    (void)state;
    cli_hospital_spec h;
    cli_demo_hospital(1, &h);
    assert_string_equal(h.id, "sunrise-clinic");
    assert_string_equal(h.endpoint, "");
    cli_demo_hospital(3, &h);
    assert_string_equal(h.id, "hospital-4");
    assert_string_equal(h.name, "Hospital 4");
}

/* ------------------------------------------------------------------------ */
/* Concurrent POSTs against a real node                                      */

static void test_multipost(void **state)
{
    (void)state;
    tnode n;
    assert_int_equal(tnode_create(&n, "net"), 0);
    assert_int_equal(tnode_start(&n), 0);
    char url[128], dead[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/tx", n.port);
    snprintf(dead, sizeof dead, "http://127.0.0.1:1/v1/tx");
    enum { N = 24 };
    cli_mpost reqs[N + 3];
    char *bodies[N];
    uint8_t txid[32];
    memset(reqs, 0, sizeof reqs);
    for (size_t i = 0; i < N; i++) {
        bodies[i] = tnode_staff_tx(&n, "net", pc_now_ms(), txid);
        assert_non_null(bodies[i]);
        reqs[i].url = url;
        reqs[i].body = bodies[i];
        reqs[i].len = strlen(bodies[i]);
    }
    reqs[N].url = url; /* the first transaction again: a duplicate */
    reqs[N].body = bodies[0];
    reqs[N].len = strlen(bodies[0]);
    reqs[N + 1].url = url;
    reqs[N + 1].body = "{not json";
    reqs[N + 1].len = 9;
    reqs[N + 2].url = dead; /* nobody listens: no answer, tried 3 times */
    reqs[N + 2].body = bodies[1];
    reqs[N + 2].len = strlen(bodies[1]);
    pc_error err;
    /* The duplicate must not race its original: send the originals first. */
    assert_int_equal(cli_multipost(reqs, N, 8, 3, 30, &err), PC_OK);
    assert_int_equal(cli_multipost(reqs + N, 3, 3, 3, 30, &err), PC_OK);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(reqs[i].status, 200);
        assert_int_equal(reqs[i].tries, 1);
        assert_non_null(reqs[i].answer);
        assert_non_null(strstr(reqs[i].answer, "\"verdict\":\"ok\""));
    }
    assert_int_equal(reqs[N].status, 409);
    assert_int_equal(reqs[N + 1].status, 400);
    assert_non_null(strstr(reqs[N + 1].answer, "bad_json"));
    assert_int_equal(reqs[N + 2].status, 0);
    assert_int_equal(reqs[N + 2].tries, 3);
    assert_null(reqs[N + 2].answer);
    cli_mpost_free(reqs, N + 3);
    for (size_t i = 0; i < N; i++)
        free(bodies[i]);
    tnode_destroy(&n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_folders),
        cmocka_unit_test(test_split_bad_input_writes_nothing),
        cmocka_unit_test(test_demo_hospitals),
        cmocka_unit_test(test_multipost),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
