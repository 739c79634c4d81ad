/* parcha show: one block or one transaction, from a node (--node) or straight
 * from a data folder (--data). A transaction comes with its RFC 9162 Merkle
 * inclusion proof, which is checked here with pc_merkle_verify against the
 * tx root in the block header, so the answer does not rest on the node's
 * word. A block's tx root is recomputed from its txids. */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "parcha/encode.h"
#include "parcha/ledger.h"
#include "parcha/merkle.h"

static const char HELP[] =
    "usage: parcha show block HEIGHT [--data DIR | --node URL] [--json]\n"
    "       parcha show tx TXID      [--data DIR | --node URL] [--json]\n"
    "\n"
    "Show a block (header and its transactions with verdicts) or a transaction\n"
    "(its block, position, verdict, body and Merkle inclusion proof). The\n"
    "proof is verified locally against the block header's tx root and\n"
    "\"proof ok\" is printed; for a block, the tx root is recomputed from its\n"
    "txids (\"tx root ok\"). Exit 1 if a check fails.\n"
    "\n"
    "options:\n"
    "  --data DIR   read DIR/ledger.db directly (no node needed)\n"
    "  --node URL   ask this node (default $PARCHA_NODE or http://127.0.0.1:8080)\n"
    "\n"
    "examples:\n"
    "  parcha show block 0 --data ./demo\n"
    "  parcha show tx 3f5a...c2 --node http://127.0.0.1:8080\n";

static const cli_optspec OPTS[] = {{"data", true, false}, {NULL, false, false}};

/* Where blocks and transactions come from. */
typedef struct source {
    pc_ledger *ledger; /* --data */
    cli_client client; /* otherwise */
    bool remote;
} source;

static int get_block(source *s, uint64_t height, json_t **out, pc_error *err)
{
    if (!s->remote)
        return pc_ledger_block_json(s->ledger, height, out, err);
    char path[64];
    snprintf(path, sizeof path, "/v1/blocks/%llu", (unsigned long long)height);
    return cli_get(&s->client, path, out, err);
}

static int get_tx(source *s, const uint8_t txid[32], const char *hex, json_t **meta,
                  json_t **raw, pc_error *err)
{
    if (!s->remote) {
        int rc = pc_ledger_tx_json(s->ledger, txid, meta, err);
        return rc != PC_OK ? rc : pc_ledger_tx_raw(s->ledger, txid, raw, err);
    }
    char path[128];
    snprintf(path, sizeof path, "/v1/tx/%s", hex);
    int rc = cli_get(&s->client, path, meta, err);
    if (rc != PC_OK)
        return rc;
    snprintf(path, sizeof path, "/v1/tx/%s/raw", hex);
    return cli_get(&s->client, path, raw, err);
}

/* A hex field of 32 bytes; false if absent or malformed. */
static bool hex32(const json_t *obj, const char *key, uint8_t out[32])
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL && pc_hex_decode_exact(out, 32, s) == 0;
}

static json_int_t int_of(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

/* Recompute the tx root of a block JSON from its txids. */
static int check_txroot(const json_t *block, bool *ok, pc_error *err)
{
    const json_t *txs = json_object_get(block, "txs");
    const json_t *header = json_object_get(block, "header");
    uint8_t want[32], got[32];
    *ok = false;
    if (!hex32(header, "txroot", want))
        return pc_error_set(err, PC_EIO, "the block header has no tx root");
    size_t n = json_array_size(txs);
    uint8_t (*ids)[32] = malloc((n ? n : 1) * 32);
    if (ids == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!hex32(json_array_get(txs, i), "txid", ids[i])) {
            free(ids);
            return pc_error_set(err, PC_EIO, "transaction %zu of the block has no txid", i);
        }
    }
    int rc = pc_merkle_root((const uint8_t(*)[32])ids, n, got);
    free(ids);
    if (rc != PC_OK)
        return pc_error_set(err, rc, "out of memory");
    *ok = memcmp(want, got, 32) == 0;
    return PC_OK;
}

