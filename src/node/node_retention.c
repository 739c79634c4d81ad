/* Retention of etcd's window (node_retention.h). One thread; every etcd call
 * is made with the orderer borrowed through the node's gate, so catch-up can
 * swap the orderer in between. Publishing happens here rather than in the
 * delivery callback so that applying blocks never waits for an etcd write.
 *
 * With retention.max_lag set, compaction does not go through the orderer's
 * pc_etcd_compact_retained (which counts every published position, so a
 * node that stays down holds compaction back for ever) but reads the
 * published positions itself over the etcd gateway (same endpoints, TLS
 * files and user as the orderer) and leaves out those more than max_lag
 * revisions behind etcd's current revision: such a node catches up from a
 * peer when it returns. */
#include "node/node_retention.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "parcha/jcs.h"
#include "node/node_flow.h"
#include "node/node_log.h"

#define TICK_MS 500

struct pc_retention {
    pc_node *n;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    pc_retention_info info; /* under mu */

    /* The retention thread's own etcd client (max_lag mode). */
    CURL *h;
    char *token;           /* etcd auth token, wiped when dropped */
    size_t ep;             /* member in use */
    char applied_prefix[600], applied_end[600];
};

/* ---- a small etcd gateway client for the max_lag compaction ---- */

static size_t sink_body(char *d, size_t s, size_t n, void *u)
{
    return pc_buf_append(u, d, s * n) == PC_OK ? s * n : 0;
}

static void drop_token(pc_retention *r)
{
    if (r->token != NULL) {
        sodium_memzero(r->token, strlen(r->token));
        free(r->token);
        r->token = NULL;
    }
}

/* POST body to path on member ep. 0 with the HTTP status and answer, -1 when
 * no answer came. */
