/* fuzz_mime.c — the MIME parser on arbitrary messages read through a reader
 * that returns short reads, then everything built on the tree: BODY,
 * BODYSTRUCTURE and ENVELOPE rendering, section resolution with partial
 * ranges, the cache format round trip, and SEARCH over headers and bodies.
 * Then the CRLF form of the input (mime_crlf.h, for LF-only Maildir files):
 * parsed through it, every read and every located stream start equals the
 * converted bytes, and the header-only read (imap_msg.h) ends where the
 * parse says the header ends.
 * Properties checked: sections stay inside the message and add up to the
 * announced size; a serialised tree restores to the same bytes. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_fetch_attr.h"
#include "imap/imap_parser.h"
#include "imap/imap_search.h"
#include "imap/imap_msg.h"
#include "imap/mime_section.h"
#include "mail/mime_crlf.h"
#include "imap/mime_render.h"
#include "net/filestream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct short_reader {
	const uint8_t *data;
	size_t size;
	size_t step;            /* at most this many bytes per read */
};

static ssize_t short_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	const struct short_reader *sr = ctx;
	if (offset >= sr->size)
		return 0;
	size_t n = sr->size - (size_t)offset;
	if (n > len)
		n = len;
	if (n > sr->step)
		n = sr->step;
	memcpy(buf, sr->data + offset, n);
	return (ssize_t)n;
}

static const char *const sections[] = {
	"", "HEADER", "TEXT", "1", "2", "1.MIME", "2.MIME", "1.1", "2.1", "1.2.1",
	"1.HEADER", "2.TEXT", "3.1.MIME", "HEADER.FIELDS (From Subject Content-Type)",
	"HEADER.FIELDS.NOT (Received Date)", "1.HEADER.FIELDS (Subject)",
	"2.HEADER.FIELDS.NOT (To)",
};

static void check_sections(const struct mime_part *root, const struct mime_reader *r,
			   size_t size)
{
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		struct mime_section sec;
		struct mime_body_result res;
		const char *error;
		int ret = imap_section_parse(sections[i], strlen(sections[i]), &sec, &error);
		assert(ret == 0);
		for (int partial = 0; partial < 2; partial++) {
			if (mime_section_resolve(root, r, &sec, partial, 3, 40, &res,
						 &error) < 0)
				continue;
			uint64_t total = 0;
			for (size_t k = 0; k < res.n_segs; k++) {
				const struct mime_segment *s = &res.segs[k];
				assert(s->data != NULL || s->offset + s->size <= size);
				total += s->size;
			}
			assert(total == res.size);
			assert(!partial || res.size <= 40);
			mime_body_result_free(&res);
		}
		mime_section_free(&sec);
	}
}

static void check_cache(const struct mime_part *root)
{
	struct buf a = { 0 }, b = { 0 };
	struct mime_part *copy;
	const char *error;

	mime_serialize(root, &a);
	int ret = mime_deserialize(a.data, a.len, &copy, &error);
	assert(ret == 0);
	mime_serialize(copy, &b);
	assert(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	mime_part_free(&copy);
	buf_free(&a);
	buf_free(&b);
}

static void check_search(const struct mime_part *root, const struct mime_reader *r,
			 size_t size)
{
	static const char *const programs[] = {
		"x SEARCH OR SUBJECT hello FROM \"a@b\" SENTSINCE 1-Jan-2000",
		"x SEARCH TEXT caf\xc3\xa9 BODY zz",
	};
	struct imap_search_msg msg = { .seq = 1, .uid = 1, .size = size,
				       .mime = root, .reader = r };
	for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++) {
		struct imap_parser *p = imap_parser_new(0);
		struct imap_search_key *key;
		const char *error;
		bool match;
		enum imap_parse_result pr = imap_parser_feed_line(p, programs[i],
								  strlen(programs[i]));
		assert(pr == IMAP_PARSE_COMPLETE);
		const struct imap_command *cmd = imap_parser_command(p);
		enum imap_search_parse_result sr = imap_search_parse(cmd->args, cmd->n_args,
								     &key, &error);
		assert(sr == IMAP_SEARCH_PARSE_OK);
		(void)imap_search_match(key, &msg, &match, &error);
		imap_search_free(&key);
		imap_parser_free(&p);
	}
}

/* The input with every bare LF as CRLF. */
static unsigned char *to_crlf(const uint8_t *in, size_t len, size_t *out_len)
{
	unsigned char *out = malloc(2 * len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = in[i];
	}
	*out_len = o;
	return out;
}

static void check_crlf(const uint8_t *data, size_t size, const struct mime_reader *file)
{
	struct mime_crlf c;
	struct mime_reader r;
	struct mime_part *root;
	const char *error;
	size_t vlen;
	unsigned char *want = to_crlf(data, size, &vlen);
	unsigned char *got = malloc(vlen + 1);
	unsigned char *out = malloc(3 * size + 2);
	uint64_t hdr;

	mime_crlf_init(&c, file);
	mime_crlf_reader(&c, &r);
	if (mime_parse(&r, &root, &error) == 0) {
		assert(root->body_offset + root->body_size == vlen);
		check_sections(root, &r, vlen);
		assert(imap_msg_header_size(&r, &hdr, &error) == 0);
		assert(hdr == root->hdr_size);
		mime_part_free(&root);
	}
	assert(mime_read_full(&r, got, vlen, 0, &error) == (ssize_t)vlen);
	assert(memcmp(got, want, vlen) == 0);
	for (size_t k = 0; k < 8 && vlen > 0; k++) {
		uint64_t v = (k * 7919 + size) % vlen, phys, skip;
		assert(mime_crlf_locate(&c, v, &phys, &skip, &error) == 0);
		struct fstream_state st;
		fstream_state_init(&st, -1);
		size_t n = fstream_transform(&st, FSTREAM_CRLF, data + phys, size - phys, out);
		assert(skip < n && n - skip == vlen - v);
		assert(memcmp(out + skip, want + v, n - skip) == 0);
	}
	mime_crlf_free(&c);
	free(want);
	free(got);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct short_reader sr = { data, size, 1 + (size > 0 ? data[0] % 64 : 0) * 97 };
	struct mime_reader r = { short_read, &sr };
	struct mime_part *root;
	const char *error;
	struct buf out = { 0 };

	if (mime_parse(&r, &root, &error) < 0)
		return 0;
	assert(root->hdr_offset == 0 && root->body_offset + root->body_size == size);
	(void)mime_render_bodystructure(root, &r, true, &out, &error);
	(void)mime_render_bodystructure(root, &r, false, &out, &error);
	(void)mime_render_envelope(root, &r, &out, &error);
	check_sections(root, &r, size);
	check_cache(root);
	check_search(root, &r, size);
	buf_free(&out);
	mime_part_free(&root);
	check_crlf(data, size, &r);
	return 0;
}
