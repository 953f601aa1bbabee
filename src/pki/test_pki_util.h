/* test_pki_util.h — fixture material for the pki unit tests, made with
 * OpenSSL's APIs (EC P-256 wherever the key type does not matter: fast).
 * Included by each src/pki/test_*.c; everything here is static inline. */
#ifndef SEALPOST_TEST_PKI_UTIL_H
#define SEALPOST_TEST_PKI_UTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "lib/fsutil.h"
#include "pki/pki_private.h"

#define T_PASS "s3cret pass"

static inline EVP_PKEY *t_ec_key(void)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(key);
	return key;
}

static inline EVP_PKEY *t_rsa_key(size_t bits)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
	assert_non_null(key);
	return key;
}

static inline void t_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_true(X509_add_ext(cert, ext, -1));
	X509_EXTENSION_free(ext);
}

/* A certificate for key named cn, valid from now + from_days for days,
 * signed by issuer/issuer_key (NULL: self-signed). san may be NULL. */
static inline X509 *t_cert(EVP_PKEY *key, const char *cn, bool ca,
			   X509 *issuer, EVP_PKEY *issuer_key, long from_days,
			   long days, const char *san)
{
	static long serial = 1;
	X509 *cert = X509_new();
	X509_NAME *name = X509_NAME_new();

	assert_true(X509_set_version(cert, X509_VERSION_3));
	ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(cert, name);
	X509_set_issuer_name(cert, issuer != NULL ?
			     X509_get_subject_name(issuer) : name);
	X509_NAME_free(name);
	X509_time_adj_ex(X509_getm_notBefore(cert), (int)from_days, 0, NULL);
	X509_time_adj_ex(X509_getm_notAfter(cert), (int)(from_days + days), 0, NULL);
	X509_set_pubkey(cert, key);
	t_ext(cert, NULL, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
	t_ext(cert, NULL, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" :
	      "critical,digitalSignature,keyEncipherment");
	if (!ca)
		t_ext(cert, NULL, NID_ext_key_usage, "serverAuth");
	t_ext(cert, NULL, NID_subject_key_identifier, "hash");
	t_ext(cert, issuer != NULL ? issuer : cert, NID_authority_key_identifier,
	      "keyid");
	if (san != NULL)
		t_ext(cert, NULL, NID_subject_alt_name, san);
	assert_true(X509_sign(cert, issuer_key != NULL ? issuer_key : key,
			      EVP_sha256()) > 0);
	return cert;
}

/* A root, an intermediate and an EC leaf for mail.example.test. */
struct t_chain {
	EVP_PKEY *root_key, *int_key, *leaf_key;
	X509 *root, *inter, *leaf;
};

static inline void t_chain_make(struct t_chain *c)
{
	c->root_key = t_ec_key();
	c->int_key = t_ec_key();
	c->leaf_key = t_ec_key();
	c->root = t_cert(c->root_key, "Test Root", true, NULL, NULL, -1, 3650, NULL);
	c->inter = t_cert(c->int_key, "Test Intermediate", true, c->root,
			  c->root_key, -1, 1000, NULL);
	c->leaf = t_cert(c->leaf_key, "mail.example.test", false, c->inter,
			 c->int_key, -1, 365,
			 "DNS:mail.example.test,DNS:*.example.test,IP:192.0.2.1");
}

static inline void t_chain_free(struct t_chain *c)
{
	EVP_PKEY_free(c->root_key);
	EVP_PKEY_free(c->int_key);
	EVP_PKEY_free(c->leaf_key);
	X509_free(c->root);
	X509_free(c->inter);
	X509_free(c->leaf);
}

/* ---- encodings into a struct buf ------------------------------------- */

static inline void t_bio_to_buf(BIO *bio, struct buf *out)
{
	char *data;
	long len = BIO_get_mem_data(bio, &data);
	buf_append(out, data, (size_t)len);
	BIO_free(bio);
}

static inline void t_pem_cert(struct buf *out, X509 *cert)
{
	BIO *bio = BIO_new(BIO_s_mem());
	assert_true(PEM_write_bio_X509(bio, cert));
	t_bio_to_buf(bio, out);
}

enum t_key_format {
	T_PKCS8,          /* PEM "PRIVATE KEY" */
	T_TRADITIONAL,    /* PEM "RSA PRIVATE KEY" / "EC PRIVATE KEY" */
	T_PKCS8_ENC,      /* PEM "ENCRYPTED PRIVATE KEY" */
	T_LEGACY_ENC,     /* traditional with Proc-Type/DEK-Info */
	T_DER_PKCS8,
	T_DER_TRADITIONAL,
	T_DER_PKCS8_ENC,
};

static inline void t_key(struct buf *out, EVP_PKEY *key, enum t_key_format f)
{
	BIO *bio = BIO_new(BIO_s_mem());
	const EVP_CIPHER *aes = EVP_aes_256_cbc();
	int ok = 0;

	switch (f) {
	case T_PKCS8:
		ok = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
		break;
	case T_TRADITIONAL:
		ok = PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL, 0,
							  NULL, NULL);
		break;
	case T_PKCS8_ENC:
		ok = PEM_write_bio_PKCS8PrivateKey(bio, key, aes, NULL, 0, NULL,
						   (void *)T_PASS);
		break;
	case T_LEGACY_ENC:
		ok = PEM_write_bio_PrivateKey_traditional(bio, key, aes, NULL, 0,
							  NULL, (void *)T_PASS);
		break;
	case T_DER_PKCS8:
		ok = i2d_PKCS8PrivateKey_bio(bio, key, NULL, NULL, 0, NULL, NULL);
		break;
	case T_DER_TRADITIONAL:
		ok = i2d_PrivateKey_bio(bio, key);
		break;
	case T_DER_PKCS8_ENC:
		ok = i2d_PKCS8PrivateKey_bio(bio, key, aes, NULL, 0, NULL,
					     (void *)T_PASS);
		break;
	}
	assert_true(ok);
	t_bio_to_buf(bio, out);
}

