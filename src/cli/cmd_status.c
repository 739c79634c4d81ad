/* parcha status: what a node says about itself (GET /v1/status). */
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"

static const char HELP[] =
    "usage: parcha status [--node URL] [--json]\n"
    "\n"
    "Ask a node for its network, chain height and head block, the hospitals it\n"
    "hosts, its orderer, and how many transactions wait in its mempool.\n"
    "Exit 1 if the node cannot be reached.\n"
    "\n"
    "example:\n"
    "  parcha status --node http://127.0.0.1:8080\n";

static const cli_optspec OPTS[] = {{NULL, false, false}};

int cli_cmd_status(int argc, char **argv)
{
    static const char NAME[] = "status";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP, OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    cli_client c;
    if (cli_client_init(&c, cli_arg(&a, "node"), &err) != PC_OK)
        return cli_fail(NAME, &err);
    json_t *st = NULL;
    rc = cli_get(&c, "/v1/status", &st, &err);
    if (rc != PC_OK) {
        cli_client_close(&c);
        return cli_fail(NAME, &err);
    }
    if (cli_flag(&a, "json")) {
        cli_print_json(st);
    } else {
        char when[24];
        cli_format_time(json_integer_value(json_object_get(st, "time")), when);
        printf("node       %s (parchad %s)\n", c.base,
               cli_str(st, "version"));
        printf("network    %s\n", cli_str(st, "network"));
        printf("height     %lld  (head %s, %s)\n",
               (long long)json_integer_value(json_object_get(st, "height")),
               cli_str(st, "head"), when);
        printf("proposer   %s\n", cli_str(st, "hospital"));
        printf("hosts      ");
        size_t i;
        const json_t *h;
        json_array_foreach(json_object_get(st, "hosted"), i, h) {
            printf("%s%s", i ? ", " : "", json_is_string(h) ? json_string_value(h) : "?");
        }
        printf("\norderer    %s\n", cli_str(st, "orderer"));
        printf("mempool    %lld pending\n",
               (long long)json_integer_value(json_object_get(st, "mempool")));
        printf("txs        %lld committed\n",
               (long long)json_integer_value(json_object_get(st, "txs")));
    }
    json_decref(st);
    cli_client_close(&c);
    return CLI_EXIT_OK;
}
