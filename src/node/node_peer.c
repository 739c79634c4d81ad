/* Peers (node_peer.h): finding other hospitals' nodes and asking them things
 * over HTTP(S) with libcurl.
 *
 * Every request gets a curl easy handle from a small pool (so connections to
 * a peer are kept alive between catch-up batches), an overall timeout, no
 * signals (threads), no redirects (a peer cannot send us elsewhere), only
 * http and https, and the configured CA (peer_tls.cacert) to check a peer's
 * certificate; verification is never switched off. Answers are capped. */
#include "node/node_peer.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sodium.h>

#define POOL_MAX 16
#define METRIC_MAX 512

typedef struct peer_metric {
    char peer[33];
    int code; /* HTTP status, 0 = no answer */
    uint64_t count;
} peer_metric;

typedef struct peer_down {
    char peer[33];
    int64_t at_ms; /* pc_mono_ms of the last failure, 0 = answered since */
} peer_down;

struct pc_peers {
    const pc_node_config *cfg;
    pthread_mutex_t mu;
    peer_down down[PC_PEER_MAX];
    size_t ndown;
    CURL *pool[POOL_MAX];
    size_t npool;
    peer_metric metrics[METRIC_MAX];
    size_t nmetrics;
};

void pc_peer_reply_init(pc_peer_reply *r)
{
    memset(r, 0, sizeof *r);
    pc_buf_init(&r->body);
}

void pc_peer_reply_free(pc_peer_reply *r)
{
    pc_buf_free(&r->body);
    memset(r, 0, sizeof *r);
}

