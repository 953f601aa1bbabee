/* test_imap_parser.c — command parser: tokens, lists, literals, LITERAL+,
 * APPEND streaming, every BAD reason, limits, accessors, flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_parser.h"
#include "imap/imap_util.h"
#include "lib/util.h"

#define APPEND_MAX 100000

static enum imap_parse_result feed(struct imap_parser *p, const char *line)
{
	return imap_parser_feed_line(p, line, strlen(line));
}

/* Parse one complete single-line command. */
static const struct imap_command *parse_ok(struct imap_parser *p, const char *line)
{
	assert_int_equal(feed(p, line), IMAP_PARSE_COMPLETE);
	return imap_parser_command(p);
}

static void assert_bad(const char *line, const char *reason)
{
	struct imap_parser *p = imap_parser_new(APPEND_MAX);
	assert_int_equal(feed(p, line), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p)->text, reason);
	assert_false(imap_parser_error(p)->disconnect);
	/* the next line is a new command again */
	assert_int_equal(feed(p, "z NOOP"), IMAP_PARSE_COMPLETE);
	imap_parser_free(&p);
}

static void test_simple(void **state)
{
	struct imap_parser *p = imap_parser_new(APPEND_MAX);
	const struct imap_command *cmd = parse_ok(p, "a1 NOOP\r\n");
	assert_string_equal(cmd->tag, "a1");
	assert_string_equal(cmd->name, "NOOP");
	assert_int_equal(cmd->n_args, 0);

	cmd = parse_ok(p, "A002 login joe \"pa ss\\\"w\\\\d\"");
	assert_string_equal(cmd->name, "login");
	assert_int_equal(cmd->n_args, 2);
	assert_int_equal(cmd->args[0].type, IMAP_ARG_ATOM);
	assert_string_equal(cmd->args[0].str, "joe");
	assert_int_equal(cmd->args[1].type, IMAP_ARG_STRING);
	assert_string_equal(cmd->args[1].str, "pa ss\"w\\d");
	assert_int_equal(cmd->args[1].len, 9);

	cmd = parse_ok(p, "t SELECT nil");
	assert_int_equal(cmd->args[0].type, IMAP_ARG_NIL);
	const char *s;
	size_t len;
	assert_true(imap_arg_get_astring(&cmd->args[0], &s, &len));
	assert_string_equal(s, "nil");
	assert_true(imap_arg_get_nstring(&cmd->args[0], &s, &len));
	assert_null(s);

	cmd = parse_ok(p, "t SEARCH LARGER 12345 SMALLER 18446744073709551615 X 18446744073709551616");
	uint64_t n;
	assert_int_equal(cmd->args[1].type, IMAP_ARG_NUMBER);
	assert_true(imap_arg_get_number(&cmd->args[1], UINT32_MAX, &n));
	assert_int_equal(n, 12345);
	assert_true(imap_arg_get_number(&cmd->args[3], UINT64_MAX, &n));
	assert_true(n == UINT64_MAX);
	assert_false(imap_arg_get_number(&cmd->args[3], UINT32_MAX, &n));
	assert_int_equal(cmd->args[5].type, IMAP_ARG_ATOM);  /* overflows */
	imap_parser_free(&p);
}

