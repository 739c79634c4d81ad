/* Many JSON POSTs at once (see multipost.h), with one curl easy handle per
 * request slot and a multi handle driving them. */
#include "cli/multipost.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

/* A request in flight: its index and the answer collected so far. */
typedef struct slot {
    CURL *h;
    size_t req;
    bool busy;
    pc_buf resp;
    int64_t started;
} slot;

static size_t collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
    return pc_buf_append(ud, ptr, size * nmemb) == PC_OK ? size * nmemb : 0;
}

/* Start reqs[i] on slot s. */
static int start(CURLM *m, slot *s, cli_mpost *reqs, size_t i, struct curl_slist *hdrs,
                 long timeout_s)
{
    cli_mpost *r = &reqs[i];
    pc_buf_free(&s->resp);
    pc_buf_init(&s->resp);
    s->resp.cap_limit = 4 << 20;
    curl_easy_reset(s->h);
    curl_easy_setopt(s->h, CURLOPT_URL, r->url);
    curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, &s->resp);
    curl_easy_setopt(s->h, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(s->h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->h, CURLOPT_PRIVATE, (char *)s);
    if (r->cacert != NULL)
        curl_easy_setopt(s->h, CURLOPT_CAINFO, r->cacert);
    s->req = i;
    s->busy = true;
    if (r->tries++ == 0)
        s->started = pc_mono_ms();
    else
        s->started = pc_mono_ms() - r->ms;
    return curl_multi_add_handle(m, s->h) == CURLM_OK ? PC_OK : PC_ENOMEM;
}

/* Record the outcome of slot s's request; true if it should be tried again. */
static bool finish(slot *s, cli_mpost *reqs, CURLcode cc, int max_tries)
{
    cli_mpost *r = &reqs[s->req];
    r->curl_code = (int)cc;
    r->status = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &r->status);
    r->ms = pc_mono_ms() - s->started;
    free(r->answer);
    r->answer = NULL;
    if (s->resp.len > 0 && pc_buf_append(&s->resp, "", 1) == PC_OK) {
        size_t len = 0;
        r->answer = (char *)pc_buf_steal(&s->resp, &len);
    }
    s->busy = false;
    return (r->status == 0 || r->status == 503) && r->tries < max_tries;
}

int cli_multipost(cli_mpost *reqs, size_t n, size_t inflight, int max_tries, long timeout_s,
                  pc_error *err)
{
    if (inflight == 0)
        inflight = 1;
    if (inflight > n)
        inflight = n > 0 ? n : 1;
    CURLM *m = curl_multi_init();
    slot *slots = calloc(inflight, sizeof *slots);
    size_t *again = calloc(n > 0 ? n : 1, sizeof *again);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    hdrs = hdrs != NULL ? curl_slist_append(hdrs, "Expect:") : NULL;
    int rc = m != NULL && slots != NULL && again != NULL && hdrs != NULL ? PC_OK : PC_ENOMEM;
    for (size_t i = 0; rc == PC_OK && i < inflight; i++) {
        slots[i].h = curl_easy_init();
        if (slots[i].h == NULL)
            rc = PC_ENOMEM;
    }
    size_t next = 0, nagain = 0, active = 0;
    while (rc == PC_OK && (next < n || nagain > 0 || active > 0)) {
        for (size_t i = 0; rc == PC_OK && i < inflight && (next < n || nagain > 0); i++) {
            if (slots[i].busy)
                continue;
            size_t req = nagain > 0 ? again[--nagain] : next++;
            rc = start(m, &slots[i], reqs, req, hdrs, timeout_s);
            active++;
        }
        int running = 0;
        curl_multi_perform(m, &running);
        bool retrying = false;
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            slot *s = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            CURLcode cc = msg->data.result;
            curl_multi_remove_handle(m, msg->easy_handle);
            active--;
            if (finish(s, reqs, cc, max_tries)) {
                again[nagain++] = s->req;
                retrying = true;
            }
        }
        if (retrying) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        } else if (active > 0) {
            curl_multi_poll(m, NULL, 0, 100, NULL);
        }
    }
    for (size_t i = 0; slots != NULL && i < inflight; i++) {
        if (slots[i].h != NULL) {
            if (slots[i].busy)
                curl_multi_remove_handle(m, slots[i].h);
            curl_easy_cleanup(slots[i].h);
        }
        pc_buf_free(&slots[i].resp);
    }
    curl_slist_free_all(hdrs);
    if (m != NULL)
        curl_multi_cleanup(m);
    free(slots);
    free(again);
    if (rc != PC_OK)
        return pc_error_set(err, PC_ENOMEM, "out of memory setting up HTTP transfers");
    return PC_OK;
}

void cli_mpost_free(cli_mpost *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(reqs[i].answer);
        reqs[i].answer = NULL;
    }
}