int pc_peers_open(const pc_node_config *cfg, pc_peers **out, pc_error *err)
{
    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return pc_error_set(err, PC_EIO, "libcurl failed to initialise");
    pc_peers *p = calloc(1, sizeof *p);
    if (p == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    p->cfg = cfg;
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return PC_OK;
}

void pc_peers_close(pc_peers *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->npool; i++)
        curl_easy_cleanup(p->pool[i]);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* ---- where peers are ---- */

/* Copy a base URL without trailing slashes; false if it does not fit or is
 * not http(s). */
static bool set_url(char url[PC_PEER_URL_MAX], const char *s)
{
    if (s == NULL || (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0))
        return false;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    if (n == 0 || n >= PC_PEER_URL_MAX)
        return false;
    memcpy(url, s, n);
    url[n] = '\0';
    return true;
}

/* The chain's hospitals list (new reference or NULL). */
static json_t *chain_hospitals(pc_ledger *l)
{
    json_t *arr = NULL;
    pc_error e;
    if (l == NULL || pc_ledger_hospitals_json(l, &arr, &e) != PC_OK)
        return NULL;
    return arr;
}

int pc_peers_url(pc_peers *p, pc_ledger *l, const char *hospital, char url[PC_PEER_URL_MAX],
                 pc_error *err)
{
    const json_t *m = p->cfg->peers != NULL ? json_object_get(p->cfg->peers, hospital) : NULL;
    if (m != NULL && set_url(url, json_string_value(m)))
        return PC_OK;
    json_t *arr = chain_hospitals(l);
    size_t i;
    json_t *h;
    int rc = pc_error_set(err, PC_ENOTFOUND,
                          "no address is known for hospital %s's node (add it to \"peers\" in node.json)",
                          hospital);
    json_array_foreach(arr, i, h) {
        const char *id = json_string_value(json_object_get(h, "id"));
        if (id != NULL && strcmp(id, hospital) == 0 &&
            set_url(url, json_string_value(json_object_get(h, "endpoint")))) {
            pc_error_clear(err);
            rc = PC_OK;
            break;
        }
    }
    json_decref(arr);
    return rc;
}

void pc_peers_hospital_name(pc_ledger *l, const char *hospital, char *name, size_t len)
{
    name[0] = '\0';
    json_t *arr = chain_hospitals(l);
    size_t i;
    json_t *h;
    json_array_foreach(arr, i, h) {
        const char *id = json_string_value(json_object_get(h, "id"));
        const char *nm = json_string_value(json_object_get(h, "name"));
        if (id != NULL && nm != NULL && strcmp(id, hospital) == 0) {
            snprintf(name, len, "%s", nm);
            break;
        }
    }
    json_decref(arr);
}

/* Add (id, url) unless the id is hosted here, or already listed, or the URL
 * is one we already have (one node hosting several hospitals). */
static void list_add(const pc_node_config *cfg, pc_peer *out, size_t max, size_t *n,
                     const char *id, const char *url)
{
    if (*n >= max || id == NULL || pc_node_config_hosts(cfg, id))
        return;
    pc_peer pe;
    memset(&pe, 0, sizeof pe);
    if (strlen(id) >= sizeof pe.id || !set_url(pe.url, url))
        return;
    snprintf(pe.id, sizeof pe.id, "%s", id);
    for (size_t i = 0; i < *n; i++)
        if (strcmp(out[i].id, pe.id) == 0 || strcmp(out[i].url, pe.url) == 0)
            return;
    out[(*n)++] = pe;
}

size_t pc_peers_list(pc_peers *p, pc_ledger *l, pc_peer *out, size_t max)
{
    pc_peer all[PC_PEER_MAX];
    size_t n = 0;
    const char *k;
    json_t *v;
    if (p->cfg->peers != NULL) {
        json_object_foreach(p->cfg->peers, k, v)
            list_add(p->cfg, all, PC_PEER_MAX, &n, k, json_string_value(v));
    }
    json_t *arr = chain_hospitals(l);
    size_t i;
    json_t *h;
    json_array_foreach(arr, i, h) {
        const char *id = json_string_value(json_object_get(h, "id"));
        if (id != NULL && p->cfg->peers != NULL && json_object_get(p->cfg->peers, id) != NULL)
            continue; /* node.json wins */
        list_add(p->cfg, all, PC_PEER_MAX, &n, id, json_string_value(json_object_get(h, "endpoint")));
    }
    json_decref(arr);
    size_t start = n > 0 ? (size_t)randombytes_uniform((uint32_t)n) : 0;
    size_t m = 0;
    for (size_t j = 0; j < n && m < max; j++)
        out[m++] = all[(start + j) % n];
    return m;
}

/* ---- requests ---- */

static CURL *pool_get(pc_peers *p)
{
    pthread_mutex_lock(&p->mu);
    CURL *h = p->npool > 0 ? p->pool[--p->npool] : NULL;
    pthread_mutex_unlock(&p->mu);
    if (h == NULL)
        h = curl_easy_init();
    else
        curl_easy_reset(h);
    return h;
}

static void pool_put(pc_peers *p, CURL *h)
{
    pthread_mutex_lock(&p->mu);
    if (p->npool < POOL_MAX) {
        p->pool[p->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    if (h != NULL)
        curl_easy_cleanup(h);
}

static void count(pc_peers *p, const char *peer, int code)
{
    pthread_mutex_lock(&p->mu);
    size_t i = 0;
    while (i < p->nmetrics && (p->metrics[i].code != code || strcmp(p->metrics[i].peer, peer) != 0))
        i++;
    if (i == p->nmetrics && p->nmetrics < METRIC_MAX) {
        snprintf(p->metrics[i].peer, sizeof p->metrics[i].peer, "%s", peer);
        p->metrics[i].code = code;
        p->nmetrics++;
    }
    if (i < p->nmetrics)
        p->metrics[i].count++;
    pthread_mutex_unlock(&p->mu);
}

typedef struct sink {
    pc_buf *body;
    size_t max;
    bool over;
} sink;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    sink *s = userp;
    size_t n = size * nmemb;
    if (s->body->len + n > s->max || pc_buf_append(s->body, data, n) != PC_OK) {
        s->over = true;
        return 0;
    }
    return n;
}

/* Copy the value of header line (data, n) into out when its name is name. */
static void header_value(const char *data, size_t n, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (n <= nl + 1 || strncasecmp(data, name, nl) != 0 || data[nl] != ':')
        return;
    const char *v = data + nl + 1;
    const char *end = data + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t vl = (size_t)(end - v);
    if (vl >= outlen)
        vl = outlen - 1;
    memcpy(out, v, vl);
    out[vl] = '\0';
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    pc_peer_reply *r = userp;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) { /* a new response (after 100) */
        r->ctype[0] = '\0';
        r->position[0] = '\0';
    }
    header_value(data, n, "Content-Type", r->ctype, sizeof r->ctype);
    header_value(data, n, "X-Parcha-Position", r->position, sizeof r->position);
    return n;
}

int pc_peers_get(pc_peers *p, const char *peer, const char *base_url, const char *target,
                 const char *const *headers, size_t nheaders, int timeout_ms,
                 size_t max_body, pc_peer_reply *r, pc_error *err)
{
    const pc_node_config *cfg = p->cfg;
    char url[PC_PEER_URL_MAX + 2100];
    int w = snprintf(url, sizeof url, "%s%s", base_url, target);
    if (w < 0 || (size_t)w >= sizeof url)
        return pc_error_set(err, PC_EINVAL, "request URL too long");
    CURL *h = pool_get(p);
    if (h == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory for a curl handle");
    struct curl_slist *hl = curl_slist_append(NULL, "Accept: application/json");
    for (size_t i = 0; hl != NULL && i < nheaders; i++) {
        struct curl_slist *t = curl_slist_append(hl, headers[i]);
        if (t == NULL) {
            curl_slist_free_all(hl);
            hl = NULL;
        } else {
            hl = t;
        }
    }
    if (hl == NULL) {
        pool_put(p, h);
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    }
    pc_buf_free(&r->body);
    pc_buf_init(&r->body);
    r->body.cap_limit = max_body + 1;
    r->status = 0;
    r->ctype[0] = r->position[0] = '\0';
    sink s = {&r->body, max_body, false};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms < 3000 ? timeout_ms : 3000));
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "parchad/peer");
    if (cfg->peer_cacert[0] != '\0')
        curl_easy_setopt(h, CURLOPT_CAINFO, cfg->peer_cacert);
    if (cfg->peer_cert[0] != '\0') {
        curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->peer_cert);
        curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->peer_key);
    }
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    pool_put(p, h);
    int rc;
    if (cc == CURLE_OK) {
        r->status = status;
        rc = PC_OK;
    } else if (s.over) {
        rc = pc_error_set(err, PC_ETOOBIG, "%s's node sent more than %zu bytes", peer, max_body);
    } else if (cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM ||
               cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL ||
               cc == CURLE_OUT_OF_MEMORY) {
        rc = pc_error_set(err, PC_EINVAL, "cannot ask %s's node at %s: %s (check peer_tls and peers in node.json)",
                          peer, base_url, curl_easy_strerror(cc));
    } else {
        rc = pc_error_set(err, PC_EUNAVAIL, "%s's node at %s did not answer: %s", peer, base_url,
                          curl_easy_strerror(cc));
    }
    count(p, peer, rc == PC_OK ? (int)status : 0);
    return rc;
}

