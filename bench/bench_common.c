/* The benchmark network, the transaction-mix generator and the measuring
 * helpers shared by every benchmark program (see bench_common.h). Keys come
 * from fixed seeds so that a ledger made by one program can be extended and
 * queried by another; the mix is drawn from a fixed-seed generator so that two
 * runs of the same size apply the same kinds of transaction in the same order
 * (nonces, and therefore txids, still differ). */
#include "bench_common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "parcha/access.h"
#include "parcha/encode.h"

const char *const BW_HOSP_ID[BW_NHOSP] = {"city", "sunrise", "district"};

#define RING_RECS (1u << 16)
#define MAX_GRANTS (1u << 16)

static const char *const HI_TYPES[] = {"Prescription", "DiagnosticReport", "OPConsultation",
                                       "DischargeSummary", "ImmunizationRecord",
                                       "HealthDocumentRecord", "WellnessRecord"};
static const char *const FHIR_OF[] = {"MedicationRequest", "Observation", "Encounter",
                                      "Bundle", "Immunization", "DocumentReference",
                                      "Observation"};

double bw_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bw_thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bw_quantile(double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t k = (size_t)(q * (double)n + 0.999999);
    if (k == 0)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

/* The first line of `path` that starts with key, value part into out. */
static int file_field(const char *path, const char *key, char *out, size_t outlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[512];
    int found = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, key, kl) == 0) {
            const char *v = line + kl;
            while (*v == ' ' || *v == '\t' || *v == ':')
                v++;
            snprintf(out, outlen, "%s", v);
            out[strcspn(out, "\n")] = '\0';
            found = 0;
            break;
        }
    }
    fclose(f);
    return found;
}

void bw_print_machine(void)
{
    char mem[128] = "?", model[256] = "?";
    (void)file_field("/proc/meminfo", "MemTotal", mem, sizeof mem);
    (void)file_field("/proc/cpuinfo", "model name", model, sizeof model);
    struct utsname u;
    char date[64] = "?";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) != NULL)
        strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tm);
    printf("machine: %ld cores, MemTotal %s, %s, kernel %s, %s\n",
           sysconf(_SC_NPROCESSORS_ONLN), mem, model,
           uname(&u) == 0 ? u.release : "?", date);
}

double bw_proc_cpu(int pid)
{
    char path[64], buf[1024];
    if (pid == 0)
        snprintf(path, sizeof path, "/proc/self/stat");
    else if (pid > 0)
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
    else
        return -1;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name (which may hold spaces): state is
     * field 3, utime field 14, stime field 15. */
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                            &st) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (double)(ut + st) / (double)(hz > 0 ? hz : 100);
}

long bw_rss_kib(int pid)
{
    char path[64], v[64];
    if (pid == 0)
        snprintf(path, sizeof path, "/proc/self/status");
    else
        snprintf(path, sizeof path, "/proc/%d/status", pid);
    if (file_field(path, "VmRSS", v, sizeof v) != 0)
        return -1;
    return strtol(v, NULL, 10);
}

void bw_key(pc_keypair *kp, const char *role, uint64_t i)
{
    char label[96];
    uint8_t seed[32];
    snprintf(label, sizeof label, "parcha-bench/%s/%llu", role, (unsigned long long)i);
    pc_sha256(seed, label, strlen(label));
    if (pc_key_from_seed(kp, seed) != 0)
        abort(); /* only fails on a NULL argument */
    sodium_memzero(seed, sizeof seed);
}

void bw_rec_id(char out[32], uint64_t no)
{
    /* Like the CLI's ids (16 random bytes, base64url), so that the records
     * index sees random keys as it does in production. */
    char label[64];
    uint8_t h[32];
    snprintf(label, sizeof label, "parcha-bench/rec/%llu", (unsigned long long)no);
    pc_sha256(h, label, strlen(label));
    pc_b64_encode(out, 32, h, 16);
}

