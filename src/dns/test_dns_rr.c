/* test_dns_rr.c — records from wire format: MX order, ties, null and
 * implicit MX, malformed records; addresses; TLSA usability; the route
 * verdict and DANE per host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns_private.h"

/* Wire-format rdata built by the tests. */
struct rdata_set {
	char *data[40];
	int len[40];
	size_t n;
};

static void rd_add(struct rdata_set *s, const void *bytes, size_t len)
{
	assert_true(s->n + 1 < N_ELEMENTS(s->data));
	s->data[s->n] = xmalloc(len);
	memcpy(s->data[s->n], bytes, len);
	s->len[s->n++] = (int)len;
	s->data[s->n] = NULL;
}

static void rd_free(struct rdata_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->data[i]);
	s->n = 0;
	s->data[0] = NULL;
}

/* MX rdata: preference, then "a.b.c" as length-prefixed labels. */
static void rd_add_mx(struct rdata_set *s, uint16_t pref, const char *host)
{
	unsigned char buf[300];
	size_t n = 2;

	buf[0] = (unsigned char)(pref >> 8);
	buf[1] = (unsigned char)pref;
	while (*host != '\0' && strcmp(host, ".") != 0) {
		const char *dot = strchr(host, '.');
		size_t len = dot != NULL ? (size_t)(dot - host) : strlen(host);
		buf[n++] = (unsigned char)len;
		memcpy(buf + n, host, len);
		n += len;
		host += len + (dot != NULL);
	}
	buf[n++] = 0;
	rd_add(s, buf, n);
}

static struct dns_rdata rd_of(struct rdata_set *s)
{
	struct dns_rdata rd = { s->data, s->len };
	return rd;
}

static void mx_ok(struct dns_mx_result *r)
{
	memset(r, 0, sizeof(*r));
	dns_answer_set(&r->answer, DNS_OK, DNS_SEC_SECURE, 0, NULL);
}

static void test_mx_sorted_by_preference(void **state)
{
	struct rdata_set s = { 0 };
	struct dns_mx_result r;

	rd_add_mx(&s, 30, "mx3.example");
	rd_add_mx(&s, 10, "MX1.Example");
	rd_add_mx(&s, 20, "mx2.example");
	rd_add_mx(&s, 65535, "last.example");
	rd_add_mx(&s, 0, "first.example");
	mx_ok(&r);
	struct dns_rdata rd = rd_of(&s);
	dns_mx_parse("example", &rd, &r);
	assert_false(r.null_mx);
	assert_false(r.implicit);
	assert_int_equal(r.n, 5);
	assert_string_equal(r.mx[0].host, "first.example");
	assert_string_equal(r.mx[1].host, "mx1.example");
	assert_int_equal(r.mx[1].preference, 10);
	assert_string_equal(r.mx[2].host, "mx2.example");
	assert_string_equal(r.mx[3].host, "mx3.example");
	assert_string_equal(r.mx[4].host, "last.example");
	assert_int_equal(r.mx[4].preference, 65535);
	rd_free(&s);
}

/* RFC 5321 5.1: equal preferences in random order, so load spreads. */
static void test_mx_ties_shuffled(void **state)
{
	struct rdata_set s = { 0 };
	struct dns_mx_result r;
	unsigned first_b = 0, runs = 200;

	rd_add_mx(&s, 20, "b.example");
	rd_add_mx(&s, 20, "c.example");
	rd_add_mx(&s, 5, "a.example");
	struct dns_rdata rd = rd_of(&s);
	for (unsigned i = 0; i < runs; i++) {
		mx_ok(&r);
		dns_mx_parse("example", &rd, &r);
		assert_int_equal(r.n, 3);
		assert_string_equal(r.mx[0].host, "a.example");
		first_b += strcmp(r.mx[1].host, "b.example") == 0;
	}
	/* Both orders occur (each with probability 2^-200 of not). */
	assert_true(first_b > 0 && first_b < runs);
	rd_free(&s);
}

