/* parcha consent grant|revoke|list: the patient decides who may read what.
 * A grant names one hospital (all its staff) or one staff member, the HI
 * types it covers (or all), an optional range of clinical dates, an expiry
 * and an ABDM purpose; it is signed with the patient's key. */
#include <string.h>
#include "cli/build.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/keys.h"
#include "parcha/access.h"
#include "parcha/encode.h"
#include "parcha/healthid.h"

static const char HELP_GRANT[] =
    "usage: parcha consent grant --patient-key KEYFILE [--pass-file F]\n"
    "                            (--to-hospital ID | --to-staff PUBKEY|KEYFILE)\n"
    "                            --types LIST|all [--from DATE] [--to DATE]\n"
    "                            --expires 30d|DATE [--purpose CODE] [--node URL] [--json]\n"
    "\n"
    "Let a hospital (all its staff) or one staff member read some of your\n"
    "records. Signed with the patient's key; the printed txid revokes it.\n"
    "\n"
    "options:\n"
    "  --patient-key KEYFILE  the patient's key file\n"
    "  --pass-file F          its passphrase (asked otherwise)\n"
    "  --to-hospital ID       grant to every staff member of a hospital\n"
    "  --to-staff KEY         grant to one staff member (public key or key file)\n"
    "  --types LIST           comma-separated HI types, or all: OPConsultation,\n"
    "                         Prescription, DischargeSummary, DiagnosticReport,\n"
    "                         ImmunizationRecord, HealthDocumentRecord, WellnessRecord\n"
    "  --from DATE, --to DATE only records with clinical dates in this range\n"
    "  --expires WHEN         a duration (12h, 30d, 2w, 1y) or a last day YYYY-MM-DD\n"
    "  --purpose CODE         CAREMGT (default), BTG, PUBHLTH, HPAYMT, DSRCH, PATRQT\n"
    "\n"
    "example:\n"
    "  parcha consent grant --patient-key aarav.key --to-hospital sunrise-clinic \\\n"
    "      --types Prescription,DiagnosticReport --from 2023-01-01 --expires 30d\n";

static const char HELP_REVOKE[] =
    "usage: parcha consent revoke --patient-key KEYFILE [--pass-file F] --grant TXID\n"
    "                             [--node URL] [--json]\n"
    "\n"
    "Revoke one of your grants (its txid is shown by consent grant and\n"
    "consent list). Reads stop from the committing block on.\n"
    "\n"
    "example:\n"
    "  parcha consent revoke --patient-key aarav.key --grant 5be1...9a\n";

static const char HELP_LIST[] =
    "usage: parcha consent list --patient HEALTH-ID [--node URL] [--json]\n"
    "\n"
    "List a patient's grants: who, which types and dates, until when, and\n"
    "whether each is active, expired or revoked.\n"
    "\n"
    "example:\n"
    "  parcha consent list --patient 7KQ2-M4XD-9P3A-H\n";

static const char HELP[] =
    "usage: parcha consent grant ...    let a hospital or doctor read some records\n"
    "       parcha consent revoke ...   withdraw a grant\n"
    "       parcha consent list ...     a patient's grants\n"
    "(parcha consent grant --help for details)\n";

static const cli_optspec GRANT_OPTS[] = {
    {"patient-key", true, false}, {"pass-file", true, false}, {"to-hospital", true, false},
    {"to-staff", true, false},    {"types", true, false},     {"from", true, false},
    {"to", true, false},          {"expires", true, false},   {"purpose", true, false},
    {NULL, false, false}};
static const cli_optspec REVOKE_OPTS[] = {
    {"patient-key", true, false}, {"pass-file", true, false}, {"grant", true, false},
    {NULL, false, false}};
static const cli_optspec LIST_OPTS[] = {{"patient", true, false}, {NULL, false, false}};

static bool valid_purpose(const char *p)
{
    static const char *const codes[] = {"CAREMGT", "BTG", "PUBHLTH", "HPAYMT", "DSRCH",
                                        "PATRQT"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (strcmp(p, codes[i]) == 0)
            return true;
    }
    return false;
}