/* xorshift64*: the mix must not depend on libsodium's random state. */
static uint64_t rnd(bw_world *w)
{
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static char *b64key(const uint8_t k[32], char out[64])
{
    return pc_b64_encode(out, 64, k, 32);
}

/* ------------------------------------------------------------------------ */
/* Measuring the signature-check limit                                        */

typedef struct vr_job {
    const uint8_t *msg;
    size_t len;
    const uint8_t *sig, *pk;
    double seconds;
    uint64_t count;
} vr_job;

static void *vr_run(void *arg)
{
    vr_job *j = arg;
    double end = bw_now() + j->seconds;
    uint64_t n = 0;
    do {
        for (int k = 0; k < 64; k++)
            if (crypto_sign_verify_detached(j->sig, j->msg, j->len, j->pk) == 0)
                n++;
    } while (bw_now() < end);
    j->count = n;
    return NULL;
}

double bw_verify_rate(int threads, double seconds)
{
    enum { MAXT = 16 };
    if (threads < 1 || threads > MAXT)
        threads = 1;
    /* A typical record.add's signed bytes: tag || 0 || ~700 bytes of JSON. */
    uint8_t msg[760];
    memcpy(msg, PC_DOMAIN_TX, sizeof PC_DOMAIN_TX);
    for (size_t i = sizeof PC_DOMAIN_TX; i < sizeof msg; i++)
        msg[i] = (uint8_t)('a' + i % 26);
    pc_keypair kp;
    bw_key(&kp, "verify-rate", 0);
    uint8_t sig[64];
    crypto_sign_detached(sig, NULL, msg, sizeof msg, kp.sk);
    vr_job jobs[MAXT];
    pthread_t t[MAXT];
    for (int i = 0; i < threads; i++) {
        jobs[i] = (vr_job){msg, sizeof msg, sig, kp.pk, seconds, 0};
    }
    double t0 = bw_now();
    for (int i = 1; i < threads; i++)
        if (pthread_create(&t[i], NULL, vr_run, &jobs[i]) != 0)
            jobs[i].seconds = -1;
    vr_run(&jobs[0]);
    uint64_t total = jobs[0].count;
    for (int i = 1; i < threads; i++) {
        if (jobs[i].seconds >= 0)
            pthread_join(t[i], NULL);
        total += jobs[i].count;
    }
    double el = bw_now() - t0;
    pc_key_wipe(&kp);
    return (double)total / el;
}

/* ------------------------------------------------------------------------ */
/* Network set-up                                                            */

int bw_keys(bw_world *w, uint32_t npat)
{
    w->net = BW_NET;
    for (int h = 0; h < BW_NHOSP; h++)
        w->hid[h] = BW_HOSP_ID[h];
    for (int h = 0; h < BW_NHOSP; h++)
        bw_key(&w->hosp[h], "hosp", (uint64_t)h);
    for (int s = 0; s < BW_NHOSP * BW_STAFF_PER; s++)
        bw_key(&w->staff[s], "staff", (uint64_t)s);
    w->pat = calloc(npat ? npat : 1, sizeof *w->pat);
    if (w->pat == NULL)
        return -1;
    for (uint32_t p = 0; p < npat; p++)
        bw_key(&w->pat[p], "patient", p);
    w->npat = npat;
    return 0;
}

static int alloc_rings(bw_world *w, size_t block_cap)
{
    w->recs = calloc(RING_RECS, sizeof *w->recs);
    w->grants = calloc(MAX_GRANTS, sizeof *w->grants);
    w->pend_recs = calloc(block_cap, sizeof *w->pend_recs);
    w->pend_grants = calloc(block_cap, sizeof *w->pend_grants);
    w->block_cap = block_cap;
    w->rng = 0x9E3779B97F4A7C15ULL;
    return w->recs && w->grants && w->pend_recs && w->pend_grants ? 0 : -1;
}

/* Sign one unsigned object (stolen) with up to two keys into tx. */
static int sign_obj(json_t *u, const pc_keypair *k1, const pc_keypair *k2, pc_tx *tx)
{
    const pc_keypair *keys[2] = {k1, k2};
    pc_error err;
    if (u == NULL)
        return -1;
    int rc = pc_tx_sign(u, keys, k2 ? 2 : 1, tx, &err);
    json_decref(u);
    if (rc != PC_OK) {
        fprintf(stderr, "bench: signing failed: %s\n", err.msg);
        return -1;
    }
    return 0;
}

int bw_apply(bw_world *w, pc_tx *txs, size_t n)
{
    pc_proposal p;
    pc_error err;
    uint64_t seq = w->started ? ++w->seq : 0;
    if (pc_proposal_make(&p, w->net, w->hid[0], seq, w->clock, txs, n, &w->hosp[0],
                         &err) != PC_OK) {
        fprintf(stderr, "bench: proposal: %s\n", err.msg);
        return -1;
    }
    pc_block_result r;
    uint64_t pos = w->started ? ++w->pos : 0;
    w->started = 1;
    int rc = pc_ledger_apply(w->l, &p, pos, &r, &err);
    pc_proposal_free(&p);
    if (rc != PC_OK) {
        fprintf(stderr, "bench: apply: %s\n", err.msg);
        return -1;
    }
    for (size_t i = 0; i < r.ntx; i++)
        if (r.verdicts[i] != PC_V_OK) {
            fprintf(stderr, "bench: set-up tx %zu got verdict %s\n", i,
                    pc_verdict_name(r.verdicts[i]));
            pc_block_result_free(&r);
            return -1;
        }
    pc_block_result_free(&r);
    w->clock += 1 + (int64_t)n / 10;
    return 0;
}

int bw_init(bw_world *w, uint32_t npat, int block)
{
    memset(w, 0, sizeof *w);
    if (pc_crypto_init() != 0 || bw_keys(w, npat) != 0 || alloc_rings(w, (size_t)block) != 0)
        return -1;
    w->clock = pc_now_ms();
    return 0;
}

int bw_genesis_tx(bw_world *w, pc_tx *g)
{
    char k[BW_NHOSP][64];
    for (int h = 0; h < BW_NHOSP; h++)
        b64key(w->hosp[h].pk, k[h]);
    json_t *body = json_pack(
        "{s:s,s:[{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s}],s:{s:i,s:i}}",
        "name", "Benchmark consortium", "hospitals",
        "id", w->hid[0], "name", "City Hospital", "key", k[0], "endpoint", "http://127.0.0.1:1",
        "id", w->hid[1], "name", "Sunrise Clinic", "key", k[1], "endpoint", "http://127.0.0.1:2",
        "id", w->hid[2], "name", "District Hospital", "key", k[2], "endpoint", "http://127.0.0.1:3",
        "policy", "emergency_max_hours", 24, "clock_window_ms", 300000);
    json_t *u = pc_tx_build(w->net, "network.genesis", w->clock, body);
    const pc_keypair *keys[3] = {&w->hosp[0], &w->hosp[1], &w->hosp[2]};
    pc_error err;
    int rc = u != NULL ? pc_tx_sign(u, keys, 3, g, &err) : PC_ENOMEM;
    json_decref(u);
    if (rc != PC_OK) {
        fprintf(stderr, "bench: genesis: %s\n", rc == PC_ENOMEM ? "out of memory" : err.msg);
        return -1;
    }
    return 0;
}

int bw_staff_tx(bw_world *w, int s, pc_tx *tx)
{
    static const char *const ROLE[] = {"clerk", "nurse", "doctor"};
    int h = s / BW_STAFF_PER, j = s % BW_STAFF_PER;
    char kb[64], name[32], regno[32];
    snprintf(name, sizeof name, "Staff %d", s);
    snprintf(regno, sizeof regno, "MCI-%05d", s);
    json_t *b = json_pack("{s:s,s:s,s:s,s:s,s:s}", "hospital", w->hid[h],
                          "key", b64key(w->staff[s].pk, kb), "name", name,
                          "role", ROLE[j < 2 ? j : 2], "regno", regno);
    return sign_obj(pc_tx_build(w->net, "staff.enroll", w->clock, b), &w->hosp[h], NULL, tx);
}

int bw_register_tx(bw_world *w, uint32_t p, pc_tx *tx)
{
    int h = (int)(p % BW_NHOSP);
    char kb[64];
    json_t *b = json_pack("{s:s,s:s}", "key", b64key(w->pat[p].pk, kb), "hospital", w->hid[h]);
    return sign_obj(pc_tx_build(w->net, "patient.register", w->clock, b), &w->pat[p],
                    &w->staff[h * BW_STAFF_PER], tx);
}

int bw_create(bw_world *w, const char *dir, uint32_t npat, int block)
{
    if (bw_init(w, npat, block) != 0)
        return -1;
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    snprintf(w->ledger_path, sizeof w->ledger_path, "%s/ledger.db", dir);
    mkdir(dir, 0700);
    pc_error err;
    if (pc_ledger_open(w->ledger_path, PC_LEDGER_CREATE, &w->l, &err) != PC_OK) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return -1;
    }
    pc_tx g;
    if (bw_genesis_tx(w, &g) != 0 || bw_apply(w, &g, 1) != 0)
        return -1;
    pc_tx st[BW_NHOSP * BW_STAFF_PER];
    for (int s = 0; s < BW_NHOSP * BW_STAFF_PER; s++)
        if (bw_staff_tx(w, s, &st[s]) != 0)
            return -1;
    if (bw_apply(w, st, BW_NHOSP * BW_STAFF_PER) != 0)
        return -1;
    pc_tx *txs = calloc((size_t)block, sizeof *txs);
    if (txs == NULL)
        return -1;
    for (uint32_t p = 0; p < npat;) {
        size_t n = 0;
        for (; n < (size_t)block && p < npat; n++, p++)
            if (bw_register_tx(w, p, &txs[n]) != 0) {
                free(txs);
                return -1;
            }
        if (bw_apply(w, txs, n) != 0) {
            free(txs);
            return -1;
        }
    }
    free(txs);
    return 0;
}

