/* test_config_outbound.c — the [outbound] delivery keys and [tls_policy]:
 * defaults, durations, relayhost forms, per-domain levels, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config.h"
#include "lib/util.h"

static int load(const char *text, struct config **cfg_r, const char **error_r)
{
	char tmpl[] = "/tmp/sealpost-conf-XXXXXX";
	int fd = mkstemp(tmpl);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	int ret = config_load(tmpl, true, cfg_r, error_r);
	unlink(tmpl);
	return ret;
}

/* The error of loading text, without the file name. */
static const char *load_error(const char *text)
{
	struct config *cfg;
	const char *error;

	assert_int_equal(load(text, &cfg, &error), -1);
	const char *colon = strchr(error, ':');
	return colon != NULL ? colon + 1 : error;
}

static void test_defaults(void **state)
{
	struct config *cfg;
	const char *error;

	assert_int_equal(load("", &cfg, &error), 0);
	assert_int_equal(cfg->outbound_tls, OUTBOUND_TLS_DANE);
	assert_int_equal(cfg->outbound_port, 25);
	assert_null(cfg->relay_host);
	assert_null(cfg->relay_auth_file);
	assert_int_equal(cfg->queue_lifetime, 5 * 86400);
	assert_int_equal(cfg->retry_min, 300);
	assert_int_equal(cfg->retry_max, 4 * 3600);
	assert_int_equal(cfg->outbound_max_connections, 100);
	assert_int_equal(cfg->outbound_max_per_destination, 20);
	assert_int_equal(config_tls_level(cfg, "example.org"), OUTBOUND_TLS_DANE);
	assert_false(cfg->outbound_dnssec_require);
	config_free(&cfg);
}

static void test_values(void **state)
{
	struct config *cfg;
	const char *error;

	assert_int_equal(load("[outbound]\ntls = Verify\nport = 2525\n"
			      "queue_lifetime = 2w\nretry_min = 30s\nretry_max = 90m\n"
			      "max_connections = 7\nmax_connections_per_destination = 3\n"
			      "ca_file = ca.pem\ndnssec = Require\n"
			      "[tls_policy]\nExample.ORG = encrypt\nexample.net = none\n",
			      &cfg, &error), 0);
	assert_int_equal(cfg->outbound_tls, OUTBOUND_TLS_VERIFY);
	assert_int_equal(cfg->outbound_port, 2525);
	assert_int_equal(cfg->queue_lifetime, 14 * 86400);
	assert_int_equal(cfg->retry_min, 30);
	assert_int_equal(cfg->retry_max, 90 * 60);
	assert_int_equal(cfg->outbound_max_connections, 7);
	assert_int_equal(cfg->outbound_max_per_destination, 3);
	assert_true(cfg->outbound_ca_file[0] == '/');
	assert_true(cfg->outbound_dnssec_require);
	assert_int_equal(config_tls_level(cfg, "example.org"), OUTBOUND_TLS_ENCRYPT);
	assert_int_equal(config_tls_level(cfg, "EXAMPLE.net"), OUTBOUND_TLS_NONE);
	assert_int_equal(config_tls_level(cfg, "other.example"), OUTBOUND_TLS_VERIFY);
	assert_int_equal(config_line(cfg, "tls_policy", "example.net"), 13);
	config_free(&cfg);
}

static void test_relayhost_forms(void **state)
{
	static const struct {
		const char *value, *host;
		unsigned port;
		bool mx;
	} cases[] = {
		{ "[smtp.provider.example]:587", "smtp.provider.example", 587, false },
		{ "[SMTP.Provider.example]", "smtp.provider.example", 25, false },
		{ "provider.example:2525", "provider.example", 2525, true },
		{ "provider.example", "provider.example", 25, true },
		{ "[192.0.2.1]:465", "192.0.2.1", 465, false },
		{ "[2001:db8::1]:587", "2001:db8::1", 587, false },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct config *cfg;
		const char *error;
		char *text = xasprintf("[outbound]\nrelayhost = %s\n", cases[i].value);
		assert_int_equal(load(text, &cfg, &error), 0);
		assert_string_equal(cfg->relay_host, cases[i].host);
		assert_int_equal(cfg->relay_port, cases[i].port);
		assert_int_equal(cfg->relay_mx, cases[i].mx);
		config_free(&cfg);
		free(text);
	}
}

static void test_errors(void **state)
{
	assert_string_equal(load_error("[outbound]\ntls = strict\n"),
			    "2: tls: 'strict' must be none, may, encrypt, dane or verify");
	assert_string_equal(load_error("[outbound]\nqueue_lifetime = 5 days\n"),
			    "2: queue_lifetime: '5 days' must be a duration from 1s to "
			    "8640000s (a number of seconds, or with s, m, h, d or w)");
	assert_string_equal(load_error("[outbound]\nretry_min = 0\n") + 3,
			    "retry_min: '0' must be a duration from 1s to 86400s (a "
			    "number of seconds, or with s, m, h, d or w)");
	assert_string_equal(load_error("[outbound]\nretry_min = 1h\nretry_max = 10m\n"),
			    "3: retry_max (600s) is below retry_min (3600s)");
	assert_string_equal(load_error("[outbound]\ndnssec = yes\n"),
			    "2: dnssec: 'yes' must be auto or require");
	assert_string_equal(load_error("[outbound]\nrelayhost = [smtp.example\n"),
			    "2: relayhost: '[smtp.example': expected [host]:port, "
			    "[address]:port, host:port or host");
	assert_string_equal(load_error("[outbound]\nrelayhost = [smtp.example]:0\n"),
			    "2: relayhost: port '0' must be 1..65535");
	assert_string_equal(load_error("[outbound]\nrelayhost = [bad_host]:25\n"),
			    "2: relayhost: '[bad_host]:25': expected [host]:port, "
			    "[address]:port, host:port or host");
	assert_string_equal(load_error("[outbound]\nrelayhost = 192.0.2.1:25\n"),
			    "2: relayhost: '192.0.2.1:25': expected [host]:port, "
			    "[address]:port, host:port or host");
	assert_string_equal(load_error("[tls_policy]\nexample.org = strict\n"),
			    "2: [tls_policy] example.org: 'strict' must be none, may, "
			    "encrypt, dane or verify");
	assert_string_equal(load_error("[tls_policy]\nexample.org = may\nEXAMPLE.org = none\n"),
			    "3: [tls_policy] 'example.org' is set twice (first on line 2)");
	assert_string_equal(load_error("[tls_policy]\nbad_name = may\n"),
			    "2: [tls_policy] 'bad_name' is not a domain name");
	assert_string_equal(load_error("[outbound]\nrelayhost_auth = x\n"),
			    "2: relayhost_auth needs a relayhost");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_relayhost_forms),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
