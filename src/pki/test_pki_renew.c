/* test_pki_renew.c — the expiry schedule (each step once, renewal resets
 * it, the chain's earliest expiry counts) and the validation of a
 * replacement pair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <time.h>

#include "pki/test_pki_util.h"

#define DAY 86400L

static struct t_chain ch;

static int setup(void **state)
{
	t_chain_make(&ch);
	return 0;
}

static int teardown(void **state)
{
	t_chain_free(&ch);
	return 0;
}

/* notAfter of cert as a time_t. */
static time_t not_after(X509 *cert)
{
	struct tm tm;

	assert_true(ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm));
	return timegm(&tm);
}

static void test_expiry_steps(void **state)
{
	static const struct {
		long before;   /* seconds before notAfter; negative: after */
		enum pki_expiry step;
	} cases[] = {
		{ 60 * DAY, PKI_EXPIRY_NONE },
		{ 31 * DAY, PKI_EXPIRY_NONE },
		{ 30 * DAY + 1, PKI_EXPIRY_NONE },   /* 31 days, rounded up */
		{ 30 * DAY, PKI_EXPIRY_30 },
		{ 15 * DAY, PKI_EXPIRY_30 },
		{ 14 * DAY + 1, PKI_EXPIRY_30 },
		{ 14 * DAY, PKI_EXPIRY_14 },
		{ 8 * DAY, PKI_EXPIRY_14 },
		{ 7 * DAY, PKI_EXPIRY_7 },
		{ 3 * DAY + 1, PKI_EXPIRY_7 },
		{ 3 * DAY, PKI_EXPIRY_3 },
		{ 1 * DAY + 1, PKI_EXPIRY_3 },
		{ 1 * DAY, PKI_EXPIRY_1 },
		{ 1, PKI_EXPIRY_1 },
		{ 0, PKI_EXPIRY_EXPIRED },
		{ -5 * DAY, PKI_EXPIRY_EXPIRED },
	};
	time_t end = not_after(ch.leaf);

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		enum pki_expiry got = pki_cert_expiry(ch.leaf, end - cases[i].before);
		if (got != cases[i].step)
			fail_msg("%ld s before expiry: step %d, expected %d",
				 cases[i].before, got, cases[i].step);
	}
	assert_int_equal(pki_expiry_days(PKI_EXPIRY_30), 30);
	assert_int_equal(pki_expiry_days(PKI_EXPIRY_14), 14);
	assert_int_equal(pki_expiry_days(PKI_EXPIRY_7), 7);
	assert_int_equal(pki_expiry_days(PKI_EXPIRY_3), 3);
	assert_int_equal(pki_expiry_days(PKI_EXPIRY_1), 1);
	assert_int_equal(pki_expiry_days(PKI_EXPIRY_NONE), 0);
	assert_int_equal(pki_expiry_days(PKI_EXPIRY_EXPIRED), 0);
}

/* pki_pair_check tags its date findings with the step. */
static void test_check_reports_step(void **state)
{
	struct pki_pair *pair = t_pair("mail", ch.leaf, ch.leaf_key, ch.inter, NULL);
	time_t end = not_after(ch.leaf);
	struct t_findings fs = { 0 };

	pki_pair_check(pair, NULL, end - 10 * DAY, t_collect, &fs);
	assert_non_null(t_find(&fs, PKI_WARNING, "expires soon"));
	for (size_t i = 0; i < fs.n; i++)
		assert_int_equal(fs.expiry[i], strcmp(fs.tag[i], "expires soon") == 0 ?
				 PKI_EXPIRY_14 : PKI_EXPIRY_NONE);
	memset(&fs, 0, sizeof(fs));
	pki_pair_check(pair, NULL, end + DAY, t_collect, &fs);
	assert_non_null(t_find(&fs, PKI_ERROR, "expired"));
	assert_int_equal(fs.expiry[0] + fs.expiry[1] + fs.expiry[2],
			 PKI_EXPIRY_EXPIRED);
	/* 30 days left is the first step: a warning. */
	memset(&fs, 0, sizeof(fs));
	pki_pair_check(pair, NULL, end - 30 * DAY, t_collect, &fs);
	assert_non_null(t_find(&fs, PKI_WARNING, "expires soon"));
	memset(&fs, 0, sizeof(fs));
	pki_pair_check(pair, NULL, end - 31 * DAY, t_collect, &fs);
	assert_null(t_find(&fs, PKI_WARNING, "expires soon"));
	pki_pair_free(&pair);
}

