/* Many JSON POSTs at once (libcurl multi): the demo's online mode and
 * `parcha devnet load` send hundreds of transactions to several nodes, each
 * request waiting for its commit, so they are kept in flight together. */
#ifndef PARCHA_CLI_MULTIPOST_H
#define PARCHA_CLI_MULTIPOST_H

#include <stddef.h>
#include "parcha/common.h"

/* One request and, afterwards, its outcome. */
typedef struct cli_mpost {
    const char *url;   /* full URL (not copied; must outlive the call) */
    const char *body;  /* JSON text (not copied) */
    size_t len;
    const char *cacert; /* CA file to trust for https (NULL: the system's) */
    long status;       /* HTTP status of the last try; 0: no answer */
    int curl_code;     /* CURLcode of the last try (0 = a complete answer) */
    char *answer;      /* the last answer's body, NUL-terminated (malloc'd; NULL
                          if none); free with cli_mpost_free */
    int tries;         /* attempts made */
    int64_t ms;        /* time from the first attempt to the last answer */
} cli_mpost;

/* POST every request of reqs, at most inflight at a time, each with a
 * timeout of timeout_s seconds. A request that gets no answer or a 503 is
 * tried again (after 100 ms) until it has been tried max_tries times (1: no
 * retry): a retried transaction that did get in the first time is refused
 * as a duplicate (409), which the caller then confirms. Returns PC_OK once
 * every request has its outcome, PC_ENOMEM if the transfers could not be set
 * up. */
int cli_multipost(cli_mpost *reqs, size_t n, size_t inflight, int max_tries, long timeout_s,
                  pc_error *err) PC_MUST_USE;

/* Free the answers of reqs[0..n). */
void cli_mpost_free(cli_mpost *reqs, size_t n);

#endif
