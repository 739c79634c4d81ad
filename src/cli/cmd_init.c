/* parcha init: create a single-machine consortium's data folder (hospital
 * keys, the genesis proposal signed by every founder, node.json, block 0).
 * The work is cli_offline_create (offline.c), which the demo shares. */
#include <string.h>
#include "cli/cli.h"
#include "cli/offline.h"

static const char HELP[] =
    "usage: parcha init --data DIR --network NAME (--hospitals N | --hospital ID:NAME:URL ...)\n"
    "                   [--listen HOST:PORT] [--json]\n"
    "\n"
    "Create a new network in DIR for one node that hosts every founding\n"
    "hospital (solo orderer). Writes:\n"
    "  DIR/keys/<id>.key, <id>.pass   each hospital's key and its passphrase (0600)\n"
    "  DIR/genesis.bin                the genesis proposal, signed by every founder\n"
    "  DIR/node.json                  node settings (start with: parchad --data DIR)\n"
    "  DIR/ledger.db                  the ledger with block 0 applied\n"
    "Policy: emergency windows up to 24 hours; transaction clocks within 5 minutes.\n"
    "A folder that already holds a network is refused.\n"
    "\n"
    "options:\n"
    "  --data DIR                 the data folder (created if missing)\n"
    "  --network NAME             network id, e.g. pune-east (a-z, 0-9, '-', '.')\n"
    "  --hospitals N              N founders named hospital-1 .. hospital-N\n"
    "  --hospital ID:NAME:URL     a founder (repeat for each); URL is its node\n"
    "  --listen HOST:PORT         where parchad listens (default 127.0.0.1:8080)\n"
    "\n"
    "examples:\n"
    "  parcha init --data ./net --network pune-east --hospitals 3\n"
    "  parcha init --data ./net --network pune-east \\\n"
    "      --hospital \"city-general:City General Hospital:http://127.0.0.1:8080\" \\\n"
    "      --hospital \"sunrise-clinic:Sunrise Clinic:http://127.0.0.1:8080\"\n";

static const cli_optspec OPTS[] = {
    {"data", true, false},      {"network", true, false}, {"hospitals", true, false},
    {"hospital", true, true},   {"listen", true, false},  {"kdf", true, false},
    {"split", true, false},     {NULL, false, false}};

int cli_cmd_init(int argc, char **argv)
{
    static const char NAME[] = "init";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP, OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *dir, *net;
    if (cli_arg_required(&a, "data", &dir, &err) != PC_OK ||
        cli_arg_required(&a, "network", &net, &err) != PC_OK)
        return cli_usage(NAME, &err);
    if (!cli_valid_network(net)) {
        pc_error_set(&err, PC_EINVAL,
                     "bad network name '%s': use 2 to 64 of a-z, 0-9, '-' and '.'", net);
        return cli_usage(NAME, &err);
    }
    if (cli_arg(&a, "split") != NULL) {
        pc_error_set(&err, PC_EINVAL, "--split (one folder per hospital) is not available yet");
        return cli_usage(NAME, &err);
    }
    const char *listen = cli_arg(&a, "listen");
    if (listen == NULL)
        listen = "127.0.0.1:8080";
    if (strchr(listen, ':') == NULL || strlen(listen) > 200) {
        pc_error_set(&err, PC_EINVAL, "--listen must be HOST:PORT, e.g. 127.0.0.1:8080");
        return cli_usage(NAME, &err);
    }
    pc_kdf_cost cost = PC_KDF_INTERACTIVE;
    const char *kdf = cli_arg(&a, "kdf");
    if (kdf != NULL && strcmp(kdf, "fast") == 0)
        cost = PC_KDF_FAST;

    cli_hospital_spec specs[CLI_MAX_FOUNDERS];
    size_t n = 0;
    const char *given[CLI_MAX_FOUNDERS + 1];
    size_t ngiven = cli_arg_all(&a, "hospital", given, CLI_MAX_FOUNDERS + 1);
    const char *count = cli_arg(&a, "hospitals");
    if ((ngiven > 0) == (count != NULL)) {
        pc_error_set(&err, PC_EINVAL, "give either --hospitals N or one --hospital per founder");
        return cli_usage(NAME, &err);
    }
    if (ngiven > CLI_MAX_FOUNDERS) {
        pc_error_set(&err, PC_EINVAL, "at most %d founding hospitals", CLI_MAX_FOUNDERS);
        return cli_usage(NAME, &err);
    }
    char endpoint[256];
    snprintf(endpoint, sizeof endpoint, "http://%s", listen);
    if (count != NULL) {
        int64_t v;
        if (cli_parse_int(count, "--hospitals", 1, CLI_MAX_FOUNDERS, &v, &err) != PC_OK)
            return cli_usage(NAME, &err);
        n = (size_t)v;
        for (size_t i = 0; i < n; i++) {
            memset(&specs[i], 0, sizeof specs[i]);
            snprintf(specs[i].id, sizeof specs[i].id, "hospital-%zu", i + 1);
            snprintf(specs[i].name, sizeof specs[i].name, "Hospital %zu", i + 1);
            snprintf(specs[i].endpoint, sizeof specs[i].endpoint, "%s", endpoint);
        }
    } else {
        for (size_t i = 0; i < ngiven; i++) {
            if (cli_parse_hospital_spec(given[i], &specs[i], &err) != PC_OK)
                return cli_usage(NAME, &err);
        }
        n = ngiven;
    }

    cli_offline o;
    rc = cli_offline_create(dir, net, specs, n, listen, cost, &o, &err);
    if (rc != PC_OK)
        return cli_fail(NAME, &err);
    pc_head head;
    memset(&head, 0, sizeof head);
    rc = pc_ledger_head(o.ledger, &head, &err);
    cli_offline_close(&o);
    if (rc != PC_OK)
        return cli_fail(NAME, &err);
    char hash[65];
    for (size_t i = 0; i < 32; i++)
        snprintf(hash + 2 * i, 3, "%02x", head.hash[i]);
    if (cli_flag(&a, "json")) {
        json_t *ids = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(ids, json_string(specs[i].id));
        json_t *j = json_pack("{s:s,s:s,s:o,s:s,s:s}", "network", net, "data", dir,
                              "hospitals", ids, "genesis_block", hash, "listen", listen);
        cli_print_json(j);
        json_decref(j);
        return CLI_EXIT_OK;
    }
    printf("created network '%s' in %s with %zu founding hospital%s:\n", net, dir, n,
           n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++)
        printf("  %-20s %s  (key: %s/keys/%s.key)\n", specs[i].id, specs[i].name, dir,
               specs[i].id);
    printf("block 0: %s\n\nstart the node:  parchad --data %s\n", hash, dir);
    return CLI_EXIT_OK;
}
