/* parchad's HTTP API on libmicrohttpd (docs/api.md).
 *
 * Threading: MHD runs a pool of PC_HTTP_THREADS_PER_CORE x cores threads,
 * each with its own poll() loop over its share of the connections
 * (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, MHD_OPTION_THREAD_POOL_SIZE).
 * Not MHD_USE_EPOLL: with it, libmicrohttpd 0.9.75 (Debian 12) left a
 * request on a fresh keep-alive connection unread until the 30 s connection
 * timeout in 3 of about 12 `loadgen --quick` runs (the request never reached
 * this file's handler); with poll, none in the runs since. A pool thread
 * polls a few dozen sockets, so poll() costs next to nothing here.
 * A write (POST /v1/tx, /v1/txs, /v1/records) or a content read (which waits
 * for its access.log) does not hold its thread while the transaction is
 * verified, ordered and applied: after admission the
 * connection is suspended, each waiter's notify (node_mempool.h, called from
 * the verifier, delivery or abort path) counts its submission down, and the
 * last one resumes the connection; MHD then calls the handler again with no
 * upload and the answer is queued there. A suspended connection never times
 * out in MHD, so a timer thread resumes submissions whose 10 s deadline passed
 * (answering timeout for what is left), and pc_http_stop resumes whatever is
 * still suspended before stopping the daemon. This replaced one thread per
 * connection, whose context switches (every commit woke one thread per
 * request) cost about a quarter of the node's CPU at full load
 * (docs/performance.md).
 *
 * Trade-off: some handlers still block their pool thread, and with it every
 * other connection that thread serves: a content read of another hospital's
 * record waits for that hospital's node (up to peer_read_timeout_ms), the
 * web UI's /v1/ui/ endpoints call this node's own API over loopback HTTP
 * (served by another pool thread; a log-in also runs Argon2id), and reads
 * such as a long timeline or POST /v1/checkpoints take CPU. The pool is
 * therefore several threads per core rather than one: idle pool threads
 * cost nothing, and a few slow requests cannot stall every client.
 *
 * Request life: the URI-log callback runs first with the raw request target
 * and creates the per-request context (so routes and signatures see the path
 * and query exactly as sent); the access handler gathers the body (refusing
 * more than 1 MiB with 413), then dispatches on the route table
 * (node_route.h) once the body is complete; the completion callback frees
 * the context (and a resumed submission the client did not stay for). Every
 * response is counted by status for /metrics, and every error is JSON:
 * {"error":{"code","message"}}. A connection timeout drops clients that send
 * half a request and vanish; a connection limit and a 1 MiB body cap bound
 * what one client can take. */
#include "node/node_http.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include <sodium.h>

#include "parcha/access.h"
#include "parcha/encode.h"
#include "parcha/healthid.h"
#include "parcha/httpsig.h"
#include "parcha/jcs.h"
#include "parcha/checkpoint.h"
#include "node/node_catchup.h"
#include "node/node_checkpoint.h"
#include "node/node_log.h"
#include "node/node_peer.h"
#include "node/node_flow.h"
#include "node/node_retention.h"
#include "node/node_route.h"
#include "node/node_static.h"
#include "node/session.h"

typedef struct sub sub;

struct pc_http {
    pc_node *n;
    struct MHD_Daemon *d;
    pc_buf tls_cert, tls_key; /* PEM text for HTTPS (the key wiped at stop) */
    MHD_socket quiesced; /* listen socket handed back by quiesce; closed at stop */
    atomic_uint_fast64_t conns;

    /* Suspended submissions (see "Suspending" below). Lock order: the
     * mempool's lock, then susp_mu, then libmicrohttpd's own. */
    pthread_mutex_t susp_mu;
    pthread_cond_t timer_cv;  /* the list's head changed, or stopping */
    sub *thead, *ttail;       /* suspended, by deadline (earliest first) */
    bool stopping;            /* no new suspensions; the timer thread ends */
    bool timer_started;
    pthread_t timer;
};

typedef struct req {
    char *uri;      /* raw request target (path and query), malloc'd */
    pc_buf body;
    bool started;
    bool too_big;
    int64_t t0_ns;  /* monotonic, when the request line arrived */
    sub *s;         /* a suspended submission to answer once resumed */
} req;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                 */
/* ------------------------------------------------------------------------ */

/* Queue a response and count it. Takes ownership of resp. */
static enum MHD_Result queue(pc_http *h, struct MHD_Connection *c, unsigned status,
                             struct MHD_Response *resp)
{
    if (resp == NULL) {
        pc_node_log("error", "out of memory building an HTTP response");
        return MHD_NO;
    }
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    pc_metrics_http(pc_node_metrics(h->n), status);
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Send a malloc'd body (ownership taken). */
static enum MHD_Result send_body(pc_http *h, struct MHD_Connection *c, unsigned status,
                                 const char *ctype, char *body, size_t len,
                                 const char *hname, const char *hvalue)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return queue(h, c, status, NULL);
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (hname != NULL)
        MHD_add_response_header(resp, hname, hvalue);
    return queue(h, c, status, resp);
}

/* Send a JSON value (reference stolen). */
static enum MHD_Result send_json_h(pc_http *h, struct MHD_Connection *c, unsigned status,
                                   json_t *obj, const char *hname, const char *hvalue)
{
    char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (text == NULL) {
        const char *oom = "{\"error\":{\"code\":\"unavailable\",\"message\":\"the node is out of memory\"}}";
        text = strdup(oom);
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        if (text == NULL)
            return MHD_NO;
    }
    size_t len = strlen(text);
    return send_body(h, c, status, "application/json", text, len, hname, hvalue);
}

static enum MHD_Result send_json(pc_http *h, struct MHD_Connection *c, unsigned status,
                                 json_t *obj)
{
    return send_json_h(h, c, status, obj, NULL, NULL);
}

/* {"error":{"code":code,"message":msg, ...extra members}} (extra stolen, may be NULL). */
static json_t *error_obj(const char *code, const char *msg, json_t *extra)
{
    json_t *e = json_pack("{s:s,s:s}", "code", code, "message", msg);
    if (e != NULL && extra != NULL)
        json_object_update(e, extra);
    json_decref(extra);
    return json_pack("{s:o}", "error", e);
}

static enum MHD_Result send_error(pc_http *h, struct MHD_Connection *c, unsigned status,
                                  const char *code, const char *fmt, ...) PC_PRINTF(5, 6);
static enum MHD_Result send_error(pc_http *h, struct MHD_Connection *c, unsigned status,
                                  const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (status == MHD_HTTP_INTERNAL_SERVER_ERROR)
        pc_node_log("error", "HTTP %u %s: %s", status, code, msg);
    return send_json(h, c, status, error_obj(code, msg, NULL));
}

/* Map a ledger/query error to an HTTP answer. */
static enum MHD_Result send_pc_error(pc_http *h, struct MHD_Connection *c, int code,
                                     const pc_error *err)
{
    const char *msg = err->msg[0] ? err->msg : pc_strerror(code);
    switch (code) {
    case PC_ENOTFOUND: return send_error(h, c, MHD_HTTP_NOT_FOUND, "not_found", "%s", msg);
    case PC_EINVAL: return send_error(h, c, MHD_HTTP_BAD_REQUEST, "bad_field", "%s", msg);
    case PC_EUNAVAIL: return send_error(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "%s", msg);
    default: return send_error(h, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "%s", msg);
    }
}

/* ------------------------------------------------------------------------ */
/* Small parsers                                                             */
/* ------------------------------------------------------------------------ */

/* Strict decimal uint64 (no sign, no spaces, at most 19 digits). */
static bool parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > 19)
        return false;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return true;
}

static const char *query_arg(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/* Optional numeric query argument in [lo, hi]; false (and a 400 sent by the
 * caller) if present but malformed. */
static bool query_u64(struct MHD_Connection *c, const char *name, uint64_t lo, uint64_t hi,
                      uint64_t def, uint64_t *out)
{
    const char *v = query_arg(c, name);
    if (v == NULL) {
        *out = def;
        return true;
    }
    return parse_u64(v, out) && *out >= lo && *out <= hi;
}

static void hex32(char out[65], const uint8_t in[32])
{
    pc_hex_encode_public(out, 65, in, 32);
}

/* Split the raw URI into path (copied into path[]) and query (pointer into
 * uri after '?', or NULL). */
static bool split_uri(const char *uri, char *path, size_t pathlen, const char **query)
{
    const char *q = strchr(uri, '?');
    size_t len = q ? (size_t)(q - uri) : strlen(uri);
    if (len == 0 || len >= pathlen)
        return false;
    memcpy(path, uri, len);
    path[len] = '\0';
    *query = q ? q + 1 : NULL;
    return true;
}

/* Find a non-integral number anywhere in v; writes its JSON pointer. */
static bool find_nonintegral(const json_t *v, char *path, size_t cap, size_t used,
                             double *value)
{
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d != floor(d)) {
            *value = d;
            return true;
        }
        return false;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m) {
            int w = snprintf(path + used, cap - used, "/%s", k);
            size_t nu = (w < 0 || (size_t)w >= cap - used) ? used : used + (size_t)w;
            if (find_nonintegral(m, path, cap, nu, value))
                return true;
            path[used] = '\0';
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int w = snprintf(path + used, cap - used, "/%zu", i);
            size_t nu = (w < 0 || (size_t)w >= cap - used) ? used : used + (size_t)w;
            if (find_nonintegral(json_array_get(v, i), path, cap, nu, value))
                return true;
            path[used] = '\0';
        }
    }
    return false;
}

/* ------------------------------------------------------------------------ */
/* Submissions: POST /v1/tx, /v1/txs and /v1/records, and the access.log of  */
/* a content read, all go through the same parse, admission and answer code  */
/* ------------------------------------------------------------------------ */

#define PC_HTTP_BATCH_MAX 4096 /* most transactions in one POST /v1/txs */
/* How long a submission waits for its commit (a build may shorten it to try
 * the timeout path by hand: -DPC_HTTP_COMMIT_TIMEOUT_MS=500). */
#ifndef PC_HTTP_COMMIT_TIMEOUT_MS
#define PC_HTTP_COMMIT_TIMEOUT_MS PC_NODE_COMMIT_TIMEOUT_MS
#endif
/* libmicrohttpd pool threads per core; see the top of the file for why more
 * than one. */
#ifndef PC_HTTP_THREADS_PER_CORE
#define PC_HTTP_THREADS_PER_CORE 4
#endif

/* Why a transaction was refused before or at admission: the status and slug
 * POST /v1/tx answers with, and a sentence for the client. */
typedef struct refusal {
    unsigned status; /* 0 = not refused */
    const char *code; /* static string */
    char msg[512];
} refusal;

static void refuse(refusal *rf, unsigned status, const char *code, const char *fmt, ...)
    PC_PRINTF(4, 5);
static void refuse(refusal *rf, unsigned status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rf->msg, sizeof rf->msg, fmt, ap);
    va_end(ap);
    rf->status = status;
    rf->code = code;
}

/* Answer a refusal on its own (the single-transaction routes). txid (hex) is
 * added to the error for the slugs whose answer has always carried it
 * (duplicate, timeout); NULL when unknown. */
