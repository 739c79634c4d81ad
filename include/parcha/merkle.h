/* RFC 9162 (Certificate Transparency v2) Merkle tree over 32-byte leaves
 * (txids). Leaf hash = SHA-256(0x00 || leaf); node = SHA-256(0x01 || l || r);
 * the root of the empty tree is SHA-256(""). */
#ifndef PARCHA_MERKLE_H
#define PARCHA_MERKLE_H

#include "parcha/common.h"

/* Longest inclusion path we produce or accept (trees up to 2^64 leaves). */
#define PC_MERKLE_MAX_PATH 64

/* Root of n leaves. Returns PC_OK or PC_ENOMEM. */
int pc_merkle_root(const uint8_t (*leaves)[32], size_t n, uint8_t root[32])
    PC_MUST_USE;

/* Inclusion proof (RFC 9162 §2.1.3.1) for leaf `index` of n leaves. Writes up
 * to PC_MERKLE_MAX_PATH hashes to path and their count to *pathlen. */
int pc_merkle_proof(const uint8_t (*leaves)[32], size_t n, size_t index,
                    uint8_t path[PC_MERKLE_MAX_PATH][32], size_t *pathlen)
    PC_MUST_USE;

/* Verify an inclusion proof (RFC 9162 §2.1.3.2). This is deliberately
 * independent of the tree builder. Returns PC_OK if leaf is at index in a tree
 * of size n with the given root, PC_ECRYPTO otherwise. */
int pc_merkle_verify(const uint8_t leaf[32], size_t index, size_t n,
                     const uint8_t (*path)[32], size_t pathlen,
                     const uint8_t root[32]) PC_MUST_USE;

#endif
