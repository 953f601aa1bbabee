/* test_imap_date.c — IMAP date, date-time and RFC 5322 Date: parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "imap/imap_date.h"

/* 1996-07-17 09:44:25 UTC */
#define T_1996 837596665

static void test_date(void **state)
{
	time_t t;

	assert_true(imap_date_parse("1-Feb-1994", &t));
	assert_int_equal(t, 760060800);
	assert_true(imap_date_parse("29-feb-2024", &t));
	assert_int_equal(imap_day(t, 0), 19782);
	assert_true(imap_date_parse("31-Dec-1969", &t));
	assert_int_equal(imap_day(t, 0), -1);
	assert_false(imap_date_parse("29-Feb-2023", &t));
	assert_false(imap_date_parse("32-Jan-2024", &t));
	assert_false(imap_date_parse("1-Foo-2024", &t));
	assert_false(imap_date_parse("1-Feb-94", &t));
	assert_false(imap_date_parse(" 1-Feb-1994", &t));
	assert_false(imap_date_parse("1-Feb-1994x", &t));
	assert_false(imap_date_parse("", &t));
}

static void test_datetime(void **state)
{
	time_t t;
	int tz;
	char out[IMAP_DATETIME_LEN + 1];

	assert_true(imap_datetime_parse("17-Jul-1996 02:44:25 -0700", &t, &tz));
	assert_int_equal(t, T_1996);
	assert_int_equal(tz, -420);
	imap_datetime_format(t, tz, out);
	assert_string_equal(out, "17-Jul-1996 02:44:25 -0700");
	imap_datetime_format(t, 0, out);
	assert_string_equal(out, "17-Jul-1996 09:44:25 +0000");
	imap_datetime_format(t, 330, out);
	assert_string_equal(out, "17-Jul-1996 15:14:25 +0530");

	assert_true(imap_datetime_parse(" 7-Jul-1996 02:44:25 +0000", &t, &tz));
	assert_true(imap_datetime_parse("7-Jul-1996 02:44:25 +0000", &t, &tz));
	imap_datetime_format(t, tz, out);
	assert_string_equal(out, "07-Jul-1996 02:44:25 +0000");
	assert_false(imap_datetime_parse("17-Jul-1996 24:00:00 +0000", &t, &tz));
	assert_false(imap_datetime_parse("17-Jul-1996 02:44 +0000", &t, &tz));
	assert_false(imap_datetime_parse("17-Jul-1996 02:44:25 +0060", &t, &tz));
	assert_false(imap_datetime_parse("17-Jul-1996 02:44:25", &t, &tz));
	assert_false(imap_datetime_parse("17-Jul-1996 02:44:25 GMT", &t, &tz));

	/* the day in the message's own zone */
	assert_int_equal(imap_day(T_1996, 0), 9694);
	assert_int_equal(imap_day(T_1996, -600), 9693);
	assert_int_equal(imap_day(T_1996, 900), 9695);
}

static void test_mail_date(void **state)
{
	static const char *const same[] = {
		"Wed, 17 Jul 1996 02:44:25 -0700",
		"17 Jul 1996 02:44:25 -0700",
		"Wed,17 Jul 1996 02:44:25 -0700 (PDT)",
		"  Wed, 17 Jul 96 02:44:25 PDT",
		"Wed, 17 Jul 1996 09:44:25 GMT",
		"Wed, 17 Jul 1996 09:44:25 UT",
		"Wed, 17 Jul 1996 09:44:25 +0000",
		"Wed, 17 Jul 1996 09:44:25",
		"Wed (a comment), 17 Jul 1996 (x (nested)) 09:44:25 Z",
		"Wed, 17-Jul-1996 09:44:25 +0000",
		/* text after the zone is tolerated: "+0000 UTC" is common */
		"Wed, 17 Jul 1996 09:44:25 +0000 UTC",
	};
	time_t t;
	int tz;

	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_true(imap_mail_date_parse(same[i], strlen(same[i]), &t, &tz));
		assert_int_equal(t, T_1996);
	}
	const char *s = "Tue, 14 May 2024 09:12:40 +0200";
	assert_true(imap_mail_date_parse(s, strlen(s), &t, &tz));
	assert_int_equal(tz, 120);
	assert_int_equal(t, 1715670760);
	s = "Sun, 1 Jan 2050 9:05 -0330";
	assert_true(imap_mail_date_parse(s, strlen(s), &t, &tz));
	assert_int_equal(tz, -210);

	static const char *const bad[] = {
		"", "yesterday", "Wed, 17 Jul 1996", "Wed, 32 Jul 1996 02:44:25 +0000",
		"Wed, 17 Jul 1996 25:00:00 +0000", "Wed, 17 Foo 1996 02:44:25 +0000",
		"Wed, 17 Jul 1996 02:44:25 +00", "Wed, 17 Jul 1996 02:44:25 -",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(imap_mail_date_parse(bad[i], strlen(bad[i]), &t, &tz));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_datetime),
		cmocka_unit_test(test_mail_date),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
