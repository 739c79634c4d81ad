/* Staff sessions of the web UI and the /v1/ui/ endpoints that sign with the
 * logged-in staff member's key (session.h, docs/ui.md).
 *
 * Sessions live in one sodium_malloc'd table (guard pages, kept out of swap)
 * under one mutex; a handler copies the key pair it needs onto its stack,
 * releases the lock for the slow work (Argon2id, HTTP) and wipes the copy.
 * Idle sessions are swept, and their keys wiped, on every request. Signed
 * transactions go through this node's own public API over loopback HTTP, so
 * admission, the access rule and access.log are those of the public API. */
#include "node/session.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <curl/curl.h>
#include <sodium.h>

#include "parcha/access.h"
#include "parcha/crypto.h"
#include "parcha/encode.h"
#include "parcha/fhir.h"
#include "parcha/healthid.h"
#include "parcha/httpsig.h"
#include "parcha/keyfile.h"
#include "parcha/ledger.h"
#include "parcha/tx.h"
#include "parcha/vault.h"

#define UI_FAIL_SLOTS 512
#define UI_LOCK_MAX_S 3600
#define UI_LOGINS_AT_ONCE 4          /* concurrent Argon2id runs (64 MiB each) */
#define UI_ANSWER_MAX ((size_t)16 << 20)
#define UI_HTTP_TIMEOUT_S 30L
#define UI_USERNAME_MAX 64
#define UI_PASSWORD_MIN 10
#define UI_PASSWORD_MAX 1024
#define UI_PATH_MAX 4096
#define UI_SWEEP_S 30               /* how often idle sessions are wiped */

typedef struct ui_session {
    bool used;
    uint8_t id_hash[32]; /* SHA-256 of the cookie value; the value is not kept */
    char csrf[48];
    char username[UI_USERNAME_MAX + 1];
    char hospital[PC_HOSPITAL_ID_MAX + 1];
    char role[16];
    char name[128];
    pc_keypair kp;
    int64_t created;
    int64_t last;
} ui_session;

/* Failed log-ins of one username ("u:...") or one client address ("a:..."). */
typedef struct ui_fail {
    char who[UI_USERNAME_MAX + 4];
    int count;
    int64_t first;
    int64_t locked_until;
    int64_t last;
} ui_fail;

struct pc_session_server {
    char data_dir[1024];
    char self_url[256];
    int idle_s;
    int64_t (*clock)(void);

    pthread_mutex_t mu; /* sessions, fails, logins_running */
    ui_session *sessions; /* PC_SESSION_MAX, sodium_malloc'd */
    ui_fail fails[UI_FAIL_SLOTS];
    int logins_running;

    pthread_t sweeper;    /* wipes idle sessions even when no request comes */
    bool sweeper_running;
    bool stopping;        /* under mu; wakes the sweeper through wake */
    pthread_cond_t wake;

    pthread_mutex_t store_mu; /* vault and ledger handles */
    pc_vault *vault;
    pc_ledger *ledger;
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */

/* Current time in ms: the test clock if set. */
static int64_t now_ms(const pc_session_server *s)
{
    return s->clock != NULL ? s->clock() : pc_now_ms();
}

/* Fill rs with an error answer {"error":{"code","message"}}. The message is
 * a sentence for a clerk. */
static void fail(pc_session_response *rs, int status, const char *code,
                 const char *fmt, ...) PC_PRINTF(4, 5);
static void fail(pc_session_response *rs, int status, const char *code,
                 const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_decref(rs->body);
    rs->status = status;
    rs->body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
}

/* Fill rs with a 200 answer; steals body. */
static void ok(pc_session_response *rs, json_t *body)
{
    json_decref(rs->body);
    rs->status = 200;
    rs->body = body != NULL ? body : json_object();
}

/* A JSON string member of o, or NULL. */
static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* True if s is 1..max characters of [A-Za-z0-9._-]. */
static bool name_ok(const char *s, size_t max)
{
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool good = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!good)
            return false;
    }
    return true;
}

