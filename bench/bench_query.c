/* bench_query: the read side of a ledger made by `bench_apply --keep`.
 *
 * 1. Timeline: one patient's records (bench_apply gives patient 0 exactly R
 *    records spread over the whole chain), read with pc_ledger_timeline_json on
 *    a read-only handle and turned into JSON text as the API would send it;
 *    p50/p99 over many queries. Then the same timeline right after another
 *    connection committed a write, alternating with the warm one: a busy
 *    node commits a block every few ms, and a commit makes every reader drop
 *    its page cache at its next read. The write is a PRAGMA user_version
 *    bump: nothing in parcha reads it.
 * 2. Record content read, the work a custodian node does for
 *    GET /v1/records/{id}/content apart from HTTP itself: verify the RFC 9421
 *    signature and its nonce, look the record up, apply the access rule, fetch
 *    the blob from vault.db, open the record key sealed to the custodian and
 *    re-seal it to the reader, sign an access.log transaction and commit it as
 *    a block (fsync), then build the JSON answer. p50/p99, and the share of the
 *    commit. Each read commits its own one-transaction block, as a node with
 *    no other load would.
 * 3. Opening the ledger (what a restart costs before the node is ready).
 * 4. The state digest a signed checkpoint and `parcha audit` compare
 *    (pc_ledger_state_digest: every state row read and hashed), 3 times.
 *
 *   bench_query --dir DIR [--iters N] [--reads N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "bench_common.h"
#include "parcha/encode.h"
#include "parcha/httpsig.h"
#include "parcha/vault.h"
#include "store/ledger_internal.h"

static uint32_t meta_value(const char *dir, const char *key, uint32_t dflt)
{
    char p[300], k[64];
    unsigned long long v;
    snprintf(p, sizeof p, "%s/bench.meta", dir);
    FILE *f = fopen(p, "r");
    if (f == NULL)
        return dflt;
    uint32_t out = dflt;
    while (fscanf(f, "%63s %llu", k, &v) == 2)
        if (strcmp(k, key) == 0)
            out = (uint32_t)v;
    fclose(f);
    return out;
}

static int hosp_index(const char *id)
{
    for (int h = 0; h < BW_NHOSP; h++)
        if (strcmp(id, BW_HOSP_ID[h]) == 0)
            return h;
    return -1;
}

/* Fill vault.db with content for the first n records of the timeline. */
static int fill_vault(bw_world *w, pc_vault *v, const json_t *recs, size_t n)
{
    static const char FHIR[] =
        "{\"resourceType\":\"MedicationRequest\",\"status\":\"active\",\"intent\":\"order\","
        "\"medicationCodeableConcept\":{\"coding\":[{\"system\":\"http://snomed.info/sct\","
        "\"code\":\"387517004\",\"display\":\"Paracetamol\"}]},\"subject\":{\"reference\":"
        "\"Patient/benchmark\"},\"dosageInstruction\":[{\"text\":\"500 mg every 6 hours for 3 "
        "days\"}],\"note\":[{\"text\":\"";
    char plain[2048];
    size_t fl = strlen(FHIR);
    memcpy(plain, FHIR, fl);
    for (size_t i = fl; i < sizeof plain - 5; i++)
        plain[i] = (char)('a' + i % 26);
    memcpy(plain + sizeof plain - 5, "\"}]}", 4);
    plain[sizeof plain - 1] = '\0';
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(recs, i);
        const char *id = json_string_value(json_object_get(r, "id"));
        int h = hosp_index(json_string_value(json_object_get(r, "custodian")));
        if (id == NULL || h < 0)
            return -1;
        uint8_t key[32], sealed[PC_SEALED_KEY_LEN];
        pc_buf blob;
        pc_buf_init(&blob);
        pc_error err;
        int rc = pc_record_encrypt((const uint8_t *)plain, strlen(plain), id, w->pat[0].pk, key,
                                   &blob) == PC_OK &&
                         pc_seal_key(key, w->hosp[h].pk, sealed) == PC_OK
                     ? pc_vault_put(v, id, BW_HOSP_ID[h], w->pat[0].pk, blob.data, blob.len,
                                    sealed, &err)
                     : PC_ECRYPTO;
        pc_buf_free(&blob);
        if (rc != PC_OK && rc != PC_EEXIST) {
            fprintf(stderr, "bench_query: vault put: %s\n", err.msg);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int iters = 200, reads = 500;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--dir") == 0)
            dir = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--iters") == 0)
            iters = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--reads") == 0)
            reads = atoi(argv[++i]);
        else
            dir = NULL, i = argc;
    }
    if (dir == NULL || iters < 1 || reads < 1) {
        fprintf(stderr, "usage: bench_query --dir DIR [--iters N] [--reads N]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    uint32_t npat = meta_value(dir, "patients", 0), nrec = meta_value(dir, "records", 0),
             ntx = meta_value(dir, "txs", 0);
    if (npat < 2) {
        fprintf(stderr, "bench_query: %s/bench.meta is missing (make it with bench_apply --keep)\n",
                dir);
        return 2;
    }
    if (pc_crypto_init() != 0)
        return 1;
    double vr2 = bw_verify_rate(2, 1.0);

    /* 3. Opening: a fresh handle on the existing ledger, then its head. */
    char path[300];
    snprintf(path, sizeof path, "%s/ledger.db", dir);
    double o0 = bw_now();
    pc_ledger *rl = NULL;
    pc_error err;
    pc_head head;
    if (pc_ledger_open(path, PC_LEDGER_READONLY, &rl, &err) != PC_OK ||
        pc_ledger_head(rl, &head, &err) != PC_OK) {
        fprintf(stderr, "bench_query: %s\n", err.msg);
        return 1;
    }
    double open_ms = (bw_now() - o0) * 1000;

    bw_world w;
    if (bw_open(&w, dir, npat) != 0)
        return 1;

    /* 1. Timeline. */
    double *lt = calloc((size_t)iters, sizeof *lt), *lq = calloc((size_t)iters, sizeof *lq);
    double *lx = calloc((size_t)iters, sizeof *lx);
    int same = -1;
    json_t *first = NULL;
    size_t got = 0, bytes = 0;
    for (int i = 0; i < iters; i++) {
        json_t *tl;
        double t0 = bw_now();
        if (pc_ledger_timeline_json(rl, w.pat[0].pk, 0, &tl, &err) != PC_OK) {
            fprintf(stderr, "bench_query: timeline: %s\n", err.msg);
            return 1;
        }
        double t1 = bw_now();
        char *text = json_dumps(tl, JSON_COMPACT);
        double t2 = bw_now();
        if (text == NULL)
            return 1;
        bytes = strlen(text);
        /* The same timeline written as text directly (no jansson tree). */
        pc_buf direct;
        pc_buf_init(&direct);
        double x0 = bw_now();
        if (pc_ledger_timeline_text(rl, w.pat[0].pk, 0, &direct, &err) != PC_OK) {
            fprintf(stderr, "bench_query: timeline text: %s\n", err.msg);
            return 1;
        }
        lx[i] = (bw_now() - x0) * 1000;
        if (same < 0)
            same = direct.len == bytes && memcmp(direct.data, text, bytes) == 0;
        pc_buf_free(&direct);
        free(text);
        got = json_array_size(json_object_get(tl, "records"));
        if (first == NULL)
            first = tl;
        else
            json_decref(tl);
        lq[i] = (t1 - t0) * 1000;
        lt[i] = (t2 - t0) * 1000;
    }
    printf("ledger: %llu blocks, %llu tx (bench_apply made %u tx of mix)\n",
           (unsigned long long)head.height + 1, (unsigned long long)head.ntx, ntx);
    printf("timeline of %zu records (%zu bytes JSON): p50 %.2f ms, p99 %.2f ms"
           " (query alone p50 %.2f ms, p99 %.2f ms; %d queries)\n",
           got, bytes, bw_quantile(lt, (size_t)iters, 0.5), bw_quantile(lt, (size_t)iters, 0.99),
           bw_quantile(lq, (size_t)iters, 0.5), bw_quantile(lq, (size_t)iters, 0.99), iters);
    printf("timeline of %zu records written as JSON text directly (pc_ledger_timeline_text,"
           " %s json_dumps): p50 %.2f ms, p99 %.2f ms\n", got,
           same == 1 ? "byte-identical to" : "DIFFERENT from",
           bw_quantile(lx, (size_t)iters, 0.5), bw_quantile(lx, (size_t)iters, 0.99));
    if (same != 1) {
        fprintf(stderr, "bench_query: pc_ledger_timeline_text differs from json_dumps\n");
        return 1;
    }
    free(lx);

    /* 1b. The timeline right after a commit by another connection, each
     * one beside a warm one (same minutes, same handle). */
    {
        sqlite3 *wdb = NULL;
        int cold = iters < 100 ? iters : 100;
        double *cw = calloc((size_t)cold, sizeof *cw), *cc = calloc((size_t)cold, sizeof *cc);
        if (cw == NULL || cc == NULL || sqlite3_open(path, &wdb) != SQLITE_OK) {
            fprintf(stderr, "bench_query: cannot open the ledger for the after-a-commit timeline\n");
            return 1;
        }
        sqlite3_busy_timeout(wdb, 5000);
        for (int i = 0; i < cold; i++) {
            for (int k = 0; k < 2; k++) {
                char q[64];
                snprintf(q, sizeof q, "PRAGMA user_version=%d", i + 1);
                if (k == 1 && sqlite3_exec(wdb, q, NULL, NULL, NULL) != SQLITE_OK) {
                    fprintf(stderr, "bench_query: write: %s\n", sqlite3_errmsg(wdb));
                    return 1;
                }
                pc_buf b;
                pc_buf_init(&b);
                double t0 = bw_now();
                if (pc_ledger_timeline_text(rl, w.pat[0].pk, 0, &b, &err) != PC_OK) {
                    fprintf(stderr, "bench_query: timeline text: %s\n", err.msg);
                    return 1;
                }
                (k ? cc : cw)[i] = (bw_now() - t0) * 1000;
                pc_buf_free(&b);
            }
        }
        printf("timeline of %zu records right after another connection's commit (a busy node):"
               " p50 %.2f ms, p99 %.2f ms; warm, alternating with it: p50 %.2f ms, p99 %.2f ms; %d each\n",
               got, bw_quantile(cc, (size_t)cold, 0.5), bw_quantile(cc, (size_t)cold, 0.99),
               bw_quantile(cw, (size_t)cold, 0.5), bw_quantile(cw, (size_t)cold, 0.99), cold);
        sqlite3_exec(wdb, "PRAGMA user_version=0", NULL, NULL, NULL);
        sqlite3_close(wdb);
        free(cw);
        free(cc);
    }
    if (nrec > 0 && got != nrec)
        fprintf(stderr, "bench_query: warning: expected %u records, got %zu\n", nrec, got);

    /* 2. Content reads. */
    char vpath[300];
    snprintf(vpath, sizeof vpath, "%s/vault.db", dir);
    pc_vault *vault = NULL;
    if (pc_vault_open(vpath, &vault, &err) != PC_OK) {
        fprintf(stderr, "bench_query: %s\n", err.msg);
        return 1;
    }
    const json_t *recs = json_object_get(first, "records");
    size_t nvault = json_array_size(recs) < 100 ? json_array_size(recs) : 100;
    if (nvault == 0 || fill_vault(&w, vault, recs, nvault) != 0) {
        fprintf(stderr, "bench_query: no records to read\n");
        return 1;
    }
    pc_httpsig_replay replay;
    if (pc_httpsig_replay_init(&replay, 100000, PC_HTTPSIG_WINDOW_S) != PC_OK)
        return 1;
    double *lr = calloc((size_t)reads, sizeof *lr), *lc = calloc((size_t)reads, sizeof *lc);
    if (lr == NULL || lc == NULL || lt == NULL || lq == NULL)
        return 1;
    for (int i = 0; i < reads; i++) {
        const json_t *r = json_array_get(recs, (size_t)i % nvault);
        const char *id = json_string_value(json_object_get(r, "id"));
        int h = hosp_index(json_string_value(json_object_get(r, "custodian")));
        const pc_keypair *reader = &w.staff[h * BW_STAFF_PER + 2 + i % 8];
        char rpath[128], *si = NULL, *sg = NULL;
        snprintf(rpath, sizeof rpath, "/v1/records/%s/content", id);
        int64_t now_s = pc_now_ms() / 1000;
        if (pc_httpsig_sign(reader, "GET", rpath, NULL, now_s, &si, &sg, &err) != PC_OK)
            return 1;

        double t0 = bw_now();
        uint8_t keyid[32];
        char nonce[PC_HTTPSIG_NONCE_MAX + 1];
        pc_record_info rec;
        pc_access_decision d;
        pc_buf blob;
        pc_buf_init(&blob);
        uint8_t sealed_c[PC_SEALED_KEY_LEN], sealed_r[PC_SEALED_KEY_LEN], key[32];
        char cust[33];
        if (pc_httpsig_verify("GET", rpath, NULL, si, sg, now_s, PC_HTTPSIG_WINDOW_S, keyid,
                              nonce, &err) != PC_OK ||
            pc_httpsig_replay_check(&replay, keyid, nonce, now_s, &err) != PC_OK ||
            pc_ledger_record_info(rl, id, &rec, &err) != PC_OK ||
            pc_ledger_access_check(rl, keyid, &rec, w.clock, &d, &err) != PC_OK ||
            d.basis != PC_ACCESS_CUSTODIAN ||
            pc_vault_get(vault, id, &blob, sealed_c, cust, &err) != PC_OK ||
            pc_unseal_key(sealed_c, &w.hosp[h], key) != PC_OK ||
            pc_seal_key(key, keyid, sealed_r) != PC_OK) {
            fprintf(stderr, "bench_query: read %d failed: %s\n", i, err.msg);
            return 1;
        }
        free(si);
        free(sg);
        sodium_memzero(key, sizeof key);
        char kr[64], kp[64];
        json_t *body = json_pack("{s:s,s:s,s:s,s:[s],s:s,s:n}", "custodian", BW_HOSP_ID[h],
                                 "reader", pc_b64_encode_public(kr, sizeof kr, keyid, 32), "patient",
                                 pc_b64_encode_public(kp, sizeof kp, rec.patient, 32), "records", id,
                                 "basis", "custodian", "ref");
        json_t *u = pc_tx_build(BW_NET, "access.log", w.clock, body);
        const pc_keypair *keys[1] = {&w.hosp[h]};
        pc_tx tx;
        if (u == NULL || pc_tx_sign(u, keys, 1, &tx, &err) != PC_OK)
            return 1;
        json_decref(u);
        uint8_t txid[32];
        memcpy(txid, tx.txid, 32);
        double c0 = bw_now();
        if (bw_apply(&w, &tx, 1) != 0)
            return 1;
        double c1 = bw_now();
        char *b64 = pc_b64_dup_public(blob.data, blob.len), hex[65], sr[128];
        json_t *resp = json_pack("{s:{s:s,s:s,s:s},s:s,s:s,s:s,s:n,s:s}", "record", "id", id,
                                 "hi_type", rec.hi_type, "custodian", rec.custodian, "blob",
                                 b64 ? b64 : "", "sealed_key",
                                 pc_b64_encode_public(sr, sizeof sr, sealed_r, sizeof sealed_r),
                                 "basis", "custodian", "ref", "access_txid",
                                 pc_hex_encode_public(hex, sizeof hex, txid, 32));
        char *text = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
        double t1 = bw_now();
        if (text == NULL)
            return 1;
        free(text);
        free(b64);
        json_decref(resp);
        pc_buf_free(&blob);
        lr[i] = (t1 - t0) * 1000;
        lc[i] = (c1 - c0) * 1000;
    }
    printf("record content read (signed request, access rule, vault, re-seal, access.log"
           " committed with fsync): p50 %.2f ms, p99 %.2f ms (commit alone p50 %.2f ms,"
           " p99 %.2f ms; %d reads)\n",
           bw_quantile(lr, (size_t)reads, 0.5), bw_quantile(lr, (size_t)reads, 0.99),
           bw_quantile(lc, (size_t)reads, 0.5), bw_quantile(lc, (size_t)reads, 0.99), reads);
    printf("ledger open + head (restart, library part): %.1f ms\n", open_ms);
    /* The digest reads the whole state: its cost sets how often a node can
     * sign checkpoints (docs/cluster.md). */
    double dg[3];
    if (pc_ledger_head(rl, &head, &err) != PC_OK) {
        fprintf(stderr, "bench_query: head: %s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < 3; i++) {
        uint8_t d[32];
        double t0 = bw_now();
        if (pc_ledger_state_digest(rl, d, &err) != PC_OK) {
            fprintf(stderr, "bench_query: state digest: %s\n", err.msg);
            return 1;
        }
        dg[i] = (bw_now() - t0) * 1000;
    }
    printf("state digest (checkpoints, parcha audit; whole state of %llu tx): p50 %.1f ms, "
           "min %.1f ms (3 runs)\n", (unsigned long long)head.ntx, bw_quantile(dg, 3, 0.5),
           bw_quantile(dg, 3, 0.0));
    printf("ed25519 verify, 2 threads (this run): %.0f/s\n", vr2);
    printf("bench_query RSS: %.1f MB\n", (double)bw_rss_kib(0) / 1024);
    pc_httpsig_replay_free(&replay);
    pc_vault_close(vault);
    json_decref(first);
    pc_ledger_close(rl);
    bw_close(&w);
    free(lt);
    free(lq);
    free(lr);
    free(lc);
    return 0;
}
