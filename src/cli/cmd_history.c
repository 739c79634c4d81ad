/* parcha history and parcha export: a patient's records as the holder of a
 * key may see them. The timeline (chain metadata) comes from the node; each
 * record's content is fetched with a signed request (RFC 9421), which the
 * custodian checks against the access rule and audits with an access.log
 * transaction. Here the content is checked against the hash on the chain,
 * the record key is unsealed with the reader's key and the FHIR content is
 * decrypted. Records the key may not read are shown as locked, and a
 * custodian that is down does not stop the rest. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/keys.h"
#include "parcha/encode.h"
#include "parcha/fhir.h"
#include "parcha/healthid.h"
#include "parcha/jcs.h"

static const char HELP_HISTORY[] =
    "usage: parcha history --patient HEALTH-ID --key KEYFILE [--pass-file F]\n"
    "                      [--limit N] [--node URL] [--json]\n"
    "\n"
    "Show a patient's timeline across all hospitals, newest first. Each record\n"
    "is fetched from the hospital that keeps it with a request signed by your\n"
    "key, checked against the hash on the chain and decrypted here. The key\n"
    "may be the patient's own, a staff key of the custodian hospital, one\n"
    "covered by the patient's consent, or a doctor's with an open emergency\n"
    "window. Every read is recorded (see parcha access-log). Records you may\n"
    "not read show \"locked: <reason>\"; a hospital that is down shows\n"
    "\"unavailable: <hospital>\" and the rest still print.\n"
    "\n"
    "options:\n"
    "  --patient HEALTH-ID  the patient\n"
    "  --key KEYFILE        your key file (patient or staff)\n"
    "  --pass-file F        its passphrase (asked otherwise)\n"
    "  --limit N            only the newest N records\n"
    "\n"
    "example:\n"
    "  parcha history --patient 7KQ2-M4XD-9P3A-H --key aarav.key\n";

static const char HELP_EXPORT[] =
    "usage: parcha export --patient HEALTH-ID --key KEYFILE [--pass-file F]\n"
    "                     --out BUNDLE.json [--node URL] [--json]\n"
    "\n"
    "Write every record the key can read as one FHIR R4 Bundle of type\n"
    "\"collection\" (mode 0600), newest first. Each read is audited as in\n"
    "parcha history. Records the key may not read are listed on stderr.\n"
    "\n"
    "example:\n"
    "  parcha export --patient 7KQ2-M4XD-9P3A-H --key aarav.key --out aarav-records.json\n";

static const cli_optspec HISTORY_OPTS[] = {
    {"patient", true, false}, {"key", true, false}, {"pass-file", true, false},
    {"limit", true, false},   {NULL, false, false}};
static const cli_optspec EXPORT_OPTS[] = {
    {"patient", true, false}, {"key", true, false}, {"pass-file", true, false},
    {"out", true, false},     {NULL, false, false}};

/* What became of one record. */
typedef enum outcome { READ_OK = 1, READ_LOCKED, READ_UNAVAILABLE, READ_FAILED } outcome;

/* Fetch, check and decrypt one timeline entry `rec` as the holder of kp.
 * On READ_OK *res receives the FHIR resource and basis the reason access
 * was allowed; otherwise why (a sentence) is in err. */
