/* Flow control across the consortium (node_flow.h). */
#include "node/node_flow.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* This node's recent blocks: enough to place any peer within catchup_lag_ms
 * at a few hundred blocks per second; a peer further back than the oldest
 * entry lags at least as long as that entry's age. */
#define FLOW_RING 16384

typedef struct flow_mark {
    uint64_t pos;
    int64_t at_ms;
} flow_mark;

typedef struct flow_peer {
    char id[PC_FLOW_ID_MAX];
    uint64_t pos;
    int64_t moved_ms; /* when pos last changed (or was first seen) */
} flow_peer;

struct pc_flow {
    pthread_mutex_t mu;
    pc_flow_options opt;
    char self[PC_FLOW_ID_MAX];
    flow_mark *ring; /* FLOW_RING entries, oldest at (next - count) */
    size_t next, count;
    flow_peer peers[PC_FLOW_MAX_PEERS];
    size_t npeers;
    uint64_t holds;
    int64_t held_ms;
};

int pc_flow_open(const char *self, const pc_flow_options *opt, pc_flow **out)
{
    *out = NULL;
    if (self == NULL || strlen(self) >= PC_FLOW_ID_MAX || opt == NULL)
        return PC_EINVAL;
    pc_flow *f = calloc(1, sizeof *f);
    if (f == NULL)
        return PC_ENOMEM;
    f->ring = calloc(FLOW_RING, sizeof *f->ring);
    if (f->ring == NULL) {
        free(f);
        return PC_ENOMEM;
    }
    f->opt = *opt;
    memcpy(f->self, self, strlen(self) + 1);
    pthread_mutex_init(&f->mu, NULL);
    *out = f;
    return PC_OK;
}

void pc_flow_close(pc_flow *f)
{
    if (f == NULL)
        return;
    pthread_mutex_destroy(&f->mu);
    free(f->ring);
    free(f);
}

void pc_flow_applied(pc_flow *f, uint64_t pos, int64_t now_ms)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->mu);
    /* Positions only grow; after a catch-up from a peer they jump. */
    if (f->count == 0 || pos > f->ring[(f->next + FLOW_RING - 1) % FLOW_RING].pos) {
        f->ring[f->next] = (flow_mark){pos, now_ms};
        f->next = (f->next + 1) % FLOW_RING;
        if (f->count < FLOW_RING)
            f->count++;
    }
    pthread_mutex_unlock(&f->mu);
}

void pc_flow_peer(pc_flow *f, const char *id, uint64_t pos, int64_t now_ms)
{
    if (f == NULL || id == NULL || strlen(id) >= PC_FLOW_ID_MAX || strcmp(id, f->self) == 0)
        return;
    pthread_mutex_lock(&f->mu);
    flow_peer *p = NULL;
    for (size_t i = 0; i < f->npeers && p == NULL; i++)
        if (strcmp(f->peers[i].id, id) == 0)
            p = &f->peers[i];
    if (p == NULL && f->npeers < PC_FLOW_MAX_PEERS) {
        p = &f->peers[f->npeers++];
        memcpy(p->id, id, strlen(id) + 1);
        p->pos = pos;
        p->moved_ms = now_ms;
    } else if (p != NULL && p->pos != pos) {
        p->pos = pos;
        p->moved_ms = now_ms;
    }
    pthread_mutex_unlock(&f->mu);
}

/* Under mu. */
static int64_t lag_locked(const pc_flow *f, uint64_t pos, int64_t now_ms)
{
    if (f->count == 0)
        return 0;
    size_t oldest = (f->next + FLOW_RING - f->count) % FLOW_RING;
    const flow_mark *last = &f->ring[(f->next + FLOW_RING - 1) % FLOW_RING];
    if (pos >= last->pos)
        return 0;
    /* Binary search for the first mark past pos (marks grow with i). */
    size_t lo = 0, hi = f->count - 1; /* the mark at hi is past pos */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->ring[(oldest + mid) % FLOW_RING].pos > pos)
            hi = mid;
        else
            lo = mid + 1;
    }
    int64_t lag = now_ms - f->ring[(oldest + lo) % FLOW_RING].at_ms;
    return lag > 0 ? lag : 0;
}

int64_t pc_flow_lag_ms(pc_flow *f, uint64_t pos, int64_t now_ms)
{
    if (f == NULL)
        return 0;
    pthread_mutex_lock(&f->mu);
    int64_t lag = lag_locked(f, pos, now_ms);
    pthread_mutex_unlock(&f->mu);
    return lag;
}

/* Under mu: is peer p waited for, and its lag. */
static bool waited_for(const pc_flow *f, const flow_peer *p, int64_t now_ms, int64_t *lag)
{
    *lag = lag_locked(f, p->pos, now_ms);
    if (*lag == 0)
        return true; /* has everything: counts as live, holds nothing */
    if (now_ms - p->moved_ms > f->opt.dead_after_ms)
        return false;
    return f->opt.catchup_lag_ms <= 0 || *lag <= f->opt.catchup_lag_ms;
}

bool pc_flow_should_hold(pc_flow *f, int64_t now_ms, char *who, int64_t *lag_ms)
{
    if (f == NULL || f->opt.max_lag_ms <= 0)
        return false;
    pthread_mutex_lock(&f->mu);
    const flow_peer *worst = NULL;
    int64_t worst_lag = 0;
    for (size_t i = 0; i < f->npeers; i++) {
        int64_t lag;
        if (waited_for(f, &f->peers[i], now_ms, &lag) && lag > f->opt.max_lag_ms && lag > worst_lag) {
            worst = &f->peers[i];
            worst_lag = lag;
        }
    }
    if (worst != NULL && who != NULL)
        memcpy(who, worst->id, strlen(worst->id) + 1);
    pthread_mutex_unlock(&f->mu);
    if (lag_ms != NULL)
        *lag_ms = worst_lag;
    return worst != NULL;
}

void pc_flow_count_hold(pc_flow *f, int64_t held_ms)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->mu);
    f->holds++;
    f->held_ms += held_ms > 0 ? held_ms : 0;
    pthread_mutex_unlock(&f->mu);
}

void pc_flow_get(pc_flow *f, int64_t now_ms, pc_flow_info *out)
{
    memset(out, 0, sizeof *out);
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->mu);
    out->enabled = f->opt.max_lag_ms > 0;
    out->max_lag_ms = f->opt.max_lag_ms;
    out->peers = f->npeers;
    out->holds = f->holds;
    out->held_ms = f->held_ms;
    out->slowest_lag_ms = -1;
    for (size_t i = 0; i < f->npeers; i++) {
        int64_t lag;
        if (!waited_for(f, &f->peers[i], now_ms, &lag))
            continue;
        out->waited_for++;
        if (lag > out->slowest_lag_ms) {
            out->slowest_lag_ms = lag;
            memcpy(out->slowest, f->peers[i].id, strlen(f->peers[i].id) + 1);
        }
    }
    if (out->slowest_lag_ms < 0)
        out->slowest_lag_ms = 0;
    pthread_mutex_unlock(&f->mu);
}
