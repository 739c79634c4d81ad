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
 *  - libsodium's base64 decoder on the value (both ways need it).
 *
 *   bench_watch [--bytes N] [--iters N] */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "order/json_cut.h"

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
           *td = malloc(sizeof(double) * (size_t)iters);
    if (bin == NULL || dec == NULL || b64 == NULL || msg == NULL || tw == NULL || tc == NULL ||
        td == NULL) {
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
        tw[i] = (t1 - t0) * 1000;
        tc[i] = (t3 - t2) * 1000;
        td[i] = (t5 - t4) * 1000;
    }
    double whole = bw_quantile(tw, (size_t)iters, 0.5), cutp = bw_quantile(tc, (size_t)iters, 0.5);
    printf("watch message of %d bytes (a %zu-byte proposal): jansson on the whole line p50 %.2f ms;"
           " cut + jansson p50 %.3f ms (%.0fx less); %d messages\n",
           n, raw, whole, cutp, cutp > 0 ? whole / cutp : 0.0, iters);
    printf("base64 decode of the proposal (libsodium): p50 %.2f ms (%.0f MB/s)\n",
           bw_quantile(td, (size_t)iters, 0.5),
           (double)b64len / 1e6 / (bw_quantile(td, (size_t)iters, 0.5) / 1000));
    pc_json_cut_free(&cut);
    free(bin);
    free(dec);
    free(b64);
    free(msg);
    free(tw);
    free(tc);
    free(td);
    return 0;
}
