/* parcha hospital admit|suspend: consortium governance. A hospital joins
 * when it and more than half of the active hospitals sign hospital.admit;
 * it is suspended when more than half sign hospital.suspend. The member
 * signatures come from hospital key files (repeated --key, each paired with
 * the --pass-file at the same position) or from every hospital key a node's
 * data folder holds (--data). */
#include <string.h>
#include "cli/build.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/keys.h"
#include "parcha/tx.h"

static const char HELP_ADMIT[] =
    "usage: parcha hospital admit --id ID --name NAME --endpoint URL\n"
    "                             --new-key FILE [--new-pass-file F]\n"
    "                             (--key FILE [--pass-file F] ... | --data DIR)\n"
    "                             [--node URL] [--json]\n"
    "\n"
    "Admit a new hospital. hospital.admit is signed by the new hospital's key\n"
    "(make it first with parcha keygen) and by more than half of the active\n"
    "member hospitals. Each --key is paired with the --pass-file given at the\n"
    "same position; keys without one are asked for. --data DIR signs with\n"
    "every hospital key in DIR/keys (a single-machine consortium).\n"
    "\n"
    "example:\n"
    "  parcha keygen --out lakeview.key --label \"hospital lakeview\"\n"
    "  parcha hospital admit --id lakeview --name \"Lakeview Hospital\" \\\n"
    "      --endpoint http://10.0.0.7:8080 --new-key lakeview.key --data ./net\n";

static const char HELP_SUSPEND[] =
    "usage: parcha hospital suspend --id ID --reason TEXT\n"
    "                               (--key FILE [--pass-file F] ... | --data DIR)\n"
    "                               [--node URL] [--json]\n"
    "\n"
    "Suspend a member hospital by majority vote: its staff stop signing and\n"
    "reading from the committing block on.\n"
    "\n"
    "example:\n"
    "  parcha hospital suspend --id lakeview --reason \"licence withdrawn\" \\\n"
    "      --key city.key --pass-file city.pass --key sunrise.key --pass-file sunrise.pass\n";

static const char HELP[] =
    "usage: parcha hospital admit ...     admit a hospital by majority vote\n"
    "       parcha hospital suspend ...   suspend a hospital by majority vote\n"
    "(parcha hospital admit --help for details)\n";

static const cli_optspec ADMIT_OPTS[] = {
    {"id", true, false},   {"name", true, false},     {"endpoint", true, false},
    {"new-key", true, false}, {"new-pass-file", true, false},
    {"key", true, true},   {"pass-file", true, true}, {"data", true, false},
    {NULL, false, false}};

static const cli_optspec SUSPEND_OPTS[] = {
    {"id", true, false},  {"reason", true, false},   {"key", true, true},
    {"pass-file", true, true}, {"data", true, false}, {NULL, false, false}};

/* The member signers: opened keys in kps[0..*n). */
static int load_signers(const cli_args *a, pc_keypair *kps, size_t max, size_t *n,
                        pc_error *err)
{
    const char *keys[PC_TX_MAX_SIGS + 1], *passes[PC_TX_MAX_SIGS + 1];
    size_t nk = cli_arg_all(a, "key", keys, PC_TX_MAX_SIGS + 1);
    size_t np = cli_arg_all(a, "pass-file", passes, PC_TX_MAX_SIGS + 1);
    const char *dir = cli_arg(a, "data");
    *n = 0;
    if ((nk > 0) == (dir != NULL))
        return pc_error_set(err, PC_EINVAL, "give the members' keys with --key FILE ... or --data DIR");
    if (nk > max || np > nk)
        return pc_error_set(err, PC_EINVAL,
                            "at most %zu --key options, and no more --pass-file than --key", max);
    if (dir != NULL) {
        char path[1100];
        json_t *cfg = NULL;
        if (!cli_pathf(path, sizeof path, "%s/node.json", dir))
            return pc_error_set(err, PC_EINVAL, "folder path is too long");
        int rc = cli_read_json_file(path, 1 << 20, &cfg, err);
        if (rc != PC_OK)
            return rc;
        size_t i;
        const json_t *h;
        json_array_foreach(json_object_get(cfg, "hosted"), i, h) {
            if (*n >= max) {
                rc = pc_error_set(err, PC_EINVAL, "too many hosted hospitals to sign");
                break;
            }
            const char *id = json_string_value(h);
            rc = id != NULL ? cli_data_hospital_key(dir, id, &kps[*n], err)
                            : pc_error_set(err, PC_EINVAL, "%s lists a bad hosted id", path);
            if (rc != PC_OK)
                break;
            (*n)++;
        }
        json_decref(cfg);
        return rc;
    }
    for (size_t i = 0; i < nk; i++) {
        int rc = cli_key_load(keys[i], i < np ? passes[i] : NULL, &kps[*n], err);
        if (rc != PC_OK)
            return rc;
        (*n)++;
    }
    return PC_OK;
}