static enum MHD_Result send_refusal(pc_http *h, struct MHD_Connection *c, const refusal *rf,
                                    const char *txid)
{
    json_t *extra = NULL;
    if (txid != NULL && (strcmp(rf->code, "duplicate") == 0 || strcmp(rf->code, "timeout") == 0))
        extra = json_pack("{s:s}", "txid", txid);
    if (rf->status == MHD_HTTP_INTERNAL_SERVER_ERROR)
        pc_node_log("error", "HTTP %u %s: %s", rf->status, rf->code, rf->msg);
    return send_json(h, c, rf->status, error_obj(rf->code, rf->msg, extra));
}

typedef struct parse_fail {
    unsigned status;
    const char *code;
    pc_admit_reason reason;
} parse_fail;

/* Classify a failed pc_tx_parse_obj for the error slug. */
static parse_fail classify_tx_error(int rc, const pc_error *err)
{
    if (rc == PC_ETOOBIG || rc == PC_ENOMEM)
        return (parse_fail){MHD_HTTP_CONTENT_TOO_LARGE, "too_big", PC_AR_TOO_BIG};
    if (strstr(err->msg, "unknown field") != NULL)
        return (parse_fail){MHD_HTTP_BAD_REQUEST, "unknown_field", PC_AR_UNKNOWN_FIELD};
    if (strstr(err->msg, "non-integral") != NULL)
        return (parse_fail){MHD_HTTP_BAD_REQUEST, "non_integral", PC_AR_NON_INTEGRAL};
    return (parse_fail){MHD_HTTP_BAD_REQUEST, "bad_field", PC_AR_BAD_FIELD};
}

/* Parse a transaction object in client form. Returns true with *tx filled;
 * otherwise *rf says why and the refusal is counted in the metrics. prefix
 * names the object's place in the body for messages ("" or "tx."). */
static bool parse_tx_obj(pc_http *h, const json_t *obj, const char *prefix, pc_tx *tx, refusal *rf)
{
    pc_metrics *m = pc_node_metrics(h->n);
    pc_error err;
    pc_error_clear(&err);
    int rc = pc_tx_parse_obj(obj, tx, &err);
    if (rc != PC_OK) {
        /* Canonical JSON refuses non-integral numbers, so a transaction that
         * parsed has none: look for one (to name it) only on failure. */
        char path[256] = "";
        double d = 0;
        if (find_nonintegral(obj, path, sizeof path, 0, &d)) {
            pc_metrics_admission_reject(m, PC_AR_NON_INTEGRAL);
            refuse(rf, MHD_HTTP_BAD_REQUEST, "non_integral",
                   "%snon-integral number %.17g at %s: signed JSON carries integers only", prefix, d,
                   path[0] ? path : "/");
            return false;
        }
        parse_fail f = classify_tx_error(rc, &err);
        pc_metrics_admission_reject(m, f.reason);
        refuse(rf, f.status, f.code, "%s%s", prefix, err.msg);
        return false;
    }
    return true;
}

/* Parse the request body as JSON, answering 400 bad_json on failure. */
static bool parse_body_json(pc_http *h, struct MHD_Connection *c, req *r, json_t **out,
                            enum MHD_Result *ret)
{
    pc_error err;
    pc_error_clear(&err);
    if (r->body.len == 0) {
        pc_metrics_admission_reject(pc_node_metrics(h->n), PC_AR_BAD_JSON);
        *ret = send_error(h, c, MHD_HTTP_BAD_REQUEST, "bad_json", "the request body is empty; send a JSON object");
        return false;
    }
    if (pc_json_parse((const char *)r->body.data, r->body.len, out, &err) != PC_OK) {
        pc_metrics_admission_reject(pc_node_metrics(h->n), PC_AR_BAD_JSON);
        *ret = send_error(h, c, MHD_HTTP_BAD_REQUEST, "bad_json", "%s", err.msg);
        return false;
    }
    return true;
}

/* ?wait=0|1 (also false|true; absent = 1). False if malformed. */
static bool wait_param(struct MHD_Connection *c, bool *wait)
{
    const char *wv = query_arg(c, "wait");
    *wait = true;
    if (wv == NULL || strcmp(wv, "1") == 0 || strcmp(wv, "true") == 0)
        return true;
    if (strcmp(wv, "0") == 0 || strcmp(wv, "false") == 0) {
        *wait = false;
        return true;
    }
    return false;
}

/* One transaction of a submission: refused before it reached the mempool
 * (rf.status != 0), or admitted, with its waiter attached to the mempool
 * until the waiter's state is final or it is detached. */
typedef struct sub_item {
    pc_mp_waiter w;
    refusal rf;
    bool admitted;
    bool has_txid; /* false only when the item did not parse */
    char txid[65];
} sub_item;

/* A submission: the transactions of one request, waited for together with one
 * deadline. Heap-allocated so the waiters outlive any wait: a suspended
 * submission belongs to its connection's req and is freed when answered or
 * when the connection ends. */
struct sub {
    pc_http *h;
    bool batch;          /* POST /v1/txs: answer with one result per item */
    bool wait;           /* wait for the commit (else for the signature check) */
    size_t n;
    sub_item *items;     /* n of them */
    size_t nadmitted;
    int64_t t0_ns;       /* request arrival, for the commit latency */
    int64_t deadline_ms; /* monotonic; set when the last item was admitted */

    /* Suspension, under h->susp_mu. pending counts admitted items whose
     * notify has not run (it goes below 0 while items are still being
     * admitted). Whoever sets claimed resumes the connection, exactly once:
     * the last notify, the timer thread, or pc_http_stop. */
    struct MHD_Connection *c;
    long pending;
    bool suspended;
    bool claimed;
    bool in_list;
    bool grace;          /* deadline already extended once for the orderer */
    sub *tprev, *tnext;  /* h's list of suspended submissions */

    /* A content read: its one item is the access.log, and this is the answer
     * (record, blob, re-sealed key) to send once that commits with verdict
     * ok, and only then. NULL for the write routes. */
    json_t *content;
};

/* The waiters have no state the mempool can still touch: never admitted,
 * final, or detached. */
static void sub_free(sub *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        pc_mp_waiter_destroy(&s->items[i].w);
    json_decref(s->content);
    free(s->items);
    free(s);
}

static pc_mp_notify_fn sub_notify;

/* A submission of n items (n >= 1), or NULL when out of memory. The items'
 * waiters call sub_notify when final (sub_finish suspends the connection
 * meanwhile). */
static sub *sub_new(pc_http *h, size_t n, bool batch, bool wait, int64_t t0_ns)
{
    sub *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->items = calloc(n, sizeof *s->items);
    if (s->items == NULL) {
        free(s);
        return NULL;
    }
    s->h = h;
    s->batch = batch;
    s->wait = wait;
    s->t0_ns = t0_ns;
    for (; s->n < n; s->n++) {
        pc_mp_waiter *w = &s->items[s->n].w;
        if (pc_mp_waiter_init(w) != PC_OK) {
            sub_free(s);
            return NULL;
        }
        w->notify = sub_notify;
        w->notify_arg = s;
        w->notify_min = wait ? PC_MP_COMMITTED : PC_MP_QUEUED;
    }
    return s;
}

/* Admit item i's transaction (consumed in every case). On refusal the item
 * records the answer POST /v1/tx gives and the reason is counted. */
static void sub_admit(sub *s, size_t i, pc_tx *tx)
{
    pc_node *n = s->h->n;
    sub_item *it = &s->items[i];
    hex32(it->txid, tx->txid);
    it->has_txid = true;
    pc_error err;
    pc_error_clear(&err);
    pc_admit_reason reason = PC_AR_UNAVAILABLE;
    if (pc_node_admit(n, tx, &it->w, &reason, &err) == PC_OK) {
        it->admitted = true;
        s->nadmitted++;
        return;
    }
    pc_tx_free(tx);
    pc_metrics_admission_reject(pc_node_metrics(n), reason);
    switch (reason) {
    case PC_AR_WRONG_NETWORK:
    case PC_AR_TIME_WINDOW:
        refuse(&it->rf, MHD_HTTP_BAD_REQUEST, pc_admit_reason_name(reason), "%s", err.msg);
        break;
    case PC_AR_DUPLICATE:
        refuse(&it->rf, MHD_HTTP_CONFLICT, "duplicate", "%s", err.msg);
        break;
    default:
        refuse(&it->rf, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "%s", err.msg);
        break;
    }
}

/* Parse item i from obj and admit it. */
static void sub_parse_admit(sub *s, size_t i, const json_t *obj, const char *prefix)
{
    pc_tx tx;
    if (parse_tx_obj(s->h, obj, prefix, &tx, &s->items[i].rf))
        sub_admit(s, i, &tx);
}

/* The state an admitted item must reach before it can be answered. */
static int sub_target(const sub *s)
{
    return s->wait ? PC_MP_COMMITTED : PC_MP_QUEUED;
}

/* One item's result in the form of POST /v1/txs (docs/api.md); *status is
 * what POST /v1/tx answers for it alone. Called once per item when the
 * submission is answered: a committed item is counted in the commit latency.
 * NULL when out of memory. */
static json_t *item_result(const sub *s, const sub_item *it, unsigned *status)
{
    const pc_mp_waiter *w = &it->w;
    int state = it->admitted ? w->state : PC_MP_NONE;
    const refusal *rf = &it->rf;
    refusal late;
    json_t *o = it->has_txid ? json_pack("{s:s}", "txid", it->txid) : json_object();
    if (o == NULL)
        return NULL;
    if (!it->admitted) {
        /* refused before the mempool: rf is set */
    } else if (state == PC_MP_FAILED) {
        if (w->fail_code == PC_ECRYPTO)
            refuse(&late, MHD_HTTP_UNAUTHORIZED, "bad_signature", "%s", w->fail_msg);
        else
            refuse(&late, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "%s", w->fail_msg);
        rf = &late;
    } else if (state < sub_target(s)) {
        refuse(&late, MHD_HTTP_GATEWAY_TIMEOUT, "timeout", "%s",
               s->wait ? "the transaction was not committed in time (10 s); it may still commit: "
                         "check GET /v1/tx/{txid}"
                       : "the signatures were not checked within 10 s; the node is overloaded");
        json_object_set_new(o, "status", json_string("pending"));
        rf = &late;
    } else if (!s->wait) {
        *status = MHD_HTTP_ACCEPTED;
        json_object_set_new(o, "status", json_string("pending"));
        return o;
    } else {
        char block[65];
        hex32(block, w->block);
        pc_hist_observe(&pc_node_metrics(s->h->n)->commit_latency, mono_ns() - s->t0_ns);
        json_object_set_new(o, "status", json_string("committed"));
        json_object_set_new(o, "height", json_integer((json_int_t)w->height));
        json_object_set_new(o, "index", json_integer((json_int_t)w->index));
        json_object_set_new(o, "verdict", json_string(pc_verdict_name(w->verdict)));
        json_object_set_new(o, "block", json_string(block));
        if (w->verdict == PC_V_OK) {
            *status = MHD_HTTP_OK;
            return o;
        }
        refuse(&late, MHD_HTTP_UNPROCESSABLE_CONTENT, "rejected",
               "the transaction was committed but rejected by the ledger rules: %s",
               pc_verdict_name(w->verdict));
        rf = &late;
    }
    *status = rf->status;
    json_object_set_new(o, "error", json_pack("{s:s,s:s}", "code", rf->code, "message", rf->msg));
    return o;
}

