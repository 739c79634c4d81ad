/* parcha audit: does every node of a consortium hold the same chain and the
 * same state? Each node signs checkpoints (height, head block hash, state
 * digest) with its hospital key (include/parcha/checkpoint.h) and publishes
 * them at GET /v1/checkpoints. This command fetches them from every node,
 * checks each signature against the hospital's key as the chain records it,
 * and compares head and state at every height that two or more nodes
 * signed. A node whose checkpoint differs from the majority's at some height
 * is named with the first such height; a bad signature, an unreachable node
 * or a node of another network is an alarm too. (The access-log command is
 * cmd_audit.c; this is the consortium-wide audit.) */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "parcha/checkpoint.h"
#include "parcha/encode.h"

static const char HELP[] =
    "usage: parcha audit (--devnet DIR | --node URL [--node URL ...]) [--json]\n"
    "\n"
    "Compare the signed checkpoints of every node of a consortium. Each node\n"
    "signs (height, head block hash, state digest) with its hospital key and\n"
    "publishes them (GET /v1/checkpoints). parcha audit fetches them from\n"
    "every node given (--devnet DIR: every node of a devnet), checks every\n"
    "signature against that hospital's key on the chain, and compares the head\n"
    "hash and the state digest at every height that two or more nodes signed.\n"
    "\n"
    "Prints a table and then either \"consistent\" or an ALARM naming each\n"
    "diverging node and the first height where it differs from the majority.\n"
    "Exit 0 consistent; 1 divergence, a bad signature, a node of another\n"
    "network, an unreachable node, or no height in common yet; 2 bad usage.\n"
    "\n"
    "examples:\n"
    "  parcha audit --devnet ./devnet\n"
    "  parcha audit --node https://parcha.citygeneral.example:8443 \\\n"
    "               --node https://parcha.sunrise.example:8443 --json\n";

static const cli_optspec OPTS[] = {
    {"devnet", true, false}, {"node", true, true}, {NULL, false, false}};

#define AUDIT_MAX_NODES 64
/* Heights fetched one by one from a node that did not list them. */
#define AUDIT_MAX_FETCH 32

/* What one node said. */
typedef struct audit_node {
    char url[512];
    char hospital[33];      /* from its /v1/status */
    char network[PC_NET_MAX + 1];
    bool reachable;
    uint64_t height;
    json_t *hospitals;      /* its GET /v1/hospitals answer */
    pc_checkpoint *cps;     /* its own checkpoints with good signatures, by height */
    size_t ncps, cap;
    size_t nbad;            /* checkpoints whose signature or fields are wrong */
    char problem[300];      /* first problem found, "" if none */
    bool diverges;
    uint64_t diverge_height;
    char diverge_what[16];  /* "head", "state" or "head and state" */
    bool diverge_tie;       /* no majority at that height: it and others disagree evenly */
    size_t diverge_signers; /* how many nodes signed that height */
} audit_node;

/* ---- collecting ---- */

/* Note the first problem of node n. */
static void problem(audit_node *n, const char *fmt, ...) PC_PRINTF(2, 3);
static void problem(audit_node *n, const char *fmt, ...)
{
    if (n->problem[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->problem, sizeof n->problem, fmt, ap);
    va_end(ap);
}

/* The key of hospital id as most nodes' /v1/hospitals report it (the chain
 * is replicated: an honest majority agrees). false if no node knows it. */
static bool majority_key(const audit_node *nodes, size_t n, const char *id, uint8_t key[32])
{
    size_t best = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j;
        const json_t *h;
        json_array_foreach(nodes[i].hospitals, j, h) {
            const char *hid = json_string_value(json_object_get(h, "id"));
            const char *k = json_string_value(json_object_get(h, "key"));
            uint8_t cand[32];
            if (hid == NULL || k == NULL || strcmp(hid, id) != 0 ||
                pc_b64_decode_exact(cand, 32, k) != 0)
                continue;
            size_t votes = 0;
            for (size_t m = 0; m < n; m++) {
                size_t q;
                const json_t *o;
                json_array_foreach(nodes[m].hospitals, q, o) {
                    const char *oid = json_string_value(json_object_get(o, "id"));
                    const char *ok = json_string_value(json_object_get(o, "key"));
                    if (oid != NULL && ok != NULL && strcmp(oid, id) == 0 && strcmp(ok, k) == 0)
                        votes++;
                }
            }
            if (votes > best) {
                best = votes;
                memcpy(key, cand, 32);
            }
        }
    }
    return best > 0;
}