static void test_lists_and_sections(void **state)
{
	struct imap_parser *p = imap_parser_new(APPEND_MAX);
	const struct imap_command *cmd = parse_ok(p,
		"a UID FETCH 1:*,7 (FLAGS (BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100> UID) ())");
	assert_string_equal(cmd->name, "UID");
	assert_int_equal(cmd->n_args, 3);
	assert_string_equal(cmd->args[0].str, "FETCH");
	assert_string_equal(cmd->args[1].str, "1:*,7");
	const struct imap_arg *l1 = &cmd->args[2], *items;
	size_t count;
	assert_true(imap_arg_get_list(l1, &items, &count));
	assert_int_equal(count, 3);
	assert_string_equal(items[0].str, "FLAGS");
	assert_int_equal(items[1].type, IMAP_ARG_LIST);
	assert_int_equal(items[1].len, 2);
	assert_string_equal(items[1].list[0].str,
			    "BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100>");
	assert_string_equal(items[1].list[1].str, "UID");
	assert_int_equal(items[2].type, IMAP_ARG_LIST);
	assert_int_equal(items[2].len, 0);

	cmd = parse_ok(p, "a STORE 1 +FLAGS.SILENT (\\Seen \\Deleted $Label1)");
	assert_string_equal(cmd->args[2].list[0].str, "\\Seen");
	/* a "[" without "]" is an ordinary atom char */
	cmd = parse_ok(p, "a RENAME a[b c FETCH 1 BODY[HEADER");
	assert_int_equal(cmd->n_args, 5);
	assert_string_equal(cmd->args[0].str, "a[b");
	assert_string_equal(cmd->args[4].str, "BODY[HEADER");
	cmd = parse_ok(p, "a LIST \"\" %/*");
	const char *s;
	size_t len;
	assert_false(imap_arg_get_astring(&cmd->args[1], &s, &len));
	assert_true(imap_arg_get_list_mailbox(&cmd->args[1], &s, &len));
	assert_string_equal(s, "%/*");
	assert_true(imap_arg_get_astring(&cmd->args[0], &s, &len));
	assert_int_equal(len, 0);
	assert_false(imap_arg_get_string(&cmd->args[1], &s, &len));
	imap_parser_free(&p);
}

