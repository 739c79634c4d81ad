/* The RFC 9162 §2.1 Merkle tree that commits a block to its transactions: the
 * root (MTH), inclusion proofs (PATH, §2.1.3.1) and their verification
 * (§2.1.3.2). The builder never recurses over leaves and never allocates: it
 * folds leaves into a stack of perfect subtrees, one per set bit of n, which
 * is exactly the shape RFC 9162 gets by splitting at the largest power of two
 * below n. The verifier shares no code with the builder beyond SHA-256, so a
 * bug in one cannot hide the same bug in the other. */
#include "parcha/merkle.h"

#include <string.h>
#include <sodium.h>

/* out = SHA-256(0x00 || leaf): the hash of one leaf. */
static void leaf_hash(uint8_t out[32], const uint8_t leaf[32])
{
    static const uint8_t prefix = 0x00;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &prefix, 1);
    crypto_hash_sha256_update(&st, leaf, 32);
    crypto_hash_sha256_final(&st, out);
}

/* out = SHA-256(0x01 || left || right): an interior node. out may alias left
 * or right, because both are consumed before out is written. */
static void node_hash(uint8_t out[32], const uint8_t left[32],
                      const uint8_t right[32])
{
    static const uint8_t prefix = 0x01;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &prefix, 1);
    crypto_hash_sha256_update(&st, left, 32);
    crypto_hash_sha256_update(&st, right, 32);
    crypto_hash_sha256_final(&st, out);
}

/* out = MTH(leaves[0..n)) for n >= 1. O(n) hashes, O(log n) stack, no heap.
 * After leaf i is pushed, stack holds the roots of perfect subtrees whose
 * sizes are the set bits of i+1, largest first; merging on every carry keeps
 * it that way. The final right-to-left fold then gives
 * H(P1, H(P2, ... Pk)), which is RFC 9162's MTH for the same n. */
static void subtree_root(const uint8_t (*leaves)[32], size_t n, uint8_t out[32])
{
    uint8_t stack[PC_MERKLE_MAX_PATH + 1][32];
    size_t top = 0;

    for (size_t i = 0; i < n; i++) {
        uint8_t h[32];
        leaf_hash(h, leaves[i]);
        for (size_t count = i; count & 1; count >>= 1) {
            node_hash(h, stack[top - 1], h);
            top--;
        }
        memcpy(stack[top], h, 32);
        top++;
    }
    while (top > 1) {
        node_hash(stack[top - 2], stack[top - 2], stack[top - 1]);
        top--;
    }
    memcpy(out, stack[0], 32);
}

/* Largest power of two strictly below n, for n >= 2 (RFC 9162's k). */
static size_t split_point(size_t n)
{
    size_t k = 1;
    while (k < n - k)
        k <<= 1;
    return k;
}

/* Writes MTH(leaves[0..n)) to root; the empty tree's root is SHA-256("").
 * Returns PC_OK, or PC_EINVAL when leaves or root is NULL (leaves may be NULL
 * for n == 0). */
int pc_merkle_root(const uint8_t (*leaves)[32], size_t n, uint8_t root[32])
{
    if (root == NULL || (leaves == NULL && n > 0))
        return PC_EINVAL;
    if (n == 0) {
        crypto_hash_sha256(root, NULL, 0);
        return PC_OK;
    }
    subtree_root(leaves, n, root);
    return PC_OK;
}

/* Writes PATH(index, leaves[0..n)) to path, nearest sibling first, and its
 * length to *pathlen. Walks down from the root, at each level hashing the
 * sibling subtree the index does not fall in; the siblings shrink by half each
 * level, so the total is O(n). Returns PC_OK or PC_EINVAL (NULL argument,
 * n == 0 or index >= n). *pathlen is 0 on failure. */
int pc_merkle_proof(const uint8_t (*leaves)[32], size_t n, size_t index,
                    uint8_t path[PC_MERKLE_MAX_PATH][32], size_t *pathlen)
{
    /* Siblings are found root first but the path lists them leaf first. */
    uint8_t top_down[PC_MERKLE_MAX_PATH][32];
    size_t depth = 0;
    size_t lo = 0;

    if (pathlen == NULL)
        return PC_EINVAL;
    *pathlen = 0;
    if (leaves == NULL || path == NULL || n == 0 || index >= n)
        return PC_EINVAL;

    size_t size = n;
    size_t m = index;
    while (size > 1) {
        size_t k = split_point(size);
        /* A size_t tree is never deeper than its bit width, which is the
         * path cap. */
        if (depth >= PC_MERKLE_MAX_PATH)
            return PC_EINVAL;
        if (m < k) {
            subtree_root(leaves + lo + k, size - k, top_down[depth]);
            size = k;
        } else {
            subtree_root(leaves + lo, k, top_down[depth]);
            lo += k;
            m -= k;
            size -= k;
        }
        depth++;
    }
    for (size_t i = 0; i < depth; i++)
        memcpy(path[i], top_down[depth - 1 - i], 32);
    *pathlen = depth;
    return PC_OK;
}

/* RFC 9162 §2.1.3.2, step for step. fn walks the leaf's position up the tree
 * and sn the last leaf's; a level where fn is the right child, or is the last
 * node with no right sibling, takes the path hash on the left. Returns PC_OK
 * or PC_ECRYPTO (also for NULL arguments, index >= n, or a path that is too
 * long or too short for n). Note that n is only as trustworthy as its source:
 * a proof can also verify against the same root for another n whose tree has
 * the same shape along this path, so n must come from signed data. */
int pc_merkle_verify(const uint8_t leaf[32], size_t index, size_t n,
                     const uint8_t (*path)[32], size_t pathlen,
                     const uint8_t root[32])
{
    static const uint8_t leaf_prefix = 0x00;
    static const uint8_t node_prefix = 0x01;
    crypto_hash_sha256_state st;
    uint8_t r[32];

    if (leaf == NULL || root == NULL || (path == NULL && pathlen > 0))
        return PC_ECRYPTO;
    if (index >= n || pathlen > PC_MERKLE_MAX_PATH)
        return PC_ECRYPTO;

    size_t fn = index;
    size_t sn = n - 1;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &leaf_prefix, 1);
    crypto_hash_sha256_update(&st, leaf, 32);
    crypto_hash_sha256_final(&st, r);

    for (size_t i = 0; i < pathlen; i++) {
        if (sn == 0)
            return PC_ECRYPTO; /* path longer than the tree is deep */
        crypto_hash_sha256_init(&st);
        crypto_hash_sha256_update(&st, &node_prefix, 1);
        if ((fn & 1) != 0 || fn == sn) {
            crypto_hash_sha256_update(&st, path[i], 32);
            crypto_hash_sha256_update(&st, r, 32);
            /* Skip the levels where this node has no right sibling. */
            while ((fn & 1) == 0 && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            crypto_hash_sha256_update(&st, r, 32);
            crypto_hash_sha256_update(&st, path[i], 32);
        }
        crypto_hash_sha256_final(&st, r);
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return PC_ECRYPTO; /* path shorter than the tree is deep */
    return sodium_memcmp(r, root, 32) == 0 ? PC_OK : PC_ECRYPTO;
}
