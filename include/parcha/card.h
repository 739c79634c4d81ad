/* The patient card: name, Health ID and a QR code of the public key, written
 * as a printable SVG (credit-card proportions, 85.6 x 54 mm). The QR code is
 * made with libqrencode; the payload is "parcha:<base64url public key>". */
#ifndef PARCHA_CARD_H
#define PARCHA_CARD_H

#include "parcha/common.h"

/* QR payload for a public key into out (at least 64 bytes). */
void pc_card_qr_payload(const uint8_t pk[32], char *out, size_t outlen);

/* Write an SVG card to out. Name is XML-escaped. The hospital name is printed
 * as the issuing hospital. */
int pc_card_svg(const char *name, const char *health_id, const uint8_t pk[32],
                const char *hospital, pc_buf *out, pc_error *err) PC_MUST_USE;

#endif
