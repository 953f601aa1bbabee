/* test_imap_msg.c — the header-only read FETCH and SEARCH use when they
 * need no MIME tree finds the same header end as the full parse (so BODY[HEADER]
 * is the same whether the tree is cached or not). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "imap/imap_msg.h"
#include "mail/mime.h"
#include "lib/fsutil.h"

#define CORPUS "tests/corpus/mime/"

static void check(const char *data, size_t len)
{
	struct mime_mem mem;
	struct mime_reader r;
	struct mime_part *root;
	const char *error;
	uint64_t size;

	mime_reader_mem(&r, &mem, data, len);
	assert_int_equal(mime_parse(&r, &root, &error), 0);
	assert_int_equal(imap_msg_header_size(&r, &size, &error), 0);
	assert_int_equal(size, root->hdr_offset + root->hdr_size);
	assert_int_equal(root->hdr_offset, 0);
	mime_part_free(&root);
}

static void test_edge_cases(void **state)
{
	static const char *const cases[] = {
		"", "\r\n", "\n", "Subject: x", "Subject: x\r\n", "Subject: x\r\n\r\n",
		"Subject: x\n\nbody\n", "A: 1\r\n \r\n\r\nb", "A: 1\r\r\n\r\nb",
		"A: 1\r\n\n\r\n", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(cases[i], strlen(cases[i]));
	/* a header line longer than the line reader's buffer */
	size_t n = 3 * MIME_READ_CHUNK;
	char *big = malloc(n + 20);
	memcpy(big, "X-Long: ", 8);
	memset(big + 8, 'a', n - 8);
	memcpy(big + n, "\r\n\r\nbody", 8);
	check(big, n + 8);
	free(big);
}

static void test_corpus(void **state)
{
	static const char *const names[] = {
		"plain", "alternative", "mixed_attach", "nested_rfc822", "signed",
		"encoded_headers", "missing_boundary", "unterminated", "lf_only",
		"deep_nesting", "huge_header", "digest", "rfc2231",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *path = xasprintf(CORPUS "%s.eml", names[i]), *data;
		const char *error;
		size_t len;
		assert_int_equal(fs_read_file(path, 1024 * 1024, &data, &len, &error), 0);
		check(data, len);
		free(data);
		free(path);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edge_cases),
		cmocka_unit_test(test_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