static inline void t_der_cert(struct buf *out, X509 *cert)
{
	unsigned char *der = NULL;
	int len = i2d_X509(cert, &der);
	assert_true(len > 0);
	buf_append(out, der, (size_t)len);
	OPENSSL_free(der);
}

/* PKCS#12 of key + cert + ca (may be NULL) protected by pass (NULL: none). */
static inline void t_p12(struct buf *out, EVP_PKEY *key, X509 *cert,
			 STACK_OF(X509) *ca, const char *pass)
{
	PKCS12 *p12 = PKCS12_create(pass, "test", key, cert, ca, 0, 0, 0, 0, 0);
	unsigned char *der = NULL;
	int len;

	assert_non_null(p12);
	len = i2d_PKCS12(p12, &der);
	assert_true(len > 0);
	buf_append(out, der, (size_t)len);
	OPENSSL_free(der);
	PKCS12_free(p12);
}

static inline void t_p7(struct buf *out, X509 *a, X509 *b)
{
	PKCS7 *p7 = PKCS7_new();
	unsigned char *der = NULL;
	int len;

	assert_true(PKCS7_set_type(p7, NID_pkcs7_signed));
	assert_true(PKCS7_content_new(p7, NID_pkcs7_data));
	assert_true(PKCS7_add_certificate(p7, a));
	assert_true(PKCS7_add_certificate(p7, b));
	len = i2d_PKCS7(p7, &der);
	assert_true(len > 0);
	buf_append(out, der, (size_t)len);
	OPENSSL_free(der);
	PKCS7_free(p7);
}

/* ---- files ----------------------------------------------------------- */

/* A new empty folder under /tmp (new string). */
static inline char *t_tmpdir(void)
{
	char tmpl[] = "/tmp/sealpost-pki-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static inline char *t_write(const char *dir, const char *name,
			    const void *data, size_t len)
{
	char *path = fs_join(dir, name);
	/* 0600 like the store writes (a key others may read is refused). */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static inline void t_rmdir(char **dir)
{
	char *cmd = xasprintf("rm -rf '%s'", *dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	x_free(dir);
}

/* Parse data with every option on: certs, keys, the test passphrase. */
static inline int t_parse(const void *data, size_t len, const char *pass,
			  struct pki_bundle *b, const char **error_r)
{
	struct pki_parse_opts opts = {
		.want_certs = true, .want_keys = true, .passphrase = pass,
		.passphrase_path = "pass.txt",
	};
	int ret = pki_bundle_parse("in.pem", data, len, &opts, b, error_r);
	if (ret < 0)
		pki_bundle_free(b);
	return ret;
}

/* ---- pairs and findings ---------------------------------------------- */

/* A pair named name of leaf, key and up to two chain certificates (each
 * may be NULL), with the paths of certs/NAME.crt and .key. */
static inline struct pki_pair *t_pair(const char *name, X509 *leaf,
				      EVP_PKEY *key, X509 *c1, X509 *c2)
{
	struct pki_pair *pair = pki_pair_new(name);

	X509_up_ref(leaf);
	EVP_PKEY_up_ref(key);
	pair->cert = leaf;
	pair->key = key;
	if (c1 != NULL && X509_up_ref(c1))
		sk_X509_push(pair->chain, c1);
	if (c2 != NULL && X509_up_ref(c2))
		sk_X509_push(pair->chain, c2);
	pair->crt_path = xasprintf("certs/%s.crt", name);
	pair->key_path = xasprintf("certs/%s.key", name);
	return pair;
}

#define T_MAX_FINDINGS 24

/* What a pki_finding_fn reported, in order. */
struct t_findings {
	size_t n;
	enum pki_severity severity[T_MAX_FINDINGS];
	enum pki_expiry expiry[T_MAX_FINDINGS];
	char tag[T_MAX_FINDINGS][32];
	char file[T_MAX_FINDINGS][128];
	char text[T_MAX_FINDINGS][768];
};

static inline void t_collect(const struct pki_finding *f, void *context)
{
	struct t_findings *fs = context;

	assert_true(fs->n < T_MAX_FINDINGS);
	assert_non_null(f->file);
	fs->severity[fs->n] = f->severity;
	fs->expiry[fs->n] = f->expiry;
	strlcpy_sp(fs->tag[fs->n], f->tag, sizeof(fs->tag[0]));
	strlcpy_sp(fs->file[fs->n], f->file, sizeof(fs->file[0]));
	strlcpy_sp(fs->text[fs->n], f->text, sizeof(fs->text[0]));
	fs->n++;
}

/* The text of the first finding of severity sev tagged tag, or NULL. */
static inline const char *t_find(const struct t_findings *fs,
				 enum pki_severity sev, const char *tag)
{
	for (size_t i = 0; i < fs->n; i++) {
		if (fs->severity[i] == sev && strcmp(fs->tag[i], tag) == 0)
			return fs->text[i];
	}
	return NULL;
}

/* How many findings have severity sev. */
static inline size_t t_count(const struct t_findings *fs, enum pki_severity sev)
{
	size_t n = 0;
	for (size_t i = 0; i < fs->n; i++)
		n += fs->severity[i] == sev;
	return n;
}

#endif
