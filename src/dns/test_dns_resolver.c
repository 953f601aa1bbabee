/* test_dns_resolver.c — the resolver on a libevent loop without any DNS
 * server: a forwarder that never answers (timeout, cancel, free with
 * lookups running), libunbound's own local zones, bad trust anchors. The
 * answers of real servers are tested in tests/proto/test_dns.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns/dns.h"
#include "lib/log.h"

struct fixture {
	struct event_base *base;
	int silent_fd;          /* a UDP socket that reads nothing */
	char forwarder[64];
	struct dns_resolver *res;
	unsigned calls;
	bool started;           /* set after the lookup call returned */
	bool called_early;      /* a callback ran inside the starting call */
};

static void on_done(void *context)
{
	struct fixture *f = context;

	f->calls++;
	if (!f->started)
		f->called_early = true;
	event_base_loopbreak(f->base);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	log_set_level(LOG_LEVEL_ERROR);
	f->base = event_base_new();
	assert_non_null(f->base);
	f->silent_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(f->silent_fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->silent_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(f->silent_fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(f->forwarder, sizeof(f->forwarder), "127.0.0.1:%u",
		 ntohs(sin.sin_port));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dns_resolver_free(&f->res);
	assert_null(f->res);
	event_base_free(f->base);
	close(f->silent_fd);
	free(f);
	return 0;
}

static char *write_file(const char *text)
{
	char tmpl[] = "/tmp/sealpost-dns-XXXXXX";
	int fd = mkstemp(tmpl);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return xstrdup(tmpl);
}

/* A resolver forwarding to the silent socket, with an empty anchor file
 * (nothing validated), and the given timeout. */
static void create(struct fixture *f, unsigned timeout_ms)
{
	char *anchor = write_file("");
	struct dns_resolver_settings set = {
		.forwarder = f->forwarder, .trust_anchor = anchor,
		.timeout_ms = timeout_ms,
	};
	const char *error = NULL;

	if (dns_resolver_create(f->base, &set, &f->res, &error) < 0)
		fail_msg("create: %s", error);
	assert_string_equal(dns_resolver_trust_anchor(f->res), anchor);
	unlink(anchor);
	free(anchor);
}

static void run_for_ms(struct fixture *f, unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
}

/* Questions that reached the forwarder whose name holds label (wire
 * format: a length byte, then the label; under 64 bytes). The resolver's
 * own check of the server (". DNSKEY") holds none. */
static size_t silent_received_label(struct fixture *f, const char *label)
{
	char buf[512], wire[64];
	size_t n = 0, wlen = strlen(label) + 1;
	ssize_t got;

	assert_true(wlen <= sizeof(wire));
	wire[0] = (char)(wlen - 1);
	memcpy(wire + 1, label, wlen - 1);
	while ((got = recv(f->silent_fd, buf, sizeof(buf), 0)) > 0) {
		if (memmem(buf, (size_t)got, wire, wlen) != NULL)
			n++;
	}
	return n;
}


static void test_timeout_is_temporary(void **state)
{
	struct fixture *f = *state;
	struct dns_mx_result mx;
	const char *error;

	create(f, 300);
	struct dns_lookup *l = dns_lookup_mx(f->res, "example.org", &mx, on_done,
					     f, &error);
	assert_non_null(l);
	f->started = true;
	assert_int_equal(dns_resolver_pending(f->res), 1);
	event_base_dispatch(f->base);
	assert_false(f->called_early);
	assert_int_equal(f->calls, 1);
	assert_int_equal(mx.answer.status, DNS_TEMPFAIL);
	assert_int_equal(mx.answer.rcode, -1);
	assert_string_equal(mx.answer.detail, "no answer within 0.300 s");
	assert_true(dns_status_temporary(mx.answer.status));
	assert_int_equal(mx.n, 0);
	assert_false(mx.implicit);
	assert_int_equal(dns_resolver_pending(f->res), 0);
	/* The question did reach the forwarder. */
	assert_true(silent_received_label(f, "example") > 0);
}

static void test_cancel_means_no_callback(void **state)
{
	struct fixture *f = *state;
	struct dns_addrs_result addrs;
	struct dns_tlsa_result tlsa;
	const char *error;

	create(f, 200);
	struct dns_lookup *a = dns_lookup_addrs(f->res, "mx.example.org", &addrs,
						on_done, f, &error);
	struct dns_lookup *t = dns_lookup_tlsa(f->res, "mx.example.org", 25, &tlsa,
					       on_done, f, &error);
	assert_non_null(a);
	assert_non_null(t);
	assert_string_equal(tlsa.name, "_25._tcp.mx.example.org");
	dns_lookup_cancel(&a);
	assert_null(a);
	dns_lookup_cancel(&a);     /* a no-op on NULL */
	assert_int_equal(dns_resolver_pending(f->res), 1);
	dns_lookup_cancel(&t);
	assert_int_equal(dns_resolver_pending(f->res), 0);
	run_for_ms(f, 500);        /* past the timeout */
	assert_int_equal(f->calls, 0);
}

/* Freed with lookups running: no callback, nothing leaks (ASan). */
static void test_free_with_lookups_running(void **state)
{
	struct fixture *f = *state;
	struct dns_route route;
	struct dns_mx_result mx;
	const char *error;

	create(f, 5000);
	assert_non_null(dns_lookup_mx(f->res, "a.example.org", &mx, on_done, f,
				      &error));
	struct dns_route_lookup *rl = dns_lookup_route(f->res, "b.example.org",
						       25, 0, &route, on_done,
						       f, &error);
	assert_non_null(rl);
	run_for_ms(f, 50);
	dns_route_cancel(&rl);
	assert_null(rl);
	assert_int_equal(dns_resolver_pending(f->res), 1);
	dns_resolver_free(&f->res);
	run_for_ms(f, 50);
	assert_int_equal(f->calls, 0);
}

/* The check of the server's DNSSEC starts with the resolver; a server that
 * never answers leaves validation on, and says so. */
static void test_dnssec_check_unanswered(void **state)
{
	struct fixture *f = *state;
	const char *detail;

	create(f, 200);
	assert_int_equal(dns_resolver_dnssec(f->res, &detail), DNS_DNSSEC_CHECKING);
	assert_string_equal(detail, "");
	run_for_ms(f, 400);
	assert_int_equal(dns_resolver_dnssec(f->res, &detail), DNS_DNSSEC_ON);
	assert_string_equal(detail, "the resolver's DNSSEC is unchecked: no "
			    "root DNSKEY (no answer in time)");
	/* It asked for the root's key: name ".", type DNSKEY (48), IN. */
	char buf[512];
	ssize_t got = recv(f->silent_fd, buf, sizeof(buf), 0);
	assert_true(got >= 12 + 5);
	assert_memory_equal(buf + 12, "\0\0\x30\0\x01", 5);
}

/* libunbound answers RFC 6761 names itself: .test is NXDOMAIN without a
 * question to the forwarder (why the DNS tests use .example). */
static void test_local_zone_answers_alone(void **state)
{
	struct fixture *f = *state;
	struct dns_addrs_result addrs;
	const char *error;

	create(f, 2000);
	assert_non_null(dns_lookup_addrs(f->res, "mail.example.test.", &addrs,
					 on_done, f, &error));
	f->started = true;
	event_base_dispatch(f->base);
	assert_int_equal(f->calls, 1);
	assert_int_equal(addrs.a.status, DNS_NXDOMAIN);
	assert_int_equal(addrs.aaaa.status, DNS_NXDOMAIN);
	assert_int_equal(dns_addrs_status(&addrs), DNS_NXDOMAIN);
	assert_int_equal(addrs.a.security, DNS_SEC_INSECURE);
	assert_int_equal(silent_received_label(f, "example"), 0);
}

static void test_bad_names(void **state)
{
	struct fixture *f = *state;
	struct dns_mx_result mx;
	struct dns_route route;
	const char *error = NULL;

	create(f, 1000);
	assert_null(dns_lookup_mx(f->res, "a..example", &mx, on_done, f, &error));
	assert_string_equal(error, "'a..example' is not a valid domain name");
	assert_null(dns_lookup_route(f->res, "-x.example", 25, 0, &route, on_done,
				     f, &error));
	assert_string_equal(error, "'-x.example' is not a valid domain name");
	assert_int_equal(dns_resolver_pending(f->res), 0);
}

static void expect_create_error(struct fixture *f, const char *forwarder,
				const char *anchor, const char *want)
{
	struct dns_resolver_settings set = {
		.forwarder = forwarder, .trust_anchor = anchor,
	};
	const char *error = NULL;

	assert_int_equal(dns_resolver_create(f->base, &set, &f->res, &error), -1);
	assert_null(f->res);
	if (strstr(error, want) == NULL)
		fail_msg("got '%s', want '%s' in it", error, want);
}

static void test_bad_settings(void **state)
{
	struct fixture *f = *state;
	char *garbage = write_file("example. IN DS not a key\n");
	char want[256];

	expect_create_error(f, f->forwarder, "/nonexistent/anchor.key",
			    "trust_anchor /nonexistent/anchor.key: No such file "
			    "or directory");
	snprintf(want, sizeof(want), "trust_anchor %s: ", garbage);
	expect_create_error(f, f->forwarder, garbage, want);
	/* libunbound's own words name the file and the line. */
	snprintf(want, sizeof(want), "parse error in %s:", garbage);
	expect_create_error(f, f->forwarder, garbage, want);
	expect_create_error(f, "127.0.0.1", garbage,
			    "resolver '127.0.0.1': expected ADDRESS:PORT");
	unlink(garbage);
	free(garbage);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_timeout_is_temporary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_means_no_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_lookups_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dnssec_check_unanswered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_zone_answers_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_settings, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
