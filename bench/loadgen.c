/* loadgen: drives a real parchad over HTTP and measures what a client sees.
 *
 * It makes its own node folder (the benchmark network of bench_common.h: the
 * three hospitals' key files with passphrase files, genesis.bin, node.json for
 * one solo node hosting all three), starts parchad on a free port (waiting on
 * DIR/parchad.port), enrols staff, registers patients, stores a set of real
 * encrypted records through POST /v1/records, and then:
 *
 *   1. full load: pre-signed transactions of the mix (mostly record.add, plus
 *      consent.grant/revoke and access.log) sent with POST /v1/tx (which
 *      answers once committed) over C concurrent keep-alive connections, each
 *      with one request in flight; committed tx/s and commit latency p50/p99;
 *   2. half load: the same mix offered open-loop at half the rate just
 *      measured; commit latency p50/p99 measured from each request's scheduled
 *      time (so a stalled node is not hidden by a stalled client);
 *   3. record content reads: GET /v1/records/{id}/content signed with RFC 9421
 *      (httpsig.h) by a doctor of the custodian, one at a time; p50/p99;
 *   4. timeline: GET /v1/patients/{health id}/timeline of the patient who has R
 *      records spread over the whole chain; p50/p99;
 *   5. parchad's resident memory (VmRSS, VmHWM), then SIGTERM and a restart:
 *      time from exec to the first answered GET /v1/status.
 *
 * The client (bench_http.c) is one thread with epoll and plain sockets (no
 * HTTP library), so it takes as little of the machine's CPU from the node as
 * it can. Only 200 counts as committed here.
 *
 * --batch N: the full and half loads send POST /v1/txs with N pre-signed
 * transactions per request (/work/briefs/batch_contract.md; per-item results
 * counted; --conns then defaults to 8); exit status 3 if the node answers 404
 * to it. Every figure line names its mode ("1 tx per request" or "batches of
 * N"); the last line is "single-node committed tx/s: N" in the default mode
 * and "single-node committed tx/s (batches of N): N" with --batch.
 * --full-only stops after the full load (no half load, reads, timeline,
 * memory or restart). --cluster 3: see loadgen_cluster.c.
 *
 *   loadgen --parchad PATH [--quick] [--txs N] [--conns C] [--patients P]
 *           [--records R] [--reads N] [--half-seconds S] [--dir DIR] [--keep]
 *           [--node-arg ARG]... [--batch N] [--full-only]
 *   loadgen --cluster 3 --parcha PATH --parchad PATH [--etcd PATH] [--txs N]
 *           [--conns C per node] [--patients P] [--batch N] [--dir DIR] [--keep] */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sodium.h>

#include "bench_common.h"
#include "bench_http.h"
#include "loadgen_cluster.h"
#include "parcha/encode.h"
#include "parcha/healthid.h"
#include "parcha/httpsig.h"
#include "parcha/keyfile.h"

/* ------------------------------------------------------------------------ */
/* The node folder and the node process                                      */

static int write_node_dir(bw_world *w, const char *dir)
{
    char path[512];
    pc_error err;
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/keys", dir);
    mkdir(path, 0700);
    static const char *const NAMES[BW_NHOSP] = {"City Hospital", "Sunrise Clinic",
                                                "District Hospital"};
    for (int h = 0; h < BW_NHOSP; h++) {
        uint8_t raw[18];
        char pass[32];
        pc_random(raw, sizeof raw);
        pc_b64_encode(pass, sizeof pass, raw, sizeof raw);
        snprintf(path, sizeof path, "%s/keys/%s.pass", dir, BW_HOSP_ID[h]);
        if (pc_file_write(path, pass, strlen(pass), 0600, &err) != PC_OK)
            goto fail;
        snprintf(path, sizeof path, "%s/keys/%s.key", dir, BW_HOSP_ID[h]);
        /* Interactive Argon2id, as `parcha init` writes them: the node opens
         * these at every start, so the restart figure includes it. */
        if (pc_keyfile_write(path, &w->hosp[h], NAMES[h], pass, strlen(pass),
                             PC_KDF_INTERACTIVE, &err) != PC_OK)
            goto fail;
        sodium_memzero(pass, sizeof pass);
    }
    pc_tx g;
    if (bw_genesis_tx(w, &g) != 0)
        return -1;
    pc_proposal p;
    if (pc_proposal_make(&p, BW_NET, BW_HOSP_ID[0], 0, w->clock, &g, 1, &w->hosp[0], &err) !=
        PC_OK)
        goto fail;
    pc_buf wire;
    pc_buf_init(&wire);
    int rc = pc_proposal_encode(&p, &wire);
    pc_proposal_free(&p);
    snprintf(path, sizeof path, "%s/genesis.bin", dir);
    if (rc != PC_OK || pc_file_write(path, wire.data, wire.len, 0644, &err) != PC_OK) {
        pc_buf_free(&wire);
        goto fail;
    }
    pc_buf_free(&wire);
    static const char NODE[] =
        "{\"network\": \"" BW_NET "\", \"hospital\": \"city\","
        " \"hosted\": [\"city\", \"sunrise\", \"district\"],"
        " \"listen\": \"127.0.0.1:0\", \"orderer\": \"solo\"}\n";
    snprintf(path, sizeof path, "%s/node.json", dir);
    if (pc_file_write(path, NODE, strlen(NODE), 0644, &err) != PC_OK)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "loadgen: cannot write the node folder: %s\n", err.msg);
    return -1;
}