/* Answer a submission of one transaction exactly as POST /v1/tx always has:
 * 200 / 202 with the result, 422 with the result and the error, or the
 * error alone (with the txid for duplicate and timeout). */
static enum MHD_Result send_single(pc_http *h, struct MHD_Connection *c, const sub *s)
{
    unsigned status = MHD_HTTP_SERVICE_UNAVAILABLE;
    json_t *o = item_result(s, &s->items[0], &status);
    if (o == NULL)
        return send_error(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "out of memory");
    json_t *e = json_object_get(o, "error");
    if (e == NULL) {
        if (status == MHD_HTTP_OK)
            json_object_del(o, "status");
        return send_json(h, c, status, o);
    }
    json_incref(e);
    json_object_del(o, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    if (status == MHD_HTTP_UNPROCESSABLE_CONTENT) {
        json_object_set(e, "verdict", json_object_get(o, "verdict"));
        json_object_del(o, "status");
        json_object_set_new(o, "error", e);
        return send_json(h, c, status, o);
    }
    if (code != NULL && (strcmp(code, "duplicate") == 0 || strcmp(code, "timeout") == 0) &&
        json_object_get(o, "txid") != NULL)
        json_object_set(e, "txid", json_object_get(o, "txid"));
    json_decref(o);
    return send_json(h, c, status, json_pack("{s:o}", "error", e));
}

/* Append v in decimal. */
static int append_u64(pc_buf *b, uint64_t v)
{
    char d[24];
    size_t n = sizeof d;
    do {
        d[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    return pc_buf_append(b, d + n, sizeof d - n);
}

/* The result of an item committed with verdict ok, written straight to text
 * (the same members, in the same order, as item_result builds): a batch of
 * 500 answered through a jansson tree and json_dumps cost ~6 us per item,
 * ~6% of the node's CPU at full load. Every value is hex, a verdict name
 * or an integer, so nothing needs escaping. */
static int append_committed(pc_buf *b, const sub_item *it)
{
    const pc_mp_waiter *w = &it->w;
    char block[65];
    hex32(block, w->block);
    int rc = pc_buf_append_str(b, "{\"txid\":\"");
    rc |= pc_buf_append_str(b, it->txid);
    rc |= pc_buf_append_str(b, "\",\"status\":\"committed\",\"height\":");
    rc |= append_u64(b, w->height);
    rc |= pc_buf_append_str(b, ",\"index\":");
    rc |= append_u64(b, w->index);
    rc |= pc_buf_append_str(b, ",\"verdict\":\"");
    rc |= pc_buf_append_str(b, pc_verdict_name(w->verdict));
    rc |= pc_buf_append_str(b, "\",\"block\":\"");
    rc |= pc_buf_append_str(b, block);
    rc |= pc_buf_append_str(b, "\"}");
    return rc == PC_OK ? PC_OK : PC_ENOMEM;
}

/* Answer a batch: 200 {"results":[...], "committed", "failed"}. */
static enum MHD_Result send_batch(pc_http *h, struct MHD_Connection *c, const sub *s)
{
    pc_buf b;
    pc_buf_init(&b);
    size_t committed = 0, failed = 0;
    int rc = pc_buf_append_str(&b, "{\"results\":[");
    int64_t now = mono_ns();
    for (size_t i = 0; rc == PC_OK && i < s->n; i++) {
        const sub_item *it = &s->items[i];
        if (i > 0)
            rc = pc_buf_append(&b, ",", 1);
        if (rc != PC_OK)
            break;
        if (s->wait && it->admitted && it->has_txid && it->w.state == PC_MP_COMMITTED &&
            it->w.verdict == PC_V_OK) {
            pc_hist_observe(&pc_node_metrics(h->n)->commit_latency, now - s->t0_ns);
            rc = append_committed(&b, it);
            committed++;
            continue;
        }
        unsigned status = 0; /* anything else: rare, through jansson */
        json_t *o = item_result(s, it, &status);
        char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        if (json_object_get(o, "error") != NULL)
            failed++;
        else if (status == MHD_HTTP_OK)
            committed++;
        json_decref(o);
        rc = text != NULL ? pc_buf_append_str(&b, text) : PC_ENOMEM;
        free(text);
    }
    if (rc == PC_OK)
        rc = pc_buf_printf(&b, "],\"committed\":%zu,\"failed\":%zu}", committed, failed);
    if (rc != PC_OK) {
        pc_buf_free(&b);
        return send_error(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "out of memory");
    }
    /* send_body takes a malloc'd body: hand over the buffer's storage. */
    size_t len = b.len;
    char *body = (char *)b.data;
    b.data = NULL;
    pc_buf_free(&b);
    return send_body(h, c, MHD_HTTP_OK, "application/json", body, len, NULL, NULL);
}

/* Answer a content read (s->content) once its access.log is final: the
 * content only if the access.log committed with verdict ok. */
static enum MHD_Result send_content(pc_http *h, struct MHD_Connection *c, sub *s)
{
    const sub_item *it = &s->items[0];
    if (!it->admitted || it->w.state != PC_MP_COMMITTED)
        return send_single(h, c, s);
    if (it->w.verdict != PC_V_OK) {
        const char *rid = json_string_value(json_object_get(json_object_get(s->content, "record"), "id"));
        pc_node_log("error", "access.log for record %s was rejected by the ledger (%s); content withheld",
                    rid != NULL ? rid : "?", pc_verdict_name(it->w.verdict));
        return send_error(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                          "the read could not be recorded on the chain (%s), so the content is withheld",
                          pc_verdict_name(it->w.verdict));
    }
    json_t *o = s->content;
    s->content = NULL;
    return send_json(h, c, MHD_HTTP_OK, o);
}

/* Answer a submission whose items are all final, refused or detached, and
 * free it. */
static enum MHD_Result sub_answer(pc_http *h, struct MHD_Connection *c, sub *s)
{
    enum MHD_Result ret;
    if (s->content != NULL)
        ret = send_content(h, c, s);
    else
        ret = s->batch ? send_batch(h, c, s) : send_single(h, c, s);
    sub_free(s);
    return ret;
}

/* ------------------------------------------------------------------------ */
/* Suspending: no pool thread sleeps while a transaction is being committed  */
/* ------------------------------------------------------------------------ */

/* Insert s into h's deadline list, keeping it sorted (nearly always at the
 * tail: every deadline is "now + 10 s"). Caller holds susp_mu. */
static void timer_insert(pc_http *h, sub *s)
{
    sub *after = h->ttail;
    while (after != NULL && after->deadline_ms > s->deadline_ms)
        after = after->tprev;
    s->tprev = after;
    s->tnext = after != NULL ? after->tnext : h->thead;
    if (s->tnext != NULL)
        s->tnext->tprev = s;
    else
        h->ttail = s;
    if (after != NULL)
        after->tnext = s;
    else
        h->thead = s;
    s->in_list = true;
    if (h->thead == s)
        pthread_cond_signal(&h->timer_cv);
}

/* Caller holds susp_mu. */
static void timer_unlink(pc_http *h, sub *s)
{
    if (!s->in_list)
        return;
    if (s->tprev != NULL)
        s->tprev->tnext = s->tnext;
    else
        h->thead = s->tnext;
    if (s->tnext != NULL)
        s->tnext->tprev = s->tprev;
    else
        h->ttail = s->tprev;
    s->tprev = s->tnext = NULL;
    s->in_list = false;
}

/* A waiter of s reached its target state (pc_mp_waiter.notify: under the
 * mempool's lock; the waiter is already unhooked). The last one resumes the
 * connection; after MHD_resume_connection s may be answered and freed by a
 * pool thread at any moment, so nothing here touches it afterwards. */
static void sub_notify(void *arg, pc_mp_waiter *w)
{
    (void)w;
    sub *s = arg;
    pc_http *h = s->h;
    pthread_mutex_lock(&h->susp_mu);
    s->pending--;
    if (s->pending == 0 && s->suspended && !s->claimed) {
        s->claimed = true;
        timer_unlink(h, s);
        MHD_resume_connection(s->c);
    }
    pthread_mutex_unlock(&h->susp_mu);
}

/* Unhook every admitted waiter of s that is not final yet. */
static void sub_detach(sub *s)
{
    pc_mempool *mp = pc_node_mempool(s->h->n);
    for (size_t i = 0; i < s->n; i++)
        if (s->items[i].admitted)
            pc_mempool_detach(mp, &s->items[i].w);
}

/* The deadline of s (claimed by the caller, off the list) passed. If an item
 * is in the orderer's hands, give it PC_NODE_SUBMIT_GRACE_MS once (so that an
 * orderer that gives up is answered with its reason, a 503, rather than a
 * bare 504); otherwise detach what is left and resume: the answer says
 * timeout for those items. */
static void sub_expire(pc_http *h, sub *s)
{
    pc_mempool *mp = pc_node_mempool(h->n);
    bool proposed = false;
    for (size_t i = 0; s->wait && !s->grace && !proposed && i < s->n; i++)
        proposed = s->items[i].admitted && pc_mempool_state(mp, &s->items[i].w) == PC_MP_PROPOSED;
    if (proposed) {
        pthread_mutex_lock(&h->susp_mu);
        s->grace = true;
        s->deadline_ms += PC_NODE_SUBMIT_GRACE_MS;
        if (s->pending == 0 || h->stopping) {
            pthread_mutex_unlock(&h->susp_mu);
            sub_detach(s);
            MHD_resume_connection(s->c);
            return;
        }
        s->claimed = false;
        timer_insert(h, s);
        pthread_mutex_unlock(&h->susp_mu);
        return;
    }
    sub_detach(s);
    MHD_resume_connection(s->c);
}

/* The timer thread: resumes suspended submissions whose deadline passed
 * (libmicrohttpd never times out a suspended connection). */
static void *timer_main(void *arg)
{
    pc_http *h = arg;
    pthread_mutex_lock(&h->susp_mu);
    while (!h->stopping) {
        sub *s = h->thead;
        if (s == NULL) {
            pthread_cond_wait(&h->timer_cv, &h->susp_mu);
            continue;
        }
        if (pc_mono_ms() < s->deadline_ms) {
            struct timespec ts = {(time_t)(s->deadline_ms / 1000), (long)(s->deadline_ms % 1000) * 1000000L};
            pthread_cond_timedwait(&h->timer_cv, &h->susp_mu, &ts);
            continue;
        }
        timer_unlink(h, s);
        s->claimed = true;
        pthread_mutex_unlock(&h->susp_mu);
        sub_expire(h, s);
        pthread_mutex_lock(&h->susp_mu);
    }
    pthread_mutex_unlock(&h->susp_mu);
    return NULL;
}

/* Every item of s was admitted or refused: answer now if
 * nothing is pending, otherwise suspend the connection until the last item's
 * notify (or the deadline) resumes it; on_request then answers (r->s). s is
 * freed or owned by r on return. */
static enum MHD_Result sub_finish(pc_http *h, struct MHD_Connection *c, req *r, sub *s)
{
    s->deadline_ms = pc_mono_ms() + PC_HTTP_COMMIT_TIMEOUT_MS;
    if (s->nadmitted == 0)
        return sub_answer(h, c, s);
    pthread_mutex_lock(&h->susp_mu);
    s->pending += (long)s->nadmitted;
    bool later = s->pending > 0 && !h->stopping;
    bool left = s->pending > 0;
    if (later) {
        /* Suspend before anyone can resume: notify needs suspended set,
         * and it runs under susp_mu, which this thread holds. */
        MHD_suspend_connection(c);
        s->c = c;
        s->suspended = true;
        r->s = s;
        timer_insert(h, s);
    }
    pthread_mutex_unlock(&h->susp_mu);
    if (later)
        return MHD_YES;
    if (left)
        sub_detach(s); /* stopping: answer what is known now */
    return sub_answer(h, c, s);
}

/* ------------------------------------------------------------------------ */
/* Handlers                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct ctx {
    pc_http *h;
    struct MHD_Connection *c;
    req *r;
    const char *method;
    const char *path;
    const char *query;
    const pc_route_match *m;
} ctx;

static enum MHD_Result send_bad_wait(const ctx *x)
{
    return send_error(x->h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field", "wait must be 0 or 1");
}

static enum MHD_Result send_oom(const ctx *x)
{
    return send_error(x->h, x->c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "out of memory");
}

/* POST /v1/tx: one transaction. */
static enum MHD_Result h_tx_post(const ctx *x)
{
    bool wait;
    if (!wait_param(x->c, &wait))
        return send_bad_wait(x);
    json_t *obj = NULL;
    enum MHD_Result ret;
    if (!parse_body_json(x->h, x->c, x->r, &obj, &ret))
        return ret;
    sub *s = sub_new(x->h, 1, false, wait, x->r->t0_ns);
    if (s == NULL) {
        json_decref(obj);
        return send_oom(x);
    }
    sub_parse_admit(s, 0, obj, "");
    json_decref(obj);
    return sub_finish(x->h, x->c, x->r, s);
}

/* POST /v1/txs: {"txs":[tx, ...]}, 1 to PC_HTTP_BATCH_MAX transactions, each
 * handled as POST /v1/tx would handle it alone; one result per item. A body
 * of the wrong shape is refused whole and admits nothing. */
static enum MHD_Result h_txs_post(const ctx *x)
{
    pc_metrics *m = pc_node_metrics(x->h->n);
    bool wait;
    if (!wait_param(x->c, &wait))
        return send_bad_wait(x);
    json_t *body = NULL;
    enum MHD_Result ret;
    if (!parse_body_json(x->h, x->c, x->r, &body, &ret))
        return ret;
    if (!json_is_object(body)) {
        json_decref(body);
        pc_metrics_admission_reject(m, PC_AR_BAD_FIELD);
        return send_error(x->h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field",
                          "the body must be {\"txs\": [transaction, ...]}");
    }
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        if (strcmp(k, "txs") != 0) {
            char key[64];
            snprintf(key, sizeof key, "%s", k);
            json_decref(body);
            pc_metrics_admission_reject(m, PC_AR_UNKNOWN_FIELD);
            return send_error(x->h, x->c, MHD_HTTP_BAD_REQUEST, "unknown_field",
                              "%s: unknown field (the body is {\"txs\": [...]})", key);
        }
    }
    const json_t *txs = json_object_get(body, "txs");
    size_t n = json_array_size(txs);
    bool is_array = json_is_array(txs);
    if (!is_array || n == 0 || n > PC_HTTP_BATCH_MAX) {
        json_decref(body);
        pc_metrics_admission_reject(m, PC_AR_BAD_FIELD);
        if (!is_array)
            return send_error(x->h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field",
                              "txs is required: an array of 1 to %d transactions", PC_HTTP_BATCH_MAX);
        return send_error(x->h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field",
                          "txs has %zu transactions; send 1 to %d per request", n, PC_HTTP_BATCH_MAX);
    }
    sub *s = sub_new(x->h, n, true, wait, x->r->t0_ns);
    if (s == NULL) {
        json_decref(body);
        return send_oom(x);
    }
    for (size_t i = 0; i < n; i++)
        sub_parse_admit(s, i, json_array_get(txs, i), "");
    json_decref(body);
    return sub_finish(x->h, x->c, x->r, s);
}

/* txid path parameter -> bytes, or a 400 answer. */
static bool txid_param(const ctx *x, uint8_t txid[32], enum MHD_Result *ret)
{
    if (strlen(x->m->params[0]) != 64 || pc_hex_decode_exact(txid, 32, x->m->params[0]) != 0) {
        *ret = send_error(x->h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field",
                          "a txid is 64 lowercase hex characters");
        return false;
    }
    return true;
}

static enum MHD_Result h_tx_get(const ctx *x, bool raw)
{
    uint8_t txid[32];
    enum MHD_Result ret;
    if (!txid_param(x, txid, &ret))
        return ret;
    pc_error err;
    pc_error_clear(&err);
    json_t *out = NULL;
    pc_ledger *l = pc_node_reader(x->h->n);
    int rc = raw ? pc_ledger_tx_raw(l, txid, &out, &err) : pc_ledger_tx_json(l, txid, &out, &err);
    pc_node_reader_release(x->h->n, l);
    if (rc == PC_OK)
        return send_json(x->h, x->c, MHD_HTTP_OK, out);
    if (rc == PC_ENOTFOUND && !raw && pc_mempool_pending(pc_node_mempool(x->h->n), txid))
        return send_json(x->h, x->c, MHD_HTTP_OK,
                         json_pack("{s:s,s:s}", "txid", x->m->params[0], "status", "pending"));
    if (rc == PC_ENOTFOUND)
        return send_error(x->h, x->c, MHD_HTTP_NOT_FOUND, "not_found",
                          raw ? "no committed transaction with this txid"
                              : "no transaction with this txid is committed or pending here");
    return send_pc_error(x->h, x->c, rc, &err);
}

/* Chain metadata of a record as JSON: its timeline entry (with txid, author,
 * height, time) plus patient key and Health ID. */
static json_t *record_meta(pc_ledger *l, const pc_record_info *ri)
{
    char b64[64], hid[PC_HEALTHID_LEN + 1], hash[65], date[11];
    pc_b64_encode_public(b64, sizeof b64, ri->patient, 32);
    pc_healthid_from_key(ri->patient, hid);
    json_t *found = NULL;
    pc_error err;
    if (pc_ledger_record_json(l, ri->id, &found, &err) != PC_OK)
        found = NULL;
    if (found == NULL) {
        char sealed[128];
        pc_date_format(ri->date, date);
        found = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s}", "id", ri->id, "hi_type", ri->hi_type,
                          "date", date, "fhir", ri->fhir, "custodian", ri->custodian, "hash",
                          pc_hex_encode_public(hash, sizeof hash, ri->hash, 32), "size", (json_int_t)ri->size,
                          "sealed_key", pc_b64_encode_public(sealed, sizeof sealed, ri->sealed_key, PC_SEALED_KEY_LEN));
    }
    if (found != NULL) {
        json_object_set_new(found, "patient", json_string(b64));
        json_object_set_new(found, "health_id", json_string(hid));
    }
    return found;
}

