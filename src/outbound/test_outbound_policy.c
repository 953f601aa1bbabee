/* test_outbound_policy.c — the TLS each level gives a host, with and
 * without DANE records and with a relayhost login (RFC 7672, Postfix's
 * smtp_tls_security_level). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "outbound/outbound_private.h"

static void test_levels(void **state)
{
	static const struct {
		enum outbound_tls level;
		enum dns_dane dane;
		bool auth;
		bool usable;
		enum smtpc_tls tls;
		enum tls_client_auth check;
	} cases[] = {
		{ OUTBOUND_TLS_NONE, DNS_DANE_USABLE, false, true, SMTPC_TLS_NONE, TLS_CLIENT_AUTH_NONE },
		{ OUTBOUND_TLS_MAY, DNS_DANE_USABLE, false, true, SMTPC_TLS_MAY, TLS_CLIENT_AUTH_NONE },
		{ OUTBOUND_TLS_ENCRYPT, DNS_DANE_NONE, false, true, SMTPC_TLS_REQUIRE, TLS_CLIENT_AUTH_NONE },
		{ OUTBOUND_TLS_VERIFY, DNS_DANE_USABLE, false, true, SMTPC_TLS_REQUIRE, TLS_CLIENT_AUTH_VERIFY },
		{ OUTBOUND_TLS_DANE, DNS_DANE_USABLE, false, true, SMTPC_TLS_REQUIRE, TLS_CLIENT_AUTH_DANE },
		{ OUTBOUND_TLS_DANE, DNS_DANE_UNUSABLE, false, true, SMTPC_TLS_REQUIRE, TLS_CLIENT_AUTH_NONE },
		{ OUTBOUND_TLS_DANE, DNS_DANE_NONE, false, true, SMTPC_TLS_MAY, TLS_CLIENT_AUTH_NONE },
		{ OUTBOUND_TLS_DANE, DNS_DANE_FAILED, false, false, SMTPC_TLS_REQUIRE, TLS_CLIENT_AUTH_NONE },
		/* a login needs TLS: none and may become encrypt */
		{ OUTBOUND_TLS_NONE, DNS_DANE_NONE, true, true, SMTPC_TLS_REQUIRE, TLS_CLIENT_AUTH_NONE },
		{ OUTBOUND_TLS_MAY, DNS_DANE_NONE, true, true, SMTPC_TLS_REQUIRE, TLS_CLIENT_AUTH_NONE },
		{ OUTBOUND_TLS_DANE, DNS_DANE_NONE, true, true, SMTPC_TLS_REQUIRE, TLS_CLIENT_AUTH_NONE },
		{ OUTBOUND_TLS_DANE, DNS_DANE_USABLE, true, true, SMTPC_TLS_REQUIRE, TLS_CLIENT_AUTH_DANE },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct dns_route_host h = { .dane = cases[i].dane };
		struct ohost_policy p;
		outbound_policy(cases[i].level, &h, cases[i].auth, &p);
		assert_int_equal(p.usable, cases[i].usable);
		assert_int_equal(p.tls, cases[i].tls);
		assert_int_equal(p.auth, cases[i].check);
		assert_true(p.usable || p.why != NULL);
		assert_non_null(p.level);
	}
}

static void test_no_dns(void **state)
{
	struct ohost_policy p;

	/* an address literal has no TLSA records: dane is may */
	outbound_policy(OUTBOUND_TLS_DANE, NULL, false, &p);
	assert_int_equal(p.tls, SMTPC_TLS_MAY);
	assert_int_equal(p.auth, TLS_CLIENT_AUTH_NONE);
	outbound_policy(OUTBOUND_TLS_VERIFY, NULL, false, &p);
	assert_int_equal(p.auth, TLS_CLIENT_AUTH_VERIFY);
	assert_string_equal(p.level, "verify");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_no_dns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