typedef struct node {
    const char *parchad;
    const char *dir;
    char *const *extra;
    int nextra;
    pid_t pid;
    int port;
} node;

/* Start parchad and wait until GET /v1/status answers; returns seconds from
 * exec to ready, or -1. */
static double node_start(node *nd)
{
    char portfile[512], logfile[512];
    snprintf(portfile, sizeof portfile, "%s/parchad.port", nd->dir);
    snprintf(logfile, sizeof logfile, "%s/parchad.log", nd->dir);
    unlink(portfile);
    double t0 = bw_now();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        char *argv[64];
        int a = 0;
        argv[a++] = (char *)nd->parchad;
        argv[a++] = (char *)"--data";
        argv[a++] = (char *)nd->dir;
        argv[a++] = (char *)"--listen";
        argv[a++] = (char *)"127.0.0.1:0";
        for (int i = 0; i < nd->nextra && a < 62; i++)
            argv[a++] = nd->extra[i];
        argv[a] = NULL;
        execv(nd->parchad, argv);
        _exit(127);
    }
    nd->pid = pid;
    nd->port = 0;
    for (;;) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "loadgen: parchad exited during start-up; see %s\n", logfile);
            nd->pid = 0;
            return -1;
        }
        if (bw_now() - t0 > 120) {
            fprintf(stderr, "loadgen: parchad not ready after 120 s; see %s\n", logfile);
            return -1;
        }
        if (nd->port == 0) {
            FILE *f = fopen(portfile, "r");
            if (f != NULL) {
                if (fscanf(f, "%d", &nd->port) != 1)
                    nd->port = 0;
                fclose(f);
            }
        }
        if (nd->port > 0) {
            hreq r = {"GET", (char *)"/v1/status", NULL, NULL, 0, 0, 0, 0, 0};
            if (bh_once(nd->port, &r, NULL) == 200)
                return bw_now() - t0;
        }
        usleep(2000);
    }
}

/* False (and the node's log tail on stderr) if parchad has exited. */
static int node_alive(node *nd)
{
    int st;
    if (nd->pid > 0 && waitpid(nd->pid, &st, WNOHANG) == 0)
        return 1;
    char cmd[600];
    fprintf(stderr, "loadgen: parchad has exited; the end of its log:\n");
    snprintf(cmd, sizeof cmd, "tail -20 '%s/parchad.log' >&2", nd->dir);
    if (strchr(nd->dir, '\'') == NULL && system(cmd) != 0)
        fprintf(stderr, "(no log)\n");
    nd->pid = 0;
    return 0;
}

/* SIGTERM and wait; returns seconds to exit, or -1. */
static double node_stop(node *nd)
{
    if (nd->pid <= 0)
        return -1;
    double t0 = bw_now();
    kill(nd->pid, SIGTERM);
    int st;
    for (;;) {
        pid_t r = waitpid(nd->pid, &st, WNOHANG);
        if (r == nd->pid)
            break;
        if (bw_now() - t0 > 60) {
            kill(nd->pid, SIGKILL);
            waitpid(nd->pid, &st, 0);
            nd->pid = 0;
            return -1;
        }
        usleep(2000);
    }
    nd->pid = 0;
    return bw_now() - t0;
}

