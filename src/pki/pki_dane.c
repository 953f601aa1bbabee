/* pki_dane.c — the data of DANE TLSA records (RFC 6698, RFC 7671).
 *
 * sealpost prints "3 1 1" for the server's key and "2 1 1" for the CA that
 * issued its certificate: selector 1 hashes the SubjectPublicKeyInfo, so a
 * renewal that keeps the key keeps the record, and a key change is
 * announced by publishing the next key's record beside the current one at
 * least two TTLs before the switch (RFC 7671 8.1). The DER encoding and
 * the digest are OpenSSL's (i2d_PUBKEY, i2d_X509_PUBKEY, EVP_Digest). */
#include "pki/pki_private.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

/* SHA-256 of der in lower-case hex. */
static int sha256_hex(const unsigned char *der, int len,
		      char hex_r[PKI_SHA256_HEX_LEN + 1], const char **error_r)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (len <= 0 || !EVP_Digest(der, (size_t)len, md, &n, EVP_sha256(), NULL) ||
	    n * 2 != PKI_SHA256_HEX_LEN) {
		*error_r = errfmt("cannot hash the public key: %s", pki_ossl_error());
		return -1;
	}
	for (unsigned i = 0; i < n; i++)
		snprintf(hex_r + i * 2, 3, "%02x", md[i]);
	return 0;
}

int pki_spki_sha256(EVP_PKEY *key, char hex_r[PKI_SHA256_HEX_LEN + 1],
		    const char **error_r)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(key, &der);
	int ret = sha256_hex(der, len, hex_r, error_r);

	OPENSSL_free(der);
	return ret;
}

int pki_cert_spki_sha256(X509 *cert, char hex_r[PKI_SHA256_HEX_LEN + 1],
			 const char **error_r)
{
	unsigned char *der = NULL;
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	int ret = sha256_hex(der, len, hex_r, error_r);

	OPENSSL_free(der);
	return ret;
}

X509 *pki_pair_issuer(const struct pki_pair *pair)
{
	X509 *found = NULL;

	for (int i = 0; found == NULL && i < sk_X509_num(pair->chain); i++) {
		X509 *cert = sk_X509_value(pair->chain, i);
		if (X509_check_issued(cert, pair->cert) == X509_V_OK)
			found = cert;
	}
	ERR_clear_error();
	return found;
}

char *pki_tlsa_owner(const char *host, unsigned port)
{
	size_t len = strlen(host);
	char *owner = xasprintf("_%u._tcp.%s%s", port, host,
				len > 0 && host[len - 1] == '.' ? "" : ".");

	str_lower(owner);
	return owner;
}

int pki_public_key_read(const char *path, EVP_PKEY **key_r, const char **error_r)
{
	struct pki_parse_opts opts = {
		.want_certs = true,
		.want_keys = true,
		.encrypted_hint = "an unencrypted key, or a certificate for it",
	};
	struct pki_bundle b;
	EVP_PKEY *key = NULL;

	if (pki_bundle_read(path, &opts, &b, error_r) < 0)
		return -1;
	if (b.key != NULL) {
		key = b.key;
		b.key = NULL;
	} else if (sk_X509_num(b.certs) > 0) {
		key = X509_get_pubkey(sk_X509_value(b.certs, 0));
	}
	pki_bundle_free(&b);
	if (key == NULL) {
		*error_r = errfmt("%s: no private key or certificate found "
				  "(expected a key, or a certificate for it)", path);
		return -1;
	}
	if (pki_key_supported(key, error_r) < 0) {
		*error_r = errfmt("%s: %s", path, *error_r);
		EVP_PKEY_free(key);
		return -1;
	}
	*key_r = key;
	return 0;
}
