/* test_util.c — string helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "lib/util.h"

static void test_str_to_size(void **state)
{
	uint64_t v;

	assert_true(str_to_size("0", UINT64_MAX, &v) && v == 0);
	assert_true(str_to_size("100000", UINT64_MAX, &v) && v == 100000);
	assert_true(str_to_size("1G", UINT64_MAX, &v) && v == 1073741824);
	assert_true(str_to_size("512m", UINT64_MAX, &v) && v == 512u << 20);
	assert_true(str_to_size("10KB", UINT64_MAX, &v) && v == 10240);
	assert_true(str_to_size("2T", UINT64_MAX, &v) && v == 2ull << 40);
	assert_true(str_to_size("7B", UINT64_MAX, &v) && v == 7);
	assert_false(str_to_size("", UINT64_MAX, &v));
	assert_false(str_to_size("G", UINT64_MAX, &v));
	assert_false(str_to_size("1 G", UINT64_MAX, &v));
	assert_false(str_to_size("1X", UINT64_MAX, &v));
	assert_false(str_to_size("-1", UINT64_MAX, &v));
	assert_false(str_to_size("16777216T", UINT64_MAX, &v));    /* 2^64 */
	assert_false(str_to_size("2G", 1u << 30, &v));
}

static void test_str_to_u64(void **state)
{
	uint64_t v;
	assert_true(str_to_u64("0", 0, &v) && v == 0);
	assert_true(str_to_u64("1", 1, &v) && v == 1);
	assert_false(str_to_u64("2", 1, &v));
	assert_false(str_to_u64("99", 1, &v));     /* digit above max */
	assert_false(str_to_u64("10", 9, &v));
	assert_true(str_to_u64("18446744073709551615", UINT64_MAX, &v) &&
		    v == UINT64_MAX);
	assert_false(str_to_u64("18446744073709551616", UINT64_MAX, &v));
	assert_false(str_to_u64("", 10, &v));
	assert_false(str_to_u64("-1", 10, &v));
	assert_false(str_to_u64("1x", 10, &v));
	assert_true(str_to_u64("255", 255, &v) && v == 255);
	assert_false(str_to_u64("256", 255, &v));
}

static void test_split_and_sanitize(void **state)
{
	size_t n;
	char **v = strv_split_commas(" a, ,b ,c", &n);
	assert_int_equal(n, 3);
	assert_string_equal(v[1], "b");
	assert_null(v[3]);
	strv_free(&v);
	assert_null(v);

	char out[16];
	str_sanitize(out, sizeof(out), "a\r\nb\x01", 5);
	assert_string_equal(out, "a??b?");
	str_sanitize(out, 4, "abcdef", 6);
	assert_string_equal(out, "abc");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_str_to_u64),
		cmocka_unit_test(test_str_to_size),
		cmocka_unit_test(test_split_and_sanitize),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