/* True if s is printable text of 1..max bytes (no control characters). */
static bool text_ok(const char *s, size_t max)
{
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* Join DIR and a relative name into out; false if it does not fit. */
static bool dir_path(const pc_session_server *s, char *out, size_t outlen, const char *rel)
{
    int n = snprintf(out, outlen, "%s/%s", s->data_dir, rel);
    return n > 0 && (size_t)n < outlen;
}

/* Open the read-only ledger handle if it is not open yet. Caller holds
 * store_mu. The node creates ledger.db at start, so a failure here means the
 * node is not ready. */
static int ledger_ready(pc_session_server *s, pc_error *err)
{
    if (s->ledger != NULL)
        return PC_OK;
    char path[1100];
    if (!dir_path(s, path, sizeof path, "ledger.db"))
        return pc_error_set(err, PC_EINVAL, "data folder path is too long");
    return pc_ledger_open(path, PC_LEDGER_READONLY, &s->ledger, err);
}

/* ------------------------------------------------------------------------ */
/* Loopback calls to this node's public API                                  */

static size_t http_collect(char *data, size_t size, size_t n, void *ctx)
{
    pc_buf *b = ctx;
    if (n != 0 && size > SIZE_MAX / n)
        return 0;
    return pc_buf_append(b, data, size * n) == PC_OK ? size * n : 0;
}

/* Call base+path with method, extra headers and an optional JSON body. On a
 * transport success returns PC_OK with *status and *answer (parsed JSON, or
 * NULL if the body was not JSON). PC_EUNAVAIL when the node cannot be
 * reached. */
static int api_call(const char *base, const char *method, const char *path,
                    struct curl_slist *hdrs, const char *body, long *status,
                    json_t **answer, pc_error *err)
{
    char url[UI_PATH_MAX + 300];
    *status = 0;
    *answer = NULL;
    int n = snprintf(url, sizeof url, "%s%s", base, path);
    if (n < 0 || (size_t)n >= sizeof url)
        return pc_error_set(err, PC_EINVAL, "request path is too long");
    CURL *c = curl_easy_init();
    if (c == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    pc_buf got;
    pc_buf_init(&got);
    got.cap_limit = UI_ANSWER_MAX;
    struct curl_slist *h = hdrs;
    struct curl_slist *own = NULL;
    if (body != NULL) {
        own = curl_slist_append(NULL, "Content-Type: application/json");
        own = own != NULL ? curl_slist_append(own, "Expect:") : NULL;
        for (struct curl_slist *p = hdrs; own != NULL && p != NULL; p = p->next)
            own = curl_slist_append(own, p->data);
        h = own;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, UI_HTTP_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (h != NULL)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode cc = curl_easy_perform(c);
    int rc = PC_OK;
    if (cc != CURLE_OK) {
        rc = pc_error_set(err, PC_EUNAVAIL, "the node's API did not answer (%s)",
                          curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        *answer = json_loadb((const char *)got.data, got.len, 0, NULL);
    }
    curl_slist_free_all(own);
    curl_easy_cleanup(c);
    pc_buf_free(&got);
    return rc;
}

/* Pass a non-200 API answer on to the browser as it is when it has the
 * error shape, else in words. Steals answer. */
static void relay_error(pc_session_response *rs, long status, json_t *answer)
{
    if (answer != NULL && json_is_object(json_object_get(answer, "error"))) {
        json_decref(rs->body);
        rs->status = (int)status;
        rs->body = answer;
        return;
    }
    json_decref(answer);
    fail(rs, status >= 400 && status < 600 ? (int)status : 502, "node_error",
         "The node answered with an unexpected error (HTTP %ld). Please try again.",
         status);
}

/* POST a client-form transaction (JSON text) to /v1/tx and relay the answer. */
static void submit_tx(const char *base, const char *txtext, pc_session_response *rs)
{
    long status = 0;
    json_t *answer = NULL;
    pc_error err;
    if (api_call(base, "POST", "/v1/tx", NULL, txtext, &status, &answer, &err) != PC_OK) {
        fail(rs, 503, "unavailable", "The node could not be reached: %s.", err.msg);
        return;
    }
    if (status == 200 || status == 202) {
        json_decref(rs->body);
        rs->status = (int)status;
        rs->body = answer != NULL ? answer : json_object();
        return;
    }
    relay_error(rs, status, answer);
}

/* ------------------------------------------------------------------------ */
/* Sessions and lock-outs                                                    */

/* Wipe one session slot. Caller holds mu. */
static void session_drop(ui_session *u)
{
    sodium_memzero(u, sizeof *u);
}

/* Drop sessions idle too long or too old. Caller holds mu. */
static void session_sweep(pc_session_server *s, int64_t now)
{
    for (size_t i = 0; i < PC_SESSION_MAX; i++) {
        ui_session *u = &s->sessions[i];
        if (u->used && (now - u->last >= (int64_t)s->idle_s * 1000 ||
                        now - u->created >= (int64_t)PC_SESSION_MAX_AGE_S * 1000))
            session_drop(u);
    }
}

/* The session cookie's value from a Cookie header into out[64]; false if
 * there is none. */
static bool cookie_value(const char *cookie, char out[64])
{
    const size_t klen = strlen(PC_SESSION_COOKIE);
    const char *p = cookie;
    while (p != NULL && *p != '\0') {
        while (*p == ' ' || *p == ';')
            p++;
        if (strncmp(p, PC_SESSION_COOKIE, klen) == 0 && p[klen] == '=') {
            const char *v = p + klen + 1;
            size_t n = strcspn(v, "; ");
            if (n == 0 || n >= 64)
                return false;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
        p = strchr(p, ';');
    }
    return false;
}

/* The failure slot for who, creating it (over the stalest slot) if asked.
 * Caller holds mu. */
static ui_fail *fail_slot(pc_session_server *s, const char *who, bool create, int64_t now)
{
    ui_fail *stale = &s->fails[0];
    for (size_t i = 0; i < UI_FAIL_SLOTS; i++) {
        ui_fail *f = &s->fails[i];
        if (f->who[0] != '\0' && strcmp(f->who, who) == 0)
            return f;
        if (f->who[0] == '\0' || f->last < stale->last)
            stale = f;
    }
    if (!create)
        return NULL;
    memset(stale, 0, sizeof *stale);
    snprintf(stale->who, sizeof stale->who, "%s", who);
    stale->first = now;
    return stale;
}

/* Seconds left on a lock-out of who, or 0. Caller holds mu. */
static int locked_for(pc_session_server *s, const char *who, int64_t now)
{
    ui_fail *f = fail_slot(s, who, false, now);
    if (f == NULL || f->locked_until <= now)
        return 0;
    return (int)((f->locked_until - now + 999) / 1000);
}

/* Count a failed log-in for who; from the FAIL_MAX-th failure in the window
 * on, lock out for LOCK_S seconds, doubling with each further failure.
 * Caller holds mu. */
static void note_failure(pc_session_server *s, const char *who, int64_t now)
{
    ui_fail *f = fail_slot(s, who, true, now);
    if (now - f->first > (int64_t)PC_SESSION_FAIL_WINDOW_S * 1000) {
        f->count = 0;
        f->first = now;
    }
    f->count++;
    f->last = now;
    if (f->count >= PC_SESSION_FAIL_MAX) {
        int shift = f->count - PC_SESSION_FAIL_MAX;
        int64_t lock = (int64_t)PC_SESSION_LOCK_S << (shift > 6 ? 6 : shift);
        if (lock > UI_LOCK_MAX_S)
            lock = UI_LOCK_MAX_S;
        f->locked_until = now + lock * 1000;
    }
}

/* Forget the failures of who (after a good log-in). Caller holds mu. */
static void clear_failures(pc_session_server *s, const char *who)
{
    ui_fail *f = fail_slot(s, who, false, 0);
    if (f != NULL)
        memset(f, 0, sizeof *f);
}

/* Find the request's session, check idle time and (for state-changing
 * requests) the CSRF token, note the activity, and copy the session into
 * *out (the caller wipes out->kp). Fills rs and returns false when the
 * request may not go on. */
static bool with_session(pc_session_server *s, const pc_session_request *rq, bool changes,
                         bool touch, ui_session *out, pc_session_response *rs)
{
    char value[64];
    uint8_t h[32];
    int64_t now = now_ms(s);
    if (rq->cookie == NULL || !cookie_value(rq->cookie, value)) {
        fail(rs, 401, "not_logged_in", "Please log in first.");
        return false;
    }
    pc_sha256(h, value, strlen(value));
    sodium_memzero(value, sizeof value);

    pthread_mutex_lock(&s->mu);
    ui_session *u = NULL;
    for (size_t i = 0; i < PC_SESSION_MAX; i++) {
        if (s->sessions[i].used && sodium_memcmp(s->sessions[i].id_hash, h, 32) == 0) {
            u = &s->sessions[i];
            break;
        }
    }
    bool expired = false;
    if (u != NULL && (now - u->last >= (int64_t)s->idle_s * 1000 ||
                      now - u->created >= (int64_t)PC_SESSION_MAX_AGE_S * 1000)) {
        session_drop(u);
        u = NULL;
        expired = true;
    }
    session_sweep(s, now);
    if (u == NULL) {
        pthread_mutex_unlock(&s->mu);
        if (expired && s->idle_s >= 120)
            fail(rs, 401, "session_expired",
                 "You were logged out after %d minutes without activity. Please log in again.",
                 s->idle_s / 60);
        else if (expired)
            fail(rs, 401, "session_expired",
                 "You were logged out after %d seconds without activity. Please log in again.",
                 s->idle_s);
        else
            fail(rs, 401, "not_logged_in", "Your session has ended. Please log in again.");
        return false;
    }
    if (changes) {
        size_t n = rq->csrf != NULL ? strlen(rq->csrf) : 0;
        if (n != strlen(u->csrf) || sodium_memcmp(rq->csrf, u->csrf, n) != 0) {
            pthread_mutex_unlock(&s->mu);
            fail(rs, 403, "csrf",
                 "This request did not come from the parcha page (security token missing). "
                 "Please reload the page and try again.");
            return false;
        }
    }
    if (touch)
        u->last = now;
    *out = *u;
    pthread_mutex_unlock(&s->mu);
    return true;
}

/* The session's user as the browser sees it. */
static json_t *user_json(const ui_session *u)
{
    char pk[48];
    pc_b64_encode(pk, sizeof pk, u->kp.pk, 32);
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "username", u->username, "name", u->name,
                     "role", u->role, "hospital", u->hospital, "key", pk);
}

/* True if role is one of the space-separated names in allowed. */
static bool role_in(const char *role, const char *allowed)
{
    size_t n = strlen(role);
    const char *p = allowed;
    while ((p = strstr(p, role)) != NULL) {
        bool start = p == allowed || p[-1] == ' ';
        bool end = p[n] == '\0' || p[n] == ' ';
        if (start && end)
            return true;
        p += n;
    }
    return false;
}

/* ------------------------------------------------------------------------ */
/* Log-in, log-out, session                                                  */

static void do_login(pc_session_server *s, const pc_session_request *rq, const json_t *req,
                     pc_session_response *rs)
{
    const char *username = jstr(req, "username");
    const char *password = jstr(req, "password");
    pc_error err;
    if (!name_ok(username, UI_USERNAME_MAX) || password == NULL || password[0] == '\0' ||
        strlen(password) > UI_PASSWORD_MAX) {
        fail(rs, 400, "bad_field", "Type your username and password.");
        return;
    }
    char who_u[UI_USERNAME_MAX + 4], who_a[80];
    snprintf(who_u, sizeof who_u, "u:%s", username);
    snprintf(who_a, sizeof who_a, "a:%.70s", rq->client != NULL ? rq->client : "?");

    int64_t now = now_ms(s);
    pthread_mutex_lock(&s->mu);
    int wait_u = locked_for(s, who_u, now);
    int wait_a = locked_for(s, who_a, now);
    int wait = wait_u > wait_a ? wait_u : wait_a;
    bool busy = wait == 0 && s->logins_running >= UI_LOGINS_AT_ONCE;
    if (wait == 0 && !busy)
        s->logins_running++;
    pthread_mutex_unlock(&s->mu);
    if (wait > 0) {
        rs->retry_after_s = wait;
        fail(rs, 429, "too_many_attempts",
             "Too many failed log-ins. Please wait %d minute%s and try again.",
             (wait + 59) / 60, (wait + 59) / 60 == 1 ? "" : "s");
        return;
    }
    if (busy) {
        rs->retry_after_s = 2;
        fail(rs, 503, "busy", "The node is busy logging other people in. Please try again in a moment.");
        return;
    }

    /* The slow part, outside the session lock. */
    char *kftext = NULL;
    char hospital[33] = "";
    pc_keypair kp;
    memset(&kp, 0, sizeof kp);
    int rc;
    pthread_mutex_lock(&s->store_mu);
    rc = pc_vault_keystore_get(s->vault, username, &kftext, hospital, &err);
    pthread_mutex_unlock(&s->store_mu);
    bool known = rc == PC_OK && kftext != NULL;
    bool good = false;
    bool damaged = false;
    if (known) {
        json_t *kf = json_loads(kftext, 0, NULL);
        rc = kf != NULL ? pc_keyfile_open(kf, password, strlen(password), &kp, &err) : PC_EINVAL;
        good = rc == PC_OK;
        damaged = rc != PC_OK && rc != PC_EPASS;
        json_decref(kf);
    } else {
        /* Spend the same effort as a real check so timing does not tell
         * which usernames exist. */
        uint8_t dummy[32], salt[crypto_pwhash_SALTBYTES] = {0};
        if (crypto_pwhash(dummy, sizeof dummy, password, strlen(password), salt,
                          crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                          crypto_pwhash_ALG_ARGON2ID13) != 0) {
            /* out of memory: still a refusal below */
        }
        sodium_memzero(dummy, sizeof dummy);
    }
    free(kftext);

    pc_staff_info info;
    memset(&info, 0, sizeof info);
    bool ledger_ok = true;
    if (good) {
        pthread_mutex_lock(&s->store_mu);
        rc = ledger_ready(s, &err);
        if (rc == PC_OK)
            rc = pc_ledger_staff_info(s->ledger, kp.pk, &info, &err);
        pthread_mutex_unlock(&s->store_mu);
        ledger_ok = rc == PC_OK;
    }

    now = now_ms(s);
    pthread_mutex_lock(&s->mu);
    s->logins_running--;
    if (!good) {
        note_failure(s, who_u, now);
        note_failure(s, who_a, now);
        pthread_mutex_unlock(&s->mu);
        if (damaged)
            fail(rs, 500, "keystore",
                 "The stored key for this account cannot be read. Ask the hospital IT admin.");
        else
            fail(rs, 401, "bad_login", "Wrong username or password.");
        return;
    }
    clear_failures(s, who_u);
    pthread_mutex_unlock(&s->mu);

    if (!ledger_ok) {
        pc_key_wipe(&kp);
        fail(rs, 503, "unavailable", "The ledger cannot be read right now. Please try again.");
        return;
    }
    if (!info.found || strcmp(info.hospital, hospital) != 0) {
        pc_key_wipe(&kp);
        fail(rs, 403, "not_enrolled",
             "This account is not enrolled on the ledger yet. Ask the hospital IT admin.");
        return;
    }
    if (!info.active) {
        pc_key_wipe(&kp);
        fail(rs, 403, "revoked", "This staff account has been revoked.");
        return;
    }
    if (!info.hospital_active) {
        pc_key_wipe(&kp);
        fail(rs, 403, "suspended", "Your hospital is suspended from the consortium.");
        return;
    }

    /* A new session: a random cookie value (only its hash is kept) and a
     * random CSRF token. */
    uint8_t raw[32], craw[32];
    char value[64];
    randombytes_buf(raw, sizeof raw);
    randombytes_buf(craw, sizeof craw);
    pc_b64_encode(value, sizeof value, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);

    pthread_mutex_lock(&s->mu);
    session_sweep(s, now);
    ui_session *u = NULL;
    ui_session *oldest = &s->sessions[0];
    for (size_t i = 0; i < PC_SESSION_MAX && u == NULL; i++) {
        if (!s->sessions[i].used)
            u = &s->sessions[i];
        else if (s->sessions[i].last < oldest->last)
            oldest = &s->sessions[i];
    }
    if (u == NULL) {
        session_drop(oldest); /* full: the stalest session gives way */
        u = oldest;
    }
    u->used = true;
    pc_sha256(u->id_hash, value, strlen(value));
    pc_b64_encode(u->csrf, sizeof u->csrf, craw, sizeof craw);
    snprintf(u->username, sizeof u->username, "%s", username);
    snprintf(u->hospital, sizeof u->hospital, "%s", hospital);
    snprintf(u->role, sizeof u->role, "%s", info.role);
    snprintf(u->name, sizeof u->name, "%s", info.name);
    u->kp = kp;
    u->created = now;
    u->last = now;
    json_t *body = json_pack("{s:o,s:s,s:i}", "user", user_json(u), "csrf", u->csrf,
                             "idle_timeout_s", s->idle_s);
    pthread_mutex_unlock(&s->mu);
    pc_key_wipe(&kp);
    sodium_memzero(craw, sizeof craw);

    snprintf(rs->set_cookie, sizeof rs->set_cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s",
             PC_SESSION_COOKIE, value, rq->tls ? "; Secure" : "");
    sodium_memzero(value, sizeof value);
    ok(rs, body);
}

static void do_logout(pc_session_server *s, const pc_session_request *rq,
                      pc_session_response *rs)
{
    ui_session me;
    if (!with_session(s, rq, true, false, &me, rs))
        return;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < PC_SESSION_MAX; i++) {
        if (s->sessions[i].used && sodium_memcmp(s->sessions[i].id_hash, me.id_hash, 32) == 0)
            session_drop(&s->sessions[i]);
    }
    pthread_mutex_unlock(&s->mu);
    sodium_memzero(&me, sizeof me);
    snprintf(rs->set_cookie, sizeof rs->set_cookie,
             "%s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", PC_SESSION_COOKIE);
    ok(rs, json_pack("{s:b}", "logged_out", 1));
}

static void do_session(pc_session_server *s, const pc_session_request *rq,
                       pc_session_response *rs)
{
    ui_session me;
    if (!with_session(s, rq, false, false, &me, rs))
        return;
    int64_t left = ((int64_t)s->idle_s * 1000 - (now_ms(s) - me.last)) / 1000;
    ok(rs, json_pack("{s:o,s:s,s:i,s:I}", "user", user_json(&me), "csrf", me.csrf,
                     "idle_timeout_s", s->idle_s, "idle_left_s", (json_int_t)(left > 0 ? left : 0)));
    sodium_memzero(&me, sizeof me);
}

/* ------------------------------------------------------------------------ */
/* Acting with the staff key                                                 */

/* A patient's key from a Health ID (as typed) or a base64url key. Fills rs
 * and returns false when it cannot. */
static bool patient_key(pc_session_server *s, const char *typed, uint8_t pk[32],
                        pc_session_response *rs)
{
    pc_error err;
    char hid[PC_HEALTHID_LEN + 1];
    if (typed == NULL) {
        fail(rs, 400, "bad_field", "Say which patient (Health ID).");
        return false;
    }
    if (strlen(typed) == 43 && pc_b64_decode_exact(pk, 32, typed) == 0)
        return true;
    if (pc_healthid_parse(typed, hid, &err) != PC_OK) {
        fail(rs, 400, "bad_health_id", "%s.", err.msg);
        return false;
    }
    pthread_mutex_lock(&s->store_mu);
    int rc = ledger_ready(s, &err);
    if (rc == PC_OK)
        rc = pc_ledger_patient_key(s->ledger, hid, pk, &err);
    pthread_mutex_unlock(&s->store_mu);
    if (rc == PC_ENOTFOUND) {
        fail(rs, 404, "not_found", "No patient is registered with Health ID %s.", hid);
        return false;
    }
    if (rc != PC_OK) {
        fail(rs, 503, "unavailable", "The ledger cannot be read right now. Please try again.");
        return false;
    }
    return true;
}

/* The network id from the ledger head; false (rs filled) if unknown. */
static bool network_id(pc_session_server *s, char net[PC_NET_MAX + 1], pc_session_response *rs)
{
    pc_error err;
    pc_head head;
    pthread_mutex_lock(&s->store_mu);
    int rc = ledger_ready(s, &err);
    if (rc == PC_OK)
        rc = pc_ledger_head(s->ledger, &head, &err);
    pthread_mutex_unlock(&s->store_mu);
    if (rc != PC_OK || !head.has_genesis) {
        fail(rs, 503, "unavailable", "The ledger is not ready yet. Please try again.");
        return false;
    }
    snprintf(net, PC_NET_MAX + 1, "%s", head.net);
    return true;
}

/* Sign the unsigned object utx with kp and submit it. Steals utx. */
static void sign_and_submit(const char *base, json_t *utx, const pc_keypair *kp,
                            pc_session_response *rs)
{
    pc_error err;
    pc_tx tx;
    const pc_keypair *keys[1] = {kp};
    if (utx == NULL) {
        fail(rs, 500, "internal", "Out of memory.");
        return;
    }
    int rc = pc_tx_sign(utx, keys, 1, &tx, &err);
    json_decref(utx);
    if (rc != PC_OK) {
        fail(rs, 400, "bad_field", "%s.", err.msg);
        return;
    }
    char *text = pc_tx_to_json(&tx, NULL);
    pc_tx_free(&tx);
    if (text == NULL) {
        fail(rs, 500, "internal", "Out of memory.");
        return;
    }
    submit_tx(base, text, rs);
    free(text);
}

/* POST /v1/ui/register {tx}: co-sign a patient.register the browser signed
 * with the new patient's key. */
static void do_register(pc_session_server *s, const ui_session *me, const char *base,
                        const json_t *req, pc_session_response *rs)
{
    pc_error err;
    pc_tx tx;
    if (!role_in(me->role, "clerk admin")) {
        fail(rs, 403, "denied", "Only a registration clerk or an admin can register patients.");
        return;
    }
    const json_t *txj = json_object_get(req, "tx");
    if (!json_is_object(txj) || pc_tx_parse_obj(txj, &tx, &err) != PC_OK) {
        fail(rs, 400, "bad_field", "The registration is not well formed: %s.",
             json_is_object(txj) ? err.msg : "no transaction");
        return;
    }
    uint8_t ppk[32];
    const char *hosp = jstr(tx.body, "hospital");
    const char *key = jstr(tx.body, "key");
    if (tx.type != PC_TX_PATIENT_REGISTER || hosp == NULL || key == NULL ||
        pc_b64_decode_exact(ppk, 32, key) != 0) {
        pc_tx_free(&tx);
        fail(rs, 400, "bad_field", "This is not a patient registration.");
        return;
    }
    if (strcmp(hosp, me->hospital) != 0) {
        pc_tx_free(&tx);
        fail(rs, 400, "bad_field", "This registration names another hospital (%s).", hosp);
        return;
    }
    if (!pc_tx_signed_by(&tx, ppk) || pc_tx_verify(&tx) != PC_OK) {
        pc_tx_free(&tx);
        fail(rs, 401, "bad_signature", "The patient's signature on the registration does not check out.");
        return;
    }
    uint8_t sig[64];
    if (pc_sign(&me->kp, PC_DOMAIN_TX, tx.canon, tx.canon_len, sig) != PC_OK) {
        pc_tx_free(&tx);
        fail(rs, 500, "internal", "Signing failed.");
        return;
    }
    pc_tx_free(&tx);
    json_t *signed_tx = json_deep_copy(txj);
    json_t *sigs = json_object_get(signed_tx, "sigs");
    char k64[48], s64[96];
    pc_b64_encode(k64, sizeof k64, me->kp.pk, 32);
    pc_b64_encode(s64, sizeof s64, sig, 64);
    if (!json_is_array(sigs) ||
        json_array_append_new(sigs, json_pack("{s:s,s:s}", "key", k64, "sig", s64)) != 0) {
        json_decref(signed_tx);
        fail(rs, 400, "bad_field", "The registration has no signature list.");
        return;
    }
    char *text = json_dumps(signed_tx, JSON_COMPACT);
    json_decref(signed_tx);
    if (text == NULL) {
        fail(rs, 500, "internal", "Out of memory.");
        return;
    }
    submit_tx(base, text, rs);
    free(text);
    if (rs->status == 200 || rs->status == 202) {
        char hid[PC_HEALTHID_LEN + 1];
        pc_healthid_from_key(ppk, hid);
        json_object_set_new(rs->body, "health_id", json_string(hid));
    }
}

/* POST /v1/ui/records {patient, fhir, hi_type?, date?}: encrypt, seal to the
 * patient and this hospital, sign record.add, store and submit through
 * POST /v1/records. */
static void do_record_add(pc_session_server *s, const ui_session *me, const char *base,
                          const json_t *req, pc_session_response *rs)
{
    pc_error err;
    if (!role_in(me->role, "doctor nurse")) {
        fail(rs, 403, "denied", "Only doctors and nurses can add records.");
        return;
    }
    const json_t *fhir = json_object_get(req, "fhir");
    if (!json_is_object(fhir)) {
        fail(rs, 400, "bad_field", "The record has no content.");
        return;
    }
    if (pc_fhir_validate(fhir, &err) != PC_OK) {
        fail(rs, 400, "bad_fhir", "The record is incomplete: %s.", err.msg);
        return;
    }
    const char *hi_type = jstr(req, "hi_type");
    if (hi_type == NULL)
        hi_type = pc_fhir_default_hi_type(fhir);
    if (hi_type == NULL || pc_hi_type_from_name(hi_type) == 0) {
        fail(rs, 400, "bad_field", "Choose the kind of record.");
        return;
    }
    char date[11];
    const char *given = jstr(req, "date");
    int32_t days;
    if (given != NULL) {
        if (pc_date_parse(given, &days) != PC_OK) {
            fail(rs, 400, "bad_field", "The date must be a real date (YYYY-MM-DD).");
            return;
        }
        snprintf(date, sizeof date, "%s", given);
    } else if (pc_fhir_clinical_date(fhir, date) != PC_OK) {
        pc_date_format((int32_t)(pc_now_ms() / 86400000), date);
    }
    uint8_t ppk[32], cpk[32];
    if (!patient_key(s, jstr(req, "patient"), ppk, rs))
        return;
    char net[PC_NET_MAX + 1];
    if (!network_id(s, net, rs))
        return;
    bool active = false;
    pthread_mutex_lock(&s->store_mu);
    int rc = ledger_ready(s, &err);
    if (rc == PC_OK)
        rc = pc_ledger_hospital_key(s->ledger, me->hospital, cpk, &active, &err);
    pthread_mutex_unlock(&s->store_mu);
    if (rc != PC_OK || !active) {
        fail(rs, 403, "suspended", "Your hospital is not an active member, so it cannot add records.");
        return;
    }

    /* Record id: this hospital, then 72 random bits. */
    uint8_t rnd[9];
    char r64[16], id[PC_HOSPITAL_ID_MAX + 20];
    randombytes_buf(rnd, sizeof rnd);
    pc_b64_encode(r64, sizeof r64, rnd, sizeof rnd);
    snprintf(id, sizeof id, "%s-%s", me->hospital, r64);

    char *plain = json_dumps(fhir, JSON_COMPACT | JSON_REAL_PRECISION(10));
    if (plain == NULL) {
        fail(rs, 500, "internal", "Out of memory.");
        return;
    }
    uint8_t key[32], sealed_p[PC_SEALED_KEY_LEN], sealed_c[PC_SEALED_KEY_LEN], hash[32];
    pc_buf blob;
    pc_buf_init(&blob);
    size_t plen = strlen(plain);
    rc = pc_record_encrypt((const uint8_t *)plain, plen, id, ppk, key, &blob);
    sodium_memzero(plain, plen);
    free(plain);
    if (rc == PC_OK && (pc_seal_key(key, ppk, sealed_p) != PC_OK ||
                        pc_seal_key(key, cpk, sealed_c) != PC_OK))
        rc = PC_ECRYPTO;
    sodium_memzero(key, sizeof key);
    if (rc != PC_OK) {
        pc_buf_free(&blob);
        fail(rs, 500, "internal", "The record could not be encrypted.");
        return;
    }
    pc_sha256(hash, blob.data, blob.len);
    char p64[48], h64[65], sp64[120];
    pc_b64_encode(p64, sizeof p64, ppk, 32);
    pc_hex_encode(h64, sizeof h64, hash, 32);
    pc_b64_encode(sp64, sizeof sp64, sealed_p, sizeof sealed_p);
    json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s}", "id", id, "patient", p64,
                             "hi_type", hi_type, "date", date, "hash", h64, "size",
                             (json_int_t)blob.len, "custodian", me->hospital, "sealed_key",
                             sp64, "fhir", jstr(fhir, "resourceType"));
    json_t *utx = body != NULL ? pc_tx_build(net, "record.add", pc_now_ms(), body) : NULL;
    pc_tx tx;
    const pc_keypair *keys[1] = {&me->kp};
    rc = utx != NULL ? pc_tx_sign(utx, keys, 1, &tx, &err) : PC_ENOMEM;
    json_decref(utx);
    if (rc != PC_OK) {
        pc_buf_free(&blob);
        fail(rs, 400, "bad_field", "The record could not be signed: %s.", err.msg);
        return;
    }
    char *txtext = pc_tx_to_json(&tx, NULL);
    char txid[65];
    pc_hex_encode(txid, sizeof txid, tx.txid, 32);
    pc_tx_free(&tx);
    char *blob64 = pc_b64_dup(blob.data, blob.len);
    pc_buf_free(&blob);
    char sc64[120];
    pc_b64_encode(sc64, sizeof sc64, sealed_c, sizeof sealed_c);
    json_t *post = txtext != NULL && blob64 != NULL
                       ? json_pack("{s:o,s:s,s:s}", "tx", json_loads(txtext, 0, NULL), "blob",
                                   blob64, "sealed_custodian", sc64)
                       : NULL;
    free(txtext);
    free(blob64);
    char *posttext = post != NULL ? json_dumps(post, JSON_COMPACT) : NULL;
    json_decref(post);
    if (posttext == NULL) {
        fail(rs, 500, "internal", "Out of memory.");
        return;
    }
    long status = 0;
    json_t *answer = NULL;
    rc = api_call(base, "POST", "/v1/records", NULL, posttext, &status, &answer, &err);
    free(posttext);
    if (rc != PC_OK) {
        fail(rs, 503, "unavailable", "The node could not be reached: %s.", err.msg);
        return;
    }
    if (status != 200 && status != 202) {
        relay_error(rs, status, answer);
        return;
    }
    if (answer == NULL)
        answer = json_object();
    json_object_set_new(answer, "record_id", json_string(id));
    json_object_set_new(answer, "hi_type", json_string(hi_type));
    json_object_set_new(answer, "date", json_string(date));
    if (json_object_get(answer, "txid") == NULL)
        json_object_set_new(answer, "txid", json_string(txid));
    json_decref(rs->body);
    rs->status = (int)status;
    rs->body = answer;
}

/* GET /v1/ui/records/{id}/content: a signed read as the staff member, then
 * the record opened with their key. */
static void do_record_content(pc_session_server *s, const ui_session *me, const char *base,
                              const char *id, pc_session_response *rs)
{
    pc_error err;
    if (!name_ok(id, 64)) {
        fail(rs, 404, "not_found", "No such record.");
        return;
    }
    pc_record_info info;
    pthread_mutex_lock(&s->store_mu);
    int rc = ledger_ready(s, &err);
    if (rc == PC_OK)
        rc = pc_ledger_record_info(s->ledger, id, &info, &err);
    pthread_mutex_unlock(&s->store_mu);
    if (rc == PC_ENOTFOUND) {
        fail(rs, 404, "not_found", "No record %s is on the ledger.", id);
        return;
    }
    if (rc != PC_OK) {
        fail(rs, 503, "unavailable", "The ledger cannot be read right now. Please try again.");
        return;
    }
    char path[128];
    snprintf(path, sizeof path, "/v1/records/%s/content", id);
    char *si = NULL, *sg = NULL;
    if (pc_httpsig_sign(&me->kp, "GET", path, NULL, pc_now_ms() / 1000, &si, &sg, &err) != PC_OK) {
        fail(rs, 500, "internal", "The read request could not be signed.");
        return;
    }
    char h1[PC_HTTPSIG_HEADER_MAX + 40], h2[PC_HTTPSIG_HEADER_MAX + 40];
    snprintf(h1, sizeof h1, "Signature-Input: %s", si);
    snprintf(h2, sizeof h2, "Signature: %s", sg);
    free(si);
    free(sg);
    struct curl_slist *hdrs = curl_slist_append(NULL, h1);
    hdrs = hdrs != NULL ? curl_slist_append(hdrs, h2) : NULL;
    long status = 0;
    json_t *answer = NULL;
    rc = hdrs != NULL ? api_call(base, "GET", path, hdrs, NULL, &status, &answer, &err) : PC_ENOMEM;
    curl_slist_free_all(hdrs);
    if (rc != PC_OK) {
        fail(rs, 503, "unavailable", "The node could not be reached: %s.", err.msg);
        return;
    }
    if (status != 200) {
        relay_error(rs, status, answer);
        return;
    }
    uint8_t sealed[PC_SEALED_KEY_LEN], key[32];
    const char *b64 = jstr(answer, "blob");
    const char *sk64 = jstr(answer, "sealed_key");
    size_t blen = 0, cap = b64 != NULL ? strlen(b64) : 0;
    uint8_t *blob = cap > 0 ? malloc(cap) : NULL;
    pc_buf plain;
    pc_buf_init(&plain);
    bool opened = blob != NULL && sk64 != NULL &&
                  pc_b64_decode_exact(sealed, sizeof sealed, sk64) == 0 &&
                  pc_b64_decode(blob, cap, &blen, b64, cap) == 0 &&
                  pc_unseal_key(sealed, &me->kp, key) == PC_OK;
    if (opened) {
        opened = pc_record_decrypt(blob, blen, id, info.patient, key, &plain) == PC_OK;
        sodium_memzero(key, sizeof key);
    }
    free(blob);
    json_t *fhir = opened ? json_loadb((const char *)plain.data, plain.len, 0, NULL) : NULL;
    pc_buf_free(&plain);
    if (fhir == NULL) {
        json_decref(answer);
        fail(rs, 502, "tampered",
             "The record arrived but could not be opened: it may be damaged. Tell the hospital IT admin.");
        return;
    }
    json_object_del(answer, "blob");
    json_object_del(answer, "sealed_key");
    json_object_set_new(answer, "fhir", fhir);
    ok(rs, answer);
}

/* POST /v1/ui/emergency {patient, reason, hours}: emergency.open signed by
 * the logged-in doctor. */
static void do_emergency(pc_session_server *s, const ui_session *me, const char *base,
                         const json_t *req, pc_session_response *rs)
{
    if (!role_in(me->role, "doctor")) {
        fail(rs, 403, "denied", "Only a doctor can open emergency access.");
        return;
    }
    const char *reason = jstr(req, "reason");
    const json_t *hours = json_object_get(req, "hours");
    if (!text_ok(reason, 500) || strlen(reason) < 5) {
        fail(rs, 400, "bad_field", "Write the reason for emergency access (at least a few words).");
        return;
    }
    if (!json_is_integer(hours) || json_integer_value(hours) < 1 || json_integer_value(hours) > 72) {
        fail(rs, 400, "bad_field", "Choose how many hours emergency access should last.");
        return;
    }
    uint8_t ppk[32];
    char net[PC_NET_MAX + 1], p64[48];
    if (!patient_key(s, jstr(req, "patient"), ppk, rs) || !network_id(s, net, rs))
        return;
    pc_b64_encode(p64, sizeof p64, ppk, 32);
    json_t *body = json_pack("{s:s,s:s,s:s,s:I}", "patient", p64, "hospital", me->hospital,
                             "reason", reason, "hours", json_integer_value(hours));
    sign_and_submit(base, body != NULL ? pc_tx_build(net, "emergency.open", pc_now_ms(), body) : NULL,
                    &me->kp, rs);
}

/* The hospital's own key pair from DIR/keys/<id>.key and .pass. */
static int hospital_keypair(pc_session_server *s, const char *hospital, pc_keypair *kp,
                            pc_error *err)
{
    char kpath[1100], ppath[1100], rel[64];
    snprintf(rel, sizeof rel, "keys/%s.key", hospital);
    if (!dir_path(s, kpath, sizeof kpath, rel))
        return pc_error_set(err, PC_EINVAL, "path too long");
    snprintf(rel, sizeof rel, "keys/%s.pass", hospital);
    if (!dir_path(s, ppath, sizeof ppath, rel))
        return pc_error_set(err, PC_EINVAL, "path too long");
    char *pass = NULL;
    size_t plen = 0;
    int rc = pc_pass_read_file(ppath, &pass, &plen, err);
    if (rc != PC_OK)
        return rc;
    rc = pc_keyfile_read(kpath, pass, plen, kp, err);
    pc_pass_free(pass, plen);
    return rc;
}

/* POST /v1/ui/staff {username, password, name, role, regno}: an admin enrols
 * a new member of their hospital: a key pair is made, staff.enroll is signed
 * with the hospital key and, once committed, the key file sealed under the
 * new password goes into the keystore. */
static void do_staff_enroll(pc_session_server *s, const ui_session *me, const char *base,
                            const json_t *req, pc_session_response *rs)
{
    pc_error err;
    if (!role_in(me->role, "admin")) {
        fail(rs, 403, "denied", "Only an admin can enrol staff.");
        return;
    }
    const char *username = jstr(req, "username");
    const char *password = jstr(req, "password");
    const char *name = jstr(req, "name");
    const char *role = jstr(req, "role");
    const char *regno = jstr(req, "regno");
    if (!name_ok(username, UI_USERNAME_MAX)) {
        fail(rs, 400, "bad_field", "A username is 1 to 64 letters, digits, dots, dashes or underscores.");
        return;
    }
    if (password == NULL || strlen(password) < UI_PASSWORD_MIN || strlen(password) > UI_PASSWORD_MAX) {
        fail(rs, 400, "bad_field", "The password must have at least %d characters.", UI_PASSWORD_MIN);
        return;
    }
    if (!text_ok(name, 100) || !text_ok(regno, 64)) {
        fail(rs, 400, "bad_field", "Fill in the name and the registration number.");
        return;
    }
    if (role == NULL || !role_in(role, "doctor nurse clerk admin")) {
        fail(rs, 400, "bad_field", "The role must be doctor, nurse, clerk or admin.");
        return;
    }
    char *existing = NULL;
    char hosp[33];
    pthread_mutex_lock(&s->store_mu);
    int rc = pc_vault_keystore_get(s->vault, username, &existing, hosp, &err);
    pthread_mutex_unlock(&s->store_mu);
    bool taken = rc == PC_OK && existing != NULL;
    free(existing);
    if (taken) {
        fail(rs, 409, "duplicate", "The username %s is already taken.", username);
        return;
    }
    char net[PC_NET_MAX + 1];
    if (!network_id(s, net, rs))
        return;
    pc_keypair hkp, nkp;
    if (hospital_keypair(s, me->hospital, &hkp, &err) != PC_OK) {
        fail(rs, 503, "unavailable",
             "This node does not hold the key of %s, so it cannot enrol its staff.", me->hospital);
        return;
    }
    if (pc_key_generate(&nkp) != PC_OK) {
        pc_key_wipe(&hkp);
        fail(rs, 500, "internal", "A key could not be made.");
        return;
    }
    char k64[48];
    pc_b64_encode(k64, sizeof k64, nkp.pk, 32);
    json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:s}", "hospital", me->hospital, "key", k64,
                             "name", name, "role", role, "regno", regno);
    sign_and_submit(base, body != NULL ? pc_tx_build(net, "staff.enroll", pc_now_ms(), body) : NULL,
                    &hkp, rs);
    pc_key_wipe(&hkp);
    const char *verdict = jstr(rs->body, "verdict");
    if (rs->status != 200 || verdict == NULL || strcmp(verdict, "ok") != 0) {
        pc_key_wipe(&nkp);
        if (rs->status == 200)
            fail(rs, 422, "rejected", "The ledger refused the enrolment (%s).",
                 verdict != NULL ? verdict : "no verdict");
        return;
    }
    json_t *kf = NULL;
    char *text = NULL;
    rc = pc_keyfile_seal(&nkp, name, password, strlen(password), PC_KDF_INTERACTIVE, &kf, &err);
    pc_key_wipe(&nkp);
    if (rc == PC_OK)
        text = json_dumps(kf, JSON_COMPACT);
    json_decref(kf);
    if (text != NULL) {
        pthread_mutex_lock(&s->store_mu);
        rc = pc_vault_keystore_put(s->vault, username, me->hospital, text, &err);
        pthread_mutex_unlock(&s->store_mu);
    }
    free(text);
    if (text == NULL || rc != PC_OK) {
        fail(rs, 500, "keystore",
             "%s is enrolled on the ledger, but the key could not be stored in the keystore.", name);
        return;
    }
    json_object_set_new(rs->body, "username", json_string(username));
    json_object_set_new(rs->body, "key", json_string(k64));
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                  */

