/*
 * tpm.h - internal: anchoring seals in a TPM 2.0 over tpm2-tss ESAPI
 * (DESIGN.md section 6, attest/TPM.md).
 *
 * One attest_tpm is one connection to a TPM (a TCTI string such as
 * "swtpm:host=127.0.0.1,port=2321" or "device:/dev/tpmrm0"). The TPM keeps
 * per run two NV indexes, an extend index (the chain of seal digests) and a
 * counter; every seal extends, increments, and has both certified by the
 * attestation key (AK) with the seal's digest as qualifying data.
 *
 * The AK is a primary key of the endorsement hierarchy made from a fixed
 * template: the same TPM always gives the same AK and nothing is stored. No
 * TPM object stays loaded between calls: every transient object a call
 * makes is flushed before it returns, on success and on failure.
 *
 * Handles are not thread-safe. A TPM without a resource manager (swtpm, or
 * /dev/tpm0) serves one connection at a time: hold an attest_tpm only while
 * it is needed. Errors: 0 or a negative ATTEST_E* code, with a one-line
 * reason in err (errsz bytes, may be 0). tpm2-tss itself logs TPM errors to
 * stderr unless the environment has TSS2_LOG=all+none.
 */
#ifndef ATTEST_TPM_H
#define ATTEST_TPM_H

#include <stddef.h>
#include <stdint.h>

/* Upper bounds of the marshalled structures (checked against tpm2-tss in tpm.c). */
#define ATTEST_TPM_NAME_MAX 68       /* a Name: nameAlg (2 bytes, big-endian) || digest */
#define ATTEST_TPM_PUBLIC_MAX 616    /* a marshalled TPM2B_PUBLIC */
#define ATTEST_TPM_ATTEST_MAX 2306   /* a marshalled TPM2B_ATTEST */
#define ATTEST_TPM_SIGNATURE_MAX 518 /* a marshalled TPMT_SIGNATURE */

/* First NV handle of the per-run indexes; a run uses base + 2*slot and base + 2*slot + 1. */
#define ATTEST_TPM_NV_BASE 0x01500000u

typedef struct attest_tpm attest_tpm;

/* The attestation key, as a verifier pins it. */
typedef struct attest_tpm_key {
    uint8_t pub[ATTEST_TPM_PUBLIC_MAX]; /* Tss2_MU_TPM2B_PUBLIC_Marshal of the AK */
    size_t pub_len;
    uint8_t name[ATTEST_TPM_NAME_MAX]; /* 0x000b || SHA-256(marshalled TPMT_PUBLIC) */
    size_t name_len;
} attest_tpm_key;

/* The two NV indexes of one run. Names are those of the written index (TPMA_NV_WRITTEN set),
 * which is what TPM2_NV_Certify reports; they follow from the run id and the handle alone. */
typedef struct attest_tpm_nv {
    uint32_t extend_handle;  /* TPM2_NT_EXTEND, SHA-256, 32 bytes */
    uint32_t counter_handle; /* TPM2_NT_COUNTER, 8 bytes */
    uint8_t extend_name[ATTEST_TPM_NAME_MAX];
    size_t extend_name_len;
    uint8_t counter_name[ATTEST_TPM_NAME_MAX];
    size_t counter_name_len;
} attest_tpm_nv;

/* One TPM2_NV_Certify: the signed TPMS_ATTEST and its signature, as the TPM returned them. */
typedef struct attest_tpm_cert {
    uint8_t attest[ATTEST_TPM_ATTEST_MAX]; /* Tss2_MU_TPM2B_ATTEST_Marshal: size || TPMS_ATTEST */
    size_t attest_len;
    uint8_t sig[ATTEST_TPM_SIGNATURE_MAX]; /* Tss2_MU_TPMT_SIGNATURE_Marshal (ECDSA, SHA-256) */
    size_t sig_len;
} attest_tpm_cert;

/* The evidence of one seal. */
typedef struct attest_tpm_evidence {
    attest_tpm_cert extend;  /* NV_Certify of the whole extend index */
    attest_tpm_cert counter; /* NV_Certify of the whole counter index */
    uint8_t chain[32];       /* the extend index after this seal, as certified */
    uint64_t counter_value;  /* the counter after this seal, as certified */
} attest_tpm_evidence;

