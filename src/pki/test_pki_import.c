/* test_pki_import.c — every input format, key/cert matching, leaf
 * selection and chain ordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pki/test_pki_util.h"

static struct t_chain ch;
static EVP_PKEY *rsa_key;
static X509 *rsa_leaf;

static int setup(void **state)
{
	t_chain_make(&ch);
	rsa_key = t_rsa_key(2048);
	rsa_leaf = t_cert(rsa_key, "rsa.example.test", false, ch.inter, ch.int_key,
			  -1, 365, "DNS:rsa.example.test");
	return 0;
}

static int teardown(void **state)
{
	t_chain_free(&ch);
	EVP_PKEY_free(rsa_key);
	X509_free(rsa_leaf);
	return 0;
}

/* Parse b's bytes expecting n certificates and (when key) that key. */
static void expect_parse(struct buf *in, const char *pass, int n_certs,
			 EVP_PKEY *key)
{
	struct pki_bundle b;
	const char *error = NULL;

	if (t_parse(in->data, in->len, pass, &b, &error) < 0)
		fail_msg("parse failed: %s", error);
	assert_int_equal(sk_X509_num(b.certs), n_certs);
	if (key != NULL) {
		assert_int_equal(b.n_keys, 1);
		assert_int_equal(EVP_PKEY_eq(b.key, key), 1);
	} else {
		assert_int_equal(b.n_keys, 0);
	}
	pki_bundle_free(&b);
}

/* Parse expecting an error containing text. */
static void expect_error(struct buf *in, const char *pass, const char *text)
{
	struct pki_bundle b;
	const char *error = NULL;

	assert_int_equal(t_parse(in->data, in->len, pass, &b, &error), -1);
	if (strstr(error, text) == NULL)
		fail_msg("error '%s' lacks '%s'", error, text);
	assert_true(strncmp(error, "in.pem: ", 8) == 0);
}

static void test_pem_certs_and_plain_keys(void **state)
{
	struct buf in = { 0 };

	t_pem_cert(&in, ch.leaf);
	expect_parse(&in, NULL, 1, NULL);
	t_pem_cert(&in, ch.inter);
	expect_parse(&in, NULL, 2, NULL);
	buf_free(&in);
	for (enum t_key_format f = T_PKCS8; f <= T_TRADITIONAL; f++) {
		t_key(&in, ch.leaf_key, f);
		expect_parse(&in, NULL, 0, ch.leaf_key);
		buf_free(&in);
		t_key(&in, rsa_key, f);
		expect_parse(&in, NULL, 0, rsa_key);
		buf_free(&in);
	}
}

static void test_der(void **state)
{
	struct buf in = { 0 };
	const enum t_key_format formats[] = { T_DER_PKCS8, T_DER_TRADITIONAL };

	t_der_cert(&in, rsa_leaf);
	expect_parse(&in, NULL, 1, NULL);
	buf_free(&in);
	for (size_t i = 0; i < N_ELEMENTS(formats); i++) {
		t_key(&in, rsa_key, formats[i]);
		expect_parse(&in, NULL, 0, rsa_key);
		buf_free(&in);
		t_key(&in, ch.leaf_key, formats[i]);
		expect_parse(&in, NULL, 0, ch.leaf_key);
		buf_free(&in);
	}
	t_key(&in, ch.leaf_key, T_DER_PKCS8_ENC);
	expect_parse(&in, T_PASS, 0, ch.leaf_key);
	expect_error(&in, NULL, "private key is encrypted (expected its passphrase "
		     "in --passphrase-file FILE)");
	expect_error(&in, "wrong", "wrong passphrase (from pass.txt)");
	buf_free(&in);
}

static void test_encrypted_pem(void **state)
{
	const enum t_key_format formats[] = { T_PKCS8_ENC, T_LEGACY_ENC };
	EVP_PKEY *keys[] = { rsa_key, ch.leaf_key };
	struct buf in = { 0 };

	for (size_t i = 0; i < N_ELEMENTS(formats); i++) {
		for (size_t k = 0; k < N_ELEMENTS(keys); k++) {
			t_key(&in, keys[k], formats[i]);
			expect_parse(&in, T_PASS, 0, keys[k]);
			expect_error(&in, NULL, "private key is encrypted");
			expect_error(&in, "not it", "wrong passphrase");
			buf_free(&in);
		}
	}
}