void pc_peers_mark_down(pc_peers *p, const char *hospital, bool down)
{
    pthread_mutex_lock(&p->mu);
    size_t i = 0;
    while (i < p->ndown && strcmp(p->down[i].peer, hospital) != 0)
        i++;
    if (i == p->ndown && down && p->ndown < PC_PEER_MAX) {
        snprintf(p->down[i].peer, sizeof p->down[i].peer, "%s", hospital);
        p->ndown++;
    }
    if (i < p->ndown)
        p->down[i].at_ms = down ? pc_mono_ms() : 0;
    pthread_mutex_unlock(&p->mu);
}

bool pc_peers_recently_down(pc_peers *p, const char *hospital, int64_t ms)
{
    bool r = false;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->ndown; i++)
        if (strcmp(p->down[i].peer, hospital) == 0)
            r = p->down[i].at_ms != 0 && pc_mono_ms() - p->down[i].at_ms < ms;
    pthread_mutex_unlock(&p->mu);
    return r;
}

int pc_peers_render_metrics(pc_peers *p, pc_buf *out)
{
    int rc = pc_buf_printf(out, "# HELP parcha_peer_requests_total Requests to other hospitals' nodes, "
                                "by peer and HTTP status (\"unreachable\": no answer).\n"
                                "# TYPE parcha_peer_requests_total counter\n");
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; rc == PC_OK && i < p->nmetrics; i++) {
        char code[16];
        if (p->metrics[i].code == 0)
            snprintf(code, sizeof code, "unreachable");
        else
            snprintf(code, sizeof code, "%d", p->metrics[i].code);
        rc = pc_buf_printf(out, "parcha_peer_requests_total{peer=\"%s\",code=\"%s\"} %llu\n",
                           p->metrics[i].peer, code, (unsigned long long)p->metrics[i].count);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}
