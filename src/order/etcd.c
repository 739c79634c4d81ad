/* The `etcd` orderer (DESIGN §6), on libcurl and etcd 3.4's v3 JSON gateway.
 *
 * Each node writes its proposals with a put-if-absent transaction (compare
 * create_revision == 0, then put) to a key of its own,
 * prefix + node_id + "/" + seq as 20 decimal digits, and every node watches
 * the whole prefix; the etcd revision of the put is the position. Because the
 * transaction never overwrites, a submit retried after an ambiguous failure
 * (timeout, 5xx, refused connection) cannot commit twice, so every request is
 * simply retried on the next member until a total deadline, after which the
 * node gets PC_EUNAVAIL and can answer 503.
 *
 * The watch runs on a thread of its own through a curl multi handle (so
 * close() can wake it at once). It splits the stream into newline-separated
 * JSON messages, delivers PUT events in revision order and remembers the last
 * revision delivered: a stream that breaks, or stays silent longer than
 * stall_timeout_ms (a member cut off from the others keeps the stream open and
 * silent), is reopened on the next member from last + 1, with no gap and no
 * duplicate. Silence is measured here rather than with CURLOPT_LOW_SPEED_*
 * because those count whole seconds; when silence is seen, a linearizable
 * read on the same member tells an idle cluster (reconnect quietly) from a
 * member without quorum (move on). Ask etcd for progress notifications more
 * often than the stall timeout (--experimental-watch-progress-notify-interval,
 * e.g. 1s) and an idle watch is never taken for a stalled one.
 *
 * Facts this relies on (measured, /work/shared/NOTES.md): 64-bit numbers arrive
 * as strings; fields at their default value are omitted (a failed txn has no
 * "succeeded", a PUT event has no "type"); a watch from a compacted revision
 * answers canceled with compact_revision and keeps the stream open; an auth
 * token goes raw in Authorization; Expect: 100-continue costs a round trip.
 *
 * Logging: one line to stderr per member switch or stop of delivery, never one
 * per proposal. */
#include "parcha/orderer.h"
#include "order/json_cut.h"
#include "parcha/encode.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ETCD_ATTEMPT_MS 2000          /* one HTTP attempt */
#define ETCD_CONNECT_MS 1000          /* TCP (and TLS) connect within an attempt */
#define ETCD_DEADLINE_MS 10000        /* a whole request, all retries */
#define ETCD_STALL_DEFAULT_MS 3000
#define ETCD_STALL_MIN_MS 100
#define ETCD_MAX_LINE ((size_t)64 * 1024 * 1024) /* one watch message */
#define WATCH_CUT_MIN 256 /* values this long are read past jansson (json_cut.h) */
#define ETCD_MAX_BODY ((size_t)64 * 1024 * 1024) /* one unary answer */
#define ETCD_SEQ_DIGITS 20            /* UINT64_MAX has 20 digits */

typedef struct etcd_orderer {
    pc_orderer base; /* first, so a pc_orderer* is an etcd_orderer* */

    /* Configuration, copied at open and never changed. */
    char **endpoints;
    size_t nendpoints;
    char *prefix;         /* "/parcha/<net>/p/" */
    char *prefix_end;     /* prefix with its last byte incremented */
    char *node_id;
    char *applied_prefix; /* "/parcha/<net>/applied/" */
    char *applied_end;
    char *applied_key;    /* applied_prefix + node_id */
    char *cacert, *cert, *key;
    char *user, *password; /* password wiped at close */
    int stall_ms;

    pthread_mutex_t mu; /* guards everything below up to the watch fields */
    char *token;        /* NULL until authenticated (or after a 401) */
    uint64_t token_gen; /* bumped whenever token changes */
    CURL **pool;        /* idle easy handles for unary requests */
    size_t npool, cappool;
    size_t req_ep;      /* member unary requests go to */
    uint64_t applied_published;
    pc_etcd_stats stats;

    /* Watch: set by start(), then owned by the watch thread. */
    pc_etcd_compacted_fn on_compacted;
    void *compacted_ctx;
    pc_deliver_fn fn;
    void *ctx;
    CURLM *multi;
    pthread_t thread;
    int started;
    atomic_int stopping;
} etcd_orderer;

static const pc_orderer_ops etcd_ops;

/* ------------------------------------------------------------ small helpers */

/* Once per process: curl_global_init is not safe to race. Never cleaned up:
 * other parts of the process may use curl too. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

/* pthread_once body for curl_global_init. */
static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* strdup that accepts NULL (returns NULL) and reports failure through *fail. */
static char *dup_opt(const char *s, int *fail)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *fail = 1;
    return d;
}

