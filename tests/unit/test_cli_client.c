/* Tests for the CLI's HTTP side against a fake node (libmicrohttpd on a free
 * port of 127.0.0.1): the client's error mapping (the node's sentence, a 422
 * verdict in words, a node that is not there), RFC 9421 signed reads that
 * verify, and `parcha history` / `parcha export` over a timeline with one
 * readable record, one locked (403), one whose custodian is down (503) and
 * one whose content does not match the chain hash: the readable one is
 * decrypted and summarised, the others say why, and the rest still print. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "parcha/encode.h"
#include "parcha/healthid.h"
#include "parcha/httpsig.h"
#include "parcha/keyfile.h"

/* ------------------------------------------------------------------------ */
/* Fixture: a fake node                                                      */

typedef struct fake {
    struct MHD_Daemon *d;
    char base[64];
    char dir[64];
    char key_path[128], pass_path[128];
    pc_keypair patient;
    char hid[PC_HEALTHID_LEN + 1];
    char *blob_b64;     /* the readable record's content */
    char *bad_b64;      /* content that does not match its hash */
    char hash_hex[65];
    char sealed_b64[112];
    int signed_ok;      /* signed reads whose signature verified */
    int signed_bad;
} fake;

static fake F;

static const char FHIR[] =
    "{\"resourceType\":\"MedicationRequest\",\"status\":\"active\",\"intent\":\"order\","
    "\"medicationCodeableConcept\":{\"text\":\"Metformin 500 mg tablet\"},"
    "\"subject\":{\"reference\":\"Patient/x\"},\"authoredOn\":\"2025-03-01\","
    "\"dosageInstruction\":[{\"text\":\"1 tablet twice a day for 30 days\"}]}";

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Check the RFC 9421 headers of a content read. */
static void check_signature(struct MHD_Connection *c, const char *url)
{
    const char *in = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Signature-Input");
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Signature");
    uint8_t key[32];
    char nonce[PC_HTTPSIG_NONCE_MAX + 1];
    pc_error err;
    if (in != NULL && sig != NULL &&
        pc_httpsig_verify("GET", url, NULL, in, sig, (int64_t)time(NULL), PC_HTTPSIG_WINDOW_S,
                          key, nonce, &err) == PC_OK &&
        memcmp(key, F.patient.pk, 32) == 0)
        F.signed_ok++;
    else
        F.signed_bad++;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version,
                               const char *upload, size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    (void)upload;
    static int marker;
    if (*con_cls == NULL) {
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        *upload_size = 0;
        return MHD_YES;
    }
    char buf[2048];
    if (strcmp(method, "POST") == 0 && strcmp(url, "/v1/tx") == 0)
        return reply(c, 422,
                     "{\"error\":{\"code\":\"rejected\",\"message\":\"rejected: no_majority\"},"
                     "\"verdict\":\"no_majority\"}");
    if (strcmp(url, "/v1/status") == 0)
        return reply(c, 200, "{\"network\":\"test-net\",\"height\":3}");
    snprintf(buf, sizeof buf, "/v1/patients/%s", F.hid);
    if (strcmp(url, buf) == 0) {
        char pk[48], body[256];
        snprintf(body, sizeof body, "{\"health_id\":\"%s\",\"key\":\"%s\"}", F.hid,
                 pc_b64_encode(pk, sizeof pk, F.patient.pk, 32));
        return reply(c, 200, body);
    }
    snprintf(buf, sizeof buf, "/v1/patients/%s/timeline", F.hid);
    if (strcmp(url, buf) == 0) {
        snprintf(buf, sizeof buf,
                 "{\"records\":["
                 "{\"id\":\"r-ok\",\"hi_type\":\"Prescription\",\"date\":\"2025-03-01\","
                 "\"custodian\":\"city\",\"hash\":\"%s\"},"
                 "{\"id\":\"r-locked\",\"hi_type\":\"DiagnosticReport\",\"date\":\"2025-02-01\","
                 "\"custodian\":\"sunrise\",\"hash\":\"%s\"},"
                 "{\"id\":\"r-down\",\"hi_type\":\"DischargeSummary\",\"date\":\"2025-01-01\","
                 "\"custodian\":\"district\",\"hash\":\"%s\"},"
                 "{\"id\":\"r-tampered\",\"hi_type\":\"Prescription\",\"date\":\"2024-12-01\","
                 "\"custodian\":\"city\",\"hash\":\"%s\"}]}",
                 F.hash_hex, F.hash_hex, F.hash_hex, F.hash_hex);
        return reply(c, 200, buf);
    }
    if (strncmp(url, "/v1/records/", 12) == 0) {
        check_signature(c, url);
        if (strcmp(url, "/v1/records/r-locked/content") == 0)
            return reply(c, 403, "{\"error\":{\"code\":\"denied\",\"message\":"
                                 "\"no consent covers this record\"}}");
        if (strcmp(url, "/v1/records/r-down/content") == 0)
            return reply(c, 503, "{\"error\":{\"code\":\"unavailable\",\"message\":"
                                 "\"the custodian district is unavailable\"}}");
        const char *b = strcmp(url, "/v1/records/r-ok/content") == 0 ? F.blob_b64 : F.bad_b64;
        size_t cap = strlen(b) + 512;
        char *body = malloc(cap);
        snprintf(body, cap, "{\"blob\":\"%s\",\"sealed_key\":\"%s\",\"basis\":\"patient\",\"ref\":null}",
                b, F.sealed_b64);
        enum MHD_Result ret = reply(c, 200, body);
        free(body);
        return ret;
    }
    return reply(c, 404, "{\"error\":{\"code\":\"not_found\",\"message\":\"no such thing\"}}");
}