static int post(pc_retention *r, size_t ep, const char *path, const char *body, bool auth,
                long *status, pc_buf *resp)
{
    const pc_node_config *cfg = pc_node_cfg(r->n);
    char url[1200], hdr[1200];
    snprintf(url, sizeof url, "%s%s", cfg->etcd_endpoints[ep], path);
    struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *t = l != NULL ? curl_slist_append(l, "Expect:") : NULL;
    if (t == NULL) {
        curl_slist_free_all(l);
        return -1;
    }
    l = t;
    if (auth && r->token != NULL) {
        snprintf(hdr, sizeof hdr, "Authorization: %s", r->token);
        t = curl_slist_append(l, hdr);
        sodium_memzero(hdr, sizeof hdr);
        if (t == NULL) {
            curl_slist_free_all(l);
            return -1;
        }
        l = t;
    }
    pc_buf_free(resp);
    pc_buf_init(resp);
    resp->cap_limit = (size_t)16 * 1024 * 1024;
    curl_easy_reset(r->h);
    curl_easy_setopt(r->h, CURLOPT_URL, url);
    curl_easy_setopt(r->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, l);
    curl_easy_setopt(r->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(r->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, sink_body);
    curl_easy_setopt(r->h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(r->h, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    curl_easy_setopt(r->h, CURLOPT_TIMEOUT_MS, 3000L);
    if (cfg->etcd_cacert != NULL)
        curl_easy_setopt(r->h, CURLOPT_CAINFO, cfg->etcd_cacert);
    if (cfg->etcd_cert != NULL) {
        curl_easy_setopt(r->h, CURLOPT_SSLCERT, cfg->etcd_cert);
        curl_easy_setopt(r->h, CURLOPT_SSLKEY, cfg->etcd_key);
    }
    CURLcode cc = curl_easy_perform(r->h);
    curl_easy_setopt(r->h, CURLOPT_POSTFIELDS, (const char *)NULL);
    curl_slist_free_all(l);
    *status = 0;
    if (cc != CURLE_OK)
        return -1;
    curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

/* Log in on member ep (when a user is configured and no token is held). */
static int login(pc_retention *r, size_t ep, pc_error *err)
{
    const pc_node_config *cfg = pc_node_cfg(r->n);
    if (cfg->etcd_user == NULL || r->token != NULL)
        return PC_OK;
    json_t *req = json_pack("{s:s,s:s}", "name", cfg->etcd_user, "password",
                            cfg->etcd_password != NULL ? cfg->etcd_password : "");
    char *body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (body == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    pc_buf resp;
    pc_buf_init(&resp);
    long st = 0;
    int prc = post(r, ep, "/v3/auth/authenticate", body, false, &st, &resp);
    sodium_memzero(body, strlen(body));
    free(body);
    int rc = PC_OK;
    json_t *j = prc == 0 && st == 200 ? json_loadb((const char *)resp.data, resp.len, 0, NULL) : NULL;
    const char *tok = json_string_value(json_object_get(j, "token"));
    bool ok = tok != NULL && tok[0] != '\0' && strlen(tok) < 1000;
    for (const char *c = tok; ok && *c != '\0'; c++)
        ok = *c > ' ' && *c < 0x7f;
    if (ok) {
        r->token = strdup(tok);
        if (r->token == NULL)
            rc = pc_error_set(err, PC_ENOMEM, "out of memory");
    } else {
        rc = pc_error_set(err, prc == 0 && (st == 400 || st == 401 || st == 403) ? PC_EDENIED : PC_EUNAVAIL,
                          "etcd %s refused the log-in of user %s (HTTP %ld)", cfg->etcd_endpoints[ep],
                          cfg->etcd_user, st);
    }
    json_decref(j);
    pc_buf_free(&resp);
    return rc;
}

/* POST to the member in use, moving on to the next after no answer or a
 * 5xx, logging in again after a rejected token. Answer in *out. */
static int call(pc_retention *r, const char *path, const char *body, json_t **out, pc_error *err)
{
    const pc_node_config *cfg = pc_node_cfg(r->n);
    *out = NULL;
    pc_buf resp;
    pc_buf_init(&resp);
    int rc = pc_error_set(err, PC_EUNAVAIL, "no etcd member answered %s", path);
    for (size_t tries = 0; tries < 2 * cfg->netcd; tries++) {
        size_t ep = r->ep;
        if (login(r, ep, err) != PC_OK) {
            rc = err->code;
            if (rc == PC_EDENIED)
                break;
            r->ep = (r->ep + 1) % cfg->netcd;
            continue;
        }
        long st = 0;
        if (post(r, ep, path, body, true, &st, &resp) != 0 || st >= 500 || st == 429) {
            r->ep = (r->ep + 1) % cfg->netcd;
            continue;
        }
        if (st == 401 || strstr((const char *)resp.data, "invalid auth token") != NULL) {
            drop_token(r);
            continue;
        }
        if (st != 200) {
            rc = pc_error_set(err, strstr((const char *)resp.data, "compacted") != NULL ? PC_ENOTFOUND : PC_EINVAL,
                              "etcd %s%s answered HTTP %ld: %.120s", cfg->etcd_endpoints[ep], path, st,
                              (const char *)resp.data);
            break;
        }
        *out = json_loadb((const char *)resp.data, resp.len, 0, NULL);
        rc = *out != NULL ? PC_OK : pc_error_set(err, PC_EIO, "etcd answered %s with bad JSON", path);
        if (rc == PC_OK)
            pc_error_clear(err);
        break;
    }
    pc_buf_free(&resp);
    return rc;
}

/* Base64 (standard, padded) of s into out. */
static void b64(char *out, size_t outlen, const char *s)
{
    sodium_bin2base64(out, outlen, (const unsigned char *)s, strlen(s), sodium_base64_VARIANT_ORIGINAL);
}

/* A decimal number, the whole of s. */
static bool u64_text(const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return false;
    *out = x;
    return true;
}

static bool u64_of(const json_t *v, uint64_t *out)
{
    const char *s = json_string_value(v);
    if (s != NULL)
        return u64_text(s, out);
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return true;
    }
    return false;
}

/* Every node's published applied position: one range over the applied
 * prefix. Serializable ranges are answered by the member from its own copy,
 * without a round of the consensus. */
static int range_applied(pc_retention *r, bool serializable, json_t **ans, pc_error *err)
{
    char k[900], e[900], body[2000];
    b64(k, sizeof k, r->applied_prefix);
    b64(e, sizeof e, r->applied_end);
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"range_end\":\"%s\"%s}", k, e,
             serializable ? ",\"serializable\":true" : "");
    return call(r, "/v3/kv/range", body, ans, err);
}

/* The base64 member `field` of an etcd kv, decoded into buf as a string.
 * False when missing, malformed or longer than size - 1 bytes. */
static bool kv_text(const json_t *kv, const char *field, char *buf, size_t size)
{
    const char *v = json_string_value(json_object_get(kv, field));
    size_t n = 0;
    if (v == NULL || sodium_base642bin((unsigned char *)buf, size - 1, v, strlen(v), NULL, &n, NULL,
                                       sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    buf[n] = '\0';
    return true;
}

/* The applied position a kv holds. */
static bool kv_position(const json_t *kv, uint64_t *pos)
{
    char val[32];
    return kv_text(kv, "value", val, sizeof val) && u64_text(val, pos);
}

/* Compact to the lowest applied position published within max_lag of the
 * current revision, minus margin. *to gets the target (0: nothing to do). */
static int compact_lagging(pc_retention *r, uint64_t *to, size_t *ignored, pc_error *err)
{
    const pc_node_config *cfg = pc_node_cfg(r->n);
    *to = 0;
    *ignored = 0;
    json_t *ans = NULL;
    int rc = range_applied(r, false, &ans, err);
    if (rc != PC_OK)
        return rc;
    uint64_t current = 0, min = UINT64_MAX;
    if (!u64_of(json_object_get(json_object_get(ans, "header"), "revision"), &current)) {
        json_decref(ans);
        return pc_error_set(err, PC_EIO, "etcd's range answer has no revision");
    }
    size_t i;
    json_t *kv;
    json_array_foreach(json_object_get(ans, "kvs"), i, kv) {
        uint64_t a = 0;
        if (!kv_position(kv, &a))
            continue;
        if (current > a && current - a > cfg->retention_max_lag) {
            (*ignored)++;
            continue;
        }
        if (a < min)
            min = a;
    }
    json_decref(ans);
    if (min == UINT64_MAX || min <= cfg->retention_margin)
        return PC_OK;
    uint64_t target = min - cfg->retention_margin;
    char body[100];
    snprintf(body, sizeof body, "{\"revision\":\"%llu\",\"physical\":false}", (unsigned long long)target);
    rc = call(r, "/v3/kv/compaction", body, &ans, err);
    json_decref(ans);
    if (rc == PC_ENOTFOUND) { /* already compacted this far */
        pc_error_clear(err);
        return PC_OK;
    }
    if (rc == PC_OK)
        *to = target;
    return rc;
}

/* Flow control: read every node's published applied position (one range
 * over the applied prefix) and hand them to the flow state. A failed read
 * changes nothing: peers then look silent and, after dead_after_ms, are no
 * longer waited for, so an unreachable etcd never holds the proposer. */
static void read_positions(pc_retention *r, pc_flow *f)
{
    /* Serializable: a linearizable read costs every member work, 10-20
     * times a second per node; a position a few ms old is fine here. */
    json_t *ans = NULL;
    pc_error err;
    pc_error_clear(&err);
    if (range_applied(r, true, &ans, &err) != PC_OK)
        return;
    int64_t now = pc_mono_ms();
    size_t plen = strlen(r->applied_prefix), i;
    json_t *kv;
    json_array_foreach(json_object_get(ans, "kvs"), i, kv) {
        char key[700];
        uint64_t pos = 0;
        if (kv_text(kv, "key", key, sizeof key) && kv_position(kv, &pos) && strlen(key) > plen &&
            memcmp(key, r->applied_prefix, plen) == 0)
            pc_flow_peer(f, key + plen, pos, now);
    }
    json_decref(ans);
}

/* Sleep up to ms; true if stopping. */
static bool nap(pc_retention *r, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        if (pthread_cond_timedwait(&r->cv, &r->mu, &until) == ETIMEDOUT)
            break;
    }
    bool s = r->stopping;
    pthread_mutex_unlock(&r->mu);
    return s;
}

/* The next compaction time: interval plus up to 20 % jitter. */
static int64_t next_compaction(int interval_ms)
{
    uint32_t jitter = interval_ms >= 5 ? randombytes_uniform((uint32_t)(interval_ms / 5)) : 0;
    return pc_mono_ms() + interval_ms + (int64_t)jitter;
}

static void *retention_main(void *arg)
{
    pc_retention *r = arg;
    pc_node *n = r->n;
    const pc_node_config *cfg = pc_node_cfg(n);
    int64_t last_publish = 0;
    uint64_t published_height = 0;
    int64_t compact_at = cfg->retention_interval_ms > 0 ? next_compaction(cfg->retention_interval_ms) : 0;
    char last_logged[256] = "";
    size_t last_ignored = 0;
    /* With flow control the loop turns every flow_interval_ms: positions
     * must be fresh for the other nodes' proposers. */
    pc_flow *flow = pc_node_flow(n);
    int tick = flow != NULL && cfg->flow_interval_ms < TICK_MS ? cfg->flow_interval_ms : TICK_MS;
    int64_t last_health = 0;
    while (!nap(r, tick)) {
        int64_t now = pc_mono_ms();
        if (now - last_health >= TICK_MS) {
            pc_node_health_tick(n);
            last_health = now;
        }
        pc_head h;
        pc_node_head(n, &h);
        pthread_mutex_lock(&r->mu);
        uint64_t published = r->info.published;
        pthread_mutex_unlock(&r->mu);
        bool due = h.pos > published &&
                   (now - last_publish >= cfg->publish_interval_ms ||
                    (flow != NULL && now - last_publish >= cfg->flow_interval_ms) ||
                    h.height >= published_height + cfg->publish_every_blocks);
        if (due && !pc_node_catching_up(n)) {
            pc_orderer *o = pc_node_orderer_acquire(n);
            int rc = o != NULL && o->ops->applied != NULL ? o->ops->applied(o, h.pos) : PC_EUNAVAIL;
            pc_etcd_stats st;
            if (rc != PC_OK && o != NULL && pc_etcd_get_stats(o, &st) == PC_OK) {
                pthread_mutex_lock(&r->mu);
                snprintf(r->info.last_error, sizeof r->info.last_error, "publishing the applied position: %.200s",
                         st.last_error);
                pthread_mutex_unlock(&r->mu);
            }
            pc_node_orderer_release(n, o);
            last_publish = now;
            if (rc == PC_OK) {
                published_height = h.height;
                pthread_mutex_lock(&r->mu);
                r->info.published = h.pos;
                pthread_mutex_unlock(&r->mu);
            }
        }
        if (flow != NULL)
            read_positions(r, flow);
        if (compact_at != 0 && now >= compact_at) {
            compact_at = next_compaction(cfg->retention_interval_ms);
            pc_orderer *o = pc_node_orderer_acquire(n);
            if (o == NULL)
                continue;
            pc_error err;
            pc_error_clear(&err);
            uint64_t to = 0;
            size_t ignored = 0;
            int rc;
            if (cfg->retention_max_lag == 0) {
                rc = pc_etcd_compact_retained(o, cfg->retention_margin, &to, &err);
                pc_node_orderer_release(n, o);
            } else {
                pc_node_orderer_release(n, o);
                rc = compact_lagging(r, &to, &ignored, &err);
            }
            if (ignored > 0 && ignored != last_ignored)
                pc_node_log("warn", "retention: %zu node(s) are more than %llu revisions behind; etcd is compacted "
                                    "past them (they catch up from a peer when back)",
                            ignored, (unsigned long long)cfg->retention_max_lag);
            last_ignored = ignored;
            pthread_mutex_lock(&r->mu);
            if (rc == PC_OK && to > 0) {
                r->info.compacted_to = to;
                r->info.last_compact_ms = pc_now_ms();
            } else if (rc != PC_OK && rc != PC_ENOTFOUND) {
                snprintf(r->info.last_error, sizeof r->info.last_error, "compacting etcd: %.220s", err.msg);
            }
            pthread_mutex_unlock(&r->mu);
            if (rc == PC_OK && to > 0)
                atomic_fetch_add(&pc_node_metrics(n)->retention_compactions, 1);
            if (rc != PC_OK && rc != PC_ENOTFOUND && strcmp(last_logged, err.msg) != 0) {
                pc_node_log("warn", "retention: cannot compact etcd: %s", err.msg);
                snprintf(last_logged, sizeof last_logged, "%s", err.msg);
            }
        }
    }
    return NULL;
}

int pc_retention_open(pc_node *n, pc_retention **out, pc_error *err)
{
    *out = NULL;
    pc_retention *r = calloc(1, sizeof *r);
    if (r == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    r->n = n;
    const pc_node_config *cfg = pc_node_cfg(n);
    char prefix[600];
    if (cfg->etcd_prefix != NULL)
        snprintf(prefix, sizeof prefix, "%s", cfg->etcd_prefix);
    else
        snprintf(prefix, sizeof prefix, "/parcha/%s/p/", cfg->network);
    size_t pl = strlen(prefix); /* ends in "p/": checked by the config */
    snprintf(r->applied_prefix, sizeof r->applied_prefix, "%.*sapplied/", (int)(pl - 2), prefix);
    snprintf(r->applied_end, sizeof r->applied_end, "%s", r->applied_prefix);
    r->applied_end[strlen(r->applied_end) - 1]++; /* '/' + 1: the prefix's range end */
    r->h = curl_easy_init();
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (r->h == NULL || pthread_create(&r->thread, NULL, retention_main, r) != 0) {
        if (r->h != NULL)
            curl_easy_cleanup(r->h);
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return pc_error_set(err, PC_ENOMEM, "cannot start the retention thread");
    }
    r->started = true;
    *out = r;
    return PC_OK;
}

void pc_retention_get(pc_retention *r, pc_retention_info *out)
{
    memset(out, 0, sizeof *out);
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    *out = r->info;
    pthread_mutex_unlock(&r->mu);
}

void pc_retention_stop(pc_retention *r)
{
    if (r == NULL || !r->started)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    r->started = false;
}

void pc_retention_close(pc_retention *r)
{
    if (r == NULL)
        return;
    pc_retention_stop(r);
    drop_token(r);
    if (r->h != NULL)
        curl_easy_cleanup(r->h);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