static enum MHD_Result h_record_get(const ctx *x)
{
    pc_record_info ri;
    pc_error err;
    pc_error_clear(&err);
    pc_ledger *l = pc_node_reader(x->h->n);
    int rc = pc_ledger_record_info(l, x->m->params[0], &ri, &err);
    json_t *out = rc == PC_OK ? record_meta(l, &ri) : NULL;
    pc_node_reader_release(x->h->n, l);
    if (rc != PC_OK)
        return send_pc_error(x->h, x->c, rc, &err);
    return send_json(x->h, x->c, MHD_HTTP_OK, out);
}

static enum MHD_Result h_records_post(const ctx *x)
{
    pc_http *h = x->h;
    pc_node *n = h->n;
    json_t *body = NULL;
    enum MHD_Result ret;
    sub *s = NULL;
    bool wait;
    if (!wait_param(x->c, &wait))
        return send_bad_wait(x);
    if (!parse_body_json(h, x->c, x->r, &body, &ret))
        return ret;
    if (!json_is_object(body)) {
        json_decref(body);
        return send_error(h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field",
                          "the body must be {\"tx\": ..., \"blob\": ..., \"sealed_custodian\": ...}");
    }
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        if (strcmp(k, "tx") != 0 && strcmp(k, "blob") != 0 && strcmp(k, "sealed_custodian") != 0) {
            char key[64];
            snprintf(key, sizeof key, "%s", k);
            json_decref(body);
            return send_error(h, x->c, MHD_HTTP_BAD_REQUEST, "unknown_field", "%s: unknown field", key);
        }
    }
    const json_t *txo = json_object_get(body, "tx");
    const json_t *blobv = json_object_get(body, "blob");
    const json_t *sealv = json_object_get(body, "sealed_custodian");
    if (!json_is_object(txo) || !json_is_string(blobv) || !json_is_string(sealv)) {
        json_decref(body);
        return send_error(h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field",
                          "tx (an object), blob and sealed_custodian (base64url strings) are all required");
    }
    pc_tx tx;
    refusal rf;
    if (!parse_tx_obj(h, txo, "tx.", &tx, &rf)) {
        json_decref(body);
        return send_refusal(h, x->c, &rf, NULL);
    }
    pc_error err;
    pc_error_clear(&err);
    uint8_t *blob = NULL;
    uint8_t sealed[PC_SEALED_KEY_LEN], patient[32], want_hash[32], got_hash[32], key[32];
    size_t bloblen = 0;
    const json_t *tb = tx.body;
    const char *rid = json_string_value(json_object_get(tb, "id"));
    const char *custodian = json_string_value(json_object_get(tb, "custodian"));
    const char *b64 = json_string_value(blobv);
    size_t b64len = strlen(b64);
    const pc_keypair *ckp = NULL;
    pc_admit_reason reason;

    if (tx.type != PC_TX_RECORD_ADD) {
        ret = send_error(h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field", "tx.type must be record.add");
        goto out;
    }
    ckp = pc_node_hosted_key(n, custodian);
    if (ckp == NULL) {
        char url[PC_PEER_URL_MAX] = "", name[128] = "";
        pc_ledger *l = pc_node_reader(n);
        if (pc_peers_url(pc_node_peers(n), l, custodian, url, &err) != PC_OK)
            url[0] = '\0';
        pc_peers_hospital_name(l, custodian, name, sizeof name);
        pc_node_reader_release(n, l);
        ret = send_error(h, x->c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                         "this node does not keep the records of hospital %s%s%s%s; a record is stored by its "
                         "custodian's own node: send it to %s%s",
                         custodian, name[0] ? " (" : "", name, name[0] ? ")" : "",
                         url[0] ? url : custodian, url[0] ? "" : "'s node");
        goto out;
    }
    if (pc_node_check_tx(n, &tx, &reason, &err) != PC_OK) {
        pc_metrics_admission_reject(pc_node_metrics(n), reason);
        ret = send_error(h, x->c, MHD_HTTP_BAD_REQUEST, pc_admit_reason_name(reason), "%s", err.msg);
        goto out;
    }
    if (pc_node_writable(n, &err) != PC_OK) {
        pc_metrics_admission_reject(pc_node_metrics(n), PC_AR_UNAVAILABLE);
        ret = send_error(h, x->c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "%s", err.msg);
        goto out;
    }
    if (pc_tx_verify(&tx) != PC_OK) {
        pc_metrics_admission_reject(pc_node_metrics(n), PC_AR_BAD_SIGNATURE);
        ret = send_error(h, x->c, MHD_HTTP_UNAUTHORIZED, "bad_signature",
                         "a signature on this transaction does not verify");
        goto out;
    }
    blob = malloc(b64len * 3 / 4 + 4);
    if (blob == NULL || pc_b64_decode_public(blob, b64len * 3 / 4 + 4, &bloblen, b64, b64len) != 0 ||
        bloblen <= PC_RECORD_NONCE_LEN) {
        ret = send_error(h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field",
                         "blob must be base64url (no padding) of nonce || ciphertext");
        goto out;
    }
    if (pc_b64_decode_exact_public(sealed, sizeof sealed, json_string_value(sealv)) != 0) {
        ret = send_error(h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field",
                         "sealed_custodian must be base64url of 80 bytes");
        goto out;
    }
    pc_sha256(got_hash, blob, bloblen);
    if (pc_hex_decode_exact(want_hash, 32, json_string_value(json_object_get(tb, "hash"))) != 0 ||
        memcmp(want_hash, got_hash, 32) != 0) {
        ret = send_error(h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field",
                         "tx.body.hash is not the SHA-256 of the blob");
        goto out;
    }
    if ((json_int_t)bloblen != json_integer_value(json_object_get(tb, "size"))) {
        ret = send_error(h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field",
                         "tx.body.size is %lld but the blob has %zu bytes",
                         (long long)json_integer_value(json_object_get(tb, "size")), bloblen);
        goto out;
    }
    if (pc_b64_decode_exact_public(patient, 32, json_string_value(json_object_get(tb, "patient"))) != 0) {
        ret = send_error(h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field", "tx.body.patient must be a public key");
        goto out;
    }
    /* The custodian must be able to serve it later: the key must open with
     * the custodian's key and decrypt this blob for this record and patient. */
    if (pc_unseal_key(sealed, ckp, key) != PC_OK) {
        ret = send_error(h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field",
                         "sealed_custodian is not sealed to hospital %s's key", custodian);
        goto out;
    }
    {
        pc_buf plain;
        pc_buf_init(&plain);
        int drc = pc_record_decrypt(blob, bloblen, rid, patient, key, &plain);
        pc_buf_free(&plain);
        sodium_memzero(key, sizeof key);
        if (drc != PC_OK) {
            ret = send_error(h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field",
                             "the blob does not decrypt with the sealed key for this record id and patient");
            goto out;
        }
    }
    {
        bool exists = false;
        pc_ledger *l = pc_node_reader(n);
        int xrc = pc_ledger_tx_exists(l, tx.txid, &exists, &err);
        pc_node_reader_release(n, l);
        if (xrc == PC_OK && (exists || pc_mempool_pending(pc_node_mempool(n), tx.txid))) {
            char txid[65];
            hex32(txid, tx.txid);
            pc_metrics_admission_reject(pc_node_metrics(n), PC_AR_DUPLICATE);
            ret = send_json(h, x->c, MHD_HTTP_CONFLICT,
                            error_obj("duplicate", "this transaction is already pending or committed",
                                      json_pack("{s:s}", "txid", txid)));
            goto out;
        }
    }
    int rc = pc_node_vault_put(n, rid, custodian, patient, blob, bloblen, sealed, &err);
    if (rc == PC_EEXIST) {
        ret = send_error(h, x->c, MHD_HTTP_CONFLICT, "duplicate",
                         "record %s is already stored here with different content", rid);
        goto out;
    }
    if (rc != PC_OK) {
        ret = send_error(h, x->c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                         "could not store the record content: %s", err.msg);
        goto out;
    }
    free(blob);
    json_decref(body);
    s = sub_new(h, 1, false, wait, x->r->t0_ns);
    if (s == NULL) {
        pc_tx_free(&tx);
        return send_oom(x);
    }
    sub_admit(s, 0, &tx);
    return sub_finish(h, x->c, x->r, s);
out:
    free(blob);
    pc_tx_free(&tx);
    json_decref(body);
    return ret;
}

/* The custodian of ri is another hospital: send the reader's signed request
 * to its node unchanged (RFC 9421 covers method, path and query, so the
 * signature verifies there) and relay the answer. A custodian that cannot be
 * reached gets a 503 naming it. A request that was already forwarded once is
 * not forwarded again (two nodes each thinking the other keeps the record). */
#define PC_PEER_DOWN_MEMORY_MS 5000

static enum MHD_Result forward_content(const ctx *x, const pc_record_info *ri, const char *sig_input,
                                       const char *signature)
{
    pc_http *h = x->h;
    pc_node *n = h->n;
    const pc_node_config *cfg = pc_node_cfg(n);
    char url[PC_PEER_URL_MAX] = "", name[128] = "", who[200];
    pc_error err;
    pc_error_clear(&err);
    pc_ledger *l = pc_node_reader(n);
    int urc = pc_peers_url(pc_node_peers(n), l, ri->custodian, url, &err);
    pc_peers_hospital_name(l, ri->custodian, name, sizeof name);
    pc_node_reader_release(n, l);
    snprintf(who, sizeof who, "%s%s%s", ri->custodian, name[0] ? ", " : "", name);
    json_t *extra = json_pack("{s:s}", "custodian", ri->custodian);
    if (MHD_lookup_connection_value(x->c, MHD_HEADER_KIND, "X-Parcha-Forwarded") != NULL) {
        pc_node_log("warn", "a read of record %s was forwarded here, but this node does not keep hospital %s's records "
                            "(check \"peers\" in node.json on the forwarding node)", ri->id, ri->custodian);
        return send_json(h, x->c, MHD_HTTP_SERVICE_UNAVAILABLE,
                         error_obj("unavailable",
                                   "the request reached a node that does not keep this record's hospital; the "
                                   "network's peer addresses need fixing",
                                   extra));
    }
    char msg[400];
    snprintf(msg, sizeof msg,
             "the hospital that keeps this record (%s) cannot be reached; other records still show", who);
    if (urc != PC_OK) {
        pc_node_log("warn", "content read of record %s: %s", ri->id, err.msg);
        return send_json(h, x->c, MHD_HTTP_SERVICE_UNAVAILABLE, error_obj("unavailable", msg, extra));
    }
    char h1[PC_HTTPSIG_HEADER_MAX + 40], h2[PC_HTTPSIG_HEADER_MAX + 40], h3[64];
    int w1 = snprintf(h1, sizeof h1, "Signature-Input: %s", sig_input);
    int w2 = snprintf(h2, sizeof h2, "Signature: %s", signature);
    snprintf(h3, sizeof h3, "X-Parcha-Forwarded: %s", cfg->hospital);
    if (w1 < 0 || (size_t)w1 >= sizeof h1 || w2 < 0 || (size_t)w2 >= sizeof h2) {
        json_decref(extra);
        return send_error(h, x->c, MHD_HTTP_UNAUTHORIZED, "bad_signature", "the signature headers are too long");
    }
    const char *hdrs[3] = {h1, h2, h3};
    /* A custodian that just failed to answer is not waited for again at
     * once: a timeline of many records then shows its others quickly. */
    if (pc_peers_recently_down(pc_node_peers(n), ri->custodian, PC_PEER_DOWN_MEMORY_MS))
        return send_json(h, x->c, MHD_HTTP_SERVICE_UNAVAILABLE, error_obj("unavailable", msg, extra));
    pc_peer_reply r;
    pc_peer_reply_init(&r);
    atomic_fetch_add(&pc_node_metrics(n)->forwarded_reads, 1);
    int rc = pc_peers_get(pc_node_peers(n), ri->custodian, url, x->r->uri, hdrs, 3, cfg->peer_read_timeout_ms,
                          (size_t)16 * 1024 * 1024, &r, &err);
    pc_peers_mark_down(pc_node_peers(n), ri->custodian, rc == PC_EUNAVAIL);
    bool json = rc == PC_OK && strncmp(r.ctype, "application/json", 16) == 0 && r.status >= 200 && r.status < 600;
    if (!json) {
        if (rc == PC_OK)
            pc_node_log("warn", "content read of record %s: %s's node answered HTTP %ld (%s)", ri->id, ri->custodian,
                        r.status, r.ctype[0] ? r.ctype : "no content type");
        else
            pc_node_log("warn", "content read of record %s: %s", ri->id, err.msg);
        pc_peer_reply_free(&r);
        return send_json(h, x->c, MHD_HTTP_SERVICE_UNAVAILABLE, error_obj("unavailable", msg, extra));
    }
    json_decref(extra);
    size_t len = 0;
    char *body = (char *)pc_buf_steal(&r.body, &len);
    if (body == NULL)
        body = strdup("");
    unsigned status = (unsigned)r.status;
    pc_peer_reply_free(&r);
    if (body == NULL)
        return MHD_NO;
    return send_body(h, x->c, status, "application/json", body, len, "X-Parcha-Custodian", ri->custodian);
}

/* GET /v1/records/{id}/content: signed request, access rule, re-sealed key,
 * access.log committed before the answer (the connection is suspended
 * meanwhile, as for a write). */
static enum MHD_Result h_record_content(const ctx *x)
{
    pc_http *h = x->h;
    pc_node *n = h->n;
    pc_error err;
    pc_error_clear(&err);
    const char *sig_input = MHD_lookup_connection_value(x->c, MHD_HEADER_KIND, "Signature-Input");
    const char *signature = MHD_lookup_connection_value(x->c, MHD_HEADER_KIND, "Signature");
    uint8_t reader[32];
    char nonce[PC_HTTPSIG_NONCE_MAX + 1];
    int64_t now_s = (int64_t)time(NULL);
    if (sig_input == NULL || signature == NULL)
        return send_error(h, x->c, MHD_HTTP_UNAUTHORIZED, "bad_signature",
                          "reading record content needs a signed request (Signature-Input and Signature headers, RFC 9421)");
    int rc = pc_httpsig_verify(x->method, x->path, x->query, sig_input, signature, now_s,
                               PC_HTTPSIG_WINDOW_S, reader, nonce, &err);
    if (rc != PC_OK)
        return send_error(h, x->c, MHD_HTTP_UNAUTHORIZED, "bad_signature", "%s", err.msg);

    /* Another hospital keeps it: pass the signed request on unchanged; the
     * custodian checks the nonce, the access rule and writes the log. */
    pc_record_info ri;
    pc_ledger *l = pc_node_reader(n);
    rc = pc_ledger_record_info(l, x->m->params[0], &ri, &err);
    pc_node_reader_release(n, l);
    if (rc != PC_OK)
        return send_pc_error(h, x->c, rc, &err);
    if (pc_node_hosted_key(n, ri.custodian) == NULL)
        return forward_content(x, &ri, sig_input, signature);

    rc = pc_httpsig_replay_check(pc_node_replay(n), reader, nonce, now_s, &err);
    if (rc == PC_EUNAVAIL)
        return send_error(h, x->c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "%s", err.msg);
    if (rc != PC_OK)
        return send_error(h, x->c, MHD_HTTP_UNAUTHORIZED, "bad_signature", "%s", err.msg);
    if (pc_node_writable(n, &err) != PC_OK)
        return send_error(h, x->c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                          "the read cannot be recorded on the chain right now, so the content is withheld: %s",
                          err.msg);

    pc_access_decision dec;
    json_t *meta = NULL;
    pc_head head;
    pc_node_head(n, &head);
    int64_t now_ms = pc_now_ms();
    if (head.time > now_ms)
        now_ms = head.time;
    l = pc_node_reader(n);
    rc = pc_ledger_record_info(l, x->m->params[0], &ri, &err);
    if (rc == PC_OK && pc_node_hosted_key(n, ri.custodian) != NULL) {
        rc = pc_ledger_access_check(l, reader, &ri, now_ms, &dec, &err);
        if (rc == PC_OK && dec.basis != PC_ACCESS_DENIED)
            meta = record_meta(l, &ri);
    }
    pc_node_reader_release(n, l);
    if (rc != PC_OK)
        return send_pc_error(h, x->c, rc, &err);
    const pc_keypair *ckp = pc_node_hosted_key(n, ri.custodian);
    if (ckp == NULL)
        return send_error(h, x->c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                          "the content of record %s is kept by hospital %s, which this node does not host; ask %s's node",
                          ri.id, ri.custodian, ri.custodian);
    if (dec.basis == PC_ACCESS_DENIED)
        return send_error(h, x->c, MHD_HTTP_FORBIDDEN, "denied", "%s",
                          dec.reason ? dec.reason : "access denied");
    if (meta == NULL)
        return send_error(h, x->c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "out of memory");

    /* Re-seal the record key for the reader. */
    pc_buf blob;
    pc_buf_init(&blob);
    uint8_t sealed_c[PC_SEALED_KEY_LEN], sealed_r[PC_SEALED_KEY_LEN], key[32];
    char cust[33];
    enum MHD_Result ret;
    rc = pc_node_vault_get(n, ri.id, &blob, sealed_c, cust, &err);
    if (rc != PC_OK) {
        ret = send_error(h, x->c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                         "the content of record %s is missing from hospital %s's vault on this node",
                         ri.id, ri.custodian);
        goto out;
    }
    rc = pc_unseal_key(sealed_c, ckp, &key[0]);
    if (rc == PC_OK)
        rc = pc_seal_key(key, reader, sealed_r);
    sodium_memzero(key, sizeof key);
    if (rc != PC_OK) {
        ret = send_error(h, x->c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                         "the record key of %s could not be re-sealed for the reader", ri.id);
        goto out;
    }

    /* access.log, signed by the custodian, committed before answering. */
    char rb64[64], pb64[64], refhex[65];
    pc_b64_encode_public(rb64, sizeof rb64, reader, 32);
    pc_b64_encode_public(pb64, sizeof pb64, ri.patient, 32);
    json_t *lbody = json_pack("{s:s,s:s,s:s,s:[s],s:s,s:o}", "custodian", ri.custodian, "reader", rb64,
                              "patient", pb64, "records", ri.id, "basis", pc_access_basis_name(dec.basis),
                              "ref", dec.has_ref ? json_string(pc_hex_encode_public(refhex, sizeof refhex, dec.ref, 32))
                                                 : json_null());
    json_t *unsigned_tx = lbody ? pc_tx_build(pc_node_cfg(n)->network, "access.log", pc_now_ms(), lbody) : NULL;
    pc_tx tx;
    const pc_keypair *keys[1] = {ckp};
    rc = unsigned_tx ? pc_tx_sign(unsigned_tx, keys, 1, &tx, &err) : PC_ENOMEM;
    json_decref(unsigned_tx);
    if (rc != PC_OK) {
        ret = send_error(h, x->c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                         "could not build the access.log transaction: %s", err.msg);
        goto out;
    }
    tx.sigs_checked = true; /* signed just now with our own key */
    /* The answer is ready before the access.log is admitted; it is sent
     * only once that commits (send_content), and meanwhile the connection
     * is suspended like a POST /v1/tx. */
    char access_txid[65];
    hex32(access_txid, tx.txid);
    char *blob64 = pc_b64_dup_public(blob.data, blob.len); /* ciphertext */
    char sealed64[128];
    pc_b64_encode_public(sealed64, sizeof sealed64, sealed_r, sizeof sealed_r);
    json_t *o = blob64 ? json_pack("{s:O,s:s,s:s,s:s,s:o,s:s}", "record", meta, "blob", blob64,
                                   "sealed_key", sealed64, "basis", pc_access_basis_name(dec.basis),
                                   "ref", dec.has_ref ? json_string(refhex) : json_null(),
                                   "access_txid", access_txid)
                       : NULL;
    free(blob64);
    sub *s = o != NULL ? sub_new(h, 1, false, true, x->r->t0_ns) : NULL;
    if (s == NULL) {
        json_decref(o);
        pc_tx_free(&tx);
        ret = send_error(h, x->c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "out of memory");
        goto out;
    }
    s->content = o;
    sub_admit(s, 0, &tx);
    json_decref(meta);
    pc_buf_free(&blob);
    return sub_finish(h, x->c, x->r, s);
out:
    json_decref(meta);
    pc_buf_free(&blob);
    return ret;
}

static enum MHD_Result h_blocks(const ctx *x)
{
    pc_head head;
    pc_node_head(x->h->n, &head);
    uint64_t from, limit;
    if (!query_u64(x->c, "from", 0, UINT64_MAX / 2, head.height, &from))
        return send_error(x->h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field", "from must be a block height");
    if (!query_u64(x->c, "limit", 1, 100, 20, &limit))
        return send_error(x->h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field", "limit must be 1 to 100");
    if (from > head.height)
        from = head.height;
    json_t *arr = json_array();
    pc_error err;
    pc_ledger *l = pc_node_reader(x->h->n);
    for (uint64_t i = 0; i < limit && i <= from; i++) {
        json_t *b = NULL;
        if (pc_ledger_block_json(l, from - i, &b, &err) != PC_OK)
            break;
        json_t *txs = json_object_get(b, "txs");
        json_object_set_new(b, "ntx", json_integer((json_int_t)json_array_size(txs)));
        json_object_del(b, "txs");
        json_array_append_new(arr, b);
    }
    pc_node_reader_release(x->h->n, l);
    return send_json(x->h, x->c, MHD_HTTP_OK,
                     json_pack("{s:I,s:o}", "height", (json_int_t)head.height, "blocks", arr));
}

static bool height_param(const ctx *x, uint64_t *hgt, enum MHD_Result *ret)
{
    if (!parse_u64(x->m->params[0], hgt)) {
        *ret = send_error(x->h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field",
                          "a block height is a non-negative integer");
        return false;
    }
    return true;
}

static enum MHD_Result h_block_get(const ctx *x)
{
    uint64_t hgt;
    enum MHD_Result ret;
    if (!height_param(x, &hgt, &ret))
        return ret;
    pc_error err;
    pc_error_clear(&err);
    json_t *b = NULL;
    pc_ledger *l = pc_node_reader(x->h->n);
    int rc = pc_ledger_block_json(l, hgt, &b, &err);
    pc_node_reader_release(x->h->n, l);
    if (rc != PC_OK)
        return send_pc_error(x->h, x->c, rc, &err);
    return send_json(x->h, x->c, MHD_HTTP_OK, b);
}

static enum MHD_Result h_block_proposal(const ctx *x)
{
    uint64_t hgt, pos = 0;
    enum MHD_Result ret;
    if (!height_param(x, &hgt, &ret))
        return ret;
    pc_error err;
    pc_error_clear(&err);
    pc_buf wire;
    pc_buf_init(&wire);
    pc_ledger *l = pc_node_reader(x->h->n);
    int rc = pc_ledger_block_proposal(l, hgt, &wire, &pos, &err);
    pc_node_reader_release(x->h->n, l);
    if (rc != PC_OK) {
        pc_buf_free(&wire);
        return send_pc_error(x->h, x->c, rc, &err);
    }
    char posv[24];
    snprintf(posv, sizeof posv, "%" PRIu64, pos);
    size_t len = 0;
    uint8_t *data = pc_buf_steal(&wire, &len);
    if (data == NULL) {
        data = malloc(1);
        if (data == NULL)
            return MHD_NO;
    }
    return send_body(x->h, x->c, MHD_HTTP_OK, "application/octet-stream", (char *)data, len,
                     "X-Parcha-Position", posv);
}

/* Health ID path parameter -> canonical form, or a 400 answer. */
static bool hid_param(const ctx *x, char hid[PC_HEALTHID_LEN + 1], enum MHD_Result *ret)
{
    pc_error err;
    pc_error_clear(&err);
    if (pc_healthid_parse(x->m->params[0], hid, &err) != PC_OK) {
        *ret = send_error(x->h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field", "%s", err.msg);
        return false;
    }
    return true;
}

static enum MHD_Result h_patient(const ctx *x)
{
    char hid[PC_HEALTHID_LEN + 1];
    enum MHD_Result ret;
    if (!hid_param(x, hid, &ret))
        return ret;
    pc_error err;
    pc_error_clear(&err);
    json_t *out = NULL;
    uint8_t key[32];
    pc_head head;
    pc_node_head(x->h->n, &head);
    int64_t now_ms = pc_now_ms();
    if (head.time > now_ms)
        now_ms = head.time;
    pc_ledger *l = pc_node_reader(x->h->n);
    int rc;
    if (x->m->id == PC_ROUTE_PATIENT_GET) {
        rc = pc_ledger_patient_json(l, hid, &out, &err);
    } else {
        rc = pc_ledger_patient_key(l, hid, key, &err);
        if (rc == PC_OK) {
            switch (x->m->id) {
            case PC_ROUTE_PATIENT_TIMELINE: {
                uint64_t limit;
                if (!query_u64(x->c, "limit", 0, 100000, 0, &limit)) {
                    pc_node_reader_release(x->h->n, l);
                    return send_error(x->h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field",
                                      "limit must be 0 (all) to 100000");
                }
                /* Written straight to text: the hot read of the doctor's
                 * one-click history (docs/performance.md). */
                pc_buf text;
                pc_buf_init(&text);
                rc = pc_ledger_timeline_text(l, key, (size_t)limit, &text, &err);
                pc_node_reader_release(x->h->n, l);
                if (rc != PC_OK) {
                    pc_buf_free(&text);
                    return send_pc_error(x->h, x->c, rc, &err);
                }
                size_t len;
                char *body = (char *)pc_buf_steal(&text, &len);
                return send_body(x->h, x->c, MHD_HTTP_OK, "application/json", body, len, NULL, NULL);
            }
            case PC_ROUTE_PATIENT_CONSENTS:
                rc = pc_ledger_consents_json(l, key, now_ms, &out, &err);
                break;
            case PC_ROUTE_PATIENT_EMERGENCIES:
                rc = pc_ledger_emergencies_json(l, key, now_ms, &out, &err);
                break;
            default:
                rc = pc_ledger_access_log_json(l, key, &out, &err);
                break;
            }
        }
    }
    pc_node_reader_release(x->h->n, l);
    if (rc != PC_OK)
        return send_pc_error(x->h, x->c, rc, &err);
    return send_json(x->h, x->c, MHD_HTTP_OK, out);
}

static enum MHD_Result h_hospitals(const ctx *x, bool staff)
{
    pc_error err;
    pc_error_clear(&err);
    json_t *out = NULL;
    const char *hosp = staff ? query_arg(x->c, "hospital") : NULL;
    if (hosp != NULL && (strlen(hosp) < 2 || strlen(hosp) > PC_HOSPITAL_ID_MAX))
        return send_error(x->h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field",
                          "hospital must be a hospital id of 2 to 32 characters");
    pc_ledger *l = pc_node_reader(x->h->n);
    int rc = staff ? pc_ledger_staff_json(l, hosp, &out, &err) : pc_ledger_hospitals_json(l, &out, &err);
    pc_node_reader_release(x->h->n, l);
    if (rc != PC_OK)
        return send_pc_error(x->h, x->c, rc, &err);
    return send_json(x->h, x->c, MHD_HTTP_OK, out);
}

static enum MHD_Result h_status(const ctx *x)
{
    pc_node *n = x->h->n;
    const pc_node_config *cfg = pc_node_cfg(n);
    pc_head head;
    pc_node_head(n, &head);
    char hash[65];
    hex32(hash, head.hash);
    json_t *hosted = json_array();
    for (size_t i = 0; i < cfg->nhosted; i++)
        json_array_append_new(hosted, json_string(cfg->hosted[i]));
    json_t *o = json_pack("{s:s,s:I,s:s,s:I,s:s,s:o,s:s,s:I,s:I,s:I,s:s}", "network", cfg->network,
                          "height", (json_int_t)head.height, "head", hash, "time", (json_int_t)head.time,
                          "hospital", cfg->hospital, "hosted", hosted, "orderer", cfg->orderer,
                          "mempool", (json_int_t)pc_mempool_size(pc_node_mempool(n)),
                          "txs", (json_int_t)head.ntx, "position", (json_int_t)head.pos,
                          "version", PC_NODE_VERSION);
    pc_node_ordering_info oi;
    pc_node_ordering(n, &oi);
    pc_catchup_info ci;
    pc_catchup_get(pc_node_catchup(n), &ci);
    pc_retention_info ri;
    pc_retention_get(pc_node_retention(n), &ri);
    json_t *ord = json_pack("{s:s,s:b,s:b,s:b,s:s?,s:I,s:I,s:I,s:I,s:s}", "orderer", oi.orderer,
                            "connected", oi.connected, "catching_up", oi.catching_up, "watching",
                            oi.watching, "member", oi.member[0] ? oi.member : NULL, "last_delivered",
                            (json_int_t)oi.last_delivered, "compact_revision", (json_int_t)oi.compact_revision,
                            "member_switches", (json_int_t)oi.member_switches, "down_s", (json_int_t)oi.down_s,
                            "last_error", oi.last_error);
    json_t *cu = json_pack("{s:b,s:I,s:s,s:I,s:I,s:s}", "active", ci.active, "target", (json_int_t)ci.target,
                           "source", ci.source, "rounds", (json_int_t)ci.rounds, "blocks",
                           (json_int_t)ci.blocks, "last_error", ci.last_error);
    json_t *re = json_pack("{s:I,s:I,s:I,s:s}", "published", (json_int_t)ri.published, "compacted_to",
                           (json_int_t)ri.compacted_to, "margin",
                           (json_int_t)cfg->retention_margin, "last_error", ri.last_error);
    pc_flow_info fi;
    pc_flow_get(pc_node_flow(n), pc_mono_ms(), &fi);
    json_t *fl = json_pack("{s:b,s:I,s:I,s:I,s:s?,s:I,s:I,s:I}", "enabled", fi.enabled, "max_lag_ms",
                           (json_int_t)fi.max_lag_ms, "peers", (json_int_t)fi.peers, "waited_for",
                           (json_int_t)fi.waited_for, "slowest", fi.slowest[0] ? fi.slowest : NULL,
                           "slowest_lag_ms", (json_int_t)fi.slowest_lag_ms, "holds", (json_int_t)fi.holds,
                           "held_ms", (json_int_t)fi.held_ms);
    if (ord != NULL) {
        json_object_set_new(ord, "catchup", cu);
        json_object_set_new(ord, "retention", re);
        json_object_set_new(ord, "flow_control", fl);
    } else {
        json_decref(cu);
        json_decref(re);
        json_decref(fl);
    }
    if (o != NULL) {
        json_object_set_new(o, "ordering", ord);
        json_object_set_new(o, "catching_up", json_boolean(oi.catching_up));
        json_object_set_new(o, "checkpoint", json_integer((json_int_t)pc_ckpts_latest_height(pc_node_ckpts(n))));
        json_object_set_new(o, "tls", json_boolean(cfg->tls_cert[0] != '\0'));
    } else {
        json_decref(ord);
    }
    return send_json(x->h, x->c, MHD_HTTP_OK, o);
}

/* GET /v1/blocks/proposals?from=H&limit=N: stored blocks with their proposal
 * wire bytes, for a peer that catches up. Stops early once ~8 MiB of
 * proposals are in the answer (at least one block is always sent). */
static enum MHD_Result h_block_proposals(const ctx *x)
{
    pc_head head;
    pc_node_head(x->h->n, &head);
    uint64_t from, limit;
    if (!query_u64(x->c, "from", 0, UINT64_MAX / 2, 1, &from))
        return send_error(x->h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field", "from must be a block height");
    if (!query_u64(x->c, "limit", 1, 1000, 100, &limit))
        return send_error(x->h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field", "limit must be 1 to 1000");
    json_t *arr = json_array();
    pc_error err;
    pc_error_clear(&err);
    size_t bytes = 0;
    int rc = PC_OK;
    pc_ledger *l = pc_node_reader(x->h->n);
    for (uint64_t hgt = from; rc == PC_OK && arr != NULL && hgt <= head.height && hgt < from + limit; hgt++) {
        if (bytes > (size_t)8 * 1024 * 1024)
            break;
        json_t *b = NULL;
        pc_buf wire;
        pc_buf_init(&wire);
        uint64_t pos = 0;
        rc = pc_ledger_block_json(l, hgt, &b, &err);
        if (rc == PC_OK)
            rc = pc_ledger_block_proposal(l, hgt, &wire, &pos, &err);
        char *p64 = rc == PC_OK ? pc_b64_dup_public(wire.data, wire.len) : NULL;
        if (rc == PC_OK && p64 == NULL)
            rc = pc_error_set(&err, PC_ENOMEM, "out of memory");
        if (rc == PC_OK) {
            json_object_del(b, "txs");
            json_object_set_new(b, "pos", json_integer((json_int_t)pos));
            json_object_set_new(b, "proposal", json_string(p64));
            json_array_append(arr, b);
            bytes += strlen(p64);
        }
        free(p64);
        json_decref(b);
        pc_buf_free(&wire);
    }
    pc_node_reader_release(x->h->n, l);
    if (rc != PC_OK && rc != PC_ENOTFOUND) {
        json_decref(arr);
        return send_pc_error(x->h, x->c, rc, &err);
    }
    return send_json(x->h, x->c, MHD_HTTP_OK,
                     json_pack("{s:I,s:s,s:o}", "height", (json_int_t)head.height, "network",
                               pc_node_cfg(x->h->n)->network, "blocks", arr));
}

/* GET /v1/checkpoints?limit=N (newest first), GET /v1/checkpoints/{height},
 * POST /v1/checkpoints (take one now). */
static enum MHD_Result h_checkpoints(const ctx *x)
{
    pc_node *n = x->h->n;
    const pc_node_config *cfg = pc_node_cfg(n);
    pc_ckpts *ck = pc_node_ckpts(n);
    const pc_keypair *kp = pc_node_hosted_key(n, cfg->hospital);
    char key[64] = "";
    if (kp != NULL)
        pc_b64_encode_public(key, sizeof key, kp->pk, 32);
    pc_error err;
    pc_error_clear(&err);
    pc_checkpoint cp;
    if (x->m->id == PC_ROUTE_CHECKPOINT_GET) {
        uint64_t hgt;
        enum MHD_Result ret;
        if (!height_param(x, &hgt, &ret))
            return ret;
        if (pc_ckpts_get(ck, hgt, &cp) != PC_OK)
            return send_error(x->h, x->c, MHD_HTTP_NOT_FOUND, "not_found",
                              "this node keeps no checkpoint at height %llu", (unsigned long long)hgt);
        return send_json(x->h, x->c, MHD_HTTP_OK, pc_checkpoint_to_json(&cp));
    }
    if (x->m->id == PC_ROUTE_CHECKPOINT_TAKE) {
        int rc = pc_ckpts_take(ck, &cp, &err);
        if (rc != PC_OK)
            return send_pc_error(x->h, x->c, rc == PC_EUNAVAIL ? rc : PC_EIO, &err);
        return send_json(x->h, x->c, MHD_HTTP_OK, pc_checkpoint_to_json(&cp));
    }
    uint64_t limit;
    if (!query_u64(x->c, "limit", 1, 100000, 20, &limit))
        return send_error(x->h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field", "limit must be 1 to 100000");
    return send_json(x->h, x->c, MHD_HTTP_OK,
                     json_pack("{s:s,s:s,s:s,s:o}", "network", cfg->network, "hospital", cfg->hospital, "key",
                               key, "checkpoints", pc_ckpts_list(ck, (size_t)limit)));
}

static int64_t started_ms;

static enum MHD_Result h_metrics(const ctx *x)
{
    pc_node *n = x->h->n;
    pc_head head;
    pc_node_head(n, &head);
    pc_metrics_gauges g = {
        .height = head.height,
        .mempool = pc_mempool_size(pc_node_mempool(n)),
        .txs_total = head.ntx,
        .connections = (uint64_t)atomic_load(&x->h->conns),
        .uptime_s = (pc_mono_ms() - started_ms) / 1000,
    };
    pc_node_ordering_info oi;
    pc_node_ordering(n, &oi);
    pc_retention_info ri;
    pc_retention_get(pc_node_retention(n), &ri);
    pc_flow_info fi;
    pc_flow_get(pc_node_flow(n), pc_mono_ms(), &fi);
    pc_metrics_cluster cl = {
        .flow_holds = fi.holds,
        .flow_held_ms = (uint64_t)fi.held_ms,
        .flow_slowest_lag_ms = (uint64_t)fi.slowest_lag_ms,
        .orderer_connected = oi.connected ? 1 : 0,
        .catching_up = oi.catching_up ? 1 : 0,
        .last_delivered = oi.last_delivered,
        .etcd_member_switches = oi.member_switches,
        .etcd_stalls = oi.stalls,
        .applied_published = ri.published,
        .compacted_revision = ri.compacted_to,
        .checkpoint_height = pc_ckpts_latest_height(pc_node_ckpts(n)),
        .orderer_down_s = oi.down_s,
    };
    pc_buf out;
    pc_buf_init(&out);
    if (pc_metrics_render(pc_node_metrics(n), &g, &out) != PC_OK ||
        pc_metrics_render_cluster(pc_node_metrics(n), &cl, &out) != PC_OK ||
        pc_peers_render_metrics(pc_node_peers(n), &out) != PC_OK) {
        pc_buf_free(&out);
        return send_error(x->h, x->c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "out of memory");
    }
    size_t len = 0;
    char *text = (char *)pc_buf_steal(&out, &len);
    return send_body(x->h, x->c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len,
                     NULL, NULL);
}

static enum MHD_Result h_static(const ctx *x)
{
    char rel[1024];
    if (pc_static_resolve(x->path, rel, sizeof rel) != PC_OK)
        return send_error(x->h, x->c, MHD_HTTP_BAD_REQUEST, "bad_field",
                          "this path is not allowed (no '..', hidden or empty segments)");
    uint64_t size = 0;
    int fd = pc_static_open(pc_node_cfg(x->h->n)->web_dir, rel, &size);
    if (fd < 0)
        return send_error(x->h, x->c, MHD_HTTP_NOT_FOUND, "not_found", "no such page: %s", x->path);
    struct MHD_Response *resp = MHD_create_response_from_fd64(size, fd);
    if (resp == NULL) {
        close(fd);
        return send_error(x->h, x->c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "out of memory");
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, pc_static_mime(rel));
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return queue(x->h, x->c, MHD_HTTP_OK, resp);
}

static enum MHD_Result dispatch(pc_http *h, struct MHD_Connection *c, req *r, const char *method)
{
    char path[2048];
    const char *query = NULL;
    if (r->uri == NULL || !split_uri(r->uri, path, sizeof path, &query))
        return send_error(h, c, MHD_HTTP_NOT_FOUND, "not_found", "no such route");
    if (strncmp(path, "/v1/ui/", 7) == 0) /* staff sessions of the web UI: session.c */
        return pc_session_dispatch(pc_node_cfg(h->n)->data_dir, c, method, path,
                                   (const char *)r->body.data, r->body.len, r->too_big);
    pc_route_match m;
    pc_route_find(method, path, &m);
    ctx x = {h, c, r, method, path, query, &m};
    if (m.id != PC_ROUTE_STATIC && m.id != PC_ROUTE_NOT_FOUND && m.id != PC_ROUTE_METHOD_NOT_ALLOWED &&
        r->too_big) {
        pc_metrics_admission_reject(pc_node_metrics(h->n), PC_AR_TOO_BIG);
        return send_error(h, c, MHD_HTTP_CONTENT_TOO_LARGE, "too_big", "the request body is over 1 MiB");
    }
    switch (m.id) {
    case PC_ROUTE_NOT_FOUND:
        return send_error(h, c, MHD_HTTP_NOT_FOUND, "not_found", "no such route: %s %s", method, path);
    case PC_ROUTE_METHOD_NOT_ALLOWED:
        return send_json_h(h, c, MHD_HTTP_METHOD_NOT_ALLOWED,
                           error_obj("method_not_allowed", "this path does not take this method", NULL),
                           MHD_HTTP_HEADER_ALLOW, m.allow);
    case PC_ROUTE_STATIC: return h_static(&x);
    case PC_ROUTE_TX_POST: return h_tx_post(&x);
    case PC_ROUTE_TXS_POST: return h_txs_post(&x);
    case PC_ROUTE_TX_GET: return h_tx_get(&x, false);
    case PC_ROUTE_TX_RAW: return h_tx_get(&x, true);
    case PC_ROUTE_RECORDS_POST: return h_records_post(&x);
    case PC_ROUTE_RECORD_GET: return h_record_get(&x);
    case PC_ROUTE_RECORD_CONTENT: return h_record_content(&x);
    case PC_ROUTE_BLOCKS: return h_blocks(&x);
    case PC_ROUTE_BLOCK_GET: return h_block_get(&x);
    case PC_ROUTE_BLOCK_PROPOSAL: return h_block_proposal(&x);
    case PC_ROUTE_PATIENT_GET:
    case PC_ROUTE_PATIENT_TIMELINE:
    case PC_ROUTE_PATIENT_CONSENTS:
    case PC_ROUTE_PATIENT_EMERGENCIES:
    case PC_ROUTE_PATIENT_ACCESS_LOG: return h_patient(&x);
    case PC_ROUTE_HOSPITALS: return h_hospitals(&x, false);
    case PC_ROUTE_STAFF: return h_hospitals(&x, true);
    case PC_ROUTE_STATUS: return h_status(&x);
    case PC_ROUTE_METRICS: return h_metrics(&x);
    case PC_ROUTE_BLOCK_PROPOSALS: return h_block_proposals(&x);
    case PC_ROUTE_CHECKPOINTS:
    case PC_ROUTE_CHECKPOINT_TAKE:
    case PC_ROUTE_CHECKPOINT_GET: return h_checkpoints(&x);
    default: break;
    }
    return send_error(h, c, MHD_HTTP_NOT_FOUND, "not_found", "no such route");
}

/* ------------------------------------------------------------------------ */
/* MHD callbacks                                                             */
/* ------------------------------------------------------------------------ */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    req *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->uri = strdup(uri != NULL ? uri : "");
    pc_buf_init(&r->body);
    r->body.cap_limit = PC_HTTP_BODY_MAX;
    r->t0_ns = mono_ns();
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    req *r = *con_cls;
    if (r == NULL)
        return;
    /* Resumed but closed before it could be answered (client gone, or the
     * daemon stopping): nothing else holds the submission any more. */
    sub_free(r->s);
    free(r->uri);
    pc_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)c;
    (void)socket_context;
    pc_http *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&h->conns, 1);
    else
        atomic_fetch_sub(&h->conns, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    pc_node_log("warn", "http: %s", msg);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)url;
    (void)version;
    pc_http *h = cls;
    req *r = *con_cls;
    if (r == NULL)
        return MHD_NO; /* out of memory in on_uri: drop the connection */
    if (!r->started) {
        r->started = true;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        uint64_t len = 0;
        if (cl != NULL && parse_u64(cl, &len) && len > PC_HTTP_BODY_MAX) {
            /* Refuse before reading (MHD then closes the connection). */
            pc_metrics_admission_reject(pc_node_metrics(h->n), PC_AR_TOO_BIG);
            return send_error(h, c, MHD_HTTP_CONTENT_TOO_LARGE, "too_big",
                              "the request body is over 1 MiB");
        }
        return MHD_YES;
    }
    if (r->s != NULL) {
        /* Resumed (sub_finish): the items are final, refused or detached. */
        sub *s = r->s;
        r->s = NULL;
        return sub_answer(h, c, s);
    }
    if (*upload_data_size > 0) {
        if (!r->too_big && pc_buf_append(&r->body, upload_data, *upload_data_size) != PC_OK) {
            r->too_big = true;
            pc_buf_free(&r->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return dispatch(h, c, r, method);
}

/* ------------------------------------------------------------------------ */
/* Start / stop                                                              */
/* ------------------------------------------------------------------------ */

/* Free h after its daemon and timer thread are gone (or never started). */
static void http_free(pc_http *h)
{
    if (h->timer_started) {
        pthread_mutex_lock(&h->susp_mu);
        h->stopping = true;
        pthread_cond_signal(&h->timer_cv);
        pthread_mutex_unlock(&h->susp_mu);
        pthread_join(h->timer, NULL);
    }
    pthread_cond_destroy(&h->timer_cv);
    pthread_mutex_destroy(&h->susp_mu);
    pc_buf_free(&h->tls_cert);
    pc_buf_free(&h->tls_key);
    free(h);
}

int pc_http_start(pc_node *n, pc_http **out, uint16_t *port, pc_error *err)
{
    *out = NULL;
    const pc_node_config *cfg = pc_node_cfg(n);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", cfg->listen_port);
    int gai = getaddrinfo(cfg->listen_host, portstr, &hints, &ai);
    if (gai != 0 || ai == NULL)
        return pc_error_set(err, PC_EINVAL, "cannot resolve listen host '%s': %s", cfg->listen_host,
                            gai_strerror(gai));
    pc_http *h = calloc(1, sizeof *h);
    if (h == NULL) {
        freeaddrinfo(ai);
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    }
    h->n = n;
    h->quiesced = MHD_INVALID_SOCKET;
    pc_buf_init(&h->tls_cert);
    pc_buf_init(&h->tls_key);
    started_ms = pc_mono_ms();
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&h->susp_mu, NULL);
    pthread_cond_init(&h->timer_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&h->timer, NULL, timer_main, h) != 0) {
        freeaddrinfo(ai);
        http_free(h);
        return pc_error_set(err, PC_ENOMEM, "could not start the HTTP timer thread");
    }
    h->timer_started = true;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned pool = (unsigned)(cores < 1 ? 1 : cores > 64 ? 64 : cores) * PC_HTTP_THREADS_PER_CORE;
    /* poll, not epoll: with epoll, MHD 0.9.75's pool now and then left a
     * newly accepted connection's request unread until the connection
     * timeout (see the top of the file). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* HTTPS: the PEM files read into memory (MHD wants them there). */
    struct MHD_OptionItem tls_opts[3] = {{MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL},
                                         {MHD_OPTION_END, 0, NULL}};
    if (cfg->tls_cert[0] != '\0') {
        int trc = MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES
                      ? PC_OK
                      : pc_error_set(err, PC_EINVAL, "this libmicrohttpd was built without TLS; remove \"tls\" from node.json");
        if (trc == PC_OK)
            trc = pc_file_read(cfg->tls_cert, 1024 * 1024, &h->tls_cert, err);
        if (trc == PC_OK)
            trc = pc_file_read(cfg->tls_key, 1024 * 1024, &h->tls_key, err);
        if (trc != PC_OK) {
            freeaddrinfo(ai);
            http_free(h);
            return trc;
        }
        flags |= MHD_USE_TLS;
        tls_opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key.data};
        tls_opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert.data};
    }
    h->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->conn_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->max_connections,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
        MHD_OPTION_THREAD_POOL_SIZE, pool,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1024 * 1024),
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
        MHD_OPTION_ARRAY, tls_opts,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (h->d == NULL) {
        bool tls = cfg->tls_cert[0] != '\0';
        http_free(h);
        return pc_error_set(err, PC_EIO, "cannot listen on %s:%d (in use, or not an address of this machine?%s)",
                            cfg->listen_host, cfg->listen_port,
                            tls ? " or the TLS certificate and key in node.json do not form a pair" : "");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    *port = info != NULL ? info->port : (uint16_t)cfg->listen_port;
    *out = h;
    return PC_OK;
}

void pc_http_quiesce(pc_http *h)
{
    if (h != NULL && h->d != NULL && h->quiesced == MHD_INVALID_SOCKET)
        h->quiesced = MHD_quiesce_daemon(h->d);
}

void pc_http_stop(pc_http *h)
{
    if (h == NULL)
        return;
    /* libmicrohttpd refuses to stop with suspended connections: end the
     * timer, then resume whatever is still waiting (normally nothing, since
     * pc_node_stop failed every waiter, which resumed them). Requests still
     * being handled see stopping and answer without suspending. */
    pthread_mutex_lock(&h->susp_mu);
    h->stopping = true;
    pthread_cond_signal(&h->timer_cv);
    pthread_mutex_unlock(&h->susp_mu);
    if (h->timer_started)
        pthread_join(h->timer, NULL);
    h->timer_started = false;
    for (;;) {
        pthread_mutex_lock(&h->susp_mu);
        sub *s = h->thead;
        if (s != NULL) {
            timer_unlink(h, s);
            s->claimed = true;
        }
        pthread_mutex_unlock(&h->susp_mu);
        if (s == NULL)
            break;
        sub_detach(s);
        MHD_resume_connection(s->c);
    }
    if (h->d != NULL)
        MHD_stop_daemon(h->d);
    if (h->quiesced != MHD_INVALID_SOCKET)
        close(h->quiesced);
    http_free(h);
}
