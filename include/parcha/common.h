/* Shared basics for every parcha module: the one error type with a message a
 * person can act on, and a growable byte buffer with a hard cap. */
#ifndef PARCHA_COMMON_H
#define PARCHA_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define PC_MUST_USE __attribute__((warn_unused_result))
#define PC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PC_MUST_USE
#define PC_PRINTF(a, b)
#endif

/* Error codes. 0 is success; codes start above 1 so a stray `true` is caught. */
typedef enum pc_code {
    PC_OK = 0,
    PC_EINVAL = 2,    /* malformed or out-of-policy input */
    PC_ENOMEM = 3,    /* allocation failed or a buffer cap was hit */
    PC_EIO = 4,       /* file, database or network I/O failed */
    PC_ECRYPTO = 5,   /* signature, MAC or hash did not check out */
    PC_ENOTFOUND = 6, /* no such object */
    PC_EEXIST = 7,    /* object already exists (replay, duplicate) */
    PC_EDENIED = 8,   /* caller may not do this */
    PC_EPASS = 9,     /* wrong passphrase */
    PC_ETOOBIG = 10,  /* input larger than allowed */
    PC_EUNAVAIL = 11, /* a peer or service is down; try later */
    PC_ESTATE = 12    /* internal state is inconsistent (bug or corruption) */
} pc_code;

/* An error: a code and a sentence for a person. Cheap to keep on the stack. */
typedef struct pc_error {
    int code;
    char msg[256];
} pc_error;

/* Name of a code, e.g. "invalid input". Never NULL. */
const char *pc_strerror(int code);

/* Set *err (if not NULL) and return code. */
int pc_error_set(pc_error *err, int code, const char *fmt, ...) PC_PRINTF(3, 4);

/* Clear *err to PC_OK with an empty message. */
void pc_error_clear(pc_error *err);

/* Growable byte buffer. `cap_limit` == 0 means the default cap (64 MiB). The
 * data is always followed by a NUL byte (not counted in len) so text can be
 * used as a C string. */
typedef struct pc_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t cap_limit;
} pc_buf;

void pc_buf_init(pc_buf *b);
/* Append; returns PC_OK or PC_ENOMEM (cap reached or malloc failed). */
int pc_buf_append(pc_buf *b, const void *data, size_t len) PC_MUST_USE;
int pc_buf_append_str(pc_buf *b, const char *s) PC_MUST_USE;
int pc_buf_printf(pc_buf *b, const char *fmt, ...) PC_PRINTF(2, 3) PC_MUST_USE;
/* Frees and zeroes; wipes the bytes first (buffers often hold secrets). */
void pc_buf_free(pc_buf *b);
/* Hand the data to the caller (who frees with free()); the buffer is reset. */
uint8_t *pc_buf_steal(pc_buf *b, size_t *len);

/* Read a whole file into *out (capped at max bytes). */
int pc_file_read(const char *path, size_t max, pc_buf *out, pc_error *err);
/* Write a file atomically (tmp + fsync + rename) with the given mode. */
int pc_file_write(const char *path, const void *data, size_t len, int mode,
                  pc_error *err);

/* Milliseconds since the epoch (wall clock); used only outside apply(). */
int64_t pc_now_ms(void);
/* Monotonic milliseconds, for timeouts. */
int64_t pc_mono_ms(void);

#endif