static outcome read_record(cli_client *c, const json_t *rec, const uint8_t patient[32],
                           const pc_keypair *kp, json_t **res, char basis[24], pc_error *err)
{
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *hash_hex = json_string_value(json_object_get(rec, "hash"));
    uint8_t chain_hash[32], got[32], key[32], sealed[PC_SEALED_KEY_LEN];
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    pc_buf plain;
    json_t *ans = NULL;
    outcome o = READ_FAILED;
    *res = NULL;
    basis[0] = '\0';
    pc_buf_init(&plain);
    if (id == NULL || hash_hex == NULL || pc_hex_decode_exact(chain_hash, 32, hash_hex) != 0) {
        pc_error_set(err, PC_EIO, "the timeline entry has no record id or hash");
        return READ_FAILED;
    }
    char path[128];
    snprintf(path, sizeof path, "/v1/records/%s/content", id);
    int rc = cli_get_signed(c, path, kp, &ans, err);
    if (rc != PC_OK) {
        if (c->status == 403)
            return READ_LOCKED;
        if (c->status == 503 || c->status == 504)
            return READ_UNAVAILABLE;
        return READ_FAILED;
    }
    const char *b64 = json_string_value(json_object_get(ans, "blob"));
    const char *sk = json_string_value(json_object_get(ans, "sealed_key"));
    snprintf(basis, 24, "%s", cli_str(ans, "basis"));
    size_t b64len = b64 != NULL ? strlen(b64) : 0;
    if (b64 == NULL || sk == NULL || pc_b64_decode_exact(sealed, sizeof sealed, sk) != 0) {
        pc_error_set(err, PC_EIO, "the custodian's answer lacks the content or the sealed key");
        goto out;
    }
    size_t cap = b64len / 4 * 3 + 3;
    blob = malloc(cap);
    if (blob == NULL) {
        pc_error_set(err, PC_ENOMEM, "out of memory");
        goto out;
    }
    if (pc_b64_decode(blob, cap, &bloblen, b64, b64len) != 0) {
        pc_error_set(err, PC_EIO, "the content is not valid base64url");
        goto out;
    }
    pc_sha256(got, blob, bloblen);
    if (sodium_memcmp(got, chain_hash, 32) != 0) {
        pc_error_set(err, PC_ECRYPTO,
                     "the content does not match the hash on the chain (tampered or wrong record)");
        goto out;
    }
    if (pc_unseal_key(sealed, kp, key) != PC_OK) {
        pc_error_set(err, PC_ECRYPTO, "the record key was not sealed to this key");
        goto out;
    }
    rc = pc_record_decrypt(blob, bloblen, id, patient, key, &plain);
    sodium_memzero(key, sizeof key);
    if (rc != PC_OK) {
        pc_error_set(err, PC_ECRYPTO, "the content does not decrypt for this record and patient");
        goto out;
    }
    if (pc_json_parse((const char *)plain.data, plain.len, res, err) != PC_OK) {
        pc_error_set(err, PC_EIO, "the decrypted content is not JSON");
        goto out;
    }
    o = READ_OK;
out:
    json_decref(ans);
    free(blob);
    pc_buf_free(&plain);
    return o;
}

/* Everything both commands need before the first record. */
typedef struct session {
    cli_client client;
    pc_keypair kp;
    uint8_t patient[32];
    char hid[PC_HEALTHID_LEN + 1];
    json_t *timeline;
    const json_t *records;
} session;

static void session_close(session *s)
{
    pc_key_wipe(&s->kp);
    json_decref(s->timeline);
    cli_client_close(&s->client);
}

static int session_open(session *s, const cli_args *a, pc_error *err)
{
    const char *patient, *keyfile;
    memset(s, 0, sizeof *s);
    if (cli_client_init(&s->client, cli_arg(a, "node"), err) != PC_OK)
        return PC_EINVAL;
    int rc = cli_arg_required(a, "patient", &patient, err);
    if (rc == PC_OK)
        rc = cli_arg_required(a, "key", &keyfile, err);
    if (rc == PC_OK)
        rc = pc_healthid_parse(patient, s->hid, err);
    if (rc == PC_OK)
        rc = cli_key_load(keyfile, cli_arg(a, "pass-file"), &s->kp, err);
    if (rc == PC_OK)
        rc = cli_patient_key(&s->client, s->hid, s->patient, NULL, err);
    if (rc == PC_OK) {
        char path[80];
        snprintf(path, sizeof path, "/v1/patients/%s/timeline", s->hid);
        rc = cli_get(&s->client, path, &s->timeline, err);
    }
    if (rc == PC_OK) {
        s->records = json_is_array(s->timeline) ? s->timeline
                                                 : json_object_get(s->timeline, "records");
        if (!json_is_array(s->records))
            rc = pc_error_set(err, PC_EIO, "the node's timeline has no record list");
    }
    return rc;
}

