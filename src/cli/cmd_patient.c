/* parcha patient register: what the registration desk does for a new
 * patient. A key pair is made and written as the patient's key file, the
 * patient.register transaction is signed by the patient and the clerk and
 * committed, and the printable card (name, Health ID, QR code of the public
 * key) is written as SVG. */
#include <string.h>
#include "cli/build.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/keys.h"
#include "parcha/card.h"
#include "parcha/encode.h"
#include "parcha/healthid.h"

static const char HELP_REGISTER[] =
    "usage: parcha patient register --name NAME --hospital ID\n"
    "                               --clerk KEYFILE [--clerk-pass-file F]\n"
    "                               --out KEYFILE [--pass-file F] --card CARD.svg\n"
    "                               [--node URL] [--json]\n"
    "\n"
    "Register a new patient: make their key pair and key file (the patient's\n"
    "passphrase is asked twice, or read from --pass-file), commit\n"
    "patient.register signed by the patient and the clerk, print the Health ID\n"
    "and write the printable card. The name goes on the card and in the key\n"
    "file's label only, never on the chain. If the ledger refuses the\n"
    "registration, the key file is removed and no card is written.\n"
    "\n"
    "options:\n"
    "  --name NAME            the patient's name, as printed on the card\n"
    "  --hospital ID          the registering hospital (the clerk's)\n"
    "  --clerk KEYFILE        the clerk's (or an admin's) key file\n"
    "  --clerk-pass-file F    its passphrase (asked otherwise)\n"
    "  --out KEYFILE          where to write the patient's key file\n"
    "  --pass-file F          the patient's new passphrase, first line of F\n"
    "  --card CARD.svg        where to write the card (85.6 x 54 mm SVG)\n"
    "\n"
    "example:\n"
    "  parcha patient register --name \"Aarav Sharma\" --hospital city-general \\\n"
    "      --clerk patil.key --out aarav.key --card aarav.svg\n";

static const char HELP[] =
    "usage: parcha patient register ...   register a patient (key file, Health ID, card)\n"
    "(parcha patient register --help for details)\n";

static const cli_optspec REGISTER_OPTS[] = {
    {"name", true, false},  {"hospital", true, false},  {"clerk", true, false},
    {"clerk-pass-file", true, false}, {"out", true, false}, {"pass-file", true, false},
    {"card", true, false},  {"kdf", true, false},       {NULL, false, false}};

static int patient_register(int argc, char **argv)
{
    static const char NAME[] = "patient register";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP_REGISTER, REGISTER_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *name, *hospital, *clerk, *out, *card;
    if (cli_arg_required(&a, "name", &name, &err) != PC_OK ||
        cli_arg_required(&a, "hospital", &hospital, &err) != PC_OK ||
        cli_arg_required(&a, "clerk", &clerk, &err) != PC_OK ||
        cli_arg_required(&a, "out", &out, &err) != PC_OK ||
        cli_arg_required(&a, "card", &card, &err) != PC_OK)
        return cli_usage(NAME, &err);
    if (!cli_valid_hospital_id(hospital)) {
        pc_error_set(&err, PC_EINVAL, "bad hospital id '%s'", hospital);
        return cli_usage(NAME, &err);
    }
    if (strlen(name) > 128) {
        pc_error_set(&err, PC_EINVAL, "--name is at most 128 characters");
        return cli_usage(NAME, &err);
    }
    pc_kdf_cost cost = PC_KDF_INTERACTIVE;
    if (cli_arg(&a, "kdf") != NULL && strcmp(cli_arg(&a, "kdf"), "fast") == 0)
        cost = PC_KDF_FAST;
    if (cli_path_exists(out) || cli_path_exists(card)) {
        pc_error_set(&err, PC_EEXIST, "%s already exists; refusing to overwrite it",
                     cli_path_exists(out) ? out : card);
        return cli_fail(NAME, &err);
    }

    cli_client c;
    pc_keypair ckp, pkp;
    char net[PC_NET_MAX + 1], hname[128];
    uint8_t hkey[32];
    char *pass = NULL;
    size_t passlen = 0;
    pc_tx tx;
    pc_buf svg;
    json_t *reply = NULL;
    memset(&tx, 0, sizeof tx);
    memset(&ckp, 0, sizeof ckp);
    memset(&pkp, 0, sizeof pkp);
    pc_buf_init(&svg);
    if (cli_client_init(&c, cli_arg(&a, "node"), &err) != PC_OK)
        return cli_fail(NAME, &err);
    int exit_code = CLI_EXIT_FAIL;
    if (cli_key_load(clerk, cli_arg(&a, "clerk-pass-file"), &ckp, &err) != PC_OK ||
        cli_network(&c, net, &err) != PC_OK ||
        cli_hospital_lookup(&c, hospital, hkey, hname, sizeof hname, &err) != PC_OK)
        goto out;
    if (cli_pass_new(cli_arg(&a, "pass-file"), out, &pass, &passlen, &err) != PC_OK)
        goto out;
    if (pc_key_generate(&pkp) != PC_OK) {
        pc_error_set(&err, PC_ECRYPTO, "could not generate a key pair");
        goto out;
    }
    char hid[PC_HEALTHID_LEN + 1];
    pc_healthid_from_key(pkp.pk, hid);
    if (pc_card_svg(name, hid, pkp.pk, hname, &svg, &err) != PC_OK)
        goto out;
    if (pc_keyfile_write(out, &pkp, name, pass, passlen, cost, &err) != PC_OK)
        goto out;
    rc = cli_build_patient_register(net, &pkp, &ckp, hospital, pc_now_ms(), &tx, &err);
    if (rc == PC_OK)
        rc = cli_submit_tx(&c, &tx, &reply, &err);
    if (rc != PC_OK) {
        cli_discard_on_refusal(NAME, out, rc);
        goto out;
    }
    if (pc_file_write(card, svg.data, svg.len, 0644, &err) != PC_OK) {
        fprintf(stderr, "parcha %s: registered, but the card could not be written: %s\n", NAME,
                err.msg);
    }
    if (cli_flag(&a, "json")) {
        char pk[48];
        json_object_set_new(reply, "health_id", json_string(hid));
        json_object_set_new(reply, "public", json_string(pc_b64_encode(pk, sizeof pk, pkp.pk, 32)));
        json_object_set_new(reply, "key_file", json_string(out));
        json_object_set_new(reply, "card", json_string(card));
        cli_print_json(reply);
    } else {
        printf("registered %s at %s\nHealth ID: %s\nkey file:  %s\ncard:      %s\n", name,
               hname, hid, out, card);
        cli_print_committed("patient.register", reply, false);
    }
    exit_code = CLI_EXIT_OK;
out:
    pc_pass_free(pass, passlen);
    pc_key_wipe(&ckp);
    pc_key_wipe(&pkp);
    pc_tx_free(&tx);
    pc_buf_free(&svg);
    json_decref(reply);
    cli_client_close(&c);
    return exit_code == CLI_EXIT_OK ? exit_code : cli_fail(NAME, &err);
}

int cli_cmd_patient(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "register") == 0)
        return patient_register(argc - 1, argv + 1);
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        fputs(HELP, stdout);
        return CLI_EXIT_OK;
    }
    fputs(HELP, stderr);
    return CLI_EXIT_USAGE;
}
