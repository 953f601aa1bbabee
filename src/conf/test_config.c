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
		"[limits]\nmax_message_size = 1048576\n", &cfg, &error), 0);
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
	config_free(&cfg);
	assert_null(cfg);
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
		{ "just words\n", ":1: syntax error (expected 'key = value' or '[section]')" },
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
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_example),
		cmocka_unit_test(test_continued_list),
		cmocka_unit_test(test_errors_name_the_line),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_line_limit_exact),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_missing_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
