/* test_pki_check.c — RFC 6125 host matching and the findings of
 * pki_pair_check (dates, key, chain order, purpose, host). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pki/test_pki_util.h"

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

static void test_host_match(void **state)
{
	static const struct {
		const char *pattern, *host;
		bool match;
	} cases[] = {
		{ "mail.example.com", "mail.example.com", true },
		{ "Mail.Example.COM", "mail.example.com", true },
		{ "mail.example.com", "MAIL.example.com.", true },
		{ "mail.example.com.", "mail.example.com", true },
		{ "mail.example.com", "mail.example.org", false },
		{ "mail.example.com", "smail.example.com", false },
		{ "*.example.com", "a.example.com", true },
		{ "*.example.com", "A.EXAMPLE.com", true },
		{ "*.example.com", "example.com", false },
		{ "*.example.com", "a.b.example.com", false },
		{ "*.example.com", ".example.com", false },
		{ "*.example.com", "aexample.com", false },
		{ "*.com", "example.com", false },          /* too wide */
		{ "*", "example", false },
		{ "f*.example.com", "foo.example.com", false }, /* partial label */
		{ "*o.example.com", "foo.example.com", false },
		{ "a.*.example.com", "a.b.example.com", false },
		{ "*.*.example.com", "a.b.example.com", false },
		{ "mail.example.com", "*.example.com", false },
		{ "*.example.com", "*.example.com", false },
		{ "", "example.com", false },
		{ "example.com", "", false },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		if (pki_host_match(cases[i].pattern, cases[i].host) != cases[i].match)
			fail_msg("'%s' vs '%s': expected %s", cases[i].pattern,
				 cases[i].host, cases[i].match ? "match" : "no match");
	}
}

static void test_cert_covers_host(void **state)
{
	EVP_PKEY *key = t_ec_key();
	X509 *cn_only = t_cert(key, "legacy.example.com", false, NULL, NULL, -1, 30,
			       NULL);
	X509 *san = t_cert(key, "cn.example.com", false, NULL, NULL, -1, 30,
			   "DNS:mail.example.com,IP:2001:db8::1,email:a@example.com");
	const char *matched = NULL;

	/* ch.leaf: DNS:mail.example.test, DNS:*.example.test, IP:192.0.2.1 */
	assert_true(pki_cert_covers_host(ch.leaf, "mail.example.test", &matched));
	assert_string_equal(matched, "DNS:mail.example.test");
	assert_true(pki_cert_covers_host(ch.leaf, "imap.example.test", &matched));
	assert_string_equal(matched, "DNS:*.example.test");
	assert_false(pki_cert_covers_host(ch.leaf, "example.test", NULL));
	assert_false(pki_cert_covers_host(ch.leaf, "a.b.example.test", NULL));
	assert_true(pki_cert_covers_host(ch.leaf, "192.0.2.1", &matched));
	assert_string_equal(matched, "IP:192.0.2.1");
	assert_false(pki_cert_covers_host(ch.leaf, "192.0.2.2", NULL));
	/* IPv6, bracketed or not; an address never matches a DNS-ID. */
	assert_true(pki_cert_covers_host(san, "2001:db8::1", NULL));
	assert_true(pki_cert_covers_host(san, "[2001:DB8:0::1]", NULL));
	assert_false(pki_cert_covers_host(san, "2001:db8::2", NULL));
	/* With DNS SANs the CN is not consulted (RFC 6125 6.4.4). */
	assert_false(pki_cert_covers_host(san, "cn.example.com", NULL));
	assert_true(pki_cert_covers_host(cn_only, "legacy.example.com", &matched));
	assert_string_equal(matched, "CN=legacy.example.com");
	X509_free(cn_only);
	X509_free(san);
	EVP_PKEY_free(key);
}