static void test_pkcs12(void **state)
{
	STACK_OF(X509) *ca = sk_X509_new_null();
	struct buf in = { 0 };
	struct pki_bundle b;
	const char *error;

	sk_X509_push(ca, ch.inter);
	sk_X509_push(ca, ch.root);
	t_p12(&in, ch.leaf_key, ch.leaf, ca, T_PASS);
	assert_int_equal(t_parse(in.data, in.len, T_PASS, &b, &error), 0);
	assert_int_equal(sk_X509_num(b.certs), 3);
	assert_int_equal(X509_cmp(sk_X509_value(b.certs, 0), ch.leaf), 0);
	assert_int_equal(EVP_PKEY_eq(b.key, ch.leaf_key), 1);
	pki_bundle_free(&b);
	expect_error(&in, NULL, "the PKCS#12 file is protected by a passphrase "
		     "(expected --passphrase-file FILE)");
	expect_error(&in, "wrong", "wrong passphrase");
	buf_free(&in);
	/* Without a passphrase at all. */
	t_p12(&in, rsa_key, rsa_leaf, NULL, NULL);
	expect_parse(&in, NULL, 1, rsa_key);
	buf_free(&in);
	sk_X509_free(ca);
}

/* No MAC, nothing encrypted (`openssl pkcs12 -export -nomac -keypbe NONE
 * -certpbe NONE`): a passphrase given anyway is not held against the file
 * (it was: "cannot decode the PKCS#12 file: mac verify failure"; found by
 * the fuzz_pki_parse seeds). */
static void test_pkcs12_unprotected(void **state)
{
	PKCS12 *p12 = PKCS12_create(NULL, "test", ch.leaf_key, ch.leaf, NULL,
				    -1, -1, 0, -1, 0);
	unsigned char *der = NULL;
	struct buf in = { 0 };
	int len;

	assert_non_null(p12);
	assert_false(PKCS12_mac_present(p12));
	len = i2d_PKCS12(p12, &der);
	assert_true(len > 0);
	buf_append(&in, der, (size_t)len);
	expect_parse(&in, NULL, 1, ch.leaf_key);
	expect_parse(&in, T_PASS, 1, ch.leaf_key);
	OPENSSL_free(der);
	PKCS12_free(p12);
	buf_free(&in);
}

static void test_pkcs7(void **state)
{
	struct buf in = { 0 };
	BIO *bio = BIO_new(BIO_s_mem());

	t_p7(&in, ch.leaf, ch.inter);
	expect_parse(&in, NULL, 2, NULL);
	/* The same as PEM "PKCS7". */
	PEM_write_bio(bio, "PKCS7", NULL, (unsigned char *)in.data, (long)in.len);
	buf_free(&in);
	t_bio_to_buf(bio, &in);
	expect_parse(&in, NULL, 2, NULL);
	buf_free(&in);
}

/* BOM, CRLF, blank lines, "Bag Attributes" and other text between blocks,
 * key in the middle. */
static void test_tolerant_pem(void **state)
{
	struct buf pem = { 0 }, in = { 0 };

	buf_append(&in, "\xef\xbb\xbf", 3);
	buf_printf(&in, "Bag Attributes\r\n    localKeyID: 01 02 03\r\n"
		   "subject=CN = mail.example.test\r\n\r\n");
	t_pem_cert(&pem, ch.leaf);
	t_key(&pem, ch.leaf_key, T_TRADITIONAL);
	buf_printf(&pem, "\n\nKey Attributes: <No Attributes>\n\n");
	t_pem_cert(&pem, ch.inter);
	for (size_t i = 0; i < pem.len; i++) {
		if (pem.data[i] == '\n')
			buf_append(&in, "\r\n", 2);
		else
			buf_append(&in, &pem.data[i], 1);
	}
	buf_printf(&in, "\r\n-- \r\nsignature\r\n");
	expect_parse(&in, NULL, 2, ch.leaf_key);
	buf_free(&pem);
	buf_free(&in);
	/* Blank lines and trailing blanks inside blocks, old Mac CR line ends,
	 * and an encrypted legacy key whose header gap is doubled. */
	t_pem_cert(&pem, ch.leaf);
	t_key(&pem, ch.leaf_key, T_LEGACY_ENC);
	for (size_t i = 0; i < pem.len; i++) {
		if (pem.data[i] == '\n')
			buf_append(&in, i % 3 == 0 ? "  \r\r" : " \r", i % 3 == 0 ? 4 : 2);
		else
			buf_append(&in, &pem.data[i], 1);
	}
	expect_parse(&in, T_PASS, 1, ch.leaf_key);
	buf_free(&pem);
	buf_free(&in);
}

