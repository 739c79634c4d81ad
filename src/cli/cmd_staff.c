/* parcha staff enroll|revoke: a hospital adds or removes a doctor, nurse,
 * clerk or admin. The staff.enroll transaction is signed with the hospital's
 * key (from the node's data folder or a key file) and submitted to a node. */
#include <string.h>
#include "cli/build.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/keys.h"
#include "parcha/encode.h"

static const char HELP_ENROLL[] =
    "usage: parcha staff enroll --hospital ID --name NAME --role ROLE --regno R\n"
    "                           --out KEYFILE [--pass-file F]\n"
    "                           (--data DIR | --hospital-key FILE [--hospital-pass-file F])\n"
    "                           [--node URL] [--json]\n"
    "\n"
    "Make a key file for a new staff member and enrol them: a staff.enroll\n"
    "transaction signed by the hospital's key is committed through the node.\n"
    "The staff member's passphrase is asked twice (or read from --pass-file).\n"
    "If the ledger refuses the enrolment, the new key file is removed.\n"
    "\n"
    "options:\n"
    "  --hospital ID           the hospital enrolling them, e.g. city-general\n"
    "  --name NAME             full name as it should appear, e.g. \"Dr. Anjali Mehta\"\n"
    "  --role ROLE             doctor, nurse, clerk or admin\n"
    "  --regno R               registration number (medical/nursing council or staff id)\n"
    "  --out KEYFILE           where to write the new staff key file\n"
    "  --pass-file F           the new key's passphrase, first line of F\n"
    "  --data DIR              the node's data folder holding DIR/keys/ID.key and .pass\n"
    "  --hospital-key FILE     the hospital key file instead of --data\n"
    "  --hospital-pass-file F  its passphrase (asked otherwise)\n"
    "\n"
    "example:\n"
    "  parcha staff enroll --data ./net --hospital city-general --name \"Dr. Anjali Mehta\" \\\n"
    "      --role doctor --regno MMC-2009-04512 --out mehta.key\n";

static const char HELP_REVOKE[] =
    "usage: parcha staff revoke --hospital ID --staff PUBKEY|KEYFILE --reason TEXT\n"
    "                           (--data DIR | --hospital-key FILE [--hospital-pass-file F])\n"
    "                           [--node URL] [--json]\n"
    "\n"
    "Revoke a staff member: from the committing block on, their key signs\n"
    "nothing and reads nothing on behalf of the hospital.\n"
    "\n"
    "example:\n"
    "  parcha staff revoke --data ./net --hospital city-general --staff mehta.key \\\n"
    "      --reason \"left the hospital\"\n";

static const char HELP[] =
    "usage: parcha staff enroll ...   enrol a doctor, nurse, clerk or admin\n"
    "       parcha staff revoke ...   revoke a staff member\n"
    "(parcha staff enroll --help for details)\n";

static const cli_optspec ENROLL_OPTS[] = {
    {"hospital", true, false}, {"name", true, false},      {"role", true, false},
    {"regno", true, false},    {"out", true, false},       {"pass-file", true, false},
    {"data", true, false},     {"hospital-key", true, false},
    {"hospital-pass-file", true, false}, {"kdf", true, false}, {NULL, false, false}};

static const cli_optspec REVOKE_OPTS[] = {
    {"hospital", true, false}, {"staff", true, false}, {"reason", true, false},
    {"data", true, false},     {"hospital-key", true, false},
    {"hospital-pass-file", true, false}, {NULL, false, false}};

/* The hospital key from --data DIR or --hospital-key FILE. */
static int hospital_key(const cli_args *a, const char *hospital, pc_keypair *kp,
                        pc_error *err)
{
    const char *dir = cli_arg(a, "data"), *file = cli_arg(a, "hospital-key");
    if ((dir == NULL) == (file == NULL))
        return pc_error_set(err, PC_EINVAL,
                            "give either --data DIR or --hospital-key FILE to sign as the hospital");
    int rc = dir != NULL ? cli_data_hospital_key(dir, hospital, kp, err)
                         : cli_key_load(file, cli_arg(a, "hospital-pass-file"), kp, err);
    if (rc != PC_OK)
        return rc;
    return PC_OK;
}