/* Refuse requests a cross-site page could make: an Origin that is not this
 * host, or a POST that is not JSON (HTML forms cannot send JSON without a
 * CORS preflight, which this node never grants). */
static bool same_site(const pc_session_request *rq, pc_session_response *rs)
{
    if (rq->origin != NULL && rq->host != NULL && strcmp(rq->origin, "null") != 0) {
        const char *o = rq->origin;
        if (strncmp(o, "http://", 7) == 0)
            o += 7;
        else if (strncmp(o, "https://", 8) == 0)
            o += 8;
        if (strcmp(o, rq->host) != 0) {
            fail(rs, 403, "cross_site", "Requests from other web sites are refused.");
            return false;
        }
    }
    if (strcmp(rq->method, "POST") == 0 &&
        (rq->content_type == NULL || strncmp(rq->content_type, "application/json", 16) != 0)) {
        fail(rs, 415, "bad_json", "Send the request as JSON (Content-Type: application/json).");
        return false;
    }
    return true;
}

void pc_session_handle(pc_session_server *s, const pc_session_request *rq,
                       pc_session_response *rs)
{
    memset(rs, 0, sizeof *rs);
    if (s == NULL) {
        fail(rs, 503, "unavailable", "Staff log-in is not available on this node right now.");
        return;
    }
    const char *path = rq->path != NULL ? rq->path : "";
    const char *method = rq->method != NULL ? rq->method : "";
    bool post = strcmp(method, "POST") == 0;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strncmp(path, "/v1/ui/", 7) != 0) {
        fail(rs, 404, "not_found", "No such page.");
        return;
    }
    const char *sub = path + 7;

    /* Which endpoint, and is the method right? */
    enum { R_NONE, R_LOGIN, R_LOGOUT, R_SESSION, R_REGISTER, R_RECORDS, R_CONTENT,
           R_EMERGENCY, R_STAFF } r = R_NONE;
    char id[80] = "";
    const char *want = "POST";
    if (strcmp(sub, "login") == 0)
        r = R_LOGIN;
    else if (strcmp(sub, "logout") == 0)
        r = R_LOGOUT;
    else if (strcmp(sub, "session") == 0) {
        r = R_SESSION;
        want = "GET";
    } else if (strcmp(sub, "register") == 0)
        r = R_REGISTER;
    else if (strcmp(sub, "records") == 0)
        r = R_RECORDS;
    else if (strcmp(sub, "emergency") == 0)
        r = R_EMERGENCY;
    else if (strcmp(sub, "staff") == 0)
        r = R_STAFF;
    else if (strncmp(sub, "records/", 8) == 0) {
        const char *end = strchr(sub + 8, '/');
        size_t n = end != NULL ? (size_t)(end - (sub + 8)) : 0;
        if (end != NULL && strcmp(end, "/content") == 0 && n > 0 && n < sizeof id) {
            memcpy(id, sub + 8, n);
            id[n] = '\0';
            r = R_CONTENT;
            want = "GET";
        }
    }
    if (r == R_NONE) {
        fail(rs, 404, "not_found", "No such staff endpoint.");
        return;
    }
    if ((strcmp(want, "POST") == 0 && !post) || (strcmp(want, "GET") == 0 && !get)) {
        fail(rs, 405, "method_not_allowed", "This endpoint takes %s.", want);
        return;
    }
    if (!same_site(rq, rs))
        return;

    json_t *req = NULL;
    if (post) {
        json_error_t jerr;
        req = rq->body != NULL && rq->len > 0 ? json_loadb(rq->body, rq->len, 0, &jerr) : NULL;
        if (!json_is_object(req)) {
            json_decref(req);
            fail(rs, 400, "bad_json", "The request is not a JSON object.");
            return;
        }
    }
    if (r == R_LOGIN) {
        do_login(s, rq, req, rs);
        json_decref(req);
        return;
    }
    if (r == R_LOGOUT) {
        do_logout(s, rq, rs);
        json_decref(req);
        return;
    }
    if (r == R_SESSION) {
        do_session(s, rq, rs);
        return;
    }

    ui_session me;
    if (!with_session(s, rq, post, true, &me, rs)) {
        json_decref(req);
        return;
    }
    const char *base = s->self_url[0] != '\0' ? s->self_url : rq->self_url;
    if (base == NULL || base[0] == '\0') {
        fail(rs, 503, "unavailable", "The node does not know its own address.");
    } else {
        switch (r) {
        case R_REGISTER: do_register(s, &me, base, req, rs); break;
        case R_RECORDS: do_record_add(s, &me, base, req, rs); break;
        case R_CONTENT: do_record_content(s, &me, base, id, rs); break;
        case R_EMERGENCY: do_emergency(s, &me, base, req, rs); break;
        case R_STAFF: do_staff_enroll(s, &me, base, req, rs); break;
        default: fail(rs, 404, "not_found", "No such staff endpoint."); break;
        }
    }
    sodium_memzero(&me, sizeof me);
    json_decref(req);
}