static void test_bad_input(void **state)
{
	struct buf in = { 0 }, cert = { 0 };
	unsigned char junk[300];

	expect_error(&in, NULL, "the file is empty");
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 37 + 11);
	buf_append(&in, junk, sizeof(junk));
	expect_error(&in, NULL, "unrecognised or truncated data");
	buf_free(&in);
	/* Truncated PEM: no END line. */
	t_pem_cert(&cert, ch.leaf);
	buf_append(&in, cert.data, cert.len / 2);
	expect_error(&in, NULL, "PEM block 1 is truncated or corrupt");
	buf_free(&in);
	/* Intact armour, corrupt content. */
	buf_printf(&in, "-----BEGIN CERTIFICATE-----\nTUlJQmFk\n"
		   "-----END CERTIFICATE-----\n");
	expect_error(&in, NULL, "PEM block 1 (CERTIFICATE) is corrupt");
	buf_free(&in);
	/* Truncated DER. */
	t_der_cert(&in, ch.leaf);
	in.len -= 20;
	expect_error(&in, NULL, "unrecognised or truncated data");
	buf_free(&in);
	buf_printf(&in, "-----BEGIN DSA PRIVATE KEY-----\nTUlJQmFk\n"
		   "-----END DSA PRIVATE KEY-----\n");
	expect_error(&in, NULL, "unsupported key type DSA (supported: RSA");
	buf_free(&in);
	/* The label is the file's text: control bytes do not reach the
	 * terminal (found by fuzz_pki_parse). */
	buf_printf(&in, "-----BEGIN \x1b[2J\x7f PRIVATE KEY-----\nTUlJQmFk\n"
		   "-----END \x1b[2J\x7f PRIVATE KEY-----\n");
	expect_error(&in, NULL, "unsupported key block '?[2J? PRIVATE KEY' (supported");
	buf_free(&in);
	buf_free(&cert);
}

static void test_key_match_and_support(void **state)
{
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *small = t_rsa_key(1024);
	const char *error;

	assert_true(pki_key_matches(ch.leaf_key, ch.leaf));
	assert_false(pki_key_matches(ch.int_key, ch.leaf));
	assert_false(pki_key_matches(rsa_key, ch.leaf));
	assert_true(pki_key_matches(rsa_key, rsa_leaf));
	assert_int_equal(pki_key_supported(rsa_key, &error), 0);
	assert_int_equal(pki_key_supported(ch.leaf_key, &error), 0);
	assert_string_equal(pki_key_describe(rsa_key), "RSA 2048");
	assert_string_equal(pki_key_describe(ch.leaf_key), "ECDSA P-256");
	assert_int_equal(pki_key_supported(ed, &error), -1);
	assert_string_equal(error, "unsupported key type ED25519 (supported: RSA "
			    "of 2048 bits or more, ECDSA P-256, P-384, P-521)");
	assert_int_equal(pki_key_supported(small, &error), -1);
	assert_non_null(strstr(error, "RSA key of 1024 bits is too small"));
	EVP_PKEY_free(ed);
	EVP_PKEY_free(small);
}

static bool chain_is(STACK_OF(X509) *chain, X509 *a, X509 *b)
{
	int n = (a != NULL) + (b != NULL);
	return sk_X509_num(chain) == n &&
		(a == NULL || X509_cmp(sk_X509_value(chain, 0), a) == 0) &&
		(b == NULL || X509_cmp(sk_X509_value(chain, 1), b) == 0);
}

static void test_chain_order(void **state)
{
	EVP_PKEY *k2 = t_ec_key(), *ko = t_ec_key();
	X509 *int2 = t_cert(k2, "Second Intermediate", true, ch.inter, ch.int_key,
			    -1, 900, NULL);
	X509 *leaf2 = t_cert(ch.leaf_key, "deep.example.test", false, int2, k2,
			     -1, 300, NULL);
	X509 *other = t_cert(ko, "Unrelated", true, NULL, NULL, -1, 30, NULL);
	STACK_OF(X509) *pool = sk_X509_new_null(), *chain, *unused;
	X509 *root;

	/* Out of order: root, other, int1, leaf, int2. */
	sk_X509_push(pool, ch.root);
	sk_X509_push(pool, other);
	sk_X509_push(pool, ch.inter);
	sk_X509_push(pool, leaf2);
	sk_X509_push(pool, int2);
	pki_chain_build(leaf2, pool, &chain, &root, &unused);
	assert_true(chain_is(chain, int2, ch.inter));
	assert_ptr_equal(root, ch.root);
	assert_int_equal(sk_X509_num(unused), 1);
	assert_int_equal(X509_cmp(sk_X509_value(unused, 0), other), 0);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(unused, X509_free);
	/* A gap: the leaf's issuer is missing, the rest is unused. */
	sk_X509_delete(pool, 4);
	pki_chain_build(leaf2, pool, &chain, &root, &unused);
	assert_true(chain_is(chain, NULL, NULL));
	assert_null(root);
	assert_int_equal(sk_X509_num(unused), 3);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(unused, X509_free);
	/* A self-signed leaf has no chain. */
	pki_chain_build(ch.root, pool, &chain, &root, &unused);
	assert_int_equal(sk_X509_num(chain), 0);
	assert_null(root);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(unused, X509_free);
	sk_X509_free(pool);
	X509_free(int2);
	X509_free(leaf2);
	X509_free(other);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(ko);
}