/* Free a string after wiping it (it may be a password or a token). */
static void free_secret(char *s)
{
    if (s != NULL) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

/* The first key after every key that starts with `p` (etcd's range_end for a
 * prefix): drop trailing 0xff bytes, increment the last one. Returns a new
 * string or NULL (out of memory, or a prefix of only 0xff bytes). */
static char *prefix_range_end(const char *p)
{
    size_t n = strlen(p);
    while (n > 0 && (unsigned char)p[n - 1] == 0xff)
        n--;
    if (n == 0)
        return NULL;
    char *e = malloc(n + 1);
    if (e == NULL)
        return NULL;
    memcpy(e, p, n);
    e[n - 1] = (char)((unsigned char)e[n - 1] + 1);
    e[n] = '\0';
    return e;
}

/* Parse a decimal uint64 with nothing around it. Returns 0 on success, -1 on
 * anything else (empty, sign, junk, overflow). */
static int parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    uint64_t v = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Read a 64-bit field of a gateway object: a decimal string (how the gateway
 * sends int64) or a JSON integer. Absent means 0, etcd's default. Returns 0,
 * or -1 if present but malformed. */
static int json_u64(const json_t *obj, const char *name, uint64_t *out)
{
    json_t *v = json_object_get(obj, name);
    *out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return parse_u64(json_string_value(v), out);
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    return -1;
}

/* Append base64 (standard alphabet, padded, as the gateway expects) of
 * (p, n) to b. Keys and values are public bytes (names, proposals), so the
 * table-driven codec is used. Returns PC_OK or PC_ENOMEM. */
static int buf_b64(pc_buf *b, const void *p, size_t n)
{
    if (n > (SIZE_MAX / 4) * 3 - 3)
        return PC_ENOMEM;
    size_t elen = pc_b64std_len(n) + 1;
    char *tmp = malloc(elen);
    if (tmp == NULL)
        return PC_ENOMEM;
    size_t len = pc_b64std_encode_public(tmp, elen, p, n);
    int rc = pc_buf_append(b, tmp, len);
    free(tmp);
    return rc;
}

/* Decode base64 string `s` into *dst (a malloc'd buffer of *cap bytes, grown
 * as needed and kept by the caller). Returns the decoded length in *len, and
 * 0, or -1 on malformed input or out of memory. */
static int b64_decode_n(const char *s, size_t slen, uint8_t **dst, size_t *cap, size_t *len)
{
    size_t need = slen / 4 * 3 + 3;
    if (need > *cap) {
        uint8_t *g = realloc(*dst, need);
        if (g == NULL)
            return -1;
        *dst = g;
        *cap = need;
    }
    return pc_b64std_decode_public(*dst, *cap, len, s, slen);
}

static int b64_decode(const char *s, uint8_t **dst, size_t *cap, size_t *len)
{
    return b64_decode_n(s, strlen(s), dst, cap, len);
}

/* The etcd message inside a gateway error body ({"error":..,"message":..,
 * "code":N} for unary calls), copied into msg (always NUL-terminated), and
 * the gRPC code in *code (-1 if none). */
static void gateway_error(const pc_buf *body, char *msg, size_t msgsz, int *code)
{
    *code = -1;
    msg[0] = '\0';
    json_t *j = body->len > 0 ? json_loadb((const char *)body->data, body->len, 0, NULL)
                              : NULL;
    const char *m = NULL;
    if (j != NULL) {
        m = json_string_value(json_object_get(j, "message"));
        if (m == NULL)
            m = json_string_value(json_object_get(j, "error"));
        json_t *c = json_object_get(j, "code");
        if (json_is_integer(c))
            *code = (int)json_integer_value(c);
    }
    if (m != NULL)
        snprintf(msg, msgsz, "%s", m);
    else if (body->len > 0)
        snprintf(msg, msgsz, "%.120s", (const char *)body->data);
    json_decref(j);
}

/* Record a failure text for pc_etcd_get_stats. Takes o->mu. */
static void note_error(etcd_orderer *o, const char *msg)
{
    pthread_mutex_lock(&o->mu);
    snprintf(o->stats.last_error, sizeof o->stats.last_error, "%s", msg);
    pthread_mutex_unlock(&o->mu);
}

/* Sleep ms milliseconds (a retry back-off, not a poll). */
static void sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* ------------------------------------------------------------ HTTP plumbing */

/* curl write callback for unary answers: append to a capped pc_buf. Returning
 * less than asked makes curl fail the transfer with CURLE_WRITE_ERROR. */
static size_t body_write(char *data, size_t size, size_t nmemb, void *userp)
{
    pc_buf *b = userp;
    size_t n = size * nmemb;
    if (pc_buf_append(b, data, n) != PC_OK)
        return 0;
    return n;
}

/* Take an idle easy handle from the pool, or make one. NULL if out of
 * memory. Give it back with pool_put. */
static CURL *pool_get(etcd_orderer *o)
{
    CURL *h = NULL;
    pthread_mutex_lock(&o->mu);
    if (o->npool > 0)
        h = o->pool[--o->npool];
    pthread_mutex_unlock(&o->mu);
    return h != NULL ? h : curl_easy_init();
}

/* Return a handle to the pool (it keeps its live connection for reuse). */
static void pool_put(etcd_orderer *o, CURL *h)
{
    pthread_mutex_lock(&o->mu);
    if (o->npool == o->cappool) {
        size_t ncap = o->cappool ? o->cappool * 2 : 8;
        CURL **g = realloc(o->pool, ncap * sizeof *g);
        if (g == NULL) {
            pthread_mutex_unlock(&o->mu);
            curl_easy_cleanup(h);
            return;
        }
        o->pool = g;
        o->cappool = ncap;
    }
    o->pool[o->npool++] = h;
    pthread_mutex_unlock(&o->mu);
}

/* Copy the current token (or NULL) and its generation. *tok is malloc'd and
 * wiped-freed by the caller with free_secret. Returns -1 if out of memory. */
static int token_snapshot(etcd_orderer *o, char **tok, uint64_t *gen)
{
    int rc = 0;
    pthread_mutex_lock(&o->mu);
    *gen = o->token_gen;
    *tok = NULL;
    if (o->token != NULL) {
        *tok = strdup(o->token);
        if (*tok == NULL)
            rc = -1;
    }
    pthread_mutex_unlock(&o->mu);
    return rc;
}

/* Forget the token if it is still the one of generation `gen` (a 401 said
 * it is no good); the next request authenticates again. */
static void token_drop(etcd_orderer *o, uint64_t gen)
{
    pthread_mutex_lock(&o->mu);
    if (o->token_gen == gen && o->token != NULL) {
        free_secret(o->token);
        o->token = NULL;
        o->token_gen++;
    }
    pthread_mutex_unlock(&o->mu);
}

/* Reset `h` and set it up for one POST of (body, len) as JSON to endpoint
 * `ep` + path, answer into `resp` (unless the caller sets its own write
 * callback afterwards). timeout_ms 0 means no overall timeout (the watch).
 * `hdrs` receives the header list, which the caller frees after the
 * transfer. Returns PC_OK or PC_ENOMEM. */
static int setup_post(etcd_orderer *o, CURL *h, size_t ep, const char *path,
                      const void *body, size_t len, const char *token, long timeout_ms,
                      pc_buf *resp, struct curl_slist **hdrs)
{
    pc_buf url, auth;
    pc_buf_init(&url);
    pc_buf_init(&auth);
    int rc = pc_buf_printf(&url, "%s%s", o->endpoints[ep], path);
    if (rc != PC_OK)
        goto out;
    struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *t = l != NULL ? curl_slist_append(l, "Expect:") : NULL;
    if (t == NULL) {
        curl_slist_free_all(l);
        rc = PC_ENOMEM;
        goto out;
    }
    l = t;
    if (token != NULL) {
        rc = pc_buf_printf(&auth, "Authorization: %s", token);
        t = rc == PC_OK ? curl_slist_append(l, (const char *)auth.data) : NULL;
        if (t == NULL) {
            curl_slist_free_all(l);
            rc = PC_ENOMEM;
            goto out;
        }
        l = t;
    }
    *hdrs = l;

    curl_easy_reset(h); /* keeps the connection cache */
    curl_easy_setopt(h, CURLOPT_URL, (const char *)url.data);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM timeouts */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout_ms > 0 && timeout_ms < ETCD_CONNECT_MS ? timeout_ms
                                                                    : (long)ETCD_CONNECT_MS);
    if (timeout_ms > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (o->cacert != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, o->cacert);
    if (o->cert != NULL)
        curl_easy_setopt(h, CURLOPT_SSLCERT, o->cert);
    if (o->key != NULL)
        curl_easy_setopt(h, CURLOPT_SSLKEY, o->key);
    rc = PC_OK;
out:
    pc_buf_free(&url);
    pc_buf_free(&auth); /* wipes the token copy */
    return rc;
}

/* One blocking POST attempt. Fills *status (0 if no answer) and resp.
 * Returns the curl result; CURLE_OUT_OF_MEMORY if setup failed. */
static CURLcode post_once(etcd_orderer *o, CURL *h, size_t ep, const char *path,
                          const void *body, size_t len, const char *token,
                          long timeout_ms, long *status, pc_buf *resp)
{
    struct curl_slist *hdrs = NULL;
    *status = 0;
    resp->len = 0;
    if (setup_post(o, h, ep, path, body, len, token, timeout_ms, resp, &hdrs) != PC_OK)
        return CURLE_OUT_OF_MEMORY;
    CURLcode cc = curl_easy_perform(h);
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hdrs);
    /* Do not leave a pointer to the caller's body in a pooled handle. */
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)NULL);
    return cc;
}

/* Is cc a fault of our own configuration (bad certificate or key file,
 * malformed URL) that no other member and no retry can cure? */
static int curl_local_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
        return 1;
    default:
        return 0;
    }
}

/* Move unary requests off member `ep` (if no other thread already did) and
 * log it once. `why` says what went wrong. */
static void switch_req_member(etcd_orderer *o, size_t ep, const char *why)
{
    pthread_mutex_lock(&o->mu);
    snprintf(o->stats.last_error, sizeof o->stats.last_error, "%s: %s",
             o->endpoints[ep], why);
    if (o->nendpoints > 1 && o->req_ep == ep) {
        o->req_ep = (ep + 1) % o->nendpoints;
        o->stats.request_member = o->req_ep;
        o->stats.member_switches++;
        fprintf(stderr, "parcha etcd: requests moved from %s to %s (%s)\n",
                o->endpoints[ep], o->endpoints[o->req_ep], why);
    }
    pthread_mutex_unlock(&o->mu);
}

/* Fetch a token from member `ep` with the configured user and password,
 * unless another thread already replaced generation `gen`. Returns PC_OK,
 * PC_EDENIED (wrong user or password: retrying will not help), or PC_EIO
 * (no usable answer from this member: try another); *why explains. */
static int authenticate(etcd_orderer *o, CURL *h, size_t ep, uint64_t gen,
                        long timeout_ms, char *why, size_t whysz)
{
    pthread_mutex_lock(&o->mu);
    int fresh = o->token_gen != gen && o->token != NULL;
    pthread_mutex_unlock(&o->mu);
    if (fresh)
        return PC_OK;

    json_t *req = json_pack("{s:s, s:s}", "name", o->user, "password",
                            o->password != NULL ? o->password : "");
    char *body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req); /* jansson keeps its own copy: wipe ours below */
    if (body == NULL) {
        snprintf(why, whysz, "out of memory");
        return PC_EIO;
    }
    pc_buf resp;
    pc_buf_init(&resp);
    resp.cap_limit = ETCD_MAX_BODY;
    long status = 0;
    CURLcode cc = post_once(o, h, ep, "/v3/auth/authenticate", body, strlen(body), NULL,
                            timeout_ms, &status, &resp);
    free_secret(body);
    int rc = PC_EIO;
    if (cc != CURLE_OK) {
        snprintf(why, whysz, "authenticate: %s", curl_easy_strerror(cc));
        goto out;
    }
    if (status != 200) {
        char msg[200];
        int code;
        gateway_error(&resp, msg, sizeof msg, &code);
        snprintf(why, whysz, "authenticate: HTTP %ld: %s", status, msg);
        if (status == 400 || status == 401 || status == 403)
            rc = PC_EDENIED;
        goto out;
    }
    json_t *j = json_loadb((const char *)resp.data, resp.len, 0, NULL);
    const char *tok = json_string_value(json_object_get(j, "token"));
    int ok = tok != NULL && *tok != '\0';
    for (const char *c = tok; ok && *c != '\0'; c++)
        ok = *c > ' ' && *c < 0x7f; /* goes into a header line */
    if (ok) {
        char *copy = strdup(tok);
        if (copy != NULL) {
            pthread_mutex_lock(&o->mu);
            free_secret(o->token);
            o->token = copy;
            o->token_gen++;
            o->stats.reauths++;
            pthread_mutex_unlock(&o->mu);
            rc = PC_OK;
        } else {
            snprintf(why, whysz, "out of memory");
        }
    } else {
        snprintf(why, whysz, "authenticate: answer without a usable token");
    }
    json_decref(j);