/* ------------------------------------------------------------------------ */
/* Open, close, import                                                       */

/* Import DIR/ui-users.json: {"users":[{"username","hospital","keyfile"}]}
 * where keyfile is a key file path (relative to DIR or absolute) whose
 * passphrase is the user's password. Users already in the keystore are left
 * alone. Returns PC_OK (also when the file is absent) or an error naming the
 * entry. */
static int import_users(pc_session_server *s, pc_error *err)
{
    char path[1100];
    if (!dir_path(s, path, sizeof path, "ui-users.json"))
        return pc_error_set(err, PC_EINVAL, "data folder path is too long");
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return PC_OK;
    fclose(f);
    pc_buf text;
    pc_buf_init(&text);
    int rc = pc_file_read(path, (size_t)4 << 20, &text, err);
    if (rc != PC_OK)
        return rc;
    json_t *doc = json_loadb((const char *)text.data, text.len, 0, NULL);
    pc_buf_free(&text);
    const json_t *users = json_object_get(doc, "users");
    if (!json_is_array(users)) {
        json_decref(doc);
        return pc_error_set(err, PC_EINVAL, "%s: expected {\"users\": [...]}", path);
    }
    size_t i;
    const json_t *u;
    json_array_foreach(users, i, u) {
        const char *name = jstr(u, "username"), *hosp = jstr(u, "hospital"),
                   *kf = jstr(u, "keyfile");
        if (!name_ok(name, UI_USERNAME_MAX) || !name_ok(hosp, PC_HOSPITAL_ID_MAX) || kf == NULL) {
            rc = pc_error_set(err, PC_EINVAL, "%s: users[%zu] needs username, hospital, keyfile",
                              path, i);
            break;
        }
        char *have = NULL, hh[33];
        if (pc_vault_keystore_get(s->vault, name, &have, hh, err) == PC_OK && have != NULL) {
            free(have);
            continue;
        }
        char kpath[1100];
        if (kf[0] == '/')
            snprintf(kpath, sizeof kpath, "%s", kf);
        else if (!dir_path(s, kpath, sizeof kpath, kf)) {
            rc = pc_error_set(err, PC_EINVAL, "%s: users[%zu].keyfile path too long", path, i);
            break;
        }
        uint8_t pk[32];
        rc = pc_keyfile_public(kpath, pk, NULL, err);
        pc_buf_init(&text);
        if (rc == PC_OK)
            rc = pc_file_read(kpath, 1 << 16, &text, err);
        if (rc == PC_OK)
            rc = pc_vault_keystore_put(s->vault, name, hosp, (const char *)text.data, err);
        pc_buf_free(&text);
        if (rc != PC_OK)
            break;
    }
    json_decref(doc);
    return rc;
}