static int show_block(source *s, const char *arg, bool as_json, pc_error *err)
{
    int64_t h;
    if (cli_parse_int(arg, "block height", 0, INT64_MAX, &h, err) != PC_OK)
        return CLI_EXIT_USAGE;
    json_t *b = NULL;
    if (get_block(s, (uint64_t)h, &b, err) != PC_OK)
        return CLI_EXIT_FAIL;
    bool ok = false;
    int rc = check_txroot(b, &ok, err);
    if (rc != PC_OK) {
        json_decref(b);
        return CLI_EXIT_FAIL;
    }
    if (as_json) {
        json_object_set_new(b, "txroot_ok", json_boolean(ok));
        cli_print_json(b);
    } else {
        const json_t *hd = json_object_get(b, "header");
        char when[24];
        cli_format_time(int_of(hd, "time"), when);
        printf("block %lld\n", (long long)h);
        printf("  hash      %s\n", json_string_value(json_object_get(b, "hash")));
        printf("  prev      %s\n", json_string_value(json_object_get(hd, "prev")));
        printf("  time      %s\n", when);
        printf("  proposer  %s (position %lld)\n",
               json_string_value(json_object_get(hd, "proposer")),
               (long long)int_of(hd, "pos"));
        printf("  proposal  %s\n", json_string_value(json_object_get(hd, "proposal")));
        printf("  tx root   %s  %s\n", json_string_value(json_object_get(hd, "txroot")),
               ok ? "(tx root ok)" : "(TX ROOT MISMATCH)");
        const json_t *txs = json_object_get(b, "txs");
        printf("  %zu transaction%s:\n", json_array_size(txs),
               json_array_size(txs) == 1 ? "" : "s");
        size_t i;
        const json_t *t;
        json_array_foreach(txs, i, t) {
            printf("    %4zu  %s  %-17s %s\n", i,
                   json_string_value(json_object_get(t, "txid")),
                   json_string_value(json_object_get(t, "type")),
                   json_string_value(json_object_get(t, "verdict")));
        }
    }
    json_decref(b);
    if (!ok) {
        pc_error_set(err, PC_ECRYPTO, "block %lld: its tx root does not match its transactions",
                     (long long)h);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

static int show_tx(source *s, const char *arg, bool as_json, pc_error *err)
{
    uint8_t txid[32];
    if (strlen(arg) != 64 || pc_hex_decode_exact(txid, 32, arg) != 0) {
        pc_error_set(err, PC_EINVAL, "a txid is 64 hex characters");
        return CLI_EXIT_USAGE;
    }
    char hex[65];
    pc_hex_encode(hex, sizeof hex, txid, 32);
    json_t *meta = NULL, *raw = NULL, *block = NULL;
    int exit_code = CLI_EXIT_FAIL;
    if (get_tx(s, txid, hex, &meta, &raw, err) != PC_OK)
        goto out;
    const char *status = json_string_value(json_object_get(meta, "status"));
    if (status != NULL && strcmp(status, "pending") == 0) {
        if (as_json)
            cli_print_json(meta);
        else
            printf("transaction %s is pending (not yet in a block)\n", hex);
        exit_code = CLI_EXIT_OK;
        goto out;
    }
    /* The proof, checked against the root in the block header itself. */
    const json_t *proof = json_object_get(meta, "proof");
    const json_t *path = json_object_get(proof, "path");
    uint8_t root[32], header_root[32];
    uint8_t steps[PC_MERKLE_MAX_PATH][32];
    size_t npath = json_array_size(path);
    bool proof_ok = false;
    if (!hex32(proof, "root", root) || npath > PC_MERKLE_MAX_PATH) {
        pc_error_set(err, PC_EIO, "the transaction came without a usable Merkle proof");
        goto out;
    }
    for (size_t i = 0; i < npath; i++) {
        const char *p = json_string_value(json_array_get(path, i));
        if (p == NULL || pc_hex_decode_exact(steps[i], 32, p) != 0) {
            pc_error_set(err, PC_EIO, "step %zu of the Merkle proof is not a hash", i);
            goto out;
        }
    }
    json_int_t height = int_of(meta, "height");
    if (get_block(s, (uint64_t)height, &block, err) != PC_OK)
        goto out;
    if (!hex32(json_object_get(block, "header"), "txroot", header_root)) {
        pc_error_set(err, PC_EIO, "block %lld has no tx root", (long long)height);
        goto out;
    }
    proof_ok = memcmp(root, header_root, 32) == 0 &&
               pc_merkle_verify(txid, (size_t)int_of(proof, "index"),
                                (size_t)int_of(proof, "size"), (const uint8_t(*)[32])steps,
                                npath, header_root) == PC_OK;
    if (as_json) {
        json_t *j = json_pack("{s:O,s:O,s:b}", "tx", meta, "raw", raw, "proof_ok", proof_ok);
        cli_print_json(j);
        json_decref(j);
    } else {
        char when[24];
        cli_format_time(int_of(meta, "time"), when);
        printf("transaction %s\n", hex);
        printf("  type     %s\n", json_string_value(json_object_get(meta, "type")));
        printf("  block    %lld (index %lld), %s\n", (long long)height,
               (long long)int_of(meta, "index"), when);
        printf("  verdict  %s\n", json_string_value(json_object_get(meta, "verdict")));
        printf("  signers  ");
        size_t i;
        const json_t *sg;
        json_array_foreach(json_object_get(raw, "sigs"), i, sg) {
            printf("%s%s", i ? ", " : "", json_string_value(json_object_get(sg, "key")));
        }
        printf("\n  body     ");
        char *body = json_dumps(json_object_get(raw, "body"), JSON_COMPACT | JSON_SORT_KEYS);
        printf("%s\n", body != NULL ? body : "?");
        free(body);
        printf("  proof    leaf %lld of %lld, %zu step%s to root %s\n",
               (long long)int_of(proof, "index"), (long long)int_of(proof, "size"), npath,
               npath == 1 ? "" : "s", json_string_value(json_object_get(proof, "root")));
        printf("%s\n", proof_ok ? "proof ok" : "PROOF FAILED");
    }
    if (!proof_ok) {
        pc_error_set(err, PC_ECRYPTO,
                     "the Merkle proof of %s does not lead to block %lld's tx root", hex,
                     (long long)height);
        goto out;
    }
    exit_code = CLI_EXIT_OK;
out:
    json_decref(meta);
    json_decref(raw);
    json_decref(block);
    return exit_code;
}

int cli_cmd_show(int argc, char **argv)
{
    static const char NAME[] = "show";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP, OPTS, 2, 2, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *what = a.pos[0], *arg = a.pos[1];
    bool is_block = strcmp(what, "block") == 0, is_tx = strcmp(what, "tx") == 0;
    if (!is_block && !is_tx) {
        pc_error_set(&err, PC_EINVAL, "show what? use 'block HEIGHT' or 'tx TXID'");
        return cli_usage(NAME, &err);
    }
    source s;
    memset(&s, 0, sizeof s);
    const char *dir = cli_arg(&a, "data");
    pc_error_clear(&err);
    if (dir != NULL) {
        char path[1100];
        if (!cli_pathf(path, sizeof path, "%s/ledger.db", dir)) {
            pc_error_set(&err, PC_EINVAL, "folder path is too long");
            return cli_usage(NAME, &err);
        }
        if (pc_ledger_open(path, PC_LEDGER_READONLY, &s.ledger, &err) != PC_OK)
            return cli_fail(NAME, &err);
    } else {
        s.remote = true;
        if (cli_client_init(&s.client, cli_arg(&a, "node"), &err) != PC_OK)
            return cli_fail(NAME, &err);
    }
    bool as_json = cli_flag(&a, "json");
    rc = is_block ? show_block(&s, arg, as_json, &err) : show_tx(&s, arg, as_json, &err);
    if (s.remote)
        cli_client_close(&s.client);
    else
        pc_ledger_close(s.ledger);
    if (rc == CLI_EXIT_USAGE)
        return cli_usage(NAME, &err);
    if (rc != CLI_EXIT_OK)
        return cli_fail(NAME, &err);
    return CLI_EXIT_OK;
}
