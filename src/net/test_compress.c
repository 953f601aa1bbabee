/* test_compress.c — raw DEFLATE streams: a round trip in chunks, the flush
 * at the end of each write, the inflate cap, corrupt input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "net/compress.h"
#include "lib/util.h"

/* Deflate everything of plain with z (as conn.c's flush loop does). */
static void deflate_all(struct compress *z, struct evbuffer *plain,
			struct evbuffer *wire)
{
	do
		compress_deflate(z, plain, wire);
	while (evbuffer_get_length(plain) > 0);
	compress_deflate(z, plain, wire);       /* nothing left: no-op */
}

static void test_round_trip(void **state)
{
	const char *error;
	struct compress *a = compress_new(&error), *b = compress_new(&error);
	struct evbuffer *plain = evbuffer_new(), *wire = evbuffer_new(),
		*out = evbuffer_new();
	bool produced;

	assert_non_null(a);
	assert_non_null(b);
	/* a response: flushed whole, so the peer reads all of it */
	evbuffer_add_printf(plain, "* 1 FETCH (FLAGS (\\Seen))\r\na1 OK done\r\n");
	deflate_all(a, plain, wire);
	assert_int_equal(compress_inflate(b, wire, out, 1 << 20, &produced, &error), 0);
	assert_true(produced);
	assert_int_equal(evbuffer_get_length(out), 39);
	assert_memory_equal(evbuffer_pullup(out, -1),
			    "* 1 FETCH (FLAGS (\\Seen))\r\na1 OK done\r\n", 39);
	/* a large one in chunks */
	evbuffer_drain(out, evbuffer_get_length(out));
	for (int i = 0; i < 20000; i++)
		evbuffer_add_printf(plain, "line %d of a long literal\r\n", i);
	size_t total = evbuffer_get_length(plain);
	deflate_all(a, plain, wire);
	assert_true(evbuffer_get_length(wire) < total / 4);
	/* inflated only up to the cap; the rest waits */
	assert_int_equal(compress_inflate(b, wire, out, 4096, &produced, &error), 0);
	assert_int_equal(evbuffer_get_length(out), 4096);
	assert_true(compress_inflate_pending(b, wire));
	while (compress_inflate_pending(b, wire)) {
		size_t before = evbuffer_get_length(out);
		assert_int_equal(compress_inflate(b, wire, out, before + 3000,
						  &produced, &error), 0);
		if (!produced)
			break;
	}
	assert_int_equal(evbuffer_get_length(out), total);
	assert_memory_equal(evbuffer_pullup(out, 18), "line 0 of a long l", 18);
	unsigned long long ip, iw, op, ow;
	compress_stats(a, &ip, &iw, &op, &ow);
	assert_int_equal(op, total + 39);
	compress_stats(b, &ip, &iw, &op, &ow);
	assert_int_equal(ip, total + 39);
	compress_free(&a);
	compress_free(&b);
	assert_null(a);
	evbuffer_free(plain);
	evbuffer_free(wire);
	evbuffer_free(out);
}

static void test_corrupt(void **state)
{
	const char *error;
	struct compress *z = compress_new(&error);
	struct evbuffer *wire = evbuffer_new(), *out = evbuffer_new();
	bool produced;

	evbuffer_add(wire, "\xff\xfe\xfd junk", 8);
	assert_int_equal(compress_inflate(z, wire, out, 1 << 16, &produced, &error), -1);
	assert_string_equal(error, "inflate: invalid block type");
	compress_free(&z);
	evbuffer_free(wire);
	evbuffer_free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_corrupt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
