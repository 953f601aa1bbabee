/* test_imap_subject.c — RFC 5256 2.1 base subjects and the "reply or
 * forward" test of section 4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "imap/imap_subject.h"

static void check(const char *subject, const char *base, bool reply)
{
	bool is_reply;
	char *got = imap_base_subject(subject, strlen(subject), &is_reply);
	assert_string_equal(got, base);
	if (is_reply != reply)
		fail_msg("%s: reply %d, expected %d", subject, is_reply, reply);
	free(got);
}

static void test_base_subject(void **state)
{
	check("hello", "hello", false);
	check("Re: hello", "hello", true);
	check("RE: re: Re:hello", "hello", true);
	check("Re[2]: hello", "hello", true);
	check("Re [2] : hello", "hello", true);
	check("Fw: a", "a", true);
	check("FWD: a", "a", true);
	check("fW :a", "a", true);
	check("[list] Re: hello", "hello", true);
	check("[list] [other] Re: [x] hello", "hello", true);
	check("[list] hello", "hello", false);
	check("[list]", "[list]", false);
	check("[a] [b]", "[b]", false);
	check("hello (fwd)", "hello", true);
	check("hello (FWD) (fwd)  ", "hello", true);
	check("[Fwd: hello]", "hello", true);
	check("[fwd: Re: [x] hello (fwd)]", "hello", true);
	check("Re: [Fwd: [Fwd: deep]]", "deep", true);
	check("  spaced \t  out\r\n  folded  ", "spaced out folded", false);
	check("Regarding: this", "Regarding: this", false);
	check("Reply", "Reply", false);
	check("Re:", "", true);
	check("", "", false);
	check("[unclosed Re: x", "[unclosed Re: x", false);
	check("=?utf-8?q?Re=3A_R=C3=A9sum=C3=A9?=", "R\xc3\xa9sum\xc3\xa9", true);
	check("Re: =?iso-8859-1?q?caf=E9?= (fwd)", "caf\xc3\xa9", true);
}

static void test_key(void **state)
{
	char *a = imap_subject_key("Caf\xc3\xa9 Hello");
	char *b = imap_subject_key("CAF\xc3\x89 hello");
	assert_string_equal(a, b);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_subject),
		cmocka_unit_test(test_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