int bw_open(bw_world *w, const char *dir, uint32_t npat)
{
    memset(w, 0, sizeof *w);
    if (pc_crypto_init() != 0 || bw_keys(w, npat) != 0 || alloc_rings(w, 4096) != 0)
        return -1;
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    snprintf(w->ledger_path, sizeof w->ledger_path, "%s/ledger.db", dir);
    pc_error err;
    pc_head h;
    if (pc_ledger_open(w->ledger_path, 0, &w->l, &err) != PC_OK ||
        pc_ledger_head(w->l, &h, &err) != PC_OK) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return -1;
    }
    if (!h.has_genesis) {
        fprintf(stderr, "bench: %s has no genesis\n", w->ledger_path);
        return -1;
    }
    w->pos = h.pos;
    w->started = 1;
    w->seq = h.height + 1000; /* any seq: the ledger does not order by it */
    w->clock = h.time + 1000;
    return 0;
}

void bw_close(bw_world *w)
{
    pc_ledger_close(w->l);
    w->l = NULL;
    for (uint32_t p = 0; p < w->npat; p++)
        pc_key_wipe(&w->pat[p]);
    free(w->pat);
    free(w->recs);
    free(w->grants);
    free(w->pend_recs);
    free(w->pend_grants);
    w->pat = NULL;
    w->recs = w->pend_recs = NULL;
    w->grants = w->pend_grants = NULL;
}

