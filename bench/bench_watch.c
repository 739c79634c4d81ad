/* bench_watch: what a node spends on one etcd watch message that carries a
 * proposal, the path every node of a consortium runs for every block.
 *
 * etcd's JSON gateway sends the proposal as one base64 string inside a JSON
 * line. The program builds such a line around random bytes of a large
 * proposal (default 1.4 MB, about what a block of 1,750 transactions is),
 * then times, per message:
 *  - jansson parsing the whole line (how the node read it before);
 *  - pc_json_cut_text + jansson on what is left (how it reads it now:
 *    src/order/json_cut.h), checked to find the same value;
 *  - the base64 decoder on the value: libsodium's constant-time one (how
 *    the node decoded it before) and pc_b64std_decode_public (now), and
 *    the same two ways of encoding a proposal for a put.
 *
 *   bench_watch [--bytes N] [--iters N] */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "order/json_cut.h"
#include "parcha/encode.h"

/* result.events[0].kv.value of a parsed watch message, or NULL. */
static const char *event_value(json_t *j)
{
    json_t *ev = json_array_get(json_object_get(json_object_get(j, "result"), "events"), 0);
    return json_string_value(json_object_get(json_object_get(ev, "kv"), "value"));
}

int main(int argc, char **argv)
{
    size_t raw = 1400000;
    int iters = 20;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--bytes") == 0)
            raw = (size_t)strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--iters") == 0)
            iters = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_watch [--bytes N] [--iters N]\n"
                            "  times reading one etcd watch message carrying an N-byte proposal\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (raw < 1000 || raw > 64u * 1024 * 1024 || iters < 1 || iters > 100000) {
        fprintf(stderr, "bench_watch: --bytes must be 1000..64 MiB and --iters 1..100000\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    uint8_t *bin = malloc(raw), *dec = malloc(raw + 16);
    size_t b64cap = sodium_base64_encoded_len(raw, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64cap), *msg = malloc(b64cap + 1024);
    double *tw = malloc(sizeof(double) * (size_t)iters), *tc = malloc(sizeof(double) * (size_t)iters),
           *td = malloc(sizeof(double) * (size_t)iters), *tp = malloc(sizeof(double) * (size_t)iters),
           *tes = malloc(sizeof(double) * (size_t)iters), *tep = malloc(sizeof(double) * (size_t)iters);
    char *enc = malloc(b64cap);
    if (bin == NULL || dec == NULL || b64 == NULL || msg == NULL || tw == NULL || tc == NULL ||
        td == NULL || tp == NULL || tes == NULL || tep == NULL || enc == NULL) {
        fprintf(stderr, "bench_watch: out of memory\n");
        return 1;
    }
    randombytes_buf(bin, raw);
    sodium_bin2base64(b64, b64cap, bin, raw, sodium_base64_VARIANT_ORIGINAL);
    /* The shape etcd 3.4's gateway sends (numbers as strings, base64 key). */
    int n = snprintf(msg, b64cap + 1024,
                     "{\"result\":{\"header\":{\"cluster_id\":\"14841639068965178418\","
                     "\"member_id\":\"10276657743932975437\",\"revision\":\"1234\",\"raft_term\":\"2\"},"
                     "\"events\":[{\"kv\":{\"key\":\"L3BhcmNoYS9uZXQvcC9jaXR5LzAwMDAwMDAwMDAwMDAwMDAwMDAx\","
                     "\"create_revision\":\"1234\",\"mod_revision\":\"1234\",\"version\":\"1\","
                     "\"value\":\"%s\"}}]}}",
                     b64);
    size_t b64len = strlen(b64);
    pc_json_cut cut;
    pc_json_cut_init(&cut);
    for (int i = 0; i < iters; i++) {
        double t0 = bw_now();
        json_t *j = json_loadb(msg, (size_t)n, 0, NULL);
        const char *v = event_value(j);
        double t1 = bw_now();
        if (v == NULL || strlen(v) != b64len) {
            fprintf(stderr, "bench_watch: jansson did not find the value\n");
            return 1;
        }
        json_decref(j);
        double t2 = bw_now();
        if (pc_json_cut_text(&cut, msg, (size_t)n, "value", 256) != PC_OK) {
            fprintf(stderr, "bench_watch: cut failed\n");
            return 1;
        }
        j = json_loadb((const char *)cut.out.data, cut.out.len, 0, NULL);
        const pc_json_span *sp = pc_json_cut_span(&cut, event_value(j));
        double t3 = bw_now();
        if (sp == NULL || sp->n != b64len || memcmp(sp->p, b64, b64len) != 0) {
            fprintf(stderr, "bench_watch: the cut did not find the value\n");
            return 1;
        }
        json_decref(j);
        size_t dl = 0;
        const char *end = NULL;
        double t4 = bw_now();
        if (sodium_base642bin(dec, raw + 16, sp->p, sp->n, NULL, &dl, &end,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            dl != raw || memcmp(dec, bin, raw) != 0) {
            fprintf(stderr, "bench_watch: base64 decode failed\n");
            return 1;
        }
        double t5 = bw_now();
        memset(dec, 0, raw);
        double t6 = bw_now();
        if (pc_b64std_decode_public(dec, raw + 16, &dl, sp->p, sp->n) != 0 || dl != raw ||
            memcmp(dec, bin, raw) != 0) {
            fprintf(stderr, "bench_watch: public base64 decode failed\n");
            return 1;
        }
        double t7 = bw_now();
        sodium_bin2base64(enc, b64cap, bin, raw, sodium_base64_VARIANT_ORIGINAL);
        double t8 = bw_now();
        if (pc_b64std_encode_public(enc, b64cap, bin, raw) != b64len || memcmp(enc, b64, b64len) != 0) {
            fprintf(stderr, "bench_watch: public base64 encode differs\n");
            return 1;
        }
        double t9 = bw_now();
        tw[i] = (t1 - t0) * 1000;
        tc[i] = (t3 - t2) * 1000;
        td[i] = (t5 - t4) * 1000;
        tp[i] = (t7 - t6) * 1000;
        tes[i] = (t8 - t7) * 1000;
        tep[i] = (t9 - t8) * 1000;
    }
    double whole = bw_quantile(tw, (size_t)iters, 0.5), cutp = bw_quantile(tc, (size_t)iters, 0.5);
    printf("watch message of %d bytes (a %zu-byte proposal): jansson on the whole line p50 %.2f ms;"
           " cut + jansson p50 %.3f ms (%.0fx less); %d messages\n",
           n, raw, whole, cutp, cutp > 0 ? whole / cutp : 0.0, iters);
    double ds = bw_quantile(td, (size_t)iters, 0.5), dp = bw_quantile(tp, (size_t)iters, 0.5);
    double es = bw_quantile(tes, (size_t)iters, 0.5), ep = bw_quantile(tep, (size_t)iters, 0.5);
    printf("base64 decode of the proposal: libsodium (constant-time) p50 %.2f ms (%.0f MB/s);"
           " pc_b64std_decode_public p50 %.2f ms (%.0f MB/s, %.1fx less)\n",
           ds, (double)b64len / 1e6 / (ds / 1000), dp, (double)b64len / 1e6 / (dp / 1000),
           dp > 0 ? ds / dp : 0.0);
    printf("base64 encode of the proposal: libsodium (constant-time) p50 %.2f ms;"
           " pc_b64std_encode_public p50 %.2f ms (%.1fx less)\n",
           es, ep, ep > 0 ? es / ep : 0.0);
    pc_json_cut_free(&cut);
    free(bin);
    free(dec);
    free(b64);
    free(msg);
    free(tw);
    free(tc);
    free(td);
    free(tp);
    free(tes);
    free(tep);
    free(enc);
    return 0;
}
