/*
 * attest/merkle.h - RFC 6962 / RFC 9162 Merkle tree over SHA-256.
 *
 * Leaf hash = SHA-256(0x00 || data), node hash = SHA-256(0x01 || left || right),
 * the root of the empty tree is SHA-256(""). Proofs are ordered leaf to root
 * (RFC 6962 PATH and PROOF). Large trees are served from "stored hashes": the
 * hash of every complete, aligned subtree, numbered in the post-order used by
 * Go's golang.org/x/mod/sumdb/tlog (see format/LOG.md, "Stored hashes"), so
 * a proof reads O(log^2 n) hashes whatever the tree size.
 *
 * Thread-safety: every function is reentrant; a frontier must not be used
 * by two threads at once.
 */
#ifndef ATTEST_MERKLE_H
#define ATTEST_MERKLE_H

#include "attest/common.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTEST_HASH_SIZE 32
/* Longest inclusion proof (tree sizes below 2^64). */
#define ATTEST_MERKLE_MAX_INCLUSION 64
/* Longest consistency proof. */
#define ATTEST_MERKLE_MAX_CONSISTENCY 128

/* SHA-256(0x00 || data). */
ATTEST_API void attest_merkle_leaf_hash(uint8_t out[ATTEST_HASH_SIZE], const void *data,
                                        size_t len);

/* SHA-256(0x01 || left || right). */
ATTEST_API void attest_merkle_node_hash(uint8_t out[ATTEST_HASH_SIZE],
                                        const uint8_t left[ATTEST_HASH_SIZE],
                                        const uint8_t right[ATTEST_HASH_SIZE]);

/*
 * Stored hashes. The hash of the complete subtree at (level L, index k),
 * covering leaves [k*2^L, (k+1)*2^L), is stored right after the hash of
 * leaf (k+1)*2^L - 1 and the complete subtrees below it that this leaf
 * completes.
 */

/* Position of the stored hash at (level, n) in the stored-hash sequence. */
ATTEST_API uint64_t attest_merkle_stored_index(unsigned level, uint64_t n);

/* Number of stored hashes of a tree of `size` leaves. */
ATTEST_API uint64_t attest_merkle_stored_count(uint64_t size);

/*
 * Reads stored hash number `index` into out. Returns 0 or a negative
 * ATTEST_E* code, which the caller passes back unchanged.
 */
typedef int (*attest_merkle_read_fn)(void *ctx, uint64_t index, uint8_t out[ATTEST_HASH_SIZE]);

/*
 * The right edge of a tree: enough state to append leaves and compute the
 * root in O(log n) memory. hash[l] holds the root of the complete subtree of
 * 2^l leaves at the right edge whenever bit l of size is set.
 */
typedef struct attest_merkle_frontier {
    uint64_t size;
    uint8_t hash[64][ATTEST_HASH_SIZE];
} attest_merkle_frontier;

/* An empty tree. */
ATTEST_API void attest_merkle_frontier_init(attest_merkle_frontier *f);

/*
 * Appends one leaf hash. When stored is not NULL, writes the stored hashes
 * this append creates (the leaf hash, then each subtree it completes, lowest
 * level first; at most 64) into stored and their number into *n_stored.
 * Returns 0, or ATTEST_EINVAL when the tree is full (2^64 - 1 leaves).
 */
ATTEST_API int attest_merkle_frontier_append(attest_merkle_frontier *f,
                                             const uint8_t leaf[ATTEST_HASH_SIZE],
                                             uint8_t stored[][ATTEST_HASH_SIZE], size_t *n_stored);

/* Root of the tree the frontier describes (SHA-256("") when empty). */
ATTEST_API void attest_merkle_frontier_root(const attest_merkle_frontier *f,
                                            uint8_t root[ATTEST_HASH_SIZE]);

/*
 * Root of the first `size` leaves of a tree whose stored hashes `read`
 * returns (the tree may be larger). Returns 0 or the reader's error.
 */
ATTEST_API int attest_merkle_tree_hash(uint64_t size, attest_merkle_read_fn read, void *ctx,
                                       uint8_t root[ATTEST_HASH_SIZE]);

/*
 * Inclusion proof of leaf `index` in the tree of the first `size` leaves.
 * proof must hold ATTEST_MERKLE_MAX_INCLUSION hashes; *len receives the
 * count. Returns 0, ATTEST_EINVAL if index >= size, or the reader's error.
 */
ATTEST_API int attest_merkle_prove_inclusion(uint64_t index, uint64_t size,
                                             attest_merkle_read_fn read, void *ctx,
                                             uint8_t proof[][ATTEST_HASH_SIZE], size_t *len);

/*
 * Consistency proof from the tree of `old_size` leaves to the tree of
 * `size` leaves (0 <= old_size <= size). Empty when old_size is 0 or equal
 * to size. proof must hold ATTEST_MERKLE_MAX_CONSISTENCY hashes. Returns 0,
 * ATTEST_EINVAL if old_size > size, or the reader's error.
 */
ATTEST_API int attest_merkle_prove_consistency(uint64_t old_size, uint64_t size,
                                               attest_merkle_read_fn read, void *ctx,
                                               uint8_t proof[][ATTEST_HASH_SIZE], size_t *len);

/*
 * RFC 9162 section 2.1.3.2. `proof` is `len` hashes of ATTEST_HASH_SIZE
 * bytes each, back to back (an array uint8_t[len][32] converts to it).
 * Returns 0 when `proof` shows that the leaf with
 * hash `leaf` is leaf `index` of the tree of `size` leaves with root
 * `root`, ATTEST_EVERIFY otherwise (index >= size included).
 */
ATTEST_API ATTEST_CHECK_RESULT int
attest_merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[ATTEST_HASH_SIZE],
                               const uint8_t *proof, size_t len,
                               const uint8_t root[ATTEST_HASH_SIZE]);

/*
 * RFC 9162 section 2.1.4.2, `proof` laid out as for inclusion. Returns 0
 * when `proof` shows that the tree of
 * `old_size` leaves with root old_root is a prefix of the tree of `size`
 * leaves with root `root`, ATTEST_EVERIFY otherwise. Edge cases: old_size ==
 * size needs an empty proof and equal roots; old_size == 0 needs an empty
 * proof and old_root == SHA-256("") (C2SP tlog-witness); old_size > size
 * fails.
 */
ATTEST_API ATTEST_CHECK_RESULT int attest_merkle_verify_consistency(
    uint64_t old_size, uint64_t size, const uint8_t old_root[ATTEST_HASH_SIZE],
    const uint8_t root[ATTEST_HASH_SIZE], const uint8_t *proof, size_t len);

#ifdef __cplusplus
}
#endif
#endif
