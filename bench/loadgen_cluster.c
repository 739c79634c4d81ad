/* loadgen --cluster 3: three hospitals with etcd, all on this machine.
 *
 * Starts the consortium with `parcha devnet up --dir DIR --hospitals 3` (3
 * etcd members and 3 parchad ordering through them, free ports), reads
 * DIR/devnet.json for the nodes' URLs and the hospitals' key and passphrase
 * files, enrols 10 staff per hospital (signed by the hospital, sent to its own
 * node), registers patients at their hospital's node, commits a preload of the
 * mix, then pre-signs the mix of loadgen (mostly record.add, plus
 * consent.grant/revoke and access.log) and drives the three nodes at once over
 * keep-alive connections (C per node): each hospital's staff submit to their
 * own hospital's node (record.add to the signer's, access.log to the
 * custodian's, a patient's consents to the node of the hospital that
 * registered them). A transaction counts as committed when its node answered
 * 200 or 422 (both after commit). Then it checks that the three nodes reach
 * the same height and head (GET /v1/status) and stops everything it started
 * with `parcha devnet down --dir DIR --purge` (without --purge on failure, so
 * the logs stay; not at all with --keep), also on SIGINT/SIGTERM/SIGHUP and
 * on any exit.
 *
 * Connections: --conns per node (default 128; 4 with --batch). Figures, one
 * per line, each starting "3 hospitals (etcd)" and naming the mode: the full
 * load (answers by status, committed per node), commit latency p50/p99, the
 * load average and the CPU seconds the parchads, the etcd members and loadgen
 * used during the load (from /proc/<pid>/stat of the pids in devnet.json),
 * the common height and head, and last "3 hospitals (etcd) committed tx/s
 * (MODE): N". Exit status 0, 1 on failure, 3 if the nodes have no
 * POST /v1/txs (--batch). */
#include "loadgen_cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include <sodium.h>

#include "bench_common.h"
#include "bench_http.h"
#include "parcha/keyfile.h"

/* What the exit and signal handlers need to stop the devnet: argv built
 * before anything starts (a signal handler may only fork and exec). */
static char g_parcha[1024], g_dir[1024];
static char *g_down_purge[7], *g_down_keep[6];
static volatile sig_atomic_t g_up; /* devnet up was started and not yet down */
static int g_keep;

/* Fork, exec argv with stdout to stderr, wait; exit status or -1. Only
 * async-signal-safe calls. */
