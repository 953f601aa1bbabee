/* test_smtp_parse.c — RFC 5321 paths, MAIL parameters, the DATA decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "smtp/smtp.h"

static void test_paths(void **state)
{
	struct smtp_path p;
	const char *rest, *error;

	assert_int_equal(smtp_parse_path("<Alice@Example.TEST> SIZE=10", false, &p,
					 &rest, &error), 0);
	assert_string_equal(p.address, "Alice@Example.TEST");
	assert_string_equal(p.local, "Alice");
	assert_string_equal(p.domain, "example.test");
	assert_string_equal(rest, "SIZE=10");

	assert_int_equal(smtp_parse_path(" <>", true, &p, &rest, &error), 0);
	assert_true(p.null_path);
	assert_int_equal(smtp_parse_path("<>", false, &p, &rest, &error), -1);

	assert_int_equal(smtp_parse_path("<\"a b\\\"c\"@x.test>", false, &p, &rest,
					 &error), 0);
	assert_true(p.quoted);
	assert_string_equal(p.local, "a b\"c");
	assert_string_equal(p.address, "\"a b\\\"c\"@x.test");

	assert_int_equal(smtp_parse_path("<@r1.test,@r2.test:u@x.test>", false, &p,
					 &rest, &error), 0);
	assert_string_equal(p.address, "u@x.test");
	assert_int_equal(smtp_parse_path("<u@[192.0.2.1]>", false, &p, &rest, &error), 0);
	assert_string_equal(p.domain, "[192.0.2.1]");
	assert_int_equal(smtp_parse_path("<postmaster>", false, &p, &rest, &error), 0);
	assert_string_equal(p.domain, "");
	assert_int_equal(smtp_parse_path("<j\xc3\xb6rg@b\xc3\xbc.test>", false, &p,
					 &rest, &error), 0);
	assert_true(p.utf8);
}

static void test_bad_paths(void **state)
{
	static const char *const bad[] = {
		"alice@x.test", "<alice@x.test", "<alice>", "<a..b@x.test>",
		"<.a@x.test>", "<a@-x.test>", "<a@x-.test>", "<a@x..test>",
		"<a@x.test>junk", "<a b@x.test>", "<\"unterminated@x.test>",
		"<a@[]>", "<a@x.test", "", "<", "<@x.test>",
	};
	struct smtp_path p;
	const char *rest, *error;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (smtp_parse_path(bad[i], true, &p, &rest, &error) != -1)
			fail_msg("accepted '%s'", bad[i]);
	}
	char longlocal[100];
	memset(longlocal, 'a', sizeof(longlocal));
	longlocal[0] = '<';
	strcpy(longlocal + 66, "@x.test>");
	assert_int_equal(smtp_parse_path(longlocal, false, &p, &rest, &error), -1);
	assert_string_equal(error, "local part longer than 64 octets");
}

/* RFC 5321 4.1.3 address literals, in paths and alone. */
static void test_address_literals(void **state)
{
	static const char *const good[] = {
		"[192.0.2.1]", "[0.0.0.0]", "[255.255.255.255]", "[001.02.3.004]",
		"[IPv6:2001:db8::1]", "[ipv6:::1]", "[IPv6:::]",
		"[IPv6:1:2:3:4:5:6:7:8]", "[IPv6:::ffff:192.0.2.1]",
		"[IPv6:2001:DB8:0:0:8:800:200C:417A]",
	};
	static const struct { const char *lit, *error; } bad[] = {
		{ "[300.1.1.1]", "bad IPv4 address literal" },
		{ "[256.0.0.1]", "bad IPv4 address literal" },
		{ "[1.2.3]", "bad IPv4 address literal" },
		{ "[1.2.3.4.5]", "bad IPv4 address literal" },
		{ "[1.2.3.0004]", "bad IPv4 address literal" },
		{ "[1..2.3]", "bad IPv4 address literal" },
		{ "[-1.2.3.4]", "bad IPv4 address literal" },
		{ "[1.2.3.4 ]", "bad IPv4 address literal" },
		{ "[]", "bad IPv4 address literal" },
		{ "[example.test]", "bad IPv4 address literal" },
		{ "[IPv6:2001:db8::g]", "bad IPv6 address literal" },
		{ "[IPv6:1:2:3:4:5:6:7:8:9]", "bad IPv6 address literal" },
		{ "[IPv6:1::2::3]", "bad IPv6 address literal" },
		{ "[IPv6:192.0.2.1]", "bad IPv6 address literal" },
		{ "[IPv6:fe80::1%eth0]", "bad IPv6 address literal" },
		{ "[IPv6:]", "bad IPv6 address literal" },
		{ "[2001:db8::1]", "address literal tag not supported (only IPv6:)" },
		{ "[x400:anything]", "address literal tag not supported (only IPv6:)" },
		{ "[192.0.2.1", "address literal without ']'" },
		{ "[IPv6:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]",
		  "address literal too long" },
	};
	struct smtp_literal lit;
	struct smtp_path p;
	const char *error, *rest;
	char path[128];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (smtp_literal_scan(good[i], &lit, &error) != strlen(good[i]))
			fail_msg("refused '%s': %s", good[i], error);
		snprintf(path, sizeof(path), "<u@%s>", good[i]);
		assert_int_equal(smtp_parse_path(path, false, &p, &rest, &error), 0);
		assert_true(p.literal);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error = NULL;
		if (smtp_literal_scan(bad[i].lit, &lit, &error) != 0 ||
		    strcmp(error, bad[i].error) != 0)
			fail_msg("'%s': %s", bad[i].lit, error ? error : "accepted");
		snprintf(path, sizeof(path), "<u@%s>", bad[i].lit);
		assert_int_equal(smtp_parse_path(path, false, &p, &rest, &error), -1);
		assert_string_equal(error, bad[i].error);
	}
	/* the parsed address, in network order */
	assert_int_equal(smtp_literal_scan("[192.0.2.10]", &lit, &error), 12);
	assert_int_equal(lit.family, SMTP_LITERAL_IPV4);
	assert_memory_equal(lit.addr, "\xc0\x00\x02\x0a", 4);
	assert_int_equal(smtp_literal_scan("[IPv6:2001:db8::1]x", &lit, &error), 18);
	assert_int_equal(lit.family, SMTP_LITERAL_IPV6);
	assert_memory_equal(lit.addr, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	/* the path keeps the literal as written, lower case */
	assert_int_equal(smtp_parse_path("<u@[IPv6:2001:DB8::1]>", false, &p, &rest,
					 &error), 0);
	assert_string_equal(p.domain, "[ipv6:2001:db8::1]");
}

