/* fuzz_pki_parse.c — `cert import` on arbitrary bytes given as CERTFILE, in
 * every format it reads: PEM with any blocks and text around them (BOM,
 * CRLF), DER certificates, PKCS#7 (DER or PEM), PKCS#12 (also the legacy
 * RC2/3DES kind), private keys as PKCS#8, encrypted PKCS#8, PKCS#1, SEC1 or
 * legacy-encrypted PEM; the passphrase is "fuzz". Seeds for each format:
 * tests/fuzz/corpus/fuzz_pki_parse/ (made with the openssl CLI).
 *
 * Checked beyond "no crash":
 * - a failure is one line "FILE: ..." without control bytes;
 * - what one read finds does not depend on what else it is asked for: when
 *   certificates and keys are read, reading only the certificates (as
 *   `cert import --key` does) or only the keys finds the same ones, and
 *   reading without the passphrase finds the same or fails; a file that
 *   reads without the passphrase reads with it too, unless it shows the
 *   passphrase is wrong;
 * - round trip: the certificates and the key written as PEM (as the certs
 *   folder stores them), with CRLF, a BOM and text around the blocks, read
 *   back to the same certificates in the same order and the same key; the
 *   first certificate as DER reads back to itself;
 * - the whole import (pki_import()): a pair whose key matches its leaf and
 *   is of a supported type, and a chain in which each certificate issued
 *   the one before, none self-signed, all from the file; warnings and the
 *   error are single lines. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pki/pki_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FILE_NAME "fuzz.pem"
#define PASSPHRASE "fuzz"

#define fail(what) do { fprintf(stderr, "fuzz_pki_parse: %s\n", what); abort(); } while (0)

static void check_line(const char *prefix, const char *text)
{
	size_t plen = strlen(prefix);
	if (text == NULL || strncmp(text, prefix, plen) != 0 || text[plen] != ':')
		fail("an error that does not name the file");
	for (const char *c = text; *c != '\0'; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			fprintf(stderr, "text: %s\n", text);
			fail("a control byte in an error or warning");
		}
	}
}

/* Read data with the given wishes; on failure check the error. */
static int parse_error(const uint8_t *data, size_t size, bool certs, bool keys,
		       const char *pass, struct pki_bundle *b, const char **error_r)
{
	struct pki_parse_opts opts = {
		.want_certs = certs, .want_keys = keys,
		.passphrase = pass, .passphrase_path = "pass.txt",
	};

	*error_r = NULL;
	if (pki_bundle_parse(FILE_NAME, data, size, &opts, b, error_r) == 0)
		return 0;
	check_line(FILE_NAME, *error_r);
	pki_bundle_free(b);
	return -1;
}

static int parse(const uint8_t *data, size_t size, bool certs, bool keys,
		 const char *pass, struct pki_bundle *b)
{
	const char *error;
	return parse_error(data, size, certs, keys, pass, b, &error);
}

static bool same_certs(STACK_OF(X509) *a, STACK_OF(X509) *b)
{
	if (sk_X509_num(a) != sk_X509_num(b))
		return false;
	for (int i = 0; i < sk_X509_num(a); i++) {
		if (X509_cmp(sk_X509_value(a, i), sk_X509_value(b, i)) != 0)
			return false;
	}
	return true;
}

static bool same_key(const EVP_PKEY *a, const EVP_PKEY *b)
{
	bool same = (a == NULL && b == NULL) ||
		(a != NULL && b != NULL && EVP_PKEY_eq(a, b) == 1);
	ERR_clear_error();
	return same;
}

/* The inspection `cert show` / `cert check` run on what was found. */
static void inspect(const struct pki_bundle *b)
{
	for (int i = 0; i < sk_X509_num(b->certs); i++) {
		X509 *cert = sk_X509_value(b->certs, i);
		free(pki_cert_sans(cert));
		free(pki_cert_cn(cert));
		free(pki_name_oneline(X509_get_issuer_name(cert)));
		pki_cert_covers_host(cert, "mail.example.com", NULL);
		pki_cert_covers_host(cert, "192.0.2.1", NULL);
		if (b->key != NULL)
			pki_key_matches(b->key, cert);
	}
	if (sk_X509_num(b->certs) > 0) {
		STACK_OF(X509) *chain, *unused;
		X509 *root;
		pki_chain_build(sk_X509_value(b->certs, 0), b->certs, &chain,
				&root, &unused);
		sk_X509_pop_free(chain, X509_free);
		sk_X509_pop_free(unused, X509_free);
	}
}

static void check_options(const uint8_t *data, size_t size,
			  const struct pki_bundle *all)
{
	struct pki_bundle b;

	if (parse(data, size, true, false, PASSPHRASE, &b) < 0 ||
	    !same_certs(all->certs, b.certs) || b.key != NULL)
		fail("reading only the certificates found others");
	pki_bundle_free(&b);
	/* (PKCS#12 hands over its certificates even when none are wanted: the
	 * callers that want only keys ignore them.) */
	if (parse(data, size, false, true, PASSPHRASE, &b) < 0 ||
	    b.n_keys != all->n_keys || !same_key(all->key, b.key))
		fail("reading only the keys found others");
	pki_bundle_free(&b);
	if (parse(data, size, true, true, NULL, &b) == 0 &&
	    (!same_certs(all->certs, b.certs) || b.n_keys != all->n_keys ||
	     !same_key(all->key, b.key)))
		fail("reading without the passphrase found others");
	pki_bundle_free(&b);
}

