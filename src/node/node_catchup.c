/* Catch-up from peers (node_catchup.h).
 *
 * One thread sleeps until triggered. A catch-up then runs:
 *   1. pc_node_orderer_suspend: writes get 503, the old orderer is closed.
 *   2. Ask every known peer for /v1/status; the ones on our network and
 *      ahead of us are sources, best first.
 *   3. From a source, fetch batches (GET /v1/blocks/proposals?from=&limit=).
 *      Before applying a batch: each header hashes to its claimed hash, links
 *      to the previous one (the first to our head), carries the position,
 *      height, proposer, proposal hash, tx root and count of the proposal
 *      that comes with it; and another peer, asked for the last block of the
 *      batch, gives the same hash (or cannot say). Then each proposal is
 *      applied with full verification and must give the claimed hash.
 *   4. pc_node_orderer_resume: a new orderer watches from the new head.
 * Failures are retried with a growing pause (up to 10 s) until they work or
 * the node stops; the node keeps answering reads meanwhile. */
#include "node/node_catchup.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parcha/crypto.h"
#include "parcha/encode.h"
#include "parcha/jcs.h"
#include "parcha/tx.h"
#include "node/node_log.h"
#include "node/node_peer.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 10000

struct pc_catchup {
    pc_node *n;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool triggered;
    bool stopping;
    pc_catchup_info info; /* under mu */
};

/* One peer as seen by /v1/status. */
typedef struct source {
    pc_peer peer;
    uint64_t height;
    bool bad; /* failed or contradicted during this round */
} source;

/* One block of a fetched batch. */
typedef struct fetched {
    uint64_t height, pos;
    int64_t time;
    uint8_t hash[32];
    uint8_t *wire;
    size_t len;
} fetched;

static bool stopping(pc_catchup *c)
{
    pthread_mutex_lock(&c->mu);
    bool s = c->stopping;
    pthread_mutex_unlock(&c->mu);
    return s;
}

/* Sleep ms unless stopped (or, with wake, triggered) first. Returns true if
 * stopping. */
static bool pause_ms(pc_catchup *c, int64_t ms, bool wake)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    while (!c->stopping && !(wake && c->triggered)) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &until) == ETIMEDOUT)
            break;
    }
    bool s = c->stopping;
    pthread_mutex_unlock(&c->mu);
    return s;
}

static void set_error(pc_catchup *c, const char *msg)
{
    pthread_mutex_lock(&c->mu);
    snprintf(c->info.last_error, sizeof c->info.last_error, "%s", msg);
    pthread_mutex_unlock(&c->mu);
}

/* ---- talking to peers ---- */

/* GET a JSON answer with status 200 from a peer. */
static int get_json(pc_catchup *c, const pc_peer *pe, const char *target, int timeout_ms,
                    json_t **out, pc_error *err)
{
    *out = NULL;
    pc_peer_reply r;
    pc_peer_reply_init(&r);
    int rc = pc_peers_get(pc_node_peers(c->n), pe->id, pe->url, target, NULL, 0, timeout_ms,
                          PC_PEER_BODY_MAX, &r, err);
    if (rc == PC_OK && r.status != 200)
        rc = pc_error_set(err, r.status == 404 ? PC_ENOTFOUND : PC_EUNAVAIL,
                          "%s's node answered %s with HTTP %ld", pe->id, target, r.status);
    if (rc == PC_OK && pc_json_parse((const char *)r.body.data, r.body.len, out, err) != PC_OK)
        rc = pc_error_set(err, PC_EINVAL, "%s's node answered %s with bad JSON", pe->id, target);
    pc_peer_reply_free(&r);
    return rc;
}

/* Ask each peer for its status; fill sources with those on our network,
 * best height first. Returns the count. */