static int consent_grant(int argc, char **argv)
{
    static const char NAME[] = "consent grant";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP_GRANT, GRANT_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *keyfile, *types_s, *expires_s;
    if (cli_arg_required(&a, "patient-key", &keyfile, &err) != PC_OK ||
        cli_arg_required(&a, "types", &types_s, &err) != PC_OK ||
        cli_arg_required(&a, "expires", &expires_s, &err) != PC_OK)
        return cli_usage(NAME, &err);
    const char *to_h = cli_arg(&a, "to-hospital"), *to_s = cli_arg(&a, "to-staff");
    if ((to_h == NULL) == (to_s == NULL)) {
        pc_error_set(&err, PC_EINVAL, "give exactly one of --to-hospital ID and --to-staff KEY");
        return cli_usage(NAME, &err);
    }
    uint8_t staff_pk[32];
    if (to_h != NULL && !cli_valid_hospital_id(to_h)) {
        pc_error_set(&err, PC_EINVAL, "bad hospital id '%s'", to_h);
        return cli_usage(NAME, &err);
    }
    if (to_s != NULL && cli_read_pubkey(to_s, staff_pk, &err) != PC_OK)
        return cli_usage(NAME, &err);
    const char *from = cli_arg(&a, "from"), *to = cli_arg(&a, "to");
    int32_t dfrom = 0, dto = 0;
    if ((from != NULL && pc_date_parse(from, &dfrom) != PC_OK) ||
        (to != NULL && pc_date_parse(to, &dto) != PC_OK)) {
        pc_error_set(&err, PC_EINVAL, "--from and --to must be real dates YYYY-MM-DD");
        return cli_usage(NAME, &err);
    }
    if (from != NULL && to != NULL && dfrom > dto) {
        pc_error_set(&err, PC_EINVAL, "--from %s is after --to %s", from, to);
        return cli_usage(NAME, &err);
    }
    const char *purpose = cli_arg(&a, "purpose");
    if (purpose == NULL)
        purpose = "CAREMGT";
    if (!valid_purpose(purpose)) {
        pc_error_set(&err, PC_EINVAL,
                     "--purpose must be CAREMGT, BTG, PUBHLTH, HPAYMT, DSRCH or PATRQT");
        return cli_usage(NAME, &err);
    }
    int64_t now = pc_now_ms(), expires;
    if (cli_parse_expiry(expires_s, now, &expires, &err) != PC_OK)
        return cli_usage(NAME, &err);
    json_t *types = NULL;
    if (cli_parse_hi_types(types_s, &types, NULL, &err) != PC_OK)
        return cli_usage(NAME, &err);

    cli_client c;
    pc_keypair pkp;
    char net[PC_NET_MAX + 1];
    uint8_t hkey[32];
    pc_tx tx;
    json_t *reply = NULL;
    memset(&pkp, 0, sizeof pkp);
    memset(&tx, 0, sizeof tx);
    if (cli_client_init(&c, cli_arg(&a, "node"), &err) != PC_OK) {
        json_decref(types);
        return cli_fail(NAME, &err);
    }
    rc = cli_key_load(keyfile, cli_arg(&a, "pass-file"), &pkp, &err);
    if (rc == PC_OK)
        rc = cli_network(&c, net, &err);
    if (rc == PC_OK && to_h != NULL)
        rc = cli_hospital_lookup(&c, to_h, hkey, NULL, 0, &err);
    if (rc == PC_OK)
        rc = cli_build_consent_grant(net, &pkp, to_h, to_s != NULL ? staff_pk : NULL, types,
                                     from, to, expires, purpose, pc_now_ms(), &tx, &err);
    if (rc == PC_OK)
        rc = cli_submit_tx(&c, &tx, &reply, &err);
    if (rc == PC_OK) {
        if (!cli_flag(&a, "json")) {
            char until[24];
            cli_format_time(expires, until);
            printf("granted %s read access to %s until %s\n",
                   to_h != NULL ? to_h : "that staff member", types_s, until);
        }
        cli_print_committed("consent.grant", reply, cli_flag(&a, "json"));
    }
    pc_key_wipe(&pkp);
    pc_tx_free(&tx);
    json_decref(types);
    json_decref(reply);
    cli_client_close(&c);
    return rc == PC_OK ? CLI_EXIT_OK : cli_fail(NAME, &err);
}