static int run_wait(char *const *argv)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(2, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void devnet_down(int purge)
{
    if (!g_up)
        return;
    g_up = 0;
    run_wait(purge ? g_down_purge : g_down_keep);
}

static void on_exit_down(void)
{
    /* Reached with the devnet up only on a failure path: keep the logs. */
    devnet_down(0);
}

static void on_signal(int sig)
{
    devnet_down(!g_keep);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The port of "http://127.0.0.1:PORT". */
static int url_port(const char *url)
{
    const char *c = url != NULL ? strrchr(url, ':') : NULL;
    if (c == NULL || strncmp(url, "http://127.0.0.1:", 17) != 0)
        return -1;
    long p = strtol(c + 1, NULL, 10);
    return p > 0 && p < 65536 ? (int)p : -1;
}

typedef struct cnode {
    char id[64];
    int port;
    int pid, etcd_pid; /* its parchad and its etcd member */
} cnode;

/* Read DIR/devnet.json: the network id into net, the nodes (in founding
 * order) and each hospital's key (read with its passphrase file). */
static int read_devnet(const char *dir, char *net, size_t netlen, cnode *nodes, bw_world *w)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/devnet.json", dir);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    json_t *ns = json_object_get(j, "nodes");
    const char *n = json_string_value(json_object_get(j, "network"));
    if (j == NULL || n == NULL || json_array_size(ns) != BW_NHOSP) {
        fprintf(stderr, "loadgen: %s: not a devnet of %d hospitals%s%s\n", path, BW_NHOSP,
                j == NULL ? ": " : "", j == NULL ? je.text : "");
        json_decref(j);
        return -1;
    }
    snprintf(net, netlen, "%s", n);
    for (size_t i = 0; i < BW_NHOSP; i++) {
        json_t *nd = json_array_get(ns, i);
        const char *id = json_string_value(json_object_get(nd, "hospital"));
        const char *url = json_string_value(json_object_get(nd, "url"));
        const char *kf = json_string_value(json_object_get(nd, "key_file"));
        const char *pf = json_string_value(json_object_get(nd, "pass_file"));
        int port = url_port(url);
        if (id == NULL || kf == NULL || pf == NULL || port < 0 || strlen(id) >= sizeof nodes[i].id) {
            fprintf(stderr, "loadgen: %s: node %zu lacks hospital, url (http://127.0.0.1:PORT), "
                            "key_file or pass_file\n", path, i);
            json_decref(j);
            return -1;
        }
        snprintf(nodes[i].id, sizeof nodes[i].id, "%s", id);
        nodes[i].port = port;
        nodes[i].pid = (int)json_integer_value(json_object_get(nd, "pid"));
        nodes[i].etcd_pid = (int)json_integer_value(
            json_object_get(json_array_get(json_object_get(j, "etcd"), i), "pid"));
        char *pass = NULL;
        size_t plen = 0;
        pc_error err;
        int rc = pc_pass_read_file(pf, &pass, &plen, &err);
        if (rc == PC_OK) {
            rc = pc_keyfile_read(kf, pass, plen, &w->hosp[i], &err);
            pc_pass_free(pass, plen);
        }
        if (rc != PC_OK) {
            fprintf(stderr, "loadgen: hospital %s's key: %s\n", id, err.msg);
            json_decref(j);
            return -1;
        }
    }
    json_decref(j);
    return 0;
}

/* Wait (up to 60 s) until the three nodes report the same height and head.
 * 0 with them, or -1 (what each node reported, on stderr). */
static int wait_same_head(const cnode *nodes, long long *height, char *head, size_t headlen,
                          long long *txs, double *waited)
{
    double t0 = bw_now();
    long long h[BW_NHOSP], t[BW_NHOSP];
    char hd[BW_NHOSP][80];
    for (;;) {
        int same = 1;
        for (int i = 0; i < BW_NHOSP; i++) {
            if (bh_node_status(nodes[i].port, &h[i], hd[i], sizeof hd[i], &t[i]) != 0) {
                same = 0;
                h[i] = -1;
                hd[i][0] = '\0';
                continue;
            }
            if (i > 0 && (h[i] != h[0] || strcmp(hd[i], hd[0]) != 0 || hd[0][0] == '\0'))
                same = 0;
        }
        if (same) {
            *height = h[0];
            *txs = t[0];
            snprintf(head, headlen, "%s", hd[0]);
            *waited = bw_now() - t0;
            return 0;
        }
        if (bw_now() - t0 > 60) {
            fprintf(stderr, "loadgen: the nodes did not converge within 60 s:\n");
            for (int i = 0; i < BW_NHOSP; i++)
                fprintf(stderr, "  %s: height %lld, head %s\n", nodes[i].id, h[i], hd[i]);
            return -1;
        }
        usleep(50000);
    }
}

/* CPU seconds of the parchads (what[0]), the etcd members (what[1]) and
 * this process (what[2]). */
static void cluster_cpu(const cnode *nodes, double what[3])
{
    what[0] = what[1] = 0;
    for (int i = 0; i < BW_NHOSP; i++) {
        double a = bw_proc_cpu(nodes[i].pid), b = bw_proc_cpu(nodes[i].etcd_pid);
        what[0] += a > 0 ? a : 0;
        what[1] += b > 0 ? b : 0;
    }
    what[2] = bw_proc_cpu(0);
}

/* The end of each node's log on stderr (after a failure, before the folder
 * goes). */
static void show_logs(const cnode *nodes)
{
    for (int i = 0; nodes != NULL && i < BW_NHOSP; i++) {
        char path[1200], line[1024];
        int pl = snprintf(path, sizeof path, "%s/nodes/%s/parchad.log", g_dir, nodes[i].id);
        if (pl < 0 || (size_t)pl >= sizeof path)
            continue;
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        /* The last 20 lines: a ring of line starts. */
        enum { KEEP = 20 };
        long starts[KEEP] = {0};
        int nl = 0;
        long at = 0;
        while (fgets(line, sizeof line, f) != NULL) {
            size_t l = strlen(line);
            at += (long)l;
            if (l > 0 && line[l - 1] == '\n')
                starts[nl++ % KEEP] = at;
        }
        long from = nl > KEEP ? starts[nl % KEEP] : 0;
        fprintf(stderr, "== the end of %s\n", path);
        if (fseek(f, from, SEEK_SET) == 0)
            while (fgets(line, sizeof line, f) != NULL)
                fputs(line, stderr);
        fclose(f);
    }
}

static void loadavg(char *out, size_t outlen)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double a = 0, b = 0, c = 0;
    if (f == NULL || fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3)
        snprintf(out, outlen, "?");
    else
        snprintf(out, outlen, "%.2f %.2f %.2f", a, b, c);
    if (f != NULL)
        fclose(f);
}

