/* test_filestream.c — the RETR/TOP/FETCH output transform. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "net/filestream.h"

static const char *run(const char *in, unsigned flags, long lines)
{
	static unsigned char out[1024];
	struct fstream_state st;
	fstream_state_init(&st, lines);
	size_t n = fstream_transform(&st, flags, (const unsigned char *)in,
				     strlen(in), out);
	out[n] = '\0';
	return (const char *)out;
}

static void test_crlf_and_dots(void **state)
{
	assert_string_equal(run("a\nb\r\n.c\n", FSTREAM_CRLF, -1), "a\r\nb\r\n.c\r\n");
	assert_string_equal(run("a\n.b\r\n..c\r\n.\r\n", FSTREAM_CRLF | FSTREAM_DOTSTUFF, -1),
			    "a\r\n..b\r\n...c\r\n..\r\n");
	assert_string_equal(run(".x", FSTREAM_DOTSTUFF, -1), "..x");
	assert_string_equal(run("a\rb\n", FSTREAM_CRLF, -1), "a\rb\r\n");
}

static void test_top_lines(void **state)
{
	const char *msg = "H: 1\r\nI: 2\r\n\r\nl1\r\nl2\r\nl3\r\n";
	assert_string_equal(run(msg, FSTREAM_CRLF, 0), "H: 1\r\nI: 2\r\n\r\n");
	assert_string_equal(run(msg, FSTREAM_CRLF, 2), "H: 1\r\nI: 2\r\n\r\nl1\r\nl2\r\n");
	assert_string_equal(run(msg, FSTREAM_CRLF, 9), msg);
	/* LF-only message, and a header without a body */
	assert_string_equal(run("H: 1\n\nb1\nb2\n", FSTREAM_CRLF, 1), "H: 1\r\n\r\nb1\r\n");
	assert_string_equal(run("H: 1\r\n", FSTREAM_CRLF, 0), "H: 1\r\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crlf_and_dots),
		cmocka_unit_test(test_top_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
