/* test_mime_crlf.c — the CRLF form of LF-only messages: reads at any
 * offset equal the converted bytes, located stream starts reproduce them
 * with the file stream's own transform, the map survives serialisation,
 * and a corrupt map is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mail/mime_crlf.h"
#include "net/filestream.h"

/* A reader over memory that counts its reads. */
struct counting {
	const char *data;
	size_t len;
	unsigned reads;
};

static ssize_t counting_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	struct counting *c = ctx;
	c->reads++;
	if (offset >= c->len)
		return 0;
	size_t n = c->len - (size_t)offset;
	if (n > len)
		n = len;
	memcpy(buf, c->data + offset, n);
	return (ssize_t)n;
}

/* Every bare LF as CRLF. */
static char *convert(const char *in, size_t len, size_t *out_len)
{
	char *out = malloc(2 * len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = in[i];
	}
	*out_len = o;
	return out;
}

/* A message of about len bytes: LF lines, some CRLF, lone CRs, CR runs. */
static char *make_input(size_t len, unsigned seed)
{
	char *s = malloc(len + 1);
	srand(seed);
	for (size_t i = 0; i < len; i++) {
		int r = rand() % 100;
		s[i] = r < 6 ? '\n' : r < 8 ? '\r' : (char)('a' + r % 26);
	}
	return s;
}

/* What the stream sends from a located start: the transform from phys,
 * minus skip bytes, length bytes. */
static char *stream_from(const char *in, size_t len, uint64_t phys, uint64_t skip,
			 size_t length)
{
	struct fstream_state st;
	unsigned char *out = malloc(3 * (len - phys) + 2);
	fstream_state_init(&st, -1);
	size_t n = fstream_transform(&st, FSTREAM_CRLF, (const unsigned char *)in + phys,
				     len - (size_t)phys, out);
	assert_true(skip + length <= n);
	char *res = malloc(length + 1);
	memcpy(res, out + skip, length);
	free(out);
	return res;
}

/* cr_runs: long stretches without a point to mark (a corrupt-looking
 * file): the restored map may need to read again. */
static void check_message(const char *in, size_t len, bool cr_runs)
{
	struct counting file = { in, len, 0 };
	struct mime_reader fr = { counting_read, &file }, r;
	struct mime_crlf c;
	const char *error;
	size_t vlen;
	char *want = convert(in, len, &vlen);
	char *got = malloc(vlen + 100);

	mime_crlf_init(&c, &fr);
	mime_crlf_reader(&c, &r);
	/* sequential reads in odd chunk sizes, as the MIME parser reads */
	size_t pos = 0;
	while (pos < vlen) {
		ssize_t n = r.read_at(r.ctx, got + pos, 7777, pos);
		assert_true(n > 0);
		pos += (size_t)n;
	}
	assert_int_equal(r.read_at(r.ctx, got, 10, vlen), 0);
	assert_memory_equal(got, want, vlen);
	/* random reads and located stream starts */
	for (int k = 0; k < 60 && vlen > 0; k++) {
		uint64_t v = (uint64_t)rand() % vlen;
		size_t n = 1 + (size_t)rand() % 5000;
		if (v + n > vlen)
			n = vlen - (size_t)v;
		assert_int_equal(mime_read_full(&r, got, n, v, &error), (ssize_t)n);
		assert_memory_equal(got, want + v, n);
		uint64_t phys, skip;
		assert_int_equal(mime_crlf_locate(&c, v, &phys, &skip, &error), 0);
		assert_true(skip <= MIME_CRLF_MARK_STEP + 2);
		char *s = stream_from(in, len, phys, skip, n);
		assert_memory_equal(s, want + v, n);
		free(s);
	}
	/* the map, restored, locates without reading the file */
	struct buf ser = { 0 };
	mime_crlf_serialize(&c, &ser);
	struct mime_crlf c2;
	mime_crlf_init(&c2, &fr);
	assert_int_equal(mime_crlf_deserialize(&c2, ser.data, ser.len, &error), 0);
	file.reads = 0;
	for (uint64_t v = 0; v < vlen; v += 9973) {
		uint64_t phys, skip;
		assert_int_equal(mime_crlf_locate(&c2, v, &phys, &skip, &error), 0);
		char *s = stream_from(in, len, phys, skip, 1);
		assert_memory_equal(s, want + v, 1);
		free(s);
	}
	if (!cr_runs)
		assert_int_equal(file.reads, 0);
	/* corrupt maps are refused */
	assert_int_equal(mime_crlf_deserialize(&c2, ser.data, ser.len - 1, &error), -1);
	if (ser.len > 24) {
		ser.data[8] = 1;        /* marks[0] must be {0, 0} */
		assert_int_equal(mime_crlf_deserialize(&c2, ser.data, ser.len, &error), -1);
	}
	buf_free(&ser);
	mime_crlf_free(&c2);
	mime_crlf_free(&c);
	free(want);
	free(got);
}

static void test_small(void **state)
{
	static const char *const cases[] = {
		"", "\n", "\r\n", "a\nb\r\nc\rd\n", "\r\r\n\n\r", "no newline",
		"Subject: x\n\nbody\n",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_message(cases[i], strlen(cases[i]), false);
}

static void test_large(void **state)
{
	size_t sizes[] = { 1000, 70000, 300000 };
	for (unsigned i = 0; i < 3; i++) {
		char *in = make_input(sizes[i], 17 + i);
		check_message(in, sizes[i], false);
		free(in);
	}
}

static void test_cr_runs(void **state)
{
	/* no valid mark point for a long stretch: reads still exact */
	size_t len = 200000;
	char *in = malloc(len);
	memset(in, '\r', len);
	for (size_t i = 0; i < len; i += 50000)
		in[i] = '\n';
	check_message(in, len, true);
	free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_cr_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
