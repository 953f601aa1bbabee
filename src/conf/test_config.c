/* test_config.c — config parsing: table options, errors with FILE:LINE. */
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

static char *write_tmp(const char *text, size_t len)
{
	char tmpl[] = "/tmp/sealpost-conf-XXXXXX";
	int fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return xstrdup(tmpl);
}

static int load_bytes(const char *text, size_t len, struct config **cfg_r,
		      const char **error_r)
{
	char *path = write_tmp(text, len);
	int ret = config_load(path, true, cfg_r, error_r);
	unlink(path);
	free(path);
	return ret;
}

static int load(const char *text, struct config **cfg_r, const char **error_r)
{
	return load_bytes(text, strlen(text), cfg_r, error_r);
}

static void test_full_example(void **state)
{
	struct config *cfg;
	const char *error;

	assert_int_equal(load(
		"hostname    = Mail.Example.test\n"
		"domains     = example.test, EXAMPLE.org\n"
		"data_dir    = data\n"
		"certs_dir   = /etc/certs\n"
		"certificate = mail\n"
		"user        = sealpost        # drop privileges\n"
		"[listen]                      # comment\n"
		"smtp       = 0.0.0.0:25\n"
		"submission = 127.0.0.1:587, [::1]:587\n"
		"[tls]\nmin_version = TLSv1.3\n"
		"[limits]\nmax_message_size = 1048576\nquota = 2G\n", &cfg, &error), 0);
	assert_string_equal(cfg->hostname, "mail.example.test");
	assert_int_equal(cfg->n_domains, 2);
	assert_string_equal(cfg->domains[1], "example.org");
	assert_true(config_is_local_domain(cfg, "Example.Test"));
	assert_false(config_is_local_domain(cfg, "example.net"));
	assert_string_equal(cfg->user, "sealpost");
	assert_string_equal(cfg->certs_dir, "/etc/certs");
	assert_string_equal(cfg->data_dir + strlen(cfg->data_dir) - 5, "/data");
	assert_true(cfg->data_dir[0] == '/');
	assert_int_equal(cfg->n_listen[SERVICE_SMTP], 1);
	assert_int_equal(cfg->n_listen[SERVICE_SUBMISSION], 2);
	assert_string_equal(cfg->listen[SERVICE_SUBMISSION][1].text, "[::1]:587");
	assert_int_equal(cfg->n_listen[SERVICE_IMAP], 0);
	assert_int_equal(cfg->tls_min_version, 0x0304);
	assert_int_equal(cfg->max_message_size, 1048576);
	assert_int_equal(cfg->max_recipients, 100);
	assert_int_equal(cfg->login_timeout, 180);
	assert_int_equal(cfg->data_min_rate, 256);
	assert_int_equal(cfg->data_rate_window, 60);
	assert_int_equal(cfg->data_rate_grace, 30);
	assert_int_equal(cfg->quota, 2147483648u);
	assert_int_equal(cfg->quota_messages, 0);
	config_free(&cfg);
	assert_null(cfg);
}

/* A blank libinih also trims (\f, \v) before an inline comment: the value
 * reads as it would without the comment (found by fuzz_config: "y\f"
 * written back read as "y"). */
static void test_blanks_before_a_comment(void **state)
{
	struct config *cfg;
	const char *error;

	assert_int_equal(load("user = y\f # x\n", &cfg, &error), 0);
	assert_string_equal(cfg->user, "y");
	config_free(&cfg);
	assert_int_equal(load("user = y\v\f\n", &cfg, &error), 0);
	assert_string_equal(cfg->user, "y");
	config_free(&cfg);
}

static void test_continued_list(void **state)
{
	struct config *cfg;
	const char *error;

	assert_int_equal(load("domains = a.test,\n   b.test\n  c.test\n",
			      &cfg, &error), 0);
	assert_int_equal(cfg->n_domains, 3);
	assert_string_equal(cfg->domains[2], "c.test");
	config_free(&cfg);
}

