/*
 * merkle.c - RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their checks.
 *
 * Builds the right-edge frontier, numbers stored hashes in Go sumdb/tlog
 * post-order, and makes and checks inclusion and consistency proofs by reading
 * O(log^2 n) stored hashes through a callback. It does not store hashes, read
 * files or parse proofs from text: callers own the storage and the bytes.
 */
#include "attest/merkle.h"

#include <stdatomic.h>
#include <string.h>

#include <sodium.h>

#include "attest/error.h"

static atomic_int sodium_ready;

/*
 * libsodium's SHA-256 does not depend on sodium_init() (it has no CPU
 * dispatch), so a failed init cannot change a hash; we still call it, as our
 * entry points own dependency set-up, and retry on the next call if it failed.
 */
static void init_sodium(void)
{
    if (!atomic_load_explicit(&sodium_ready, memory_order_acquire) && sodium_init() >= 0)
        atomic_store_explicit(&sodium_ready, 1, memory_order_release);
}

static void empty_root(uint8_t out[ATTEST_HASH_SIZE])
{
    init_sodium();
    crypto_hash_sha256(out, (const unsigned char *)"", 0);
}

void attest_merkle_leaf_hash(uint8_t out[ATTEST_HASH_SIZE], const void *data, size_t len)
{
    static const unsigned char prefix = 0x00;
    crypto_hash_sha256_state st;

    init_sodium();
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &prefix, 1);
    /* A NULL pointer is fine for empty data, but never hand it to the library. */
    if (len > 0) crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, out);
}

void attest_merkle_node_hash(uint8_t out[ATTEST_HASH_SIZE], const uint8_t left[ATTEST_HASH_SIZE],
                             const uint8_t right[ATTEST_HASH_SIZE])
{
    unsigned char buf[1 + 2 * ATTEST_HASH_SIZE];

    init_sodium();
    /* One contiguous buffer lets out alias left or right. */
    buf[0] = 0x01;
    memcpy(buf + 1, left, ATTEST_HASH_SIZE);
    memcpy(buf + 1 + ATTEST_HASH_SIZE, right, ATTEST_HASH_SIZE);
    crypto_hash_sha256(out, buf, sizeof buf);
}

/* j + j/2 + j/4 + ...: the stored hashes of all subtrees ending before leaf j. */
static uint64_t stored_before(uint64_t j)
{
    uint64_t s = 0;

    for (; j > 0; j >>= 1)
        s += j;
    return s;
}

static unsigned trailing_ones(uint64_t x)
{
    unsigned n = 0;

    for (; x & 1; x >>= 1)
        n++;
    return n;
}

uint64_t attest_merkle_stored_index(unsigned level, uint64_t n)
{
    /* No subtree of 2^64 leaves exists; UINT64_MAX is never a valid position. */
    if (level >= 64) return UINT64_MAX;
    /* The subtree is stored just after its last leaf and the level-0..L-1 hashes that leaf ends. */
    uint64_t last = ((n + 1) << level) - 1;
    return stored_before(last) + level;
}

uint64_t attest_merkle_stored_count(uint64_t size)
{
    if (size == 0) return 0;
    /* Leaf size-1 adds itself plus one hash per subtree it completes. */
    return stored_before(size - 1) + 1 + trailing_ones(size - 1);
}

void attest_merkle_frontier_init(attest_merkle_frontier *f)
{
    memset(f, 0, sizeof *f);
}

int attest_merkle_frontier_append(attest_merkle_frontier *f, const uint8_t leaf[ATTEST_HASH_SIZE],
                                  uint8_t stored[][ATTEST_HASH_SIZE], size_t *n_stored)
{
    uint8_t carry[ATTEST_HASH_SIZE];
    size_t count = 0;
    unsigned level = 0;

    if (f->size == UINT64_MAX) return ATTEST_EINVAL;
    memcpy(carry, leaf, ATTEST_HASH_SIZE);
    if (stored) memcpy(stored[count], carry, ATTEST_HASH_SIZE);
    count++;
    /* Each set low bit is a complete left sibling that the new leaf now pairs with. */
    while ((f->size >> level) & 1) {
        attest_merkle_node_hash(carry, f->hash[level], carry);
        if (stored) memcpy(stored[count], carry, ATTEST_HASH_SIZE);
        count++;
        level++;
    }
    /* size < 2^64 - 1 has a zero bit below 64, so level stays in range. */
    memcpy(f->hash[level], carry, ATTEST_HASH_SIZE);
    f->size++;
    if (n_stored) *n_stored = stored ? count : 0;
    return 0;
}

