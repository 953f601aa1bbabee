/* test_smtp_parse.c — RFC 5321 paths, MAIL parameters, the DATA decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

static void test_dot_decoder_split_anywhere(void **state)
{
	const char *msg = "H: v\r\n\r\n..dot\r\nx\n.\ny\r\n.\r\n";
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
		assert_int_equal(o, strlen("H: v\r\n\r\n.dot\r\nx\r\n.\r\ny\r\n"));
		assert_memory_equal(out, "H: v\r\n\r\n.dot\r\nx\r\n.\r\ny\r\n", o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_dot_decoder),
		cmocka_unit_test(test_dot_decoder_split_anywhere),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
