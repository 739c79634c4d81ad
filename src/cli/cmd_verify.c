/* parcha verify: re-check a ledger.db from scratch (hashes, links, Merkle
 * roots, every signature, then a full replay) with pc_ledger_verify, using
 * every core. Exit 0 when intact, 1 naming the first bad block. */
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/keys.h"
#include "parcha/ledger.h"

static const char HELP[] =
    "usage: parcha verify --data DIR [--threads N] [--quiet] [--json]\n"
    "   or: parcha verify --ledger FILE.db ...\n"
    "\n"
    "Re-check every block of DIR/ledger.db without trusting anything stored:\n"
    "block hashes and links, transaction bytes against their txids, Merkle\n"
    "roots, proposal and transaction signatures (on all cores), then replay\n"
    "every block into a fresh ledger and compare blocks, verdicts and state.\n"
    "Progress goes to stderr. Works offline; the node may keep running.\n"
    "Exit status: 0 intact, 1 damaged (the message names the first bad block).\n"
    "\n"
    "options:\n"
    "  --data DIR      a node's data folder\n"
    "  --ledger FILE   a ledger.db file anywhere\n"
    "  --threads N     signature-checking threads (default: number of cores)\n"
    "  --quiet         no progress\n"
    "\n"
    "example:\n"
    "  parcha verify --data ./demo\n";

static const cli_optspec OPTS[] = {
    {"data", true, false}, {"ledger", true, false}, {"threads", true, false},
    {"quiet", false, false}, {NULL, false, false}};

/* Progress on stderr, at most about every 5%. */
typedef struct progress {
    uint64_t last;
    bool shown;
} progress;

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    progress *p = ctx;
    if (total == 0)
        return;
    uint64_t pct = done * 100 / total;
    if (p->shown && pct < p->last + 5 && done != total)
        return;
    p->last = pct;
    p->shown = true;
    fprintf(stderr, "\rparcha verify: %llu of %llu blocks (%llu%%)",
            (unsigned long long)done, (unsigned long long)total, (unsigned long long)pct);
    if (done == total)
        fputc('\n', stderr);
}

int cli_cmd_verify(int argc, char **argv)
{
    static const char NAME[] = "verify";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP, OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *dir = cli_arg(&a, "data"), *file = cli_arg(&a, "ledger");
    if ((dir == NULL) == (file == NULL)) {
        pc_error_set(&err, PC_EINVAL, "give either --data DIR or --ledger FILE");
        return cli_usage(NAME, &err);
    }
    char path[1100];
    if (dir != NULL && !cli_pathf(path, sizeof path, "%s/ledger.db", dir)) {
        pc_error_set(&err, PC_EINVAL, "folder path is too long");
        return cli_usage(NAME, &err);
    }
    if (file != NULL && !cli_pathf(path, sizeof path, "%s", file)) {
        pc_error_set(&err, PC_EINVAL, "ledger path is too long");
        return cli_usage(NAME, &err);
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t threads = cores > 0 ? cores : 1;
    if (threads > 64)
        threads = 64;
    if (cli_arg(&a, "threads") != NULL &&
        cli_parse_int(cli_arg(&a, "threads"), "--threads", 1, 64, &threads, &err) != PC_OK)
        return cli_usage(NAME, &err);
    if (!cli_path_exists(path)) {
        pc_error_set(&err, PC_ENOTFOUND, "%s does not exist", path);
        return cli_fail(NAME, &err);
    }
    progress prog = {0, false};
    bool quiet = cli_flag(&a, "quiet") || cli_flag(&a, "json");
    uint64_t nblocks = 0, ntx = 0;
    int64_t t0 = pc_mono_ms();
    rc = pc_ledger_verify(path, (int)threads, quiet ? NULL : on_progress, &prog, &nblocks,
                          &ntx, &err);
    int64_t ms = pc_mono_ms() - t0;
    if (prog.shown && prog.last < 100 && !quiet)
        fputc('\n', stderr);
    if (cli_flag(&a, "json")) {
        json_t *j = json_pack("{s:b,s:s,s:I,s:I,s:I,s:s*}", "intact", rc == PC_OK, "ledger",
                              path, "blocks", (json_int_t)nblocks, "transactions",
                              (json_int_t)ntx, "ms", (json_int_t)ms, "error",
                              rc == PC_OK ? NULL : err.msg);
        cli_print_json(j);
        json_decref(j);
        if (rc != PC_OK)
            fprintf(stderr, "parcha verify: %s\n", err.msg);
        return rc == PC_OK ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    }
    if (rc != PC_OK) {
        fprintf(stderr, "parcha verify: %s is damaged: %s\n", path,
                err.msg[0] ? err.msg : pc_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    printf("ledger intact: %llu blocks, %llu transactions re-verified in %.1f s (%d threads)\n",
           (unsigned long long)nblocks, (unsigned long long)ntx, (double)ms / 1000.0,
           (int)threads);
    return CLI_EXIT_OK;
}
