/* bench_verify: `parcha verify` speed, i.e. pc_ledger_verify on a ledger made
 * by `bench_apply --keep`: every block's hashes, links and Merkle root, every
 * proposal and transaction signature (on T threads), and a replay of every
 * block into a fresh ledger compared with the stored one. The machine's
 * Ed25519 rate on the same threads is measured in the same run, so the result
 * is also given as a ratio to the signature-check limit.
 *
 *   bench_verify --dir DIR [--threads T] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

static void progress(void *ctx, uint64_t done, uint64_t total)
{
    double *last = ctx;
    double now = bw_now();
    if (now - *last >= 5 || done == total) {
        fprintf(stderr, "  verified %llu/%llu blocks\n", (unsigned long long)done,
                (unsigned long long)total);
        *last = now;
    }
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int threads = 2;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--dir") == 0)
            dir = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[++i]);
        else
            dir = NULL, i = argc;
    }
    if (dir == NULL || threads < 1 || threads > 16) {
        fprintf(stderr, "usage: bench_verify --dir DIR [--threads T]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (pc_crypto_init() != 0)
        return 1;
    double vr = bw_verify_rate(threads, 1.5);
    char path[300];
    snprintf(path, sizeof path, "%s/ledger.db", dir);
    uint64_t nb = 0, ntx = 0;
    pc_error err;
    double last = bw_now(), t0 = bw_now();
    int rc = pc_ledger_verify(path, threads, progress, &last, &nb, &ntx, &err);
    double el = bw_now() - t0;
    if (rc != PC_OK) {
        fprintf(stderr, "bench_verify: verify failed: %s\n", err.msg);
        return 1;
    }
    /* Signatures: about one per transaction in the mix, plus one per block. */
    double rate = (double)ntx / el;
    printf("ed25519 verify, %d threads (this run): %.0f/s\n", threads, vr);
    printf("verify (%d threads): %llu blocks, %llu tx in %.2f s: %.0f tx/s (%.2f of limit)\n",
           threads, (unsigned long long)nb, (unsigned long long)ntx, el, rate,
           rate / (vr / (1.0 + (double)nb / (double)(ntx ? ntx : 1))));
    printf("bench_verify RSS: %.1f MB\n", (double)bw_rss_kib(0) / 1024);
    return 0;
}