void pc_session_sweep(pc_session_server *s)
{
    pthread_mutex_lock(&s->mu);
    session_sweep(s, now_ms(s));
    pthread_mutex_unlock(&s->mu);
}

/* The sweeper thread: every UI_SWEEP_S seconds, drop idle sessions and wipe
 * their keys, so a key never outlives its idle limit by more than that even
 * if the user just walks away. Ends when pc_session_close sets stopping. */
static void *sweeper_main(void *arg)
{
    pc_session_server *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += UI_SWEEP_S;
        pthread_cond_timedwait(&s->wake, &s->mu, &until);
        if (!s->stopping)
            session_sweep(s, now_ms(s));
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int pc_session_open(const pc_session_config *cfg, pc_session_server **out, pc_error *err)
{
    *out = NULL;
    if (cfg == NULL || cfg->data_dir == NULL)
        return pc_error_set(err, PC_EINVAL, "no data folder given");
    if (sodium_init() < 0)
        return pc_error_set(err, PC_ECRYPTO, "libsodium failed to start");
    pc_session_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    int n = snprintf(s->data_dir, sizeof s->data_dir, "%s", cfg->data_dir);
    int m = snprintf(s->self_url, sizeof s->self_url, "%s", cfg->self_url ? cfg->self_url : "");
    if (n < 0 || (size_t)n >= sizeof s->data_dir || m < 0 || (size_t)m >= sizeof s->self_url) {
        free(s);
        return pc_error_set(err, PC_EINVAL, "data folder or URL is too long");
    }
    s->idle_s = cfg->idle_s > 0 ? cfg->idle_s : PC_SESSION_IDLE_S;
    s->sessions = sodium_allocarray(PC_SESSION_MAX, sizeof *s->sessions);
    if (s->sessions == NULL) {
        free(s);
        return pc_error_set(err, PC_ENOMEM, "out of memory for the session table");
    }
    sodium_memzero(s->sessions, PC_SESSION_MAX * sizeof *s->sessions);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->store_mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    char path[1100];
    int rc = dir_path(s, path, sizeof path, "vault.db")
                 ? pc_vault_open(path, &s->vault, err)
                 : pc_error_set(err, PC_EINVAL, "data folder path is too long");
    if (rc == PC_OK)
        rc = import_users(s, err);
    if (rc == PC_OK) {
        if (pthread_create(&s->sweeper, NULL, sweeper_main, s) != 0)
            rc = pc_error_set(err, PC_ENOMEM, "cannot start the session sweeper thread");
        else
            s->sweeper_running = true;
    }
    if (rc != PC_OK) {
        pc_session_close(s);
        return rc;
    }
    *out = s;
    return PC_OK;
}

void pc_session_close(pc_session_server *s)
{
    if (s == NULL)
        return;
    if (s->sweeper_running) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->sweeper, NULL);
    }
    if (s->sessions != NULL) {
        sodium_memzero(s->sessions, PC_SESSION_MAX * sizeof *s->sessions);
        sodium_free(s->sessions);
    }
    pc_ledger_close(s->ledger);
    pc_vault_close(s->vault);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->store_mu);
    pthread_cond_destroy(&s->wake);
    free(s);
}

