/* parcha: the command-line client of the parcha patient-record ledger. This
 * file only dispatches to the commands in src/cli/cmd_*.c and demo.c. */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "parcha/crypto.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command COMMANDS[] = {
    {"keygen", cli_cmd_keygen, "make a key file (Ed25519 key, passphrase-encrypted)"},
    {"init", cli_cmd_init, "create a network's data folder: hospital keys, genesis, block 0"},
    {"staff", cli_cmd_staff, "enroll or revoke doctors, nurses, clerks and admins"},
    {"hospital", cli_cmd_hospital, "admit or suspend a hospital by majority vote"},
    {"patient", cli_cmd_patient, "register a patient: key file, Health ID and printable card"},
    {"record", cli_cmd_record, "add an encrypted FHIR record to a patient's history"},
    {"consent", cli_cmd_consent, "grant, revoke or list a patient's consents"},
    {"history", cli_cmd_history, "show a patient's timeline, decrypting what the key may read"},
    {"export", cli_cmd_export, "export every readable record as one FHIR R4 Bundle"},
    {"access-log", cli_cmd_access_log, "who read a patient's records, and on what basis"},
    {"audit", cli_cmd_consortium_audit, "compare every node's signed checkpoints (divergence alarm)"},
    {"emergency", cli_cmd_emergency, "open an emergency (break-glass) access window"},
    {"verify", cli_cmd_verify, "re-check every block of a ledger.db (offline)"},
    {"show", cli_cmd_show, "show a block or a transaction with its Merkle proof"},
    {"status", cli_cmd_status, "the node's network, height and health"},
    {"demo", cli_cmd_demo, "build a demo network with patients and records (offline)"},
    {"devnet", cli_cmd_devnet, "run a local multi-hospital network (etcd + one node each)"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fputs("parcha - decentralised patient records for the hospitals of one area\n"
          "\n"
          "usage: parcha COMMAND [options]     (parcha COMMAND --help for details)\n"
          "\n"
          "commands:\n",
          f);
    for (const command *c = COMMANDS; c->name != NULL; c++)
        fprintf(f, "  %-11s %s\n", c->name, c->summary);
    fputs("\n"
          "Commands that talk to a node use --node URL, else $PARCHA_NODE, else\n"
          "http://127.0.0.1:8080 (for an HTTPS node signed by the consortium's\n"
          "own CA, set $PARCHA_CACERT to the CA file). Commands that return data\n"
          "accept --json.\n"
          "\n"
          "Start here:  parcha demo --data ./demo && parchad --data ./demo\n",
          f);
}

int main(int argc, char **argv)
{
    if (pc_crypto_init() != 0) {
        fputs("parcha: libsodium could not initialise (no randomness source?)\n", stderr);
        return 1;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        puts("parcha 0.1.0");
        return 0;
    }
    for (const command *c = COMMANDS; c->name != NULL; c++) {
        if (strcmp(c->name, name) == 0)
            return c->run(argc - 2, argv + 2);
    }
    fprintf(stderr, "parcha: unknown command '%s' (see parcha --help)\n", name);
    return 2;
}