out:
    pc_buf_free(&resp);
    return rc;
}

/* POST `body` to `path` on the current member and parse the JSON answer into
 * *out (caller json_decref's it). Retries on the next member after any
 * ambiguous failure (no answer, timeout, 5xx, 429), re-authenticates after a
 * 401, and gives up with PC_EUNAVAIL after ETCD_DEADLINE_MS. Non-retryable
 * answers map to PC_EDENIED (403, bad credentials), PC_ETOOBIG (request too
 * large), PC_ENOTFOUND (revision compacted), PC_EINVAL (other 4xx); err says
 * what etcd said. Safe only for idempotent requests, which all of ours are. */
static int etcd_call(etcd_orderer *o, const char *path, const pc_buf *body, json_t **out,
                     pc_error *err)
{
    *out = NULL;
    CURL *h = pool_get(o);
    if (h == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory for a curl handle");
    pc_buf resp;
    pc_buf_init(&resp);
    resp.cap_limit = ETCD_MAX_BODY;
    char last[256] = "no attempt made";
    int64_t deadline = pc_mono_ms() + ETCD_DEADLINE_MS;
    unsigned attempt = 0, auth_fails = 0, rounds = 0;
    int rc;
    for (;; attempt++) {
        int64_t left = deadline - pc_mono_ms();
        if (left < 50) {
            rc = pc_error_set(err, PC_EUNAVAIL,
                              "etcd unavailable: no usable answer from %zu member(s) "
                              "within %d ms (last: %s)",
                              o->nendpoints, ETCD_DEADLINE_MS, last);
            break;
        }
        if (attempt > 0) {
            pthread_mutex_lock(&o->mu);
            o->stats.retries++;
            pthread_mutex_unlock(&o->mu);
            if (attempt % o->nendpoints == 0) {
                /* Every member failed once: back off before the next round. */
                int64_t pause = (int64_t)100 << (rounds < 3 ? rounds : 3);
                rounds++;
                sleep_ms(pause < left / 2 ? pause : left / 2);
                left = deadline - pc_mono_ms();
            }
        }
        long timeout = left < ETCD_ATTEMPT_MS ? (long)left : ETCD_ATTEMPT_MS;
        pthread_mutex_lock(&o->mu);
        size_t ep = o->req_ep;
        pthread_mutex_unlock(&o->mu);

        char *tok = NULL;
        uint64_t gen = 0;
        if (token_snapshot(o, &tok, &gen) != 0) {
            rc = pc_error_set(err, PC_ENOMEM, "out of memory");
            break;
        }
        if (o->user != NULL && tok == NULL) {
            /* First request, or the last token was rejected: log in here. */
            int a = authenticate(o, h, ep, gen, timeout, last, sizeof last);
            if (a == PC_EDENIED) {
                rc = pc_error_set(err, PC_EDENIED, "etcd refused the credentials of user "
                                  "\"%s\": %s", o->user, last);
                break;
            }
            if (a != PC_OK) {
                switch_req_member(o, ep, last);
                continue;
            }
            if (token_snapshot(o, &tok, &gen) != 0) {
                rc = pc_error_set(err, PC_ENOMEM, "out of memory");
                break;
            }
            left = deadline - pc_mono_ms();
            if (left < 50) {
                free_secret(tok);
                continue; /* the deadline check at the top gives up */
            }
            timeout = left < ETCD_ATTEMPT_MS ? (long)left : ETCD_ATTEMPT_MS;
        }

        long status = 0;
        CURLcode cc = post_once(o, h, ep, path, body->data, body->len, tok, timeout,
                                &status, &resp);
        free_secret(tok);
        if (cc == CURLE_WRITE_ERROR || cc == CURLE_OUT_OF_MEMORY) {
            rc = pc_error_set(err, PC_ENOMEM, "etcd answer to %s over %zu bytes or out of "
                              "memory", path, ETCD_MAX_BODY);
            break;
        }
        if (curl_local_error(cc)) {
            rc = pc_error_set(err, PC_EINVAL, "cannot talk to %s: %s (check the TLS "
                              "files and endpoint URLs)", o->endpoints[ep],
                              curl_easy_strerror(cc));
            break;
        }
        if (cc != CURLE_OK) {
            snprintf(last, sizeof last, "%s", curl_easy_strerror(cc));
            switch_req_member(o, ep, last);
            continue;
        }
        if (status == 200) {
            json_error_t je;
            *out = json_loadb((const char *)resp.data, resp.len, 0, &je);
            rc = *out != NULL ? PC_OK
                              : pc_error_set(err, PC_EIO, "etcd %s answered bad JSON: %s",
                                             o->endpoints[ep], je.text);
            break;
        }
        char msg[200];
        int code;
        gateway_error(&resp, msg, sizeof msg, &code);
        snprintf(last, sizeof last, "HTTP %ld: %s", status, msg);
        if (status == 401 || code == 16 || strstr(msg, "invalid auth token") != NULL) {
            if (o->user != NULL && auth_fails++ < 3) {
                token_drop(o, gen);
                continue;
            }
            rc = pc_error_set(err, PC_EDENIED, "etcd %s: %s%s", o->endpoints[ep], msg,
                              o->user == NULL ? " (no etcd user configured)" : "");
            break;
        }
        if (status >= 500 || status == 429) {
            switch_req_member(o, ep, last);
            continue;
        }
        if (status == 403 || strstr(msg, "user name is empty") != NULL ||
            strstr(msg, "permission denied") != NULL)
            rc = pc_error_set(err, PC_EDENIED, "etcd %s: %s", o->endpoints[ep], msg);
        else if (strstr(msg, "too large") != NULL)
            rc = pc_error_set(err, PC_ETOOBIG, "etcd %s: %s", o->endpoints[ep], msg);
        else if (strstr(msg, "compacted") != NULL)
            rc = pc_error_set(err, PC_ENOTFOUND, "etcd %s: %s", o->endpoints[ep], msg);
        else
            rc = pc_error_set(err, PC_EINVAL, "etcd %s%s answered HTTP %ld: %s",
                              o->endpoints[ep], path, status, msg);
        break;
    }
    pc_buf_free(&resp);
    pool_put(o, h);
    return rc;
}

/* Append `"name":"<base64 of s>"` to b. */
static int buf_b64_field(pc_buf *b, const char *name, const void *p, size_t n)
{
    int rc = pc_buf_printf(b, "\"%s\":\"", name);
    if (rc == PC_OK)
        rc = buf_b64(b, p, n);
    if (rc == PC_OK)
        rc = pc_buf_append_str(b, "\"");
    return rc;
}

/* Append "key":..,"range_end":.. for every key from key up to (not
 * including) end, both base64 as the gateway wants. */
static int buf_key_range(pc_buf *b, const char *key, const char *end)
{
    int rc = buf_b64_field(b, "key", key, strlen(key));
    if (rc == PC_OK)
        rc = pc_buf_append_str(b, ",");
    if (rc == PC_OK)
        rc = buf_b64_field(b, "range_end", end, strlen(end));
    return rc;
}

/* ------------------------------------------------------------ submit */

/* The key of this node's proposal `seq` into k (size ksz). Returns its
 * length, or 0 if it does not fit. */
static size_t proposal_key(const etcd_orderer *o, uint64_t seq, char *k, size_t ksz)
{
    int n = snprintf(k, ksz, "%s%s/%0*llu", o->prefix, o->node_id, ETCD_SEQ_DIGITS,
                     (unsigned long long)seq);
    return n > 0 && (size_t)n < ksz ? (size_t)n : 0;
}

/* The key already exists (the txn did not succeed): PC_OK if it holds exactly
 * `p` (our own earlier attempt committed), PC_EEXIST if it holds something
 * else, or the error of the range request. */
static int check_existing(etcd_orderer *o, const char *key, size_t klen, const uint8_t *p,
                          size_t len, pc_error *err)
{
    pc_buf body;
    pc_buf_init(&body);
    int rc = pc_buf_append_str(&body, "{");
    if (rc == PC_OK)
        rc = buf_b64_field(&body, "key", key, klen);
    if (rc == PC_OK)
        rc = pc_buf_append_str(&body, "}");
    if (rc != PC_OK) {
        pc_buf_free(&body);
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    }
    json_t *r = NULL;
    rc = etcd_call(o, "/v3/kv/range", &body, &r, err);
    pc_buf_free(&body);
    if (rc != PC_OK)
        return rc;
    json_t *kv = json_array_get(json_object_get(r, "kvs"), 0);
    const char *v = json_string_value(json_object_get(kv, "value"));
    uint8_t *dec = NULL;
    size_t cap = 0, dlen = 0;
    if (kv == NULL) {
        /* Deleted by hand between the txn and this read. */
        rc = pc_error_set(err, PC_ESTATE, "%s existed a moment ago and is gone", key);
    } else if (b64_decode(v != NULL ? v : "", &dec, &cap, &dlen) != 0) {
        rc = pc_error_set(err, PC_EIO, "etcd holds bad base64 under %s", key);
    } else if (dlen == len && (len == 0 || memcmp(dec, p, len) == 0)) {
        pthread_mutex_lock(&o->mu);
        o->stats.resubmits_matched++;
        pthread_mutex_unlock(&o->mu);
        rc = PC_OK;
    } else {
        rc = pc_error_set(err, PC_EEXIST, "%s already holds a different proposal", key);
    }
    free(dec);
    json_decref(r);
    return rc;
}

/* ops->submit: put-if-absent of the proposal under this node's key for
 * `seq`. PC_OK once etcd committed it (or already held the same bytes from
 * an earlier attempt); PC_EEXIST if the seq holds other bytes; PC_EUNAVAIL
 * if no quorum answered within ETCD_DEADLINE_MS; other codes as etcd_call.
 * Thread-safe. */
static int etcd_submit(pc_orderer *base, uint64_t seq, const uint8_t *p, size_t len)
{
    etcd_orderer *o = (etcd_orderer *)base;
    if (p == NULL && len > 0)
        return PC_EINVAL;
    char key[1024];
    size_t klen = proposal_key(o, seq, key, sizeof key);
    if (klen == 0)
        return PC_EINVAL;
    pc_buf body;
    pc_buf_init(&body);
    int rc = pc_buf_append_str(&body, "{\"compare\":[{");
    if (rc == PC_OK)
        rc = buf_b64_field(&body, "key", key, klen);
    if (rc == PC_OK)
        rc = pc_buf_append_str(&body, ",\"target\":\"CREATE\",\"result\":\"EQUAL\","
                                      "\"create_revision\":\"0\"}],"
                                      "\"success\":[{\"request_put\":{");
    if (rc == PC_OK)
        rc = buf_b64_field(&body, "key", key, klen);
    if (rc == PC_OK)
        rc = pc_buf_append_str(&body, ",");
    if (rc == PC_OK)
        rc = buf_b64_field(&body, "value", p, len);
    if (rc == PC_OK)
        rc = pc_buf_append_str(&body, "}}]}");
    if (rc != PC_OK) {
        pc_buf_free(&body);
        return PC_ENOMEM;
    }
    pc_error err;
    pc_error_clear(&err);
    json_t *r = NULL;
    rc = etcd_call(o, "/v3/kv/txn", &body, &r, &err);
    pc_buf_free(&body);
    if (rc == PC_OK && !json_is_true(json_object_get(r, "succeeded")))
        rc = check_existing(o, key, klen, p, len, &err);
    json_decref(r);
    if (rc != PC_OK)
        note_error(o, err.msg);
    return rc;
}

/* ------------------------------------------------------------ applied, compaction */

/* ops->applied: publish `position` as this node's applied revision with a
 * plain put (a retry just writes the same value again). Positions not above
 * the last one published are a no-op. Each call is one etcd write: call it
 * every so many blocks, not for every block. */
static int etcd_applied(pc_orderer *base, uint64_t position)
{
    etcd_orderer *o = (etcd_orderer *)base;
    pthread_mutex_lock(&o->mu);
    int stale = position <= o->applied_published;
    pthread_mutex_unlock(&o->mu);
    if (stale)
        return PC_OK;
    char val[24];
    int vn = snprintf(val, sizeof val, "%llu", (unsigned long long)position);
    pc_buf body;
    pc_buf_init(&body);
    int rc = pc_buf_append_str(&body, "{");
    if (rc == PC_OK)
        rc = buf_b64_field(&body, "key", o->applied_key, strlen(o->applied_key));
    if (rc == PC_OK)
        rc = pc_buf_append_str(&body, ",");
    if (rc == PC_OK)
        rc = buf_b64_field(&body, "value", val, (size_t)vn);
    if (rc == PC_OK)
        rc = pc_buf_append_str(&body, "}");
    if (rc != PC_OK) {
        pc_buf_free(&body);
        return PC_ENOMEM;
    }
    pc_error err;
    pc_error_clear(&err);
    json_t *r = NULL;
    rc = etcd_call(o, "/v3/kv/put", &body, &r, &err);
    pc_buf_free(&body);
    json_decref(r);
    pthread_mutex_lock(&o->mu);
    if (rc == PC_OK && position > o->applied_published)
        o->applied_published = position;
    if (rc != PC_OK)
        snprintf(o->stats.last_error, sizeof o->stats.last_error, "%s", err.msg);
    pthread_mutex_unlock(&o->mu);
    return rc;
}

/* Contract in orderer.h. Reads the applied keys, then one compaction
 * request (physical: false, so it returns before the backend is swept). */
int pc_etcd_compact_retained(pc_orderer *base, uint64_t margin, uint64_t *compacted_to,
                             pc_error *err)
{
    if (compacted_to != NULL)
        *compacted_to = 0;
    if (base == NULL || base->ops != &etcd_ops)
        return pc_error_set(err, PC_EINVAL, "pc_etcd_compact_retained: not an etcd orderer");
    etcd_orderer *o = (etcd_orderer *)base;

    pc_buf body;
    pc_buf_init(&body);
    int rc = pc_buf_append_str(&body, "{");
    if (rc == PC_OK)
        rc = buf_key_range(&body, o->applied_prefix, o->applied_end);
    if (rc == PC_OK)
        rc = pc_buf_append_str(&body, "}");
    if (rc != PC_OK) {
        pc_buf_free(&body);
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    }
    json_t *r = NULL;
    rc = etcd_call(o, "/v3/kv/range", &body, &r, err);
    pc_buf_free(&body);
    if (rc != PC_OK)
        return rc;

    json_t *kvs = json_object_get(r, "kvs");
    size_t n = json_array_size(kvs);
    uint64_t min = UINT64_MAX;
    uint8_t *dec = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < n && rc == PC_OK; i++) {
        const char *v = json_string_value(json_object_get(json_array_get(kvs, i), "value"));
        size_t dlen = 0;
        uint64_t a = 0;
        char num[24];
        if (v == NULL || b64_decode(v, &dec, &cap, &dlen) != 0 || dlen == 0 ||
            dlen >= sizeof num) {
            rc = pc_error_set(err, PC_EINVAL, "malformed applied revision under %s",
                              o->applied_prefix);
            break;
        }
        memcpy(num, dec, dlen);
        num[dlen] = '\0';
        if (parse_u64(num, &a) != 0) {
            rc = pc_error_set(err, PC_EINVAL, "applied revision \"%s\" under %s is not a "
                              "number", num, o->applied_prefix);
            break;
        }
        if (a < min)
            min = a;
    }
    free(dec);
    json_decref(r);
    if (rc != PC_OK)
        return rc;
    if (n == 0)
        return pc_error_set(err, PC_ENOTFOUND, "no node has published an applied revision "
                            "under %s", o->applied_prefix);
    if (min <= margin)
        return PC_OK; /* nothing old enough to drop */
    uint64_t target = min - margin;

    pc_buf_init(&body);
    rc = pc_buf_printf(&body, "{\"revision\":\"%llu\",\"physical\":false}",
                       (unsigned long long)target);
    if (rc != PC_OK) {
        pc_buf_free(&body);
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    }
    rc = etcd_call(o, "/v3/kv/compaction", &body, &r, err);
    pc_buf_free(&body);
    json_decref(r);
    if (rc == PC_ENOTFOUND) {
        pc_error_clear(err); /* already compacted at least this far */
        return PC_OK;
    }
    if (rc == PC_OK && compacted_to != NULL)
        *compacted_to = target;
    return rc;
}

