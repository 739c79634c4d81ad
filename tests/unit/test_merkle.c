/* Unit tests for src/core/merkle.c (RFC 9162 §2.1). Known answers are worked
 * out here from the RFC's formulas with plain SHA-256, not with the code under
 * test; every proof of every leaf in trees of 1..17 leaves must verify, and
 * must stop verifying when any input is changed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "parcha/merkle.h"

#define MAX_LEAVES 17

/* ---- helpers ----------------------------------------------------------- */

/* SHA-256(0x00 || d), spelled out byte by byte. */
static void hand_leaf(uint8_t out[32], const uint8_t d[32])
{
    uint8_t buf[33];
    buf[0] = 0x00;
    memcpy(buf + 1, d, 32);
    crypto_hash_sha256(out, buf, sizeof buf);
}

/* SHA-256(0x01 || l || r). */
static void hand_node(uint8_t out[32], const uint8_t l[32], const uint8_t r[32])
{
    uint8_t buf[65];
    buf[0] = 0x01;
    memcpy(buf + 1, l, 32);
    memcpy(buf + 33, r, 32);
    crypto_hash_sha256(out, buf, sizeof buf);
}

/* Leaves that differ from each other and from any hash: leaf i is i+1
 * repeated. */
static void make_leaves(uint8_t (*leaves)[32], size_t n)
{
    for (size_t i = 0; i < n; i++)
        memset(leaves[i], (int)(i + 1), 32);
}

/* The sides the verifier must take for leaf m of n, leaf first, from RFC 9162
 * PATH's recursion: 'R' when the sibling is on the right. Two (m, n) pairs
 * with the same shape are indistinguishable to any verifier given the same
 * root, which the wrong-n test must allow for. */
static size_t shape(size_t m, size_t n, char out[64])
{
    char top_down[64];
    size_t depth = 0;
    while (n > 1) {
        size_t k = 1;
        while (k * 2 < n)
            k *= 2;
        if (m < k) {
            top_down[depth++] = 'R';
            n = k;
        } else {
            top_down[depth++] = 'L';
            m -= k;
            n -= k;
        }
    }
    for (size_t i = 0; i < depth; i++)
        out[i] = top_down[depth - 1 - i];
    return depth;
}

/* ---- known answers ------------------------------------------------------ */

static void test_empty_root(void **state)
{
    uint8_t root[32], want[32];
    (void)state;

    assert_int_equal(sodium_hex2bin(want, 32,
                                    "e3b0c44298fc1c149afbf4c8996fb924"
                                    "27ae41e4649b934ca495991b7852b855",
                                    64, NULL, NULL, NULL),
                     0);
    assert_int_equal(pc_merkle_root(NULL, 0, root), PC_OK);
    assert_memory_equal(root, want, 32);
}

static void test_one_leaf_root(void **state)
{
    uint8_t leaves[1][32], root[32], want[32], buf[33];
    (void)state;

    memset(leaves[0], 0x42, 32);
    buf[0] = 0x00;
    memset(buf + 1, 0x42, 32);
    crypto_hash_sha256(want, buf, sizeof buf);
    assert_int_equal(pc_merkle_root((const uint8_t(*)[32])leaves, 1, root), PC_OK);
    assert_memory_equal(root, want, 32);
}