/* ------------------------------------------------------------------------ */
/* The mix                                                                   */

/* One planned transaction: everything random is drawn serially here, so the
 * signing threads only build and sign. */
typedef struct bw_spec {
    bw_kind kind;
    uint32_t pat;
    uint8_t hosp;       /* custodian / grantee hospital */
    uint8_t signer;     /* staff index for record.add */
    uint8_t staff_grantee; /* grant to a staff member (else hospital) */
    uint8_t reader_is_patient;
    uint8_t types;      /* grant: 0 = all, else two types */
    uint64_t rec;       /* record number */
    int32_t date;
    uint8_t grant[32];  /* revoke: grant txid */
} bw_spec;

typedef struct gen_job {
    bw_world *w;
    const bw_spec *spec;
    pc_tx *txs;
    size_t from, to;
    int failed;
} gen_job;

/* Build and sign spec s into tx. */
static int gen_one(const bw_world *w, const bw_spec *s, pc_tx *tx)
{
    char kp[64], kb[64], id[32], date[11];
    json_t *body = NULL;
    const char *type = NULL;
    const pc_keypair *k1 = NULL;
    switch (s->kind) {
    case BW_RECORD: {
        uint8_t h[32], sealed[PC_SEALED_KEY_LEN];
        char hex[65], sk[128];
        bw_rec_id(id, s->rec);
        pc_sha256(h, id, strlen(id));
        /* Stand-in bytes of the right length: apply checks only the shape
         * (a real seal costs as much as a signature and is the client's). */
        for (size_t i = 0; i < sizeof sealed; i++)
            sealed[i] = (uint8_t)(h[i % 32] + i);
        pc_date_format(s->date, date);
        unsigned t = (unsigned)(s->rec % 7);
        body = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s}", "id", id,
                         "patient", b64key(w->pat[s->pat].pk, kp), "hi_type", HI_TYPES[t],
                         "date", date, "hash", pc_hex_encode(hex, sizeof hex, h, 32),
                         "size", (json_int_t)(1000 + s->rec % 30000),
                         "custodian", w->hid[s->hosp],
                         "sealed_key", pc_b64_encode(sk, sizeof sk, sealed, sizeof sealed),
                         "fhir", FHIR_OF[t]);
        type = "record.add";
        k1 = &w->staff[s->signer];
        break;
    }
    case BW_GRANT: {
        json_t *grantee = s->staff_grantee
                              ? json_pack("{s:s}", "staff",
                                          b64key(w->staff[s->hosp * BW_STAFF_PER + 2].pk, kb))
                              : json_pack("{s:s}", "hospital", w->hid[s->hosp]);
        json_t *types = s->types == 0 ? json_pack("[s]", "*")
                                      : json_pack("[s,s]", HI_TYPES[s->types % 7],
                                                  HI_TYPES[(s->types + 1) % 7]);
        body = json_pack("{s:s,s:o,s:o,s:n,s:n,s:I,s:s}", "patient",
                         b64key(w->pat[s->pat].pk, kp), "grantee", grantee, "hi_types", types,
                         "from", "to", "expires", (json_int_t)(w->clock + 30LL * 86400000),
                         "purpose", "CAREMGT");
        type = "consent.grant";
        k1 = &w->pat[s->pat];
        break;
    }
    case BW_REVOKE: {
        char hex[65];
        body = json_pack("{s:s,s:s}", "patient", b64key(w->pat[s->pat].pk, kp), "grant",
                         pc_hex_encode(hex, sizeof hex, s->grant, 32));
        type = "consent.revoke";
        k1 = &w->pat[s->pat];
        break;
    }
    case BW_ACCESS: {
        const pc_keypair *reader = s->reader_is_patient
                                       ? &w->pat[s->pat]
                                       : &w->staff[s->hosp * BW_STAFF_PER + 2 + s->rec % 8];
        bw_rec_id(id, s->rec);
        body = json_pack("{s:s,s:s,s:s,s:[s],s:s,s:n}", "custodian", w->hid[s->hosp],
                         "reader", b64key(reader->pk, kb), "patient",
                         b64key(w->pat[s->pat].pk, kp), "records", id, "basis",
                         s->reader_is_patient ? "patient" : "custodian", "ref");
        type = "access.log";
        k1 = &w->hosp[s->hosp];
        break;
    }
    case BW_REGISTER:
        return -1;
    }
    if (body == NULL)
        return -1;
    return sign_obj(pc_tx_build(w->net, type, w->clock, body), k1, NULL, tx);
}

