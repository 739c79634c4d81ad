/* Health IDs: the name a person reads off a card or types at a front desk for
 * a patient's public key. The ID is the first 60 bits of SHA-256(public key)
 * as 12 Crockford base32 digits, most significant first, and one Crockford
 * check symbol (the 60-bit value mod 37), shown as XXXX-XXXX-XXXX-C. Because
 * 37 is prime and larger than every digit difference, and divides neither 32
 * nor 31, any single wrong symbol and any swap of two neighbouring symbols
 * changes the value mod 37, so a typo is reported instead of naming another
 * patient. 60 bits is a name, not a proof: the card's QR code carries the full
 * key, and the ledger checks that the key is registered. */
#include "parcha/healthid.h"

#include <stdio.h>
#include <string.h>
#include "parcha/crypto.h"

#define HID_DIGITS 12          /* data symbols */
#define HID_SYMBOLS 13         /* data symbols plus the check symbol */
#define HID_GROUP 4            /* symbols between hyphens */

/* Crockford's alphabet: values 0..31 are digits, 32..36 are check-only. */
static const char hid_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";

/* Value of a typed character (0..36), or -1 if it is not a Health ID
 * character. Case-insensitive; O reads as 0 and I, L as 1, per Crockford. */
static int hid_value(char ch)
{
    if (ch >= 'a' && ch <= 'z')
        ch = (char)(ch - 'a' + 'A');
    switch (ch) {
    case 'O': return 0;
    case 'I':
    case 'L': return 1;
    default: break;
    }
    for (int v = 0; v < 37; v++) {
        if (hid_alphabet[v] == ch)
            return v;
    }
    return -1;
}

/* Write the 12 data symbols of value (< 2^60) and its check symbol, grouped
 * as XXXX-XXXX-XXXX-C, into out[PC_HEALTHID_LEN + 1]. */
static void hid_format(uint64_t value, char out[PC_HEALTHID_LEN + 1])
{
    char sym[HID_SYMBOLS];
    for (int i = HID_DIGITS - 1; i >= 0; i--) {
        sym[i] = hid_alphabet[value & 31];
        value >>= 5;
    }
    size_t k = 0;
    for (int i = 0; i < HID_DIGITS; i++) {
        if (i > 0 && i % HID_GROUP == 0)
            out[k++] = '-';
        out[k++] = sym[i];
    }
    out[k] = '\0';
}

/* Append the check symbol of value after the data symbols already in out. */
static void hid_add_check(uint64_t value, char out[PC_HEALTHID_LEN + 1])
{
    out[PC_HEALTHID_LEN - 2] = '-';
    out[PC_HEALTHID_LEN - 1] = hid_alphabet[value % 37];
    out[PC_HEALTHID_LEN] = '\0';
}

/* Health ID of pk: hash, keep the top 60 bits, format, add the check. A
 * NULL key yields an empty string (there is no error channel). */
void pc_healthid_from_key(const uint8_t pk[32], char out[PC_HEALTHID_LEN + 1])
{
    uint8_t h[32];
    if (out == NULL)
        return;
    if (pk == NULL) {
        out[0] = '\0';
        return;
    }
    pc_sha256(h, pk, 32);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | h[i];
    v >>= 4;
    hid_format(v, out);
    hid_add_check(v, out);
}

/* Show a typed character in a message: itself if printable ASCII, else as
 * a byte value, so the person can see what to fix. */
static const char *hid_char_text(char buf[16], char ch)
{
    unsigned char u = (unsigned char)ch;
    if (u > 0x20 && u < 0x7F)
        snprintf(buf, 16, "'%c'", ch);
    else
        snprintf(buf, 16, "byte 0x%02x", u);
    return buf;
}

/* Normalise and check what a person typed; see healthid.h. Checks, in the
 * order a person can act on them: characters outside the alphabet, then the
 * symbol count, then check-only symbols in a data position, then the check
 * symbol itself. out is an empty string on any error. */
int pc_healthid_parse(const char *typed, char out[PC_HEALTHID_LEN + 1],
                      pc_error *err)
{
    if (out != NULL)
        out[0] = '\0';
    if (typed == NULL || out == NULL)
        return pc_error_set(err, PC_EINVAL, "no Health ID given");

    int val[HID_SYMBOLS];
    size_t count = 0;
    for (const char *p = typed; *p != '\0'; p++) {
        if (*p == '-' || *p == ' ')
            continue;
        int v = hid_value(*p);
        if (v < 0) {
            char shown[16];
            return pc_error_set(err, PC_EINVAL,
                                "Health ID contains %s, which is not a Health ID "
                                "character (use 0-9 and A-Z without U)",
                                hid_char_text(shown, *p));
        }
        if (count < HID_SYMBOLS)
            val[count] = v;
        count++;
    }
    if (count != HID_SYMBOLS)
        return pc_error_set(err, PC_EINVAL,
                            "a Health ID has %d characters (12 and a check "
                            "character, e.g. XXXX-XXXX-XXXX-C); %zu were given",
                            HID_SYMBOLS, count);

    uint64_t v = 0;
    for (int i = 0; i < HID_DIGITS; i++) {
        if (val[i] >= 32)
            return pc_error_set(err, PC_EINVAL,
                                "Health ID character %d is '%c', which may only be "
                                "the last (check) character: a character was "
                                "mistyped",
                                i + 1, hid_alphabet[val[i]]);
        v = v << 5 | (uint64_t)val[i];
    }
    if ((uint64_t)val[HID_DIGITS] != v % 37)
        return pc_error_set(err, PC_EINVAL,
                            "Health ID check character does not match: a "
                            "character was mistyped");

    hid_format(v, out);
    hid_add_check(v, out);
    return PC_OK;
}
