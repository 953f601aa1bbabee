/* test_imap_seqset.c — sequence sets: parse, "*", ranges in either order,
 * UID vs sequence-number semantics, printing, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "imap/imap_seqset.h"

static void test_parse_resolve(void **state)
{
	struct imap_seqset set;
	const char *error;
	struct buf b = { 0 };

	assert_int_equal(imap_seqset_parse("1:*,3,7:5,20", &set, &error), 0);
	assert_int_equal(set.count, 4);
	assert_int_equal(set.ranges[0].lo, 1);
	assert_int_equal(set.ranges[0].hi, IMAP_SEQ_STAR);
	assert_true(imap_seqset_has_star(&set));
	imap_seqset_resolve(&set, 10);
	imap_seqset_append(&b, &set);
	assert_string_equal(b.data, "1:10,20");
	assert_int_equal(imap_seqset_count(&set), 11);
	imap_seqset_free(&set);

	assert_int_equal(imap_seqset_parse("9,7:5,2,3,11:12", &set, &error), 0);
	assert_false(imap_seqset_has_star(&set));
	imap_seqset_resolve(&set, 100);
	b.len = 0;
	imap_seqset_append(&b, &set);
	assert_string_equal(b.data, "2:3,5:7,9,11:12");
	assert_true(imap_seqset_contains(&set, 6));
	assert_true(imap_seqset_contains(&set, 12));
	assert_false(imap_seqset_contains(&set, 4));
	assert_false(imap_seqset_contains(&set, 10));
	assert_false(imap_seqset_contains(&set, 13));
	assert_int_equal(imap_seqset_max(&set), 12);
	imap_seqset_free(&set);
	buf_free(&b);
}

static void test_uid_star(void **state)
{
	struct imap_seqset set;
	const char *error;

	/* RFC 3501 6.4.8: with highest UID 3, "5:*" still matches UID 3 */
	assert_int_equal(imap_seqset_parse("5:*", &set, &error), 0);
	imap_seqset_resolve(&set, 3);
	assert_true(imap_seqset_contains(&set, 3));
	assert_true(imap_seqset_contains(&set, 5));
	assert_false(imap_seqset_contains(&set, 2));
	imap_seqset_free(&set);

	/* "*" alone in an empty mailbox matches nothing */
	assert_int_equal(imap_seqset_parse("*", &set, &error), 0);
	imap_seqset_resolve(&set, 0);
	assert_int_equal(set.count, 0);
	assert_int_equal(imap_seqset_max(&set), 0);
	imap_seqset_free(&set);

	/* sequence numbers: the caller compares the max with EXISTS for BAD */
	assert_int_equal(imap_seqset_parse("1:*", &set, &error), 0);
	imap_seqset_resolve(&set, 0);
	assert_int_equal(imap_seqset_max(&set), 1);
	imap_seqset_free(&set);

	assert_int_equal(imap_seqset_parse("4294967295", &set, &error), 0);
	imap_seqset_resolve(&set, 5);
	assert_true(imap_seqset_contains(&set, UINT32_MAX));
	imap_seqset_free(&set);
}

static void test_invalid(void **state)
{
	static const char *const bad[] = {
		"", "0", "1:0", "01", "1,", ",1", "1::2", "a", "1:2:3", "*:",
		"4294967296", "1 2", "-1", "1:*x", "$",
	};
	struct imap_seqset set;
	const char *error;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(imap_seqset_parse(bad[i], &set, &error), -1);
		assert_string_equal(error, "Invalid sequence set");
		imap_seqset_free(&set);
	}
}

static void test_limit_and_build(void **state)
{
	struct imap_seqset set;
	const char *error;
	struct buf b = { 0 };

	for (unsigned i = 0; i <= IMAP_SEQSET_RANGES_MAX; i++)
		buf_printf(&b, "%s%u", i ? "," : "", i * 2 + 1);
	assert_int_equal(imap_seqset_parse(b.data, &set, &error), -1);
	assert_string_equal(error, "Sequence set too long");
	imap_seqset_free(&set);

	memset(&set, 0, sizeof(set));
	imap_seqset_add(&set, 8, 9);
	imap_seqset_add(&set, 1, 3);
	imap_seqset_add(&set, 4, 4);
	imap_seqset_add(&set, 10, 12);
	imap_seqset_resolve(&set, 0);
	b.len = 0;
	imap_seqset_append(&b, &set);
	assert_string_equal(b.data, "1:4,8:12");
	imap_seqset_free(&set);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_resolve),
		cmocka_unit_test(test_uid_star),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_limit_and_build),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