/* ------------------------------------------------------------ watch */

/* Why one watch stream ended. */
typedef enum watch_end {
    W_GOING = 0,  /* still running */
    W_FAIL,       /* broken, refused, bad answer: next member */
    W_STALL,      /* silent for stall_ms: probe, then same or next member */
    W_AUTH,       /* token rejected: authenticate, same member */
    W_DENIED,     /* permission denied: stop delivery */
    W_CONFIG,     /* our TLS files or URL are unusable: stop delivery */
    W_COMPACTED,  /* start revision compacted: hook, stop delivery */
    W_REFUSED,    /* deliver() refused: stop delivery */
    W_STOP        /* close() */
} watch_end;

/* State of one watch stream, owned by the watch thread. */
typedef struct watch_state {
    etcd_orderer *o;
    CURL *h;
    pc_buf line;       /* bytes of the message being received */
    size_t scan;       /* line.data[0..scan) holds no newline */
    uint8_t *dec;      /* decode buffer, reused */
    size_t deccap;
    uint64_t last;     /* last position delivered: survives reconnects */
    int64_t last_rx;   /* pc_mono_ms() of the last byte (or delivery) */
    long status;       /* HTTP status of this stream, 0 until known */
    int created;       /* this stream got its "created" answer */
    size_t largest;    /* longest message seen so far */
    pc_json_cut slim;  /* the message with its proposals cut out (json_cut.h) */
    watch_end end;
    uint64_t compact_rev;
    int deliver_rc;
    char why[256];
} watch_state;