static void test_outbound_resolver(void **state)
{
	static const struct { const char *value, *want; } cases[] = {
		{ "127.0.0.1:5353", "127.0.0.1:5353" },
		{ "192.0.2.53", "192.0.2.53:53" },
		{ "[::1]:5300", "[::1]:5300" },
		{ "[2001:db8::53]", "[2001:db8::53]:53" },
	};
	struct config *cfg;
	const char *error;
	char text[200];

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		snprintf(text, sizeof(text), "[outbound]\nresolver = %s\n"
			 "trust_anchor = anchors/root.key\n", cases[i].value);
		assert_int_equal(load(text, &cfg, &error), 0);
		assert_string_equal(cfg->outbound_resolver, cases[i].want);
		assert_true(cfg->outbound_trust_anchor[0] == '/');
		assert_non_null(strstr(cfg->outbound_trust_anchor,
				       "/anchors/root.key"));
		config_free(&cfg);
	}
	/* Empty, as in the INTERFACE.md example: the system's resolver and
	 * the Debian root key. */
	assert_int_equal(load("[outbound]\nresolver =\ntrust_anchor =\n",
			      &cfg, &error), 0);
	assert_null(cfg->outbound_resolver);
	assert_null(cfg->outbound_trust_anchor);
	config_free(&cfg);
}

struct bad_case {
	const char *text;
	const char *error;   /* expected suffix after the file name */
};

static void test_errors_name_the_line(void **state)
{
	static const struct bad_case cases[] = {
		{ "domains = a.test\nbogus = 1\n", ":2: unknown setting 'bogus'" },
		{ "[nosuch]\nx = 1\n", ":2: unknown section [nosuch]" },
		{ "[limits]\nmax_message_size = 12x\n",
		  ":2: max_message_size: '12x' must be a number from 1024 to 2147483648" },
		{ "domains = a.test\ndomains = b.test\n", ":2: 'domains' is set twice" },
		{ "[limits]\ndata_rate_window = 0\n",
		  ":2: data_rate_window: '0' must be a number from 1 to 3600" },
		{ "[limits]\nquota = 1Q\n",
		  ":2: quota: '1Q' must be a size such as 500M or 2G (0 for none)" },
		{ "\n\n[listen]\nsmtp = 1.2.3:25\n",
		  ":4: listen smtp: '1.2.3': not a numeric IPv4 address" },
		{ "[listen]\nsmtp = ::1:25\n",
		  ":2: listen smtp: '::1': write IPv6 addresses as [ADDRESS]:PORT" },
		{ "[listen]\nimap = 127.0.0.1:70000\n",
		  ":2: listen imap: '70000': port must be 1..65535" },
		{ "[tls]\nmin_version = TLSv1.1\n",
		  ":2: min_version: 'TLSv1.1' must be TLSv1.2 or TLSv1.3" },
		{ "domains = exa mple.test\n",
		  ":1: 'exa mple.test' is not a valid domain name" },
		{ "certificate = ../x\n",
		  ":1: certificate: '../x' must be a plain file name (no '/', no leading '.')" },
		{ "hostname = a.test\n  b.test\n",
		  ":2: 'hostname' takes one value; remove the indentation" },
		{ "[outbound]\nresolver = ns.example.org:53\n",
		  ":2: resolver: 'ns.example.org': not a numeric IPv4 address" },
		{ "[outbound]\nresolver = ::1\n",
		  ":2: resolver: '::1': write IPv6 addresses as [ADDRESS]:PORT" },
		{ "[outbound]\nresolver = 127.0.0.1:0\n",
		  ":2: resolver: '0': port must be 1..65535" },
		{ "just words\n", ":1: syntax error (expected 'key = value' or '[section]')" },
		{ "certificate =\n",
		  ":1: certificate: '' must be a plain file name (no '/', no leading '.')" },
		{ "certificate = mail, ../x\n",
		  ":1: certificate: '../x' must be a plain file name (no '/', no leading '.')" },
		{ "certificate = my cert\n",
		  ":1: certificate: 'my cert' must be a pair name (letters, digits, '.', "
		  "'-', '_', at most 64)" },
		{ "certificate = mail, mail\n", ":1: certificate: 'mail' is listed twice" },
		{ "certificate = a, b, c\n", ":1: certificate: at most 2 pairs (one RSA "
		  "and one ECDSA pair for the same names)" },
		{ "certificate = a,\n  b,\n  c\n", ":3: certificate: at most 2 pairs "
		  "(one RSA and one ECDSA pair for the same names)" },
		{ "[sni]\nmail example.org = x\n", ":2: [sni] 'mail example.org': "
		  "expected a host name such as mail.example.org, or a wildcard such "
		  "as *.example.org" },
		{ "[sni]\n*.org = x\n", ":2: [sni] '*.org': expected a host name such as "
		  "mail.example.org, or a wildcard such as *.example.org" },
		{ "[sni]\nf*.example.org = x\n", ":2: [sni] 'f*.example.org': expected a "
		  "host name such as mail.example.org, or a wildcard such as *.example.org" },
		{ "[sni]\n*.*.example.org = x\n", ":2: [sni] '*.*.example.org': expected a "
		  "host name such as mail.example.org, or a wildcard such as *.example.org" },
		{ "[sni]\n192.0.2.1 = x\n", ":2: [sni] '192.0.2.1': clients never send "
		  "an IP address as SNI (RFC 6066 3); expected a host name" },
		{ "[sni]\na.example.org = x\nA.Example.ORG = y\n",
		  ":3: [sni] 'a.example.org' is set twice (first on line 2)" },
		{ "[sni]\na.example.org = .x\n", ":2: [sni] a.example.org: '.x' must "
		  "be a plain file name (no '/', no leading '.')" },
		{ "[sni]\na.example.org = x, y, z\n", ":2: [sni] a.example.org: at most "
		  "2 pairs (one RSA and one ECDSA pair for the same names)" },
		{ "[sni]\na.example.org = x,\n   x\n", ":3: [sni] a.example.org: 'x' is "
		  "listed twice" },
		{ "[sni]\na.example.org =\n", ":2: [sni] a.example.org: '' must be a "
		  "plain file name (no '/', no leading '.')" },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct config *cfg = NULL;
		const char *error = NULL;
		assert_int_equal(load(cases[i].text, &cfg, &error), -1);
		assert_null(cfg);
		const char *colon = strchr(error, ':');
		assert_non_null(colon);
		if (strcmp(colon, cases[i].error) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, colon, cases[i].error);
	}
}

