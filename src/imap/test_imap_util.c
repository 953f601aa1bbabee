/* test_imap_util.c — output quoting and flag names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "imap/imap_util.h"

static char *astring(struct buf *b, const char *s)
{
	b->len = 0;
	imap_append_astring(b, s);
	return b->data;
}

static void test_quoting(void **state)
{
	struct buf b = { 0 };

	assert_string_equal(astring(&b, "INBOX"), "INBOX");
	assert_string_equal(astring(&b, "Sent]Items"), "Sent]Items");
	assert_string_equal(astring(&b, "My Folder"), "\"My Folder\"");
	assert_string_equal(astring(&b, ""), "\"\"");
	assert_string_equal(astring(&b, "nil"), "\"nil\"");
	assert_string_equal(astring(&b, "a\"b\\c"), "\"a\\\"b\\\\c\"");
	assert_string_equal(astring(&b, "50%"), "\"50%\"");
	assert_string_equal(astring(&b, "a[b"), "\"a[b\"");
	assert_string_equal(astring(&b, "caf\xc3\xa9"), "{5}\r\ncaf\xc3\xa9");
	assert_string_equal(astring(&b, "two\r\nlines"), "{10}\r\ntwo\r\nlines");

	b.len = 0;
	imap_append_string(&b, "abc", 3);
	assert_string_equal(b.data, "\"abc\"");
	b.len = 0;
	imap_append_string(&b, "a\0b", 3);             /* NUL is dropped */
	assert_string_equal(b.data, "\"ab\"");
	b.len = 0;
	imap_append_string(&b, "\xff\0x", 3);
	assert_int_equal(b.len, 7);
	assert_memory_equal(b.data, "{2}\r\n\xffx", 7);
	b.len = 0;
	imap_append_nstring(&b, NULL, 0);
	assert_string_equal(b.data, "NIL");

	char long_text[IMAP_QUOTED_MAX + 2];
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	b.len = 0;
	imap_append_string(&b, long_text, IMAP_QUOTED_MAX);
	assert_int_equal(b.data[0], '"');
	b.len = 0;
	imap_append_string(&b, long_text, IMAP_QUOTED_MAX + 1);
	assert_int_equal(b.data[0], '{');
	buf_free(&b);
}

static void test_flags(void **state)
{
	uint32_t f;
	struct buf b = { 0 };
	const char *kw[] = { "$Forwarded", "Junk" };

	assert_true(imap_flag_from_name("\\SEEN", &f));
	assert_int_equal(f, IMAP_FLAG_SEEN);
	assert_true(imap_flag_from_name("\\Recent", &f));
	assert_false(imap_flag_from_name("\\Seen2", &f));
	assert_false(imap_flag_from_name("Seen", &f));
	assert_string_equal(imap_flag_name(IMAP_FLAG_DRAFT), "\\Draft");
	assert_true(imap_keyword_valid("$Label1"));
	assert_false(imap_keyword_valid(""));
	assert_false(imap_keyword_valid("a b"));
	assert_false(imap_keyword_valid("a]"));
	assert_false(imap_keyword_valid("\\Seen"));
	assert_false(imap_keyword_valid("caf\xc3\xa9"));
	imap_append_flags(&b, IMAP_FLAG_SEEN | IMAP_FLAG_ANSWERED | IMAP_FLAG_RECENT, kw, 2);
	assert_string_equal(b.data, "(\\Answered \\Seen \\Recent $Forwarded Junk)");
	b.len = 0;
	imap_append_flags(&b, 0, NULL, 0);
	assert_string_equal(b.data, "()");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