/* The checkpoint of n at height, or NULL. */
static const pc_checkpoint *at_height(const audit_node *n, uint64_t height)
{
    for (size_t i = 0; i < n->ncps; i++) {
        if (n->cps[i].height == height)
            return &n->cps[i];
    }
    return NULL;
}

/* Parse, check and keep one published checkpoint of node n. Checkpoints
 * signed by another hospital (relayed) are ignored; a malformed one, one of
 * another network or with a bad signature is counted as bad. */
static void take_checkpoint(audit_node *nodes, size_t nn, audit_node *n, const json_t *obj)
{
    pc_checkpoint cp;
    pc_error err;
    if (pc_checkpoint_from_json(obj, &cp, &err) != PC_OK) {
        n->nbad++;
        problem(n, "published a malformed checkpoint (%s)", err.msg);
        return;
    }
    if (strcmp(cp.hospital, n->hospital) != 0)
        return;
    if (strcmp(cp.net, n->network) != 0) {
        n->nbad++;
        problem(n, "checkpoint at height %llu is for network '%s'", (unsigned long long)cp.height,
                cp.net);
        return;
    }
    uint8_t key[32];
    if (!majority_key(nodes, nn, cp.hospital, key)) {
        n->nbad++;
        problem(n, "hospital '%s' is not on the chain", cp.hospital);
        return;
    }
    if (pc_checkpoint_verify(&cp, key, &err) != PC_OK) {
        n->nbad++;
        problem(n, "checkpoint at height %llu does not carry %s's signature",
                (unsigned long long)cp.height, cp.hospital);
        return;
    }
    if (at_height(n, cp.height) != NULL)
        return;
    if (n->ncps == n->cap) {
        size_t cap = n->cap ? 2 * n->cap : 64;
        pc_checkpoint *grown = realloc(n->cps, cap * sizeof *grown);
        if (grown == NULL)
            return;
        n->cps = grown;
        n->cap = cap;
    }
    n->cps[n->ncps++] = cp;
}

/* A list answer: a bare array, or an object holding it under "checkpoints". */
static const json_t *as_list(const json_t *j)
{
    if (json_is_array(j))
        return j;
    const json_t *a = json_object_get(j, "checkpoints");
    return json_is_array(a) ? a : NULL;
}

/* Status, hospitals and checkpoint list of node n. */
static void fetch_node(audit_node *n, json_t **list)
{
    cli_client c;
    pc_error err;
    *list = NULL;
    if (cli_client_init(&c, n->url, &err) != PC_OK) {
        problem(n, "%s", err.msg);
        return;
    }
    json_t *st = NULL;
    if (cli_get(&c, "/v1/status", &st, &err) != PC_OK) {
        problem(n, "unreachable: %s", err.msg);
        cli_client_close(&c);
        return;
    }
    n->reachable = true;
    snprintf(n->hospital, sizeof n->hospital, "%s", cli_str(st, "hospital"));
    snprintf(n->network, sizeof n->network, "%s", cli_str(st, "network"));
    n->height = (uint64_t)json_integer_value(json_object_get(st, "height"));
    json_decref(st);
    json_t *h = NULL;
    if (cli_get(&c, "/v1/hospitals", &h, &err) == PC_OK) {
        const json_t *arr = json_is_array(h) ? h : json_object_get(h, "hospitals");
        n->hospitals = json_incref((json_t *)arr);
    }
    json_decref(h);
    if (cli_get(&c, "/v1/checkpoints?limit=1000", list, &err) != PC_OK)
        problem(n, "publishes no checkpoints: %s", err.msg);
    cli_client_close(&c);
}

/* Ask n for its checkpoint at each height some other node signed and n has
 * reached but did not list (at most AUDIT_MAX_FETCH, newest first). */