static void test_certificates_and_sni(void **state)
{
	struct config *cfg;
	const char *error;

	assert_int_equal(load(
		"hostname = mail.example.test\n"
		"certificate = mail, mail-ec\n"
		"[sni]\n"
		"# a comment\n"
		"Mail.Example.ORG = org-cert   # trailing comment\n"
		"*.example.net = net-rsa,\n"
		"   net-ec\n"
		"[limits]\n"
		"max_recipients = 200\n", &cfg, &error), 0);
	assert_string_equal(cfg->certificate, "mail");
	assert_int_equal(cfg->n_certificates, 2);
	assert_string_equal(cfg->certificates[0], "mail");
	assert_string_equal(cfg->certificates[1], "mail-ec");
	assert_null(cfg->certificates[2]);
	assert_int_equal(cfg->n_sni, 2);
	assert_string_equal(cfg->sni[0].host, "mail.example.org");
	assert_int_equal(cfg->sni[0].n_pairs, 1);
	assert_string_equal(cfg->sni[0].pairs[0], "org-cert");
	assert_int_equal(cfg->sni[0].line, 5);
	assert_string_equal(cfg->sni[1].host, "*.example.net");
	assert_int_equal(cfg->sni[1].n_pairs, 2);
	assert_string_equal(cfg->sni[1].pairs[1], "net-ec");
	assert_int_equal(cfg->sni[1].line, 6);
	assert_int_equal(config_line(cfg, "", "certificate"), 2);
	assert_int_equal(config_line(cfg, "", "hostname"), 1);
	assert_int_equal(config_line(cfg, "", "data_dir"), 0);
	assert_int_equal(config_line(cfg, "limits", "max_recipients"), 9);
	assert_int_equal(config_line(cfg, "sni", "*.example.net"), 6);
	assert_int_equal(config_line(cfg, "sni", "other.example.net"), 0);
	config_free(&cfg);

	/* One pair, as before: the list holds it alone. */
	assert_int_equal(load("certificate = mail\n", &cfg, &error), 0);
	assert_string_equal(cfg->certificate, "mail");
	assert_int_equal(cfg->n_certificates, 1);
	assert_int_equal(cfg->n_sni, 0);
	config_free(&cfg);
}

