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
 * The client is one thread with epoll and plain sockets (no HTTP library), so
 * it takes as little of the machine's CPU from the node as it can.
 *
 *   loadgen --parchad PATH [--quick] [--txs N] [--conns C] [--patients P]
 *           [--records R] [--reads N] [--half-seconds S] [--dir DIR] [--keep]
 *           [--node-arg ARG]... */
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
#include "parcha/encode.h"
#include "parcha/healthid.h"
#include "parcha/httpsig.h"
#include "parcha/keyfile.h"

/* ------------------------------------------------------------------------ */
/* A minimal HTTP/1.1 client over epoll                                      */

/* One request: method and path, optional extra header lines (each ending in
 * \r\n), optional body. */
typedef struct hreq {
    const char *method;
    char *path;
    char *headers;
    char *body;
    size_t blen;
} hreq;

typedef struct conn {
    int fd;
    int busy;
    size_t job;
    double t0;
    char *out;
    size_t olen, ocap, sent;
    char *in;
    size_t ilen, icap;
} conn;

typedef struct engine {
    int port;
    int ep;
    conn *c;
    int n;
    char *last_body; /* body of the last completed response (malloc'd) */
    size_t last_len;
} engine;

static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 4096;
    while (nc < need)
        nc *= 2;
    char *p = realloc(*buf, nc);
    if (p == NULL)
        return -1;
    *buf = p;
    *cap = nc;
    return 0;
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static int conn_open(engine *e, conn *c)
{
    c->fd = dial(e->port);
    if (c->fd < 0)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    return epoll_ctl(e->ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void conn_close(engine *e, conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(e->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->ilen = 0;
}

static int engine_open(engine *e, int port, int n)
{
    memset(e, 0, sizeof *e);
    e->port = port;
    e->ep = epoll_create1(0);
    e->c = calloc((size_t)n, sizeof *e->c);
    if (e->ep < 0 || e->c == NULL)
        return -1;
    e->n = n;
    for (int i = 0; i < n; i++) {
        e->c[i].fd = -1;
        if (conn_open(e, &e->c[i]) != 0) {
            fprintf(stderr, "loadgen: cannot connect to 127.0.0.1:%d: %s\n", port,
                    strerror(errno));
            return -1;
        }
    }
    return 0;
}

static void engine_close(engine *e)
{
    for (int i = 0; i < e->n; i++) {
        conn_close(e, &e->c[i]);
        free(e->c[i].out);
        free(e->c[i].in);
    }
    free(e->c);
    free(e->last_body);
    if (e->ep >= 0)
        close(e->ep);
    memset(e, 0, sizeof *e);
}

/* Try to write the rest of c's request. 0 ok (maybe partial), -1 broken. */
static int conn_flush(engine *e, conn *c)
{
    while (c->sent < c->olen) {
        ssize_t k = write(c->fd, c->out + c->sent, c->olen - c->sent);
        if (k < 0 && errno == EAGAIN) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
            epoll_ctl(e->ep, EPOLL_CTL_MOD, c->fd, &ev);
            return 0;
        }
        if (k <= 0)
            return -1;
        c->sent += (size_t)k;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(e->ep, EPOLL_CTL_MOD, c->fd, &ev);
    return 0;
}

static int conn_send(engine *e, conn *c, const hreq *r, size_t job, double t0)
{
    if (c->fd < 0 && conn_open(e, c) != 0)
        return -1;
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s", r->method, r->path,
                      r->headers ? r->headers : "",
                      r->body ? "Content-Type: application/json\r\n" : "");
    char cl[64];
    int cll = snprintf(cl, sizeof cl, "Content-Length: %zu\r\n\r\n", r->body ? r->blen : 0);
    if (hl < 0 || (size_t)hl >= sizeof head || cll < 0)
        return -1;
    if (grow(&c->out, &c->ocap, (size_t)hl + (size_t)cll + r->blen) != 0)
        return -1;
    memcpy(c->out, head, (size_t)hl);
    memcpy(c->out + hl, cl, (size_t)cll);
    if (r->body)
        memcpy(c->out + hl + cll, r->body, r->blen);
    c->olen = (size_t)hl + (size_t)cll + (r->body ? r->blen : 0);
    c->sent = 0;
    c->busy = 1;
    c->job = job;
    c->t0 = t0;
    c->ilen = 0;
    return conn_flush(e, c);
}

/* Find header `name` (case-insensitive) in the header block [h, end). */
static const char *find_header(const char *h, const char *end, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = h; p + nl < end; p++) {
        if ((p == h || p[-1] == '\n') && strncasecmp(p, name, nl) == 0 && p[nl] == ':')
            return p + nl + 1;
    }
    return NULL;
}

/* Is a complete response in c->in? Returns 1 with *status, *body, *blen (body
 * inside c->in for Content-Length; decoded in place for chunked), 0 if more
 * is needed, -1 if malformed. */
static int parse_response(conn *c, int *status, const char **body, size_t *blen, int *close_after)
{
    if (c->ilen < 12)
        return 0;
    char *hend = NULL;
    for (size_t i = 3; i < c->ilen; i++)
        if (c->in[i - 3] == '\r' && c->in[i - 2] == '\n' && c->in[i - 1] == '\r' &&
            c->in[i] == '\n') {
            hend = c->in + i + 1;
            break;
        }
    if (hend == NULL)
        return 0;
    if (strncmp(c->in, "HTTP/1.", 7) != 0)
        return -1;
    *status = atoi(c->in + 9);
    const char *conn_h = find_header(c->in, hend, "Connection");
    *close_after = conn_h != NULL && strncasecmp(conn_h + strspn(conn_h, " "), "close", 5) == 0;
    const char *cl = find_header(c->in, hend, "Content-Length");
    const char *te = find_header(c->in, hend, "Transfer-Encoding");
    size_t have = c->ilen - (size_t)(hend - c->in);
    if (cl != NULL) {
        size_t n = (size_t)strtoull(cl, NULL, 10);
        if (have < n)
            return 0;
        *body = hend;
        *blen = n;
        return 1;
    }
    if (te != NULL && strncasecmp(te + strspn(te, " "), "chunked", 7) == 0) {
        /* Walk the chunks; decode in place once all are here. */
        const char *p = hend, *end = c->in + c->ilen;
        for (;;) {
            const char *eol = memchr(p, '\n', (size_t)(end - p));
            if (eol == NULL)
                return 0;
            size_t n = (size_t)strtoull(p, NULL, 16);
            if (n == 0) {
                if (end - eol - 1 < 2)
                    return 0;
                break;
            }
            if ((size_t)(end - eol - 1) < n + 2)
                return 0;
            p = eol + 1 + n + 2;
        }
        char *w = hend;
        p = hend;
        for (;;) {
            const char *eol = memchr(p, '\n', (size_t)(end - p));
            size_t n = (size_t)strtoull(p, NULL, 16);
            if (n == 0)
                break;
            memmove(w, eol + 1, n);
            w += n;
            p = eol + 1 + n + 2;
        }
        *body = hend;
        *blen = (size_t)(w - hend);
        return 1;
    }
    /* No length: the body ends when the server closes (not expected). */
    *body = hend;
    *blen = have;
    *close_after = 1;
    return 0;
}

/* Run jobs over e's connections. rate == 0: closed loop (each connection sends
 * its next job as soon as its answer arrives). rate > 0: job i is due at
 * start + i/rate and latency counts from that time. status[i] gets the HTTP
 * status (-1 on a broken connection), lat[i] seconds. Returns the elapsed time
 * from the first send to the last answer. */
static double engine_run(engine *e, const hreq *jobs, size_t n, double rate, int *status,
                         double *lat)
{
    size_t next = 0, done = 0;
    double start = bw_now();
    struct epoll_event evs[256];
    while (done < n) {
        double now = bw_now();
        /* Hand due jobs to idle connections. */
        for (int i = 0; i < e->n && next < n; i++) {
            conn *c = &e->c[i];
            if (c->busy)
                continue;
            double due = rate > 0 ? start + (double)next / rate : now;
            if (due > now)
                break;
            if (conn_send(e, c, &jobs[next], next, rate > 0 ? due : now) != 0) {
                status[next] = -1;
                lat[next] = 0;
                conn_close(e, c);
                c->busy = 0;
                done++;
            }
            next++;
        }
        int timeout = 100;
        if (rate > 0 && next < n) {
            double due = start + (double)next / rate - bw_now();
            timeout = due <= 0 ? 0 : (int)(due * 1000) + 1;
            if (timeout > 100)
                timeout = 100;
        }
        int k = epoll_wait(e->ep, evs, 256, timeout);
        for (int j = 0; j < k; j++) {
            conn *c = evs[j].data.ptr;
            if (c->fd < 0)
                continue;
            if ((evs[j].events & EPOLLOUT) && conn_flush(e, c) != 0) {
                status[c->job] = -1;
                lat[c->job] = bw_now() - c->t0;
                conn_close(e, c);
                c->busy = 0;
                done++;
                continue;
            }
            if (!(evs[j].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            for (;;) {
                if (grow(&c->in, &c->icap, c->ilen + 65536) != 0)
                    break;
                ssize_t r = read(c->fd, c->in + c->ilen, c->icap - c->ilen);
                if (r > 0) {
                    c->ilen += (size_t)r;
                    continue;
                }
                if (r < 0 && errno == EAGAIN)
                    break;
                /* closed or failed */
                if (c->busy) {
                    status[c->job] = -1;
                    lat[c->job] = bw_now() - c->t0;
                    c->busy = 0;
                    done++;
                }
                conn_close(e, c);
                break;
            }
            if (c->fd < 0 || !c->busy)
                continue;
            int st = 0, close_after = 0;
            const char *body = NULL;
            size_t blen = 0;
            int pr = parse_response(c, &st, &body, &blen, &close_after);
            if (pr == 0)
                continue;
            status[c->job] = pr == 1 ? st : -1;
            lat[c->job] = bw_now() - c->t0;
            if (pr == 1) {
                free(e->last_body);
                e->last_body = malloc(blen + 1);
                if (e->last_body != NULL) {
                    memcpy(e->last_body, body, blen);
                    e->last_body[blen] = '\0';
                    e->last_len = blen;
                }
            }
            c->busy = 0;
            c->ilen = 0;
            done++;
            if (close_after || pr < 0)
                conn_close(e, c);
        }
    }
    return bw_now() - start;
}

/* One request on a fresh single connection; status or -1. */
static int http_once(int port, const hreq *r, char **body)
{
    engine e;
    int st = -1;
    double lat;
    if (engine_open(&e, port, 1) == 0) {
        engine_run(&e, r, 1, 0, &st, &lat);
        if (body != NULL) {
            *body = e.last_body;
            e.last_body = NULL;
        }
    }
    engine_close(&e);
    return st;
}

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
            hreq r = {"GET", (char *)"/v1/status", NULL, NULL, 0};
            if (http_once(nd->port, &r, NULL) == 200)
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

static void free_reqs(hreq *r, size_t n)
{
    for (size_t i = 0; r != NULL && i < n; i++) {
        free(r[i].body);
        free(r[i].headers);
        if (r[i].path != NULL && strcmp(r[i].method, "GET") == 0)
            free(r[i].path);
    }
    free(r);
}

/* POST /v1/tx requests for txs (freed here). */
static hreq *tx_reqs(pc_tx *txs, size_t n)
{
    hreq *r = calloc(n ? n : 1, sizeof *r);
    for (size_t i = 0; r != NULL && i < n; i++) {
        r[i].method = "POST";
        r[i].path = (char *)"/v1/tx";
        r[i].body = pc_tx_to_json(&txs[i], &r[i].blen);
        pc_tx_free(&txs[i]);
        if (r[i].body == NULL) {
            free_reqs(r, i);
            return NULL;
        }
    }
    return r;
}

/* Send reqs closed-loop on conns connections; every answer must be 200.
 * Returns 0, or -1 with the first failure described. */
static int send_all(int port, hreq *reqs, size_t n, int conns, const char *what)
{
    engine e;
    int *st = calloc(n ? n : 1, sizeof *st);
    double *lat = calloc(n ? n : 1, sizeof *lat);
    int rc = -1;
    if (st != NULL && lat != NULL && engine_open(&e, port, conns < (int)n ? conns : (int)n) == 0) {
        engine_run(&e, reqs, n, 0, st, lat);
        rc = 0;
        for (size_t i = 0; i < n; i++)
            if (st[i] != 200) {
                fprintf(stderr, "loadgen: %s: request %zu got HTTP %d%s%s\n", what, i, st[i],
                        e.last_body ? ": " : "", e.last_body ? e.last_body : "");
                rc = -1;
                break;
            }
    }
    engine_close(&e);
    free(st);
    free(lat);
    return rc;
}

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
            free_reqs(r, i);
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
            free_reqs(r, i);
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
            free_reqs(r, i + 1);
            return -1;
        }
    }
    int rc = send_all(port, r, k, 16, "storing records");
    free_reqs(r, k);
    return rc;
}