/* Deliver one event object. Returns W_GOING, W_FAIL on a malformed event, or
 * W_REFUSED if the callback said no. */
static watch_end watch_event(watch_state *ws, json_t *ev)
{
    etcd_orderer *o = ws->o;
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (type != NULL && strcmp(type, "PUT") != 0)
        return W_GOING; /* DELETE: proposals are never deleted; ignore */
    json_t *kv = json_object_get(ev, "kv");
    uint64_t rev = 0;
    if (!json_is_object(kv) || json_u64(kv, "mod_revision", &rev) != 0 || rev == 0) {
        snprintf(ws->why, sizeof ws->why, "watch event without a mod_revision");
        return W_FAIL;
    }
    if (rev <= ws->last) {
        pthread_mutex_lock(&o->mu);
        o->stats.duplicates_skipped++;
        pthread_mutex_unlock(&o->mu);
        return W_GOING;
    }
    const char *v = json_string_value(json_object_get(kv, "value"));
    const pc_json_span *cut = pc_json_cut_span(&ws->slim, v);
    size_t len = 0;
    if ((cut != NULL ? b64_decode_n(cut->p, cut->n, &ws->dec, &ws->deccap, &len)
                     : b64_decode(v != NULL ? v : "", &ws->dec, &ws->deccap, &len)) != 0) {
        snprintf(ws->why, sizeof ws->why, "bad base64 in the value at revision %llu",
                 (unsigned long long)rev);
        return W_FAIL;
    }
    int rc = o->fn(o->ctx, rev, ws->dec, len);
    if (rc != PC_OK) {
        ws->deliver_rc = rc;
        snprintf(ws->why, sizeof ws->why, "deliver refused position %llu: %s",
                 (unsigned long long)rev, pc_strerror(rc));
        return W_REFUSED;
    }
    ws->last = rev;
    pthread_mutex_lock(&o->mu);
    o->stats.last_delivered = rev;
    pthread_mutex_unlock(&o->mu);
    return W_GOING;
}

/* Handle one newline-terminated message of the stream (p, n: without the
 * newline). Returns W_GOING to read on, or why the stream must end. */
static watch_end watch_message(watch_state *ws, const char *p, size_t n)
{
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' '))
        n--;
    if (n == 0)
        return W_GOING;
    json_error_t je;
    json_t *j = NULL;
    if (n >= WATCH_CUT_MIN &&
        pc_json_cut_text(&ws->slim, p, n, "value", WATCH_CUT_MIN) == PC_OK) {
        j = json_loadb((const char *)ws->slim.out.data, ws->slim.out.len, 0, &je);
    } else {
        ws->slim.nspans = 0; /* parse it whole; jansson names what is wrong */
        j = json_loadb(p, n, 0, &je);
    }
    if (j == NULL) {
        snprintf(ws->why, sizeof ws->why, "bad JSON on the watch stream: %s", je.text);
        return W_FAIL;
    }
    watch_end end = W_GOING;
    json_t *res = json_object_get(j, "result");
    json_t *error = json_object_get(j, "error");
    if (!json_is_object(res)) {
        /* {"error":{"grpc_code":..,"http_code":..,"message":..}} */
        const char *m = json_string_value(json_object_get(error, "message"));
        json_int_t hc = json_integer_value(json_object_get(error, "http_code"));
        snprintf(ws->why, sizeof ws->why, "watch error: %s", m != NULL ? m : "(none)");
        if (hc == 401 || (m != NULL && strstr(m, "auth token") != NULL))
            end = W_AUTH;
        else if (hc == 403 || (m != NULL && strstr(m, "permission denied") != NULL))
            end = W_DENIED;
        else
            end = W_FAIL;
        goto out;
    }
    if (json_is_true(json_object_get(res, "canceled"))) {
        uint64_t crev = 0;
        const char *reason = json_string_value(json_object_get(res, "cancel_reason"));
        if (json_u64(res, "compact_revision", &crev) == 0 && crev > 0) {
            ws->compact_rev = crev;
            snprintf(ws->why, sizeof ws->why, "revisions before %llu are compacted",
                     (unsigned long long)crev);
            end = W_COMPACTED;
        } else if (reason != NULL && (strstr(reason, "auth token") != NULL ||
                                      strstr(reason, "Unauthenticated") != NULL)) {
            snprintf(ws->why, sizeof ws->why, "watch canceled: %s", reason);
            end = W_AUTH;
        } else if (reason != NULL && strstr(reason, "user name is empty") != NULL) {
            /* Auth is on. With a user configured the login was lost (retry);
             * without one nothing will ever work. */
            snprintf(ws->why, sizeof ws->why, "%s",
                     ws->o->user != NULL ? "watch canceled: no token"
                                         : "etcd requires authentication and no etcd "
                                           "user is configured");
            end = ws->o->user != NULL ? W_AUTH : W_DENIED;
        } else if (reason != NULL && strstr(reason, "permission denied") != NULL) {
            snprintf(ws->why, sizeof ws->why, "watch canceled: %s", reason);
            end = W_DENIED;
        } else {
            snprintf(ws->why, sizeof ws->why, "watch canceled: %s",
                     reason != NULL ? reason : "(no reason)");
            end = W_FAIL;
        }
        goto out;
    }
    if (json_is_true(json_object_get(res, "created"))) {
        ws->created = 1;
        pthread_mutex_lock(&ws->o->mu);
        ws->o->stats.watching = 1;
        pthread_mutex_unlock(&ws->o->mu);
    }
    json_t *evs = json_object_get(res, "events");
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev) {
        end = watch_event(ws, ev);
        if (end != W_GOING)
            break;
    }
    /* No events: a progress notification (or "created"); it only proves the
     * stream is alive, which the byte clock already noted. */
out:
    json_decref(j);
    return end;
}

/* curl write callback of the watch stream: add bytes to the line buffer and
 * handle each complete line. Returning 0 ends the transfer (CURLE_WRITE_ERROR)
 * once ws->end says why. */
static size_t watch_write(char *data, size_t size, size_t nmemb, void *userp)
{
    watch_state *ws = userp;
    size_t n = size * nmemb;
    ws->last_rx = pc_mono_ms();
    if (ws->status == 0)
        curl_easy_getinfo(ws->h, CURLINFO_RESPONSE_CODE, &ws->status);
    if (pc_buf_append(&ws->line, data, n) != PC_OK) {
        snprintf(ws->why, sizeof ws->why, "watch message over %zu bytes", ETCD_MAX_LINE);
        ws->end = W_FAIL;
        return 0;
    }
    if (ws->status != 200)
        return n; /* an error body: read it whole, judged when the transfer ends */
    size_t start = 0;
    for (;;) {
        uint8_t *nl = memchr(ws->line.data + ws->scan, '\n', ws->line.len - ws->scan);
        if (nl == NULL)
            break;
        size_t at = (size_t)(nl - ws->line.data);
        if (at - start > ws->largest) {
            ws->largest = at - start;
            pthread_mutex_lock(&ws->o->mu);
            ws->o->stats.largest_message = ws->largest;
            pthread_mutex_unlock(&ws->o->mu);
        }
        watch_end e = watch_message(ws, (const char *)ws->line.data + start, at - start);
        start = at + 1;
        ws->scan = start;
        if (e != W_GOING) {
            ws->end = e;
            return 0;
        }
    }
    if (start > 0) {
        memmove(ws->line.data, ws->line.data + start, ws->line.len - start);
        ws->line.len -= start;
        ws->line.data[ws->line.len] = '\0';
    }
    ws->scan = ws->line.len;
    if (ws->line.len == 0 && ws->line.cap > ((size_t)4 << 20)) {
        /* Do not sit on the memory of one huge message for the stream's life. */
        size_t limit = ws->line.cap_limit;
        pc_buf_free(&ws->line);
        ws->line.cap_limit = limit;
        pc_json_cut_free(&ws->slim);
    }
    ws->last_rx = pc_mono_ms(); /* a slow deliver() is not a silent stream */
    return n;
}