static void test_mx_limit_duplicates_malformed(void **state)
{
	struct rdata_set s = { 0 };
	struct dns_mx_result r;
	char host[32];
	const unsigned char truncated[] = { 0, 10, 3, 'm', 'x' };
	const unsigned char compressed[] = { 0, 10, 0xc0, 12 };

	for (unsigned i = 0; i < DNS_MX_HOSTS_MAX + 5; i++) {
		snprintf(host, sizeof(host), "mx%02u.example", i);
		rd_add_mx(&s, (uint16_t)(100 - i), host);
	}
	rd_add_mx(&s, 200, "mx00.example");    /* duplicate, worse preference */
	rd_add_mx(&s, 1, "bad_name.example");  /* not a host name */
	rd_add(&s, truncated, sizeof(truncated));
	rd_add(&s, compressed, sizeof(compressed));
	mx_ok(&r);
	struct dns_rdata rd = rd_of(&s);
	dns_mx_parse("example", &rd, &r);
	assert_int_equal(r.n, DNS_MX_HOSTS_MAX);
	/* The lowest preferences are kept: mx14 (86) ... mx05 (95). */
	assert_string_equal(r.mx[0].host, "mx14.example");
	assert_string_equal(r.mx[DNS_MX_HOSTS_MAX - 1].host, "mx05.example");
	assert_int_equal(r.n_dropped, 5 + 1 + 3);
	rd_free(&s);
}

/* RFC 7505: one MX, preference 0, exchange "." */
static void test_null_mx(void **state)
{
	struct rdata_set s = { 0 };
	struct dns_mx_result r;

	rd_add_mx(&s, 0, ".");
	mx_ok(&r);
	struct dns_rdata rd = rd_of(&s);
	dns_mx_parse("example", &rd, &r);
	assert_true(r.null_mx);
	assert_int_equal(r.n, 0);
	rd_free(&s);

	/* "." among real hosts is no null MX; the "." is no host either. */
	rd_add_mx(&s, 0, ".");
	rd_add_mx(&s, 10, "mx.example");
	mx_ok(&r);
	rd = rd_of(&s);
	dns_mx_parse("example", &rd, &r);
	assert_false(r.null_mx);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.mx[0].host, "mx.example");
	assert_int_equal(r.n_dropped, 1);
	rd_free(&s);
}

/* RFC 5321 5.1: no MX records, the domain is its own host, preference 0;
 * a failure gives no host at all. */
static void test_implicit_mx(void **state)
{
	struct dns_rdata rd = { NULL, NULL };
	struct dns_mx_result r;

	memset(&r, 0, sizeof(r));
	dns_answer_set(&r.answer, DNS_NODATA, DNS_SEC_SECURE, 0, NULL);
	dns_mx_parse("mail.example", &rd, &r);
	assert_true(r.implicit);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.mx[0].preference, 0);
	assert_string_equal(r.mx[0].host, "mail.example");

	static const enum dns_status failures[] = {
		DNS_NXDOMAIN, DNS_TEMPFAIL, DNS_BOGUS,
	};
	for (size_t i = 0; i < N_ELEMENTS(failures); i++) {
		memset(&r, 0, sizeof(r));
		dns_answer_set(&r.answer, failures[i], DNS_SEC_INSECURE, 2, "x");
		dns_mx_parse("mail.example", &rd, &r);
		assert_false(r.implicit);
		assert_int_equal(r.n, 0);
	}
}

static void test_addrs(void **state)
{
	struct rdata_set v4 = { 0 }, v6 = { 0 };
	struct dns_addrs_result r;
	struct in_addr a;
	struct in6_addr a6;
	char text[INET6_ADDRSTRLEN];

	memset(&r, 0, sizeof(r));
	for (unsigned i = 0; i < DNS_ADDRS_MAX + 2; i++) {
		snprintf(text, sizeof(text), "192.0.2.%u", i + 1);
		inet_pton(AF_INET, text, &a);
		rd_add(&v4, &a, sizeof(a));
	}
	rd_add(&v4, &a, 3);                       /* malformed */
	inet_pton(AF_INET6, "2001:db8::1", &a6);
	rd_add(&v6, &a6, sizeof(a6));
	struct dns_rdata rd4 = rd_of(&v4), rd6 = rd_of(&v6);
	dns_addrs_parse(AF_INET, &rd4, false, &r);
	dns_addrs_parse(AF_INET6, &rd6, true, &r);
	assert_int_equal(r.n, DNS_ADDRS_MAX + 1);
	assert_int_equal(r.n_dropped, 3);
	assert_string_equal(dns_addr_str(&r.addr[0], text, sizeof(text)), "192.0.2.1");
	assert_false(r.addr[0].secure);
	assert_int_equal(r.addr[DNS_ADDRS_MAX].family, AF_INET6);
	assert_string_equal(dns_addr_str(&r.addr[DNS_ADDRS_MAX], text,
					 sizeof(text)), "2001:db8::1");
	assert_true(r.addr[DNS_ADDRS_MAX].secure);
	assert_false(dns_addrs_secure(&r));
	assert_int_equal(dns_addrs_status(&r), DNS_OK);
	rd_free(&v4);
	rd_free(&v6);
}

