/* Signed checkpoints (checkpoint.h): signature round trip and tamper
 * detection, strict parsing of the wire object, and snapshots that see one
 * consistent state while ledger.db changes underneath.
 *
 * Fixture: a ledger.db made by `parcha init` in a temp folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "parcha/checkpoint.h"
#include "parcha/encode.h"
#include "parcha/jcs.h"
#include "node/node_checkpoint.h"

/* ---------------------------------------------------------------- fixture */

static char dir[64];
static char ledger_path[128];

static int setup(void **state)
{
    (void)state;
    if (pc_crypto_init() != 0)
        return -1;
    snprintf(dir, sizeof dir, "/tmp/parcha-ckpt-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/parcha init --data %s/net --network ck-net --hospitals 2 >/dev/null",
             PARCHA_BINARY_DIR, dir);
    if (system(cmd) != 0)
        return -1;
    snprintf(ledger_path, sizeof ledger_path, "%s/net/ledger.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- helpers */

static void sample(pc_checkpoint *cp)
{
    memset(cp, 0, sizeof *cp);
    snprintf(cp->net, sizeof cp->net, "ck-net");
    snprintf(cp->hospital, sizeof cp->hospital, "hospital-1");
    cp->height = 1234;
    for (int i = 0; i < 32; i++) {
        cp->head[i] = (uint8_t)i;
        cp->state[i] = (uint8_t)(255 - i);
    }
    cp->time = 1700000000000LL;
}

/* ---------------------------------------------------------------- cases */

static void test_sign_verify_round_trip(void **state)
{
    (void)state;
    pc_keypair kp, other;
    assert_int_equal(pc_key_generate(&kp), 0);
    assert_int_equal(pc_key_generate(&other), 0);
    pc_checkpoint cp, back;
    sample(&cp);
    pc_error err;
    assert_int_equal(pc_checkpoint_sign(&cp, &kp, &err), PC_OK);
    assert_int_equal(pc_checkpoint_verify(&cp, kp.pk, &err), PC_OK);
    assert_int_equal(pc_checkpoint_verify(&cp, other.pk, &err), PC_ECRYPTO);

    json_t *j = pc_checkpoint_to_json(&cp);
    assert_non_null(j);
    assert_int_equal(pc_checkpoint_from_json(j, &back, &err), PC_OK);
    assert_memory_equal(&cp, &back, sizeof cp);
    assert_int_equal(pc_checkpoint_verify(&back, kp.pk, &err), PC_OK);

    /* The signed bytes are JCS of the object without sig. */
    json_object_del(j, "sig");
    pc_buf a, b;
    pc_buf_init(&a);
    pc_buf_init(&b);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_int_equal(pc_jcs_from_text(text, strlen(text), &a, &err), PC_OK);
    assert_int_equal(pc_checkpoint_canon(&cp, &b, &err), PC_OK);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    free(text);
    pc_buf_free(&a);
    pc_buf_free(&b);
    json_decref(j);
    pc_key_wipe(&kp);
    pc_key_wipe(&other);
}

static void test_any_change_breaks_the_signature(void **state)
{
    (void)state;
    pc_keypair kp;
    assert_int_equal(pc_key_generate(&kp), 0);
    pc_checkpoint cp, t;
    sample(&cp);
    pc_error err;
    assert_int_equal(pc_checkpoint_sign(&cp, &kp, &err), PC_OK);
    t = cp;
    t.height++;
    assert_int_equal(pc_checkpoint_verify(&t, kp.pk, &err), PC_ECRYPTO);
    assert_non_null(strstr(err.msg, "does not verify"));
    t = cp;
    t.state[7] ^= 1;
    assert_int_equal(pc_checkpoint_verify(&t, kp.pk, &err), PC_ECRYPTO);
    t = cp;
    t.head[0] ^= 0x80;
    assert_int_equal(pc_checkpoint_verify(&t, kp.pk, &err), PC_ECRYPTO);
    t = cp;
    snprintf(t.hospital, sizeof t.hospital, "hospital-2");
    assert_int_equal(pc_checkpoint_verify(&t, kp.pk, &err), PC_ECRYPTO);
    t = cp;
    t.time++;
    assert_int_equal(pc_checkpoint_verify(&t, kp.pk, &err), PC_ECRYPTO);
    t = cp;
    t.sig[63] ^= 1;
    assert_int_equal(pc_checkpoint_verify(&t, kp.pk, &err), PC_ECRYPTO);
    pc_key_wipe(&kp);
}

static void test_parse_is_strict(void **state)
{
    (void)state;
    pc_keypair kp;
    assert_int_equal(pc_key_generate(&kp), 0);
    pc_checkpoint cp, back;
    sample(&cp);
    pc_error err;
    assert_int_equal(pc_checkpoint_sign(&cp, &kp, &err), PC_OK);
    struct {
        const char *field;
        json_t *value; /* NULL: remove the field */
        const char *msg;
    } bad[] = {
        {"extra", json_string("x"), "unknown field"},
        {"v", json_integer(3), "checkpoint.v must be 2"},
        {"v", json_integer(1), "older parcha"},
        {"height", json_integer(-1), "checkpoint.height"},
        {"height", json_string("12"), "checkpoint.height"},
        {"head", json_string("zz"), "checkpoint.head"},
        {"state", NULL, "checkpoint.state"},
        {"sig", json_string("not base64!"), "checkpoint.sig"},
        {"hospital", json_string("x"), "checkpoint.hospital"},
        {"time", json_real(1.5), "checkpoint.time"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = pc_checkpoint_to_json(&cp);
        if (bad[i].value != NULL)
            json_object_set_new(j, bad[i].field, bad[i].value);
        else
            json_object_del(j, bad[i].field);
        assert_int_equal(pc_checkpoint_from_json(j, &back, &err), PC_EINVAL);
        assert_non_null(strstr(err.msg, bad[i].msg));
        json_decref(j);
    }
    json_t *arr = json_array();
    assert_int_equal(pc_checkpoint_from_json(arr, &back, &err), PC_EINVAL);
    json_decref(arr);
    pc_key_wipe(&kp);
}

static void test_snapshot_matches_the_ledger(void **state)
{
    (void)state;
    pc_ledger *l = NULL;
    pc_error err;
    assert_int_equal(pc_ledger_open(ledger_path, PC_LEDGER_READONLY, &l, &err), PC_OK);
    pc_head head, h2;
    uint8_t st[32], direct[32];
    assert_int_equal(pc_checkpoint_snapshot(l, &head, st, &err), PC_OK);
    assert_true(head.has_genesis);
    assert_int_equal(head.height, 0);
    assert_int_equal(pc_ledger_head(l, &h2, &err), PC_OK);
    assert_memory_equal(head.hash, h2.hash, 32);
    assert_int_equal(pc_ledger_state_digest(l, direct, &err), PC_OK);
    assert_memory_equal(st, direct, 32);
    pc_ledger_close(l);
}

static void test_pinned_snapshot_ignores_later_writes(void **state)
{
    (void)state;
    pc_ledger *l = NULL;
    pc_error err;
    assert_int_equal(pc_ledger_open(ledger_path, PC_LEDGER_READONLY, &l, &err), PC_OK);
    uint8_t before[32], pinned[32], after[32];
    assert_int_equal(pc_ledger_state_digest(l, before, &err), PC_OK);

    pc_head head;
    assert_int_equal(pc_checkpoint_pin(l, &head, &err), PC_OK);
    /* Another connection changes the state while the snapshot is pinned. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(ledger_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, "UPDATE hospitals SET name = name || ' (altered)'", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(pc_checkpoint_digest(l, pinned, &err), PC_OK);
    assert_memory_equal(pinned, before, 32);

    /* Unpinned, a new snapshot sees the change. */
    pc_head h2;
    assert_int_equal(pc_checkpoint_snapshot(l, &h2, after, &err), PC_OK);
    assert_memory_not_equal(after, before, 32);
    assert_int_equal(sqlite3_exec(db, "UPDATE hospitals SET name = replace(name, ' (altered)', '')", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(pc_checkpoint_snapshot(l, &h2, after, &err), PC_OK);
    assert_memory_equal(after, before, 32);

    /* Unpin without a digest leaves the handle usable. */
    assert_int_equal(pc_checkpoint_pin(l, &head, &err), PC_OK);
    pc_checkpoint_unpin(l);
    assert_int_equal(pc_ledger_head(l, &h2, &err), PC_OK);
    pc_ledger_close(l);
}

/* A copy of the fixture's ledger.db as DIR/name (path into copy), for tests
 * that change it. */
static void copy_fixture(const char *name, char *copy, size_t size)
{
    snprintf(copy, size, "%s/%s", dir, name);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(ledger_path, &db), SQLITE_OK);
    char *sql = sqlite3_mprintf("VACUUM INTO %Q", copy);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_free(sql);
    sqlite3_close(db);
}

/* The state digest, computed here from its written definition (ledger.c):
 * BLAKE2b-256 over each state table's rows in key order, every column as
 * SQLite type tag, 4-byte big-endian length and bytes (integers as 8 bytes
 * big-endian), "|" after each table. One update call per field, without the
 * library's buffering. Then a changed cell must change the digest. */
static void reference_digest(sqlite3 *db, uint8_t out[32])
{
    static const char *const tables[] = {
        "SELECT * FROM hospitals ORDER BY id", "SELECT * FROM staff ORDER BY key",
        "SELECT * FROM patients ORDER BY key", "SELECT * FROM records ORDER BY id",
        "SELECT * FROM consents ORDER BY txid", "SELECT * FROM emergencies ORDER BY txid",
        "SELECT * FROM access_log ORDER BY txid",
        "SELECT net, height, hash, time, ntx, emergency_max_hours, clock_window_ms FROM head",
        NULL};
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    size_t ints = 0, texts = 0;
    for (size_t t = 0; tables[t] != NULL; t++) {
        sqlite3_stmt *s = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, tables[t], -1, &s, NULL), SQLITE_OK);
        while (sqlite3_step(s) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(s); c++) {
                uint8_t tag = (uint8_t)sqlite3_column_type(s, c), be[8];
                const void *p = NULL;
                uint32_t n = 0;
                if (tag == SQLITE_INTEGER) {
                    int64_t v = sqlite3_column_int64(s, c);
                    for (int i = 0; i < 8; i++)
                        be[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
                    p = be;
                    n = 8;
                    ints++;
                } else {
                    p = sqlite3_column_blob(s, c);
                    n = (uint32_t)sqlite3_column_bytes(s, c);
                    texts += tag != SQLITE_NULL;
                }
                uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
                crypto_generichash_update(&st, &tag, 1);
                crypto_generichash_update(&st, len, 4);
                if (n > 0)
                    crypto_generichash_update(&st, p, n);
            }
        }
        sqlite3_finalize(s);
        crypto_generichash_update(&st, (const uint8_t *)"|", 1);
    }
    crypto_generichash_final(&st, out, 32);
    assert_true(ints > 0 && texts > 0); /* the fixture exercises both kinds */
}

static void test_state_digest_definition(void **state)
{
    (void)state;
    char copy[160];
    copy_fixture("digest-copy.db", copy, sizeof copy);
    sqlite3 *db = NULL;

    uint8_t want[32], got[32], changed[32];
    assert_int_equal(sqlite3_open(copy, &db), SQLITE_OK);
    reference_digest(db, want);
    pc_ledger *l = NULL;
    pc_error err;
    assert_int_equal(pc_ledger_open(copy, PC_LEDGER_READONLY, &l, &err), PC_OK);
    assert_int_equal(pc_ledger_state_digest(l, got, &err), PC_OK);
    pc_ledger_close(l);
    assert_memory_equal(got, want, 32);

    /* One integer cell one larger: a different digest, from both. */
    assert_int_equal(sqlite3_exec(db, "UPDATE hospitals SET since = since + 1 WHERE rowid ="
                                      " (SELECT min(rowid) FROM hospitals)", NULL, NULL, NULL),
                     SQLITE_OK);
    reference_digest(db, want);
    sqlite3_close(db);
    assert_int_equal(pc_ledger_open(copy, PC_LEDGER_READONLY, &l, &err), PC_OK);
    assert_int_equal(pc_ledger_state_digest(l, changed, &err), PC_OK);
    pc_ledger_close(l);
    assert_memory_equal(changed, want, 32);
    assert_memory_not_equal(changed, got, 32);
    unlink(copy);
}

/* pc_ledger_interrupt cuts a running state digest short (a stopping node
 * must not wait seconds for one). The state is made big with plain SQL in a
 * copy of the fixture: 300,000 access-log rows. */
typedef struct digest_job {
    pc_ledger *l;
    int rc;
    double ms;
} digest_job;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void *digest_main(void *arg)
{
    digest_job *j = arg;
    uint8_t d[32];
    pc_error err;
    double t0 = now_ms();
    j->rc = pc_ledger_state_digest(j->l, d, &err);
    j->ms = now_ms() - t0;
    return NULL;
}

static void test_digest_can_be_interrupted(void **state)
{
    (void)state;
    char copy[160];
    copy_fixture("interrupt-copy.db", copy, sizeof copy);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(copy, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)"
        " INSERT INTO access_log(txid, patient, reader, custodian, records, basis, ref, time, height)"
        " SELECT randomblob(32), randomblob(32), randomblob(32), 'hospital-1', '[\"r\"]',"
        " 'patient', NULL, i, i FROM n", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    pc_ledger *l = NULL;
    pc_error err;
    assert_int_equal(pc_ledger_open(copy, PC_LEDGER_READONLY, &l, &err), PC_OK);
    digest_job whole = {.l = l};
    digest_main(&whole);
    assert_int_equal(whole.rc, PC_OK);

    digest_job cut = {.l = l};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, digest_main, &cut), 0);
    usleep((useconds_t)(whole.ms * 1000 / 10)); /* a tenth of the way in */
    pc_ledger_interrupt(l);
    pthread_join(t, NULL);
    fprintf(stderr, "digest of 300,000 rows: %.0f ms whole, %.0f ms when interrupted\n", whole.ms, cut.ms);
    if (whole.ms > 50) { /* too fast a machine leaves nothing to interrupt */
        assert_int_not_equal(cut.rc, PC_OK);
        assert_true(cut.ms < whole.ms * 0.6);
    }
    /* The handle works again afterwards. */
    digest_job again = {.l = l};
    digest_main(&again);
    assert_int_equal(again.rc, PC_OK);
    pc_ledger_close(l);
    unlink(copy);
}