/* How a transfer on the watch thread's multi handle ended. */
typedef enum run_end { RUN_DONE, RUN_STALL, RUN_STOP } run_end;

/* Run easy handle h on o->multi until it completes (*cc = its result), the
 * stream has been silent for stall_ms since *last_rx (only if last_rx is not
 * NULL), or close() asks to stop. The handle is removed before returning. */
static run_end multi_run(etcd_orderer *o, CURL *h, const int64_t *last_rx, int stall_ms,
                         CURLcode *cc)
{
    run_end end = RUN_DONE;
    *cc = CURLE_OK;
    if (curl_multi_add_handle(o->multi, h) != CURLM_OK) {
        *cc = CURLE_FAILED_INIT;
        return RUN_DONE;
    }
    for (;;) {
        int running = 0, done = 0, left = 0;
        if (curl_multi_perform(o->multi, &running) != CURLM_OK) {
            *cc = CURLE_FAILED_INIT;
            break;
        }
        CURLMsg *m;
        while ((m = curl_multi_info_read(o->multi, &left)) != NULL) {
            if (m->msg == CURLMSG_DONE && m->easy_handle == h) {
                *cc = m->data.result;
                done = 1;
            }
        }
        if (done)
            break;
        if (atomic_load(&o->stopping)) {
            end = RUN_STOP;
            break;
        }
        int wait = 1000;
        if (last_rx != NULL) {
            int64_t idle = pc_mono_ms() - *last_rx;
            if (idle >= stall_ms) {
                end = RUN_STALL;
                break;
            }
            if (stall_ms - idle < wait)
                wait = (int)(stall_ms - idle);
        }
        curl_multi_poll(o->multi, NULL, 0, wait, NULL);
    }
    curl_multi_remove_handle(o->multi, h);
    return end;
}

/* Wait ms milliseconds, or less if close() is called. */
static void watch_pause(etcd_orderer *o, int64_t ms)
{
    int64_t until = pc_mono_ms() + ms;
    for (;;) {
        int64_t left = until - pc_mono_ms();
        if (left <= 0 || atomic_load(&o->stopping))
            return;
        curl_multi_poll(o->multi, NULL, 0, (int)left, NULL);
    }
}

/* Open one watch stream on member `ep` from ws->last + 1 and run it until it
 * ends; returns why. */
static watch_end watch_once(etcd_orderer *o, watch_state *ws, size_t ep)
{
    pc_buf body;
    pc_buf_init(&body);
    int rc = pc_buf_append_str(&body, "{\"create_request\":{");
    if (rc == PC_OK)
        rc = buf_key_range(&body, o->prefix, o->prefix_end);
    if (rc == PC_OK)
        rc = pc_buf_printf(&body, ",\"start_revision\":\"%llu\",\"progress_notify\":true}}",
                           (unsigned long long)(ws->last + 1));
    char *tok = NULL;
    uint64_t gen = 0;
    if (rc == PC_OK && token_snapshot(o, &tok, &gen) != 0)
        rc = PC_ENOMEM;
    struct curl_slist *hdrs = NULL;
    if (rc == PC_OK)
        rc = setup_post(o, ws->h, ep, "/v3/watch", body.data, body.len, tok, 0, NULL,
                        &hdrs);
    free_secret(tok);
    if (rc != PC_OK) {
        pc_buf_free(&body);
        snprintf(ws->why, sizeof ws->why, "out of memory");
        return W_FAIL;
    }
    curl_easy_setopt(ws->h, CURLOPT_WRITEFUNCTION, watch_write);
    curl_easy_setopt(ws->h, CURLOPT_WRITEDATA, ws);

    ws->line.len = 0;
    ws->scan = 0;
    ws->status = 0;
    ws->created = 0;
    ws->end = W_GOING;
    ws->why[0] = '\0';
    ws->last_rx = pc_mono_ms();
    pthread_mutex_lock(&o->mu);
    o->stats.watch_streams++;
    pthread_mutex_unlock(&o->mu);

    CURLcode cc;
    run_end re = multi_run(o, ws->h, &ws->last_rx, o->stall_ms, &cc);
    curl_slist_free_all(hdrs);
    pc_buf_free(&body);
    pthread_mutex_lock(&o->mu);
    o->stats.watching = 0;
    pthread_mutex_unlock(&o->mu);

    if (re == RUN_STOP)
        return W_STOP;
    if (ws->end != W_GOING)
        return ws->end;
    if (re == RUN_STALL) {
        snprintf(ws->why, sizeof ws->why, "no message for %d ms", o->stall_ms);
        return W_STALL;
    }
    if (ws->status != 0 && ws->status != 200) {
        char msg[200];
        int code;
        gateway_error(&ws->line, msg, sizeof msg, &code);
        snprintf(ws->why, sizeof ws->why, "HTTP %ld: %s", ws->status, msg);
        if (ws->status == 401 || code == 16)
            return W_AUTH;
        if (ws->status == 403)
            return W_DENIED;
        return W_FAIL;
    }
    if (curl_local_error(cc)) {
        snprintf(ws->why, sizeof ws->why, "cannot talk to %s: %s (check the TLS files and "
                 "endpoint URLs)", o->endpoints[ep], curl_easy_strerror(cc));
        return W_CONFIG;
    }
    snprintf(ws->why, sizeof ws->why, "%s",
             cc == CURLE_OK ? "stream ended" : curl_easy_strerror(cc));
    return W_FAIL;
}

/* After a silent stream: can member `ep` still serve a linearizable read
 * (which needs the leader, so a member cut off from the quorum fails it)?
 * Runs on the watch thread's multi handle so close() interrupts it. */
static int member_healthy(etcd_orderer *o, CURL *h, size_t ep)
{
    pc_buf body, resp;
    pc_buf_init(&body);
    pc_buf_init(&resp);
    resp.cap_limit = ETCD_MAX_BODY;
    int ok = 0;
    char *tok = NULL;
    uint64_t gen = 0;
    struct curl_slist *hdrs = NULL;
    /* One key, so the read costs the same however many proposals etcd holds. */
    int rc = pc_buf_append_str(&body, "{");
    if (rc == PC_OK)
        rc = buf_b64_field(&body, "key", o->applied_key, strlen(o->applied_key));
    if (rc == PC_OK)
        rc = pc_buf_append_str(&body, ",\"count_only\":true}");
    if (rc == PC_OK && token_snapshot(o, &tok, &gen) != 0)
        rc = PC_ENOMEM;
    /* A member in quorum answers in milliseconds; keep the blind spot short. */
    long timeout = o->stall_ms / 2 < 1000 ? o->stall_ms / 2 : 1000;
    if (rc == PC_OK)
        rc = setup_post(o, h, ep, "/v3/kv/range", body.data, body.len, tok, timeout, &resp,
                        &hdrs);
    free_secret(tok);
    if (rc == PC_OK) {
        CURLcode cc;
        long status = 0;
        if (multi_run(o, h, NULL, 0, &cc) == RUN_DONE && cc == CURLE_OK) {
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            ok = status == 200;
        }
    }
    curl_slist_free_all(hdrs);
    pc_buf_free(&body);
    pc_buf_free(&resp);
    return ok;
}

/* Stop delivery for good and say so (one line). Takes o->mu. */
static void delivery_stopped(etcd_orderer *o, int code, const char *why)
{
    pthread_mutex_lock(&o->mu);
    o->stats.delivery_code = code;
    snprintf(o->stats.last_error, sizeof o->stats.last_error, "%s", why);
    pthread_mutex_unlock(&o->mu);
    fprintf(stderr, "parcha etcd: delivery stopped: %s\n", why);
}

/* Make sure a token exists before a watch stream opens (with auth on, a
 * watch without one is canceled with "user name is empty"). Returns PC_OK,
 * PC_EDENIED (credentials refused: retrying will not help) or PC_EIO (this
 * member did not answer); *why explains. */