/* Walk the schedule like a server's daily timer would. */
static void test_expiry_due_once_each(void **state)
{
	struct pki_pair *pair = t_pair("mail", ch.leaf, ch.leaf_key, ch.inter, NULL);
	time_t end = not_after(ch.leaf);
	enum pki_expiry logged = PKI_EXPIRY_NONE;
	struct t_findings fs = { 0 };

	assert_false(pki_expiry_due(pair, end - 40 * DAY, &logged, t_collect, &fs));
	assert_true(pki_expiry_due(pair, end - 30 * DAY, &logged, t_collect, &fs));
	assert_int_equal(logged, PKI_EXPIRY_30);
	assert_false(pki_expiry_due(pair, end - 29 * DAY, &logged, t_collect, &fs));
	assert_false(pki_expiry_due(pair, end - 15 * DAY, &logged, t_collect, &fs));
	assert_true(pki_expiry_due(pair, end - 14 * DAY, &logged, t_collect, &fs));
	/* A gap (the server was down): only the step reached is due. */
	assert_true(pki_expiry_due(pair, end - 2 * DAY, &logged, t_collect, &fs));
	assert_int_equal(logged, PKI_EXPIRY_3);
	assert_false(pki_expiry_due(pair, end - 2 * DAY + 60, &logged, t_collect, &fs));
	assert_true(pki_expiry_due(pair, end + 60, &logged, t_collect, &fs));
	assert_false(pki_expiry_due(pair, end + DAY, &logged, t_collect, &fs));
	assert_int_equal(fs.n, 4);
	assert_int_equal(fs.severity[0], PKI_WARNING);
	assert_int_equal(fs.expiry[0], PKI_EXPIRY_30);
	assert_string_equal(fs.file[0], "certs/mail.crt");
	assert_non_null(strstr(fs.text[0], "certificate of pair mail expires on "));
	assert_non_null(strstr(fs.text[0], "(30 days left)"));
	assert_non_null(strstr(fs.text[1], "(14 days left)"));
	assert_non_null(strstr(fs.text[2], "(2 days left)"));
	assert_int_equal(fs.expiry[2], PKI_EXPIRY_3);
	assert_int_equal(fs.severity[3], PKI_ERROR);
	assert_string_equal(fs.tag[3], "expired");
	assert_non_null(strstr(fs.text[3], "certificate of pair mail expired on "));
	/* Renewed (the clock seen from a fresh pair): the schedule restarts. */
	assert_false(pki_expiry_due(pair, end - 100 * DAY, &logged, t_collect, &fs));
	assert_int_equal(logged, PKI_EXPIRY_NONE);
	assert_true(pki_expiry_due(pair, end - 7 * DAY, &logged, t_collect, &fs));
	assert_int_equal(logged, PKI_EXPIRY_7);
	pki_pair_free(&pair);
}

/* An intermediate that expires before the leaf sets the schedule. */
static void test_expiry_of_chain(void **state)
{
	EVP_PKEY *ikey = t_ec_key(), *lkey = t_ec_key();
	X509 *inter = t_cert(ikey, "Short Intermediate", true, ch.root,
			     ch.root_key, -1, 20, NULL);
	X509 *leaf = t_cert(lkey, "mail.example.test", false, inter, ikey, -1, 90,
			    "DNS:mail.example.test");
	struct pki_pair *pair = t_pair("mail", leaf, lkey, inter, NULL);
	enum pki_expiry logged = PKI_EXPIRY_NONE;
	struct t_findings fs = { 0 };
	X509 *first;

	assert_int_equal(pki_pair_expiry(pair, time(NULL), &first), PKI_EXPIRY_30);
	assert_ptr_equal(first, inter);
	assert_int_equal(pki_cert_expiry(leaf, time(NULL)), PKI_EXPIRY_NONE);
	assert_true(pki_expiry_due(pair, time(NULL), &logged, t_collect, &fs));
	assert_non_null(strstr(fs.text[0], "intermediate 'CN=Short Intermediate' "
			       "of pair mail expires on "));
	pki_pair_free(&pair);
	X509_free(inter);
	X509_free(leaf);
	EVP_PKEY_free(ikey);
	EVP_PKEY_free(lkey);
}

/* ---- replacements ---------------------------------------------------- */

static unsigned validate(const struct pki_pair *current,
			 const struct pki_pair *next, struct t_findings *fs)
{
	memset(fs, 0, sizeof(*fs));
	return pki_pair_validate(current, next, time(NULL), t_collect, fs);
}