/* The aligned grid: every_blocks until the chain passes 131,072
 * transactions, then doubling each time the chain doubles, so a digest (which
 * reads the whole state) stays rare as the state grows. */
static void test_grid_thins_as_the_chain_grows(void **state)
{
    (void)state;
    assert_int_equal(pc_ckpts_grid_step(100, 0), 100);
    assert_int_equal(pc_ckpts_grid_step(100, 131071), 100);
    assert_int_equal(pc_ckpts_grid_step(100, 131072), 200);
    assert_int_equal(pc_ckpts_grid_step(100, 262143), 200);
    assert_int_equal(pc_ckpts_grid_step(100, 262144), 400);
    assert_int_equal(pc_ckpts_grid_step(100, 1000000), 800);
    assert_int_equal(pc_ckpts_grid_step(10, 1000000), 80);
    /* never overflows, however long the chain */
    assert_true(pc_ckpts_grid_step(1, UINT64_MAX) > 0);
    assert_true(pc_ckpts_grid_step(UINT64_MAX / 3, UINT64_MAX) >= UINT64_MAX / 3);
}

/* The block-time rule: from 16,384 transactions on, at most one aligned
 * height per period of block time, 40 us per stored transaction, at most an
 * hour; below, every grid height counts. */
static void test_period_by_block_time(void **state)
{
    (void)state;
    assert_int_equal(pc_ckpts_period_ms(0), 0);
    assert_int_equal(pc_ckpts_period_ms(16383), 0);
    assert_int_equal(pc_ckpts_period_ms(16384), 655);
    assert_int_equal(pc_ckpts_period_ms(52000), 2080);
    assert_int_equal(pc_ckpts_period_ms(1000000), 40000);
    assert_int_equal(pc_ckpts_period_ms(UINT64_MAX), 3600000);
    /* Small chain: always aligned, even with no time between. */
    assert_true(pc_ckpts_time_aligned(1765000001000, 1765000001000, 100));
    assert_true(pc_ckpts_time_aligned(1765000001000, 1765000001001, 16383));
    /* 52,000 transactions: 2,080 ms periods. */
    assert_true(pc_ckpts_time_aligned(1765000001439, 1765000001440, 52000)); /* 2080 x 848557693 */
    assert_false(pc_ckpts_time_aligned(1765000001440, 1765000003519, 52000));
    assert_true(pc_ckpts_time_aligned(1765000001440, 1765000003520, 52000));
    /* 1M transactions: 40 s periods. */
    assert_false(pc_ckpts_time_aligned(1765000000001, 1765000039999, 1000000));
    assert_true(pc_ckpts_time_aligned(1765000039999, 1765000040000, 1000000));
    /* Past the threshold, time that stands still or goes back (it cannot on
     * a chain) is never aligned. */
    assert_false(pc_ckpts_time_aligned(1765000005000, 1765000005000, 52000));
    assert_false(pc_ckpts_time_aligned(1765000009000, 1765000005000, 52000));
    /* Blocks every 10 ms for 120 s at 1M transactions: exactly one aligned
     * grid point per 40 s period (at ...040000, ...080000 and ...120000). */
    size_t aligned = 0;
    for (int64_t now = 1765000000010; now <= 1765000120000; now += 10)
        aligned += pc_ckpts_time_aligned(now - 10, now, 1000000);
    assert_int_equal(aligned, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_verify_round_trip),
        cmocka_unit_test(test_any_change_breaks_the_signature),
        cmocka_unit_test(test_parse_is_strict),
        cmocka_unit_test(test_snapshot_matches_the_ledger),
        cmocka_unit_test(test_state_digest_definition),
        cmocka_unit_test(test_digest_can_be_interrupted),
        cmocka_unit_test(test_pinned_snapshot_ignores_later_writes),
        cmocka_unit_test(test_grid_thins_as_the_chain_grows),
        cmocka_unit_test(test_period_by_block_time),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