static int watch_login(etcd_orderer *o, CURL *h, size_t ep, char *why, size_t whysz)
{
    char *tok = NULL;
    uint64_t gen = 0;
    if (token_snapshot(o, &tok, &gen) != 0) {
        snprintf(why, whysz, "out of memory");
        return PC_EIO;
    }
    int have = tok != NULL;
    free_secret(tok);
    if (have)
        return PC_OK;
    int rc = authenticate(o, h, ep, gen, ETCD_ATTEMPT_MS, why, whysz);
    if (rc == PC_EDENIED) {
        char msg[256];
        snprintf(msg, sizeof msg, "etcd refused the credentials of user \"%.40s\": %.150s",
                 o->user, why);
        snprintf(why, whysz, "%s", msg);
    }
    return rc;
}

/* How many proposals were written at revisions lo..hi (inclusive)? (Their
 * keys are listed: the proposals etcd still holds are a bounded window.) etcd's
 * compaction drops only superseded versions and proposals are written once
 * and never deleted, so each proposal stays readable with its mod_revision
 * after any compaction: this answers even for compacted revisions. */
static int proposals_between(etcd_orderer *o, uint64_t lo, uint64_t hi, uint64_t *count,
                             pc_error *err)
{
    pc_buf body;
    pc_buf_init(&body);
    int rc = pc_buf_append_str(&body, "{");
    if (rc == PC_OK)
        rc = buf_key_range(&body, o->prefix, o->prefix_end);
    if (rc == PC_OK)
        rc = pc_buf_printf(&body, ",\"min_mod_revision\":\"%llu\",\"max_mod_revision\":\"%llu\","
                                  "\"keys_only\":true}",
                           (unsigned long long)lo, (unsigned long long)hi);
    if (rc != PC_OK) {
        pc_buf_free(&body);
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    }
    json_t *r = NULL;
    rc = etcd_call(o, "/v3/kv/range", &body, &r, err);
    pc_buf_free(&body);
    if (rc != PC_OK)
        return rc;
    /* Keys, not count_only: etcd's count ignores the mod-revision filters. */
    const json_t *kvs = json_object_get(r, "kvs");
    *count = json_is_array(kvs) ? json_array_size(kvs) : 0;
    json_decref(r);
    return rc;
}

/* The watch thread: keep a stream open on some member, moving to the next on
 * failure or stall, until close() or a condition that retrying cannot fix. */
static void *watch_main(void *arg)
{
    etcd_orderer *o = arg;
    watch_state ws;
    memset(&ws, 0, sizeof ws);
    ws.o = o;
    pc_buf_init(&ws.line);
    ws.line.cap_limit = ETCD_MAX_LINE;
    pc_json_cut_init(&ws.slim);
    ws.slim.out.cap_limit = ETCD_MAX_LINE;
    ws.h = curl_easy_init();
    CURL *probe = curl_easy_init();
    pthread_mutex_lock(&o->mu);
    ws.last = o->stats.last_delivered;
    size_t ep = o->stats.watch_member;
    pthread_mutex_unlock(&o->mu);
    if (ws.h == NULL || probe == NULL) {
        delivery_stopped(o, PC_ENOMEM, "out of memory for a curl handle");
        goto out;
    }

    unsigned fails = 0, auth_fails = 0;
    for (;;) {
        watch_end e;
        /* Checked here too: with every member down the login fails before
         * watch_once could see the stop, and watch_pause no longer waits
         * once stopping is set, so without this the thread spun for ever
         * and close() never returned. */
        if (atomic_load(&o->stopping))
            break;
        int login = o->user != NULL ? watch_login(o, probe, ep, ws.why, sizeof ws.why) : PC_OK;
        if (login == PC_EDENIED) {
            delivery_stopped(o, PC_EDENIED, ws.why);
            break;
        }
        e = login == PC_OK ? watch_once(o, &ws, ep) : W_FAIL;
        if (e == W_STOP)
            break;
        if (login == PC_OK && ws.created) {
            fails = 0; /* this member worked: start counting afresh */
            if (e != W_AUTH)
                auth_fails = 0;
        }
        char gap[160] = "";
        if (e == W_COMPACTED && ws.compact_rev > ws.last + 1) {
            /* The revisions we missed may hold no proposal at all (the nodes'
             * published positions and other keys use revisions too): then
             * nothing is lost and the watch can start at the compaction. */
            uint64_t missed = 1;
            pc_error cerr;
            pc_error_clear(&cerr);
            if (proposals_between(o, ws.last + 1, ws.compact_rev - 1, &missed, &cerr) != PC_OK) {
                snprintf(gap, sizeof gap, " (could not check the gap for proposals: %.100s)", cerr.msg);
            } else if (missed == 0) {
                fprintf(stderr, "parcha etcd: revisions %llu..%llu are compacted but hold no proposal: "
                                "watching from %llu\n",
                        (unsigned long long)(ws.last + 1), (unsigned long long)(ws.compact_rev - 1),
                        (unsigned long long)ws.compact_rev);
                ws.last = ws.compact_rev - 1;
                continue;
            } else {
                snprintf(gap, sizeof gap, " (%llu proposals in the gap)", (unsigned long long)missed);
            }
        }
        if (e == W_COMPACTED) {
            char msg[256];
            snprintf(msg, sizeof msg,
                     "etcd compacted revisions below %llu but the watch needs %llu: "
                     "catch up from a peer%.100s",
                     (unsigned long long)ws.compact_rev, (unsigned long long)(ws.last + 1), gap);
            pthread_mutex_lock(&o->mu);
            o->stats.compact_revision = ws.compact_rev;
            pthread_mutex_unlock(&o->mu);
            delivery_stopped(o, PC_ENOTFOUND, msg);
            if (o->on_compacted != NULL)
                o->on_compacted(o->compacted_ctx, ws.compact_rev);
            break;
        }
        if (e == W_REFUSED) {
            delivery_stopped(o, ws.deliver_rc, ws.why);
            break;
        }
        if (e == W_DENIED || e == W_CONFIG) {
            delivery_stopped(o, e == W_DENIED ? PC_EDENIED : PC_EINVAL, ws.why);
            break;
        }
        if (e == W_AUTH && o->user != NULL && auth_fails < 3) {
            /* Token rejected (expired, or lost with a member restart): drop
             * it; the login at the top of the loop fetches a new one. */
            auth_fails++;
            char *tok = NULL;
            uint64_t gen = 0;
            if (token_snapshot(o, &tok, &gen) == 0) {
                free_secret(tok);
                token_drop(o, gen);
                continue;
            }
        }
        if (e == W_STALL) {
            pthread_mutex_lock(&o->mu);
            o->stats.stalls++;
            pthread_mutex_unlock(&o->mu);
            if (member_healthy(o, probe, ep)) {
                fails = 0;
                continue; /* idle but in quorum: reopen quietly */
            }
            if (atomic_load(&o->stopping))
                break;
        }
        if (e == W_GOING || e == W_FAIL || e == W_STALL || e == W_AUTH) {
            size_t next = (ep + 1) % o->nendpoints;
            pthread_mutex_lock(&o->mu);
            snprintf(o->stats.last_error, sizeof o->stats.last_error, "%.100s: %.150s",
                     o->endpoints[ep], ws.why);
            if (next != ep)
                o->stats.member_switches++;
            o->stats.watch_member = next;
            pthread_mutex_unlock(&o->mu);
            if (next != ep)
                fprintf(stderr, "parcha etcd: watch moved from %s to %s at revision %llu "
                        "(%s)\n", o->endpoints[ep], o->endpoints[next],
                        (unsigned long long)(ws.last + 1), ws.why);
            else if (fails == 0)
                fprintf(stderr, "parcha etcd: watch on %s lost at revision %llu, "
                        "reconnecting (%s)\n", o->endpoints[ep],
                        (unsigned long long)(ws.last + 1), ws.why);
            ep = next;
            fails++;
            if (fails >= o->nendpoints) {
                /* Every member failed in a row: back off, up to 1 s. */
                unsigned k = (unsigned)(fails / o->nendpoints);
                int64_t pause = (int64_t)100 << (k < 4 ? k : 4);
                watch_pause(o, pause < 1000 ? pause : 1000);
            }
        }
    }
out:
    if (ws.h != NULL)
        curl_easy_cleanup(ws.h);
    if (probe != NULL)
        curl_easy_cleanup(probe);
    pc_buf_free(&ws.line);
    pc_json_cut_free(&ws.slim);
    free(ws.dec);
    return NULL;
}

