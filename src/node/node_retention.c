/* Retention of etcd's window (node_retention.h). One thread; every etcd call
 * is made with the orderer borrowed through the node's gate, so catch-up can
 * swap the orderer in between. Publishing happens here rather than in the
 * delivery callback so that applying blocks never waits for an etcd write. */
#include "node/node_retention.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

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
};

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
    while (!nap(r, TICK_MS)) {
        pc_node_health_tick(n);
        pc_head h;
        pc_node_head(n, &h);
        int64_t now = pc_mono_ms();
        pthread_mutex_lock(&r->mu);
        uint64_t published = r->info.published;
        pthread_mutex_unlock(&r->mu);
        bool due = h.pos > published &&
                   (now - last_publish >= cfg->publish_interval_ms ||
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
        if (compact_at != 0 && now >= compact_at) {
            compact_at = next_compaction(cfg->retention_interval_ms);
            pc_orderer *o = pc_node_orderer_acquire(n);
            if (o == NULL)
                continue;
            pc_error err;
            pc_error_clear(&err);
            uint64_t to = 0;
            int rc = pc_etcd_compact_retained(o, cfg->retention_margin, &to, &err);
            pc_node_orderer_release(n, o);
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
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->thread, NULL, retention_main, r) != 0) {
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
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