void pc_session_set_clock(pc_session_server *s, int64_t (*clock)(void))
{
    s->clock = clock;
}

size_t pc_session_count(pc_session_server *s)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < PC_SESSION_MAX; i++)
        n += s->sessions[i].used ? 1 : 0;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ------------------------------------------------------------------------ */
/* libmicrohttpd front                                                       */

/* "http://<local address>:<port>" of the socket conn arrived on. */
static bool local_url(struct MHD_Connection *conn, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL)
        return false;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(ci->connect_fd, (struct sockaddr *)&ss, &sl) != 0)
        return false;
    char host[INET6_ADDRSTRLEN], port[16];
    if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return false;
    int n = ss.ss_family == AF_INET6 ? snprintf(out, outlen, "http://[%s]:%s", host, port)
                                     : snprintf(out, outlen, "http://%s:%s", host, port);
    return n > 0 && (size_t)n < outlen;
}

/* The client's numeric address into out. */
static void client_addr(struct MHD_Connection *conn, char *out, size_t outlen)
{
    snprintf(out, outlen, "?");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL)
        return;
    socklen_t sl = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                          : sizeof(struct sockaddr_in);
    if (getnameinfo(ci->client_addr, sl, out, (socklen_t)outlen, NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(out, outlen, "?");
}

enum MHD_Result pc_session_answer(pc_session_server *s, struct MHD_Connection *conn,
                                  const char *method, const char *path, const char *body,
                                  size_t len)
{
    char self[128] = "", client[INET6_ADDRSTRLEN] = "";
    pc_session_request rq;
    memset(&rq, 0, sizeof rq);
    rq.method = method;
    rq.path = path;
    rq.body = body;
    rq.len = len;
    rq.cookie = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Cookie");
    rq.csrf = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-CSRF-Token");
    rq.content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    rq.origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    rq.host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    client_addr(conn, client, sizeof client);
    rq.client = client;
    const union MHD_ConnectionInfo *tls =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_PROTOCOL);
    rq.tls = tls != NULL && tls->protocol != 0;
    if (local_url(conn, self, sizeof self))
        rq.self_url = self;

    pc_session_response rs;
    pc_session_handle(s, &rq, &rs);
    char *text = rs.body != NULL ? json_dumps(rs.body, JSON_COMPACT) : NULL;
    json_decref(rs.body);
    if (text == NULL)
        text = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"Out of memory.\"}}");
    if (text == NULL)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (rs.set_cookie[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, rs.set_cookie);
    if (rs.retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", rs.retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (rs.status == 405)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, POST");
    enum MHD_Result r = MHD_queue_response(conn, (unsigned)rs.status, resp);
    MHD_destroy_response(resp);
    return r;
}

