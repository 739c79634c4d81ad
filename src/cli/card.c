/* The printable patient card (DESIGN §1, §4): an SVG the size of a credit
 * card with the patient's name, Health ID, issuing hospital and a QR code
 * carrying the full public key, so a registration desk anywhere can find the
 * patient by scanning instead of typing. Text is checked and XML-escaped here
 * because names come from a clerk's keyboard and end up inside markup. */
#include "parcha/card.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <qrencode.h>
#include <sodium.h>

#define CARD_PAYLOAD_PREFIX "parcha:"
/* "parcha:" + 43 base64url characters + NUL. */
#define CARD_PAYLOAD_LEN (sizeof CARD_PAYLOAD_PREFIX - 1 + 43)

/* Modules of light margin around the symbol, as ISO/IEC 18004 requires. */
#define QR_QUIET 4

/* Caps on printed text, in bytes; a card has room for far less anyway. */
#define CARD_NAME_MAX 256
#define CARD_ID_MAX 64
#define CARD_HOSPITAL_MAX 256

/* Card geometry in mm (the SVG user unit). */
#define CARD_W 85.6
#define CARD_H 54.0
#define QR_X 51.1
#define QR_Y 12.5
#define QR_SIZE 31.5
#define TEXT_FIT_MM 44.0 /* width left of the QR code for name and hospital */
#define TEXT_MIN_MM 2.0  /* smallest type (about 5.7 pt) before squeezing */

/* See card.h. Writes "" when out cannot hold the whole payload, so a caller
 * never prints a truncated key. */
void pc_card_qr_payload(const uint8_t pk[32], char *out, size_t outlen)
{
    if (out == NULL || outlen == 0)
        return;
    out[0] = '\0';
    if (pk == NULL || outlen < CARD_PAYLOAD_LEN + 1)
        return;
    size_t plen = sizeof CARD_PAYLOAD_PREFIX - 1;
    memcpy(out, CARD_PAYLOAD_PREFIX, plen);
    sodium_bin2base64(out + plen, outlen - plen, pk, 32,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* Decode one UTF-8 character at s (n bytes left). Returns its length and
 * sets *cp, or 0 for an invalid, overlong or surrogate sequence. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len;
    uint32_t c, min;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        c = s[0] & 0x1f;
        min = 0x80;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        c = s[0] & 0x0f;
        min = 0x800;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        c = s[0] & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* Check one piece of card text: present, not empty, at most max bytes, valid
 * UTF-8, one line and only characters XML 1.0 allows (no C0/C1 controls, no
 * U+FFFE/U+FFFF). Sets *chars to its length in characters. */
static int check_text(const char *what, const char *s, size_t max, size_t *chars,
                      pc_error *err)
{
    if (s == NULL || s[0] == '\0')
        return pc_error_set(err, PC_EINVAL, "the card needs a %s", what);
    size_t n = strnlen(s, max + 1);
    if (n > max)
        return pc_error_set(err, PC_EINVAL, "%s is longer than %zu bytes", what, max);
    const unsigned char *p = (const unsigned char *)s;
    size_t count = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_decode(p + i, n - i, &cp);
        if (len == 0)
            return pc_error_set(err, PC_EINVAL, "%s is not valid UTF-8 text", what);
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0xfffe || cp == 0xffff)
            return pc_error_set(err, PC_EINVAL,
                                "%s contains a control character (U+%04X); use one line "
                                "of plain text",
                                what, (unsigned)cp);
        i += len;
        count++;
    }
    *chars = count;
    return PC_OK;
}

/* Append s with the five XML special characters escaped; s is already
 * checked by check_text. Returns PC_OK or PC_ENOMEM. */
static int append_xml(pc_buf *b, const char *s)
{
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *esc = NULL;
        switch (*p) {
        case '&': esc = "&amp;"; break;
        case '<': esc = "&lt;"; break;
        case '>': esc = "&gt;"; break;
        case '"': esc = "&quot;"; break;
        case '\'': esc = "&#39;"; break;
        default: break;
        }
        if (esc == NULL && *p != '\0')
            continue;
        if (pc_buf_append(b, run, (size_t)(p - run)) != PC_OK)
            return PC_ENOMEM;
        if (esc == NULL)
            return PC_OK; /* reached the NUL */
        if (pc_buf_append_str(b, esc) != PC_OK)
            return PC_ENOMEM;
        run = p + 1;
    }
}