static void test_validate_renewal(void **state)
{
	struct pki_pair *current = t_pair("mail", ch.leaf, ch.leaf_key, ch.inter, NULL);
	EVP_PKEY *key = t_ec_key();
	X509 *renewed = t_cert(key, "mail.example.test", false, ch.inter, ch.int_key,
			       -1, 400, "DNS:mail.example.test,DNS:*.example.test,"
			       "IP:192.0.2.1,DNS:extra.example.org");
	struct pki_pair *next = t_pair("mail", renewed, key, ch.inter, NULL);
	struct t_findings fs;

	/* A later certificate with a new key, the same names and more. */
	assert_int_equal(validate(current, next, &fs), 0);
	assert_null(t_find(&fs, PKI_WARNING, "name dropped"));
	assert_null(t_find(&fs, PKI_WARNING, "older"));
	assert_non_null(t_find(&fs, PKI_OK, "ok"));
	pki_pair_free(&next);
	/* The other way round: names dropped, and it expires sooner. */
	next = t_pair("mail", renewed, key, ch.inter, NULL);
	assert_int_equal(validate(next, current, &fs), 0);
	assert_string_equal(t_find(&fs, PKI_WARNING, "name dropped"),
			    "the new certificate does not cover extra.example.org, "
			    "which the one it replaces covered (its names: "
			    "DNS:mail.example.test, DNS:*.example.test, IP:192.0.2.1)");
	assert_non_null(strstr(t_find(&fs, PKI_WARNING, "older"),
			       "the new certificate expires on "));
	pki_pair_free(&next);
	pki_pair_free(&current);
	X509_free(renewed);
	EVP_PKEY_free(key);
}

static void test_validate_refuses_broken(void **state)
{
	struct pki_pair *current = t_pair("mail", ch.leaf, ch.leaf_key, ch.inter, NULL);
	EVP_PKEY *key = t_ec_key();
	X509 *expired = t_cert(key, "mail.example.test", false, ch.inter, ch.int_key,
			       -20, 10, "DNS:mail.example.test,DNS:*.example.test,"
			       "IP:192.0.2.1");
	X509 *narrow = t_cert(key, "mail.example.test", false, ch.inter, ch.int_key,
			      -1, 365, "DNS:mail.example.test,IP:192.0.2.1");
	struct pki_pair *next;
	struct t_findings fs;

	/* Half-written: the new certificate with the old key. */
	next = t_pair("mail", narrow, ch.leaf_key, ch.inter, NULL);
	assert_int_equal(validate(current, next, &fs), 1);
	assert_non_null(t_find(&fs, PKI_ERROR, "key mismatch"));
	pki_pair_free(&next);
	next = t_pair("mail", expired, key, ch.inter, NULL);
	assert_int_equal(validate(current, next, &fs), 1);
	assert_non_null(t_find(&fs, PKI_ERROR, "expired"));
	pki_pair_free(&next);
	/* Chain out of order. */
	next = t_pair("mail", narrow, key, ch.root, ch.inter);
	assert_true(validate(current, next, &fs) >= 1);
	assert_non_null(t_find(&fs, PKI_ERROR, "chain out of order"));
	pki_pair_free(&next);
	/* Not for TLS servers: a CA certificate. */
	next = t_pair("mail", ch.inter, ch.int_key, ch.root, NULL);
	assert_true(validate(current, next, &fs) >= 1);
	assert_non_null(t_find(&fs, PKI_ERROR, "not for TLS servers"));
	pki_pair_free(&next);
	/* Sound but narrower: accepted with a warning for the wildcard. */
	next = t_pair("mail", narrow, key, ch.inter, NULL);
	assert_int_equal(validate(current, next, &fs), 0);
	assert_non_null(strstr(t_find(&fs, PKI_WARNING, "name dropped"),
			       "does not cover *.example.test,"));
	pki_pair_free(&next);
	pki_pair_free(&current);
	X509_free(expired);
	X509_free(narrow);
	EVP_PKEY_free(key);
}

static void test_pair_same_and_dup(void **state)
{
	struct pki_pair *a = t_pair("mail", ch.leaf, ch.leaf_key, ch.inter, NULL);
	struct pki_pair *b = pki_pair_dup(a);
	struct pki_pair *c = t_pair("mail", ch.leaf, ch.leaf_key, NULL, NULL);
	struct pki_pair *d = t_pair("mail", ch.leaf, ch.int_key, ch.inter, NULL);

	assert_true(pki_pair_same(a, b));
	assert_ptr_not_equal(a->chain, b->chain);
	assert_string_equal(b->name, "mail");
	assert_string_equal(b->crt_path, "certs/mail.crt");
	assert_false(pki_pair_same(a, c));   /* chain differs */
	assert_false(pki_pair_same(a, d));   /* key differs */
	pki_pair_free(&a);
	/* b holds references of its own. */
	assert_int_equal(X509_cmp(b->cert, ch.leaf), 0);
	assert_int_equal(sk_X509_num(b->chain), 1);
	pki_pair_free(&b);
	pki_pair_free(&c);
	pki_pair_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expiry_steps),
		cmocka_unit_test(test_check_reports_step),
		cmocka_unit_test(test_expiry_due_once_each),
		cmocka_unit_test(test_expiry_of_chain),
		cmocka_unit_test(test_validate_renewal),
		cmocka_unit_test(test_validate_refuses_broken),
		cmocka_unit_test(test_pair_same_and_dup),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