static void test_cert_names_and_wildcards(void **state)
{
	EVP_PKEY *key = t_ec_key();
	X509 *cn_only = t_cert(key, "Legacy.Example.com", false, NULL, NULL, -1, 30,
			       NULL);
	X509 *hosts = t_cert(key, "a.example.org", false, NULL, NULL, -1, 30,
			     "DNS:a.example.org,DNS:B.example.org");
	char **names = pki_cert_names(ch.leaf);
	const char *matched = NULL;

	assert_int_equal(strv_len(names), 3);
	assert_string_equal(names[0], "mail.example.test");
	assert_string_equal(names[1], "*.example.test");
	assert_string_equal(names[2], "192.0.2.1");
	strv_free(&names);
	names = pki_cert_names(cn_only);
	assert_int_equal(strv_len(names), 1);
	assert_string_equal(names[0], "legacy.example.com");
	strv_free(&names);
	names = pki_cert_names(hosts);
	assert_string_equal(names[1], "b.example.org");
	strv_free(&names);

	/* A wildcard name is covered by the same wildcard only. */
	assert_true(pki_cert_covers_name(ch.leaf, "*.example.test", &matched));
	assert_string_equal(matched, "DNS:*.example.test");
	assert_true(pki_cert_covers_name(ch.leaf, "*.EXAMPLE.test.", NULL));
	assert_false(pki_cert_covers_name(hosts, "*.example.org", NULL));
	assert_false(pki_cert_covers_name(ch.leaf, "*.mail.example.test", NULL));
	/* Host names as pki_cert_covers_host. */
	assert_true(pki_cert_covers_name(ch.leaf, "imap.example.test", &matched));
	assert_string_equal(matched, "DNS:*.example.test");
	assert_true(pki_cert_covers_name(hosts, "b.example.org", NULL));
	assert_false(pki_cert_covers_name(hosts, "c.example.org", NULL));
	X509_free(cn_only);
	X509_free(hosts);
	EVP_PKEY_free(key);
}

/* ---- findings -------------------------------------------------------- */

static unsigned check(const struct pki_pair *pair, const char *host, time_t now,
		      struct t_findings *fs)
{
	memset(fs, 0, sizeof(*fs));
	return pki_pair_check(pair, host, now, t_collect, fs);
}

static void test_check_good_pair(void **state)
{
	struct pki_pair *pair = t_pair("mail", ch.leaf, ch.leaf_key, ch.inter, NULL);
	struct t_findings fs;

	assert_int_equal(check(pair, "mail.example.test", time(NULL), &fs), 0);
	assert_non_null(t_find(&fs, PKI_OK, "ok"));
	assert_non_null(strstr(t_find(&fs, PKI_OK, "ok"), "matches the certificate"));
	/* The test root is in no trust store: a warning, not an error. */
	assert_non_null(t_find(&fs, PKI_WARNING, "unknown issuer"));
	assert_null(t_find(&fs, PKI_WARNING, "expires soon"));
	pki_pair_free(&pair);
}

static void test_check_dates(void **state)
{
	struct pki_pair *pair = t_pair("mail", ch.leaf, ch.leaf_key, ch.inter, NULL);
	time_t now = time(NULL);
	struct t_findings fs;
	const char *text;

	/* Leaf valid from yesterday for 365 days. */
	assert_int_equal(check(pair, NULL, now + 400 * 86400L, &fs), 1);
	text = t_find(&fs, PKI_ERROR, "expired");
	assert_non_null(text);
	assert_non_null(strstr(text, "certificate expired on "));
	assert_non_null(strstr(text, "(36 days ago)"));
	/* Both the leaf and the intermediate start yesterday. */
	assert_int_equal(check(pair, NULL, now - 3 * 86400L, &fs), 2);
	text = t_find(&fs, PKI_ERROR, "not yet valid");
	assert_non_null(text);
	assert_non_null(strstr(text, "certificate is not valid before "));
	assert_int_equal(check(pair, NULL, now + 350 * 86400L, &fs), 0);
	text = t_find(&fs, PKI_WARNING, "expires soon");
	assert_non_null(text);
	assert_non_null(strstr(text, "(14 days left)"));
	/* The intermediate (1000 days) expires later than the leaf. */
	assert_int_equal(check(pair, NULL, now + 1200 * 86400L, &fs), 2);
	assert_non_null(strstr(fs.text[1], "expired"));
	pki_pair_free(&pair);
}