/* n = 3 splits at k = 2: MTH = H(1, H(1, h0, h1), h2). */
static void test_three_leaf_root(void **state)
{
    uint8_t leaves[3][32], h[3][32], left[32], want[32], root[32];
    (void)state;

    make_leaves(leaves, 3);
    for (int i = 0; i < 3; i++)
        hand_leaf(h[i], leaves[i]);
    hand_node(left, h[0], h[1]);
    hand_node(want, left, h[2]);
    assert_int_equal(pc_merkle_root((const uint8_t(*)[32])leaves, 3, root), PC_OK);
    assert_memory_equal(root, want, 32);

    /* And the proof for leaf 2 is just [H(h0, h1)]. */
    uint8_t path[PC_MERKLE_MAX_PATH][32];
    size_t pathlen = 99;
    assert_int_equal(pc_merkle_proof((const uint8_t(*)[32])leaves, 3, 2, path, &pathlen),
                     PC_OK);
    assert_int_equal(pathlen, 1);
    assert_memory_equal(path[0], left, 32);
    /* The proof for leaf 0 is [h1, h2], nearest first. */
    assert_int_equal(pc_merkle_proof((const uint8_t(*)[32])leaves, 3, 0, path, &pathlen),
                     PC_OK);
    assert_int_equal(pathlen, 2);
    assert_memory_equal(path[0], h[1], 32);
    assert_memory_equal(path[1], h[2], 32);
}

/* n = 7 splits 4 + 3, and 3 splits 2 + 1: a check on an uneven right side. */
static void test_seven_leaf_root(void **state)
{
    uint8_t leaves[7][32], h[7][32], a[32], b[32], c[32], d[32], e[32], want[32];
    uint8_t root[32];
    (void)state;

    make_leaves(leaves, 7);
    for (int i = 0; i < 7; i++)
        hand_leaf(h[i], leaves[i]);
    hand_node(a, h[0], h[1]);
    hand_node(b, h[2], h[3]);
    hand_node(c, a, b);     /* leaves 0..3 */
    hand_node(d, h[4], h[5]);
    hand_node(e, d, h[6]);  /* leaves 4..6 */
    hand_node(want, c, e);
    assert_int_equal(pc_merkle_root((const uint8_t(*)[32])leaves, 7, root), PC_OK);
    assert_memory_equal(root, want, 32);
}

/* ---- proofs ------------------------------------------------------------- */

static void test_all_proofs(void **state)
{
    uint8_t leaves[MAX_LEAVES][32], root[32], bad_leaf[32];
    uint8_t path[PC_MERKLE_MAX_PATH][32], longer[PC_MERKLE_MAX_PATH][32];
    size_t pathlen, wrong_n_refused = 0;
    (void)state;

    make_leaves(leaves, MAX_LEAVES);
    for (size_t n = 1; n <= MAX_LEAVES; n++) {
        const uint8_t(*lv)[32] = (const uint8_t(*)[32])leaves;
        assert_int_equal(pc_merkle_root(lv, n, root), PC_OK);
        for (size_t m = 0; m < n; m++) {
            char want_shape[64], other_shape[64];
            size_t want_len = shape(m, n, want_shape);

            assert_int_equal(pc_merkle_proof(lv, n, m, path, &pathlen), PC_OK);
            assert_int_equal(pathlen, want_len);
            assert_int_equal(pc_merkle_verify(leaves[m], m, n,
                                              (const uint8_t(*)[32])path, pathlen, root),
                             PC_OK);

            /* A tampered hash anywhere on the path. */
            for (size_t i = 0; i < pathlen; i++) {
                path[i][i % 32] ^= 0x01;
                assert_int_equal(pc_merkle_verify(leaves[m], m, n,
                                                  (const uint8_t(*)[32])path, pathlen,
                                                  root),
                                 PC_ECRYPTO);
                path[i][i % 32] ^= 0x01;
            }
            /* A tampered leaf, and another leaf of the same tree. */
            memcpy(bad_leaf, leaves[m], 32);
            bad_leaf[31] ^= 0x80;
            assert_int_equal(pc_merkle_verify(bad_leaf, m, n, (const uint8_t(*)[32])path,
                                              pathlen, root),
                             PC_ECRYPTO);
            if (n > 1)
                assert_int_equal(pc_merkle_verify(leaves[(m + 1) % n], m, n,
                                                  (const uint8_t(*)[32])path, pathlen,
                                                  root),
                                 PC_ECRYPTO);
            /* Every wrong index in range, and the first out of range. */
            for (size_t w = 0; w <= n; w++) {
                if (w == m)
                    continue;
                assert_int_equal(pc_merkle_verify(leaves[m], w, n,
                                                  (const uint8_t(*)[32])path, pathlen,
                                                  root),
                                 PC_ECRYPTO);
            }
            /* Every wrong n up to 2 * MAX_LEAVES. A wrong n is refused unless
             * its path has exactly the same shape (then no verifier can tell
             * from the proof and root alone: n must come from signed data). */
            for (size_t w = 0; w <= 2 * MAX_LEAVES; w++) {
                if (w == n)
                    continue;
                int rc = pc_merkle_verify(leaves[m], m, w, (const uint8_t(*)[32])path,
                                          pathlen, root);
                int same = m < w && shape(m, w, other_shape) == want_len &&
                           memcmp(other_shape, want_shape, want_len) == 0;
                assert_int_equal(rc, same ? PC_OK : PC_ECRYPTO);
                if (!same)
                    wrong_n_refused++;
            }
            /* A truncated path, and one with an extra hash. */
            if (pathlen > 0)
                assert_int_equal(pc_merkle_verify(leaves[m], m, n,
                                                  (const uint8_t(*)[32])path, pathlen - 1,
                                                  root),
                                 PC_ECRYPTO);
            memcpy(longer, path, pathlen * 32);
            memset(longer[pathlen], 0x5a, 32);
            assert_int_equal(pc_merkle_verify(leaves[m], m, n,
                                              (const uint8_t(*)[32])longer, pathlen + 1,
                                              root),
                             PC_ECRYPTO);
            /* Another root. */
            root[0] ^= 1;
            assert_int_equal(pc_merkle_verify(leaves[m], m, n,
                                              (const uint8_t(*)[32])path, pathlen, root),
                             PC_ECRYPTO);
            root[0] ^= 1;
        }
    }
    /* The shape exception must stay an exception. */
    assert_true(wrong_n_refused > 1000);
}

