/* test_pki_cert.c — `cert create` input validation, the CSR and the
 * self-signed certificate, key generation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/bn.h>

#include "pki/test_pki_util.h"

static void test_validation(void **state)
{
	struct pki_cert_request req = { .cn = "mail.example.com", .days = 365 };
	const char *error;
	char *san;

	assert_int_equal(pki_check_cn("mail.example.com", &error), 0);
	assert_int_equal(pki_check_cn("*.example.com", &error), 0);
	assert_int_equal(pki_check_cn("192.0.2.1", &error), 0);
	assert_int_equal(pki_check_cn("localhost", &error), 0);
	assert_int_equal(pki_check_cn("*.com", &error), -1);
	assert_int_equal(pki_check_cn("mail_x.example.com", &error), -1);
	assert_int_equal(pki_check_cn("-a.example.com", &error), -1);
	assert_int_equal(pki_check_cn("a..example.com", &error), -1);
	assert_int_equal(pki_check_cn("mail example", &error), -1);
	assert_non_null(strstr(error, "cn 'mail example': expected a host name"));

	assert_int_equal(pki_parse_san("dns:Mail.Example.com", &san, &error), 0);
	assert_string_equal(san, "DNS:mail.example.com");
	free(san);
	assert_int_equal(pki_parse_san("IP:2001:db8::1", &san, &error), 0);
	assert_string_equal(san, "IP:2001:db8::1");
	free(san);
	assert_int_equal(pki_parse_san("email:postmaster@example.com", &san, &error), 0);
	free(san);
	assert_int_equal(pki_parse_san("URI:https://x", &san, &error), -1);
	assert_string_equal(error, "san 'URI:https://x': expected DNS:HOST (or "
			    "DNS:*.DOMAIN), IP:ADDRESS or email:ADDRESS");
	assert_int_equal(pki_parse_san("mail.example.com", &san, &error), -1);
	assert_int_equal(pki_parse_san("IP:300.1.1.1", &san, &error), -1);
	assert_int_equal(pki_parse_san("DNS:", &san, &error), -1);
	assert_int_equal(pki_parse_san("email:nobody", &san, &error), -1);

	assert_int_equal(pki_check_request(&req, &error), 0);
	req.country = "de";
	assert_int_equal(pki_check_request(&req, &error), 0);
	req.country = "DEU";
	assert_int_equal(pki_check_request(&req, &error), -1);
	assert_non_null(strstr(error, "country 'DEU': expected exactly 2 letters"));
	req.country = "D1";
	assert_int_equal(pki_check_request(&req, &error), -1);
	req.country = NULL;
	req.org = "Ä very long organisation name that goes on and on and on and on, past sixty-four characters";
	assert_int_equal(pki_check_request(&req, &error), -1);
	req.org = "Line\nbreak";
	assert_int_equal(pki_check_request(&req, &error), -1);
	req.org = "Bäckerei Müller GmbH";
	assert_int_equal(pki_check_request(&req, &error), 0);
	req.email = "not an address";
	assert_int_equal(pki_check_request(&req, &error), -1);
	req.email = NULL;
	req.days = 0;
	assert_int_equal(pki_check_request(&req, &error), -1);
	req.days = PKI_DAYS_MAX + 1;
	assert_int_equal(pki_check_request(&req, &error), -1);
}

static bool has_ext_value(X509 *cert, int nid, const char *text)
{
	int idx = X509_get_ext_by_NID(cert, nid, -1);
	X509_EXTENSION *ext = idx >= 0 ? X509_get_ext(cert, idx) : NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	struct buf b = { 0 };
	bool found;

	if (ext == NULL)
		return false;
	X509V3_EXT_print(bio, ext, 0, 0);
	t_bio_to_buf(bio, &b);
	found = b.data != NULL && strstr(b.data, text) != NULL;
	buf_free(&b);
	return found;
}

static void test_create(void **state)
{
	char *sans[] = { "DNS:imap.example.com", "DNS:mail.example.com",
			 "IP:192.0.2.7", NULL };
	struct pki_cert_request req = {
		.cn = "mail.example.com", .org = "Example", .country = "de",
		.email = "postmaster@example.com", .sans = sans, .days = 30,
	};
	EVP_PKEY *key = t_ec_key();
	X509_REQ *csr, *csr2;
	X509 *cert, *cert2;
	BIGNUM *s1, *s2;
	const char *error;
	char *text;

	assert_int_equal(pki_cert_create(key, &req, &csr, &cert, &error), 0);
	assert_int_equal(X509_get_version(cert), X509_VERSION_3);
	assert_int_equal(X509_verify(cert, key), 1);
	assert_int_equal(X509_REQ_verify(csr, key), 1);
	assert_true(pki_cert_self_signed(cert));
	assert_int_equal(X509_get_signature_nid(cert), NID_ecdsa_with_SHA256);
	text = pki_name_oneline(X509_get_subject_name(cert));
	assert_string_equal(text, "C=DE, O=Example, CN=mail.example.com, "
			    "emailAddress=postmaster@example.com");
	free(text);
	/* SAN: the CN first, duplicates dropped. */
	text = pki_cert_sans(cert);
	assert_string_equal(text, "DNS:mail.example.com, DNS:imap.example.com, "
			    "IP:192.0.2.7");
	free(text);
	assert_true(has_ext_value(cert, NID_basic_constraints, "CA:FALSE"));
	assert_true(has_ext_value(cert, NID_key_usage, "Digital Signature"));
	assert_true(has_ext_value(cert, NID_ext_key_usage,
				  "TLS Web Server Authentication"));
	assert_int_equal(X509_get_ext_by_NID(cert, NID_subject_key_identifier, -1) >= 0, 1);
	assert_int_equal(X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0), 1);
	assert_int_equal(pki_days_until(X509_get0_notAfter(cert), time(NULL)), 30);
	/* The CSR asks for the same names. */
	{
		STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
		assert_int_equal(sk_X509_EXTENSION_num(exts), 1);
		assert_int_equal(OBJ_obj2nid(X509_EXTENSION_get_object(
			sk_X509_EXTENSION_value(exts, 0))), NID_subject_alt_name);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
		assert_int_equal(X509_NAME_cmp(X509_REQ_get_subject_name(csr),
					       X509_get_subject_name(cert)), 0);
	}
	/* 128-bit random serials. */
	assert_int_equal(pki_cert_create(key, &req, &csr2, &cert2, &error), 0);
	s1 = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	s2 = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert2), NULL);
	assert_int_equal(BN_num_bits(s1), 128);
	assert_int_equal(BN_num_bits(s2), 128);
	assert_int_not_equal(BN_cmp(s1, s2), 0);
	BN_free(s1);
	BN_free(s2);
	X509_free(cert);
	X509_free(cert2);
	X509_REQ_free(csr);
	X509_REQ_free(csr2);
	EVP_PKEY_free(key);
}