/* ------------------------------------------------------------------------ */
/* The process-wide instance                                                 */

static pthread_mutex_t global_mu = PTHREAD_MUTEX_INITIALIZER;
static pc_session_server *global_ui;
static bool global_tried;

/* At exit: wipe every session key. */
static void global_close(void)
{
    pthread_mutex_lock(&global_mu);
    pc_session_close(global_ui);
    global_ui = NULL;
    pthread_mutex_unlock(&global_mu);
}

enum MHD_Result pc_session_dispatch(const char *data_dir, struct MHD_Connection *conn,
                                    const char *method, const char *path,
                                    const char *body, size_t len, bool too_big)
{
    pthread_mutex_lock(&global_mu);
    if (!global_tried) {
        pc_error err;
        pc_session_config cfg = {.data_dir = data_dir};
        /* Tests and demonstrations may shorten the idle limit. */
        const char *idle = getenv("PARCHA_UI_IDLE_S");
        if (idle != NULL) {
            char *end = NULL;
            long v = strtol(idle, &end, 10);
            if (end != idle && *end == '\0' && v >= 1 && v <= 86400)
                cfg.idle_s = (int)v;
        }
        global_tried = true;
        if (pc_session_open(&cfg, &global_ui, &err) != PC_OK)
            fprintf(stderr, "parchad: staff log-in is unavailable: %s\n", err.msg);
        else
            atexit(global_close);
    }
    pc_session_server *s = global_ui;
    pthread_mutex_unlock(&global_mu);
    if (too_big) {
        static const char msg[] =
            "{\"error\":{\"code\":\"too_big\",\"message\":\"This is too large to send (over 1 MiB). "
            "Use a smaller file.\"}}";
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
        if (resp == NULL)
            return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_CONTENT_TOO_LARGE, resp);
        MHD_destroy_response(resp);
        return r;
    }
    return pc_session_answer(s, conn, method, path, body, len);
}