static size_t find_sources(pc_catchup *c, source *src, size_t max)
{
    pc_node *n = c->n;
    const pc_node_config *cfg = pc_node_cfg(n);
    pc_peer peers[PC_PEER_MAX];
    pc_ledger *l = pc_node_reader(n);
    size_t np = pc_peers_list(pc_node_peers(n), l, peers, PC_PEER_MAX);
    pc_node_reader_release(n, l);
    size_t ns = 0;
    for (size_t i = 0; i < np && ns < max && !stopping(c); i++) {
        json_t *st = NULL;
        pc_error err;
        if (get_json(c, &peers[i], "/v1/status", cfg->peer_timeout_ms, &st, &err) != PC_OK) {
            pc_node_log("warn", "catch-up: %s", err.msg);
            continue;
        }
        const char *net = json_string_value(json_object_get(st, "network"));
        json_t *h = json_object_get(st, "height");
        if (net == NULL || strcmp(net, cfg->network) != 0 || !json_is_integer(h) ||
            json_integer_value(h) < 0) {
            pc_node_log("warn", "catch-up: %s's node at %s is not on network %s; ignored",
                        peers[i].id, peers[i].url, cfg->network);
        } else {
            src[ns].peer = peers[i];
            src[ns].height = (uint64_t)json_integer_value(h);
            src[ns].bad = false;
            ns++;
        }
        json_decref(st);
    }
    /* Best first (insertion sort: a handful of peers). */
    for (size_t i = 1; i < ns; i++) {
        source t = src[i];
        size_t j = i;
        while (j > 0 && src[j - 1].height < t.height) {
            src[j] = src[j - 1];
            j--;
        }
        src[j] = t;
    }
    return ns;
}

/* Some other peer's hash of the block at height: 1 same, -1 different
 * (*who names it), 0 nobody else could say. */
static int confirm(pc_catchup *c, source *src, size_t ns, size_t from, uint64_t height,
                   const uint8_t hash[32], char who[33])
{
    char target[64];
    snprintf(target, sizeof target, "/v1/blocks/%" PRIu64, height);
    for (size_t i = 0; i < ns; i++) {
        if (i == from || src[i].bad || src[i].height < height)
            continue;
        json_t *b = NULL;
        pc_error err;
        if (get_json(c, &src[i].peer, target, pc_node_cfg(c->n)->peer_timeout_ms, &b, &err) != PC_OK)
            continue;
        uint8_t h[32];
        const char *hx = json_string_value(json_object_get(b, "hash"));
        bool ok = hx != NULL && strlen(hx) == 64 && pc_hex_decode_exact(h, 32, hx) == 0;
        json_decref(b);
        if (!ok)
            continue;
        snprintf(who, 33, "%.32s", src[i].peer.id);
        return memcmp(h, hash, 32) == 0 ? 1 : -1;
    }
    return 0;
}

/* ---- checking a batch ---- */

static bool hex_is(const json_t *v, const uint8_t bytes[32])
{
    char hx[65];
    pc_hex_encode_public(hx, sizeof hx, bytes, 32);
    return json_is_string(v) && strcmp(json_string_value(v), hx) == 0;
}

static bool int_is(const json_t *v, uint64_t x)
{
    return json_is_integer(v) && json_integer_value(v) >= 0 && (uint64_t)json_integer_value(v) == x;
}

/* Check one block entry of a batch against the chain so far (prev hash,
 * last position, expected height) and decode its proposal into f. */
