/* test_mutf7.c — modified UTF-7 conversion and folder-name validation. */
#include "store/test_store_util.h"

#include <errno.h>

static void roundtrip(const char *utf8, const char *mutf7)
{
	char *out = NULL;
	const char *error = NULL;

	if (mutf7_from_utf8(utf8, &out, &error) < 0)
		fail_msg("encode %s: %s", utf8, error);
	assert_string_equal(out, mutf7);
	free(out);
	if (mutf7_to_utf8(mutf7, &out, &error) < 0)
		fail_msg("decode %s: %s", mutf7, error);
	assert_string_equal(out, utf8);
	free(out);
}

static void test_roundtrips(void **state)
{
	roundtrip("", "");
	roundtrip("INBOX", "INBOX");
	roundtrip("Tom & Jerry", "Tom &- Jerry");
	roundtrip("&", "&-");
	roundtrip("Entwürfe", "Entw&APw-rfe");
	/* RFC 3501 5.1.3's example. */
	roundtrip("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	/* Beyond the BMP: a surrogate pair. */
	roundtrip("😀", "&2D3eAA-");
	roundtrip("a😀b€", "a&2D3eAA-b&IKw-");
	roundtrip("Ünïcödé", "&ANw-n&AO8-c&APY-d&AOk-");
	/* A control character is representable (names refuse it later). */
	roundtrip("a\tb", "a&AAk-b");
}

static void test_bad_utf8(void **state)
{
	static const char *const bad[] = {
		"\xc3",               /* truncated */
		"\xc0\xaf",           /* overlong '/' */
		"\xe0\x80\xaf",       /* overlong */
		"\xed\xa0\x80",       /* surrogate U+D800 */
		"\xf4\x90\x80\x80",   /* beyond U+10FFFF */
		"\xff",
		"abc\x80",
	};
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		char *out = NULL;
		const char *error = NULL;
		errno = 0;
		assert_int_equal(mutf7_from_utf8(bad[i], &out, &error), -1);
		assert_int_equal(errno, EINVAL);
		assert_non_null(error);
		assert_null(out);
	}
}

static void test_bad_mutf7(void **state)
{
	static const char *const bad[] = {
		"&",             /* unterminated */
		"&AOQ",          /* unterminated */
		"a&Jjo!-",       /* bad base64 character */
		"&AGE-",         /* shifted printable ASCII 'a' */
		"&AAA-",         /* shifted NUL */
		"&2D0-",         /* lone high surrogate */
		"&3gA-",         /* lone low surrogate */
		"&2D3YPQ-",      /* high surrogate followed by a high one */
		"&AOR-",         /* non-zero padding bits */
		"&AOQA-",        /* a whole extra base64 character */
		"&AOQ-&AOQ-",    /* adjacent shifts: canonical is "&AOQA5A-" */
		"&AOQ/-",        /* '/' is not modified base64 */
		"caf\xc3\xa9",   /* raw 8-bit */
		"a\tb",          /* raw control character */
	};
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		char *out = NULL;
		const char *error = NULL;
		if (mutf7_to_utf8(bad[i], &out, &error) == 0)
			fail_msg("accepted %s -> %s", bad[i], out);
		assert_non_null(error);
		assert_non_null(strstr(error, "modified UTF-7"));
	}
	/* The canonical form of the adjacent case decodes. */
	char *out = NULL;
	const char *error;
	assert_int_equal(mutf7_to_utf8("&AOQA5A-", &out, &error), 0);
	assert_string_equal(out, "\xc3\xa4\xc3\xa4");
	free(out);
}

static void test_names(void **state)
{
	static const char *const good[] = {
		"INBOX", "inbox", "Sent", "Lists/Work", "Entw&APw-rfe",
		"INBOX/Sub", "a b", "Tom &- Jerry", "~home", "x/y/z",
	};
	static const char *const bad[] = {
		"", "/", "a/", "/a", "a//b", "..", "../etc", "a/../b", ".hidden",
		"a.b", "a/.b", "Lists/*", "a%", "tab\there", "bell\a",
		"&AAk-", /* encoded TAB */
		"&AIU-", /* encoded C1 control U+0085 */
		"&Jjo", "raw\xc3\xa4", "a\\..\\b/../x",
	};
	const char *error;

	for (size_t i = 0; i < N_ELEMENTS(good); i++) {
		if (!maildir_name_valid(good[i], &error))
			fail_msg("refused %s: %s", good[i], error);
	}
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		errno = 0;
		if (maildir_name_valid(bad[i], &error))
			fail_msg("accepted %s", bad[i]);
		assert_int_equal(errno, EINVAL);
	}
	assert_true(maildir_name_is_inbox("InBoX"));
	assert_false(maildir_name_is_inbox("INBOX/x"));
}

static void test_name_limits(void **state)
{
	char name[MAILDIR_NAME_MAX + 2];
	const char *error;

	memset(name, 'a', MAILDIR_NAME_MAX);
	name[MAILDIR_NAME_MAX] = '\0';
	assert_true(maildir_name_valid(name, &error));
	name[MAILDIR_NAME_MAX] = 'a';
	name[MAILDIR_NAME_MAX + 1] = '\0';
	assert_false(maildir_name_valid(name, &error));

	struct buf deep = { 0 };
	for (int i = 0; i < MAILDIR_DEPTH_MAX; i++)
		buf_printf(&deep, "%sd", i == 0 ? "" : "/");
	assert_true(maildir_name_valid(deep.data, &error));
	buf_printf(&deep, "/d");
	assert_false(maildir_name_valid(deep.data, &error));
	assert_non_null(strstr(error, "deep"));
	buf_free(&deep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrips),
		cmocka_unit_test(test_bad_utf8),
		cmocka_unit_test(test_bad_mutf7),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_name_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
