/* test_pki_dane.c — TLSA data: the SPKI digests against vectors made with
 * `openssl pkey -pubout -outform DER | openssl dgst -sha256`, the issuer
 * used for 2 1 1, the owner name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pki/test_pki_util.h"

/* A P-256 test key and the SHA-256 of its DER SubjectPublicKeyInfo. */
static const char ec_key_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7EeptpV6a9JEvoHz\n"
	"YHXMvNYW9DXL9AOhNT4E93YZgn6hRANCAATHimynkQ80v/ecTh0NRIrrLJhseJta\n"
	"Jo8E333fz35kbECkAC3m1V01N1pFHnWjXWySSpBkZj0AwNMATFIcZtoe\n"
	"-----END PRIVATE KEY-----\n";
static const char ec_spki_sha256[] =
	"b8e7bf97180cae17caa5e2d077c5bd6d36a78b7e8195348d3dddb2ebd1db9712";
/* An RSA 2048 public key and its digest. */
static const char rsa_pub_pem[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA73cR7mmSx0dRRNG3Y6HB\n"
	"qioQh/la+rqEhUUeYEE1A9FnhAd0wQ9Gzac5tN0lHoCU+zdduQeQUcZWKvcS23pp\n"
	"1xGUP1juRC+k1tL/88nSva0jCIahXtCHKUGb6+pZEqvGkL0HqAXf8dTpjRXc+qzL\n"
	"vNCWMSOG6JVCjxQt8zpdUp5tvV3PZXQs9vOlYtiQUFEbPqeBje8fcLjeTXBa+r0Q\n"
	"lUpQR4RAdVgaYTW+S1Z3vnI9ZA5Q3Ts2iXnf30u9dR5yJ5Rc9fbM61rkxAaNG7PM\n"
	"0tETUpTpo8HVVxfy44jpsOho7o0Xi0iFOTnBJgGIjhZvy4K1cNIOtnwylFzJ/3De\n"
	"FQIDAQAB\n"
	"-----END PUBLIC KEY-----\n";
static const char rsa_spki_sha256[] =
	"f9b816688d7a9b750a7e6a62f817d6adb701529de14e58cbcbc84f7cef2bd573";

static void test_spki_digest_vectors(void **state)
{
	BIO *bio = BIO_new_mem_buf(ec_key_pem, -1);
	EVP_PKEY *ec = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	EVP_PKEY *rsa;
	char hex[PKI_SHA256_HEX_LEN + 1];
	const char *error;
	X509 *cert;

	BIO_free(bio);
	assert_non_null(ec);
	bio = BIO_new_mem_buf(rsa_pub_pem, -1);
	rsa = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(rsa);

	assert_int_equal(pki_spki_sha256(ec, hex, &error), 0);
	assert_string_equal(hex, ec_spki_sha256);
	assert_int_equal(pki_spki_sha256(rsa, hex, &error), 0);
	assert_string_equal(hex, rsa_spki_sha256);
	/* A certificate of the key has the same SubjectPublicKeyInfo. */
	cert = t_cert(ec, "dane.example.test", false, NULL, NULL, -1, 30, NULL);
	assert_int_equal(pki_cert_spki_sha256(cert, hex, &error), 0);
	assert_string_equal(hex, ec_spki_sha256);
	X509_free(cert);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
}

static void test_pair_issuer(void **state)
{
	struct t_chain ch;
	struct pki_pair *pair;

	t_chain_make(&ch);
	pair = t_pair("mail", ch.leaf, ch.leaf_key, ch.inter, ch.root);
	assert_ptr_equal(pki_pair_issuer(pair), ch.inter);
	pki_pair_free(&pair);
	/* Out of order: still the certificate that issued the leaf. */
	pair = t_pair("mail", ch.leaf, ch.leaf_key, ch.root, ch.inter);
	assert_ptr_equal(pki_pair_issuer(pair), ch.inter);
	pki_pair_free(&pair);
	/* The issuer is not in the file: no DANE-TA record possible. */
	pair = t_pair("mail", ch.leaf, ch.leaf_key, ch.root, NULL);
	assert_null(pki_pair_issuer(pair));
	pki_pair_free(&pair);
	pair = t_pair("self", ch.root, ch.root_key, NULL, NULL);
	assert_null(pki_pair_issuer(pair));
	pki_pair_free(&pair);
	t_chain_free(&ch);
}

static void test_tlsa_owner(void **state)
{
	char *owner = pki_tlsa_owner("Mail.Example.ORG", 25);

	assert_string_equal(owner, "_25._tcp.mail.example.org.");
	free(owner);
	owner = pki_tlsa_owner("mail.example.org.", 465);
	assert_string_equal(owner, "_465._tcp.mail.example.org.");
	free(owner);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spki_digest_vectors),
		cmocka_unit_test(test_pair_issuer),
		cmocka_unit_test(test_tlsa_owner),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