static void fetch_missing(audit_node *nodes, size_t nn, audit_node *n)
{
    cli_client c;
    pc_error err;
    if (!n->reachable || cli_client_init(&c, n->url, &err) != PC_OK)
        return;
    uint64_t want[AUDIT_MAX_FETCH];
    size_t nwant = 0;
    for (size_t i = 0; i < nn; i++) {
        for (size_t k = nodes[i].ncps; k-- > 0 && nwant < AUDIT_MAX_FETCH;) {
            uint64_t h = nodes[i].cps[k].height;
            bool dup = at_height(n, h) != NULL || h > n->height;
            for (size_t w = 0; w < nwant && !dup; w++)
                dup = want[w] == h;
            if (!dup)
                want[nwant++] = h;
        }
    }
    for (size_t w = 0; w < nwant; w++) {
        char path[64];
        json_t *j = NULL;
        snprintf(path, sizeof path, "/v1/checkpoints/%llu", (unsigned long long)want[w]);
        if (cli_get(&c, path, &j, &err) == PC_OK)
            take_checkpoint(nodes, nn, n, json_is_object(json_object_get(j, "checkpoint"))
                                              ? json_object_get(j, "checkpoint")
                                              : j);
        json_decref(j);
    }
    cli_client_close(&c);
}

/* ---- comparing ---- */

static bool same(const pc_checkpoint *a, const pc_checkpoint *b)
{
    return memcmp(a->head, b->head, 32) == 0 && memcmp(a->state, b->state, 32) == 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

/* Compare every height two or more nodes signed, in increasing order. A
 * node outside the largest group of identical checkpoints at a height
 * diverges there (when no group is larger than every other, every node of
 * that height disagrees). Returns the number of common heights; *lo and *hi
 * the lowest and highest. */
static size_t compare(audit_node *nodes, size_t nn, uint64_t *lo, uint64_t *hi)
{
    size_t total = 0, ncommon = 0;
    *lo = *hi = 0;
    for (size_t i = 0; i < nn; i++)
        total += nodes[i].ncps;
    uint64_t *heights = malloc((total ? total : 1) * sizeof *heights);
    if (heights == NULL)
        return 0;
    size_t nh = 0;
    for (size_t i = 0; i < nn; i++)
        for (size_t k = 0; k < nodes[i].ncps; k++)
            heights[nh++] = nodes[i].cps[k].height;
    qsort(heights, nh, sizeof *heights, cmp_u64);
    for (size_t x = 0; x < nh; x++) {
        uint64_t h = heights[x];
        if (x > 0 && heights[x - 1] == h)
            continue;
        const pc_checkpoint *cp[AUDIT_MAX_NODES];
        size_t have = 0;
        for (size_t i = 0; i < nn; i++) {
            cp[i] = at_height(&nodes[i], h);
            have += cp[i] != NULL;
        }
        if (have < 2)
            continue;
        if (ncommon++ == 0)
            *lo = h;
        *hi = h;
        size_t best = 0, best_i = 0;
        bool tie = false;
        for (size_t i = 0; i < nn; i++) {
            if (cp[i] == NULL)
                continue;
            size_t votes = 0;
            for (size_t j = 0; j < nn; j++)
                votes += cp[j] != NULL && same(cp[i], cp[j]);
            if (votes > best) {
                best = votes;
                best_i = i;
                tie = false;
            } else if (votes == best && !same(cp[i], cp[best_i])) {
                tie = true;
            }
        }
        for (size_t i = 0; i < nn; i++) {
            if (cp[i] == NULL || nodes[i].diverges || (!tie && same(cp[i], cp[best_i])))
                continue;
            nodes[i].diverges = true;
            nodes[i].diverge_height = h;
            nodes[i].diverge_tie = tie;
            nodes[i].diverge_signers = have;
            const pc_checkpoint *ref = tie ? NULL : cp[best_i];
            bool head = ref == NULL || memcmp(cp[i]->head, ref->head, 32) != 0;
            bool state = ref == NULL || memcmp(cp[i]->state, ref->state, 32) != 0;
            snprintf(nodes[i].diverge_what, sizeof nodes[i].diverge_what, "%s",
                     head && state ? "head and state" : (head ? "head" : "state"));
        }
    }
    free(heights);
    return ncommon;
}

/* ---- the command ---- */

/* The nodes of a devnet (DIR/devnet.json): URLs in order. */
static int devnet_nodes(const char *dir, audit_node *nodes, size_t *nn, pc_error *err)
{
    char path[PATH_MAX];
    json_t *state = NULL;
    if (!cli_pathf(path, sizeof path, "%s/devnet.json", dir))
        return pc_error_set(err, PC_EINVAL, "folder path is too long");
    int rc = cli_read_json_file(path, 1 << 20, &state, err);
    if (rc != PC_OK)
        return rc;
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(state, "nodes"), i, e) {
        if (*nn >= AUDIT_MAX_NODES)
            break;
        snprintf(nodes[(*nn)++].url, sizeof nodes[0].url, "%s", cli_str(e, "url"));
    }
    json_decref(state);
    if (*nn == 0)
        return pc_error_set(err, PC_EINVAL, "%s lists no nodes", path);
    return PC_OK;
}

