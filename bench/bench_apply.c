/* bench_apply: how fast the ledger turns proposals into durable blocks.
 *
 * Builds a benchmark network (3 hospitals, 30 staff, P patients) in a fresh
 * ledger.db, then generates N transactions of a realistic mix (about 80%
 * record.add, 8% consent.grant, 2% consent.revoke, 10% access.log; one patient
 * gets exactly R records spread over the whole chain for the timeline
 * benchmark) in blocks of B. Generation and signing are not timed. For every
 * block it times, as a peer node does them: pc_proposal_decode_mt of the wire
 * bytes (transactions parsed and their signatures checked in one pass on T
 * threads) and pc_ledger_apply (rules, SQLite, fsync of the block). The same
 * run measures the machine's Ed25519 verification rate, so that every figure
 * is also given as a ratio to the signature-check limit.
 *
 *   bench_apply [--quick] [--txs N] [--block B] [--patients P] [--records R]
 *               [--threads T] [--dir DIR] [--keep]
 *
 * With --keep the ledger stays in DIR for bench_query and bench_verify. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_common.h"

typedef struct opts {
    uint64_t txs;
    int block;
    uint32_t patients;
    uint64_t records;
    int threads;
    const char *dir;
    int keep;
    int pregen;
} opts;

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_apply [--quick] [--txs N] [--block B] [--patients P]\n"
            "                   [--records R] [--threads T] [--dir DIR] [--keep] [--pregen]\n"
            "--pregen generates every block before applying any (for profiling the apply\n"
            "phase alone; holds all wire bytes in memory).\n");
}

static int parse(int argc, char **argv, opts *o)
{
    *o = (opts){200000, 2000, 10000, 1000, 2, NULL, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            o->txs = 20000;
            o->patients = 1000;
        } else if (strcmp(a, "--keep") == 0) {
            o->keep = 1;
        } else if (strcmp(a, "--pregen") == 0) {
            o->pregen = 1;
        } else if (v != NULL && strcmp(a, "--txs") == 0) {
            o->txs = strtoull(v, NULL, 10), i++;
        } else if (v != NULL && strcmp(a, "--block") == 0) {
            o->block = atoi(v), i++;
        } else if (v != NULL && strcmp(a, "--patients") == 0) {
            o->patients = (uint32_t)strtoul(v, NULL, 10), i++;
        } else if (v != NULL && strcmp(a, "--records") == 0) {
            o->records = strtoull(v, NULL, 10), i++;
        } else if (v != NULL && strcmp(a, "--threads") == 0) {
            o->threads = atoi(v), i++;
        } else if (v != NULL && strcmp(a, "--dir") == 0) {
            o->dir = v, i++;
        } else {
            usage();
            return -1;
        }
    }
    if (o->block < 1 || o->block > 100000 || o->patients < 2 || o->threads < 1 ||
        o->threads > 16 || o->txs < (uint64_t)o->block) {
        fprintf(stderr, "bench_apply: need 1 <= block <= 100000, block <= txs, "
                        "patients >= 2, 1 <= threads <= 16\n");
        return -1;
    }
    return 0;
}

static long long file_size(const char *dir, const char *name)
{
    char p[300];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 ? (long long)st.st_size : 0;
}

int main(int argc, char **argv)
{
    opts o;
    if (parse(argc, argv, &o) != 0)
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    char tmpl[] = "/tmp/parcha-bench-XXXXXX";
    const char *dir = o.dir;
    if (dir == NULL) {
        dir = mkdtemp(tmpl);
        if (dir == NULL) {
            perror("bench_apply: mkdtemp");
            return 1;
        }
    } else if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        perror("bench_apply: mkdir");
        return 1;
    }
    bw_print_machine();
    if (pc_crypto_init() != 0)
        return 1;
    double vr1 = bw_verify_rate(1, 1.0), vr2 = bw_verify_rate(o.threads, 1.5);
    printf("ed25519 verify, 1 thread: %.0f/s\n", vr1);
    printf("ed25519 verify, %d threads: %.0f/s\n", o.threads, vr2);

    bw_world w;
    double t0 = bw_now();
    if (bw_create(&w, dir, o.patients, o.block) != 0)
        return 1;
    printf("set-up: genesis, 30 staff, %u patients registered in %.2f s\n", o.patients,
           bw_now() - t0);
    w.special_every = o.records > 0 ? o.txs / o.records : 0;

    size_t nblocks = (size_t)(o.txs / (uint64_t)o.block);
    double *lat = calloc(nblocks ? nblocks : 1, sizeof *lat);
    double *app = calloc(nblocks ? nblocks : 1, sizeof *app);
    double *appcpu = calloc(nblocks ? nblocks : 1, sizeof *appcpu);
    pc_tx *txs = calloc((size_t)o.block, sizeof *txs);
    if (lat == NULL || txs == NULL)
        return 1;
    double t_gen = 0, t_dec = 0, t_ver = 0, t_app = 0;
    uint64_t nsigs = 0, done = 0, bad = 0;
    pc_buf *wires = calloc(o.pregen ? nblocks : 1, sizeof *wires);
    if (wires == NULL)
        return 1;
    for (size_t b = 0; b < (o.pregen ? nblocks : 0); b++) {
        double g0 = bw_now();
        pc_buf_init(&wires[b]);
        wires[b].cap_limit = (size_t)1 << 30;
        if (bw_gen(&w, txs, (size_t)o.block, o.threads) != 0 ||
            bw_wire(&w, txs, (size_t)o.block, &wires[b]) != 0) {
            fprintf(stderr, "bench_apply: generating block %zu failed\n", b);
            return 1;
        }
        /* References (access.log, revoke) may only point at earlier blocks. */
        bw_committed(&w);
        t_gen += bw_now() - g0;
    }
    if (o.pregen)
        fprintf(stderr, "  generated %zu blocks; applying (pid %d)\n", nblocks, (int)getpid());
    for (size_t b = 0; b < nblocks; b++) {
        double g0 = bw_now();
        pc_buf wire;
        if (o.pregen) {
            wire = wires[b];
            pc_buf_init(&wires[b]);
        } else {
            pc_buf_init(&wire);
            wire.cap_limit = (size_t)1 << 30;
            if (bw_gen(&w, txs, (size_t)o.block, o.threads) != 0 ||
                bw_wire(&w, txs, (size_t)o.block, &wire) != 0) {
                fprintf(stderr, "bench_apply: generating block %zu failed\n", b);
                return 1;
            }
        }
        double a0 = bw_now();
        t_gen += a0 - g0;
        pc_proposal p;
        pc_error err;
        if (pc_proposal_decode_mt(wire.data, wire.len, &p, o.threads, true, &err) != PC_OK) {
            fprintf(stderr, "bench_apply: decode: %s\n", err.msg);
            return 1;
        }
        double a1 = bw_now();
        bad += pc_proposal_verify_txs(&p, o.threads); /* counts the bad ones; checks nothing twice */
        double a2 = bw_now(), c2 = bw_thread_cpu();
        pc_block_result r;
        if (pc_ledger_apply(w.l, &p, ++w.pos, &r, &err) != PC_OK) {
            fprintf(stderr, "bench_apply: apply: %s\n", err.msg);
            return 1;
        }
        double a3 = bw_now(), c3 = bw_thread_cpu();
        for (size_t i = 0; i < p.ntx; i++) {
            nsigs += p.txs[i].nsigs;
            if (r.verdicts[i] != PC_V_OK) {
                fprintf(stderr, "bench_apply: block %zu tx %zu: verdict %s\n", b, i,
                        pc_verdict_name(r.verdicts[i]));
                return 1;
            }
        }
        pc_block_result_free(&r);
        pc_proposal_free(&p);
        pc_buf_free(&wire);
        if (!o.pregen)
            bw_committed(&w);
        t_dec += a1 - a0;
        t_ver += a2 - a1;
        t_app += a3 - a2;
        lat[b] = (a3 - a0) * 1000;
        app[b] = a3 - a2;
        appcpu[b] = c3 - c2;
        done += (uint64_t)o.block;
        if (nblocks >= 10 && (b + 1) % (nblocks / 10) == 0)
            fprintf(stderr, "  %llu/%llu tx applied, %.0f tx/s so far\n",
                    (unsigned long long)done, (unsigned long long)o.txs,
                    (double)done / (t_dec + t_ver + t_app));
    }
    if (bad != 0) {
        fprintf(stderr, "bench_apply: %llu bad signatures\n", (unsigned long long)bad);
        return 1;
    }
    double spt = done ? (double)nsigs / (double)done : 1;
    double limit = vr2 / spt;
    double peer = (double)done / (t_dec + t_ver + t_app);
    double own = (double)done / t_app;
    printf("signature-check limit (%d threads, %.2f signatures/tx): %.0f tx/s\n",
           o.threads, spt, limit);
    printf("apply, peer path (parse and verify in one pass on %d threads, then apply, fsync per block): "
           "%.0f tx/s (%.2f of limit)\n", o.threads, peer, peer / limit);
    printf("apply, own proposal (signatures checked at admission): %.0f tx/s (%.2f of limit)\n",
           own, own / limit);
    printf("apply: per tx parse+verify %.1f us (wall, %d threads), apply %.1f us (%llu tx in blocks of %d)\n",
           (t_dec + t_ver) * 1e6 / (double)done, o.threads, t_app * 1e6 / (double)done,
           (unsigned long long)done, o.block);
    double tail = 0, tailcpu = 0, allcpu = 0;
    size_t ntail = nblocks / 10 ? nblocks / 10 : 1;
    for (size_t b = 0; b < nblocks; b++)
        allcpu += appcpu[b];
    for (size_t b = nblocks - ntail; b < nblocks; b++) {
        tail += app[b];
        tailcpu += appcpu[b];
    }
    printf("apply: CPU of the applying thread %.1f us/tx (all blocks), %.1f us/tx (last 10%%)\n",
           allcpu * 1e6 / (double)done, tailcpu * 1e6 / ((double)ntail * o.block));
    printf("apply: last 10%% of blocks (ledger near %llu tx): apply %.1f us/tx, %.0f tx/s\n",
           (unsigned long long)done, tail * 1e6 / ((double)ntail * o.block),
           (double)ntail * o.block / tail);
    printf("apply: block latency p50 %.1f ms, p99 %.1f ms (blocks of %d)\n",
           bw_quantile(lat, nblocks, 0.5), bw_quantile(lat, nblocks, 0.99), o.block);
    printf("generation (not timed above): %.0f tx/s signed on %d threads\n",
           (double)done / t_gen, o.threads);
    printf("ledger.db on disk: %.1f MB (file %.1f MB + WAL %.1f MB) for %llu tx\n",
           (double)(file_size(dir, "ledger.db") + file_size(dir, "ledger.db-wal")) / 1e6,
           (double)file_size(dir, "ledger.db") / 1e6,
           (double)file_size(dir, "ledger.db-wal") / 1e6, (unsigned long long)done);
    printf("bench_apply RSS: %.1f MB\n", (double)bw_rss_kib(0) / 1024);
    free(lat);
    free(app);
    free(appcpu);
    free(txs);
    free(wires);
    bw_close(&w);
    if (o.keep) {
        char meta[300];
        snprintf(meta, sizeof meta, "%s/bench.meta", dir);
        FILE *f = fopen(meta, "w");
        if (f == NULL)
            return 1;
        fprintf(f, "patients %u\nrecords %llu\ntxs %llu\n", o.patients,
                (unsigned long long)o.records, (unsigned long long)done);
        fclose(f);
        printf("ledger kept in %s\n", dir);
    } else {
        char p[300];
        const char *files[] = {"ledger.db", "ledger.db-wal", "ledger.db-shm"};
        for (size_t i = 0; i < 3; i++) {
            snprintf(p, sizeof p, "%s/%s", dir, files[i]);
            unlink(p);
        }
        rmdir(dir);
    }
    return 0;
}