static int setup(void **state)
{
    (void)state;
    if (pc_crypto_init() != 0 || pc_key_generate(&F.patient) != PC_OK)
        return -1;
    pc_healthid_from_key(F.patient.pk, F.hid);
    /* The readable record: encrypted for r-ok, key sealed to the patient. */
    uint8_t key[32], sealed[PC_SEALED_KEY_LEN], h[32];
    pc_buf blob;
    pc_buf_init(&blob);
    if (pc_record_encrypt((const uint8_t *)FHIR, strlen(FHIR), "r-ok", F.patient.pk, key,
                          &blob) != PC_OK ||
        pc_seal_key(key, F.patient.pk, sealed) != PC_OK)
        return -1;
    pc_sha256(h, blob.data, blob.len);
    pc_hex_encode(F.hash_hex, sizeof F.hash_hex, h, 32);
    pc_b64_encode(F.sealed_b64, sizeof F.sealed_b64, sealed, sizeof sealed);
    F.blob_b64 = pc_b64_dup(blob.data, blob.len);
    blob.data[blob.len - 1] ^= 1;
    F.bad_b64 = pc_b64_dup(blob.data, blob.len);
    pc_buf_free(&blob);

    snprintf(F.dir, sizeof F.dir, "/tmp/parcha-test-client-XXXXXX");
    if (mkdtemp(F.dir) == NULL)
        return -1;
    snprintf(F.key_path, sizeof F.key_path, "%s/p.key", F.dir);
    snprintf(F.pass_path, sizeof F.pass_path, "%s/p.pass", F.dir);
    pc_error err;
    if (pc_keyfile_write(F.key_path, &F.patient, "P", "patient-pass", 12, PC_KDF_FAST, &err) !=
            PC_OK ||
        pc_file_write(F.pass_path, "patient-pass\n", 13, 0600, &err) != PC_OK)
        return -1;

    F.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                           handler, NULL, MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    if (F.d == NULL)
        return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(F.d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(F.base, sizeof F.base, "http://127.0.0.1:%u", (unsigned)info->port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (F.d != NULL)
        MHD_stop_daemon(F.d);
    free(F.blob_b64);
    free(F.bad_b64);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", F.dir);
    if (system(cmd) != 0)
        return -1;
    pc_key_wipe(&F.patient);
    return 0;
}

/* Run a command with stdout captured into out (NUL-ended); returns its exit. */
static int run_captured(int (*cmd)(int, char **), char **argv, int argc, char *out,
                        size_t outlen)
{
    char path[128];
    snprintf(path, sizeof path, "%s/stdout", F.dir);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    int rc = cmd(argc, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    fclose(f);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Cases                                                                     */

static void test_client_errors(void **state)
{
    (void)state;
    cli_client c;
    pc_error err;
    json_t *j = NULL;
    assert_int_equal(cli_client_init(&c, F.base, &err), PC_OK);
    char net[PC_NET_MAX + 1];
    assert_int_equal(cli_network(&c, net, &err), PC_OK);
    assert_string_equal(net, "test-net");
    assert_int_equal(cli_get(&c, "/v1/nothing", &j, &err), PC_ENOTFOUND);
    assert_null(j);
    assert_int_equal(c.status, 404);
    assert_string_equal(err.msg, "no such thing");
    assert_int_equal(cli_post(&c, "/v1/tx", "{}", 2, &j, &err), PC_EINVAL);
    assert_int_equal(c.status, 422);
    assert_string_equal(err.msg, "the ledger refused the transaction: more than half of the "
                                 "active hospitals must sign (no_majority)");
    uint8_t key[32];
    assert_int_equal(cli_patient_key(&c, "not-a-health-id", key, NULL, &err), PC_EINVAL);
    cli_client_close(&c);

    /* No node there: a sentence that says what to check. */
    assert_int_equal(cli_client_init(&c, "http://127.0.0.1:1", &err), PC_OK);
    assert_int_equal(cli_get(&c, "/v1/status", &j, &err), PC_EUNAVAIL);
    assert_non_null(strstr(err.msg, "is parchad running?"));
    cli_client_close(&c);
    assert_int_equal(cli_client_init(&c, "ftp://x", &err), PC_EINVAL);
    cli_client_close(&c);
}

static void test_history_marks_locked_and_unavailable(void **state)
{
    (void)state;
    char *argv[] = {"--patient", F.hid, "--key", F.key_path, "--pass-file", F.pass_path,
                    "--node", F.base};
    static char out[8192];
    int before = F.signed_ok;
    int rc = run_captured(cli_cmd_history, argv, 8, out, sizeof out);
    /* The tampered record counts as a failure, so the exit is 1 ... */
    assert_int_equal(rc, 1);
    /* ... but every record has its line, in timeline order. */
    char *ok = strstr(out, "Metformin 500 mg");
    char *locked = strstr(out, "locked: no consent covers this record");
    char *down = strstr(out, "unavailable: district");
    char *bad = strstr(out, "does not match the hash on the chain");
    if (ok == NULL || locked == NULL || down == NULL || bad == NULL)
        fail_msg("history printed:\n%s", out);
    assert_true(ok < locked && locked < down && down < bad);
    assert_non_null(strstr(out, "(1 locked, 1 unavailable, 1 failed)"));
    assert_int_equal(F.signed_ok - before, 4);
    assert_int_equal(F.signed_bad, 0);
}

static void test_export_bundle(void **state)
{
    (void)state;
    char bundle[160];
    snprintf(bundle, sizeof bundle, "%s/bundle.json", F.dir);
    char *argv[] = {"--patient", F.hid, "--key", F.key_path, "--pass-file", F.pass_path,
                    "--node", F.base, "--out", bundle};
    static char out[4096];
    assert_int_equal(run_captured(cli_cmd_export, argv, 10, out, sizeof out), 0);
    json_error_t je;
    json_t *b = json_load_file(bundle, 0, &je);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "resourceType")), "Bundle");
    assert_string_equal(json_string_value(json_object_get(b, "type")), "collection");
    const json_t *entries = json_object_get(b, "entry");
    assert_int_equal(json_array_size(entries), 1);
    const json_t *res = json_object_get(json_array_get(entries, 0), "resource");
    assert_string_equal(json_string_value(json_object_get(res, "resourceType")),
                        "MedicationRequest");
    json_decref(b);
    /* An existing output is never overwritten. */
    assert_int_equal(run_captured(cli_cmd_export, argv, 10, out, sizeof out), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_errors),
        cmocka_unit_test(test_history_marks_locked_and_unavailable),
        cmocka_unit_test(test_export_bundle),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