static const char *label(const audit_node *n)
{
    return n->hospital[0] != '\0' ? n->hospital : n->url;
}

int cli_cmd_consortium_audit(int argc, char **argv)
{
    static const char NAME[] = "audit";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP, OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    audit_node *nodes = calloc(AUDIT_MAX_NODES, sizeof *nodes);
    if (nodes == NULL) {
        pc_error_set(&err, PC_ENOMEM, "out of memory");
        return cli_fail(NAME, &err);
    }
    size_t nn = 0;
    const char *devnet = cli_arg(&a, "devnet");
    const char *urls[AUDIT_MAX_NODES + 1];
    size_t nurls = cli_arg_all(&a, "node", urls, AUDIT_MAX_NODES + 1);
    if ((devnet == NULL && nurls == 0) || nurls > AUDIT_MAX_NODES) {
        free(nodes);
        pc_error_set(&err, PC_EINVAL, nurls > AUDIT_MAX_NODES
                                          ? "at most 64 nodes"
                                          : "give --devnet DIR or at least one --node URL");
        return cli_usage(NAME, &err);
    }
    if (devnet != NULL && devnet_nodes(devnet, nodes, &nn, &err) != PC_OK) {
        free(nodes);
        return cli_fail(NAME, &err);
    }
    for (size_t i = 0; i < nurls && nn < AUDIT_MAX_NODES; i++)
        snprintf(nodes[nn++].url, sizeof nodes[0].url, "%s", urls[i]);

    json_t *lists[AUDIT_MAX_NODES];
    for (size_t i = 0; i < nn; i++)
        fetch_node(&nodes[i], &lists[i]);
    /* The network is what most reachable nodes say. */
    const char *network = "";
    size_t best = 0;
    for (size_t i = 0; i < nn; i++) {
        size_t votes = 0;
        for (size_t j = 0; j < nn; j++)
            votes += nodes[i].reachable && nodes[j].reachable &&
                     strcmp(nodes[i].network, nodes[j].network) == 0;
        if (votes > best) {
            best = votes;
            network = nodes[i].network;
        }
    }
    for (size_t i = 0; i < nn; i++) {
        if (nodes[i].reachable && strcmp(nodes[i].network, network) != 0)
            problem(&nodes[i], "belongs to network '%s', not '%s'", nodes[i].network, network);
        for (size_t j = 0; j < i; j++) {
            if (nodes[i].reachable && nodes[j].reachable &&
                strcmp(nodes[i].hospital, nodes[j].hospital) == 0)
                problem(&nodes[i], "is a second node of hospital %s", nodes[i].hospital);
        }
        size_t k;
        const json_t *cp;
        json_array_foreach(as_list(lists[i]), k, cp)
            take_checkpoint(nodes, nn, &nodes[i], cp);
    }
    for (size_t i = 0; i < nn; i++)
        fetch_missing(nodes, nn, &nodes[i]);
    uint64_t lo = 0, hi = 0;
    size_t ncommon = compare(nodes, nn, &lo, &hi);

    size_t ndiverge = 0, nproblem = 0;
    for (size_t i = 0; i < nn; i++) {
        ndiverge += nodes[i].diverges;
        nproblem += nodes[i].problem[0] != '\0';
    }
    bool consistent = ndiverge == 0 && nproblem == 0 && ncommon > 0;

    if (cli_flag(&a, "json")) {
        json_t *arr = json_array();
        for (size_t i = 0; i < nn; i++) {
            const audit_node *n = &nodes[i];
            json_t *o = json_pack("{s:s,s:s,s:b,s:I,s:I,s:I}", "url", n->url, "hospital",
                                  n->hospital, "reachable", n->reachable, "height",
                                  (json_int_t)n->height, "checkpoints", (json_int_t)n->ncps,
                                  "bad_checkpoints", (json_int_t)n->nbad);
            json_object_set_new(o, "problem", n->problem[0] ? json_string(n->problem) : json_null());
            json_object_set_new(o, "diverges_at",
                                n->diverges ? json_integer((json_int_t)n->diverge_height)
                                            : json_null());
            if (n->diverges) {
                json_object_set_new(o, "differs_in", json_string(n->diverge_tie ? "no majority" : n->diverge_what));
                json_object_set_new(o, "signers_at_that_height", json_integer((json_int_t)n->diverge_signers));
            }
            json_array_append_new(arr, o);
        }
        json_t *j = json_pack("{s:s,s:b,s:I,s:o}", "network", network, "consistent", consistent,
                              "common_heights", (json_int_t)ncommon, "nodes", arr);
        if (ncommon > 0) {
            json_object_set_new(j, "lowest_common", json_integer((json_int_t)lo));
            json_object_set_new(j, "highest_common", json_integer((json_int_t)hi));
        }
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("audit of network '%s': %zu node%s, %zu common checkpoint height%s", network, nn,
               nn == 1 ? "" : "s", ncommon, ncommon == 1 ? "" : "s");
        if (ncommon > 0)
            printf(" (%llu..%llu)", (unsigned long long)lo, (unsigned long long)hi);
        printf("\n  %-18s %-26s %-8s %-11s %-10s %s\n", "hospital", "node", "height",
               "checkpoints", "signatures", "verdict");
        for (size_t i = 0; i < nn; i++) {
            const audit_node *n = &nodes[i];
            char verdict[80];
            if (!n->reachable)
                snprintf(verdict, sizeof verdict, "UNREACHABLE");
            else if (n->diverges && n->diverge_tie)
                snprintf(verdict, sizeof verdict, "DISAGREES at height %llu (no majority)",
                         (unsigned long long)n->diverge_height);
            else if (n->diverges)
                snprintf(verdict, sizeof verdict, "DIVERGES at height %llu (%s)",
                         (unsigned long long)n->diverge_height, n->diverge_what);
            else if (n->problem[0] != '\0')
                snprintf(verdict, sizeof verdict, "PROBLEM");
            else
                snprintf(verdict, sizeof verdict, "agrees");
            printf("  %-18s %-26s %-8llu %-11zu %-10s %s\n", label(n), n->url,
                   (unsigned long long)n->height, n->ncps,
                   !n->reachable ? "-" : (n->nbad ? "BAD" : "ok"), verdict);
        }
        if (consistent) {
            printf("consistent: every node signed the same head and state at every common "
                   "height (newest %llu)\n",
                   (unsigned long long)hi);
        } else {
            for (size_t i = 0; i < nn; i++) {
                const audit_node *n = &nodes[i];
                if (n->diverges) {
                    const pc_checkpoint *mine = at_height(n, n->diverge_height);
                    char hx[65];
                    if (n->diverge_tie)
                        printf("ALARM: %s (%s) disagrees at height %llu and no majority decides who is "
                               "right (%zu nodes signed that height; its state %.16s...)\n",
                               label(n), n->url, (unsigned long long)n->diverge_height,
                               n->diverge_signers,
                               mine != NULL ? pc_hex_encode(hx, sizeof hx, mine->state, 32) : "?");
                    else
                        printf("ALARM: %s (%s) diverges at height %llu: its %s differs from the "
                               "majority's (its state %.16s...)\n",
                               label(n), n->url, (unsigned long long)n->diverge_height,
                               n->diverge_what,
                               mine != NULL ? pc_hex_encode(hx, sizeof hx, mine->state, 32) : "?");
                }
                if (n->problem[0] != '\0')
                    printf("ALARM: %s (%s) %s\n", label(n), n->url, n->problem);
            }
            if (ndiverge == 0 && nproblem == 0)
                printf("not yet comparable: no height was signed by two or more nodes\n");
        }
    }
    for (size_t i = 0; i < nn; i++) {
        json_decref(lists[i]);
        json_decref(nodes[i].hospitals);
        free(nodes[i].cps);
    }
    free(nodes);
    return consistent ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