/* The one ambiguity the RFC's algorithm has, written down: leaf 0's proof in
 * a 3-leaf tree also verifies as leaf 0 of a 4-leaf tree with the same root. */
static void test_wrong_n_same_shape(void **state)
{
    uint8_t leaves[3][32], root[32], path[PC_MERKLE_MAX_PATH][32];
    size_t pathlen;
    (void)state;

    make_leaves(leaves, 3);
    assert_int_equal(pc_merkle_root((const uint8_t(*)[32])leaves, 3, root), PC_OK);
    assert_int_equal(pc_merkle_proof((const uint8_t(*)[32])leaves, 3, 0, path, &pathlen),
                     PC_OK);
    assert_int_equal(pc_merkle_verify(leaves[0], 0, 4, (const uint8_t(*)[32])path, pathlen,
                                      root),
                     PC_OK);
}

/* A proof that runs on past the top of the claimed tree must be refused even
 * when the extra hashes would land on the root: leaf 1 of a 2-leaf tree with
 * path [h0] hashes to the root as if it were the only leaf, on the left. */
static void test_path_past_the_top(void **state)
{
    uint8_t leaves[2][32], root[32], path[PC_MERKLE_MAX_PATH][32];
    size_t pathlen;
    (void)state;

    make_leaves(leaves, 2);
    assert_int_equal(pc_merkle_root((const uint8_t(*)[32])leaves, 2, root), PC_OK);
    assert_int_equal(pc_merkle_proof((const uint8_t(*)[32])leaves, 2, 1, path, &pathlen),
                     PC_OK);
    assert_int_equal(pathlen, 1);
    assert_int_equal(pc_merkle_verify(leaves[1], 1, 2, (const uint8_t(*)[32])path, 1, root),
                     PC_OK);
    assert_int_equal(pc_merkle_verify(leaves[1], 0, 1, (const uint8_t(*)[32])path, 1, root),
                     PC_ECRYPTO);
}