static long proc_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t fl = strlen(field);
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, fl) == 0 && line[fl] == ':')
            v = strtol(line + fl + 1, NULL, 10);
    if (f != NULL)
        fclose(f);
    return v;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                  */

/* Stored records for reading: K record.add of patient 0 through
 * POST /v1/records, with real encrypted content. ids receive their ids. */
static int store_records(bw_world *w, int port, size_t k, char (*ids)[32], uint8_t *custodian)
{
    static const char FHIR[] =
        "{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[{"
        "\"system\":\"http://loinc.org\",\"code\":\"2339-0\",\"display\":\"Glucose\"}]},"
        "\"subject\":{\"reference\":\"Patient/benchmark\"},\"effectiveDateTime\":"
        "\"2024-03-15\",\"valueQuantity\":{\"value\":98,\"unit\":\"mg/dL\"}}";
    hreq *r = calloc(k, sizeof *r);
    if (r == NULL)
        return -1;
    for (size_t i = 0; i < k; i++) {
        uint8_t key[32], sealed_p[PC_SEALED_KEY_LEN], sealed_c[PC_SEALED_KEY_LEN], h[32];
        int hosp = (int)(i % BW_NHOSP);
        custodian[i] = (uint8_t)hosp;
        bw_rec_id(ids[i], 1000000000ULL + i);
        pc_buf blob;
        pc_buf_init(&blob);
        if (pc_record_encrypt((const uint8_t *)FHIR, strlen(FHIR), ids[i], w->pat[0].pk, key,
                              &blob) != PC_OK ||
            pc_seal_key(key, w->pat[0].pk, sealed_p) != PC_OK ||
            pc_seal_key(key, w->hosp[hosp].pk, sealed_c) != PC_OK) {
            pc_buf_free(&blob);
            bh_free_reqs(r, i);
            return -1;
        }
        sodium_memzero(key, sizeof key);
        pc_sha256(h, blob.data, blob.len);
        char kp[64], hex[65], sp[128], sc[128];
        json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s}", "id", ids[i],
                                 "patient", pc_b64_encode(kp, sizeof kp, w->pat[0].pk, 32),
                                 "hi_type", "DiagnosticReport", "date", "2024-03-15",
                                 "hash", pc_hex_encode(hex, sizeof hex, h, 32),
                                 "size", (json_int_t)blob.len, "custodian", BW_HOSP_ID[hosp],
                                 "sealed_key", pc_b64_encode(sp, sizeof sp, sealed_p, sizeof sealed_p),
                                 "fhir", "Observation");
        json_t *u = pc_tx_build(BW_NET, "record.add", pc_now_ms(), body);
        const pc_keypair *keys[1] = {&w->staff[hosp * BW_STAFF_PER + 2]};
        pc_tx tx;
        pc_error err;
        if (u == NULL || pc_tx_sign(u, keys, 1, &tx, &err) != PC_OK) {
            json_decref(u);
            pc_buf_free(&blob);
            bh_free_reqs(r, i);
            return -1;
        }
        json_decref(u);
        char *txt = pc_tx_to_json(&tx, NULL);
        pc_tx_free(&tx);
        json_error_t je;
        json_t *txj = txt ? json_loads(txt, 0, &je) : NULL;
        free(txt);
        char *b64 = pc_b64_dup(blob.data, blob.len);
        json_t *all = json_pack("{s:o,s:s,s:s}", "tx", txj, "blob", b64 ? b64 : "",
                                "sealed_custodian",
                                pc_b64_encode(sc, sizeof sc, sealed_c, sizeof sealed_c));
        free(b64);
        pc_buf_free(&blob);
        r[i].method = "POST";
        r[i].path = (char *)"/v1/records";
        r[i].body = all ? json_dumps(all, JSON_COMPACT) : NULL;
        r[i].blen = r[i].body ? strlen(r[i].body) : 0;
        json_decref(all);
        if (r[i].body == NULL) {
            bh_free_reqs(r, i + 1);
            return -1;
        }
    }
    int rc = bh_send_all(&port, 1, r, k, 16, "storing records");
    bh_free_reqs(r, k);
    return rc;
}