int cli_cmd_history(int argc, char **argv)
{
    static const char NAME[] = "history";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP_HISTORY, HISTORY_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    int64_t limit = 0;
    if (cli_arg(&a, "limit") != NULL &&
        cli_parse_int(cli_arg(&a, "limit"), "--limit", 1, 1000000, &limit, &err) != PC_OK)
        return cli_usage(NAME, &err);
    session s;
    if (session_open(&s, &a, &err) != PC_OK) {
        session_close(&s);
        return cli_fail(NAME, &err);
    }
    bool as_json = cli_flag(&a, "json"), tty = cli_stdout_tty() && !as_json;
    json_t *out = as_json ? json_array() : NULL;
    size_t n = json_array_size(s.records), shown = 0, locked = 0, unavailable = 0, failed = 0;
    if (!as_json)
        printf("history of %s: %zu record%s\n", s.hid, n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n && (limit == 0 || shown < (size_t)limit); i++, shown++) {
        const json_t *rec = json_array_get(s.records, i);
        json_t *res = NULL;
        char basis[24], summary[512] = "";
        pc_error_clear(&err);
        outcome o = read_record(&s.client, rec, s.patient, &s.kp, &res, basis, &err);
        if (o == READ_OK)
            pc_fhir_summary(res, summary, sizeof summary);
        const char *custodian = cli_str(rec, "custodian");
        if (as_json) {
            static const char *const names[] = {"", "ok", "locked", "unavailable", "error"};
            json_t *e = json_pack("{s:O,s:s}", "record", rec, "status", names[o]);
            if (o == READ_OK) {
                json_object_set_new(e, "basis", json_string(basis));
                json_object_set_new(e, "summary", json_string(summary));
                json_object_set(e, "resource", res);
            } else {
                json_object_set_new(e, "reason", json_string(err.msg));
            }
            json_array_append_new(out, e);
        } else {
            printf("%s  %-20s %-18s ", cli_str(rec, "date"), cli_str(rec, "hi_type"), custodian);
            if (o == READ_OK)
                printf("%s%s\n", summary, strcmp(basis, "emergency") == 0 ? "  [emergency access]" : "");
            else if (o == READ_LOCKED)
                printf("%slocked: %s%s\n", tty ? "\033[2m" : "", err.msg, tty ? "\033[0m" : "");
            else if (o == READ_UNAVAILABLE)
                printf("unavailable: %s\n", custodian);
            else
                printf("error: %s\n", err.msg);
        }
        locked += o == READ_LOCKED;
        unavailable += o == READ_UNAVAILABLE;
        failed += o == READ_FAILED;
        json_decref(res);
    }
    if (as_json) {
        json_t *j = json_pack("{s:s,s:o}", "patient", s.hid, "records", out);
        cli_print_json(j);
        json_decref(j);
    } else if (locked + unavailable + failed > 0) {
        printf("(%zu locked, %zu unavailable, %zu failed)\n", locked, unavailable, failed);
    }
    session_close(&s);
    return failed > 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cli_cmd_export(int argc, char **argv)
{
    static const char NAME[] = "export";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP_EXPORT, EXPORT_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *out_path;
    if (cli_arg_required(&a, "out", &out_path, &err) != PC_OK)
        return cli_usage(NAME, &err);
    if (cli_path_exists(out_path)) {
        pc_error_set(&err, PC_EEXIST, "%s already exists; refusing to overwrite it", out_path);
        return cli_fail(NAME, &err);
    }
    session s;
    if (session_open(&s, &a, &err) != PC_OK) {
        session_close(&s);
        return cli_fail(NAME, &err);
    }
    json_t *entries = json_array();
    size_t n = json_array_size(s.records), exported = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *rec = json_array_get(s.records, i);
        json_t *res = NULL;
        char basis[24];
        outcome o = read_record(&s.client, rec, s.patient, &s.kp, &res, basis, &err);
        if (o != READ_OK) {
            fprintf(stderr, "parcha export: skipped record %s (%s): %s\n", cli_str(rec, "id"),
                    o == READ_LOCKED ? "locked" : o == READ_UNAVAILABLE ? "unavailable" : "error",
                    o == READ_UNAVAILABLE ? cli_str(rec, "custodian") : err.msg);
            skipped++;
            continue;
        }
        char url[128];
        snprintf(url, sizeof url, "urn:parcha:record:%s", cli_str(rec, "id"));
        json_array_append_new(entries, json_pack("{s:s,s:o}", "fullUrl", url, "resource", res));
        exported++;
    }
    time_t now = (time_t)(pc_now_ms() / 1000);
    struct tm tm;
    char stamp[32] = "1970-01-01T00:00:00Z";
    if (gmtime_r(&now, &tm) != NULL)
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *bundle = json_pack("{s:s,s:s,s:s,s:I,s:o}", "resourceType", "Bundle", "type",
                               "collection", "timestamp", stamp, "total", (json_int_t)exported,
                               "entry", entries);
    char *text = bundle != NULL ? json_dumps(bundle, JSON_INDENT(2) | JSON_REAL_PRECISION(10))
                                : NULL;
    json_decref(bundle);
    if (text == NULL) {
        session_close(&s);
        pc_error_set(&err, PC_ENOMEM, "out of memory writing the bundle");
        return cli_fail(NAME, &err);
    }
    rc = pc_file_write(out_path, text, strlen(text), 0600, &err);
    sodium_memzero(text, strlen(text));
    free(text);
    if (rc == PC_OK) {
        if (cli_flag(&a, "json")) {
            json_t *j = json_pack("{s:s,s:s,s:I,s:I}", "patient", s.hid, "out", out_path,
                                  "exported", (json_int_t)exported, "skipped",
                                  (json_int_t)skipped);
            cli_print_json(j);
            json_decref(j);
        } else {
            printf("exported %zu record%s of %s to %s (FHIR R4 Bundle, type collection)%s\n",
                   exported, exported == 1 ? "" : "s", s.hid, out_path,
                   skipped ? "; some were skipped, see above" : "");
        }
    }
    session_close(&s);
    return rc == PC_OK ? CLI_EXIT_OK : cli_fail(NAME, &err);
}