static void *gen_run(void *arg)
{
    gen_job *j = arg;
    for (size_t i = j->from; i < j->to; i++)
        if (gen_one(j->w, &j->spec[i], &j->txs[i]) != 0)
            j->failed = 1;
    return NULL;
}

/* A clinical date in 2015..2025, days since the epoch. */
static int32_t some_date(bw_world *w)
{
    return 16436 + (int32_t)(rnd(w) % 4000);
}

int bw_gen(bw_world *w, pc_tx *txs, size_t n, int threads)
{
    enum { MAXT = 16 };
    if (n > w->block_cap)
        return -1;
    bw_spec *spec = calloc(n ? n : 1, sizeof *spec);
    if (spec == NULL)
        return -1;
    w->npend_recs = w->npend_grants = 0;
    for (size_t i = 0; i < n; i++) {
        bw_spec *s = &spec[i];
        uint64_t r = rnd(w) % 100;
        int special = w->special_every > 0 && w->made % w->special_every == 0;
        w->made++;
        s->kind = BW_RECORD;
        if (!special && r >= 80 && r < 88 && w->npat > 1)
            s->kind = BW_GRANT;
        else if (!special && r >= 88 && r < 90 && w->ngrants > 0)
            s->kind = BW_REVOKE;
        else if (!special && r >= 90 && w->nrecs > 0)
            s->kind = BW_ACCESS;
        switch (s->kind) {
        case BW_RECORD:
            s->pat = special || w->npat < 2 ? 0 : 1 + (uint32_t)(rnd(w) % (w->npat - 1));
            s->hosp = (uint8_t)(rnd(w) % BW_NHOSP);
            s->signer = (uint8_t)(s->hosp * BW_STAFF_PER + (rnd(w) % 8 == 0 ? 1 : 2 + rnd(w) % 8));
            s->rec = w->next_rec++;
            s->date = some_date(w);
            w->pend_recs[w->npend_recs++] = (bw_rec){s->rec, s->pat, s->hosp};
            break;
        case BW_GRANT:
            s->pat = 1 + (uint32_t)(rnd(w) % (w->npat - 1));
            s->hosp = (uint8_t)(rnd(w) % BW_NHOSP);
            s->staff_grantee = rnd(w) % 10 < 3;
            s->types = (uint8_t)(rnd(w) % 4 == 0 ? 1 + rnd(w) % 6 : 0);
            break;
        case BW_REVOKE: {
            size_t k = (size_t)(rnd(w) % w->ngrants);
            s->pat = w->grants[k].pat;
            memcpy(s->grant, w->grants[k].txid, 32);
            w->grants[k] = w->grants[--w->ngrants];
            break;
        }
        case BW_ACCESS: {
            const bw_rec *rc = &w->recs[rnd(w) % w->nrecs];
            s->pat = rc->pat;
            s->hosp = rc->hosp;
            s->rec = rc->no;
            s->reader_is_patient = rnd(w) % 5 == 0;
            break;
        }
        case BW_REGISTER:
            break;
        }
        if (w->route != NULL)
            w->route[i] = s->kind == BW_GRANT || s->kind == BW_REVOKE
                              ? (uint8_t)(s->pat % BW_NHOSP)
                              : s->hosp;
    }
    if (threads < 1)
        threads = 1;
    if (threads > MAXT)
        threads = MAXT;
    gen_job jobs[MAXT];
    pthread_t t[MAXT];
    size_t per = (n + (size_t)threads - 1) / (size_t)threads;
    for (int i = 0; i < threads; i++) {
        size_t from = (size_t)i * per, to = from + per;
        jobs[i] = (gen_job){w, spec, txs, from > n ? n : from, to > n ? n : to, 0};
    }
    int started[MAXT] = {0};
    for (int i = 1; i < threads; i++)
        started[i] = pthread_create(&t[i], NULL, gen_run, &jobs[i]) == 0;
    gen_run(&jobs[0]);
    int failed = jobs[0].failed;
    for (int i = 1; i < threads; i++) {
        if (started[i])
            pthread_join(t[i], NULL);
        else
            gen_run(&jobs[i]);
        failed |= jobs[i].failed;
    }
    for (size_t i = 0; !failed && i < n; i++)
        if (spec[i].kind == BW_GRANT && w->npend_grants < w->block_cap) {
            bw_grant *g = &w->pend_grants[w->npend_grants++];
            memcpy(g->txid, txs[i].txid, 32);
            g->pat = spec[i].pat;
        }
    free(spec);
    if (failed) {
        for (size_t i = 0; i < n; i++)
            pc_tx_free(&txs[i]);
        return -1;
    }
    return 0;
}

void bw_committed(bw_world *w)
{
    for (size_t i = 0; i < w->npend_recs; i++) {
        w->recs[w->rec_head] = w->pend_recs[i];
        w->rec_head = (w->rec_head + 1) % RING_RECS;
        if (w->nrecs < RING_RECS)
            w->nrecs++;
    }
    for (size_t i = 0; i < w->npend_grants && w->ngrants < MAX_GRANTS; i++)
        w->grants[w->ngrants++] = w->pend_grants[i];
    w->npend_recs = w->npend_grants = 0;
}

int bw_wire(bw_world *w, pc_tx *txs, size_t n, pc_buf *wire)
{
    pc_proposal p;
    pc_error err;
    if (pc_proposal_make(&p, w->net, w->hid[0], ++w->seq, w->clock, txs, n, &w->hosp[0],
                         &err) != PC_OK) {
        fprintf(stderr, "bench: proposal: %s\n", err.msg);
        return -1;
    }
    int rc = pc_proposal_encode(&p, wire);
    pc_proposal_free(&p);
    w->clock += 1 + (int64_t)n / 10;
    return rc == PC_OK ? 0 : -1;
}
