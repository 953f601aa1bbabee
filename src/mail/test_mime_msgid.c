/* test_mime_msgid.c — Message-ID, In-Reply-To and References lists with
 * CFWS, junk and limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mail/mime_msgid.h"
#include "lib/util.h"

/* The list joined by spaces. */
static void assert_ids(const char *value, size_t max, const char *want)
{
	char **ids = mime_msgid_list(value, strlen(value), max);
	struct buf b = { 0 };
	buf_append(&b, "", 0);
	for (size_t i = 0; ids[i] != NULL; i++)
		buf_printf(&b, "%s%s", i > 0 ? " " : "", ids[i]);
	assert_string_equal(b.data, want);
	buf_free(&b);
	strv_free(&ids);
}

static void test_lists(void **state)
{
	assert_ids("<a@b>", 10, "a@b");
	assert_ids(" <1234@local.machine.example> <3456@example.net>", 10,
		   "1234@local.machine.example 3456@example.net");
	assert_ids("<a@b>,\r\n\t<c@d> (comment <x@y>) <e@f>", 10, "a@b c@d e@f");
	/* RFC 5322 4.5.4: CFWS inside the brackets */
	assert_ids("< left (c) @ right\r\n >", 10, "left@right");
	assert_ids("<\"quoted local\"@host>", 10, "quoted local@host");
	/* In-Reply-To with a phrase */
	assert_ids("\"Joe <not@this>\" <joe@x.example> Message of 1 May", 10,
		   "joe@x.example");
	/* invalid ones are skipped */
	assert_ids("<nohost> <@x> <x@> <> <ok@z> <unterminated@a <later@b>", 10,
		   "ok@z later@b");
	assert_ids("", 10, "");
	assert_ids("no brackets at all", 10, "");
	/* case is kept: comparisons are case-sensitive */
	assert_ids("<AbC@Example>", 10, "AbC@Example");
	/* the last max are kept */
	assert_ids("<1@a> <2@a> <3@a> <4@a>", 2, "3@a 4@a");
}

static void test_first_and_limit(void **state)
{
	char *id = mime_msgid_first("x <first@a> <second@b>", 22);
	assert_string_equal(id, "first@a");
	free(id);
	assert_null(mime_msgid_first("none", 4));

	struct buf b = { 0 };
	buf_append(&b, "<", 1);
	for (int i = 0; i < MIME_MSGID_MAX; i++)
		buf_append(&b, "x", 1);
	buf_append(&b, "@y> <short@y>", 13);
	char **ids = mime_msgid_list(b.data, b.len, 10);
	assert_string_equal(ids[0], "short@y");
	assert_null(ids[1]);
	strv_free(&ids);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_first_and_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
