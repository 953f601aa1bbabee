/* pki.h — certificate pairs in the certs folder.
 * (Minimal loader; the full certificate module replaces this file.) */
#ifndef SEALPOST_PKI_H
#define SEALPOST_PKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>

struct pki_pair {
	char *name;
	X509 *cert;              /* the leaf */
	STACK_OF(X509) *chain;   /* intermediates, leaf's issuer first */
	EVP_PKEY *key;
};

/* Load certs_dir/NAME.crt (PEM leaf, then chain) and NAME.key (PEM) and
 * check that the key matches the leaf. */
int pki_pair_load(const char *certs_dir, const char *name,
		  struct pki_pair **pair_r, const char **error_r);
void pki_pair_free(struct pki_pair **pair);

#endif
