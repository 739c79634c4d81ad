/* Tests for the transaction builders shared by the CLI and the demo
 * (src/cli/build.c) and the offline network maker (src/cli/offline.c):
 * every builder's transaction has the right type, body and signers and
 * verifies; a record round-trips through encryption for the patient and the
 * custodian and its hash is the blob's; an offline network applies genesis
 * and further blocks, refuses to reuse a folder, and leaves nothing behind
 * on bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/build.h"
#include "cli/keys.h"
#include "cli/offline.h"
#include "parcha/encode.h"

/* ------------------------------------------------------------------------ */
/* Fixture and helpers                                                       */

static pc_keypair KP[4];

static int setup(void **state)
{
    (void)state;
    if (pc_crypto_init() != 0)
        return -1;
    for (int i = 0; i < 4; i++) {
        if (pc_key_generate(&KP[i]) != PC_OK)
            return -1;
    }
    return 0;
}

static const char *body_str(const pc_tx *tx, const char *key)
{
    return json_string_value(json_object_get(tx->body, key));
}

/* A tx parsed back from its client form verifies and matches. */
static void assert_round_trip(pc_tx *tx)
{
    size_t len = 0;
    char *text = pc_tx_to_json(tx, &len);
    assert_non_null(text);
    pc_tx back;
    pc_error err;
    if (pc_tx_parse_json(text, len, &back, &err) != PC_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(pc_tx_verify(&back), PC_OK);
    assert_memory_equal(back.txid, tx->txid, 32);
    pc_tx_free(&back);
    free(text);
}

/* A fresh empty directory under /tmp; caller removes it. */
static void temp_dir(char *out, size_t outlen)
{
    snprintf(out, outlen, "/tmp/parcha-test-cli-XXXXXX");
    assert_non_null(mkdtemp(out));
}

static void remove_tree(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* ------------------------------------------------------------------------ */
/* Builders                                                                  */

static void test_staff_and_patient(void **state)
{
    (void)state;
    pc_tx tx;
    pc_error err;
    assert_int_equal(cli_build_staff_enroll("net-a", "city-general", &KP[0], KP[1].pk,
                                            "Dr. A", "doctor", "MMC-1", 1000, &tx, &err),
                     PC_OK);
    assert_int_equal(tx.type, PC_TX_STAFF_ENROLL);
    assert_string_equal(tx.net, "net-a");
    assert_int_equal(tx.time, 1000);
    assert_true(pc_tx_signed_by(&tx, KP[0].pk));
    assert_int_equal(tx.nsigs, 1);
    assert_string_equal(body_str(&tx, "role"), "doctor");
    assert_round_trip(&tx);
    pc_tx_free(&tx);

    assert_int_equal(cli_build_patient_register("net-a", &KP[2], &KP[3], "city-general", 5,
                                                &tx, &err),
                     PC_OK);
    assert_int_equal(tx.nsigs, 2);
    assert_true(pc_tx_signed_by(&tx, KP[2].pk));
    assert_true(pc_tx_signed_by(&tx, KP[3].pk));
    uint8_t k[32];
    assert_int_equal(pc_b64_decode_exact(k, 32, body_str(&tx, "key")), 0);
    assert_memory_equal(k, KP[2].pk, 32);
    assert_round_trip(&tx);
    pc_tx_free(&tx);

    /* The shape checks of tx.c run on what we build. */
    assert_int_equal(cli_build_staff_enroll("net-a", "City General", &KP[0], KP[1].pk, "Dr. A",
                                            "doctor", "MMC-1", 1000, &tx, &err),
                     PC_EINVAL);
    assert_non_null(strstr(err.msg, "hospital"));
}

static void test_consents_and_emergency(void **state)
{
    (void)state;
    pc_tx tx;
    pc_error err;
    json_t *types = json_pack("[s,s]", "Prescription", "DiagnosticReport");
    assert_int_equal(cli_build_consent_grant("net-a", &KP[2], NULL, KP[1].pk, types,
                                             "2024-01-01", NULL, 99999, "CAREMGT", 5, &tx,
                                             &err),
                     PC_OK);
    const json_t *g = json_object_get(tx.body, "grantee");
    assert_non_null(json_object_get(g, "staff"));
    assert_null(json_object_get(g, "hospital"));
    assert_true(json_is_null(json_object_get(tx.body, "to")));
    assert_string_equal(body_str(&tx, "from"), "2024-01-01");
    assert_round_trip(&tx);
    uint8_t grant_id[32];
    memcpy(grant_id, tx.txid, 32);
    pc_tx_free(&tx);
    /* Exactly one grantee. */
    assert_int_equal(cli_build_consent_grant("net-a", &KP[2], "city-general", KP[1].pk, types,
                                             NULL, NULL, 99999, "CAREMGT", 5, &tx, &err),
                     PC_EINVAL);
    json_decref(types);

    assert_int_equal(cli_build_consent_revoke("net-a", &KP[2], grant_id, 6, &tx, &err), PC_OK);
    char hex[65];
    assert_string_equal(body_str(&tx, "grant"), pc_hex_encode(hex, sizeof hex, grant_id, 32));
    pc_tx_free(&tx);

    assert_int_equal(cli_build_emergency_open("net-a", &KP[1], KP[2].pk, "city-general",
                                              "unconscious", 12, 7, &tx, &err),
                     PC_OK);
    assert_int_equal(json_integer_value(json_object_get(tx.body, "hours")), 12);
    assert_round_trip(&tx);
    pc_tx_free(&tx);

    const char *ids[2] = {"rec-1", "rec-2"};
    assert_int_equal(cli_build_access_log("net-a", &KP[0], "city-general", KP[1].pk, KP[2].pk,
                                          ids, 2, "emergency", grant_id, 8, &tx, &err),
                     PC_OK);
    assert_int_equal(json_array_size(json_object_get(tx.body, "records")), 2);
    assert_round_trip(&tx);
    pc_tx_free(&tx);
}

static void test_governance(void **state)
{
    (void)state;
    pc_tx tx;
    pc_error err;
    const pc_keypair *signers[3] = {&KP[0], &KP[1], &KP[2]};
    cli_hospital founders[3] = {{"h-one", "One", "http://127.0.0.1:8080", KP[0].pk},
                                {"h-two", "Two", "http://127.0.0.1:8080", KP[1].pk},
                                {"h-three", "Three", "http://127.0.0.1:8080", KP[2].pk}};
    assert_int_equal(cli_build_genesis("net-a", founders, signers, 3, 24, 300000, 1, &tx, &err),
                     PC_OK);
    assert_int_equal(tx.type, PC_TX_GENESIS);
    assert_int_equal(tx.nsigs, 3);
    assert_int_equal(json_array_size(json_object_get(tx.body, "hospitals")), 3);
    assert_round_trip(&tx);
    pc_tx_free(&tx);

    cli_hospital nh = {"h-four", "Four", "http://10.0.0.4:8080", KP[3].pk};
    const pc_keypair *admit[3] = {&KP[3], &KP[0], &KP[1]};
    assert_int_equal(cli_build_hospital_admit("net-a", &nh, admit, 3, 2, &tx, &err), PC_OK);
    assert_int_equal(tx.type, PC_TX_HOSPITAL_ADMIT);
    assert_round_trip(&tx);
    pc_tx_free(&tx);
    assert_int_equal(cli_build_hospital_suspend("net-a", "h-two", "closed", signers, 2, 3, &tx,
                                                &err),
                     PC_OK);
    assert_int_equal(tx.nsigs, 2);
    pc_tx_free(&tx);
}

static void test_record_round_trip(void **state)
{
    (void)state;
    json_t *fhir = json_pack("{s:s,s:s,s:{s:s},s:{s:f,s:s}}", "resourceType", "Observation",
                             "status", "final", "code", "text", "HbA1c", "valueQuantity",
                             "value", 7.2, "unit", "%");
    cli_record rec;
    pc_error err;
    char id[65];
    cli_record_id_new(id);
    assert_int_equal(strlen(id), 22);
    assert_int_equal(cli_build_record("net-a", &KP[1], "city-general", KP[0].pk, KP[2].pk, id,
                                      "DiagnosticReport", "2024-03-18", fhir, 9, &rec, &err),
                     PC_OK);
    assert_string_equal(rec.id, id);
    assert_int_equal(rec.tx.type, PC_TX_RECORD_ADD);
    assert_true(pc_tx_signed_by(&rec.tx, KP[1].pk));
    assert_string_equal(body_str(&rec.tx, "fhir"), "Observation");
    assert_int_equal(json_integer_value(json_object_get(rec.tx.body, "size")), rec.blob.len);
    uint8_t h[32], want[32];
    pc_sha256(h, rec.blob.data, rec.blob.len);
    assert_int_equal(pc_hex_decode_exact(want, 32, body_str(&rec.tx, "hash")), 0);
    assert_memory_equal(h, want, 32);

    /* The patient opens the key on the chain; the custodian its own copy. */
    uint8_t sealed[PC_SEALED_KEY_LEN], key[32];
    assert_int_equal(pc_b64_decode_exact(sealed, sizeof sealed, body_str(&rec.tx, "sealed_key")),
                     0);
    assert_int_equal(pc_unseal_key(sealed, &KP[2], key), PC_OK);
    pc_buf plain;
    pc_buf_init(&plain);
    assert_int_equal(pc_record_decrypt(rec.blob.data, rec.blob.len, id, KP[2].pk, key, &plain),
                     PC_OK);
    assert_string_equal((const char *)plain.data,
                        "{\"resourceType\":\"Observation\",\"status\":\"final\","
                        "\"code\":{\"text\":\"HbA1c\"},\"valueQuantity\":{\"value\":7.2,"
                        "\"unit\":\"%\"}}");
    pc_buf_free(&plain);
    assert_int_equal(pc_unseal_key(rec.sealed_custodian, &KP[0], key), PC_OK);
    assert_int_equal(pc_unseal_key(rec.sealed_custodian, &KP[1], key), PC_ECRYPTO);
    assert_round_trip(&rec.tx);
    cli_record_free(&rec);

    /* No resourceType: refused before anything is encrypted. */
    json_object_del(fhir, "resourceType");
    assert_int_equal(cli_build_record("net-a", &KP[1], "city-general", KP[0].pk, KP[2].pk, id,
                                      "DiagnosticReport", "2024-03-18", fhir, 9, &rec, &err),
                     PC_EINVAL);
    json_decref(fhir);
}

/* ------------------------------------------------------------------------ */
/* Offline network                                                           */

static void test_offline_network(void **state)
{
    (void)state;
    char dir[256], path[512];
    temp_dir(dir, sizeof dir);
    cli_hospital_spec hs[2] = {{"h-one", "One", "http://127.0.0.1:8080"},
                               {"h-two", "Two", "http://127.0.0.1:8080"}};
    cli_offline o;
    pc_error err;
    if (cli_offline_create(dir, "test-net", hs, 2, "127.0.0.1:8080", PC_KDF_FAST, &o, &err) !=
        PC_OK)
        fail_msg("%s", err.msg);
    pc_head head;
    assert_int_equal(pc_ledger_head(o.ledger, &head, &err), PC_OK);
    assert_true(head.has_genesis);
    assert_int_equal(head.height, 0);
    assert_string_equal(head.net, "test-net");

    /* A block of two staff enrolments, by different hospitals. */
    pc_tx txs[2];
    assert_int_equal(cli_build_staff_enroll("test-net", "h-one", &o.keys[0], KP[1].pk, "Dr. A",
                                            "doctor", "R1", pc_now_ms(), &txs[0], &err),
                     PC_OK);
    assert_int_equal(cli_build_staff_enroll("test-net", "h-two", &o.keys[1], KP[2].pk, "B",
                                            "clerk", "R2", pc_now_ms(), &txs[1], &err),
                     PC_OK);
    uint8_t ids[2][32];
    assert_int_equal(cli_offline_commit(&o, txs, 2, ids, &err), PC_OK);
    assert_int_equal(pc_ledger_head(o.ledger, &head, &err), PC_OK);
    assert_int_equal(head.height, 1);
    assert_int_equal(o.txs, 3);

    /* A refused transaction fails the commit and names it. */
    assert_int_equal(cli_build_staff_enroll("test-net", "h-one", &o.keys[1], KP[3].pk, "C",
                                            "nurse", "R3", pc_now_ms(), &txs[0], &err),
                     PC_OK);
    assert_int_equal(cli_offline_commit(&o, txs, 1, NULL, &err), PC_ESTATE);
    assert_non_null(strstr(err.msg, "staff.enroll"));
    cli_offline_close(&o);

    /* The hospital keys open with their .pass files. */
    snprintf(path, sizeof path, "%s/keys/h-two.pass", dir);
    char *pass = NULL;
    size_t passlen = 0;
    assert_int_equal(pc_pass_read_file(path, &pass, &passlen, &err), PC_OK);
    snprintf(path, sizeof path, "%s/keys/h-two.key", dir);
    pc_keypair kp;
    assert_int_equal(pc_keyfile_read(path, pass, passlen, &kp, &err), PC_OK);
    pc_pass_free(pass, passlen);
    pc_key_wipe(&kp);

    /* The same folder again is refused and left as it was. */
    assert_int_equal(cli_offline_create(dir, "test-net", hs, 2, "127.0.0.1:8080", PC_KDF_FAST,
                                        &o, &err),
                     PC_EEXIST);
    assert_non_null(strstr(err.msg, "already holds a network"));
    remove_tree(dir);
}

static void test_offline_bad_input_writes_nothing(void **state)
{
    (void)state;
    char dir[256], sub[300];
    temp_dir(dir, sizeof dir);
    snprintf(sub, sizeof sub, "%s/net", dir);
    cli_hospital_spec dup[2] = {{"h-one", "One", "http://x"}, {"h-one", "Two", "http://x"}};
    cli_offline o;
    pc_error err;
    assert_int_equal(cli_offline_create(sub, "test-net", dup, 2, "127.0.0.1:8080", PC_KDF_FAST,
                                        &o, &err),
                     PC_EINVAL);
    assert_non_null(strstr(err.msg, "given twice"));
    assert_int_equal(cli_offline_create(sub, "Bad Net", dup, 1, "127.0.0.1:8080", PC_KDF_FAST, &o,
                                        &err),
                     PC_EINVAL);
    assert_false(cli_path_exists(sub));
    remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_staff_and_patient),
        cmocka_unit_test(test_consents_and_emergency),
        cmocka_unit_test(test_governance),
        cmocka_unit_test(test_record_round_trip),
        cmocka_unit_test(test_offline_network),
        cmocka_unit_test(test_offline_bad_input_writes_nothing),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