/*
 * Connects to the TPM named by `tcti`, or by the environment variable
 * ATTEST_TCTI when tcti is NULL, and sends TPM2_Startup(CLEAR) if the TPM
 * has not been started. On success *out is a new handle (free it with
 * attest_tpm_free). Returns 0, ATTEST_EINVAL (out is NULL, or no TCTI is
 * given and ATTEST_TCTI is unset), ATTEST_EIO (the TCTI cannot be loaded,
 * the TPM does not answer or refuses; err has the tpm2-tss reason),
 * ATTEST_ENOMEM. On error *out is NULL.
 */
int attest_tpm_open(attest_tpm **out, const char *tcti, char *err, size_t errsz);

/* Closes the connection and frees the handle; NULL is a no-op. */
void attest_tpm_free(attest_tpm *tpm);

/*
 * The attestation key: an ECC P-256 restricted signing key (ECDSA-SHA256)
 * created as an endorsement-hierarchy primary from a fixed template, then
 * flushed. Fills *ak. Returns 0, ATTEST_EINVAL, ATTEST_EIO (the TPM refused,
 * e.g. an endorsement hierarchy with a password), ATTEST_ENOMEM.
 */
int attest_tpm_ak(attest_tpm *tpm, attest_tpm_key *ak, char *err, size_t errsz);

/*
 * Defines, or finds again, the extend and counter NV indexes of the run
 * `run_id` and fills *nv. The slot is derived from the run id (attest/TPM.md);
 * a slot held by another run's indexes is skipped. Calling it again for the
 * same run (a resumed run) returns the same indexes, with their contents.
 * Needs the owner hierarchy's (empty) password to define. Returns 0,
 * ATTEST_EINVAL, ATTEST_EEXIST (an index of this run exists with other
 * attributes, or every slot of the run is taken), ATTEST_EIO (the TPM
 * refused, e.g. NV space exhausted), ATTEST_ENOMEM. On error an index
 * already defined by this call stays defined (a later call reuses it).
 */
int attest_tpm_define(attest_tpm *tpm, const uint8_t run_id[16], attest_tpm_nv *nv, char *err,
                      size_t errsz);

/*
 * Seals `digest` (the SHA-256 of a signed checkpoint): extends it into the
 * extend index, increments the counter, and has the AK certify both indexes
 * with qualifyingData = digest. Fills *ev. Returns 0, ATTEST_EINVAL (a NULL
 * argument, or one handle for both indexes), ATTEST_ENOTFOUND (an index is
 * not defined: undefined since the run began?), ATTEST_EVERIFY (the TPM
 * certified an index whose Name is not the one in *nv), ATTEST_EIO (the
 * TPM refused or did not answer), ATTEST_ENOMEM. No transient object stays
 * loaded on any path. On an error after the extend (err says so) the TPM has
 * moved on while the caller has no evidence: the chain then holds a digest
 * no seal record holds, and a verifier will report it.
 */
int attest_tpm_seal(attest_tpm *tpm, const attest_tpm_nv *nv, const uint8_t digest[32],
                    attest_tpm_evidence *ev, char *err, size_t errsz);

/*
 * A quote of the run's current state: the AK certifies both indexes as they
 * are, with qualifyingData = digest, and nothing is written (live sessions:
 * the digest binds an auditor's nonce to the latest seal). Same returns as
 * attest_tpm_seal, without the extend.
 */
/*
 * The evidence as format/LOG.md stores it in a seal's `tpm` member:
 * {"extend": {"attest", "signature"}, "counter": {...}}, compact JSON,
 * malloc'd; NULL when memory ran out.
 */
char *attest_tpm_evidence_text(const attest_tpm_evidence *ev);

/* obj[key] = the lowercase hex of b[0..n) (nothing when memory runs out). */
struct json_t;
void attest_tpm_put_hex(struct json_t *obj, const char *key, const uint8_t *b, size_t n);

int attest_tpm_quote(attest_tpm *tpm, const attest_tpm_nv *nv, const uint8_t digest[32],
                     attest_tpm_evidence *ev, char *err, size_t errsz);

#endif