int lg_cluster(const lg_opts *o)
{
    char mode[64];
    lg_mode(o, mode, sizeof mode);
    int conns = o->conns_set ? o->conns : o->batch > 0 ? 4 : 128;
    char tmpl[] = "/tmp/parcha-cluster-XXXXXX";
    const char *dir = o->dir;
    if (dir == NULL) {
        dir = mkdtemp(tmpl);
        if (dir == NULL) {
            fprintf(stderr, "loadgen: cannot make a folder in /tmp: %s\n", strerror(errno));
            return 1;
        }
    } else if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "loadgen: cannot make %s: %s\n", dir, strerror(errno));
        return 1;
    }
    if (snprintf(g_parcha, sizeof g_parcha, "%s", o->parcha) >= (int)sizeof g_parcha ||
        snprintf(g_dir, sizeof g_dir, "%s", dir) >= (int)sizeof g_dir)
        return 1;
    static char DEVNET[] = "devnet", DOWN[] = "down", DIRO[] = "--dir", PURGE[] = "--purge";
    char *down[7] = {g_parcha, DEVNET, DOWN, DIRO, g_dir, PURGE, NULL};
    memcpy(g_down_purge, down, sizeof down);
    memcpy(g_down_keep, down, 5 * sizeof *down);
    g_down_keep[5] = NULL;
    g_keep = o->keep;
    bw_print_machine();
    bw_world w;
    if (bw_init(&w, o->patients, 2000) != 0)
        return 1;
    double vr2 = bw_verify_rate(2, 1.5);
    printf("ed25519 verify, 2 threads: %.0f/s (signature-check limit %.0f tx/s at 1 signature/tx)\n",
           vr2, vr2);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    atexit(on_exit_down);

    /* parcha devnet up */
    char *up[14];
    int a = 0;
    up[a++] = g_parcha;
    up[a++] = "devnet";
    up[a++] = "up";
    up[a++] = "--dir";
    up[a++] = g_dir;
    up[a++] = "--hospitals";
    up[a++] = "3";
    up[a++] = "--parchad";
    up[a++] = (char *)o->parchad;
    /* parchad's production default, not devnet's test-speed 10: every
     * checkpoint hashes the whole state. */
    up[a++] = "--checkpoint-every";
    up[a++] = "100";
    if (o->etcd != NULL) {
        up[a++] = "--etcd";
        up[a++] = (char *)o->etcd;
    }
    up[a] = NULL;
    double u0 = bw_now();
    g_up = 1;
    int urc = run_wait(up);
    if (urc != 0) {
        /* up has said why on stderr and stopped what it started. */
        fprintf(stderr, "loadgen: parcha devnet up failed (exit %d)\n", urc);
        g_up = 0;
        if (!o->keep) {
            run_wait(g_down_purge);
            rmdir(g_dir); /* made here and left empty when up failed early */
        }
        bw_close(&w);
        return 1;
    }
    double up_s = bw_now() - u0;

    int rc = 1;
    cnode nodes[BW_NHOSP];
    int nodes_known = 0;
    int ports[BW_NHOSP];
    char net[128];
    hreq *r = NULL;
    size_t nj = 0;
    int *st = NULL;
    double *lat = NULL;
    pc_tx *txs = calloc(2000, sizeof *txs);
    uint8_t *route = calloc(2000, 1);
    if (txs == NULL || route == NULL || read_devnet(g_dir, net, sizeof net, nodes, &w) != 0)
        goto out;
    nodes_known = 1;
    w.net = net;
    for (int h = 0; h < BW_NHOSP; h++) {
        w.hid[h] = nodes[h].id;
        ports[h] = nodes[h].port;
    }
    printf("3 hospitals (etcd): parcha devnet up in %.1f s (3 etcd members, 3 parchad: %s, %s, %s)\n",
           up_s, nodes[0].id, nodes[1].id, nodes[2].id);

    /* Staff at their hospital's node, patients at their registering
     * hospital's node, a preload of the mix. */
    double s0 = bw_now();
    for (int s = 0; s < BW_NHOSP * BW_STAFF_PER; s++) {
        route[s] = (uint8_t)(s / BW_STAFF_PER);
        if (bw_staff_tx(&w, s, &txs[s]) != 0)
            goto out;
    }
    r = bh_tx_reqs(txs, BW_NHOSP * BW_STAFF_PER, route);
    nj = BW_NHOSP * BW_STAFF_PER;
    if (r == NULL || bh_send_all(ports, BW_NHOSP, r, nj, 10, "enrolling staff") != 0)
        goto out;
    bh_free_reqs(r, nj);
    r = NULL;
    for (uint32_t p = 0; p < o->patients;) {
        size_t k = 0;
        w.clock = pc_now_ms();
        for (; k < 2000 && p < o->patients; k++, p++) {
            route[k] = (uint8_t)(p % BW_NHOSP);
            if (bw_register_tx(&w, p, &txs[k]) != 0)
                goto out;
        }
        r = bh_tx_reqs(txs, k, route);
        nj = k;
        if (r == NULL || bh_send_all(ports, BW_NHOSP, r, k, 64, "registering patients") != 0)
            goto out;
        bh_free_reqs(r, nj);
        r = NULL;
    }
    size_t pre = o->txs / 20 < 2000 ? 2000 : o->txs / 20;
    for (size_t done = 0; done < pre; done += 2000) {
        r = bh_mix_reqs(&w, 2000, BW_NHOSP);
        nj = 2000;
        if (r == NULL || bh_send_all(ports, BW_NHOSP, r, 2000, 64, "preloading the mix") != 0)
            goto out;
        bh_free_reqs(r, nj);
        r = NULL;
        bw_committed(&w);
    }
    printf("3 hospitals (etcd) set-up over HTTP: 30 staff, %u patients, %zu tx of preload in %.1f s\n",
           o->patients, pre, bw_now() - s0);

    /* Full load on the three nodes at once. */
    double g0 = bw_now();
    r = bh_mix_reqs(&w, o->txs, BW_NHOSP);
    nj = o->txs;
    if (r != NULL && o->batch > 0)
        r = bh_batch_reqs(r, o->txs, o->batch, &nj);
    if (r == NULL)
        goto out;
    printf("3 hospitals (etcd): pre-signed %zu tx of the mix in %.1f s\n", o->txs, bw_now() - g0);
    st = calloc(o->txs, sizeof *st);
    lat = calloc(o->txs, sizeof *lat);
    if (st == NULL || lat == NULL)
        goto out;
    long long before = -1;
    bh_node_status(ports[0], NULL, NULL, 0, &before);
    bh_engine e;
    if (bh_open(&e, ports, BW_NHOSP, conns) != 0) {
        bh_close(&e);
        goto out;
    }
    double cpu0[3], cpu1[3];
    cluster_cpu(nodes, cpu0);
    double el = bh_run(&e, r, nj, 0, st, lat);
    cluster_cpu(nodes, cpu1);
    bh_close(&e);
    char load[64];
    loadavg(load, sizeof load);
    /* Committed per node: the node of each item's request. */
    size_t per[BW_NHOSP] = {0};
    for (size_t j = 0; j < nj; j++) {
        size_t first = r[j].batch ? r[j].first : j, items = r[j].batch ? r[j].items : 1;
        for (size_t i = first; i < first + items && i < o->txs; i++)
            if ((st[i] == 200 || st[i] == 422) && r[j].node >= 0 && r[j].node < BW_NHOSP)
                per[r[j].node]++;
    }
    size_t ok, rejected = 0;
    double p50, p99;
    bh_stats(st, lat, o->txs, 200, 422, &ok, &p50, &p99);
    for (size_t i = 0; i < o->txs; i++)
        rejected += st[i] == 422;
    char summary[256];
    bh_status_summary(st, o->txs, summary, sizeof summary);
    double tps = (double)ok / el;
    if (o->batch > 0 && ok == 0 && st[0] == 404) {
        fprintf(stderr, "loadgen: the nodes answer 404 to POST /v1/txs: they have no batch submit\n");
        rc = 3;
        goto out;
    }

    long long height = -1, chain = -1;
    char head[80];
    double waited = 0;
    printf("3 hospitals (etcd) full load (%d connections per node, %s): %zu tx sent in %.2f s, "
           "answers: %s; committed at %s %zu, %s %zu, %s %zu\n",
           conns, mode, o->txs, el, summary, nodes[0].id, per[0], nodes[1].id, per[1],
           nodes[2].id, per[2]);
    printf("3 hospitals (etcd) commit latency (%s): p50 %.1f ms, p99 %.1f ms\n", mode, p50, p99);
    printf("3 hospitals (etcd) load average at the end of the load: %s; CPU used during the "
           "load (%.1f s x %ld cores): 3 parchad %.1f s, 3 etcd %.1f s, loadgen %.1f s\n",
           load, el, sysconf(_SC_NPROCESSORS_ONLN), cpu1[0] - cpu0[0], cpu1[1] - cpu0[1],
           cpu1[2] - cpu0[2]);
    if (wait_same_head(nodes, &height, head, sizeof head, &chain, &waited) != 0)
        goto out;
    printf("3 hospitals (etcd) same chain on all 3 nodes: height %lld, head %.16s..., %lld tx "
           "(%lld in the load; converged %.2f s after it)\n",
           height, head, chain, before >= 0 ? chain - before : -1, waited);
    long long holds[BW_NHOSP], held[BW_NHOSP];
    bool have_flow = true;
    for (int i = 0; i < BW_NHOSP; i++)
        have_flow = have_flow && bh_node_flow(ports[i], &holds[i], &held[i]) == 0;
    if (have_flow)
        printf("3 hospitals (etcd) flow control (%s): proposer holds %lld / %lld / %lld, held %.1f / %.1f / "
               "%.1f s at %s / %s / %s\n",
               mode, holds[0], holds[1], holds[2], held[0] / 1000.0, held[1] / 1000.0, held[2] / 1000.0,
               nodes[0].id, nodes[1].id, nodes[2].id);
    printf("3 hospitals (etcd) committed tx/s (%s): %.0f (%.2f of the signature-check limit; "
           "%zu of them 422)\n",
           mode, tps, tps / vr2, rejected);
    rc = 0;
out:
    bh_free_reqs(r, nj);
    free(st);
    free(lat);
    free(txs);
    free(route);
    bw_close(&w);
    for (int h = 0; h < BW_NHOSP; h++)
        pc_key_wipe(&w.hosp[h]);
    if (rc == 0 || rc == 3) {
        if (!o->keep) {
            devnet_down(1);
        } else {
            devnet_down(0);
            fprintf(stderr, "loadgen: devnet stopped, folder kept in %s\n", g_dir);
        }
    } else {
        devnet_down(0);
        show_logs(nodes_known ? nodes : NULL);
        if (!o->keep) {
            run_wait(g_down_purge);
            fprintf(stderr, "loadgen: failed; devnet stopped and removed (--keep keeps %s)\n", g_dir);
        } else {
            fprintf(stderr, "loadgen: failed; devnet stopped, its folder kept in %s\n", g_dir);
        }
    }
    return rc;
}
