/* Error values, the capped byte buffer, whole-file I/O and clocks shared by
 * every module. */
#include "parcha/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#define PC_BUF_DEFAULT_CAP ((size_t)64 * 1024 * 1024)

const char *pc_strerror(int code)
{
    switch (code) {
    case PC_OK: return "ok";
    case PC_EINVAL: return "invalid input";
    case PC_ENOMEM: return "out of memory or over a size limit";
    case PC_EIO: return "input/output error";
    case PC_ECRYPTO: return "cryptographic check failed";
    case PC_ENOTFOUND: return "not found";
    case PC_EEXIST: return "already exists";
    case PC_EDENIED: return "access denied";
    case PC_EPASS: return "wrong passphrase";
    case PC_ETOOBIG: return "too big";
    case PC_EUNAVAIL: return "service unavailable";
    case PC_ESTATE: return "inconsistent state";
    default: return "unknown error";
    }
}

int pc_error_set(pc_error *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void pc_error_clear(pc_error *err)
{
    if (err != NULL) {
        err->code = PC_OK;
        err->msg[0] = '\0';
    }
}

void pc_buf_init(pc_buf *b)
{
    memset(b, 0, sizeof *b);
}

/* Make room for `extra` more bytes plus the trailing NUL. */
static int buf_reserve(pc_buf *b, size_t extra)
{
    size_t limit = b->cap_limit ? b->cap_limit : PC_BUF_DEFAULT_CAP;
    if (extra > limit || b->len > limit - extra)
        return PC_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return PC_OK;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap *= 2;
    uint8_t *n = realloc(b->data, ncap);
    if (n == NULL)
        return PC_ENOMEM;
    b->data = n;
    b->cap = ncap;
    return PC_OK;
}

int pc_buf_append(pc_buf *b, const void *data, size_t len)
{
    if (buf_reserve(b, len) != PC_OK)
        return PC_ENOMEM;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return PC_OK;
}

int pc_buf_append_str(pc_buf *b, const char *s)
{
    return pc_buf_append(b, s, strlen(s));
}

int pc_buf_printf(pc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return PC_EINVAL;
    if (buf_reserve(b, (size_t)n) != PC_OK)
        return PC_ENOMEM;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return PC_OK;
}

void pc_buf_free(pc_buf *b)
{
    if (b->data != NULL) {
        sodium_memzero(b->data, b->cap);
        free(b->data);
    }
    size_t limit = b->cap_limit;
    memset(b, 0, sizeof *b);
    b->cap_limit = limit;
}

uint8_t *pc_buf_steal(pc_buf *b, size_t *len)
{
    uint8_t *d = b->data;
    if (len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

int pc_file_read(const char *path, size_t max, pc_buf *out, pc_error *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return pc_error_set(err, errno == ENOENT ? PC_ENOTFOUND : PC_EIO,
                            "cannot open %s: %s", path, strerror(errno));
    uint8_t chunk[16384];
    size_t n;
    int rc = PC_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->len + n > max) {
            rc = pc_error_set(err, PC_ETOOBIG, "%s is larger than %zu bytes", path, max);
            break;
        }
        if (pc_buf_append(out, chunk, n) != PC_OK) {
            rc = pc_error_set(err, PC_ENOMEM, "out of memory reading %s", path);
            break;
        }
    }
    if (rc == PC_OK && ferror(f))
        rc = pc_error_set(err, PC_EIO, "error reading %s", path);
    fclose(f);
    sodium_memzero(chunk, sizeof chunk);
    if (rc == PC_OK && out->data == NULL && pc_buf_append(out, "", 0) != PC_OK)
        rc = pc_error_set(err, PC_ENOMEM, "out of memory");
    return rc;
}

int pc_file_write(const char *path, const void *data, size_t len, int mode,
                  pc_error *err)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return pc_error_set(err, PC_EINVAL, "path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0)
        return pc_error_set(err, PC_EIO, "cannot create %s: %s", tmp, strerror(errno));
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            goto fail;
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail;
    close(fd);
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return pc_error_set(err, PC_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    return PC_OK;
fail:
    pc_error_set(err, PC_EIO, "cannot write %s: %s", path, strerror(errno));
    close(fd);
    unlink(tmp);
    return PC_EIO;
}

int64_t pc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pc_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