static void test_addrs_status(void **state)
{
	static const struct {
		enum dns_status a, aaaa, want;
	} cases[] = {
		{ DNS_NXDOMAIN, DNS_NXDOMAIN, DNS_NXDOMAIN },
		{ DNS_NXDOMAIN, DNS_NODATA, DNS_NODATA },
		{ DNS_NODATA, DNS_TEMPFAIL, DNS_TEMPFAIL },
		{ DNS_BOGUS, DNS_NODATA, DNS_BOGUS },
		{ DNS_NODATA, DNS_NODATA, DNS_NODATA },
	};
	struct dns_addrs_result r;

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		memset(&r, 0, sizeof(r));
		r.a.status = cases[i].a;
		r.aaaa.status = cases[i].aaaa;
		assert_int_equal(dns_addrs_status(&r), cases[i].want);
	}
	/* No address: never secure, whatever the answers say. */
	r.a.security = r.aaaa.security = DNS_SEC_SECURE;
	assert_false(dns_addrs_secure(&r));
}

static void test_tlsa_usable(void **state)
{
	uint8_t d32[32] = { 0 }, d64[64] = { 0 }, d20[20] = { 0 };
	static const struct {
		uint8_t usage, selector, mtype;
		size_t len;
		bool usable;
	} cases[] = {
		{ 3, 1, 1, 32, true },   /* DANE-EE SPKI SHA2-256 */
		{ 2, 0, 2, 64, true },   /* DANE-TA Cert SHA2-512 */
		{ 3, 0, 0, 20, true },   /* Full(0): any length */
		{ 0, 0, 1, 32, false },  /* PKIX-TA */
		{ 1, 1, 1, 32, false },  /* PKIX-EE */
		{ 4, 1, 1, 32, false },
		{ 3, 2, 1, 32, false },
		{ 3, 1, 3, 32, false },
		{ 3, 1, 1, 20, false },  /* SHA2-256 of 20 bytes */
		{ 3, 1, 2, 32, false },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct dns_tlsa rr = {
			cases[i].usage, cases[i].selector, cases[i].mtype,
			cases[i].len, cases[i].len == 64 ? d64 :
			cases[i].len == 32 ? d32 : d20,
		};
		const char *why;
		if (dns_tlsa_usable(&rr, &why) != cases[i].usable)
			fail_msg("case %zu: %s", i, why != NULL ? why : "usable");
		assert_true(cases[i].usable == (why == NULL));
	}
}

static void test_tlsa_parse(void **state)
{
	struct rdata_set s = { 0 };
	struct dns_tlsa_result r;
	uint8_t rec[35] = { 3, 1, 1 };

	memset(&r, 0, sizeof(r));
	for (unsigned i = 0; i < 32; i++)
		rec[3 + i] = (uint8_t)i;
	for (unsigned i = 0; i < DNS_TLSA_MAX + 1; i++)
		rd_add(&s, rec, sizeof(rec));
	rd_add(&s, rec, 3);                       /* no data */
	struct dns_rdata rd = rd_of(&s);
	dns_tlsa_parse(&rd, &r);
	assert_int_equal(r.n, DNS_TLSA_MAX);
	assert_int_equal(r.n_dropped, 2);
	assert_int_equal(r.rr[0].usage, 3);
	assert_int_equal(r.rr[0].len, 32);
	assert_memory_equal(r.rr[5].data, rec + 3, 32);
	assert_int_equal(dns_tlsa_n_usable(&r), DNS_TLSA_MAX);
	dns_tlsa_result_clear(&r);
	assert_int_equal(r.n, 0);
	rd_free(&s);
}