static int staff_enroll(int argc, char **argv)
{
    static const char NAME[] = "staff enroll";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP_ENROLL, ENROLL_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *hospital, *name, *role, *regno, *out;
    if (cli_arg_required(&a, "hospital", &hospital, &err) != PC_OK ||
        cli_arg_required(&a, "name", &name, &err) != PC_OK ||
        cli_arg_required(&a, "role", &role, &err) != PC_OK ||
        cli_arg_required(&a, "regno", &regno, &err) != PC_OK ||
        cli_arg_required(&a, "out", &out, &err) != PC_OK)
        return cli_usage(NAME, &err);
    if (strcmp(role, "doctor") != 0 && strcmp(role, "nurse") != 0 &&
        strcmp(role, "clerk") != 0 && strcmp(role, "admin") != 0) {
        pc_error_set(&err, PC_EINVAL, "--role must be doctor, nurse, clerk or admin");
        return cli_usage(NAME, &err);
    }
    if (!cli_valid_hospital_id(hospital)) {
        pc_error_set(&err, PC_EINVAL, "bad hospital id '%s': use 2 to 32 of a-z, 0-9 and '-'",
                     hospital);
        return cli_usage(NAME, &err);
    }
    if (strlen(name) > 128 || strlen(regno) > 64) {
        pc_error_set(&err, PC_EINVAL, "--name is at most 128 and --regno at most 64 characters");
        return cli_usage(NAME, &err);
    }
    pc_kdf_cost cost = PC_KDF_INTERACTIVE;
    if (cli_arg(&a, "kdf") != NULL && strcmp(cli_arg(&a, "kdf"), "fast") == 0)
        cost = PC_KDF_FAST;
    if (cli_path_exists(out)) {
        pc_error_set(&err, PC_EEXIST, "%s already exists; refusing to overwrite a key", out);
        return cli_fail(NAME, &err);
    }

    cli_client c;
    pc_keypair hkp, skp;
    char net[PC_NET_MAX + 1];
    char *pass = NULL;
    size_t passlen = 0;
    pc_tx tx;
    json_t *reply = NULL;
    memset(&tx, 0, sizeof tx);
    memset(&hkp, 0, sizeof hkp);
    memset(&skp, 0, sizeof skp);
    if (cli_client_init(&c, cli_arg(&a, "node"), &err) != PC_OK)
        return cli_fail(NAME, &err);
    int exit_code = CLI_EXIT_FAIL;
    if (hospital_key(&a, hospital, &hkp, &err) != PC_OK)
        goto out;
    if (cli_network(&c, net, &err) != PC_OK)
        goto out;
    if (cli_pass_new(cli_arg(&a, "pass-file"), out, &pass, &passlen, &err) != PC_OK)
        goto out;
    if (pc_key_generate(&skp) != PC_OK) {
        pc_error_set(&err, PC_ECRYPTO, "could not generate a key pair");
        goto out;
    }
    if (pc_keyfile_write(out, &skp, name, pass, passlen, cost, &err) != PC_OK)
        goto out;
    rc = cli_build_staff_enroll(net, hospital, &hkp, skp.pk, name, role, regno, pc_now_ms(),
                                &tx, &err);
    if (rc == PC_OK)
        rc = cli_submit_tx(&c, &tx, &reply, &err);
    if (rc != PC_OK) {
        cli_discard_on_refusal(NAME, out, rc);
        goto out;
    }
    if (cli_flag(&a, "json")) {
        char pk[48];
        json_object_set_new(reply, "public", json_string(pc_b64_encode(pk, sizeof pk, skp.pk, 32)));
        json_object_set_new(reply, "key_file", json_string(out));
    } else {
        char pk[48];
        printf("enrolled %s as %s at %s; key file %s\npublic key: %s\n", name, role, hospital,
               out, pc_b64_encode(pk, sizeof pk, skp.pk, 32));
    }
    cli_print_committed("staff.enroll", reply, cli_flag(&a, "json"));
    exit_code = CLI_EXIT_OK;
out:
    pc_pass_free(pass, passlen);
    pc_key_wipe(&hkp);
    pc_key_wipe(&skp);
    pc_tx_free(&tx);
    json_decref(reply);
    cli_client_close(&c);
    return exit_code == CLI_EXIT_OK ? exit_code : cli_fail(NAME, &err);
}

static int staff_revoke(int argc, char **argv)
{
    static const char NAME[] = "staff revoke";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP_REVOKE, REVOKE_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *hospital, *staff, *reason;
    if (cli_arg_required(&a, "hospital", &hospital, &err) != PC_OK ||
        cli_arg_required(&a, "staff", &staff, &err) != PC_OK ||
        cli_arg_required(&a, "reason", &reason, &err) != PC_OK)
        return cli_usage(NAME, &err);
    uint8_t spk[32];
    if (cli_read_pubkey(staff, spk, &err) != PC_OK)
        return cli_usage(NAME, &err);
    cli_client c;
    pc_keypair hkp;
    char net[PC_NET_MAX + 1];
    pc_tx tx;
    json_t *reply = NULL;
    memset(&tx, 0, sizeof tx);
    memset(&hkp, 0, sizeof hkp);
    if (cli_client_init(&c, cli_arg(&a, "node"), &err) != PC_OK)
        return cli_fail(NAME, &err);
    rc = hospital_key(&a, hospital, &hkp, &err);
    if (rc == PC_OK)
        rc = cli_network(&c, net, &err);
    if (rc == PC_OK)
        rc = cli_build_staff_revoke(net, hospital, &hkp, spk, reason, pc_now_ms(), &tx, &err);
    if (rc == PC_OK)
        rc = cli_submit_tx(&c, &tx, &reply, &err);
    if (rc == PC_OK)
        cli_print_committed("staff.revoke", reply, cli_flag(&a, "json"));
    pc_key_wipe(&hkp);
    pc_tx_free(&tx);
    json_decref(reply);
    cli_client_close(&c);
    return rc == PC_OK ? CLI_EXIT_OK : cli_fail(NAME, &err);
}

int cli_cmd_staff(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "enroll") == 0)
        return staff_enroll(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "revoke") == 0)
        return staff_revoke(argc - 1, argv + 1);
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        fputs(HELP, stdout);
        return CLI_EXIT_OK;
    }
    fputs(HELP, stderr);
    return CLI_EXIT_USAGE;
}