/* A <text> element of `size` mm type: opening tag with attrs, the escaped
 * text, closing tag. Text of more than fit_chars characters (what fits in
 * TEXT_FIT_MM at that size) gets proportionally smaller type so a long name
 * never runs into the QR code; below TEXT_MIN_MM it is also squeezed with
 * textLength, which browsers honour (some other renderers do not, hence the
 * font size first). */
static int append_text(pc_buf *b, const char *attrs, double size, const char *text,
                       size_t chars, size_t fit_chars)
{
    double fs = size;
    bool squeeze = false;
    if (chars > fit_chars) {
        fs = size * (double)fit_chars / (double)chars;
        if (fs < TEXT_MIN_MM) {
            fs = TEXT_MIN_MM;
            squeeze = true;
        }
    }
    int rc = pc_buf_printf(b, "<text %s font-size=\"%.2f\"", attrs, fs);
    if (rc == PC_OK && squeeze)
        rc = pc_buf_printf(b, " textLength=\"%.1f\" lengthAdjust=\"spacingAndGlyphs\"",
                           TEXT_FIT_MM);
    if (rc == PC_OK)
        rc = pc_buf_append_str(b, ">");
    if (rc == PC_OK)
        rc = append_xml(b, text);
    if (rc == PC_OK)
        rc = pc_buf_append_str(b, "</text>\n");
    return rc;
}

/* The QR symbol as one <path>: a 1x1 square per dark module, offset by the
 * quiet zone, inside a group scaled so the symbol and its margin fill a
 * QR_SIZE mm square on a white ground. */
static int append_qr(pc_buf *b, const QRcode *qr)
{
    int total = qr->width + 2 * QR_QUIET;
    int rc = pc_buf_printf(b,
                           "<g transform=\"translate(%.2f %.2f) scale(%.6f)\">\n"
                           "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n"
                           "<path fill=\"#000\" shape-rendering=\"crispEdges\" d=\"",
                           QR_X, QR_Y, QR_SIZE / total, total, total);
    for (int y = 0; rc == PC_OK && y < qr->width; y++) {
        for (int x = 0; rc == PC_OK && x < qr->width; x++) {
            if (qr->data[(size_t)y * (size_t)qr->width + (size_t)x] & 1)
                rc = pc_buf_printf(b, "M%d %dh1v1h-1z", x + QR_QUIET, y + QR_QUIET);
        }
    }
    if (rc == PC_OK)
        rc = pc_buf_append_str(b, "\"/>\n</g>\n");
    return rc;
}

