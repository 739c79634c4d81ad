/* Signed read requests: RFC 9421 HTTP Message Signatures restricted to the one
 * profile parcha uses (docs/api.md). Shared by parchad (verify), the CLI and
 * tests (sign).
 *
 *   Signature-Input: sig1=("@method" "@path" "@query");created=<unix s>;
 *                    nonce="<b64url>";keyid="<b64url Ed25519 pk>";alg="ed25519"
 *   Signature:       sig1=:<standard base64 of the 64-byte signature>:
 *
 * The signature base (RFC 9421 §2.5) is, lines joined by "\n", no trailing
 * newline:
 *   "@method": GET
 *   "@path": /v1/records/x/content
 *   "@query": ?a=1            ("?" alone when there is no query)
 *   "@signature-params": ("@method" "@path" "@query");created=...;nonce="...";keyid="...";alg="ed25519"
 * Ed25519 signs the base bytes directly (no parcha domain tag).
 *
 * `query` arguments everywhere below are the raw query string as sent on the
 * request line, with or without its leading '?'; NULL or "" means no query. */
#ifndef PARCHA_HTTPSIG_H
#define PARCHA_HTTPSIG_H

#include <stdbool.h>
#include <pthread.h>
#include "parcha/common.h"
#include "parcha/crypto.h"

#define PC_HTTPSIG_WINDOW_S 60    /* accepted |created - now| in seconds */
#define PC_HTTPSIG_NONCE_MIN 8    /* nonce length bounds (b64url chars) */
#define PC_HTTPSIG_NONCE_MAX 64
#define PC_HTTPSIG_HEADER_MAX 1024 /* longest header value accepted */

/* Sign a request with a fresh random nonce. On success *sig_input receives the
 * Signature-Input header value and *signature the Signature header value (both
 * malloc'd, caller frees). On failure both are NULL. */
int pc_httpsig_sign(const pc_keypair *kp, const char *method, const char *path,
                    const char *query, int64_t created, char **sig_input,
                    char **signature, pc_error *err) PC_MUST_USE;

/* The same with a caller-chosen nonce (8..64 base64url characters); for tests
 * and for clients that keep their own nonce source. */
int pc_httpsig_sign_nonce(const pc_keypair *kp, const char *method,
                          const char *path, const char *query, int64_t created,
                          const char *nonce, char **sig_input, char **signature,
                          pc_error *err) PC_MUST_USE;

/* Verify a request's two header values. Checks: exact profile (label sig1,
 * components ("@method" "@path" "@query"), params created, nonce, keyid and
 * optional alg="ed25519", nothing else), |created - now_s| <= window_s, and the
 * Ed25519 signature by keyid over the rebuilt base. On success writes the
 * signer's public key and the nonce (NUL-ended). Does not check replay: pass
 * the nonce to a pc_httpsig_replay afterwards.
 * Returns PC_OK; PC_EINVAL for a missing or malformed header; PC_EDENIED when
 * created lies outside the window; PC_ECRYPTO for a signature that does not
 * verify. err says which. */
int pc_httpsig_verify(const char *method, const char *path, const char *query,
                      const char *sig_input_hdr, const char *signature_hdr,
                      int64_t now_s, int window_s, uint8_t keyid_out[32],
                      char nonce_out[PC_HTTPSIG_NONCE_MAX + 1],
                      pc_error *err) PC_MUST_USE;

/* Build the signature base for the given components and the exact
 * @signature-params value (what follows "sig1=" in Signature-Input). Appends to
 * out. Exposed for tests and other implementations (the browser UI). */
int pc_httpsig_base(const char *method, const char *path, const char *query,
                    const char *params, pc_buf *out) PC_MUST_USE;

/* ---- replay cache: (keyid, nonce) pairs seen within the window ---- */

typedef struct pc_httpsig_replay_entry pc_httpsig_replay_entry;

/* Thread-safe set of recently seen (key, nonce) pairs. Entries live for
 * 2 * window seconds after they were seen (a signature is valid from
 * created - window to created + window). At most `max` entries; when full
 * after dropping expired ones, new requests are refused (PC_EUNAVAIL). */
typedef struct pc_httpsig_replay {
    pthread_mutex_t mu;
    pc_httpsig_replay_entry **buckets;
    size_t nbuckets;
    size_t count;
    size_t max;
    int64_t ttl_s;
    int64_t last_purge_s;
    uint8_t hashkey[16]; /* random SipHash key: bucket choice is unguessable */
} pc_httpsig_replay;

int pc_httpsig_replay_init(pc_httpsig_replay *r, size_t max, int window_s)
    PC_MUST_USE;
/* Record (key, nonce) at now_s. PC_OK if new; PC_EEXIST if seen within the
 * window (a replay); PC_EUNAVAIL if the cache is full. */
int pc_httpsig_replay_check(pc_httpsig_replay *r, const uint8_t key[32],
                            const char *nonce, int64_t now_s, pc_error *err)
    PC_MUST_USE;
void pc_httpsig_replay_free(pc_httpsig_replay *r);

#endif