static void test_name_normalize(void **state)
{
	char out[DNS_NAME_MAX + 1];

	assert_true(dns_name_normalize("Mail.Example.", out));
	assert_string_equal(out, "mail.example");
	assert_false(dns_name_normalize(".", out));
	assert_false(dns_name_normalize("", out));
	assert_false(dns_name_normalize("a..b", out));
	assert_false(dns_name_normalize("_25._tcp.example", out));
}

/* ---- the route: DANE per host and the verdict ------------------------- */

static void route_host(struct dns_route *r, const char *host, bool secure,
		       enum dns_status tlsa, enum dns_dane dane)
{
	struct dns_route_host *h = &r->host[r->n_hosts++];

	memset(h, 0, sizeof(*h));
	strlcpy_sp(h->mx.host, host, sizeof(h->mx.host));
	h->addrs.n = 1;
	h->addrs.addr[0].family = AF_INET;
	h->addrs.addr[0].secure = secure;
	h->tlsa_asked = true;
	h->tlsa.answer.status = tlsa;
	h->dane = dane;
	r->mx.n = r->n_hosts;
}

static void test_verdict(void **state)
{
	struct dns_route r;
	const char *why;

	memset(&r, 0, sizeof(r));
	strlcpy_sp(r.domain, "example", sizeof(r.domain));
	r.mx.answer.status = DNS_NXDOMAIN;
	assert_int_equal(dns_route_verdict(&r, &why), DNS_VERDICT_BOUNCE);
	r.mx.answer.status = DNS_TEMPFAIL;
	assert_int_equal(dns_route_verdict(&r, &why), DNS_VERDICT_DEFER);
	r.mx.answer.status = DNS_BOGUS;
	assert_int_equal(dns_route_verdict(&r, &why), DNS_VERDICT_DEFER);
	r.mx.answer.status = DNS_OK;
	r.mx.null_mx = true;
	assert_int_equal(dns_route_verdict(&r, &why), DNS_VERDICT_BOUNCE);
	assert_non_null(strstr(why, "null MX"));
	r.mx.null_mx = false;
	r.mx.n_dropped = 2;         /* only malformed records */
	assert_int_equal(dns_route_verdict(&r, &why), DNS_VERDICT_DEFER);

	/* A host whose TLSA lookup failed is not tried; the next one is. */
	route_host(&r, "mx1.example", true, DNS_TEMPFAIL, DNS_DANE_FAILED);
	assert_int_equal(dns_route_verdict(&r, &why), DNS_VERDICT_DEFER);
	assert_non_null(strstr(why, "TLSA lookup failed"));
	route_host(&r, "mx2.example", true, DNS_NODATA, DNS_DANE_NONE);
	assert_int_equal(dns_route_verdict(&r, &why), DNS_VERDICT_DELIVER);
	assert_false(dns_route_host_usable(&r.host[0]));
	assert_true(dns_route_host_usable(&r.host[1]));

	/* No host has an address: bounce, unless a lookup failed. */
	r.n_hosts = 0;
	route_host(&r, "mx1.example", true, DNS_NODATA, DNS_DANE_NONE);
	r.host[0].addrs.n = 0;
	r.host[0].addrs.a.status = DNS_NXDOMAIN;
	r.host[0].addrs.aaaa.status = DNS_NXDOMAIN;
	assert_int_equal(dns_route_verdict(&r, &why), DNS_VERDICT_BOUNCE);
	r.host[0].addrs.aaaa.status = DNS_TEMPFAIL;
	assert_int_equal(dns_route_verdict(&r, &why), DNS_VERDICT_DEFER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mx_sorted_by_preference),
		cmocka_unit_test(test_mx_ties_shuffled),
		cmocka_unit_test(test_mx_limit_duplicates_malformed),
		cmocka_unit_test(test_null_mx),
		cmocka_unit_test(test_implicit_mx),
		cmocka_unit_test(test_addrs),
		cmocka_unit_test(test_addrs_status),
		cmocka_unit_test(test_tlsa_usable),
		cmocka_unit_test(test_tlsa_parse),
		cmocka_unit_test(test_name_normalize),
		cmocka_unit_test(test_verdict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
