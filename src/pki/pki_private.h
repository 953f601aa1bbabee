/* pki_private.h — what the files of src/pki/ share among themselves. */
#ifndef SEALPOST_PKI_PRIVATE_H
#define SEALPOST_PKI_PRIVATE_H

#include "pki/pki.h"

/* How to read one input file. */
struct pki_parse_opts {
	bool want_certs;              /* collect certificates */
	bool want_keys;               /* decode private keys (else skip them) */
	const char *passphrase;       /* NULL: none was given */
	const char *passphrase_path;  /* for messages */
	const char *encrypted_hint;   /* "(expected ...)" when a key is encrypted
				       * and there is no passphrase */
};

/* What one input file holds. */
struct pki_bundle {
	STACK_OF(X509) *certs;   /* file order */
	EVP_PKEY *key;           /* the first private key */
	unsigned n_keys;
	bool saw_csr;            /* a certificate request was seen (and ignored) */
};

/* Read path (at most PKI_FILE_MAX bytes) and decode it: PEM text with any
 * number of blocks (BOM, CRLF and text between blocks tolerated), or one DER
 * object: certificate, PKCS#7, PKCS#12 or private key. */
int pki_bundle_read(const char *path, const struct pki_parse_opts *opts,
		    struct pki_bundle *b, const char **error_r);
/* The same on bytes already read; path only names them in errors. */
int pki_bundle_parse(const char *path, const unsigned char *data, size_t len,
		     const struct pki_parse_opts *opts, struct pki_bundle *b,
		     const char **error_r);
void pki_bundle_free(struct pki_bundle *b);

/* Decode a PEM private-key block (type is the BEGIN label, header its
 * Proc-Type/DEK-Info lines; der is decrypted in place when encrypted). */
int pki_key_decode_pem(const char *path, const char *type, char *header,
		       unsigned char *der, long len,
		       const struct pki_parse_opts *opts, EVP_PKEY **key_r,
		       const char **error_r);
/* Decode a DER private key (PKCS#8, encrypted PKCS#8, PKCS#1, SEC1).
 * Returns 1 with *key_r set (NULL for an encrypted key when opts do not want
 * keys), 0 when der is not a private key at all, -1 on an error (encrypted
 * without passphrase, wrong passphrase). */
int pki_key_decode_der(const char *path, const unsigned char *der, long len,
		       const struct pki_parse_opts *opts, EVP_PKEY **key_r,
		       const char **error_r);
/* The messages for an encrypted key without / with a wrong passphrase. */
const char *pki_error_encrypted(const char *path,
				const struct pki_parse_opts *opts);
const char *pki_error_wrong_passphrase(const char *path,
				       const struct pki_parse_opts *opts);

/* Host names equal: case-insensitive, one trailing dot ignored on either
 * side. */
bool pki_name_eq(const char *a, const char *b);

/* OpenSSL's reason for the last failure (errfmt() text); clears its queue. */
const char *pki_ossl_error(void);

/* Append cert as PEM to out. */
int pki_cert_to_pem(X509 *cert, struct buf *out, const char **error_r);
int pki_csr_to_pem(X509_REQ *csr, struct buf *out, const char **error_r);

#endif