/* ops->start: watch the prefix from revision after+1 on a thread of its own.
 * PC_EINVAL for a NULL callback or after == UINT64_MAX, PC_ESTATE if already
 * started, PC_ENOMEM / PC_EIO if the multi handle or thread cannot be made. */
static int etcd_start(pc_orderer *base, uint64_t after, pc_deliver_fn fn, void *ctx)
{
    etcd_orderer *o = (etcd_orderer *)base;
    if (fn == NULL || after == UINT64_MAX)
        return PC_EINVAL;
    if (o->started)
        return PC_ESTATE;
    o->multi = curl_multi_init();
    if (o->multi == NULL)
        return PC_ENOMEM;
    o->fn = fn;
    o->ctx = ctx;
    pthread_mutex_lock(&o->mu);
    o->stats.last_delivered = after;
    o->stats.delivery_code = PC_OK;
    pthread_mutex_unlock(&o->mu);
    int e = pthread_create(&o->thread, NULL, watch_main, o);
    if (e != 0) {
        curl_multi_cleanup(o->multi);
        o->multi = NULL;
        fprintf(stderr, "parcha etcd: cannot start the watch thread: %s\n", strerror(e));
        return PC_EIO;
    }
    o->started = 1;
    return PC_OK;
}

/* ops->close: stop the watch (waking it at once), free everything, wipe the
 * password and token. The caller must not call submit() or applied()
 * concurrently with or after close(). */
static void etcd_close(pc_orderer *base)
{
    etcd_orderer *o = (etcd_orderer *)base;
    if (o == NULL)
        return;
    if (o->started) {
        atomic_store(&o->stopping, 1);
        curl_multi_wakeup(o->multi);
        pthread_join(o->thread, NULL);
    }
    if (o->multi != NULL)
        curl_multi_cleanup(o->multi);
    for (size_t i = 0; i < o->npool; i++)
        curl_easy_cleanup(o->pool[i]);
    free(o->pool);
    for (size_t i = 0; i < o->nendpoints; i++)
        free(o->endpoints[i]);
    free(o->endpoints);
    free(o->prefix);
    free(o->prefix_end);
    free(o->node_id);
    free(o->applied_prefix);
    free(o->applied_end);
    free(o->applied_key);
    free(o->cacert);
    free(o->cert);
    free(o->key);
    free(o->user);
    free_secret(o->password);
    free_secret(o->token);
    pthread_mutex_destroy(&o->mu);
    free(o);
}

static const pc_orderer_ops etcd_ops = {
    .start = etcd_start,
    .submit = etcd_submit,
    .close = etcd_close,
    .applied = etcd_applied,
};

/* ------------------------------------------------------------ public */

/* Contract in orderer.h; PC_ESTATE once started (the thread reads it). */
int pc_etcd_on_compacted(pc_orderer *base, pc_etcd_compacted_fn fn, void *ctx)
{
    if (base == NULL || base->ops != &etcd_ops)
        return PC_EINVAL;
    etcd_orderer *o = (etcd_orderer *)base;
    if (o->started)
        return PC_ESTATE;
    o->on_compacted = fn;
    o->compacted_ctx = ctx;
    return PC_OK;
}

/* Contract in orderer.h; a consistent copy taken under the lock. */
int pc_etcd_get_stats(const pc_orderer *base, pc_etcd_stats *out)
{
    if (base == NULL || base->ops != &etcd_ops || out == NULL)
        return PC_EINVAL;
    etcd_orderer *o = (etcd_orderer *)base;
    pthread_mutex_lock(&o->mu);
    *out = o->stats;
    pthread_mutex_unlock(&o->mu);
    return PC_OK;
}

/* Is s a usable node id: non-empty, printable ASCII, no '/' (which would let
 * one node's keys look like another's)? */
static int node_id_ok(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 200)
        return 0;
    for (; *s != '\0'; s++)
        if (*s <= ' ' || *s >= 0x7f || *s == '/')
            return 0;
    return 1;
}

/* Contract in orderer.h. Copies every option (the caller's strings may go
 * away), checks them, contacts nobody: the first request or start() does.
 * Returns PC_EINVAL with a message for unusable options, PC_ENOMEM, PC_EIO. */
int pc_etcd_open(const pc_etcd_options *opt, pc_orderer **out, pc_error *err)
{
    if (out == NULL || opt == NULL)
        return pc_error_set(err, PC_EINVAL, "pc_etcd_open: NULL argument");
    *out = NULL;
    if (opt->nendpoints == 0 || opt->endpoints == NULL)
        return pc_error_set(err, PC_EINVAL, "etcd: no endpoints given");
    for (size_t i = 0; i < opt->nendpoints; i++) {
        const char *e = opt->endpoints[i];
        if (e == NULL || (strncmp(e, "http://", 7) != 0 && strncmp(e, "https://", 8) != 0))
            return pc_error_set(err, PC_EINVAL, "etcd endpoint %zu must start with http:// "
                                "or https://", i);
    }
    size_t plen = opt->prefix != NULL ? strlen(opt->prefix) : 0;
    if (plen < 2 || plen > 512 || strcmp(opt->prefix + plen - 2, "p/") != 0)
        return pc_error_set(err, PC_EINVAL, "etcd prefix must end in \"p/\" (e.g. "
                            "\"/parcha/<net>/p/\") so the applied key can sit beside it");
    if (!node_id_ok(opt->node_id))
        return pc_error_set(err, PC_EINVAL, "etcd node id must be 1-200 printable "
                            "characters without '/' or spaces");
    if (opt->user != NULL && *opt->user == '\0')
        return pc_error_set(err, PC_EINVAL, "etcd user is empty");
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return pc_error_set(err, PC_EIO, "curl_global_init failed: %s",
                            curl_easy_strerror(curl_init_rc));

    etcd_orderer *o = calloc(1, sizeof *o);
    if (o == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory opening the etcd orderer");
    if (pthread_mutex_init(&o->mu, NULL) != 0) {
        free(o);
        return pc_error_set(err, PC_EIO, "cannot create a mutex");
    }
    o->base.ops = &etcd_ops;
    snprintf(o->base.name, sizeof o->base.name, "%s", "etcd");
    atomic_init(&o->stopping, 0);
    o->stall_ms = opt->stall_timeout_ms > 0 ? opt->stall_timeout_ms : ETCD_STALL_DEFAULT_MS;
    if (o->stall_ms < ETCD_STALL_MIN_MS)
        o->stall_ms = ETCD_STALL_MIN_MS;

    int fail = 0;
    o->endpoints = calloc(opt->nendpoints, sizeof *o->endpoints);
    if (o->endpoints == NULL)
        goto err_nomem;
    o->nendpoints = opt->nendpoints;
    for (size_t i = 0; i < opt->nendpoints; i++) {
        o->endpoints[i] = strdup(opt->endpoints[i]);
        if (o->endpoints[i] == NULL)
            goto err_nomem;
        size_t el = strlen(o->endpoints[i]); /* "http://h:p/" -> "http://h:p" */
        while (el > 0 && o->endpoints[i][el - 1] == '/')
            o->endpoints[i][--el] = '\0';
    }
    o->prefix = dup_opt(opt->prefix, &fail);
    o->node_id = dup_opt(opt->node_id, &fail);
    o->cacert = dup_opt(opt->cacert, &fail);
    o->cert = dup_opt(opt->cert, &fail);
    o->key = dup_opt(opt->key, &fail);
    o->user = dup_opt(opt->user, &fail);
    o->password = dup_opt(opt->password, &fail);
    if (fail)
        goto err_nomem;
    o->prefix_end = prefix_range_end(o->prefix);
    if (o->prefix_end == NULL)
        goto err_nomem;

    pc_buf b;
    pc_buf_init(&b);
    if (pc_buf_append(&b, o->prefix, plen - 2) != PC_OK ||
        pc_buf_append_str(&b, "applied/") != PC_OK) {
        pc_buf_free(&b);
        goto err_nomem;
    }
    o->applied_prefix = (char *)pc_buf_steal(&b, NULL);
    o->applied_end = prefix_range_end(o->applied_prefix);
    if (o->applied_end == NULL ||
        pc_buf_printf(&b, "%s%s", o->applied_prefix, o->node_id) != PC_OK) {
        pc_buf_free(&b);
        goto err_nomem;
    }
    o->applied_key = (char *)pc_buf_steal(&b, NULL);
    *out = &o->base;
    return PC_OK;

err_nomem:
    etcd_close(&o->base);
    return pc_error_set(err, PC_ENOMEM, "out of memory opening the etcd orderer");
}