static void test_check_key_mismatch(void **state)
{
	struct pki_pair *pair = t_pair("mail", ch.leaf, ch.int_key, ch.inter, NULL);
	struct t_findings fs;

	assert_int_equal(check(pair, NULL, time(NULL), &fs), 1);
	assert_string_equal(t_find(&fs, PKI_ERROR, "key mismatch"),
			    "key does not match certificate certs/mail.crt");
	pki_pair_free(&pair);
}

static void test_check_chain(void **state)
{
	struct pki_pair *pair;
	struct t_findings fs;
	const char *text;

	/* The root in the chain: needless, a warning. */
	pair = t_pair("mail", ch.leaf, ch.leaf_key, ch.inter, ch.root);
	assert_int_equal(check(pair, NULL, time(NULL), &fs), 0);
	assert_non_null(t_find(&fs, PKI_WARNING, "root in chain"));
	pki_pair_free(&pair);
	/* Out of order: root before intermediate. */
	pair = t_pair("mail", ch.leaf, ch.leaf_key, ch.root, ch.inter);
	assert_true(check(pair, NULL, time(NULL), &fs) >= 1);
	text = t_find(&fs, PKI_ERROR, "chain out of order");
	assert_non_null(text);
	assert_non_null(strstr(text, "'CN=Test Root' follows 'CN=mail.example.test'"));
	pki_pair_free(&pair);
	/* A gap: the leaf followed by the root, its issuer missing. */
	pair = t_pair("mail", ch.leaf, ch.leaf_key, ch.root, NULL);
	assert_int_equal(check(pair, NULL, time(NULL), &fs), 1);
	text = t_find(&fs, PKI_ERROR, "chain incomplete");
	assert_non_null(text);
	assert_non_null(strstr(text, "the issuer of 'CN=mail.example.test' is missing"));
	pki_pair_free(&pair);
	/* Self-signed: nothing to chain, fine. */
	pair = t_pair("mail", ch.root, ch.root_key, NULL, NULL);
	check(pair, NULL, time(NULL), &fs);
	assert_null(t_find(&fs, PKI_WARNING, "unknown issuer"));
	assert_non_null(t_find(&fs, PKI_ERROR, "not for TLS servers"));
	pki_pair_free(&pair);
}

static void test_check_host(void **state)
{
	struct pki_pair *pair = t_pair("mail", ch.leaf, ch.leaf_key, ch.inter, NULL);
	struct t_findings fs;

	assert_int_equal(check(pair, "imap.example.test", time(NULL), &fs), 0);
	assert_int_equal(check(pair, "mail.example.org", time(NULL), &fs), 1);
	assert_string_equal(t_find(&fs, PKI_ERROR, "host not covered"),
			    "does not cover host mail.example.org (names: "
			    "DNS:mail.example.test, DNS:*.example.test, IP:192.0.2.1)");
	pki_pair_free(&pair);
}

static void test_check_weak_signature(void **state)
{
	X509 *sha1 = X509_dup(ch.leaf);
	struct pki_pair *pair;
	struct t_findings fs;

	assert_true(X509_sign(sha1, ch.int_key, EVP_sha1()) > 0);
	pair = t_pair("mail", sha1, ch.leaf_key, ch.inter, NULL);
	assert_int_equal(check(pair, NULL, time(NULL), &fs), 1);
	assert_non_null(strstr(t_find(&fs, PKI_ERROR, "weak signature"),
			       "signed with SHA1, which is too weak"));
	pki_pair_free(&pair);
	X509_free(sha1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_match),
		cmocka_unit_test(test_cert_covers_host),
		cmocka_unit_test(test_cert_names_and_wildcards),
		cmocka_unit_test(test_check_good_pair),
		cmocka_unit_test(test_check_dates),
		cmocka_unit_test(test_check_key_mismatch),
		cmocka_unit_test(test_check_chain),
		cmocka_unit_test(test_check_host),
		cmocka_unit_test(test_check_weak_signature),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