/* Generate n transactions of the mix (references only to what the generator
 * was told is committed) as requests. */
static hreq *mix_reqs(bw_world *w, size_t n)
{
    pc_tx *txs = calloc(w->block_cap, sizeof *txs);
    hreq *all = calloc(n ? n : 1, sizeof *all);
    if (txs == NULL || all == NULL) {
        free(txs);
        free(all);
        return NULL;
    }
    /* Stamped 4 minutes ahead: the node accepts a time within 5 minutes of
     * its clock either way, so pre-signed transactions stay valid from 1 to
     * 9 minutes after signing, long enough for a million on a slow machine. */
    w->clock = pc_now_ms() + (n > 50000 ? 240000 : 0);
    for (size_t done = 0; done < n;) {
        size_t k = n - done < w->block_cap ? n - done : w->block_cap;
        hreq *part;
        if (bw_gen(w, txs, k, 2) != 0 || (part = tx_reqs(txs, k)) == NULL) {
            free(txs);
            free_reqs(all, done);
            return NULL;
        }
        memcpy(all + done, part, k * sizeof *part);
        free(part);
        done += k;
    }
    free(txs);
    return all;
}

/* Stats over the answers with the given status. */
static void stats(const int *st, const double *lat, size_t n, int want, size_t *count,
                  double *p50, double *p99)
{
    double *v = calloc(n ? n : 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; v != NULL && i < n; i++)
        if (st[i] == want)
            v[k++] = lat[i] * 1000;
    *count = k;
    *p50 = bw_quantile(v, k, 0.5);
    *p99 = bw_quantile(v, k, 0.99);
    free(v);
}