static int admit(int argc, char **argv)
{
    static const char NAME[] = "hospital admit";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP_ADMIT, ADMIT_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *id, *name, *endpoint, *newkey;
    if (cli_arg_required(&a, "id", &id, &err) != PC_OK ||
        cli_arg_required(&a, "name", &name, &err) != PC_OK ||
        cli_arg_required(&a, "endpoint", &endpoint, &err) != PC_OK ||
        cli_arg_required(&a, "new-key", &newkey, &err) != PC_OK)
        return cli_usage(NAME, &err);
    char spec_text[700];
    cli_hospital_spec spec;
    snprintf(spec_text, sizeof spec_text, "%s:%s:%s", id, name, endpoint);
    if (cli_parse_hospital_spec(spec_text, &spec, &err) != PC_OK)
        return cli_usage(NAME, &err);

    pc_keypair kps[PC_TX_MAX_SIGS];
    const pc_keypair *signers[PC_TX_MAX_SIGS];
    size_t n = 0;
    pc_tx tx;
    json_t *reply = NULL;
    char net[PC_NET_MAX + 1];
    cli_client c;
    memset(kps, 0, sizeof kps);
    memset(&tx, 0, sizeof tx);
    if (cli_client_init(&c, cli_arg(&a, "node"), &err) != PC_OK)
        return cli_fail(NAME, &err);
    rc = cli_key_load(newkey, cli_arg(&a, "new-pass-file"), &kps[0], &err);
    if (rc == PC_OK) {
        size_t m = 0;
        rc = load_signers(&a, kps + 1, PC_TX_MAX_SIGS - 1, &m, &err);
        n = 1 + m;
    }
    if (rc == PC_OK)
        rc = cli_network(&c, net, &err);
    if (rc == PC_OK) {
        for (size_t i = 0; i < n; i++)
            signers[i] = &kps[i];
        cli_hospital h = {spec.id, spec.name, spec.endpoint, kps[0].pk};
        rc = cli_build_hospital_admit(net, &h, signers, n, pc_now_ms(), &tx, &err);
    }
    if (rc == PC_OK)
        rc = cli_submit_tx(&c, &tx, &reply, &err);
    if (rc == PC_OK)
        cli_print_committed("hospital.admit", reply, cli_flag(&a, "json"));
    for (size_t i = 0; i < PC_TX_MAX_SIGS; i++)
        pc_key_wipe(&kps[i]);
    pc_tx_free(&tx);
    json_decref(reply);
    cli_client_close(&c);
    return rc == PC_OK ? CLI_EXIT_OK : cli_fail(NAME, &err);
}

static int suspend(int argc, char **argv)
{
    static const char NAME[] = "hospital suspend";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP_SUSPEND, SUSPEND_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *id, *reason;
    if (cli_arg_required(&a, "id", &id, &err) != PC_OK ||
        cli_arg_required(&a, "reason", &reason, &err) != PC_OK)
        return cli_usage(NAME, &err);
    if (!cli_valid_hospital_id(id)) {
        pc_error_set(&err, PC_EINVAL, "bad hospital id '%s'", id);
        return cli_usage(NAME, &err);
    }
    pc_keypair kps[PC_TX_MAX_SIGS];
    const pc_keypair *signers[PC_TX_MAX_SIGS];
    size_t n = 0;
    pc_tx tx;
    json_t *reply = NULL;
    char net[PC_NET_MAX + 1];
    cli_client c;
    memset(kps, 0, sizeof kps);
    memset(&tx, 0, sizeof tx);
    if (cli_client_init(&c, cli_arg(&a, "node"), &err) != PC_OK)
        return cli_fail(NAME, &err);
    rc = load_signers(&a, kps, PC_TX_MAX_SIGS, &n, &err);
    if (rc == PC_OK)
        rc = cli_network(&c, net, &err);
    if (rc == PC_OK) {
        for (size_t i = 0; i < n; i++)
            signers[i] = &kps[i];
        rc = cli_build_hospital_suspend(net, id, reason, signers, n, pc_now_ms(), &tx, &err);
    }
    if (rc == PC_OK)
        rc = cli_submit_tx(&c, &tx, &reply, &err);
    if (rc == PC_OK)
        cli_print_committed("hospital.suspend", reply, cli_flag(&a, "json"));
    for (size_t i = 0; i < PC_TX_MAX_SIGS; i++)
        pc_key_wipe(&kps[i]);
    pc_tx_free(&tx);
    json_decref(reply);
    cli_client_close(&c);
    return rc == PC_OK ? CLI_EXIT_OK : cli_fail(NAME, &err);
}

int cli_cmd_hospital(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "admit") == 0)
        return admit(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "suspend") == 0)
        return suspend(argc - 1, argv + 1);
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        fputs(HELP, stdout);
        return CLI_EXIT_OK;
    }
    fputs(HELP, stderr);
    return CLI_EXIT_USAGE;
}
