/* test_imap_match.c — LIST/LSUB patterns: wildcards, the separator, INBOX
 * in any case, references, collapsed runs and long patterns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "imap/imap_match.h"
#include "lib/util.h"

static bool m(const char *ref, const char *mailbox, const char *name)
{
	struct imap_pattern p;
	imap_pattern_init(&p, ref, mailbox, '/');
	bool r = imap_pattern_match(&p, name);
	imap_pattern_free(&p);
	return r;
}

static void test_wildcards(void **state)
{
	assert_true(m("", "*", "INBOX"));
	assert_true(m("", "*", "Lists/Work/2024"));
	assert_true(m("", "%", "Lists"));
	assert_false(m("", "%", "Lists/Work"));
	assert_true(m("", "%/%", "Lists/Work"));
	assert_false(m("", "%/%", "Lists/Work/2024"));
	assert_true(m("", "Lists/*", "Lists/Work/2024"));
	assert_false(m("", "Lists/*", "Lists"));
	assert_true(m("", "Lists*", "Lists"));
	assert_true(m("", "L%s", "Lists"));
	assert_false(m("", "L%s", "Lx/s"));
	assert_true(m("", "L*s", "Lx/s"));
	assert_true(m("", "*Work", "Lists/Work"));
	assert_true(m("", "%Work", "HomeWork"));
	assert_false(m("", "%Work", "Lists/Work"));
	assert_true(m("", "Sent", "Sent"));
	assert_false(m("", "Sent", "sent"));          /* only INBOX ignores case */
	assert_false(m("", "Sent", "Sent/x"));
	assert_false(m("", "Sen", "Sent"));
	assert_true(m("", "", ""));
	assert_false(m("", "", "INBOX"));
	assert_true(m("", "*%*%", "a/b/c"));
	assert_true(m("", "%%%", "abc"));
	assert_false(m("", "%%%", "a/c"));
	/* mUTF-7 names are plain bytes to the matcher. */
	assert_true(m("", "Entw&APw-rfe", "Entw&APw-rfe"));
	assert_true(m("", "*&APw-*", "Entw&APw-rfe"));
}

static void test_inbox_any_case(void **state)
{
	assert_true(m("", "inbox", "INBOX"));
	assert_true(m("", "InBoX", "INBOX"));
	assert_true(m("", "in%", "INBOX"));
	assert_true(m("", "i*", "INBOX"));
	assert_true(m("", "inbox/%", "INBOX/Sub"));
	assert_false(m("", "inbox/sub", "INBOX/Sub"));   /* the rest keeps case */
	assert_false(m("", "inbox", "INBOXES"));
	assert_false(m("", "inboxes", "INBOXES"));
	assert_true(m("", "INBOXES", "INBOXES"));
}

static void test_reference(void **state)
{
	assert_true(m("Lists/", "%", "Lists/Work"));
	assert_false(m("Lists/", "%", "Lists"));
	assert_false(m("Lists/", "%", "Lists/Work/2024"));
	assert_true(m("Lists/", "*", "Lists/Work/2024"));
	assert_true(m("Li", "sts", "Lists"));
	assert_false(m("Lists/", "*", "Other"));
}

static void test_collapse_and_limits(void **state)
{
	struct imap_pattern p;

	imap_pattern_init(&p, "a%%", "*%b%%%", '/');
	assert_string_equal(p.text, "a*b%");
	assert_int_equal(p.literals, 2);
	assert_true(imap_pattern_ends_with_percent(&p));
	imap_pattern_free(&p);
	imap_pattern_init(&p, "", "a*", '/');
	assert_false(imap_pattern_ends_with_percent(&p));
	imap_pattern_free(&p);

	/* The classic backtracking trap: many stars, no match. */
	struct buf b = { 0 };
	for (int i = 0; i < 150; i++)
		buf_append(&b, "*a", 2);
	buf_append(&b, "b", 1);
	char name[201];
	memset(name, 'a', 200);
	name[200] = '\0';
	assert_false(m("", b.data, name));
	name[199] = 'b';
	assert_true(m("", b.data, name));
	name[199] = 'a';
	/* More literal bytes than the name has: no match, no work. */
	for (int i = 0; i < 100; i++)
		buf_append(&b, "*a", 2);
	assert_false(m("", b.data, name));
	buf_free(&b);
	/* Stars only: matches anything, however long the pattern. */
	char *stars = xcalloc(60001, 1);
	memset(stars, '*', 60000);
	assert_true(m("", stars, name));
	free(stars);
	/* Over-long names never match. */
	char *huge = xcalloc(IMAP_MATCH_NAME_MAX + 2, 1);
	memset(huge, 'x', IMAP_MATCH_NAME_MAX + 1);
	assert_false(m("", "*", huge));
	free(huge);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wildcards),
		cmocka_unit_test(test_inbox_any_case),
		cmocka_unit_test(test_reference),
		cmocka_unit_test(test_collapse_and_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