/* Proofs in a tree of 5000 leaves, the size of a large block. */
static void test_large_tree(void **state)
{
    enum { N = 5000 };
    static uint8_t leaves[N][32];
    uint8_t root[32], path[PC_MERKLE_MAX_PATH][32];
    const size_t idx[] = {0, 1, 2047, 2048, 4095, 4096, 4999};
    size_t pathlen;
    (void)state;

    for (size_t i = 0; i < N; i++)
        crypto_hash_sha256(leaves[i], (const uint8_t *)&i, sizeof i);
    assert_int_equal(pc_merkle_root((const uint8_t(*)[32])leaves, N, root), PC_OK);
    for (size_t j = 0; j < sizeof idx / sizeof idx[0]; j++) {
        char s[64];
        assert_int_equal(pc_merkle_proof((const uint8_t(*)[32])leaves, N, idx[j], path,
                                         &pathlen),
                         PC_OK);
        assert_int_equal(pathlen, shape(idx[j], N, s));
        assert_int_equal(pc_merkle_verify(leaves[idx[j]], idx[j], N,
                                          (const uint8_t(*)[32])path, pathlen, root),
                         PC_OK);
    }
}

/* ---- argument checks ---------------------------------------------------- */

static void test_bad_arguments(void **state)
{
    uint8_t leaves[4][32], root[32], path[PC_MERKLE_MAX_PATH][32];
    size_t pathlen = 7;
    (void)state;

    make_leaves(leaves, 4);
    const uint8_t(*lv)[32] = (const uint8_t(*)[32])leaves;
    assert_int_equal(pc_merkle_root(NULL, 1, root), PC_EINVAL);
    assert_int_equal(pc_merkle_proof(lv, 4, 4, path, &pathlen), PC_EINVAL);
    assert_int_equal(pathlen, 0);
    assert_int_equal(pc_merkle_proof(lv, 0, 0, path, &pathlen), PC_EINVAL);
    assert_int_equal(pc_merkle_proof(NULL, 4, 0, path, &pathlen), PC_EINVAL);

    assert_int_equal(pc_merkle_root(lv, 4, root), PC_OK);
    assert_int_equal(pc_merkle_proof(lv, 4, 1, path, &pathlen), PC_OK);
    const uint8_t(*p)[32] = (const uint8_t(*)[32])path;
    assert_int_equal(pc_merkle_verify(leaves[1], 1, 4, p, pathlen, root), PC_OK);
    assert_int_equal(pc_merkle_verify(leaves[1], 1, 0, p, pathlen, root), PC_ECRYPTO);
    assert_int_equal(pc_merkle_verify(leaves[1], 1, 4, NULL, pathlen, root), PC_ECRYPTO);
    assert_int_equal(pc_merkle_verify(leaves[1], 1, 4, p, PC_MERKLE_MAX_PATH + 1, root),
                     PC_ECRYPTO);
    assert_int_equal(pc_merkle_verify(NULL, 1, 4, p, pathlen, root), PC_ECRYPTO);
    assert_int_equal(pc_merkle_verify(leaves[1], 1, 4, p, pathlen, NULL), PC_ECRYPTO);
    /* A one-leaf tree has an empty path; its root is the leaf hash. */
    assert_int_equal(pc_merkle_root(lv, 1, root), PC_OK);
    assert_int_equal(pc_merkle_verify(leaves[0], 0, 1, NULL, 0, root), PC_OK);
    assert_int_equal(pc_merkle_verify(leaves[0], 0, 1, p, 1, root), PC_ECRYPTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_root),
        cmocka_unit_test(test_one_leaf_root),
        cmocka_unit_test(test_three_leaf_root),
        cmocka_unit_test(test_seven_leaf_root),
        cmocka_unit_test(test_all_proofs),
        cmocka_unit_test(test_wrong_n_same_shape),
        cmocka_unit_test(test_path_past_the_top),
        cmocka_unit_test(test_large_tree),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