/* Everything but the QR code: card outline, header band, labelled text. */
static int append_card_text(pc_buf *b, const char *name, size_t name_chars,
                            const char *health_id, size_t id_chars, const char *hospital,
                            size_t hosp_chars)
{
    static const char sans[] =
        "font-family=\"'Noto Sans', 'Noto Sans Devanagari', 'DejaVu Sans', Arial, sans-serif\"";
    static const char mono[] =
        "font-family=\"'DejaVu Sans Mono', 'Noto Sans Mono', 'Courier New', monospace\"";
    int rc = pc_buf_printf(
        b,
        "<rect x=\"0.25\" y=\"0.25\" width=\"%.2f\" height=\"%.2f\" rx=\"3.2\" fill=\"#fff\" "
        "stroke=\"#888\" stroke-width=\"0.25\"/>\n"
        "<path d=\"M0.25 3.45a3.2 3.2 0 0 1 3.2-3.2h%.2fa3.2 3.2 0 0 1 3.2 3.2v6.55h-%.2fz\" "
        "fill=\"#0b6e4f\"/>\n"
        "<text x=\"5\" y=\"7.6\" %s font-size=\"5.6\" font-weight=\"bold\" "
        "fill=\"#fff\">parcha</text>\n"
        "<text x=\"%.2f\" y=\"7.3\" %s font-size=\"2.4\" fill=\"#fff\" "
        "text-anchor=\"end\">Patient health card</text>\n",
        CARD_W - 0.5, CARD_H - 0.5, CARD_W - 0.5 - 6.4, CARD_W - 0.5, sans, CARD_W - 5, sans);
    char attrs[256];
    if (rc == PC_OK) {
        snprintf(attrs, sizeof attrs, "x=\"5\" y=\"18.5\" %s font-weight=\"bold\" "
                 "fill=\"#111\"", sans);
        rc = append_text(b, attrs, 4.4, name, name_chars, 17);
    }
    if (rc == PC_OK)
        rc = pc_buf_printf(b, "<text x=\"5\" y=\"25.5\" %s font-size=\"2.4\" "
                              "fill=\"#555\">Health ID</text>\n", sans);
    if (rc == PC_OK) {
        snprintf(attrs, sizeof attrs, "x=\"5\" y=\"31.2\" %s font-weight=\"bold\" "
                 "fill=\"#111\"", mono);
        rc = append_text(b, attrs, 4.4, health_id, id_chars, 16);
    }
    if (rc == PC_OK)
        rc = pc_buf_printf(b, "<text x=\"5\" y=\"38.5\" %s font-size=\"2.4\" "
                              "fill=\"#555\">Issued by</text>\n", sans);
    if (rc == PC_OK) {
        snprintf(attrs, sizeof attrs, "x=\"5\" y=\"42.8\" %s fill=\"#111\"", sans);
        rc = append_text(b, attrs, 3.0, hospital, hosp_chars, 27);
    }
    if (rc == PC_OK)
        rc = pc_buf_printf(b, "<text x=\"%.2f\" y=\"50.6\" %s font-size=\"2.6\" fill=\"#333\" "
                              "text-anchor=\"middle\">Keep this card. Show it at any parcha "
                              "hospital.</text>\n",
                           CARD_W / 2, sans);
    return rc;
}

/* See card.h. Appends to out, which keeps its earlier contents; on any
 * error out is returned to its length on entry. Clears err on success. */
int pc_card_svg(const char *name, const char *health_id, const uint8_t pk[32],
                const char *hospital, pc_buf *out, pc_error *err)
{
    if (out == NULL || pk == NULL)
        return pc_error_set(err, PC_EINVAL, "card: no output buffer or public key given");
    size_t name_chars, id_chars, hosp_chars;
    int rc = check_text("patient name", name, CARD_NAME_MAX, &name_chars, err);
    if (rc == PC_OK)
        rc = check_text("Health ID", health_id, CARD_ID_MAX, &id_chars, err);
    if (rc == PC_OK)
        rc = check_text("hospital name", hospital, CARD_HOSPITAL_MAX, &hosp_chars, err);
    if (rc != PC_OK)
        return rc;

    char payload[CARD_PAYLOAD_LEN + 1];
    pc_card_qr_payload(pk, payload, sizeof payload);
    errno = 0;
    QRcode *qr = QRcode_encodeString(payload, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (qr == NULL)
        return pc_error_set(err, errno == ENOMEM ? PC_ENOMEM : PC_EINVAL,
                            "cannot make the QR code: %s",
                            errno != 0 ? strerror(errno) : "libqrencode failed");

    size_t start = out->len;
    rc = pc_buf_printf(out,
                       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.1fmm\" "
                       "height=\"%.0fmm\" viewBox=\"0 0 %.1f %.0f\">\n<title>parcha card: ",
                       CARD_W, CARD_H, CARD_W, CARD_H);
    if (rc == PC_OK)
        rc = append_xml(out, name);
    if (rc == PC_OK)
        rc = pc_buf_append_str(out, "</title>\n");
    if (rc == PC_OK)
        rc = append_card_text(out, name, name_chars, health_id, id_chars, hospital,
                              hosp_chars);
    if (rc == PC_OK)
        rc = append_qr(out, qr);
    if (rc == PC_OK)
        rc = pc_buf_append_str(out, "</svg>\n");
    QRcode_free(qr);
    if (rc != PC_OK) {
        out->len = start;
        if (out->data != NULL)
            out->data[start] = '\0';
        return pc_error_set(err, PC_ENOMEM, "card: out of memory or over the buffer's cap");
    }
    pc_error_clear(err);
    return PC_OK;
}
