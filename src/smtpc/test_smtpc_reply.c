/* test_smtpc_reply.c — SMTP replies as the client reads them: one line,
 * several, EHLO keywords (SIZE, AUTH mechanisms), and what is no reply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "smtpc/smtpc.h"
#include "lib/util.h"

static enum smtpc_parse feed(struct smtpc_reply_parser *p, const char *line,
			     bool ehlo, const char **error_r)
{
	return smtpc_reply_line(p, line, strlen(line), ehlo, error_r);
}

static void test_one_line(void **state)
{
	struct smtpc_reply_parser p = { 0 };
	const char *error;

	assert_int_equal(feed(&p, "250 2.0.0 Ok: queued as 123", false, &error),
			 SMTPC_PARSE_DONE);
	assert_int_equal(p.reply.code, 250);
	assert_string_equal(p.reply.text, "250 2.0.0 Ok: queued as 123");
	assert_int_equal(feed(&p, "354", false, &error), SMTPC_PARSE_DONE);
	assert_int_equal(p.reply.code, 354);
	assert_string_equal(p.reply.text, "354");
}

static void test_multi_line_and_ehlo(void **state)
{
	struct smtpc_reply_parser p = { 0 };
	const char *error;
	static const char *const lines[] = {
		"250-mx.example.org Hello", "250-PIPELINING", "250-SIZE 10240000",
		"250-auth login PLAIN xoauth2", "250-STARTTLS", "250-8BITMIME",
		"250-ENHANCEDSTATUSCODES", "250-SMTPUTF8",
	};

	for (size_t i = 0; i < N_ELEMENTS(lines); i++)
		assert_int_equal(feed(&p, lines[i], true, &error), SMTPC_PARSE_MORE);
	assert_int_equal(feed(&p, "250 CHUNKING", true, &error), SMTPC_PARSE_DONE);
	assert_int_equal(p.ext, SMTPC_EXT_PIPELINING | SMTPC_EXT_SIZE |
			 SMTPC_EXT_AUTH_LOGIN | SMTPC_EXT_AUTH_PLAIN |
			 SMTPC_EXT_STARTTLS | SMTPC_EXT_8BITMIME |
			 SMTPC_EXT_ENHANCED | SMTPC_EXT_SMTPUTF8);
	assert_int_equal(p.size, 10240000);
	assert_true(strncmp(p.reply.text, "250-mx.example.org Hello 250-PIPELINING", 39) == 0);
	/* the greeting line is no keyword; a second reply starts afresh */
	assert_int_equal(feed(&p, "250-STARTTLS", true, &error), SMTPC_PARSE_MORE);
	assert_int_equal(feed(&p, "250 SIZE", true, &error), SMTPC_PARSE_DONE);
	assert_int_equal(p.ext, SMTPC_EXT_SIZE);
	assert_int_equal(p.size, 0);
	/* keywords of a 550 reply are not collected when not asked */
	assert_int_equal(feed(&p, "550-5.1.1 no", false, &error), SMTPC_PARSE_MORE);
	assert_int_equal(feed(&p, "550 5.1.1 such user", false, &error), SMTPC_PARSE_DONE);
	assert_string_equal(p.reply.text, "550-5.1.1 no 550 5.1.1 such user");
}

static void test_not_replies(void **state)
{
	struct smtpc_reply_parser p = { 0 };
	const char *error;
	char many[16];

	assert_int_equal(feed(&p, "25", false, &error), SMTPC_PARSE_ERROR);
	assert_int_equal(feed(&p, "hello", false, &error), SMTPC_PARSE_ERROR);
	assert_string_equal(error, "not an SMTP reply line");
	assert_int_equal(feed(&p, "650 what", false, &error), SMTPC_PARSE_ERROR);
	assert_int_equal(feed(&p, "250_x", false, &error), SMTPC_PARSE_ERROR);
	assert_int_equal(feed(&p, "250-a", false, &error), SMTPC_PARSE_MORE);
	assert_int_equal(feed(&p, "251 b", false, &error), SMTPC_PARSE_ERROR);
	assert_string_equal(error, "reply lines with different codes");
	/* after an error the parser starts over */
	assert_int_equal(feed(&p, "220 ready", false, &error), SMTPC_PARSE_DONE);
	for (int i = 0; i < SMTPC_REPLY_LINES_MAX; i++)
		assert_int_equal(feed(&p, "250-x", false, &error), SMTPC_PARSE_MORE);
	snprintf(many, sizeof(many), "250 last");
	assert_int_equal(feed(&p, many, false, &error), SMTPC_PARSE_ERROR);
	assert_string_equal(error, "reply with too many lines");
}

static void test_text_is_bounded_and_clean(void **state)
{
	struct smtpc_reply_parser p = { 0 };
	const char *error;
	char line[SMTPC_REPLY_LINE_MAX];

	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line, "451-", 4);
	line[10] = '\x1b';
	assert_int_equal(feed(&p, line, false, &error), SMTPC_PARSE_MORE);
	assert_int_equal(feed(&p, "451 end", false, &error), SMTPC_PARSE_DONE);
	assert_int_equal(strlen(p.reply.text), SMTPC_REPLY_TEXT_MAX);
	assert_null(strchr(p.reply.text, '\x1b'));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_line),
		cmocka_unit_test(test_multi_line_and_ehlo),
		cmocka_unit_test(test_not_replies),
		cmocka_unit_test(test_text_is_bounded_and_clean),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