static void test_sync_literals(void **state)
{
	struct imap_parser *p = imap_parser_new(APPEND_MAX);
	struct imap_literal lit;

	assert_int_equal(feed(p, "a LOGIN {4}\r\n"), IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal(p, &lit);
	assert_int_equal(lit.size, 4);
	assert_true(lit.sync);
	assert_false(lit.stream);
	assert_false(lit.discard);
	/* the partial command is visible while the literal is pending */
	assert_int_equal(imap_parser_command(p)->n_args, 1);
	imap_parser_feed_literal(p, "us", 2);
	imap_parser_feed_literal(p, "er", 2);
	assert_int_equal(feed(p, " {6+}"), IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal(p, &lit);
	assert_int_equal(lit.size, 6);
	assert_false(lit.sync);
	imap_parser_feed_literal(p, "p\"a s)", 6);
	const struct imap_command *cmd = parse_ok(p, "");
	assert_int_equal(cmd->n_args, 2);
	assert_int_equal(cmd->args[0].type, IMAP_ARG_LITERAL);
	assert_string_equal(cmd->args[0].str, "user");
	assert_string_equal(cmd->args[1].str, "p\"a s)");
	const char *s;
	size_t len;
	assert_true(imap_arg_get_astring(&cmd->args[1], &s, &len));
	assert_true(imap_arg_get_string(&cmd->args[1], &s, &len));

	/* literal inside a list, continued with ")"; a zero-length literal
	 * needs no feed call */
	assert_int_equal(feed(p, "b X ({0}"), IMAP_PARSE_NEED_LITERAL);
	assert_int_equal(feed(p, " {3}"), IMAP_PARSE_NEED_LITERAL);
	imap_parser_feed_literal(p, "abc", 3);
	cmd = parse_ok(p, ") end");
	assert_int_equal(cmd->n_args, 2);
	assert_int_equal(cmd->args[0].len, 2);
	assert_int_equal(cmd->args[0].list[0].len, 0);
	assert_string_equal(cmd->args[0].list[1].str, "abc");
	assert_string_equal(cmd->args[1].str, "end");
	imap_parser_free(&p);
}

static void test_append_stream(void **state)
{
	struct imap_parser *p = imap_parser_new(APPEND_MAX);
	struct imap_literal lit;

	assert_int_equal(feed(p, "A003 APPEND saved-messages (\\Seen) "
			      "\"17-Jul-1996 02:44:25 -0700\" {310}"),
			 IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal(p, &lit);
	assert_true(lit.stream);
	assert_true(lit.sync);
	assert_int_equal(lit.size, 310);
	imap_parser_literal_done(p);
	/* MULTIAPPEND: a second message with LITERAL+ */
	assert_int_equal(feed(p, " {20+}"), IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal(p, &lit);
	assert_true(lit.stream);
	assert_false(lit.sync);
	imap_parser_literal_done(p);
	const struct imap_command *cmd = parse_ok(p, "");
	assert_int_equal(cmd->n_args, 5);
	assert_int_equal(cmd->args[3].type, IMAP_ARG_LITERAL_EXT);
	assert_int_equal(cmd->args[3].number, 310);
	assert_int_equal(cmd->args[3].ext_index, 0);
	assert_int_equal(cmd->args[4].number, 20);
	assert_int_equal(cmd->args[4].ext_index, 1);

	/* RFC 3516 literal8 for APPEND messages only */
	assert_int_equal(feed(p, "L1 APPEND INBOX ~{7}"), IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal(p, &lit);
	assert_true(lit.stream && lit.binary && lit.sync);
	imap_parser_literal_done(p);
	assert_int_equal(feed(p, " (\\Seen) ~{3+}"), IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal(p, &lit);
	assert_true(lit.stream && lit.binary && !lit.sync);
	imap_parser_literal_done(p);
	cmd = parse_ok(p, "");
	assert_int_equal(cmd->n_args, 4);
	assert_int_equal(feed(p, "L2 LOGIN ~{3}"), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p)->text,
			    "literal8 is only for APPEND messages");
	assert_int_equal(feed(p, "L3 APPEND ~{5}"), IMAP_PARSE_ERROR);
	cmd = parse_ok(p, "L4 SEARCH SUBJECT ~x");
	assert_string_equal(cmd->args[1].str, "~x");

	/* the mailbox name as a literal is buffered, the message streamed */
	assert_int_equal(feed(p, "b append {5}"), IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal(p, &lit);
	assert_false(lit.stream);
	imap_parser_feed_literal(p, "INBOX", 5);
	assert_int_equal(feed(p, " {99999}"), IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal(p, &lit);
	assert_true(lit.stream);
	imap_parser_literal_done(p);
	cmd = parse_ok(p, "");
	assert_string_equal(cmd->args[0].str, "INBOX");

	/* a literal in a list of APPEND is not a message */
	assert_int_equal(feed(p, "c APPEND x ({3}"), IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal(p, &lit);
	assert_false(lit.stream);
	imap_parser_reset(p);
	imap_parser_free(&p);
}

static void test_append_too_big(void **state)
{
	struct imap_parser *p = imap_parser_new(1000);
	struct imap_literal lit;

	/* synchronising: refused before "+", nothing to skip */
	assert_int_equal(feed(p, "a APPEND INBOX {1001}"), IMAP_PARSE_ERROR);
	assert_true(imap_parser_error(p)->toobig);
	assert_false(imap_parser_error(p)->disconnect);
	assert_string_equal(imap_parser_tag(p), "a");

	/* non-synchronising: the bytes come anyway and are discarded */
	assert_int_equal(feed(p, "b APPEND INBOX {5000+}"), IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal(p, &lit);
	assert_true(lit.discard);
	assert_false(lit.sync);
	assert_int_equal(lit.size, 5000);
	imap_parser_literal_done(p);
	assert_int_equal(feed(p, ""), IMAP_PARSE_ERROR);
	assert_true(imap_parser_error(p)->toobig);
	assert_string_equal(imap_parser_tag(p), "b");

	/* too large to discard: the connection must close */
	char line[64];
	snprintf(line, sizeof(line), "c APPEND INBOX {%d+}", IMAP_LITERAL_DISCARD_MAX + 1);
	assert_int_equal(feed(p, line), IMAP_PARSE_ERROR);
	assert_true(imap_parser_error(p)->disconnect);
	assert_int_equal(feed(p, "d APPEND INBOX {99999999999999999999999+}"),
			 IMAP_PARSE_ERROR);
	assert_true(imap_parser_error(p)->disconnect);
	assert_string_equal(imap_parser_error(p)->text, "Invalid literal size");
	imap_parser_free(&p);
}

static void test_literal_limits(void **state)
{
	struct imap_parser *p = imap_parser_new(APPEND_MAX);
	struct imap_literal lit;
	char line[80];

	snprintf(line, sizeof(line), "a LOGIN {%d}", IMAP_LITERAL_MAX + 1);
	assert_int_equal(feed(p, line), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p)->text, "Literal too large");
	assert_false(imap_parser_error(p)->toobig);

	/* an error earlier in a line ending in {N+}: skip the literal and the
	 * rest of the command, then report */
	assert_int_equal(feed(p, "b X \"bad\\q\" {3+}"), IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal(p, &lit);
	assert_true(lit.discard);
	imap_parser_feed_literal(p, "abc", 3);
	assert_int_equal(feed(p, " more {2+}"), IMAP_PARSE_NEED_LITERAL);
	imap_parser_feed_literal(p, "xy", 2);
	assert_int_equal(feed(p, " done"), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p)->text, "Invalid escape in quoted string");
	assert_string_equal(imap_parser_tag(p), "b");

	/* NUL in a buffered literal */
	assert_int_equal(feed(p, "c LOGIN {3}"), IMAP_PARSE_NEED_LITERAL);
	imap_parser_feed_literal(p, "a\0b", 3);
	assert_int_equal(feed(p, " x"), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p)->text, "NUL in literal");

	/* buffered literals are bounded per command */
	assert_int_equal(feed(p, "d X {60000}"), IMAP_PARSE_NEED_LITERAL);
	char *big = xcalloc(1, 60000);
	memset(big, 'x', 60000);
	int i;
	for (i = 0; i < 10; i++) {
		imap_parser_feed_literal(p, big, 60000);
		if (feed(p, " {60000}") != IMAP_PARSE_NEED_LITERAL)
			break;
	}
	assert_int_equal(i, 3);
	assert_string_equal(imap_parser_error(p)->text, "Literal too large");
	free(big);
	imap_parser_free(&p);
}

static void test_bad_commands(void **state)
{
	assert_bad("", "Empty command line");
	assert_bad("\r\n", "Empty command line");
	assert_bad(" NOOP", "Missing tag");
	assert_bad("a+b NOOP", "Invalid tag");
	assert_bad("a(b NOOP", "Invalid tag");
	assert_bad("tag", "Missing command name");
	assert_bad("tag ", "Missing command name");
	assert_bad("a NO\"OP", "Invalid command name");
	assert_bad("a LOGIN \"abc", "Unterminated quoted string");
	assert_bad("a LOGIN \"abc\\", "Unterminated quoted string");
	assert_bad("a LOGIN \"a\\b\"", "Invalid escape in quoted string");
	assert_bad("a LOGIN \"a\rb\"", "Invalid character in quoted string");
	assert_bad("a X {abc}", "Invalid literal size");
	assert_bad("a X {}", "Invalid literal size");
	assert_bad("a X {12", "Invalid literal size");
	assert_bad("a X {-1}", "Invalid literal size");
	assert_bad("a X {5} y", "Literal must end the line");
	assert_bad("a X (a b", "Missing ')'");
	assert_bad("a X a)", "Unexpected ')'");
	assert_bad("a X \"a\"b", "Missing space between arguments");
	assert_bad("a X (a)(b)", "Missing space between arguments");
	assert_bad("a X a\"b", "Invalid character in atom");
	assert_bad("a X a\\b", "Invalid character in atom");
	assert_bad("a X a\x01", "Invalid character in atom");
	assert_bad("a X a{3}", "Invalid character in atom");
	assert_bad("a FETCH 1 BODY[HEADER.FIELDS (\"a)]", "Unterminated quoted string");
	assert_bad("a FETCH 1 BODY[HEADER.FIELDS (\"a\")]\"", "Invalid character in atom");
	assert_bad("a FETCH 1 BODY[[]", "Invalid character in section");
	assert_bad("a FETCH 1 BODY[\x01]", "Invalid character in section");

	char tag[IMAP_TAG_MAX + 10];
	memset(tag, 't', sizeof(tag));
	strcpy(tag + IMAP_TAG_MAX + 1, " X");
	assert_bad(tag, "Tag too long");

	/* NUL inside a quoted string arrives in the line */
	struct imap_parser *p = imap_parser_new(APPEND_MAX);
	assert_int_equal(imap_parser_feed_line(p, "a X \"a\0b\"", 9), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p)->text, "NUL in quoted string");
	assert_string_equal(imap_parser_tag(p), "a");
	assert_int_equal(feed(p, " NOOP"), IMAP_PARSE_ERROR);
	assert_null(imap_parser_tag(p));
	imap_parser_free(&p);
}

static void test_limits(void **state)
{
	struct imap_parser *p = imap_parser_new(APPEND_MAX);
	struct buf b = { 0 };

	buf_append(&b, "a X ", 4);
	for (int i = 0; i < IMAP_PARSER_DEPTH_MAX; i++)
		buf_append(&b, "(", 1);
	for (int i = 0; i < IMAP_PARSER_DEPTH_MAX; i++)
		buf_append(&b, ")", 1);
	assert_int_equal(feed(p, b.data), IMAP_PARSE_COMPLETE);
	b.len = 0;
	buf_append(&b, "a X ", 4);
	for (int i = 0; i <= IMAP_PARSER_DEPTH_MAX; i++)
		buf_append(&b, "(", 1);
	assert_int_equal(feed(p, b.data), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p)->text, "Lists nested too deeply");

	b.len = 0;
	buf_append(&b, "a X", 3);
	for (int i = 0; i < IMAP_PARSER_ARGS_MAX; i++)
		buf_append(&b, " a", 2);
	assert_int_equal(feed(p, b.data), IMAP_PARSE_COMPLETE);
	buf_append(&b, " a", 2);
	assert_int_equal(feed(p, b.data), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p)->text, "Too many arguments");

	b.len = 0;
	buf_append(&b, "a X ", 4);
	while (b.len <= IMAP_LINE_MAX)
		buf_append(&b, "aaaaaaaaaaaaaaa ", 16);
	assert_int_equal(feed(p, b.data), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p)->text, "Command line too long");
	buf_free(&b);
	imap_parser_free(&p);
}

static void test_flags(void **state)
{
	struct imap_parser *p = imap_parser_new(APPEND_MAX);
	const struct imap_command *cmd = parse_ok(p,
		"a STORE 1 FLAGS (\\Seen \\answered $Forwarded \\Seen $forwarded Junk)");
	const struct imap_arg *list = &cmd->args[2];
	uint32_t flags;
	char **kw;
	const char *error;

	assert_int_equal(imap_flags_parse(list->list, list->len, &flags, &kw, &error), 0);
	assert_int_equal(flags, IMAP_FLAG_SEEN | IMAP_FLAG_ANSWERED);
	assert_int_equal(strv_len(kw), 2);
	assert_string_equal(kw[0], "$Forwarded");
	assert_string_equal(kw[1], "Junk");
	strv_free(&kw);

	cmd = parse_ok(p, "a STORE 1 FLAGS (\\Recent)");
	assert_int_equal(imap_flags_parse(cmd->args[2].list, 1, &flags, &kw, &error), -1);
	assert_string_equal(error, "Invalid system flag");
	cmd = parse_ok(p, "a STORE 1 FLAGS (\\Foo)");
	assert_int_equal(imap_flags_parse(cmd->args[2].list, 1, &flags, &kw, &error), -1);
	cmd = parse_ok(p, "a STORE 1 FLAGS (\"quoted\")");
	assert_int_equal(imap_flags_parse(cmd->args[2].list, 1, &flags, &kw, &error), -1);
	assert_string_equal(error, "Invalid flag");
	/* RFC 3501 9: flag-keyword is an atom, and NIL is one. */
	cmd = parse_ok(p, "a STORE 1 +FLAGS NIL");
	assert_int_equal(imap_flags_parse(&cmd->args[2], 1, &flags, &kw, &error), 0);
	assert_int_equal(flags, 0);
	assert_int_equal(strv_len(kw), 1);
	assert_string_equal(kw[0], "NIL");
	strv_free(&kw);
	cmd = parse_ok(p, "a STORE 1 FLAGS (a]b)");
	assert_int_equal(imap_flags_parse(cmd->args[2].list, 1, &flags, &kw, &error), -1);
	assert_string_equal(error, "Invalid keyword");
	imap_parser_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_lists_and_sections),
		cmocka_unit_test(test_sync_literals),
		cmocka_unit_test(test_append_stream),
		cmocka_unit_test(test_append_too_big),
		cmocka_unit_test(test_literal_limits),
		cmocka_unit_test(test_bad_commands),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
