/* The load generator's HTTP client (bench_http.h). */
#include "bench_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <jansson.h>

#include "bench_common.h"

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

static int conn_open(bh_engine *e, bh_conn *c)
{
    c->fd = dial(e->port[c->node]);
    if (c->fd < 0)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    return epoll_ctl(e->ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void conn_close(bh_engine *e, bh_conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(e->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->ilen = 0;
}

static int open_engine(bh_engine *e, const int *ports, int nnodes, int conns, int verbose)
{
    memset(e, 0, sizeof *e);
    e->ep = -1;
    if (nnodes < 1 || nnodes > BH_MAX_NODES || conns < 1)
        return -1;
    e->nnodes = nnodes;
    for (int k = 0; k < nnodes; k++)
        e->port[k] = ports[k];
    e->ep = epoll_create1(0);
    e->c = calloc((size_t)nnodes * (size_t)conns, sizeof *e->c);
    if (e->ep < 0 || e->c == NULL)
        return -1;
    /* Interleaved (node 0, 1, 2, 0, 1, ...) so that no node's connections
     * are always served first. */
    for (int i = 0; i < nnodes * conns; i++) {
        bh_conn *c = &e->c[e->n++];
        c->fd = -1;
        c->node = i % nnodes;
        if (conn_open(e, c) != 0) {
            if (verbose)
                fprintf(stderr, "loadgen: cannot connect to 127.0.0.1:%d: %s\n",
                        e->port[c->node], strerror(errno));
            return -1;
        }
    }
    return 0;
}

int bh_open(bh_engine *e, const int *ports, int nnodes, int conns)
{
    return open_engine(e, ports, nnodes, conns, 1);
}

void bh_close(bh_engine *e)
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
    e->ep = -1;
}

/* Try to write the rest of c's request. 0 ok (maybe partial), -1 broken. */
static int conn_flush(bh_engine *e, bh_conn *c)
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

static int conn_send(bh_engine *e, bh_conn *c, const hreq *r, size_t job, double t0)
{
    if (c->fd < 0 && conn_open(e, c) != 0)
        return -1;
    char head[512];
    int hl = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s", r->method,
                      r->path, r->headers ? r->headers : "",
                      r->body ? "Content-Type: application/json\r\n" : "");
    char cl[64];
    int cll = snprintf(cl, sizeof cl, "Content-Length: %zu\r\n\r\n", r->body ? r->blen : 0);
    if (hl < 0 || (size_t)hl >= sizeof head || cll < 0)
        return -1;
    size_t bl = r->body ? r->blen : 0;
    if (grow(&c->out, &c->ocap, (size_t)hl + (size_t)cll + bl) != 0)
        return -1;
    memcpy(c->out, head, (size_t)hl);
    memcpy(c->out + hl, cl, (size_t)cll);
    if (r->body)
        memcpy(c->out + hl + cll, r->body, bl);
    c->olen = (size_t)hl + (size_t)cll + bl;
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
static int parse_response(bh_conn *c, int *status, const char **body, size_t *blen,
                          int *close_after)
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

/* The HTTP status POST /v1/tx answers with for an error code (the batch
 * contract uses the same slugs). */
static int code_status(const char *code)
{
    static const struct {
        const char *code;
        int status;
    } MAP[] = {{"rejected", 422},    {"duplicate", 409},   {"bad_signature", 401},
               {"denied", 403},      {"not_found", 404},   {"too_big", 413},
               {"unavailable", 503}, {"timeout", 504},     {"bad_json", 400},
               {"bad_field", 400},   {"unknown_field", 400}, {"non_integral", 400},
               {"wrong_network", 400}, {"time_window", 400}};
    for (size_t i = 0; code != NULL && i < sizeof MAP / sizeof MAP[0]; i++)
        if (strcmp(code, MAP[i].code) == 0)
            return MAP[i].status;
    return 500;
}

/* Fill the items of batch job r from its answer. */
static void batch_results(const hreq *r, int http, const char *body, size_t blen, double l,
                          int *status, double *lat)
{
    json_t *j = NULL, *res = NULL;
    if (http == 200) {
        json_error_t je;
        j = json_loadb(body, blen, 0, &je);
        res = json_object_get(j, "results");
    }
    for (size_t i = 0; i < r->items; i++) {
        int st = http == 200 ? -1 : http;
        json_t *it = json_array_get(res, i);
        if (it != NULL) {
            json_t *err = json_object_get(it, "error");
            const char *s = json_string_value(json_object_get(it, "status"));
            if (err != NULL)
                st = code_status(json_string_value(json_object_get(err, "code")));
            else if (s != NULL && strcmp(s, "committed") == 0)
                st = 200;
            else if (s != NULL && strcmp(s, "pending") == 0)
                st = 202;
        }
        status[r->first + i] = st;
        lat[r->first + i] = l;
    }
    json_decref(j);
}

/* A job ended: status http (-1 broken), body if any. */
static void job_done(const hreq *jobs, size_t job, int http, const char *body, size_t blen,
                     double l, int *status, double *lat)
{
    const hreq *r = &jobs[job];
    if (r->batch) {
        batch_results(r, http, body, blen, l, status, lat);
    } else {
        status[job] = http;
        lat[job] = l;
    }
}

double bh_run(bh_engine *e, const hreq *jobs, size_t n, double rate, int *status, double *lat)
{
    /* Each node's jobs, in order. */
    size_t *order = calloc(n ? n : 1, sizeof *order);
    size_t next[BH_MAX_NODES], end[BH_MAX_NODES];
    if (order == NULL) {
        for (size_t i = 0; i < n; i++)
            job_done(jobs, i, -1, NULL, 0, 0, status, lat);
        return 0;
    }
    size_t at = 0;
    for (int k = 0; k < e->nnodes; k++) {
        next[k] = at;
        for (size_t i = 0; i < n; i++)
            if (jobs[i].node == k || (k == 0 && (jobs[i].node < 0 || jobs[i].node >= e->nnodes)))
                order[at++] = i;
        end[k] = at;
    }
    size_t done = 0;
    double start = bw_now();
    struct epoll_event evs[256];
    while (done < n) {
        double now = bw_now();
        /* Hand due jobs to idle connections. */
        for (int i = 0; i < e->n; i++) {
            bh_conn *c = &e->c[i];
            int k = c->node;
            if (c->busy || next[k] >= end[k])
                continue;
            size_t job = order[next[k]];
            double due = rate > 0 ? start + (double)job / rate : now;
            if (due > now)
                continue;
            if (conn_send(e, c, &jobs[job], job, rate > 0 ? due : now) != 0) {
                job_done(jobs, job, -1, NULL, 0, 0, status, lat);
                conn_close(e, c);
                c->busy = 0;
                done++;
            }
            next[k]++;
        }
        int timeout = 100;
        if (rate > 0) {
            for (int k = 0; k < e->nnodes; k++) {
                if (next[k] >= end[k])
                    continue;
                double due = start + (double)order[next[k]] / rate - bw_now();
                int t = due <= 0 ? 0 : (int)(due * 1000) + 1;
                if (t < timeout)
                    timeout = t;
            }
        }
        int got = epoll_wait(e->ep, evs, 256, timeout);
        for (int j = 0; j < got; j++) {
            bh_conn *c = evs[j].data.ptr;
            if (c->fd < 0)
                continue;
            if ((evs[j].events & EPOLLOUT) && conn_flush(e, c) != 0) {
                if (c->busy) {
                    job_done(jobs, c->job, -1, NULL, 0, bw_now() - c->t0, status, lat);
                    done++;
                }
                conn_close(e, c);
                c->busy = 0;
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
                    job_done(jobs, c->job, -1, NULL, 0, bw_now() - c->t0, status, lat);
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
            double l = bw_now() - c->t0;
            job_done(jobs, c->job, pr == 1 ? st : -1, body, blen, l, status, lat);
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
    free(order);
    return bw_now() - start;
}

int bh_once(int port, const hreq *r, char **body)
{
    bh_engine e;
    int st = -1;
    double lat;
    hreq one = *r;
    one.node = 0;
    one.batch = 0;
    if (body != NULL)
        *body = NULL;
    if (open_engine(&e, &port, 1, 1, 0) == 0) {
        bh_run(&e, &one, 1, 0, &st, &lat);
        if (body != NULL) {
            *body = e.last_body;
            e.last_body = NULL;
        }
    }
    bh_close(&e);
    return st;
}

int bh_send_all(const int *ports, int nnodes, hreq *reqs, size_t n, int conns, const char *what)
{
    bh_engine e;
    memset(&e, 0, sizeof e);
    e.ep = -1;
    size_t items = 0;
    for (size_t i = 0; i < n; i++)
        items += reqs[i].batch ? reqs[i].items : 1;
    int *st = calloc(items ? items : 1, sizeof *st);
    double *lat = calloc(items ? items : 1, sizeof *lat);
    int rc = -1;
    if (conns > (int)n)
        conns = (int)n;
    if (conns < 1)
        conns = 1;
    if (st != NULL && lat != NULL && bh_open(&e, ports, nnodes, conns) == 0) {
        bh_run(&e, reqs, n, 0, st, lat);
        rc = 0;
        for (size_t i = 0; i < items; i++)
            if (st[i] != 200) {
                fprintf(stderr, "loadgen: %s: item %zu got HTTP %d%s%.2000s\n", what, i, st[i],
                        e.last_body ? "; last answer: " : "", e.last_body ? e.last_body : "");
                rc = -1;
                break;
            }
    }
    bh_close(&e);
    free(st);
    free(lat);
    return rc;
}

void bh_free_reqs(hreq *r, size_t n)
{
    for (size_t i = 0; r != NULL && i < n; i++) {
        free(r[i].body);
        free(r[i].headers);
        if (r[i].path != NULL && strcmp(r[i].method, "GET") == 0)
            free(r[i].path);
    }
    free(r);
}

hreq *bh_tx_reqs(pc_tx *txs, size_t n, const uint8_t *route)
{
    hreq *r = calloc(n ? n : 1, sizeof *r);
    for (size_t i = 0; r != NULL && i < n; i++) {
        r[i].method = "POST";
        r[i].path = (char *)"/v1/tx";
        r[i].node = route != NULL ? route[i] : 0;
        r[i].body = pc_tx_to_json(&txs[i], &r[i].blen);
        pc_tx_free(&txs[i]);
        if (r[i].body == NULL) {
            for (size_t j = i + 1; j < n; j++)
                pc_tx_free(&txs[j]);
            bh_free_reqs(r, i);
            return NULL;
        }
    }
    return r;
}

hreq *bh_batch_reqs(hreq *single, size_t n, size_t per, size_t *nout)
{
    int nnodes = 0;
    for (size_t i = 0; i < n; i++)
        if (single[i].node + 1 > nnodes)
            nnodes = single[i].node + 1;
    size_t cap = n / (per ? per : 1) + (size_t)nnodes + 1, nb = 0, item = 0;
    hreq *b = calloc(cap, sizeof *b);
    if (b == NULL || per < 1 || nnodes > BH_MAX_NODES) {
        free(b);
        bh_free_reqs(single, n);
        return NULL;
    }
    size_t *idx = calloc(per, sizeof *idx);
    int ok = idx != NULL;
    for (int k = 0; ok && k < nnodes; k++) {
        size_t i = 0;
        while (ok) {
            /* The next up-to-per items of node k. */
            size_t m = 0, len = 10;
            for (; i < n && m < per; i++)
                if (single[i].node == k) {
                    idx[m++] = i;
                    len += single[i].blen + 1;
                }
            if (m == 0)
                break;
            if (len > BH_MAX_BODY) {
                fprintf(stderr, "loadgen: a batch of %zu transactions is %zu bytes, over the "
                                "node's 1 MiB limit; use a smaller --batch\n", m, len);
                ok = 0;
                break;
            }
            char *body = malloc(len + 1);
            if (body == NULL || nb >= cap) {
                free(body);
                ok = 0;
                break;
            }
            size_t at = 0;
            memcpy(body, "{\"txs\":[", 8);
            at = 8;
            for (size_t j = 0; j < m; j++) {
                if (j > 0)
                    body[at++] = ',';
                memcpy(body + at, single[idx[j]].body, single[idx[j]].blen);
                at += single[idx[j]].blen;
            }
            body[at++] = ']';
            body[at++] = '}';
            body[at] = '\0';
            b[nb] = (hreq){"POST", (char *)"/v1/txs", NULL, body, at, k, 1, item, m};
            item += m;
            nb++;
        }
    }
    free(idx);
    bh_free_reqs(single, n);
    if (!ok) {
        bh_free_reqs(b, nb);
        return NULL;
    }
    *nout = nb;
    return b;
}

void bh_stats(const int *st, const double *lat, size_t n, int want, int want2, size_t *count,
              double *p50, double *p99)
{
    double *v = calloc(n ? n : 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; v != NULL && i < n; i++)
        if (st[i] == want || (want2 != 0 && st[i] == want2))
            v[k++] = lat[i] * 1000;
    *count = k;
    *p50 = bw_quantile(v, k, 0.5);
    *p99 = bw_quantile(v, k, 0.99);
    free(v);
}

void bh_status_summary(const int *st, size_t n, char *out, size_t outlen)
{
    int codes[8] = {0};
    size_t counts[8] = {0};
    int nc = 0;
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
        int k = snprintf(out + used, outlen - used, "%s%d x%zu", j ? ", " : "", codes[j],
                         counts[j]);
        if (k < 0)
            break;
        used += (size_t)k;
    }
}

/* GET /v1/status, parsed (NULL when the node does not answer 200 JSON). */
static json_t *node_status_json(int port)
{
    hreq r = {"GET", (char *)"/v1/status", NULL, NULL, 0, 0, 0, 0, 0};
    char *body = NULL;
    json_t *j = NULL;
    if (bh_once(port, &r, &body) == 200 && body != NULL) {
        json_error_t je;
        j = json_loads(body, 0, &je);
    }
    free(body);
    return j;
}

int bh_node_status(int port, long long *height, char *head, size_t headlen, long long *txs)
{
    json_t *j = node_status_json(port);
    if (j == NULL)
        return -1;
    if (height != NULL)
        *height = json_integer_value(json_object_get(j, "height"));
    if (txs != NULL)
        *txs = json_integer_value(json_object_get(j, "txs"));
    if (head != NULL && headlen > 0) {
        const char *h = json_string_value(json_object_get(j, "head"));
        snprintf(head, headlen, "%s", h != NULL ? h : "");
    }
    json_decref(j);
    return 0;
}

int bh_node_flow(int port, long long *holds, long long *held_ms)
{
    json_t *j = node_status_json(port);
    json_t *f = json_object_get(json_object_get(j, "ordering"), "flow_control");
    int rc = -1;
    if (json_is_object(f)) {
        *holds = json_integer_value(json_object_get(f, "holds"));
        *held_ms = json_integer_value(json_object_get(f, "held_ms"));
        rc = 0;
    }
    json_decref(j);
    return rc;
}

hreq *bh_mix_reqs(bw_world *w, size_t n, int nnodes)
{
    pc_tx *txs = calloc(w->block_cap, sizeof *txs);
    uint8_t *route = calloc(w->block_cap, 1);
    hreq *all = calloc(n ? n : 1, sizeof *all);
    if (txs == NULL || route == NULL || all == NULL) {
        free(txs);
        free(route);
        free(all);
        return NULL;
    }
    /* Stamped 4 minutes ahead: the node accepts a time within 5 minutes of
     * its clock either way, so pre-signed transactions stay valid from 1 to
     * 9 minutes after signing, long enough for a million on a slow machine. */
    w->clock = pc_now_ms() + (n > 50000 ? 240000 : 0);
    w->route = nnodes > 1 ? route : NULL;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < w->block_cap ? n - done : w->block_cap;
        hreq *part;
        if (bw_gen(w, txs, k, 2) != 0 ||
            (part = bh_tx_reqs(txs, k, nnodes > 1 ? route : NULL)) == NULL) {
            w->route = NULL;
            free(txs);
            free(route);
            bh_free_reqs(all, done);
            return NULL;
        }
        memcpy(all + done, part, k * sizeof *part);
        free(part);
        done += k;
    }
    w->route = NULL;
    free(txs);
    free(route);
    return all;
}