static void status_summary(const int *st, size_t n, char *out, size_t outlen)
{
    int codes[8] = {0}, counts[8] = {0}, nc = 0;
    for (size_t i = 0; i < n; i++) {
        int j = 0;
        while (j < nc && codes[j] != st[i])
            j++;
        if (j == nc && nc < 8)
            codes[nc++] = st[i];
        if (j < nc)
            counts[j]++;
    }
    size_t used = 0;
    out[0] = '\0';
    for (int j = 0; j < nc && used < outlen; j++) {
        int k = snprintf(out + used, outlen - used, "%s%d x%d", j ? ", " : "", codes[j], counts[j]);
        if (k < 0)
            break;
        used += (size_t)k;
    }
}

/* The node's committed transaction count from GET /v1/status. */
static long long node_txs(int port)
{
    hreq r = {"GET", (char *)"/v1/status", NULL, NULL, 0};
    char *body = NULL;
    long long v = -1;
    if (http_once(port, &r, &body) == 200 && body != NULL) {
        json_error_t je;
        json_t *j = json_loads(body, 0, &je);
        v = json_integer_value(json_object_get(j, "txs"));
        json_decref(j);
    }
    free(body);
    return v;
}

/* ------------------------------------------------------------------------ */

typedef struct opts {
    const char *parchad, *dir;
    size_t txs, reads, timeline;
    int conns;
    uint32_t patients, records;
    double half_s;
    int keep;
    char *extra[32];
    int nextra;
} opts;