/* ------------------------------------------------------------------------ */

const char *lg_mode(const lg_opts *o, char *out, size_t outlen)
{
    if (o->batch == 0)
        snprintf(out, outlen, "1 tx per request");
    else
        snprintf(out, outlen, "batches of %zu", o->batch);
    return out;
}

static int parse(int argc, char **argv, lg_opts *o)
{
    memset(o, 0, sizeof *o);
    o->txs = 200000;
    o->reads = 500;
    o->timeline = 200;
    o->conns = 256;
    o->patients = 10000;
    o->records = 1000;
    o->half_s = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            o->txs = 20000;
            o->patients = 1000;
            o->reads = 200;
            o->timeline = 50;
            o->half_s = 3;
        } else if (strcmp(a, "--keep") == 0) {
            o->keep = 1;
        } else if (strcmp(a, "--full-only") == 0) {
            o->full_only = 1;
        } else if (v == NULL) {
            return -1;
        } else if (strcmp(a, "--parchad") == 0) {
            o->parchad = v, i++;
        } else if (strcmp(a, "--parcha") == 0) {
            o->parcha = v, i++;
        } else if (strcmp(a, "--etcd") == 0) {
            o->etcd = v, i++;
        } else if (strcmp(a, "--cluster") == 0) {
            o->cluster = atoi(v), i++;
        } else if (strcmp(a, "--batch") == 0) {
            o->batch = strtoull(v, NULL, 10), i++;
            if (o->batch < 1 || o->batch > 4096)
                return -1;
        } else if (strcmp(a, "--dir") == 0) {
            o->dir = v, i++;
        } else if (strcmp(a, "--txs") == 0) {
            o->txs = strtoull(v, NULL, 10), i++;
        } else if (strcmp(a, "--conns") == 0) {
            o->conns = atoi(v), o->conns_set = 1, i++;
        } else if (strcmp(a, "--patients") == 0) {
            o->patients = (uint32_t)strtoul(v, NULL, 10), i++;
        } else if (strcmp(a, "--records") == 0) {
            o->records = (uint32_t)strtoul(v, NULL, 10), i++;
        } else if (strcmp(a, "--reads") == 0) {
            o->reads = strtoull(v, NULL, 10), i++;
        } else if (strcmp(a, "--half-seconds") == 0) {
            o->half_s = atof(v), i++;
        } else if (strcmp(a, "--node-arg") == 0 && o->nextra < 32) {
            o->extra[o->nextra++] = argv[++i];
        } else {
            return -1;
        }
    }
    /* Batches: a few requests in flight carry many transactions each. */
    if (o->batch > 0 && !o->conns_set)
        o->conns = 8;
    if (o->parchad == NULL || o->txs < 100 || o->conns < 1 || o->conns > 4000 ||
        o->patients < 2 || o->records < 1 || o->reads < 1 || o->half_s <= 0)
        return -1;
    if (o->cluster != 0 && (o->cluster != BW_NHOSP || o->parcha == NULL))
        return -1;
    return 0;
}

static int cleanup_dir(const char *dir)
{
    char cmd[600];
    if (strchr(dir, '\'') != NULL)
        return -1;
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    return system(cmd);
}

/* Requests for n transactions of the mix in o's mode; *njobs receives the
 * number of requests (n, or the number of batches). */
static hreq *mode_reqs(bw_world *w, const lg_opts *o, size_t n, int nnodes, size_t *njobs)
{
    hreq *r = bh_mix_reqs(w, n, nnodes);
    *njobs = n;
    if (r != NULL && o->batch > 0)
        r = bh_batch_reqs(r, n, o->batch, njobs);
    return r;
}