void attest_merkle_frontier_root(const attest_merkle_frontier *f, uint8_t root[ATTEST_HASH_SIZE])
{
    uint8_t acc[ATTEST_HASH_SIZE];
    unsigned level = 0;

    if (f->size == 0) {
        empty_root(root);
        return;
    }
    while (!((f->size >> level) & 1))
        level++;
    memcpy(acc, f->hash[level], ATTEST_HASH_SIZE);
    /* Smaller subtrees sit to the right, so each larger one is the left child. */
    for (level++; level < 64; level++) {
        if ((f->size >> level) & 1) attest_merkle_node_hash(acc, f->hash[level], acc);
    }
    memcpy(root, acc, ATTEST_HASH_SIZE);
}

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
    uint64_t k = 1;

    while (k < n - k)
        k <<= 1;
    return k;
}

/*
 * MTH of leaves [lo, hi), hi > lo, for a range met while splitting [0, n) the
 * RFC 6962 way: lo is then a multiple of every power of two >= hi - lo, so a
 * power-of-two width is a complete aligned subtree, read in one call. Depth
 * is at most 64, and it reads one hash per set bit of hi - lo.
 */
static int range_hash(uint64_t lo, uint64_t hi, attest_merkle_read_fn read, void *ctx,
                      uint8_t out[ATTEST_HASH_SIZE])
{
    uint8_t left[ATTEST_HASH_SIZE], right[ATTEST_HASH_SIZE];
    uint64_t width = hi - lo;
    int rc;

    if ((width & (width - 1)) == 0) {
        unsigned level = 0;
        while ((UINT64_C(1) << level) != width)
            level++;
        return read(ctx, attest_merkle_stored_index(level, lo >> level), out);
    }
    uint64_t k = split_point(width);
    if ((rc = range_hash(lo, lo + k, read, ctx, left)) != 0) return rc;
    if ((rc = range_hash(lo + k, hi, read, ctx, right)) != 0) return rc;
    attest_merkle_node_hash(out, left, right);
    return 0;
}

int attest_merkle_tree_hash(uint64_t size, attest_merkle_read_fn read, void *ctx,
                            uint8_t root[ATTEST_HASH_SIZE])
{
    if (size == 0) {
        empty_root(root);
        return 0;
    }
    return range_hash(0, size, read, ctx, root);
}

/* Proofs are found root first; RFC 6962 lists them leaf first. */
static void reverse_hashes(uint8_t h[][ATTEST_HASH_SIZE], size_t n)
{
    uint8_t tmp[ATTEST_HASH_SIZE];

    for (size_t i = 0; i < n / 2; i++) {
        memcpy(tmp, h[i], ATTEST_HASH_SIZE);
        memcpy(h[i], h[n - 1 - i], ATTEST_HASH_SIZE);
        memcpy(h[n - 1 - i], tmp, ATTEST_HASH_SIZE);
    }
}

int attest_merkle_prove_inclusion(uint64_t index, uint64_t size, attest_merkle_read_fn read,
                                  void *ctx, uint8_t proof[][ATTEST_HASH_SIZE], size_t *len)
{
    uint64_t lo = 0, hi = size;
    size_t n = 0;
    int rc;

    *len = 0;
    if (index >= size) return ATTEST_EINVAL;
    /* PATH(m, D[lo:hi]): descend towards the leaf, taking the other half each step. */
    while (hi - lo > 1) {
        uint64_t k = split_point(hi - lo);
        if (index < lo + k) {
            rc = range_hash(lo + k, hi, read, ctx, proof[n]);
            hi = lo + k;
        } else {
            rc = range_hash(lo, lo + k, read, ctx, proof[n]);
            lo += k;
        }
        if (rc != 0) return rc;
        n++;
    }
    reverse_hashes(proof, n);
    *len = n;
    return 0;
}

