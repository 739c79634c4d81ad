/* Serving the web UI's files safely: the request path is decoded and checked
 * segment by segment, then the file's real path (symlinks resolved) must lie
 * inside the web folder's real path. */
#include "node/node_static.h"

#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int pc_static_resolve(const char *path, char *out, size_t outlen)
{
    if (path == NULL || path[0] != '/' || outlen < 16)
        return PC_EINVAL;
    char dec[1024];
    size_t n = 0;
    for (size_t i = 0; path[i] != '\0'; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '%') {
            int hi = hexval(path[i + 1]);
            int lo = hi < 0 ? -1 : hexval(path[i + 2]);
            if (hi < 0 || lo < 0)
                return PC_EINVAL;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || c == '\\' || n + 1 >= sizeof dec)
            return PC_EINVAL;
        dec[n++] = (char)c;
    }
    dec[n] = '\0';

    const char *rel = dec + 1;
    if (strcmp(dec, "/ui") == 0)
        rel = "";
    else if (strncmp(dec, "/ui/", 4) == 0)
        rel = dec + 4;

    /* Check every segment. */
    size_t rlen = strlen(rel);
    const char *s = rel;
    while (*s != '\0') {
        const char *slash = strchr(s, '/');
        size_t len = slash ? (size_t)(slash - s) : strlen(s);
        if (len == 0 || s[0] == '.')
            return PC_EINVAL; /* empty, ".", "..", hidden */
        if (slash == NULL)
            break;
        s = slash + 1;
    }
    bool dir = rlen == 0 || rel[rlen - 1] == '/';
    int w = snprintf(out, outlen, "%s%s", rel, dir ? "index.html" : "");
    if (w < 0 || (size_t)w >= outlen)
        return PC_EINVAL;
    return PC_OK;
}

const char *pc_static_mime(const char *name)
{
    static const struct {
        const char *ext;
        const char *type;
    } TYPES[] = {
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".ico", "image/x-icon"},
        {".webp", "image/webp"},
        {".woff", "font/woff"},
        {".woff2", "font/woff2"},
        {".ttf", "font/ttf"},
        {".wasm", "application/wasm"},
        {".txt", "text/plain; charset=utf-8"},
        {".md", "text/markdown; charset=utf-8"},
        {".webmanifest", "application/manifest+json"},
    };
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    const char *dot = strrchr(base, '.');
    if (dot != NULL)
        for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
            if (strcasecmp(dot, TYPES[i].ext) == 0)
                return TYPES[i].type;
    return "application/octet-stream";
}

int pc_static_open(const char *webdir, const char *rel, uint64_t *size)
{
    char root[PATH_MAX], want[PATH_MAX + 1024], real[PATH_MAX];
    if (realpath(webdir, root) == NULL)
        return -1;
    int w = snprintf(want, sizeof want, "%s/%s", root, rel);
    if (w < 0 || (size_t)w >= sizeof want)
        return -1;
    if (realpath(want, real) == NULL)
        return -1;
    size_t rl = strlen(root);
    if (strncmp(real, root, rl) != 0 || real[rl] != '/')
        return -1;
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}