int main(int argc, char **argv)
{
    lg_opts o;
    if (parse(argc, argv, &o) != 0) {
        fprintf(stderr,
                "usage: loadgen --parchad PATH [--quick] [--txs N] [--conns C] [--patients P]\n"
                "               [--records R] [--reads N] [--half-seconds S] [--dir DIR]\n"
                "               [--keep] [--node-arg ARG]... [--batch N] [--full-only]\n"
                "       loadgen --cluster 3 --parcha PATH --parchad PATH [--etcd PATH]\n"
                "               [--txs N] [--conns C] [--patients P] [--batch N] [--dir DIR]\n"
                "               [--keep]\n"
                "--batch N (1..4096) sends POST /v1/txs with N transactions per request\n"
                "(default: one POST /v1/tx per transaction); --conns then defaults to 8.\n"
                "--cluster 3 starts `parcha devnet up --hospitals 3` (3 etcd members, 3\n"
                "parchad ordering through etcd) and drives the three nodes at once, each\n"
                "hospital's staff at their own hospital's node; --conns is per node.\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (o.cluster != 0)
        return lg_cluster(&o);
    char tmpl[] = "/tmp/parcha-loadgen-XXXXXX";
    const char *dir = o.dir ? o.dir : mkdtemp(tmpl);
    if (dir == NULL)
        return 1;
    char mode[64];
    lg_mode(&o, mode, sizeof mode);
    bw_print_machine();
    bw_world w;
    if (bw_init(&w, o.patients, 2000) != 0)
        return 1;
    double vr2 = bw_verify_rate(2, 1.5);
    printf("ed25519 verify, 2 threads: %.0f/s (signature-check limit %.0f tx/s at 1 signature/tx)\n",
           vr2, vr2);
    if (write_node_dir(&w, dir) != 0)
        return 1;
    node nd = {o.parchad, dir, o.extra, o.nextra, 0, 0};
    double ready = node_start(&nd);
    if (ready < 0)
        return 1;
    printf("parchad start to ready (empty ledger): %.2f s\n", ready);
    int rc = 1;
    char (*ids)[32] = NULL;
    uint8_t *cust = NULL;
    int *st = NULL;
    double *lat = NULL;
    size_t nj = 0;

    /* Staff, patients, stored records, a preload of the mix. */
    double s0 = bw_now();
    pc_tx *txs = calloc(2000, sizeof *txs);
    hreq *r = NULL;
    if (txs == NULL)
        goto out;
    for (int s = 0; s < BW_NHOSP * BW_STAFF_PER; s++)
        if (bw_staff_tx(&w, s, &txs[s]) != 0)
            goto out;
    r = bh_tx_reqs(txs, BW_NHOSP * BW_STAFF_PER, NULL);
    nj = BW_NHOSP * BW_STAFF_PER;
    if (r == NULL || bh_send_all(&nd.port, 1, r, BW_NHOSP * BW_STAFF_PER, 30, "enrolling staff") != 0)
        goto out;
    bh_free_reqs(r, BW_NHOSP * BW_STAFF_PER);
    r = NULL;
    for (uint32_t p = 0; p < o.patients;) {
        size_t k = 0;
        w.clock = pc_now_ms();
        for (; k < 2000 && p < o.patients; k++, p++)
            if (bw_register_tx(&w, p, &txs[k]) != 0)
                goto out;
        r = bh_tx_reqs(txs, k, NULL);
        nj = k;
        if (r == NULL || bh_send_all(&nd.port, 1, r, k, o.conns, "registering patients") != 0)
            goto out;
        bh_free_reqs(r, k);
        r = NULL;
    }
    size_t nstored = o.records < 100 ? o.records : 100;
    ids = calloc(nstored, 32);
    cust = calloc(nstored, 1);
    if (ids == NULL || cust == NULL || store_records(&w, nd.port, nstored, ids, cust) != 0)
        goto out;
    size_t pre = o.txs / 20 < 2000 ? 2000 : o.txs / 20;
    for (size_t done = 0; done < pre; done += 2000) {
        r = bh_mix_reqs(&w, 2000, 1);
        nj = 2000;
        if (r == NULL || bh_send_all(&nd.port, 1, r, 2000, o.conns, "preloading the mix") != 0)
            goto out;
        bh_free_reqs(r, 2000);
        r = NULL;
        bw_committed(&w);
    }
    printf("set-up over HTTP: 30 staff, %u patients, %zu stored records, %zu tx of preload in %.1f s\n",
           o.patients, nstored, pre, bw_now() - s0);

    /* 1. Full load. */
    w.special_every = o.records > nstored ? o.txs / (o.records - nstored) : 0;
    w.made = 0;
    double g0 = bw_now();
    r = mode_reqs(&w, &o, o.txs, 1, &nj);
    if (r == NULL)
        goto out;
    w.special_every = 0;
    printf("pre-signed %zu tx of the mix in %.1f s\n", o.txs, bw_now() - g0);
    st = calloc(o.txs, sizeof *st);
    lat = calloc(o.txs, sizeof *lat);
    if (st == NULL || lat == NULL)
        goto out;
    long long before = -1, after = -1;
    bh_node_status(nd.port, NULL, NULL, 0, &before);
    bh_engine e;
    if (bh_open(&e, &nd.port, 1, o.conns) != 0) {
        bh_close(&e);
        goto out;
    }
    double cpu0 = bw_proc_cpu(nd.pid);
    double el = bh_run(&e, r, nj, 0, st, lat);
    double cpu1 = bw_proc_cpu(nd.pid);
    bh_close(&e);
    if (!node_alive(&nd))
        goto out;
    bh_node_status(nd.port, NULL, NULL, 0, &after);
    size_t ok;
    double p50, p99;
    bh_stats(st, lat, o.txs, 200, 0, &ok, &p50, &p99);
    char summary[256];
    bh_status_summary(st, o.txs, summary, sizeof summary);
    double tps = (double)ok / el;
    if (o.batch > 0 && ok == 0 && st[0] == 404) {
        fprintf(stderr, "loadgen: the node answers 404 to POST /v1/txs: it has no batch submit\n");
        rc = 3;
        goto out;
    }
    printf("full load (%d connections, %s): %zu tx sent in %.2f s, answers: %s\n", o.conns, mode,
           o.txs, el, summary);
    printf("committed tx/s at full load (%s): %.0f (%.2f of the signature-check limit); node counted %lld\n",
           mode, tps, tps / vr2, after - before);
    printf("commit latency at full load (%s): p50 %.1f ms, p99 %.1f ms\n", mode, p50, p99);
    /* CPU per transaction moves far less with a shared machine's load than
     * tx/s does: the figure to compare before and after a change. */
    if (cpu0 >= 0 && cpu1 >= cpu0 && ok > 0)
        printf("parchad CPU at full load (%s): %.0f us per committed tx (%.1f s of CPU in %.2f s)\n",
               mode, (cpu1 - cpu0) * 1e6 / (double)ok, cpu1 - cpu0, el);
    bh_free_reqs(r, nj);
    r = NULL;
    free(st);
    free(lat);
    st = NULL;
    lat = NULL;

    if (!o.full_only) {
        /* 2. Half load, open loop. */
        double rate = tps / 2;
        size_t nh = (size_t)(rate * o.half_s);
        if (nh < 100)
            nh = 100;
        r = mode_reqs(&w, &o, nh, 1, &nj);
        st = calloc(nh, sizeof *st);
        lat = calloc(nh, sizeof *lat);
        if (r == NULL || st == NULL || lat == NULL)
            goto out;
        int hconns = o.conns * 2 > 2000 ? 2000 : o.conns * 2;
        if (bh_open(&e, &nd.port, 1, hconns) != 0) {
            bh_close(&e);
            goto out;
        }
        /* rate in requests per second: a batch is due when its first
         * transaction would be. */
        el = bh_run(&e, r, nj, rate / (double)(o.batch > 0 ? o.batch : 1), st, lat);
        bh_close(&e);
        if (!node_alive(&nd))
            goto out;
        bh_stats(st, lat, nh, 200, 0, &ok, &p50, &p99);
        bh_status_summary(st, nh, summary, sizeof summary);
        printf("half load (%s, %.0f tx/s offered, %.0f answered/s, answers: %s): commit latency p50 %.1f ms, p99 %.1f ms\n",
               mode, rate, (double)ok / el, summary, p50, p99);
        bh_free_reqs(r, nj);
        r = NULL;
        free(st);
        free(lat);
        st = NULL;
        lat = NULL;

        /* 3. Content reads, one at a time. */
        r = calloc(o.reads, sizeof *r);
        nj = o.reads;
        st = calloc(o.reads, sizeof *st);
        lat = calloc(o.reads, sizeof *lat);
        if (r == NULL || st == NULL || lat == NULL)
            goto out;
        for (size_t i = 0; i < o.reads; i++) {
            size_t k = i % nstored;
            const pc_keypair *reader = &w.staff[cust[k] * BW_STAFF_PER + 2 + i % 8];
            char path[96], *si = NULL, *sg = NULL;
            pc_error err;
            snprintf(path, sizeof path, "/v1/records/%s/content", ids[k]);
            r[i].method = "GET";
            if (pc_httpsig_sign(reader, "GET", path, NULL, pc_now_ms() / 1000, &si, &sg, &err) !=
                PC_OK)
                goto out;
            size_t hl = strlen(si) + strlen(sg) + 64;
            r[i].path = strdup(path);
            r[i].headers = malloc(hl);
            if (r[i].path == NULL || r[i].headers == NULL) {
                free(si);
                free(sg);
                goto out;
            }
            snprintf(r[i].headers, hl, "Signature-Input: %s\r\nSignature: %s\r\n", si, sg);
            free(si);
            free(sg);
        }
        if (bh_open(&e, &nd.port, 1, 1) != 0) {
            bh_close(&e);
            goto out;
        }
        bh_run(&e, r, o.reads, 0, st, lat);
        bh_close(&e);
        bh_stats(st, lat, o.reads, 200, 0, &ok, &p50, &p99);
        bh_status_summary(st, o.reads, summary, sizeof summary);
        printf("record content read at the API (signed, access.log committed; answers: %s): p50 %.2f ms, p99 %.2f ms\n",
               summary, p50, p99);
        bh_free_reqs(r, o.reads);
        r = NULL;
        free(st);
        free(lat);
        st = NULL;
        lat = NULL;

        /* 4. Timeline. */
        char hid[PC_HEALTHID_LEN + 1], tpath[96];
        pc_healthid_from_key(w.pat[0].pk, hid);
        snprintf(tpath, sizeof tpath, "/v1/patients/%s/timeline", hid);
        r = calloc(o.timeline, sizeof *r);
        nj = o.timeline;
        st = calloc(o.timeline, sizeof *st);
        lat = calloc(o.timeline, sizeof *lat);
        if (r == NULL || st == NULL || lat == NULL)
            goto out;
        for (size_t i = 0; i < o.timeline; i++) {
            r[i].method = "GET";
            r[i].path = strdup(tpath);
            if (r[i].path == NULL)
                goto out;
        }
        if (bh_open(&e, &nd.port, 1, 1) != 0) {
            bh_close(&e);
            goto out;
        }
        bh_run(&e, r, o.timeline, 0, st, lat);
        size_t nrec = 0;
        for (const char *p = e.last_body; p != NULL && (p = strstr(p, "\"hi_type\"")) != NULL; p++)
            nrec++;
        size_t tbytes = e.last_len;
        bh_close(&e);
        bh_stats(st, lat, o.timeline, 200, 0, &ok, &p50, &p99);
        long long chain = -1;
        bh_node_status(nd.port, NULL, NULL, 0, &chain);
        printf("timeline of %zu records (%zu bytes) at the API, chain of %lld tx: p50 %.2f ms, p99 %.2f ms\n",
               nrec, tbytes, chain, p50, p99);
        bh_free_reqs(r, o.timeline);
        r = NULL;
        free(st);
        free(lat);
        st = NULL;
        lat = NULL;

        /* 5. Memory and restart. */
        printf("parchad memory with %lld tx: VmRSS %.1f MB, peak VmHWM %.1f MB\n", chain,
               (double)proc_kib(nd.pid, "VmRSS") / 1024, (double)proc_kib(nd.pid, "VmHWM") / 1024);
        double stop = node_stop(&nd);
        ready = node_start(&nd);
        if (ready < 0)
            goto out;
        printf("parchad stop %.2f s; restart to ready with %lld tx: %.2f s; VmRSS after restart %.1f MB\n",
               stop, chain, ready, (double)proc_kib(nd.pid, "VmRSS") / 1024);
    }
    if (o.batch == 0)
        printf("single-node committed tx/s: %.0f\n", tps);
    else
        printf("single-node committed tx/s (%s): %.0f\n", mode, tps);
    rc = 0;
out:
    bh_free_reqs(r, nj);
    free(st);
    free(lat);
    free(txs);
    free(ids);
    free(cust);
    if (nd.pid > 0)
        node_stop(&nd);
    bw_close(&w);
    if (rc != 0 && rc != 3)
        fprintf(stderr, "loadgen: failed; node folder kept in %s\n", dir);
    else if (!o.keep)
        cleanup_dir(dir);
    return rc;
}