int attest_merkle_prove_consistency(uint64_t old_size, uint64_t size, attest_merkle_read_fn read,
                                    void *ctx, uint8_t proof[][ATTEST_HASH_SIZE], size_t *len)
{
    uint64_t lo = 0, hi = size;
    int complete = 1;
    size_t n = 0;
    int rc;

    *len = 0;
    if (old_size > size) return ATTEST_EINVAL;
    if (old_size == 0 || old_size == size) return 0;
    /* SUBPROOF(m, D[lo:hi], complete), with m = old_size - lo kept implicit. */
    while (old_size != hi) {
        uint64_t k = split_point(hi - lo);
        if (old_size <= lo + k) {
            rc = range_hash(lo + k, hi, read, ctx, proof[n]);
            hi = lo + k;
        } else {
            rc = range_hash(lo, lo + k, read, ctx, proof[n]);
            lo += k;
            complete = 0;
        }
        if (rc != 0) return rc;
        n++;
    }
    /* The old tree's own subtree is needed unless it is the whole old tree. */
    if (!complete) {
        if ((rc = range_hash(lo, hi, read, ctx, proof[n])) != 0) return rc;
        n++;
    }
    reverse_hashes(proof, n);
    *len = n;
    return 0;
}

static int same_hash(const uint8_t a[ATTEST_HASH_SIZE], const uint8_t b[ATTEST_HASH_SIZE])
{
    return sodium_memcmp(a, b, ATTEST_HASH_SIZE) == 0;
}

int attest_merkle_verify_inclusion(uint64_t index, uint64_t size,
                                   const uint8_t leaf[ATTEST_HASH_SIZE], const uint8_t *proof,
                                   size_t len, const uint8_t root[ATTEST_HASH_SIZE])
{
    uint8_t r[ATTEST_HASH_SIZE];
    uint64_t fn, sn;

    if (index >= size) return ATTEST_EVERIFY;
    fn = index;
    sn = size - 1;
    memcpy(r, leaf, ATTEST_HASH_SIZE);
    for (size_t i = 0; i < len; i++) {
        /* A proof longer than the path to the root. */
        if (sn == 0) return ATTEST_EVERIFY;
        if ((fn & 1) || fn == sn) {
            attest_merkle_node_hash(r, proof + ATTEST_HASH_SIZE * i, r);
            /* Last node of its level: skip the levels where it has no sibling. */
            if (!(fn & 1)) {
                do {
                    fn >>= 1;
                    sn >>= 1;
                } while (!(fn & 1) && fn != 0);
            }
        } else {
            attest_merkle_node_hash(r, r, proof + ATTEST_HASH_SIZE * i);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && same_hash(r, root) ? 0 : ATTEST_EVERIFY;
}

int attest_merkle_verify_consistency(uint64_t old_size, uint64_t size,
                                     const uint8_t old_root[ATTEST_HASH_SIZE],
                                     const uint8_t root[ATTEST_HASH_SIZE], const uint8_t *proof,
                                     size_t len)
{
    uint8_t empty[ATTEST_HASH_SIZE], fr[ATTEST_HASH_SIZE], sr[ATTEST_HASH_SIZE];
    const uint8_t *c;
    uint64_t fn, sn;
    size_t i;

    if (old_size > size) return ATTEST_EVERIFY;
    /* The empty tree is a prefix of every tree; its root is fixed (C2SP tlog-witness). */
    if (old_size == 0) {
        empty_root(empty);
        if (len != 0 || !same_hash(old_root, empty) || (size == 0 && !same_hash(root, empty)))
            return ATTEST_EVERIFY;
        return 0;
    }
    if (old_size == size) return len == 0 && same_hash(old_root, root) ? 0 : ATTEST_EVERIFY;
    if (len == 0) return ATTEST_EVERIFY;
    /* A power-of-two old tree is a node of the new one; its root starts the path. */
    int old_is_node = (old_size & (old_size - 1)) == 0;
    fn = old_size - 1;
    sn = size - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    c = old_is_node ? old_root : proof;
    memcpy(fr, c, ATTEST_HASH_SIZE);
    memcpy(sr, c, ATTEST_HASH_SIZE);
    /* Walk the rest of the virtual path: proof[0..] after old_root, else proof[1..]. */
    for (i = old_is_node ? 0 : 1; i < len; i++) {
        c = proof + ATTEST_HASH_SIZE * i;
        if (sn == 0) return ATTEST_EVERIFY;
        if ((fn & 1) || fn == sn) {
            attest_merkle_node_hash(fr, c, fr);
            attest_merkle_node_hash(sr, c, sr);
            if (!(fn & 1)) {
                do {
                    fn >>= 1;
                    sn >>= 1;
                } while (!(fn & 1) && fn != 0);
            }
        } else {
            attest_merkle_node_hash(sr, sr, c);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn == 0 && same_hash(fr, old_root) && same_hash(sr, root)) return 0;
    return ATTEST_EVERIFY;
}