/* CRLF line ends, a BOM in front. */
static void to_crlf_bom(const struct buf *in, struct buf *out)
{
	buf_append(out, "\xef\xbb\xbf", 3);
	for (size_t i = 0; i < in->len; i++) {
		if (in->data[i] == '\n')
			buf_append(out, "\r", 1);
		buf_append(out, in->data + i, 1);
	}
}

static void check_round_trip(const struct pki_bundle *all)
{
	struct buf pem = { 0 }, crlf = { 0 };
	struct pki_bundle b;
	const char *error;

	if (sk_X509_num(all->certs) == 0 && all->key == NULL)
		return;   /* nothing to write (say, only a request) */
	buf_append(&pem, "Bag Attributes\n    friendlyName: fuzz\n", 38);
	for (int i = 0; i < sk_X509_num(all->certs); i++) {
		if (pki_cert_to_pem(sk_X509_value(all->certs, i), &pem, &error) < 0)
			fail("a certificate read cannot be written as PEM");
	}
	if (all->key != NULL && pki_key_to_pem(all->key, &pem, &error) < 0)
		fail("a key read cannot be written as PEM");
	buf_append(&pem, "trailing text\n", 14);
	to_crlf_bom(&pem, &crlf);
	for (int k = 0; k < 2; k++) {
		const struct buf *t = k == 0 ? &pem : &crlf;
		if (parse((const uint8_t *)t->data, t->len, true, true, NULL, &b) < 0 ||
		    !same_certs(all->certs, b.certs) || !same_key(all->key, b.key) ||
		    b.n_keys != (all->key != NULL))
			fail("the PEM written back reads differently");
		pki_bundle_free(&b);
	}
	buf_free(&pem);
	buf_free(&crlf);

	if (sk_X509_num(all->certs) > 0) {
		X509 *first = sk_X509_value(all->certs, 0);
		unsigned char *der = NULL;
		int len = i2d_X509(first, &der);
		if (len <= 0)
			fail("a certificate read cannot be written as DER");
		if (parse(der, (size_t)len, true, true, NULL, &b) < 0 ||
		    sk_X509_num(b.certs) != 1 ||
		    X509_cmp(sk_X509_value(b.certs, 0), first) != 0)
			fail("the DER written back reads differently");
		pki_bundle_free(&b);
		OPENSSL_free(der);
	}
}

static bool in_stack(STACK_OF(X509) *sk, X509 *cert)
{
	for (int i = 0; i < sk_X509_num(sk); i++) {
		if (X509_cmp(sk_X509_value(sk, i), cert) == 0)
			return true;
	}
	return false;
}

static void check_pair(const struct pki_pair *pair, STACK_OF(X509) *found)
{
	const char *error;
	X509 *prev = pair->cert;

	if (!pki_key_matches(pair->key, pair->cert) ||
	    pki_key_supported(pair->key, &error) < 0 || !in_stack(found, pair->cert))
		fail("the pair's key does not fit its leaf");
	for (int i = 0; i < sk_X509_num(pair->chain); i++) {
		X509 *c = sk_X509_value(pair->chain, i);
		if (X509_check_issued(c, prev) != X509_V_OK ||
		    pki_cert_self_signed(c) || !in_stack(found, c) ||
		    X509_cmp(c, pair->cert) == 0)
			fail("a chain out of order, with a root, or not from the file");
		prev = c;
	}
	ERR_clear_error();
}

/* The whole `cert import FILE` (key in the same file) on a memfd. */
static void check_import(const uint8_t *data, size_t size)
{
	int fd = memfd_create(FILE_NAME, MFD_CLOEXEC);
	char path[64];
	struct pki_pair *pair = NULL;
	char **warnings = NULL;
	const char *error = NULL;
	struct pki_bundle all;

	if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size))
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct pki_import_input in = {
		.cert_path = path, .passphrase = PASSPHRASE,
		.passphrase_path = "pass.txt",
	};
	if (pki_import(&in, &pair, &warnings, &error) < 0) {
		check_line(path, error);
	} else {
		if (parse(data, size, true, true, PASSPHRASE, &all) < 0)
			fail("imported what does not read");
		check_pair(pair, all.certs);
		for (char **w = warnings; *w != NULL; w++)
			check_line(path, *w);
		pki_bundle_free(&all);
		pki_pair_free(&pair);
		strv_free(&warnings);
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pki_bundle all;

	if (size > PKI_FILE_MAX)
		return 0;
	const char *error;
	if (parse_error(data, size, true, true, PASSPHRASE, &all, &error) == 0) {
		inspect(&all);
		check_options(data, size, &all);
		check_round_trip(&all);
		pki_bundle_free(&all);
	} else {
		/* A passphrase the file does not need only fails when the file
		 * shows it is the wrong one. */
		char *with = xstrdup(error);
		if (parse(data, size, true, true, NULL, &all) == 0) {
			if (strstr(with, "wrong passphrase") == NULL) {
				fprintf(stderr, "with the passphrase: %s\n", with);
				fail("reads without a passphrase, not with one");
			}
			pki_bundle_free(&all);
		}
		free(with);
	}
	check_import(data, size);
	return 0;
}