/* RFC 5321 4.1.1.1: EHLO/HELO take a domain or an address literal. */
static void test_helo_argument(void **state)
{
	static const char *const good[] = {
		"mail.example.test", "localhost", "x", "[192.0.2.1]",
		"[IPv6:2001:db8::1]", "DESKTOP_4F2A", "my-pc.local",
		"b\xc3\xbc" "cher.example", "192.0.2.1",
	};
	static const char *const bad[] = {
		"\xff\xfe", "mail.\xff.test", "b\xc3.test", "\xc0\xaf.test",
		"\xed\xa0\x80.test", "-x.test", "x-.test", "x..test", ".x.test",
		"x.test.", "x/y", "x@y", "x\ty", "[300.1.1.1]", "[1.2.3.4]x",
		"[IPv6:zz::1]", "[foo:bar]", "<x.test>", "\"x\"", "",
	};
	const char *error;
	char longname[300];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!smtp_helo_valid(good[i], &error))
			fail_msg("refused '%s': %s", good[i], error);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (smtp_helo_valid(bad[i], &error))
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_false(smtp_helo_valid("[300.1.1.1]", &error));
	assert_string_equal(error, "bad IPv4 address literal");
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	for (size_t i = 60; i < sizeof(longname) - 1; i += 61)
		longname[i] = '.';
	assert_false(smtp_helo_valid(longname, &error));
	assert_string_equal(error, "host name too long");
	longname[64] = '\0';                   /* one label of 64 */
	memset(longname, 'a', 64);
	assert_false(smtp_helo_valid(longname, &error));
	longname[63] = '\0';
	assert_true(smtp_helo_valid(longname, &error));
	/* underscores only in EHLO names, never in path domains */
	assert_int_equal(smtp_domain_scan("a_b.test", SMTP_DOMAIN_UNDERSCORE), 8);
	assert_int_equal(smtp_domain_scan("a_b.test", 0), 1);
	struct smtp_path p;
	const char *rest;
	assert_int_equal(smtp_parse_path("<u@a_b.test>", false, &p, &rest, &error), -1);
}