static int consent_revoke(int argc, char **argv)
{
    static const char NAME[] = "consent revoke";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP_REVOKE, REVOKE_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *keyfile, *grant_s;
    if (cli_arg_required(&a, "patient-key", &keyfile, &err) != PC_OK ||
        cli_arg_required(&a, "grant", &grant_s, &err) != PC_OK)
        return cli_usage(NAME, &err);
    uint8_t gid[32];
    if (strlen(grant_s) != 64 || pc_hex_decode_exact(gid, 32, grant_s) != 0) {
        pc_error_set(&err, PC_EINVAL, "--grant must be the grant's txid (64 hex characters)");
        return cli_usage(NAME, &err);
    }
    cli_client c;
    pc_keypair pkp;
    char net[PC_NET_MAX + 1];
    pc_tx tx;
    json_t *reply = NULL;
    memset(&pkp, 0, sizeof pkp);
    memset(&tx, 0, sizeof tx);
    if (cli_client_init(&c, cli_arg(&a, "node"), &err) != PC_OK)
        return cli_fail(NAME, &err);
    rc = cli_key_load(keyfile, cli_arg(&a, "pass-file"), &pkp, &err);
    if (rc == PC_OK)
        rc = cli_network(&c, net, &err);
    if (rc == PC_OK)
        rc = cli_build_consent_revoke(net, &pkp, gid, pc_now_ms(), &tx, &err);
    if (rc == PC_OK)
        rc = cli_submit_tx(&c, &tx, &reply, &err);
    if (rc == PC_OK)
        cli_print_committed("consent.revoke", reply, cli_flag(&a, "json"));
    pc_key_wipe(&pkp);
    pc_tx_free(&tx);
    json_decref(reply);
    cli_client_close(&c);
    return rc == PC_OK ? CLI_EXIT_OK : cli_fail(NAME, &err);
}

/* "hospital sunrise-clinic" or "staff Dr. X (key...)" for a grantee. */
static void grantee_words(const json_t *g, char *out, size_t outlen)
{
    const char *h = json_string_value(json_object_get(g, "hospital"));
    const char *s = json_string_value(json_object_get(g, "staff"));
    const char *name = json_string_value(json_object_get(g, "name"));
    if (s != NULL && name != NULL)
        snprintf(out, outlen, "%s (%s)", name, h != NULL ? h : "staff");
    else if (s != NULL)
        snprintf(out, outlen, "staff key %.10s...", s);
    else
        snprintf(out, outlen, "hospital %s", h != NULL ? h : "?");
}

static int consent_list(int argc, char **argv)
{
    static const char NAME[] = "consent list";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP_LIST, LIST_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *patient;
    if (cli_arg_required(&a, "patient", &patient, &err) != PC_OK)
        return cli_usage(NAME, &err);
    char hid[PC_HEALTHID_LEN + 1];
    if (pc_healthid_parse(patient, hid, &err) != PC_OK)
        return cli_usage(NAME, &err);
    cli_client c;
    if (cli_client_init(&c, cli_arg(&a, "node"), &err) != PC_OK)
        return cli_fail(NAME, &err);
    char path[64];
    json_t *list = NULL;
    snprintf(path, sizeof path, "/v1/patients/%s/consents", hid);
    rc = cli_get(&c, path, &list, &err);
    cli_client_close(&c);
    if (rc != PC_OK)
        return cli_fail(NAME, &err);
    if (cli_flag(&a, "json")) {
        cli_print_json(list);
        json_decref(list);
        return CLI_EXIT_OK;
    }
    const json_t *arr = json_is_array(list) ? list : json_object_get(list, "consents");
    printf("consents of %s: %zu\n", hid, json_array_size(arr));
    size_t i;
    const json_t *g;
    int64_t now = pc_now_ms();
    json_array_foreach(arr, i, g) {
        char who[96], until[24], types[160] = "";
        grantee_words(json_object_get(g, "grantee"), who, sizeof who);
        int64_t exp = json_integer_value(json_object_get(g, "expires"));
        cli_format_time(exp, until);
        size_t k;
        const json_t *t;
        json_array_foreach(json_object_get(g, "hi_types"), k, t) {
            size_t n = strlen(types);
            const char *ts = json_string_value(t);
            snprintf(types + n, sizeof types - n, "%s%s", k ? "," : "",
                     ts != NULL && strcmp(ts, "*") == 0 ? "all" : (ts != NULL ? ts : "?"));
        }
        const char *state = json_is_true(json_object_get(g, "revoked")) ? "revoked"
                            : exp <= now                                 ? "expired"
                                                                         : "active";
        const json_t *from = json_object_get(g, "from"), *to = json_object_get(g, "to");
        printf("  %-8s %s\n", state, cli_str(g, "txid"));
        printf("           to %s; types %s; records %s to %s; until %s; purpose %s\n", who,
               types, json_is_string(from) ? json_string_value(from) : "any",
               json_is_string(to) ? json_string_value(to) : "any", until, cli_str(g, "purpose"));
    }
    json_decref(list);
    return CLI_EXIT_OK;
}

int cli_cmd_consent(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "grant") == 0)
        return consent_grant(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "revoke") == 0)
        return consent_revoke(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "list") == 0)
        return consent_list(argc - 1, argv + 1);
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        fputs(HELP, stdout);
        return CLI_EXIT_OK;
    }
    fputs(HELP, stderr);
    return CLI_EXIT_USAGE;
}