static void test_sni_limit(void **state)
{
	struct buf b = { 0 };
	struct config *cfg = NULL;
	const char *error;

	buf_printf(&b, "[sni]\n");
	for (int i = 0; i <= CONFIG_SNI_MAX; i++)
		buf_printf(&b, "h%d.example.org = x\n", i);
	assert_int_equal(load(b.data, &cfg, &error), -1);
	assert_non_null(strstr(error, errfmt(":%d: [sni]: at most %d entries",
					     CONFIG_SNI_MAX + 2, CONFIG_SNI_MAX)));
	buf_free(&b);
}

static void test_long_line(void **state)
{
	struct config *cfg = NULL;
	const char *error;
	char text[600];

	memset(text, 'a', sizeof(text));
	memcpy(text, "domains = ", 10);
	memcpy(text + sizeof(text) - 2, "\n", 2);
	assert_int_equal(load(text, &cfg, &error), -1);
	assert_non_null(strstr(error, ":1: line is longer than 199 bytes"));
}

/* "user = uuu...": a line of exactly len bytes, then end. */
static int load_line_of(size_t len, const char *end, struct config **cfg_r,
			const char **error_r)
{
	char text[CONFIG_LINE_MAX + 8];
	assert_true(len + strlen(end) < sizeof(text));
	memset(text, 'u', len);
	memcpy(text, "user = ", 7);
	strcpy(text + len, end);
	return load(text, cfg_r, error_r);
}

/* CONFIG_LINE_MAX bytes are allowed, whatever ends the line (found by
 * fuzz_config: a 199-byte line was refused as "longer than 199 bytes"). */
static void test_line_limit_exact(void **state)
{
	static const char *const ends[] = { "\n", "\r\n", "" };
	struct config *cfg = NULL;
	const char *error;

	for (size_t i = 0; i < N_ELEMENTS(ends); i++) {
		assert_int_equal(load_line_of(CONFIG_LINE_MAX, ends[i], &cfg, &error), 0);
		assert_int_equal(strlen(cfg->user), CONFIG_LINE_MAX - 7);
		config_free(&cfg);
		assert_int_equal(load_line_of(CONFIG_LINE_MAX + 1, ends[i], &cfg,
					      &error), -1);
		assert_non_null(strstr(error, ":1: line is longer than 199 bytes"));
	}
}

/* A NUL byte is refused: it used to end the line early, and a line padded
 * past the limit after it was read as two lines, the rest a setting. */
static void test_nul_byte(void **state)
{
	struct config *cfg = NULL;
	const char *error;
	char text[300];
	size_t pad = CONFIG_LINE_MAX + 1 - 9;
	int n;

	memcpy(text, "user = x\0", 9);
	memset(text + 9, 'y', pad);
	n = snprintf(text + 9 + pad, sizeof(text) - 9 - pad, "hostname = evil.test\n");
	assert_int_equal(load_bytes(text, 9 + pad + (size_t)n, &cfg, &error), -1);
	assert_null(cfg);
	assert_non_null(strstr(error, ":1: line holds a NUL byte"));
	assert_int_equal(load_bytes("domains = a.test\nuser = a\0b\n", 28, &cfg,
				    &error), -1);
	assert_non_null(strstr(error, ":2: line holds a NUL byte"));
}

static void test_missing_file(void **state)
{
	struct config *cfg = NULL;
	const char *error;

	assert_int_equal(config_load("/nonexistent/sealpost.conf", true, &cfg,
				     &error), -1);
	assert_string_equal(error, "/nonexistent/sealpost.conf: No such file or directory");
	assert_int_equal(config_load("/nonexistent/sealpost.conf", false, &cfg,
				     &error), 0);
	assert_string_equal(cfg->certificate, "mail");
	assert_int_equal(cfg->n_certificates, 1);
	assert_string_equal(cfg->certificates[0], "mail");
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_example),
		cmocka_unit_test(test_continued_list),
		cmocka_unit_test(test_blanks_before_a_comment),
		cmocka_unit_test(test_outbound_resolver),
		cmocka_unit_test(test_errors_name_the_line),
		cmocka_unit_test(test_certificates_and_sni),
		cmocka_unit_test(test_sni_limit),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_line_limit_exact),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_missing_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