/* Non-ASCII in addresses only as valid UTF-8 (RFC 6531 3.3). */
static void test_utf8_addresses(void **state)
{
	static const char *const bad[] = {
		"<\xff@x.test>", "<a@\xff.test>", "<\xc3@x.test>", "<a\xc3.b@x.test>",
		"<\xc0\x80@x.test>", "<\xed\xa0\x80@x.test>", "<\xf4\x90\x80\x80@x.test>",
		"<\"\xff\"@x.test>", "<\xe2\x82@x.test>",
	};
	struct smtp_path p;
	const char *rest, *error;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (smtp_parse_path(bad[i], true, &p, &rest, &error) != -1)
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_int_equal(smtp_parse_path("<\"j\xc3\xb6 rg\"@b\xc3\xbc.test>", false,
					 &p, &rest, &error), 0);
	assert_string_equal(p.local, "j\xc3\xb6 rg");
	assert_true(p.utf8);
	assert_int_equal(smtp_parse_path("<\xf0\x9f\x93\xa7@x.test>", false, &p, &rest,
					 &error), 0);
	/* 64 octets of UTF-8 fit; one octet more does not */
	char local[80] = "<";
	for (int i = 0; i < 32; i++)
		strcat(local, "\xc3\xa9");
	strcat(local, "@x.test>");
	assert_int_equal(smtp_parse_path(local, false, &p, &rest, &error), 0);
	memmove(local + 2, local + 1, strlen(local));
	local[1] = 'a';
	assert_int_equal(smtp_parse_path(local, false, &p, &rest, &error), -1);
	assert_string_equal(error, "local part longer than 64 octets");
}

static void test_mail_params(void **state)
{
	struct smtp_mail_params mp;
	const char *error;
	int code;

	assert_int_equal(smtp_parse_mail_params("SIZE=1000 BODY=8BITMIME SMTPUTF8",
						&mp, &code, &error), 0);
	assert_int_equal(mp.size, 1000);
	assert_true(mp.body_8bit);
	assert_true(mp.smtputf8);
	assert_int_equal(smtp_parse_mail_params("size=x", &mp, &code, &error), -1);
	assert_int_equal(code, 501);
	assert_int_equal(smtp_parse_mail_params("BODY=BINARYMIME", &mp, &code, &error), -1);
	assert_int_equal(smtp_parse_mail_params("RET=FULL", &mp, &code, &error), -1);
	assert_int_equal(code, 555);
	assert_int_equal(smtp_parse_mail_params("SIZE=123456789012345678901", &mp,
						&code, &error), -1);
}

/* Decode all of in; returns true if the end was seen, output in out. */
static bool decode(const char *in, char *out, size_t *consumed_r)
{
	enum smtp_dot_state st = SMTP_DOT_LINE_START;
	size_t len = strlen(in), used, produced;
	bool end = smtp_dot_decode(&st, (const unsigned char *)in, len, &used,
				   (unsigned char *)out, len * SMTP_DOT_EXPANSION + 1,
				   &produced);
	out[produced] = '\0';
	*consumed_r = used;
	return end;
}

static void test_dot_decoder(void **state)
{
	char out[256];
	size_t used;

	assert_true(decode("a\r\n..b\r\n.\r\nNOOP\r\n", out, &used));
	assert_string_equal(out, "a\r\n.b\r\n");
	assert_int_equal(used, strlen("a\r\n..b\r\n.\r\n"));
	/* the end at the very start (empty message) */
	assert_true(decode(".\r\n", out, &used));
	assert_string_equal(out, "");
	/* smuggling sequences never end the data */
	assert_false(decode("a\n.\nb", out, &used));
	assert_string_equal(out, "a\r\n.\r\nb");
	assert_false(decode("a\n.\r\nb", out, &used));
	assert_string_equal(out, "a\r\n.\r\nb");
	assert_false(decode("a\r.\r\nb", out, &used));
	assert_string_equal(out, "a\r.\r\nb");
	assert_false(decode("a\r\n.\nb", out, &used));
	assert_string_equal(out, "a\r\n.\r\nb");
	/* ".x" loses its dot; bare CR stays */
	assert_false(decode("a\r\n.x\r\r\n", out, &used));
	assert_string_equal(out, "a\r\nx\r\r\n");
	assert_false(decode("a\r\n.\rx", out, &used));
	assert_string_equal(out, "a\r\n\rx");
}