static int check_block(const json_t *b, uint64_t want_height, const uint8_t prev[32],
                       uint64_t last_pos, int64_t prev_time, fetched *f, pc_error *err)
{
    const json_t *header = json_object_get(b, "header");
    const char *hashx = json_string_value(json_object_get(b, "hash"));
    const char *prop = json_string_value(json_object_get(b, "proposal"));
    const json_t *hv = json_object_get(b, "height"), *pv = json_object_get(b, "pos");
    if (!json_is_object(header) || hashx == NULL || prop == NULL || !int_is(hv, want_height) ||
        !json_is_integer(pv) || json_integer_value(pv) < 0 || strlen(hashx) != 64 ||
        pc_hex_decode_exact(f->hash, 32, hashx) != 0)
        return pc_error_set(err, PC_EINVAL, "block %" PRIu64 " is malformed or out of order", want_height);
    f->height = want_height;
    f->pos = (uint64_t)json_integer_value(pv);
    if (f->pos <= last_pos)
        return pc_error_set(err, PC_EINVAL, "block %" PRIu64 " has position %" PRIu64 ", not after %" PRIu64,
                            want_height, f->pos, last_pos);

    /* The header hashes to the claimed hash and links to prev. */
    pc_buf canon;
    pc_buf_init(&canon);
    int rc = pc_jcs_dump(header, &canon, err);
    uint8_t h[32];
    if (rc == PC_OK)
        pc_sha256_tagged(h, PC_DOMAIN_BLOCK, canon.data, canon.len);
    pc_buf_free(&canon);
    if (rc != PC_OK)
        return rc;
    if (memcmp(h, f->hash, 32) != 0)
        return pc_error_set(err, PC_ECRYPTO, "block %" PRIu64 "'s header does not hash to its hash", want_height);
    if (!hex_is(json_object_get(header, "prev"), prev) || !int_is(json_object_get(header, "height"), want_height) ||
        !int_is(json_object_get(header, "pos"), f->pos))
        return pc_error_set(err, PC_ECRYPTO, "block %" PRIu64 "'s header does not follow the chain here", want_height);

    /* The proposal is the one the header commits to. */
    size_t plen = strlen(prop);
    f->wire = malloc(plen * 3 / 4 + 4);
    if (f->wire == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    if (pc_b64_decode_public(f->wire, plen * 3 / 4 + 4, &f->len, prop, plen) != 0)
        return pc_error_set(err, PC_EINVAL, "block %" PRIu64 "'s proposal is not base64url", want_height);
    pc_proposal p;
    rc = pc_proposal_decode(f->wire, f->len, &p, err);
    if (rc != PC_OK)
        return rc;
    const json_t *proposer = json_object_get(header, "proposer");
    int64_t btime = p.time > prev_time ? p.time : prev_time; /* DESIGN §6 */
    const json_t *tv = json_object_get(header, "time");
    f->time = btime;
    bool same = json_is_integer(tv) && json_integer_value(tv) == btime &&
                hex_is(json_object_get(header, "proposal"), p.hash) &&
                hex_is(json_object_get(header, "txroot"), p.txroot) &&
                int_is(json_object_get(header, "count"), p.ntx) && json_is_string(proposer) &&
                strcmp(json_string_value(proposer), p.proposer) == 0;
    pc_proposal_free(&p);
    if (!same)
        return pc_error_set(err, PC_ECRYPTO, "block %" PRIu64 "'s proposal is not the one its header names", want_height);
    return PC_OK;
}

static void free_batch(fetched *fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(fs[i].wire);
    free(fs);
}

/* Catch up from src[i] until our height reaches its height. PC_OK when
 * done; otherwise an error (the source is then left). A block that applies
 * to a different hash than checked is fatal for the node (PC_ESTATE). */
static int fetch_from(pc_catchup *c, source *src, size_t ns, size_t i, pc_error *err)
{
    pc_node *n = c->n;
    const pc_node_config *cfg = pc_node_cfg(n);
    const pc_peer *pe = &src[i].peer;
    pthread_mutex_lock(&c->mu);
    snprintf(c->info.source, sizeof c->info.source, "%.*s", (int)sizeof c->info.source - 1, pe->id);
    pthread_mutex_unlock(&c->mu);
    bool warned = false;
    for (;;) {
        pc_head head;
        pc_node_head(n, &head);
        if (head.height >= src[i].height)
            return PC_OK;
        if (stopping(c))
            return pc_error_set(err, PC_EUNAVAIL, "stopping");
        char target[96];
        snprintf(target, sizeof target, "/v1/blocks/proposals?from=%" PRIu64 "&limit=%zu", head.height + 1,
                 cfg->catchup_batch);
        json_t *ans = NULL;
        int rc = get_json(c, pe, target, cfg->peer_read_timeout_ms > 30000 ? cfg->peer_read_timeout_ms : 30000,
                          &ans, err);
        if (rc != PC_OK)
            return rc;
        const json_t *blocks = json_object_get(ans, "blocks");
        size_t nb = json_array_size(blocks);
        if (nb == 0) {
            json_decref(ans);
            return pc_error_set(err, PC_EINVAL, "%s's node sent no blocks from height %" PRIu64, pe->id,
                                head.height + 1);
        }
        fetched *fs = calloc(nb, sizeof *fs);
        if (fs == NULL) {
            json_decref(ans);
            return pc_error_set(err, PC_ENOMEM, "out of memory");
        }
        uint8_t prev[32];
        memcpy(prev, head.hash, 32);
        uint64_t last_pos = head.pos;
        int64_t prev_time = head.time;
        for (size_t k = 0; k < nb && rc == PC_OK; k++) {
            rc = check_block(json_array_get(blocks, k), head.height + 1 + k, prev, last_pos, prev_time, &fs[k],
                             err);
            if (rc == PC_OK) {
                memcpy(prev, fs[k].hash, 32);
                last_pos = fs[k].pos;
                prev_time = fs[k].time;
            }
        }
        json_decref(ans);
        if (rc != PC_OK) {
            free_batch(fs, nb);
            char why[256];
            snprintf(why, sizeof why, "%s", err->msg);
            return pc_error_set(err, rc, "%s's node sent blocks that do not check: %s", pe->id, why);
        }
        char who[33] = "";
        int conf = confirm(c, src, ns, i, fs[nb - 1].height, fs[nb - 1].hash, who);
        if (conf < 0) {
            uint64_t last = fs[nb - 1].height;
            free_batch(fs, nb);
            return pc_error_set(err, PC_ECRYPTO,
                                "%s's node and %s's node disagree about block %" PRIu64 "; not applying %s's blocks",
                                pe->id, who, last, pe->id);
        }
        for (size_t k = 0; k < nb && rc == PC_OK; k++) {
            pc_node_block b;
            rc = pc_node_apply_fetched(n, fs[k].pos, fs[k].wire, fs[k].len, &b, err);
            if (rc != PC_OK) {
                pc_node_log("error", "catch-up: block %" PRIu64 " from %s's node did not apply: %s; "
                                     "this node stops (its ledger may now differ from the network's)",
                            fs[k].height, pe->id, err->msg);
                pc_node_fail(n);
                rc = PC_ESTATE;
            } else if (b.height != fs[k].height || memcmp(b.hash, fs[k].hash, 32) != 0) {
                /* Either the source lied about the hash only (our block is
                 * the network's: the verdicts are ours), or it gave us a
                 * proposal the network never ordered there. Another peer
                 * that has our hash settles it. */
                char who2[33] = "";
                if (confirm(c, src, ns, i, b.height, b.hash, who2) > 0) {
                    pc_node_log("warn", "catch-up: %s's node claimed another hash for block %" PRIu64
                                        " than the one applied here, which %s's node confirms; leaving %s",
                                pe->id, b.height, who2, pe->id);
                    rc = pc_error_set(err, PC_ECRYPTO, "%s's node sent a wrong hash for block %" PRIu64, pe->id,
                                      b.height);
                    pthread_mutex_lock(&c->mu);
                    c->info.blocks++;
                    pthread_mutex_unlock(&c->mu);
                    break;
                }
                pc_node_log("error", "catch-up: block %" PRIu64 " from %s's node applied here to a different hash "
                                     "and no other node confirms it; this node's ledger may now differ from the "
                                     "network's: it stops. Move ledger.db aside and start it again to rebuild from "
                                     "its peers",
                            fs[k].height, pe->id);
                pc_node_fail(n);
                rc = pc_error_set(err, PC_ESTATE, "block %" PRIu64 " applied to a different hash", fs[k].height);
            }
            if (rc == PC_OK) {
                pthread_mutex_lock(&c->mu);
                c->info.blocks++;
                pthread_mutex_unlock(&c->mu);
            }
        }
        free_batch(fs, nb);
        if (rc != PC_OK)
            return rc;
        if (conf == 0 && !warned) {
            pc_node_log("warn", "catch-up: no other peer could confirm the block hashes from %s's node; "
                                "relying on its blocks' own checks", pe->id);
            warned = true;
        }
    }
}

/* One catch-up attempt over every source. PC_OK when at least as high as
 * the best source reachable (or none is ahead). */
static int catch_up_once(pc_catchup *c, pc_error *err)
{
    source src[PC_PEER_MAX];
    size_t ns = find_sources(c, src, PC_PEER_MAX);
    if (ns == 0)
        return pc_error_set(err, PC_EUNAVAIL, "no other hospital's node answered (check \"peers\" in node.json)");
    pthread_mutex_lock(&c->mu);
    c->info.target = src[0].height;
    pthread_mutex_unlock(&c->mu);
    pc_head head;
    pc_node_head(c->n, &head);
    if (src[0].height <= head.height) {
        pc_node_log("info", "catch-up: no peer is ahead of this node (height %" PRIu64 ")", head.height);
        return PC_OK;
    }
    pc_node_log("info", "catch-up: from height %" PRIu64 " to %" PRIu64 " (%s's node first)", head.height,
                src[0].height, src[0].peer.id);
    int rc = PC_EUNAVAIL;
    pc_error_set(err, rc, "no peer is ahead");
    for (size_t i = 0; i < ns; i++) {
        pc_node_head(c->n, &head);
        if (src[i].height <= head.height)
            break; /* sorted: nobody further is ahead */
        rc = fetch_from(c, src, ns, i, err);
        if (rc == PC_OK || rc == PC_ESTATE || stopping(c))
            break;
        src[i].bad = true;
        pc_node_log("warn", "catch-up: %s", err->msg);
    }
    return rc;
}

static void *catchup_main(void *arg)
{
    pc_catchup *c = arg;
    pc_node *n = c->n;
    int64_t idle_backoff = 0; /* grows while catch-ups find nothing to fetch */
    for (;;) {
        pthread_mutex_lock(&c->mu);
        while (!c->triggered && !c->stopping)
            pthread_cond_wait(&c->cv, &c->mu);
        bool stop = c->stopping;
        pthread_mutex_unlock(&c->mu);
        if (stop || (idle_backoff > 0 && pause_ms(c, idle_backoff, false)))
            break;
        pthread_mutex_lock(&c->mu);
        uint64_t blocks_before = c->info.blocks;
        c->triggered = false;
        c->info.active = true;
        c->info.rounds++;
        c->info.last_error[0] = '\0';
        pthread_mutex_unlock(&c->mu);
        atomic_fetch_add(&pc_node_metrics(n)->catchup_rounds, 1);

        pc_node_orderer_suspend(n);
        int64_t backoff = BACKOFF_MIN_MS;
        for (;;) {
            pc_error err;
            pc_error_clear(&err);
            int rc = catch_up_once(c, &err);
            if (rc == PC_ESTATE)
                break; /* the node is stopping for good */
            if (rc == PC_OK) {
                rc = pc_node_orderer_resume(n, &err);
                if (rc == PC_OK) {
                    pc_head h;
                    pc_node_head(n, &h);
                    pc_node_log("info", "catch-up done at height %" PRIu64 "; ordering resumes after position %" PRIu64,
                                h.height, h.pos);
                    break;
                }
            }
            if (stopping(c))
                break;
            atomic_fetch_add(&pc_node_metrics(n)->catchup_failures, 1);
            set_error(c, err.msg);
            pc_node_log("warn", "catch-up not finished (%s); trying again in %lld ms", err.msg, (long long)backoff);
            if (pause_ms(c, backoff, true))
                break;
            pthread_mutex_lock(&c->mu);
            c->triggered = false; /* this loop is already catching up */
            pthread_mutex_unlock(&c->mu);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        }
        pthread_mutex_lock(&c->mu);
        c->info.active = false;
        bool fetched_some = c->info.blocks > blocks_before;
        pthread_mutex_unlock(&c->mu);
        if (fetched_some)
            idle_backoff = 0;
        else
            idle_backoff = idle_backoff == 0 ? BACKOFF_MIN_MS
                                             : (idle_backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : idle_backoff * 2);
    }
    return NULL;
}

/* ---- public ---- */

int pc_catchup_open(pc_node *n, pc_catchup **out, pc_error *err)
{
    *out = NULL;
    pc_catchup *c = calloc(1, sizeof *c);
    if (c == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    c->n = n;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->thread, NULL, catchup_main, c) != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return pc_error_set(err, PC_ENOMEM, "cannot start the catch-up thread");
    }
    c->started = true;
    *out = c;
    return PC_OK;
}

void pc_catchup_trigger(pc_catchup *c, uint64_t compact_revision)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->triggered = true;
    c->info.active = true;
    if (compact_revision > c->info.compact_revision)
        c->info.compact_revision = compact_revision;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

uint64_t pc_catchup_target(pc_catchup *c)
{
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->mu);
    uint64_t t = c->info.target;
    pthread_mutex_unlock(&c->mu);
    return t;
}

void pc_catchup_get(pc_catchup *c, pc_catchup_info *out)
{
    memset(out, 0, sizeof *out);
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    *out = c->info;
    pthread_mutex_unlock(&c->mu);
}

void pc_catchup_stop(pc_catchup *c)
{
    if (c == NULL || !c->started)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    c->started = false;
}

void pc_catchup_close(pc_catchup *c)
{
    if (c == NULL)
        return;
    pc_catchup_stop(c);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