/* pki_import() on files: leaf found by key, chain before leaf, root left
 * out with a warning, mismatches named. */
static void test_import_files(void **state)
{
	char *dir = t_tmpdir(), *bundle, *keyfile, *combined, **warnings;
	struct buf b1 = { 0 }, b2 = { 0 }, b3 = { 0 };
	struct pki_import_input in = { 0 };
	struct pki_pair *pair;
	const char *error;

	t_pem_cert(&b1, ch.root);       /* chain before leaf, root first */
	t_pem_cert(&b1, ch.inter);
	t_pem_cert(&b1, ch.leaf);
	bundle = t_write(dir, "bundle.pem", b1.data, b1.len);
	t_key(&b2, ch.leaf_key, T_PKCS8);
	keyfile = t_write(dir, "leaf.key", b2.data, b2.len);
	t_pem_cert(&b3, ch.inter);       /* key in the middle */
	t_key(&b3, ch.leaf_key, T_TRADITIONAL);
	t_pem_cert(&b3, ch.leaf);
	combined = t_write(dir, "combined.pem", b3.data, b3.len);

	in = (struct pki_import_input){ .cert_path = bundle, .key_path = keyfile };
	assert_int_equal(pki_import(&in, &pair, &warnings, &error), 0);
	assert_int_equal(X509_cmp(pair->cert, ch.leaf), 0);
	assert_true(chain_is(pair->chain, ch.inter, NULL));
	assert_int_equal(strv_len(warnings), 1);
	assert_non_null(strstr(warnings[0], "self-signed root 'CN=Test Root' left out"));
	pki_pair_free(&pair);
	strv_free(&warnings);

	in = (struct pki_import_input){ .cert_path = combined };
	assert_int_equal(pki_import(&in, &pair, &warnings, &error), 0);
	assert_int_equal(X509_cmp(pair->cert, ch.leaf), 0);
	assert_true(chain_is(pair->chain, ch.inter, NULL));
	assert_int_equal(strv_len(warnings), 0);
	pki_pair_free(&pair);
	strv_free(&warnings);

	/* The key matches none of the certificates. */
	in = (struct pki_import_input){ .cert_path = bundle, .key_path = combined };
	in.cert_path = keyfile;
	assert_int_equal(pki_import(&in, &pair, &warnings, &error), -1);
	assert_string_equal(error, errfmt("%s: no certificate found (expected a "
					  "PEM or DER certificate, PKCS#7 or "
					  "PKCS#12)", keyfile));
	buf_free(&b2);
	t_key(&b2, rsa_key, T_PKCS8);
	free(keyfile);
	keyfile = t_write(dir, "other.key", b2.data, b2.len);
	in = (struct pki_import_input){ .cert_path = bundle, .key_path = keyfile };
	assert_int_equal(pki_import(&in, &pair, &warnings, &error), -1);
	assert_string_equal(error, errfmt("%s: key matches none of the 3 "
					  "certificates in %s", keyfile, bundle));
	in = (struct pki_import_input){ .cert_path = bundle };
	assert_int_equal(pki_import(&in, &pair, &warnings, &error), -1);
	assert_string_equal(error, errfmt("%s: no private key found (expected "
					  "one in this file, or --key KEYFILE)",
					  bundle));
	buf_free(&b1);
	buf_free(&b2);
	buf_free(&b3);
	free(bundle);
	free(keyfile);
	free(combined);
	t_rmdir(&dir);
}

static void test_default_name(void **state)
{
	const char *error;
	char *name;

	name = pki_import_default_name("/x/bobscert.crt", &error);
	assert_string_equal(name, "bobscert");
	free(name);
	name = pki_import_default_name("mail.example.com.PEM", &error);
	assert_string_equal(name, "mail.example.com");
	free(name);
	name = pki_import_default_name("mail.example.com", &error);
	assert_string_equal(name, "mail.example.com");
	free(name);
	assert_null(pki_import_default_name("dir/my cert.p12", &error));
	assert_non_null(strstr(error, "'my cert' cannot be a certificate name"));
	assert_null(pki_import_default_name(".crt", &error));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pem_certs_and_plain_keys),
		cmocka_unit_test(test_der),
		cmocka_unit_test(test_encrypted_pem),
		cmocka_unit_test(test_pkcs12),
		cmocka_unit_test(test_pkcs12_unprotected),
		cmocka_unit_test(test_pkcs7),
		cmocka_unit_test(test_tolerant_pem),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_key_match_and_support),
		cmocka_unit_test(test_chain_order),
		cmocka_unit_test(test_import_files),
		cmocka_unit_test(test_default_name),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