/* Postfix's smtpd_forbid_bare_newline = normalize, byte for byte: a line
 * ended by a bare LF is a line (CRLF, unstuffed), never part of an end. */
static void test_dot_decoder_bare_lf_lines(void **state)
{
	static const struct { const char *in, *out; bool end; } cases[] = {
		/* a dot-stuffed line after a bare-LF line loses its dot */
		{ "a\n..starts with dot\n", "a\r\n.starts with dot\r\n", false },
		/* a lone stuffed ".." line, LF-ended, is "." */
		{ "a\n..\nb\n", "a\r\n.\r\nb\r\n", false },
		{ "a\r\n..\nb", "a\r\n.\r\nb", false },
		{ "a\n.x\n", "a\r\nx\r\n", false },
		/* a whole message with LF line ends, dot-stuffed like CRLF */
		{ "S: x\n\n..a\n..\n.b\nc\r\n.\r\n",
		  "S: x\r\n\r\n.a\r\n.\r\nb\r\nc\r\n", true },
		/* ...but ends only at <CRLF>.<CRLF> */
		{ "S: x\n\nb\n.\r\n", "S: x\r\n\r\nb\r\n.\r\n", false },
		/* lone dots next to a bare LF are lines ".", never an end */
		{ "a\n.\nb", "a\r\n.\r\nb", false },
		{ "a\n.\r\nb", "a\r\n.\r\nb", false },
		{ "a\r\n.\nb", "a\r\n.\r\nb", false },
		{ "\n.\n", "\r\n.\r\n", false },
		/* after such a line, a real end still ends */
		{ "a\n.\r\n.\r\n", "a\r\n.\r\n", true },
		{ "a\n.\n.\r\n", "a\r\n.\r\n.\r\n", false },
		/* ".<CR>x" after a bare LF: the dot goes, the CR stays */
		{ "a\n.\rx\n", "a\r\n\rx\r\n", false },
		/* a bare CR ends no line: no unstuffing after it */
		{ "a\r..b\r\n", "a\r..b\r\n", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[256];
		size_t used;
		bool end = decode(cases[i].in, out, &used);
		if (end != cases[i].end || strcmp(out, cases[i].out) != 0)
			fail_msg("case %zu: end=%d out='%s'", i, end, out);
	}
}

static void test_dot_decoder_split_anywhere(void **state)
{
	const char *msg = "H: v\r\n\r\n..dot\r\nx\n.\ny\n..z\n.\r\n.\r\n";
	const char *want = "H: v\r\n\r\n.dot\r\nx\r\n.\r\ny\r\n.z\r\n.\r\n";
	size_t len = strlen(msg);
	for (size_t cut = 0; cut < len; cut++) {
		enum smtp_dot_state st = SMTP_DOT_LINE_START;
		unsigned char out[256];
		size_t o = 0, used, produced;
		bool end = smtp_dot_decode(&st, (const unsigned char *)msg, cut, &used,
					   out, sizeof(out), &produced);
		assert_false(end);
		o += produced;
		end = smtp_dot_decode(&st, (const unsigned char *)msg + cut, len - cut,
				      &used, out + o, sizeof(out) - o, &produced);
		assert_true(end);
		o += produced;
		assert_int_equal(o, strlen(want));
		assert_memory_equal(out, want, o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_address_literals),
		cmocka_unit_test(test_helo_argument),
		cmocka_unit_test(test_utf8_addresses),
		cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_dot_decoder),
		cmocka_unit_test(test_dot_decoder_bare_lf_lines),
		cmocka_unit_test(test_dot_decoder_split_anywhere),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