static int parse(int argc, char **argv, opts *o)
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
        } else if (v == NULL) {
            return -1;
        } else if (strcmp(a, "--parchad") == 0) {
            o->parchad = v, i++;
        } else if (strcmp(a, "--dir") == 0) {
            o->dir = v, i++;
        } else if (strcmp(a, "--txs") == 0) {
            o->txs = strtoull(v, NULL, 10), i++;
        } else if (strcmp(a, "--conns") == 0) {
            o->conns = atoi(v), i++;
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
    if (o->parchad == NULL || o->txs < 100 || o->conns < 1 || o->conns > 4000 ||
        o->patients < 2 || o->records < 1 || o->reads < 1 || o->half_s <= 0)
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

int main(int argc, char **argv)
{
    opts o;
    if (parse(argc, argv, &o) != 0) {
        fprintf(stderr,
                "usage: loadgen --parchad PATH [--quick] [--txs N] [--conns C] [--patients P]\n"
                "               [--records R] [--reads N] [--half-seconds S] [--dir DIR]\n"
                "               [--keep] [--node-arg ARG]...\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/parcha-loadgen-XXXXXX";
    const char *dir = o.dir ? o.dir : mkdtemp(tmpl);
    if (dir == NULL)
        return 1;
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

    /* Staff, patients, stored records, a preload of the mix. */
    double s0 = bw_now();
    pc_tx *txs = calloc(2000, sizeof *txs);
    hreq *r = NULL;
    if (txs == NULL)
        goto out;
    for (int s = 0; s < BW_NHOSP * BW_STAFF_PER; s++)
        if (bw_staff_tx(&w, s, &txs[s]) != 0)
            goto out;
    r = tx_reqs(txs, BW_NHOSP * BW_STAFF_PER);
    if (r == NULL || send_all(nd.port, r, BW_NHOSP * BW_STAFF_PER, 30, "enrolling staff") != 0)
        goto out;
    free_reqs(r, BW_NHOSP * BW_STAFF_PER);
    r = NULL;
    for (uint32_t p = 0; p < o.patients;) {
        size_t k = 0;
        w.clock = pc_now_ms();
        for (; k < 2000 && p < o.patients; k++, p++)
            if (bw_register_tx(&w, p, &txs[k]) != 0)
                goto out;
        r = tx_reqs(txs, k);
        if (r == NULL || send_all(nd.port, r, k, o.conns, "registering patients") != 0)
            goto out;
        free_reqs(r, k);
        r = NULL;
    }
    size_t nstored = o.records < 100 ? o.records : 100;
    ids = calloc(nstored, 32);
    cust = calloc(nstored, 1);
    if (ids == NULL || cust == NULL || store_records(&w, nd.port, nstored, ids, cust) != 0)
        goto out;
    size_t pre = o.txs / 20 < 2000 ? 2000 : o.txs / 20;
    for (size_t done = 0; done < pre; done += 2000) {
        r = mix_reqs(&w, 2000);
        if (r == NULL || send_all(nd.port, r, 2000, o.conns, "preloading the mix") != 0)
            goto out;
        free_reqs(r, 2000);
        r = NULL;
        bw_committed(&w);
    }
    printf("set-up over HTTP: 30 staff, %u patients, %zu stored records, %zu tx of preload in %.1f s\n",
           o.patients, nstored, pre, bw_now() - s0);

    /* 1. Full load. */
    w.special_every = o.records > nstored ? o.txs / (o.records - nstored) : 0;
    w.made = 0;
    double g0 = bw_now();
    r = mix_reqs(&w, o.txs);
    if (r == NULL)
        goto out;
    w.special_every = 0;
    printf("pre-signed %zu tx of the mix in %.1f s\n", o.txs, bw_now() - g0);
    int *st = calloc(o.txs, sizeof *st);
    double *lat = calloc(o.txs, sizeof *lat);
    if (st == NULL || lat == NULL)
        goto out;
    long long before = node_txs(nd.port);
    engine e;
    if (engine_open(&e, nd.port, o.conns) != 0)
        goto out;
    double el = engine_run(&e, r, o.txs, 0, st, lat);
    engine_close(&e);
    if (!node_alive(&nd))
        goto out;
    long long after = node_txs(nd.port);
    size_t ok;
    double p50, p99;
    stats(st, lat, o.txs, 200, &ok, &p50, &p99);
    char summary[256];
    status_summary(st, o.txs, summary, sizeof summary);
    double tps = (double)ok / el;
    printf("full load (%d connections): %zu tx sent in %.2f s, answers: %s\n", o.conns, o.txs, el,
           summary);
    printf("committed tx/s at full load: %.0f (%.2f of the signature-check limit); node counted %lld\n",
           tps, tps / vr2, after - before);
    printf("commit latency at full load: p50 %.1f ms, p99 %.1f ms\n", p50, p99);
    free_reqs(r, o.txs);
    r = NULL;
    free(st);
    free(lat);

    /* 2. Half load, open loop. */
    double rate = tps / 2;
    size_t nh = (size_t)(rate * o.half_s);
    if (nh < 100)
        nh = 100;
    r = mix_reqs(&w, nh);
    st = calloc(nh, sizeof *st);
    lat = calloc(nh, sizeof *lat);
    if (r == NULL || st == NULL || lat == NULL)
        goto out;
    int hconns = o.conns * 2 > 2000 ? 2000 : o.conns * 2;
    if (engine_open(&e, nd.port, hconns) != 0)
        goto out;
    el = engine_run(&e, r, nh, rate, st, lat);
    engine_close(&e);
    if (!node_alive(&nd))
        goto out;
    stats(st, lat, nh, 200, &ok, &p50, &p99);
    status_summary(st, nh, summary, sizeof summary);
    printf("half load (%.0f tx/s offered, %.0f answered/s, answers: %s): commit latency p50 %.1f ms, p99 %.1f ms\n",
           rate, (double)ok / el, summary, p50, p99);
    free_reqs(r, nh);
    r = NULL;
    free(st);
    free(lat);

    /* 3. Content reads, one at a time. */
    r = calloc(o.reads, sizeof *r);
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
        if (pc_httpsig_sign(reader, "GET", path, NULL, pc_now_ms() / 1000, &si, &sg, &err) != PC_OK)
            goto out;
        size_t hl = strlen(si) + strlen(sg) + 64;
        r[i].method = "GET";
        r[i].path = strdup(path);
        r[i].headers = malloc(hl);
        if (r[i].path == NULL || r[i].headers == NULL)
            goto out;
        snprintf(r[i].headers, hl, "Signature-Input: %s\r\nSignature: %s\r\n", si, sg);
        free(si);
        free(sg);
    }
    if (engine_open(&e, nd.port, 1) != 0)
        goto out;
    engine_run(&e, r, o.reads, 0, st, lat);
    engine_close(&e);
    stats(st, lat, o.reads, 200, &ok, &p50, &p99);
    status_summary(st, o.reads, summary, sizeof summary);
    printf("record content read at the API (signed, access.log committed; answers: %s): p50 %.2f ms, p99 %.2f ms\n",
           summary, p50, p99);
    free_reqs(r, o.reads);
    r = NULL;
    free(st);
    free(lat);

    /* 4. Timeline. */
    char hid[PC_HEALTHID_LEN + 1], tpath[96];
    pc_healthid_from_key(w.pat[0].pk, hid);
    snprintf(tpath, sizeof tpath, "/v1/patients/%s/timeline", hid);
    r = calloc(o.timeline, sizeof *r);
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
    if (engine_open(&e, nd.port, 1) != 0)
        goto out;
    engine_run(&e, r, o.timeline, 0, st, lat);
    size_t nrec = 0;
    for (const char *p = e.last_body; p != NULL && (p = strstr(p, "\"hi_type\"")) != NULL; p++)
        nrec++;
    size_t tbytes = e.last_len;
    engine_close(&e);
    stats(st, lat, o.timeline, 200, &ok, &p50, &p99);
    long long chain = node_txs(nd.port);
    printf("timeline of %zu records (%zu bytes) at the API, chain of %lld tx: p50 %.2f ms, p99 %.2f ms\n",
           nrec, tbytes, chain, p50, p99);
    free_reqs(r, o.timeline);
    r = NULL;
    free(st);
    free(lat);

    /* 5. Memory and restart. */
    printf("parchad memory with %lld tx: VmRSS %.1f MB, peak VmHWM %.1f MB\n", chain,
           (double)proc_kib(nd.pid, "VmRSS") / 1024, (double)proc_kib(nd.pid, "VmHWM") / 1024);
    double stop = node_stop(&nd);
    ready = node_start(&nd);
    if (ready < 0)
        goto out;
    printf("parchad stop %.2f s; restart to ready with %lld tx: %.2f s; VmRSS after restart %.1f MB\n",
           stop, chain, ready, (double)proc_kib(nd.pid, "VmRSS") / 1024);
    printf("single-node committed tx/s: %.0f\n", tps);
    rc = 0;
out:
    free(txs);
    free(ids);
    free(cust);
    if (nd.pid > 0)
        node_stop(&nd);
    bw_close(&w);
    if (rc != 0)
        fprintf(stderr, "loadgen: failed; node folder kept in %s\n", dir);
    else if (!o.keep)
        cleanup_dir(dir);
    return rc;
}