static void count_progress(void *context)
{
	(*(unsigned *)context)++;
}

static void test_generate(void **state)
{
	unsigned calls = 0;
	EVP_PKEY *key;
	const char *error;
	X509_REQ *csr;
	X509 *cert;
	struct pki_cert_request req = { .cn = "10.0.0.1", .days = 1 };

	assert_int_equal(pki_key_generate(PKI_KEY_RSA, 2048, count_progress, &calls,
					  &key, &error), 0);
	assert_string_equal(pki_key_describe(key), "RSA 2048");
	assert_true(calls > 0);
	/* RSA: keyEncipherment too; an IP CN becomes an IP SAN. */
	assert_int_equal(pki_cert_create(key, &req, &csr, &cert, &error), 0);
	assert_true(has_ext_value(cert, NID_key_usage, "Key Encipherment"));
	assert_true(pki_cert_covers_host(cert, "10.0.0.1", NULL));
	assert_int_equal(X509_get_signature_nid(cert), NID_sha256WithRSAEncryption);
	X509_free(cert);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
	assert_int_equal(pki_key_generate(PKI_KEY_ECDSA, 0, NULL, NULL, &key,
					  &error), 0);
	assert_string_equal(pki_key_describe(key), "ECDSA P-256");
	EVP_PKEY_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_generate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
